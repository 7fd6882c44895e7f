"""Running claims files: the bundled audit, a user's own file, plugins, and the CLI contract."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from inferplan.audit import CheckParams, CheckResult, register_check, run_audit
from inferplan.audit.claims import VERDICTS
from inferplan.audit.registry import CHECKS
from inferplan.catalog.hardware import get_hardware
from inferplan.cli.main import app
from inferplan.errors import CatalogError
from inferplan.perf.estimate import estimate, plan_estimate

runner = CliRunner()


@pytest.fixture(scope="module")
def bundled():
    return run_audit()


def test_bundled_audit_runs_every_claim_with_a_verdict(bundled):
    assert len(bundled.results) >= 18
    for r in bundled.results:
        assert r.result.verdict in VERDICTS
        assert r.result.derivation, r.id
        if r.result.verdict != "not-checkable":
            assert r.result.sources or r.result.check in ("growth-ratio", "internal-consistency"), r.id
    assert sum(bundled.counts.values()) == len(bundled.results)
    # verdicts that rest on arithmetic and the sheet's specs, not on calibrated factors
    verdict = {r.id: r.result.verdict for r in bundled.results}
    assert verdict["01-growth-ratio"] == "holds-under-conditions"
    assert verdict["02-memory-specs"] == "consistent"  # the datasheet GB are GiB, as the catalog keeps them
    assert verdict["02b-vram-ratio"] == "consistent"
    assert {v for v, n in bundled.counts.items() if n} == set(VERDICTS)  # the article meets all four


def test_bundled_audit_flags_the_two_ttft_ratios_as_a_conflict(bundled):
    assert [c.claims for c in bundled.conflicts] == [["05-ttft-2.7x", "06-table-ttft-40pct"]]
    six = next(r for r in bundled.results if r.id == "06-table-ttft-40pct")
    assert six.result.verdict == "inconsistent"


def test_market_claims_are_not_checkable(bundled):
    market = [r for r in bundled.results if r.id.startswith("18")]
    assert market and all(r.result.verdict == "not-checkable" for r in market)


def test_verdicts_cite_catalog_sources(bundled):
    spec = next(r for r in bundled.results if r.id == "02-memory-specs")
    assert any(s.startswith("hardware h100-sxm:") for s in spec.result.sources)
    cost = next(r for r in bundled.results if r.id == "07-cost-20-30pct")
    assert any(s.startswith("price mi300x:") for s in cost.result.sources)
    fit = next(r for r in bundled.results if r.id == "08-70b-fit")
    assert any(s.startswith("model llama-3.1-70b") for s in fit.result.sources)


def test_offload_cases_are_the_performance_models_host_tier(bundled):
    """Claims 05 and 16 switch on `offload_weights_to_host`: the library's offload estimate."""
    five = next(r for r in bundled.results if r.id == "05-ttft-2.7x").result
    case = "70B bf16 on 1 GPU each, H100 streaming the weights it cannot hold from host memory"
    kw = dict(precision="bf16", devices=1, batch=1, output_len=256)
    for n in (512, 2048, 3072, 8192):
        a = estimate("llama-3.1-70b", "mi300x", input_len=n, **kw).ttft_s
        b = estimate("llama-3.1-70b", "h100-sxm", input_len=n, offload=True, **kw)
        assert five.computed[f"{case}.ratio_at_{n}_tokens"] == pytest.approx(a / b.ttft_s)
    assert five.computed[f"{case}.ratio"] == five.computed[f"{case}.ratio_at_2048_tokens"]
    # each case is judged against the interval of its ratio: the verdict follows which reach 0.37
    assert five.interval_level == 0.8 and f"{case}.ratio" in five.intervals
    reach = [lo <= 0.37 <= hi for k, (lo, hi) in five.intervals.items() if k.endswith(".ratio")]
    assert len(reach) == 4
    assert five.verdict == ("consistent" if all(reach) else
                            "holds-under-conditions" if any(reach) else "inconsistent")

    # DeepSeek-V3 int4 on 2x RTX 4090 (tp2): the weights beyond VRAM exceed the catalog's host memory
    sixteen = next(r for r in bundled.results if r.id == "16-dual-4090").result
    plan = plan_estimate("deepseek-v3", "rtx-4090", devices=2, tp=2, precision="int4", batch=64,
                         input_len=1024, output_len=1024, offload=True)
    assert not plan.fits and plan.dep.offload_weight_bytes > get_hardware("rtx-4090").host_memory_bytes
    off = [k for k in sixteen.computed if "host RAM" in k]
    assert off and all(sixteen.computed[k] is None for k in off)
    assert sixteen.verdict == "inconsistent"  # every DeepSeek-V3 case misses; the others are context


