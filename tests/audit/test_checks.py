"""Each built-in check's computation, pinned to the numbers it must produce (not its wording)."""

from __future__ import annotations

import math

import pytest

from inferplan.audit.checks import conflicts_for
from inferplan.audit.claims import Claim, ClaimsFile, ConstructedModel, Document
from inferplan.audit.registry import AuditContext, run_check
from inferplan.audit.scenario import Scenario, construct_model, run_scenario
from inferplan.catalog.hardware import get_hardware
from inferplan.errors import InputError
from inferplan.models.registry import get_model
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import estimate, plan_estimate

DOC = Document(title="test document", source="tests")


def run(check: str, params: dict, quantity: dict | None = None, models=(), others=()):
    """Run one check on a one-claim document (plus `others` claims for cross-claim checks)."""
    claim = Claim(id="c1", title="t", quote="q", quantity=quantity or {"what": "x"},
                  check={"name": check, "params": params})
    doc = ClaimsFile(document=DOC, models=list(models), claims=[claim, *others])
    return run_check(AuditContext(claim=claim, doc=doc))


def test_growth_ratio_is_the_quotient_of_the_two_rates():
    r = run("growth-ratio", {"a_label": "ASIC", "b_label": "GPU", "a_growth_pct": 44.6,
                             "b_growth_pct": 16.1, "claimed_ratio": 2.77})
    assert r.computed["ratio_of_growth_rates"] == pytest.approx(44.6 / 16.1)
    # the claimed 2.77 is the quotient of the rates, not what the shipment ratio does
    assert r.verdict == "holds-under-conditions"
    # what the shipment ratio actually does in a year
    assert r.computed["shipment_ratio_change"] == pytest.approx(1.446 / 1.161)


def test_growth_ratio_with_wrong_arithmetic_is_inconsistent():
    r = run("growth-ratio", {"a_label": "A", "b_label": "B", "a_growth_pct": 44.6,
                             "b_growth_pct": 16.1, "claimed_ratio": 3.5})
    assert r.verdict == "inconsistent"


def test_catalog_spec_reads_h100_bandwidth_from_the_catalog():
    r = run("catalog-spec", {"items": [
        {"hardware": "h100-sxm", "field": "memory_bw_bytes_s", "value": 3.35e12},
        {"hardware": "mi300x", "field": "memory_bytes", "value": 206.14e9},  # 192 GiB as rocminfo
        {"hardware": "mi300x", "field": "memory_type", "value": "HBM3"}]})
    assert r.computed["h100-sxm.memory_bw_bytes_s"] == 3.35e12
    assert r.computed["mi300x.memory_bytes"] == get_hardware("mi300x").memory_bytes
    assert r.verdict == "consistent"
    assert any("nvidia.com" in s for s in r.sources)


def test_catalog_spec_flags_a_wrong_figure():
    r = run("catalog-spec", {"items": [{"hardware": "h100-pcie", "field": "memory_bw_bytes_s",
                                        "value": 3.35e12}]})
    assert r.computed["h100-pcie.memory_bw_bytes_s"] == pytest.approx(2.0e12, rel=0.01)
    assert r.verdict == "inconsistent"


def test_catalog_ratio_of_memory_capacities():
    r = run("catalog-ratio", {"a": "mi300x", "b": "h100-sxm", "field": "memory_bytes",
                              "claimed_ratio": 2.4})
    # real bytes: 191.98 GiB (rocminfo) over 81,559 MiB (nvidia-smi); the marketing 192/80 = 2.4
    assert r.computed["ratio"] == pytest.approx(201310208 * 1024 / (81559 * 2**20))
    assert r.computed["ratio"] == pytest.approx(192 / 80, rel=0.01)


def test_bound_regimes_decode_is_memory_bound_and_prefill_compute_bound_on_h100():
    r = run("bound-regimes", {"models": ["llama-3.1-8b"], "hardware": ["h100-sxm"],
                              "precision": "fp8", "input_len": 1024, "output_len": 256})
    key = "llama-3.1-8b@h100-sxm"
    h100 = get_hardware("h100-sxm")
    assert r.computed[f"{key}.ridge_flop_per_byte"] == pytest.approx(
        h100.peak_flops["fp8"] / h100.memory_bw_bytes_s)
    assert r.computed[f"{key}.decode_bound_batch1"] == "memory"
    # a 1024-token prefill of an 8B model is compute work (2 FLOP x 1024 tokens per weight byte)
    assert r.computed[f"{key}.prefill_compute_bound_from_tokens"] <= 1024
    assert r.verdict == "holds-under-conditions"


