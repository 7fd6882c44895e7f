"""llama.cpp partial layer offload (-ngl): host-resident layers computed by the host CPU
(perf/hostlayers.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inferplan.errors import InputError
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.offload import host_power_w
from inferplan.perf.step import step_work
from inferplan.sim.pool import POWER_DECODE_CTX, DeploymentSpec, build_pool
from inferplan.sim.workload import Arrivals, LengthDist, Workload

Q4 = dict(precision="q4_k_m", input_len=512, output_len=128, devices=1)


def _ngl(n: int, **kw):
    return estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp", engine_options={"n_gpu_layers": n},
                    **{**Q4, **kw})


def test_a_model_too_big_for_the_gpu_runs_its_other_layers_on_the_host_cpu():
    plan = plan_estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", offload="auto", **Q4)
    hl = plan.dep.host_layers
    assert plan.fits and hl is not None and hl.cpu.id == "ryzen-9-7950x"  # the desktop default host
    assert 0.3 < hl.share < 0.7 and plan.mem.used_bytes <= plan.mem.capacity_bytes
    # decode: the host's share of the layers read at its DRAM bandwidth, one after the GPU's
    f, _ = resolve_factors(plan.dep, load_efficiency(None))
    work = step_work(plan.dep, decode_seqs=1.0, decode_ctx=576.0)
    # the host reads its layers and the LM head (the embedding table: one row per token)
    m = plan.dep.model
    head_bytes = m.lm_head_params * plan.dep.head_bytes_per_elem
    emb_bytes = m.embedding_params * plan.dep.head_bytes_per_elem
    assert hl.weight_bytes == pytest.approx(hl.layer_bytes + head_bytes + emb_bytes)
    host_read_s = (hl.layer_bytes + head_bytes) / (hl.dep.memory_bw_bytes_s * hl.f.bw_eff)
    assert float(work.t_host) > host_read_s
    assert float(work.t_host) == pytest.approx(host_read_s, rel=0.25)  # weights dominate at 576 tokens
    host_model = step_work(hl.dep, decode_seqs=1.0, decode_ctx=576.0)
    ops = host_model.op_times_s(hl.f)
    head_s = float(ops[host_model.op_kinds.index("head")])
    assert float(hl.host_step_s(1.0, 576.0)) > head_s  # the head whole, on the host
    assert float(hl.host_step_s(1.0, 576.0)) < hl.share * (float(host_model.time_s(hl.f)) - head_s) + head_s
    assert float(work.t_offload) == 0.0  # nothing crosses the link but activations
    full = step_work(replace(plan.dep, host_layers=None, offload_weight_bytes=0.0), decode_seqs=1.0,
                     decode_ctx=576.0)  # every layer on the GPU
    # the GPU runs only its share of every layer op, and not the LM head
    lin = [i for i, k in enumerate(work.op_kinds) if k == "linear"]
    assert np.allclose(work.t_memory[lin], full.t_memory[lin] * (1 - hl.share))
    assert float(work.t_memory[work.op_kinds.index("head")]) == 0.0
    assert float(work.time_s(f)) > float(full.time_s(f))


def test_computing_on_the_host_beats_streaming_the_same_weights_over_pcie():
    cpu = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", offload="auto", **Q4)
    streamed = estimate("llama-3.1-70b", "rtx-4090", engine="vllm", offload="auto", **Q4)
    # ~21 GB at ~73 GB/s (dual-channel DDR5, bw_eff) against ~21 GB at 25 GB/s (PCIe 4.0 x16)
    assert cpu.tpot_s < streamed.tpot_s / 2
    assert 0.2 < cpu.tpot_s < 0.5  # 2-5 tok/s: what 70B Q4_K_M on a 4090 + DDR5 desktop reaches
    assert cpu.bound["decode"] == "offload" and "host-memory-bound" in cpu.why
    assert "-ngl" in cpu.assumptions["offload"]


def test_prompt_batches_copy_the_host_layers_to_the_gpu_per_ubatch():
    plan = plan_estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp",
                         engine_options={"n_gpu_layers": 0}, **Q4)
    hl = plan.dep.host_layers
    assert hl is not None and hl.share == 1.0 and hl.layers == 64
    work = step_work(plan.dep, prefill_tokens=np.array([31.0, 32.0, 512.0, 544.0, 1024.0]),
                     prefill_seqs=1.0)
    copy_s = hl.layer_bytes / hl.link.bw_bytes_s  # the layers' bytes: not the embedding and head
    # below 32 tokens the CPU computes them; from 32 on, one copy per 512-token ubatch, and a
    # last ubatch of 32 or more tokens copies them again
    assert float(work.t_offload[0]) == 0.0 and float(work.t_host[0]) > 0.0
    assert work.t_offload[1:].tolist() == pytest.approx([copy_s, copy_s, 2 * copy_s, 2 * copy_s])
    assert work.t_host[1:].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_short_last_ubatch_runs_on_the_host_beside_one_copy():
    plan = plan_estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", offload="auto", **Q4)
    hl = plan.dep.host_layers
    mixed = step_work(plan.dep, prefill_tokens=512.0, prefill_seqs=1.0, decode_seqs=3.0, decode_ctx=600.0)
    assert float(mixed.t_offload) == pytest.approx(hl.layer_bytes / hl.link.bw_bytes_s)
    three = float(hl.host_step_s(3.0, 600.0))  # the 3 decode rows of the last ubatch, on the host
    assert three < float(mixed.t_host) < 1.01 * three + 1e-3


def test_the_layers_take_their_kv_cache_along():
    plan = plan_estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp", offload="auto", mode="concurrency",
                         batch=4, slots=4, precision="q4_k_m", input_len=32000, output_len=128, devices=1)
    hl = plan.dep.host_layers
    assert plan.fits and hl is not None and plan.dep.offload_kv_fraction == 0.0  # no KV streaming
    whole = plan_estimate("qwen2.5-32b", "h100-sxm", engine="llama.cpp", mode="concurrency", batch=4,
                          slots=4, precision="q4_k_m", input_len=32000, output_len=128, devices=1)
    assert plan.mem.kv_cache_bytes == pytest.approx(whole.mem.kv_cache_bytes * (1 - hl.share), rel=1e-6)
    # the device keeps its share of the layers; the embedding and LM head stay on the host
    ends = whole.mem.weights_bytes - (hl.layer_bytes / hl.share)
    assert 0 < ends < 0.1 * whole.mem.weights_bytes
    assert plan.mem.weights_bytes == pytest.approx((whole.mem.weights_bytes - ends) * (1 - hl.share), rel=1e-6)


def test_more_gpu_layers_decode_faster_and_all_of_them_is_no_offload():
    speeds = [_ngl(n).decode_tok_s_per_user for n in (0, 16, 32, 48, 63)]
    assert speeds == sorted(speeds) and speeds[-1] > 2 * speeds[0]
    whole = estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp", **Q4)
    # -ngl 64 (the layers) keeps the output layer on the host; 65 and up offload it too
    assert _ngl(65).tpot_s == whole.tpot_s and _ngl(99).tpot_s == whole.tpot_s
    assert _ngl(64).tpot_s > whole.tpot_s
    forty = plan_estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp", engine_options={"n_gpu_layers": 40}, **Q4)
    hl = forty.dep.host_layers
    assert _ngl(40).host_layers == {"cpu": "ryzen-9-7950x", "layers_on_host": 24, "gpu_layers": 40,
                                    "host_weight_bytes": pytest.approx(hl.weight_bytes)}
    ends = hl.weight_bytes - hl.layer_bytes  # the embedding and LM head, whole
    assert hl.layer_bytes == pytest.approx(24 / 64 * (whole.memory.weights_bytes - ends))
    assert whole.host_layers is None


def test_ngl_99_or_minus_1_with_offload_auto_lets_auto_split_whole_layers():
    kw = dict(engine="llama.cpp", offload="auto", **Q4)
    auto = estimate("llama-3.1-70b", "rtx-4090", **kw)
    assert auto.host_layers["layers_on_host"] == 34  # the fewest whole layers (with their KV)
    for ngl in (99, -1):
        e = estimate("llama-3.1-70b", "rtx-4090", **{**kw, "engine_options": {"n_gpu_layers": ngl}})
        assert e.host_layers == auto.host_layers and e.tpot_s == auto.tpot_s
    minus1 = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", engine_options={"ngl": -1}, **Q4)
    assert minus1.tpot_s == auto.tpot_s  # -1 alone: llama.cpp's 'as many as fit'


def test_n_gpu_layers_means_one_gpu_unless_devices_are_given_and_tp_keeps_the_whole_model_on_the_host():
    one = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", engine_options={"ngl": 40},
                   **{**Q4, "devices": None})
    assert one.devices == 1
    tp2 = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", engine_options={"ngl": 0}, tp=2,
                   **{**Q4, "devices": 2})
    pp2 = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", engine_options={"ngl": 0}, pp=2,
                   **{**Q4, "devices": 2})
    assert tp2.host_layers["host_weight_bytes"] == pytest.approx(pp2.host_layers["host_weight_bytes"])
    assert tp2.ttft_s == pytest.approx(pp2.ttft_s, rel=0.05)  # the same bytes copied per ubatch


def test_replicas_would_share_one_host_so_they_are_refused():
    e = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", offload="auto", tp=1, pp=1,
                 **{**Q4, "devices": 4, "precision": "q8_0"})
    assert not e.fits and "one replica per host CPU" in e.reason


def test_a_batch_of_32_copies_the_layers_and_the_why_line_says_so():
    kw = dict(engine="llama.cpp", offload="auto", mode="concurrency", **Q4)
    e31 = estimate("llama-3.1-70b", "rtx-4090", batch=31, slots=31, **kw)
    e32 = estimate("llama-3.1-70b", "rtx-4090", batch=32, slots=32, **kw)
    assert "host-memory-bound" in e31.why and "op offload" in e32.why


def test_the_host_cpu_is_named_and_draws_power():
    lo = _ngl(16, host="core-i5-6500")  # DDR4 dual channel, 34 GB/s
    hi = _ngl(16, host="epyc-9755")  # 12-channel DDR5
    assert lo.tpot_s > 3 * hi.tpot_s
    assert "core-i5-6500" in lo.assumptions["offload"]
    # the CPU's power joins the (mostly waiting) GPU's: more joules per token than on the GPU alone
    part, whole = _ngl(16), estimate("qwen2.5-32b", "rtx-4090", engine="llama.cpp", **Q4)
    assert "host ryzen-9-7950x" in str(part.assumptions["power"])
    assert part.joules_per_output_token > 2 * whole.joules_per_output_token


@pytest.mark.parametrize("kw, match", [
    (dict(engine="vllm", engine_options={"n_gpu_layers": 10}), "llama.cpp -ngl"),
    (dict(engine="llama.cpp", engine_options={"n_gpu_layers": 10}, host="rtx-3090"), "must be a CPU"),
    (dict(engine="llama.cpp", engine_options={"n_gpu_layers": 10}, mode="offline"), "offline"),
    (dict(engine="llama.cpp", host="epyc-9755"), "--host applies"),
    (dict(engine="vllm", offload="auto", host="epyc-9755"), "streams what does not fit"),
])
def test_impossible_host_layer_requests_are_explained(kw, match):
    with pytest.raises(InputError, match=match):
        plan_estimate("qwen2.5-32b", "rtx-4090", **{**Q4, **kw})


def test_ngl_and_expert_offload_are_exclusive():
    with pytest.raises(InputError, match="pick one"):
        plan_estimate("qwen3-30b-a3b", "rtx-4090", engine="llama.cpp", offload="experts",
                      engine_options={"n_gpu_layers": 10}, **Q4)


def test_the_simulator_counts_the_host_layers_kv_room_and_host_power():
    spec = DeploymentSpec(hardware="rtx-4090", engine="llama.cpp", precision="q4_k_m", devices=1,
                          offload="auto")
    wl = Workload(arrivals=Arrivals(kind="poisson", rate=0.02), input=LengthDist(value=512),
                  output=LengthDist(value=128))
    pool = build_pool("llama-3.1-70b", spec, wl)
    hl = pool.dep.host_layers
    assert hl is not None and pool.kv_blocks > 0
    host_w = host_power_w(pool.dep, step_work(pool.dep, decode_seqs=1.0, decode_ctx=POWER_DECODE_CTX),
                          pool.factors, 1.0)[0]
    assert host_w > 0.5 * hl.cpu.tdp_w  # the CPU is busy most of each decode step
    busy = pool.power_w(1, 1.0, 1.0)
    assert busy > host_w and pool.power_w(1, 0.0, 1.0) < busy - 0.5 * host_w  # idle: the host rests
    est = estimate("llama-3.1-70b", "rtx-4090", engine="llama.cpp", offload="auto", **Q4)
    assert busy == pytest.approx(est.power_w, rel=0.15)  # the estimate's power counts the host too


def test_n_gpu_layers_alone_names_llama_cpp_on_one_gpu_and_needs_no_catalog_host_link():
    e = estimate("llama-3.1-70b", "rtx-4090", engine_options={"n_gpu_layers": -1},
                 **{**Q4, "devices": None})
    assert e.engine == "llama.cpp" and e.devices == 1 and e.host_layers["layers_on_host"] == 34
    a10g = estimate("llama-3.1-8b", "a10g", engine="llama.cpp", engine_options={"ngl": 10}, **Q4)
    assert a10g.host_layers and a10g.host_layers["gpu_layers"] == 10  # no host_link in its entry


def test_a_gguf_file_on_a_gpu_runs_in_llama_cpp_by_default_and_ngl_99_says_what_it_means():
    e = estimate("llama-3.1-70b", "rtx-3090", offload="auto", **Q4)
    assert e.engine == "llama.cpp" and e.host_layers  # not vLLM's GGUF loader streaming over PCIe
    big = estimate("llama-3.1-70b", "rtx-4090", engine_options={"n_gpu_layers": 99}, **Q4)
    assert not big.fits and "every one of the 80 layers: -1" in big.reason


def test_a_calibration_profile_reaches_the_host_cpu(tmp_path):
    # a profile in which CPUs read DRAM at half the bundled efficiency: the host layers (and
    # the experts' host) are timed with it, as the devices are (they had kept the bundled one)
    import yaml

    from inferplan.perf.efficiency import default_profile_path

    raw = yaml.safe_load(default_profile_path().read_text())
    raw["factors"]["bw_eff"]["cpu"]["value"] /= 2
    slow = tmp_path / "slowcpu.yaml"
    slow.write_text(yaml.safe_dump(raw))
    kw = dict(engine="llama.cpp", offload="auto", batch=1, **Q4)
    base, cal = estimate("llama-3.1-70b", "rtx-4090", **kw), estimate(
        "llama-3.1-70b", "rtx-4090", calibration=slow, **kw)
    assert cal.tpot_s > 1.6 * base.tpot_s  # the host's DRAM reads dominate the step
    ekw = dict(engine="llama.cpp", offload="experts", batch=1, **Q4)
    assert estimate("gpt-oss-120b", "rtx-4090", calibration=slow, **{**ekw, "precision": "mxfp4"}).tpot_s \
        > 1.3 * estimate("gpt-oss-120b", "rtx-4090", **{**ekw, "precision": "mxfp4"}).tpot_s


def test_the_end_tables_are_in_host_memory_once_whatever_the_pipeline():
    sizes = []
    for model in ("llama-3.1-70b", "llama-3.2-3b"):  # tied embeddings: one table
        for pp in (1, 2, 4):
            p = plan_estimate(model, "rtx-4090", precision="q4_k_m", engine="llama.cpp",
                              engine_options={"n_gpu_layers": 10}, devices=pp, pp=pp)
            sizes.append((model, p.dep.host_layers.host_weight_bytes))
    for model in ("llama-3.1-70b", "llama-3.2-3b"):
        vals = [v for m, v in sizes if m == model]
        assert max(vals) == pytest.approx(min(vals), rel=1e-9), (model, vals)


def test_ngl_equal_to_the_layers_keeps_only_the_output_layer_on_the_host():
    # llama.cpp offloads the output layer only with -ngl above the repeating layers
    kw = dict(engine="llama.cpp", precision="q4_k_m", devices=1, input_len=512, output_len=64)
    n = 28  # llama-3.2-3b
    at_n = estimate("llama-3.2-3b", "rtx-4090", engine_options={"n_gpu_layers": n}, **kw)
    above = estimate("llama-3.2-3b", "rtx-4090", engine_options={"n_gpu_layers": n + 1}, **kw)
    assert at_n.host_layers["layers_on_host"] == 0 and above.host_layers is None
    assert at_n.tpot_s > 1.5 * above.tpot_s  # the 128k-vocabulary head read from host DRAM
    plan = plan_estimate("llama-3.2-3b", "rtx-4090", engine_options={"n_gpu_layers": n}, **kw)
    work = step_work(plan.dep, decode_seqs=1.0, decode_ctx=576.0)
    assert float(work.t_memory[work.op_kinds.index("head")]) == 0.0  # not on the GPU