USER_FILE = """\
    version: 1
    document: {title: Vendor deck, source: deck.pdf, date: "2026-03"}
    models:
      - id: tiny-llama
        base: llama-3.2-1b
        total_params: 0.6e+9
        why: a smaller model the deck mentions
    claims:
      - id: d1
        title: "H200 has 4.8 TB/s"
        quote: "H200 delivers 4.8 TB/s"
        quantity: {what: bandwidth, unit: bytes/s, value: 4.8e+12}
        check:
          name: catalog-spec
          params: {items: [{hardware: h200-sxm, field: memory_bw_bytes_s, value: 4.8e+12}]}
      - id: d2
        title: "tiny model at 100+ tok/s on an RTX 4090"
        quote: "over 100 tokens per second"
        quantity: {what: decode, unit: tok/s, low: 100}
        check:
          name: estimate-value
          params:
            metric: decode_tok_s_per_user
            claimed_low: 100
            cases: [{model: tiny-llama, hardware: rtx-4090, input_len: 256, output_len: 64}]
"""


def test_user_written_claims_file_runs(tmp_path):
    path = tmp_path / "deck.yaml"
    path.write_text(textwrap.dedent(USER_FILE), encoding="utf-8")
    rep = run_audit(path)
    assert [r.id for r in rep.results] == ["d1", "d2"]
    assert rep.results[0].result.verdict == "consistent"
    d2 = rep.results[1].result
    assert d2.verdict == "consistent"
    assert "constructed" in " ".join(d2.sources)
    assert rep.claims_file == str(path)