CASE_8B = {"label": "8B", "base": {"model": "llama-3.1-8b", "precision": "bf16", "devices": 1}}


def test_estimate_ratio_is_the_ratio_of_two_library_estimates():
    r = run("estimate-ratio", {"metric": "tpot_s", "claimed_low": 0.6, "claimed_high": 0.6,
                               "base": {"input_len": 2048, "output_len": 256},
                               "a": {"hardware": "mi300x"}, "b": {"hardware": "h100-sxm"},
                               "cases": [CASE_8B]})
    kw = dict(precision="bf16", devices=1, input_len=2048, output_len=256)
    a = estimate("llama-3.1-8b", "mi300x", **kw).tpot_s
    b = estimate("llama-3.1-8b", "h100-sxm", **kw).tpot_s
    assert r.computed["8B.ratio"] == pytest.approx(a / b)
    # batch-1 decode follows the bandwidth ratio, less the two families' efficiency difference
    assert 3.35 / 5.3 * 0.9 < a / b < 3.35 / 5.3 * 1.3
    assert r.verdict == "consistent"  # 0.72 is within 27% of 0.6


def test_estimate_ratio_mixed_cases_hold_under_conditions(monkeypatch):
    _table(monkeypatch, -0.2, 0.2)  # ratio interval +-28% in log: 8B (~0.74) reaches 0.6, 70B (>1) does not
    r = run("estimate-ratio", {"metric": "tpot_s", "claimed_low": 0.6, "claimed_high": 0.6,
                               "a": {"hardware": "mi300x"}, "b": {"hardware": "h100-sxm"},
                               "cases": [CASE_8B, {"label": "70B fewest",
                                                   "base": {"model": "llama-3.1-70b", "precision": "bf16"}}]})
    assert r.computed["70B fewest.ratio"] > 1  # 1 MI300X is slower than 2 H100s (tp2)
    assert r.verdict == "holds-under-conditions"
    assert any(c.startswith("holds: 8B") for c in r.conditions)


def _ctx() -> AuditContext:
    claim = Claim(id="c", title="t", quote="q", quantity={"what": "x"},
                  check={"name": "not-checkable", "params": {"reason": "r"}})
    return AuditContext(claim=claim, doc=ClaimsFile(document=DOC, claims=[claim]))


OFFLOAD_70B = dict(precision="bf16", devices=1, batch=1, input_len=2048, output_len=64)


def test_offload_switch_is_the_performance_models_host_tier():
    o = run_scenario(Scenario(model="llama-3.1-70b", hardware="h100-sxm", precision="bf16",
                              offload_weights_to_host=True, input_len=2048, output_len=64), _ctx())
    core = estimate("llama-3.1-70b", "h100-sxm", offload=True, **OFFLOAD_70B)
    for k in ("ttft_s", "tpot_s", "e2e_latency_s", "output_tok_s", "usd_per_1m_output_tokens",
              "joules_per_output_token"):
        assert o.metric(k) == pytest.approx(getattr(core, k)), k
    assert o.est.bound == core.bound == {"prefill": "offload", "decode": "offload"}

    # what was offloaded, from the catalog: the weights alone overflow one H100, so weights go to
    # host DRAM, as much as leaves ~10% of the device (after reserve and activations) for KV
    h100 = get_hardware("h100-sxm")
    mem = plan_estimate("llama-3.1-70b", "h100-sxm", **OFFLOAD_70B).mem  # without offload
    room = h100.memory_bytes - mem.reserved_bytes - mem.activation_bytes
    assert mem.weights_bytes > 0.9 * room
    w_off = min(mem.weights_bytes, mem.used_bytes - h100.memory_bytes + 0.1 * room)
    assert o.offload["offloaded_weight_bytes_per_device"] == pytest.approx(w_off)
    assert o.offload["offloaded_kv_fraction"] == 0
    assert o.est.memory.weights_bytes == pytest.approx(mem.weights_bytes - w_off)
    assert o.offload["host_link_bytes_s"] == h100.host_link.bw_bytes_s
    assert h100.host_link.name in o.describe() and "GB of weights per device" in o.describe()
    assert "weights per device in host DRAM" in core.assumptions["offload"]
    # every step streams the offloaded weights over PCIe Gen5 x16 (50 GB/s) at the link efficiency
    stream = w_off / h100.host_link.bw_bytes_s / o.factors.comm_eff
    assert o.metric("ttft_s") == pytest.approx(stream)
    assert o.metric("tpot_s") == pytest.approx(stream)


def test_offload_keeps_the_layout_the_engine_would_pick_and_reports_what_host_memory_cannot_hold():
    o = run_scenario(Scenario(model="deepseek-v3", hardware="rtx-4090", devices=2, precision="int4",
                              offload_weights_to_host=True, batch=64, input_len=1024,
                              output_len=1024), _ctx())
    assert (o.est.tp, o.est.dp) == (2, 1)  # tensor parallel over both GPUs, not two replicas
    plan = plan_estimate("deepseek-v3", "rtx-4090", devices=2, tp=2, precision="int4", batch=64,
                         input_len=1024, output_len=1024, offload=True)
    rtx = get_hardware("rtx-4090")
    assert not o.fits and not plan.fits
    assert plan.dep.offload_weight_bytes > rtx.host_memory_bytes
    assert "host memory" in o.reason and o.est.reason in o.reason


def test_offload_in_offline_mode_is_an_input_error():
    with pytest.raises(InputError):
        run_scenario(Scenario(model="llama-3.1-70b", hardware="h100-sxm", mode="offline",
                              offload_weights_to_host=True), _ctx())


def test_estimate_ratio_with_offload_is_the_ratio_of_core_estimates():
    r = run("estimate-ratio", {"metric": "ttft_s", "claimed_low": 0.37, "claimed_high": 0.37,
                               "base": {"input_len": 2048, "output_len": 256, "batch": 1},
                               "a": {"hardware": "mi300x"}, "b": {"hardware": "h100-sxm"},
                               "cases": [{"label": "off", "base": {"model": "llama-3.1-70b",
                                                                   "precision": "bf16", "devices": 1},
                                          "b": {"offload_weights_to_host": True}}]})
    kw = dict(precision="bf16", devices=1, batch=1, input_len=2048, output_len=256)
    a = estimate("llama-3.1-70b", "mi300x", **kw).ttft_s
    b = estimate("llama-3.1-70b", "h100-sxm", offload=True, **kw).ttft_s
    assert r.computed["off.ratio"] == pytest.approx(a / b)


def test_a_decode_speed_above_the_memory_roof_never_agrees_however_wide_the_interval(monkeypatch):
    """An 8B model in q4_0 reads ~4.5 GB a token; the 7950X's 83 GB/s allow at most ~18 tok/s.
    With an interval table wide enough to reach 40 tok/s, the interval stops at the roofline and
    a 40 tok/s claim disagrees."""
    from inferplan.perf import intervals

    table = intervals.IntervalTable(level=0.8, min_rows=8, groups={"all": (-3.0, 3.0, 1000)})
    monkeypatch.setattr(intervals, "load_intervals", lambda path=None: table)
    r = run("estimate-value", {"metric": "decode_tok_s_per_user", "claimed_low": 40, "claimed_high": 40,
                               "needed_bandwidth": True,
                               "base": {"model": "llama-3.1-8b", "precision": "q4_0", "batch": 1,
                                        "input_len": 128, "output_len": 128},
                               "cases": [{"label": "7950X", "hardware": "ryzen-9-7950x"}]})
    lo, hi = r.intervals["7950X.decode_tok_s_per_user"]
    v = r.computed["7950X.decode_tok_s_per_user"]
    assert v * math.exp(3.0) > 40  # the table alone would reach the claim
    assert lo < v <= hi < 20  # clipped at the memory roof (~18-19 tok/s at 100% of the peak)
    assert r.verdict == "inconsistent"
    assert any("above the memory roof" in line for line in r.derivation)