def test_unknown_hardware_in_params_names_the_file_and_claim(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(USER_FILE).replace("hardware: rtx-4090", "hardware: rtx-4099"),
                    encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        run_audit(path)
    msg = str(err.value)
    assert "bad.yaml" in msg and "claim 'd2'" in msg and "rtx-4090" in msg


def test_a_plugin_check_registers_like_a_builtin(tmp_path):
    class Params(CheckParams):
        watts: float

    @register_check("test-watts", Params)
    def watts(p: Params, ctx) -> CheckResult:
        """Echo a power figure."""
        return CheckResult(check="test-watts", verdict="consistent", value=f"{p.watts:g} W",
                           computed={"power_w": p.watts})

    try:
        path = tmp_path / "plugin.yaml"
        path.write_text(textwrap.dedent("""\
            document: {title: t, source: s}
            claims:
              - {id: p1, title: t, quote: q, quantity: {what: w},
                 check: {name: test-watts, params: {watts: 700}}}
        """), encoding="utf-8")
        rep = run_audit(path)
        assert rep.results[0].result.computed == {"power_w": 700}
    finally:
        CHECKS.pop("test-watts")


def test_cli_json_is_the_report_schema():
    r = runner.invoke(app, ["audit", "--json", "--only", "02,06"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) == {"document", "claims_file", "interval_level", "interval_source", "error_bands",
                      "error_source", "results", "conflicts", "counts"}
    assert d["interval_level"] == 0.8
    assert [x["id"] for x in d["results"]] == ["02-memory-specs", "06-table-ttft-40pct"]
    res = d["results"][0]
    assert set(res) == {"id", "title", "quote", "where", "claimed", "stated_conditions", "note", "result"}
    assert set(res["result"]) == {"check", "verdict", "value", "computed", "conditions", "context", "derivation",
                                  "sources", "tolerance", "intervals", "interval_level"}
    # a spec check is exact: no interval
    assert res["result"]["intervals"] == {} and res["result"]["interval_level"] is None
    assert {b["hw_class"] for b in d["error_bands"]} >= {"gpu", "cpu", "wafer"}


def test_cli_json_reports_the_interval_of_each_predicted_value():
    r = runner.invoke(app, ["audit", "--json", "--only", "09-cerebras-1000"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)["results"][0]["result"]
    assert res["interval_level"] == 0.8
    keys = [k for k in res["computed"] if k.endswith("decode_tok_s_per_user")]
    assert keys and set(keys) <= set(res["intervals"])
    for k in keys:
        lo, hi = res["intervals"][k]
        assert lo < hi
    assert "prediction interval" in res["tolerance"]


def test_cli_verbose_prints_the_intervals():
    r = runner.invoke(app, ["audit", "--only", "09-cerebras-1000", "--verbose"])
    assert r.exit_code == 0
    assert "tool's 80% intervals" in r.stdout and "80% prediction interval" in r.stdout


def test_cli_table_and_verbose():
    r = runner.invoke(app, ["audit", "--only", "11"])
    assert r.exit_code == 0 and "11-bitnet-400mb" in r.stdout
    r = runner.invoke(app, ["audit", "--only", "11", "--verbose"])
    assert "derivation" in r.stdout and "1.585" in r.stdout


def test_cli_unknown_claim_and_bad_file_exit_2(tmp_path):
    r = runner.invoke(app, ["audit", "--only", "05-ttft"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["audit", "--only", "99-nothing"])
    assert r.exit_code == 2 and "unknown claim" in r.stderr
    bad = tmp_path / "x.yaml"
    bad.write_text("document: {title: t, source: s}\nclaims: [{id: a}]\n", encoding="utf-8")
    r = runner.invoke(app, ["audit", str(bad)])
    assert r.exit_code == 2 and "x.yaml" in r.stderr and "claim 'a'" in r.stderr


def test_a_datasheet_capacity_in_binary_gb_matches_the_catalogs_real_bytes():
    from inferplan.audit.checks.catalog import CatalogSpecParams, catalog_spec

    ok = catalog_spec(CatalogSpecParams(items=[{"hardware": "h100-sxm", "field": "memory_bytes",
                                                "value": 80e9}]), None)
    bad = catalog_spec(CatalogSpecParams(items=[{"hardware": "h100-sxm", "field": "memory_bytes",
                                                 "value": 94e9}]), None)
    assert ok.verdict == "consistent" and "GiB" in ok.derivation[0]
    assert bad.verdict == "inconsistent"


def test_the_dual_4090_claim_is_judged_on_deepseek_with_its_experts_on_the_host(bundled):
    r = next(x for x in bundled.results if x.id == "16-dual-4090").result
    cpu_moe = next(d for d in r.derivation if d.startswith("DeepSeek-V3 Q4_K_M, routed experts on one EPYC"))
    assert "disagrees" in cpu_moe and r.verdict == "inconsistent"
    assert any("routed experts in epyc-9755 DRAM" in d for d in r.derivation)
    # the smaller models that fit the two cards are shown, not counted
    assert r.context == ["Qwen3-30B-A3B fp8 offline (agrees)", "Llama-3.1-8B fp8 offline (agrees)"]
    assert not any("Qwen3" in c for c in r.conditions)
    assert sum("is too small" in d for d in r.derivation) == 1  # the offload note is said once


def test_offloads_split_across_base_and_case_are_refused_by_name(tmp_path):
    from inferplan.errors import CatalogError

    path = tmp_path / "c.yaml"
    path.write_text("""\
version: 1
document: {title: t, source: t, date: '2026-01-01', publisher: t}
claims:
  - id: o1
    title: t
    quote: q
    quantity: {what: w}
    check:
      name: estimate-value
      params:
        metric: tpot_s
        claimed_low: 0.01
        base: {model: deepseek-v3, hardware: rtx-4090, offload_weights_to_host: true}
        cases: [{label: c, offload_experts_to_host: true, host: epyc-9755}]
""")
    with pytest.raises(CatalogError, match="claim 'o1'.*two different offloads"):
        run_audit(path)


def test_a_check_that_counted_no_case_is_not_checkable():
    from inferplan.audit.checks.verdict import verdict_of

    assert verdict_of([]) == "not-checkable" and verdict_of([True, False]) == "holds-under-conditions"