def test_estimate_value_needed_bandwidth_is_rate_times_bytes_over_efficiency():
    r = run("estimate-value", {"metric": "decode_tok_s_per_user", "claimed_low": 5, "claimed_high": 7,
                               "needed_bandwidth": True,
                               "base": {"model": "llama-3.1-8b", "precision": "q4_0", "batch": 1,
                                        "input_len": 128, "output_len": 128},
                               "cases": [{"label": "7950X", "hardware": "ryzen-9-7950x"}]})
    e = estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_0", input_len=128, output_len=128)
    assert r.computed["7950X.decode_tok_s_per_user"] == pytest.approx(e.decode_tok_s_per_user)
    eff = e.assumptions["bw_eff"]["value"] * e.assumptions["engine_bw"]["value"]
    bytes_per_token = r.computed["7950X.needed_peak_bw_bytes_s"] * eff / 5
    # each token reads the weights but the embedding table (q4_0 4.5 bits, head at Q6_K 6.5625
    # bits) plus a small KV cache
    m = get_model("llama-3.1-8b")
    read = e.memory.weights_bytes - m.embedding_params * 6.5625 / 8
    assert read < bytes_per_token < read * 1.05


def test_fit_devices_70b_bf16_needs_two_h100s_and_one_mi300x():
    r = run("fit-devices", {"model": "llama-3.1-70b",
                            "claimed": {"h100-sxm": {"low": 2, "high": 3}, "mi300x": {"low": 1, "high": 1}},
                            "cases": [{"label": "bf16", "precision": "bf16", "batch": 1, "context": 4096},
                                      {"label": "int4", "precision": "int4", "batch": 8, "context": 4096}]})
    # 70.6B x 2 bytes = 141 GB > 72 GB usable of one H100 (vLLM 90%), < 173 GB of one MI300X
    assert r.computed["bf16.h100-sxm.devices"] == 2
    assert r.computed["bf16.mi300x.devices"] == 1
    assert r.computed["bf16.mi300x.weights_bytes_per_device"] == pytest.approx(
        get_model("llama-3.1-70b").total_params * 2, rel=0.01)
    assert r.computed["int4.h100-sxm.devices"] == 1  # 70.6B x 5 bits = 44 GB fits one H100
    assert r.verdict == "holds-under-conditions"


def test_model_size_bitnet_2b_at_1_58_and_2_bits():
    r = run("model-size", {"model": "bitnet-b1.58-2b-4t", "claimed_low": 350e6, "claimed_high": 450e6,
                           "variants": [{"precision": "i2_s"}, {"precision": "ternary", "count": "non-embedding"},
                                        {"precision": "i2_s", "count": "non-embedding"}]})
    m = get_model("bitnet-b1.58-2b-4t")
    layers = m.layer_params  # decoder layers; the embedding is tied (the LM head reuses it)
    assert r.computed["ternary.non-embedding.bytes"] == pytest.approx(layers * 1.585 / 8)
    assert r.computed["i2_s.non-embedding.bytes"] == pytest.approx(layers * 2 / 8)
    # I2_S keeps the 128256 x 2560 embedding in 16 bits
    assert r.computed["i2_s.all.bytes"] == pytest.approx(layers * 2 / 8 + m.embedding_params * 2)
    assert 400e6 < r.computed["ternary.non-embedding.bytes"] < 420e6
    assert r.verdict == "holds-under-conditions"


def test_context_scaling_deepseek_mla_kv_of_1m_vs_128k_tokens():
    r = run("context-scaling", {"model": "deepseek-v3", "hardware": "h200-sxm", "devices": 8,
                                "short_context": 131072, "long_context": 1048576, "claimed_ratio": 1.0,
                                "mechanism_not_modelled": "sparse attention"})
    m = get_model("deepseek-v3")
    per_token = 61 * (512 + 64) * 2  # layers x (latent + rope key) x bf16 bytes
    assert m.kv_elems_per_token * 2 == per_token
    assert r.computed["kv_bytes_short"] == pytest.approx(per_token * 131072)  # 9.2 GB
    assert r.computed["kv_bytes_long"] == pytest.approx(per_token * 1048576)  # 73.7 GB
    assert r.computed["kv_ratio"] == pytest.approx(8.0)
    # dense decode at 1M reads 8x the cache: slower, not equal
    assert r.computed["tpot_ratio"] > 2
    assert r.computed["kv_long_read_over_host_link_s"] == pytest.approx(per_token * 1048576 / 50e9)
    assert r.verdict == "holds-under-conditions"


def test_context_scaling_without_a_named_mechanism_is_inconsistent():
    r = run("context-scaling", {"model": "deepseek-v3", "hardware": "h200-sxm", "devices": 8,
                                "short_context": 131072, "long_context": 1048576, "claimed_ratio": 1.0})
    assert r.verdict == "inconsistent"


def test_wafer_fit_only_small_models_fit_one_cerebras_wafer():
    r = run("wafer-fit", {"hardware": "cerebras-cs3", "precision": "bf16",
                          "models": ["llama-3.1-8b", "llama-3.1-70b"]})
    # 44 GB SRAM x 90%: 8B x 2 bytes = 16 GB fits; 70B x 2 bytes = 141 GB needs >= 4 wafers
    assert r.computed["llama-3.1-8b.devices"] == 1
    assert r.computed["llama-3.1-70b.devices"] >= math.ceil(141e9 / (44e9 * 0.9))
    assert 0 < r.computed["llama-3.1-70b.link_share_of_tpot"] < 0.2
    assert r.verdict == "holds-under-conditions"


def test_implied_size_matches_bandwidth_over_rate_on_one_h100():
    r = run("implied-size", {"claimed_tok_s": 67, "base": {"hardware": "h100-sxm", "precision": "fp8"},
                             "cases": [{"label": "1", "devices": 1, "batch": 1,
                                        "input_len": 2048, "output_len": 512}]})
    eff = load_efficiency()
    bw_eff = eff.lookup("bw_eff", ["gpu-nvidia"]).value * eff.lookup("engine_bw", ["vllm@gpu"]).value
    upper = 3.35e12 * bw_eff / 67  # bytes one H100 can read in 1/67 s
    implied = r.computed["1.implied_weight_bytes"]
    # below the bandwidth bound (overheads and KV reads take the rest), but not far below
    assert 0.75 * upper < implied < upper


def test_efficiency_ratio_is_the_quotient_of_calibrated_factors():
    r = run("efficiency-ratio", {"a_family": "gpu-amd", "b_family": "gpu-nvidia",
                                 "engine_scope": "vllm@gpu", "claimed_low": 0.75, "claimed_high": 0.75})
    eff = load_efficiency()
    bw = eff.lookup("bw_eff", ["gpu-amd"]).value / eff.lookup("bw_eff", ["gpu-nvidia"]).value
    ce = eff.lookup("compute_eff", ["gpu-amd"]).value / eff.lookup("compute_eff", ["gpu-nvidia"]).value
    assert r.computed["bw_eff.fitted_ratio"] == pytest.approx(bw)
    assert r.computed["compute_eff.fitted_ratio"] == pytest.approx(ce)
    assert r.computed["compute_eff.prior_ratio"] == pytest.approx(0.55 / 0.75)
    assert any("6 rows" in d for d in r.derivation)


def test_not_checkable_states_the_reason_and_computes_nothing():
    r = run("not-checkable", {"reason": "market share is sales data"})
    assert r.verdict == "not-checkable" and r.computed == {}
    assert r.derivation == ["market share is sales data"]


def test_internal_consistency_flags_two_ttft_ratios_of_one_document():
    other = Claim(id="c2", title="t", quote="q2",
                  quantity={"what": "ttft", "value": 2.7, "key": "ttft"},
                  check={"name": "not-checkable", "params": {"reason": "r"}})
    r = run("internal-consistency", {"key": "ttft"},
            quantity={"what": "ttft", "low": 1.4, "high": 1.67, "key": "ttft"}, others=[other])
    assert r.verdict == "inconsistent"
    assert r.computed["conflicting_pairs"] == 1


def test_conflicts_allow_rounding_between_statements():
    def claim(i, **q):
        return Claim(id=i, title="t", quote="q", quantity={"what": "x", "key": "k", **q},
                     check={"name": "not-checkable", "params": {"reason": "r"}})

    doc = ClaimsFile(document=DOC, claims=[claim("a", value=2.7), claim("b", low=1.4, high=1.67),
                                           claim("c", value=2.8)])
    pairs = conflicts_for(doc, "k", 0.10)
    assert {(a, b) for a, b, _ in pairs} == {("a", "b"), ("b", "c")}
    gap = dict(((a, b), g) for a, b, g in pairs)[("a", "b")]
    assert gap == pytest.approx(2.7 / 1.67)


def test_constructed_model_scales_layers_to_the_requested_size():
    m = construct_model(ConstructedModel(id="big", base="llama-3.1-70b", total_params=100e9,
                                         native_precision="i2_s", why="test"))
    base = get_model("llama-3.1-70b")
    assert m.total_params == pytest.approx(100e9, rel=0.01)
    assert m.hidden_size == base.hidden_size and m.num_layers > base.num_layers
    assert m.native_precision == "i2_s" and "constructed" in m.source


# --- verdicts against each value's prediction interval (checks/verdict.py) -------------------------

H100_8B = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "precision": "bf16", "devices": 1,
           "batch": 1, "input_len": 1024, "output_len": 256}


def _table(monkeypatch, q_lo: float, q_hi: float):
    """Replace the bundled interval table by one gpu batch-1 decode group (rows enough)."""
    from inferplan.perf import intervals

    table = intervals.IntervalTable(level=0.8, min_rows=8, groups={
        "gpu|decode|decode-b1": (q_lo, q_hi, 100), "all": (-0.7, 1.2, 1000)})
    monkeypatch.setattr(intervals, "load_intervals", lambda path=None: table)


def _point() -> float:
    """The check's own estimate of batch-1 decode speed of H100_8B (tok/s)."""
    return run("estimate-value", {"metric": "decode_tok_s_per_user", "claimed_low": 1, "base": H100_8B,
                                  "cases": [{"label": "h100"}]}).computed["h100.decode_tok_s_per_user"]


def _decode_value(claim: float):
    return run("estimate-value", {"metric": "decode_tok_s_per_user", "claimed_low": claim,
                                  "claimed_high": claim, "base": H100_8B, "cases": [{"label": "h100"}]})


def test_a_claim_inside_the_class_band_but_outside_a_narrow_interval_is_inconsistent(monkeypatch):
    from inferplan.audit.tolerance import band_for, within

    _table(monkeypatch, -0.05, 0.05)
    v = _point()
    claim = v * 1.10
    assert within(v, claim, claim, band_for("gpu").median)  # the old per-class band agreed
    r = _decode_value(claim)
    assert r.verdict == "inconsistent"
    lo, hi = r.intervals["h100.decode_tok_s_per_user"]
    assert (lo, hi) == pytest.approx((v * math.exp(-0.05), v * math.exp(0.05)))
    assert r.interval_level == 0.8
    assert any("outside the tool's 80% interval" in d and f"{claim / hi:.3g}x above its high end" in d
               for d in r.derivation)
    assert "gpu|decode|decode-b1 (100 rows)" in r.tolerance


def test_a_claim_outside_the_class_band_but_inside_a_wide_interval_is_consistent(monkeypatch):
    from inferplan.audit.tolerance import band_for, within

    _table(monkeypatch, -0.6, 0.6)
    v = _point()
    claim = v * 1.3  # below the memory roof (3.35 TB/s over ~16 GB a token), which clips the interval
    assert not within(v, claim, claim, band_for("gpu").median)  # the old band disagreed
    r = _decode_value(claim)
    assert r.verdict == "consistent"
    assert claim < r.intervals["h100.decode_tok_s_per_user"][1] < v * math.exp(0.6)


def test_a_biased_interval_can_exclude_the_point_estimate_itself(monkeypatch):
    # the model predicts decode 20-80% too fast on this group: the truth is below the estimate
    _table(monkeypatch, math.log(1.2), math.log(1.8))
    v = _point()
    r = _decode_value(v)
    assert r.verdict == "inconsistent"
    assert r.intervals["h100.decode_tok_s_per_user"] == pytest.approx([v / 1.8, v / 1.2])
    assert any("1.2x above its high end" in d for d in r.derivation)


def test_an_open_claim_agrees_when_it_reaches_the_interval(monkeypatch):
    _table(monkeypatch, -0.05, 0.05)
    v = _point()
    params = {"metric": "decode_tok_s_per_user", "base": H100_8B, "cases": [{"label": "h100"}]}
    assert run("estimate-value", {**params, "claimed_low": v * 1.04}).verdict == "consistent"
    assert run("estimate-value", {**params, "claimed_low": v * 1.06}).verdict == "inconsistent"
    assert run("estimate-value", {**params, "claimed_high": v * 0.94}).verdict == "inconsistent"


def test_a_ratio_is_judged_against_the_interval_of_the_ratio(monkeypatch):
    _table(monkeypatch, -0.05, 0.05)
    params = {"metric": "tpot_s", "claimed_low": 0.6, "claimed_high": 0.6,
              "base": {"input_len": 2048, "output_len": 256},
              "a": {"hardware": "mi300x"}, "b": {"hardware": "h100-sxm"}, "cases": [CASE_8B]}
    r = run("estimate-ratio", params)
    ratio = r.computed["8B.ratio"]
    half = math.hypot(0.05, 0.05)  # two independent +-5% errors
    assert r.intervals["8B.ratio"] == pytest.approx([ratio * math.exp(-half), ratio * math.exp(half)])
    assert ratio * math.exp(-half) > 0.6
    assert r.verdict == "inconsistent"  # the old gpu band (17%) called 0.6 consistent


def test_without_an_interval_table_the_class_band_decides(monkeypatch):
    from inferplan.perf import intervals

    monkeypatch.setattr(intervals, "load_intervals", lambda path=None: None)
    v = _point()
    r = _decode_value(v * 1.10)  # within gpu's 17% LOSO median
    assert r.verdict == "consistent" and r.intervals == {} and r.interval_level is None
    assert "LOSO median" in r.tolerance


def test_bundled_intervals_reach_every_estimate_verdict():
    v = _point()
    r = _decode_value(v)
    lo, hi = r.intervals["h100.decode_tok_s_per_user"]
    assert lo < hi and r.interval_level == 0.8
    from inferplan.catalog.engines import default_engine
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.intervals import metric_interval

    # the verdict reads the group of the estimate's class, regime and corpus support (its
    # engine, the hardware's default, measured on the H100 in the bundled corpus)
    engine = default_engine(get_hardware("h100-sxm")).id
    iv = metric_interval(v, "decode_tok_s_per_user", "gpu", "batch", 1, 1024, 256,
                         support=f"{engine}@h100-sxm")
    assert iv.group.startswith("measured|gpu")
    assert lo == pytest.approx(iv.low) and hi <= iv.high  # the high end is clipped where it passes the roof
    # ... and the verdict's interval is the one `estimate --json` prints, clipped at the roofline
    from inferplan import estimate

    kw = {k: val for k, val in H100_8B.items() if k not in ("model", "hardware")}
    assert (lo, hi) == pytest.approx(estimate("llama-3.1-8b", "h100-sxm", **kw).intervals["decode_tok_s_per_user"])


def test_implied_size_reports_the_sizes_the_decode_interval_allows(monkeypatch):
    _table(monkeypatch, -0.1, 0.2)
    r = run("implied-size", {"claimed_tok_s": 67, "base": {"hardware": "h100-sxm", "precision": "fp8"},
                             "cases": [{"label": "1", "devices": 1, "batch": 1,
                                        "input_len": 2048, "output_len": 512}]})
    p = r.computed["1.implied_params"]
    assert r.intervals["1.implied_params"] == pytest.approx([p * math.exp(-0.2), p * math.exp(0.1)])


def test_a_clipped_interval_moves_its_quantiles_too():
    """Ratio checks read an interval's residual quantiles: after the roofline clip they must
    reproduce the clipped ends, not the table's."""
    from inferplan.perf.intervals import interval

    o = run_scenario(Scenario(model="llama-3.1-8b", hardware="h100-sxm", precision="bf16", batch=1,
                              input_len=1024, output_len=256), _ctx())
    v = o.metric("decode_tok_s_per_user")
    iv = o.interval("decode_tok_s_per_user")
    assert iv is not None and v is not None
    assert interval(v, False, iv.q_lo, iv.q_hi) == pytest.approx((iv.low, iv.high))
