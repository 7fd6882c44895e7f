import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferplan.catalog.precisions import get_precision
from inferplan.perf.efficiency import load_efficiency, prior_efficiency
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.memory import kv_bytes_per_sequence_device, weight_bytes_per_device
from inferplan.perf.step import CPU_DEQUANT_TILE_TOKENS, causal_pairs, roofline_s, step_work


def _dep(model="llama-3.1-8b", hw="h100-sxm", **kw):
    return plan_estimate(model, hw, input_len=kw.pop("input_len", 1024),
                         output_len=kw.pop("output_len", 128), **kw).dep


def _time(dep, **comp):
    f, _ = resolve_factors(dep, load_efficiency())
    w = step_work(dep, **comp)
    return w, f


def test_decode_is_bandwidth_bound_at_batch_1():
    w, f = _time(_dep(), decode_seqs=1, decode_ctx=1024)
    assert w.bound(f) == "memory"


def test_long_prefill_is_compute_bound():
    w, f = _time(_dep(), prefill_tokens=4096, prefill_seqs=1)
    assert w.bound(f) == "compute"


def test_batch_1_decode_time_is_at_least_weights_over_bandwidth():
    dep = _dep()
    w, f = _time(dep, decode_seqs=1, decode_ctx=10)
    floor_s = weight_bytes_per_device(dep) * 0.9 / dep.hw.memory_bw_bytes_s
    assert float(w.time_s(f)) > floor_s


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(min_value=1.0, max_value=8.0), batch=st.integers(1, 256))
def test_more_bandwidth_never_slows_decode(scale, batch):
    dep = _dep()
    faster_hw = dep.hw.model_copy(update={"memory_bw_bytes_s": dep.hw.memory_bw_bytes_s * scale})
    faster = _dep(hw=faster_hw)
    w0, f = _time(dep, decode_seqs=batch, decode_ctx=2048)
    w1, _ = _time(faster, decode_seqs=batch, decode_ctx=2048)
    assert float(w1.time_s(f)) <= float(w0.time_s(f)) * (1 + 1e-12)


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 512), model=st.sampled_from(["llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b"]))
def test_bigger_batch_never_lowers_total_throughput(b, model):
    dep = _dep(model=model)
    batches = np.array([b, b + 1, 2 * b], dtype=float)
    w, f = _time(dep, decode_seqs=batches, decode_ctx=1024)
    tput = batches / w.time_s(f)
    assert np.all(np.diff(tput) >= -1e-9 * tput[:-1])


def test_throughput_saturates_at_the_compute_roof():
    dep = _dep()
    w, f = _time(dep, decode_seqs=np.array([1.0, 64, 4096, 65536]), decode_ctx=16)
    tput = np.array([1, 64, 4096, 65536]) / w.time_s(f)
    flops_per_token = 2 * (dep.model.active_params - dep.model.embedding_params)  # untied
    roof = dep.peak_linear_flops * f.compute_eff / flops_per_token
    assert tput[-1] <= roof * 1.0001
    assert tput[-1] > 0.5 * roof


def test_ternary_weights_use_fewer_bytes_than_int4():
    m = "bitnet-b1.58-2b-4t"
    tern = _dep(model=m, hw="ryzen-9-7950x", precision="i2_s")
    int4 = _dep(model=m, hw="ryzen-9-7950x", precision="q4_0")
    assert weight_bytes_per_device(tern) < weight_bytes_per_device(int4)
    assert get_precision("tq1_0").bits_per_weight < get_precision("int4").bits_per_weight


def test_moe_batch_touches_expected_distinct_experts():
    dep = _dep(model="qwen3-30b-a3b")
    g = next(g for g in dep.groups if g.expert_elems_dev)
    w1, f = _time(dep, decode_seqs=1, decode_ctx=1)
    w64, _ = _time(dep, decode_seqs=64, decode_ctx=1)
    i = [k for k, n in enumerate(w1.op_names) if n.endswith("experts")][0]
    k, E = g.top_k, g.num_experts
    ratio = float(w64.t_memory[i] / w1.t_memory[i])
    expected = (1 - (1 - k / E) ** 64) / (1 - (1 - k / E))
    assert math.isclose(ratio, expected, rel_tol=1e-9)


def test_gaudi_runs_small_steps_of_many_expert_moe_densely():
    """HabanaAI's static MoE path: <= 256 tokens and >= 32 experts per card read every expert's
    weights and compute every expert on every token; bigger steps and few-expert models
    (Mixtral's 8) route sparsely, as on any other device."""
    from inferplan.perf.deployment import STATIC_MOE

    dep = _dep(model="qwen3-30b-a3b", hw="gaudi3")
    g = next(g for g in dep.groups if g.expert_elems_dev)
    i = None
    for steps in ((1, 1), (256, 1)):
        w, _ = _time(dep, decode_seqs=steps[0], decode_ctx=steps[1])
        i = [k for k, n in enumerate(w.op_names) if n.endswith("experts")][0]
        expert_bytes = g.layers * g.expert_elems_dev * dep.expert_bytes_per_elem
        assert float(w.t_memory[i]) * dep.memory_bw_bytes_s == pytest.approx(expert_bytes)
        dense_flops = g.layers * 2 * g.active_expert_elems * g.num_experts / g.top_k * steps[0]
        assert float(w.t_compute[i]) * dep.peak_expert_flops == pytest.approx(dense_flops)
    w, _ = _time(dep, decode_seqs=257, decode_ctx=1)  # past the token threshold: dynamic
    touched = 1 - (1 - g.top_k / g.num_experts) ** 257
    assert float(w.t_compute[i]) * dep.peak_expert_flops == pytest.approx(
        g.layers * 2 * g.active_expert_elems * 257)
    assert touched < 1 and dep.static_moe_tokens(g.num_experts) == STATIC_MOE["intel-gaudi3"][0]
    assert _dep(model="mixtral-8x7b", hw="gaudi3").static_moe_tokens(8) == 0  # 8 < 32 experts a card
    assert _dep(model="qwen3-30b-a3b", hw="h100-sxm").static_moe_tokens(128) == 0  # not an HPU


def test_neuron_runs_prompts_and_full_decode_batches_through_every_expert():
    """NxD's ExpertMLPs without a capacity factor: context encoding computes all experts on all
    tokens; token generation does once tokens x top_k >= experts, below which it loads only the
    chosen experts (selective loading, the sparse path)."""
    dep = _dep(model="qwen3-30b-a3b", hw="trainium2", engine="neuron")
    g = next(g for g in dep.groups if g.expert_elems_dev)
    k, e = g.top_k, g.num_experts

    def expert_flops(**comp):
        w, _ = _time(dep, **comp)
        i = [j for j, n in enumerate(w.op_names) if n.endswith("experts")][0]
        return float(w.t_compute[i]) * dep.peak_expert_flops

    routed = g.layers * 2 * g.active_expert_elems
    assert expert_flops(prefill_tokens=64, prefill_seqs=1) == pytest.approx(routed * 64 * e / k)
    full = e // k  # tokens x top_k = experts: every expert runs
    assert expert_flops(decode_seqs=full, decode_ctx=100) == pytest.approx(routed * full * e / k)
    assert expert_flops(decode_seqs=full - 1, decode_ctx=100) == pytest.approx(routed * (full - 1))
    gaudi_rule = _dep(model="qwen3-30b-a3b", hw="gaudi3")  # not an NxD engine: its own rule
    assert not gaudi_rule.engine.moe_all_experts


def test_the_static_moe_rule_counts_experts_per_card_and_needs_tokens():
    # EP8 leaves 16 of Qwen3-30B-A3B's 128 experts on a card: below 32, the dynamic path
    assert _dep(model="qwen3-30b-a3b", hw="gaudi3", devices=8, tp=1, ep=8).static_moe_tokens(128) == 0
    assert _dep(model="qwen3-30b-a3b", hw="gaudi3", devices=2, tp=1, ep=2).static_moe_tokens(128) == 256
    dep = _dep(model="qwen3-30b-a3b", hw="gaudi3")
    w, _ = _time(dep, decode_seqs=0, decode_ctx=1)  # a step without tokens reads no dense experts
    i = [k for k, n in enumerate(w.op_names) if n.endswith("experts")][0]
    g = next(g for g in dep.groups if g.expert_elems_dev)
    assert float(w.t_memory[i]) * dep.memory_bw_bytes_s < g.layers * g.expert_elems_dev * dep.expert_bytes_per_elem


def test_causal_pairs_respect_the_window():
    assert causal_pairs(np.array(100.0), math.inf) == 5000
    assert causal_pairs(np.array(1000.0), 128.0) == 128 * 1000 - 128 * 128 / 2


def test_sliding_window_kv_stops_growing():
    dep = _dep(model="gpt-oss-20b")
    full = _dep(model="llama-3.1-8b")
    r_window = kv_bytes_per_sequence_device(dep, 100_000) / kv_bytes_per_sequence_device(dep, 10_000)
    r_full = kv_bytes_per_sequence_device(full, 100_000) / kv_bytes_per_sequence_device(full, 10_000)
    assert r_full == 10
    # half the layers (12 of 24) stop at their 128-token window
    assert r_window == pytest.approx((100_000 + 128) / (10_000 + 128), rel=1e-9)


def test_mla_caches_less_than_an_equivalent_mha():
    dep = _dep(model="deepseek-v3", hw="h200-sxm", devices=8)
    per_tok = kv_bytes_per_sequence_device(dep, 1) * dep.layout.pp
    mha = dep.model.num_layers * 2 * 128 * 128 * dep.kv_bytes_per_elem  # 128 heads of 128 (K,V)
    # one 512-wide latent + the 64-wide shared rope key per layer, on every TP rank (not sharded)
    assert per_tok == dep.model.num_layers * (512 + 64) * dep.kv_bytes_per_elem
    assert per_tok < mha / 50


def test_lookup_kernels_count_table_lookups_not_macs():
    """T-MAC: 2b/g lane operations per weight (b code bits, g = 4 weights per table), no
    unpacking, no mat-vec penalty at one row; MAC engines and unstated code bits: None."""

    def dep(engine, precision):
        return plan_estimate("llama-2-7b", "apple-m2-ultra-cpu", engine=engine, precision=precision,
                             threads=1, input_len=16, output_len=64).dep

    assert dep("t-mac", "int2").lut_ops_per_weight == 1.0
    assert dep("t-mac", "int4").lut_ops_per_weight == 2.0
    assert dep("t-mac", "q4_0").lut_ops_per_weight is None  # no code_bits stated
    assert dep("llama.cpp", "int2").lut_ops_per_weight is None
    work = step_work(dep("t-mac", "int2"), decode_seqs=1.0, decode_ctx=64.0)
    linear = [i for i, k in enumerate(work.op_kinds) if k == "linear"]
    assert all(work.gemv_ratio[i] == 1.0 for i in linear)
    assert all(float(work.t_unpack_w[i]) == 0.0 for i in linear)


def test_lookup_decode_outruns_dequantize_and_multiply_on_one_core():
    """One M2 Ultra core, Llama-2-7B at 2 bits: a MAC mat-vec unpacks every weight before its
    int8 dot products; the lookup kernel spends one int8 lane op per weight (T-MAC measured 16.7
    against 3.8 tok/s, t-mac-profiling.csv; the model gives ~2.6x)."""
    from inferplan.perf.estimate import estimate

    kw = dict(threads=1, input_len=16, output_len=64)
    lut = estimate("llama-2-7b", "apple-m2-ultra-cpu", engine="t-mac", precision="int2", **kw)
    mac = estimate("llama-2-7b", "apple-m2-ultra-cpu", engine="llama.cpp", precision="q2_k", **kw)
    assert lut.decode_tok_s_per_user > 2 * mac.decode_tok_s_per_user


def test_expert_parallel_inside_a_tensor_parallel_stage_sends_no_all_to_all():
    """TP8 attention + EP8 experts: tokens are already on every device after the attention's
    all-reduce, so the link time equals TP8's; attention-DP + EP8 (tp=1) pays dispatch and
    combine all-to-alls instead of all-reduces."""
    tp8 = plan_estimate(model="deepseek-r1", hardware="h200-sxm", devices=8, tp=8, batch=4,
                        input_len=1024, output_len=64).works["decode"]
    ep8 = plan_estimate(model="deepseek-r1", hardware="h200-sxm", devices=8, tp=8, ep=8, batch=4,
                        input_len=1024, output_len=64).works["decode"]
    adp = plan_estimate(model="deepseek-r1", hardware="h200-sxm", devices=8, tp=1, ep=8, batch=4,
                        input_len=1024, output_len=64).works["decode"]
    assert np.allclose(ep8.t_link_latency, tp8.t_link_latency) and np.allclose(ep8.t_link, tp8.t_link)
    moe_layers = 58  # DeepSeek-V3/R1: 61 layers, the first 3 dense
    nvswitch_latency_s = 5e-6
    assert np.allclose(adp.t_link_latency, 2 * moe_layers * 3 * nvswitch_latency_s)  # log2(8) steps


def test_a_few_rows_per_expert_are_never_slower_than_the_mat_vec_path():
    """At 2 tokens per expert (DeepSeek-R1, 64 sequences, TP8) the tile-size, slice-width and
    low-precision shares would compound to < 1% of the tensor-core peak; the kernel then runs no
    slower than a mat-vec on the vector units, so the floor bounds their product."""
    plan = plan_estimate(model="deepseek-r1", hardware="h200-sxm", engine="sglang", devices=8, tp=8,
                         mode="concurrency", batch=64, input_len=922, output_len=922)
    w = plan.works["decode"]
    f, _ = resolve_factors(plan.dep, load_efficiency())
    compute, _, _, _ = w.effective_parts(f)
    i = w.op_names.index("g1.experts")
    vector_path_s = w.t_compute[i] * w.gemv_ratio[i] / f.compute_eff
    assert np.all(compute[i] <= vector_path_s * (1 + 1e-9))
    assert np.all(compute[i] >= w.t_compute[i] / f.compute_eff)  # and never faster than the peak


def test_ggml_before_sgemm_prefills_a_cpu_one_dot_product_per_row_and_token():
    """Untiled prompt mat-muls (ggml before PR #6414): each token unpacks the weights again, so
    a 512-token prompt is several times slower than with tiled GEMMs; a one-token decode step is
    the same kernel either way."""
    from inferplan.catalog.engines import get_engine

    old, new = get_engine("llama.cpp-2023-cpu"), get_engine("llama.cpp")
    assert not old.cpu_tiled_gemm and new.cpu_tiled_gemm
    kw = dict(precision="q4_0", batch=1, input_len=512, output_len=16)
    t = {}
    for e in (old.id, new.id):
        plan = plan_estimate("llama-2-7b", "core-i9-13900k", engine=e, **kw)
        # at the priors: the claim is about the work (the same kernel), while the shipped profile
        # fits each release line's own efficiency multipliers
        f, _ = resolve_factors(plan.dep, prior_efficiency())
        t[e] = (plan.works["prefill"].total_time_s(f), plan.works["decode"].time_s(f))
        w = step_work(plan.dep, prefill_tokens=512, prefill_seqs=1)
        t[e] += (float(np.sum(w.t_unpack_w)),)
    # unpacked per token, not once per register tile of CPU_DEQUANT_TILE_TOKENS tokens
    assert np.isclose(t[old.id][2], CPU_DEQUANT_TILE_TOKENS * t[new.id][2], rtol=1e-3)
    assert t[old.id][0] > 1.5 * t[new.id][0]
    assert np.allclose(t[old.id][1], t[new.id][1], rtol=1e-9)


def test_mainline_llama_cpp_prefills_k_quants_untiled_and_ik_llama_tiles_them():
    """llamafile's tinyBLAS tiles F32/F16/Q8_0/Q4_0 (and Q5_0 on x86) and the repack GEMMs Q4_K
    and Q2_K; Q3_K falls back to a dot product per (row, token) in mainline llama.cpp, while
    ik_llama.cpp's iqk_mul_mat tiles every type; both share llama.cpp's fitted factors."""
    from inferplan.perf.factors import engine_lineage
    from inferplan.perf.step import cpu_untiled

    def dep(engine: str, prec: str, hw: str = "ryzen-9-7950x"):
        return plan_estimate("llama-3.1-8b", hw, engine=engine, precision=prec, batch=1,
                             input_len=512, output_len=16).dep

    assert cpu_untiled(dep("llama.cpp", "q3_k"), "q3_k")
    assert not cpu_untiled(dep("llama.cpp", "q4_0"), "q4_0")
    # Q4_K got repacked GEMMs in 2025 (x86 AVX2 PR #12332); the 2024 line ran it untiled
    assert not cpu_untiled(dep("llama.cpp", "q4_k_m"), "q4_k_m")
    assert cpu_untiled(dep("llama.cpp-2024-cpu", "q4_k_m"), "q4_k_m")
    assert not cpu_untiled(dep("ik_llama.cpp", "q3_k"), "q3_k")
    assert not cpu_untiled(dep("llama.cpp", "q5_0"), "q5_0")  # x86: tinyBLAS Q5_0
    assert cpu_untiled(dep("llama.cpp", "q5_0", "apple-m2-max-cpu"), "q5_0")
    assert not cpu_untiled(dep("llama.cpp", "q3_k", "rtx-4090"), "q3_k")  # GPUs: MMQ kernels
    assert engine_lineage(dep("ik_llama.cpp", "q3_k")) == ["llama.cpp"]


def test_a_cpu_simd_dot_product_has_no_row_tile_and_no_slower_mat_vec_path():
    """ggml's int8 kernels on a CPU are SIMD dot products: a one-token step runs the same code
    as a prompt's GEMM, so the op's compute is not inflated at M = 1; an accelerator's
    tensor-core GEMM still pays its tile (its mat-vec runs on the slower vector units)."""
    cpu = plan_estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_0", batch=1,
                        input_len=16, output_len=16)
    w = step_work(cpu.dep, decode_seqs=1, decode_ctx=100)
    lin = [i for i, k in enumerate(w.op_kinds) if k in ("linear", "head")]
    assert np.all(w.gemv_ratio[lin] == 1.0)
    f, _ = resolve_factors(cpu.dep, load_efficiency())
    compute, _, _, _ = w.effective_parts(f)
    i = lin[0]
    at_peak = (w.t_compute[i] + f.dequant_ops_w * w.t_unpack_w[i]) / f.compute_eff
    assert float(compute[i]) == pytest.approx(float(at_peak))
    gpu = plan_estimate("llama-3.1-8b", "h100-sxm", precision="bf16", batch=1, input_len=16, output_len=16)
    wg = step_work(gpu.dep, decode_seqs=1, decode_ctx=100)
    assert wg.gemv_ratio[0] > 1.0


def test_an_overlap_scheduler_hides_host_costs_behind_device_time():
    # SGLang and TensorRT-LLM prepare step n+1 on the host while the device runs step n: a step
    # takes the longer of the two; an engine without one (vLLM 0.11) pays their sum
    import dataclasses

    plan = plan_estimate("llama-3.1-8b", "h100-sxm", engine="sglang", batch=64, input_len=512,
                         output_len=128)
    f, _ = resolve_factors(plan.dep, load_efficiency())
    f = dataclasses.replace(f, step_overhead_s=2e-3, seq_overhead_s=20e-6)
    w = step_work(plan.dep, decode_seqs=64.0, decode_ctx=600.0)
    assert w.host_overlap
    compute, memory, extra, _ = w.effective_parts(f)
    host = 64 * 20e-6 + 2e-3
    device = float(np.sum(roofline_s(compute[:-1], memory[:-1])) + extra)  # extra: device costs only
    assert float(w.time_s(f)) == pytest.approx(max(device, host), rel=1e-9)
    serial = dataclasses.replace(w, host_overlap=False)
    assert float(serial.time_s(f)) == pytest.approx(device + host, rel=1e-9)
    # a host slower than the device bounds the step
    slow = dataclasses.replace(f, seq_overhead_s=1e-3)
    assert float(w.time_s(slow)) == pytest.approx(64 * 1e-3 + 2e-3, rel=1e-9)


def test_attention_runs_at_its_own_share_of_the_gemms_efficiency():
    """Attention's score and value products run at ``attn_compute`` x compute_eff, the GEMMs
    keep theirs: a long prompt's attention time scales by 1/attn_compute, the linear ops not."""
    import dataclasses

    w, f = _time(_dep(), prefill_tokens=16384, prefill_seqs=1)
    half = dataclasses.replace(f, attn_compute=f.attn_compute / 2)
    c1, _, _, _ = w.effective_parts(f)
    c2, _, _, _ = w.effective_parts(half)
    kinds = w.op_kinds
    for i, k in enumerate(kinds):
        if k == "attention":
            assert c2[i] == pytest.approx(2 * c1[i])
            assert c1[i] == pytest.approx(w.t_compute[i] / (f.compute_eff * f.attn_compute))
        else:
            assert c2[i] == pytest.approx(c1[i])
    assert float(w.time_s(half)) > float(w.time_s(f))
    assert 0.1 < f.attn_compute < 1.0  # below the GEMMs' share (FlashAttention-2/3 papers)


def test_routed_expert_kernels_run_at_their_share_of_the_dense_efficiency():
    """``moe_eff`` divides the routed experts' compute and weight-read times (fused-MoE kernels
    gather, combine and wait for their busiest expert); dense, attention and head ops keep
    theirs, and a dense model is unchanged."""
    import dataclasses

    for comp in ({"decode_seqs": 64.0, "decode_ctx": 900.0}, {"prefill_tokens": 8192, "prefill_seqs": 8}):
        w, f = _time(_dep("mixtral-8x7b"), **comp)
        slow = dataclasses.replace(f, moe_eff=0.5)
        c1, m1, _, _ = w.effective_parts(f)
        c2, m2, _, _ = w.effective_parts(slow)
        assert "experts" in w.op_kinds
        for i, k in enumerate(w.op_kinds):
            scale = f.moe_eff / 0.5 if k == "experts" else 1.0
            assert c2[i] == pytest.approx(scale * c1[i])
            assert m2[i] == pytest.approx(scale * m1[i])
        assert float(w.time_s(slow)) > float(w.time_s(f))
    dense, f = _time(_dep(), decode_seqs=64.0, decode_ctx=900.0)
    assert float(dense.time_s(dataclasses.replace(f, moe_eff=0.5))) == pytest.approx(float(dense.time_s(f)))


def test_link_latency_scales_the_collectives_message_latency_only():
    """``link_latency`` multiplies the latency of the messages a collective sends (a 70B decode
    step over a 12-chip Inferentia2 ring: 2 all-reduces per layer, 2(24 - 1) hops each) and
    nothing else; one device sends no messages, so its step is unchanged."""
    import dataclasses

    w, f = _time(_dep("llama-2-70b", "inferentia2", engine="neuron", devices=12, tp=12), decode_seqs=1.0,
                 decode_ctx=512.0)
    lat = float(np.sum(w.t_link_latency))
    assert lat > 0
    slow = dataclasses.replace(f, link_latency=2.0 * f.link_latency)
    assert float(w.time_s(slow)) - float(w.time_s(f)) == pytest.approx(lat * f.link_latency)
    one, f1 = _time(_dep(), decode_seqs=1.0, decode_ctx=512.0)
    assert float(one.time_s(dataclasses.replace(f1, link_latency=3.0))) == pytest.approx(float(one.time_s(f1)))


def test_a_routed_expert_is_unpacked_once_per_tile_of_the_tokens_routed_to_it():
    """A 512-token prompt through Qwen3-30B-A3B (128 experts, top-8) routes ~32 tokens to each
    expert: on a CPU (4-token register tiles) every expert's weights are unpacked 8 times, not
    once per 4 of all 512 tokens (128 times)."""
    plan = plan_estimate("qwen3-30b-a3b", "epyc-9755", engine="llama.cpp", precision="q4_0",
                         batch=1, input_len=512, output_len=16)
    dep = plan.dep
    w = step_work(dep, prefill_tokens=512, prefill_seqs=1)
    one_pass = sum(g.layers * g.expert_elems_dev for g in dep.groups) / dep.vector_ops_s
    passes = float(np.sum(w.t_unpack_e)) / one_pass
    routed = 512 * 8 / 128  # tokens per expert (every expert is touched at 512 tokens)
    assert passes == pytest.approx(routed / CPU_DEQUANT_TILE_TOKENS, rel=0.01)


def test_a_128_row_mxu_counts_gemm_rows_at_twice_a_256_row_ones():
    """The TPU class's GEMM-size half point is that of the 256x256 MXUs the corpus measured
    (v6e, TPU7x); a v5e's 128x128 MXUs fill at half the rows, so the same batch-1 decode GEMM
    keeps twice its efficiency there, and devices of other classes are untouched."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.step import matrix_tile_rows_scale

    assert matrix_tile_rows_scale(get_hardware("tpu-v5e")) == 2.0
    assert matrix_tile_rows_scale(get_hardware("tpu-v5p")) == 2.0
    assert matrix_tile_rows_scale(get_hardware("tpu-v6e")) == 1.0
    assert matrix_tile_rows_scale(get_hardware("tpu7x")) == 1.0
    assert matrix_tile_rows_scale(get_hardware("h100-sxm")) == 1.0
    v5e = _dep(hw="tpu-v5e", devices=2, tp=2, batch=1)
    w = step_work(v5e, decode_seqs=1, decode_ctx=1024)
    i = w.op_names.index(next(n for n, k in zip(w.op_names, w.op_kinds, strict=True) if k == "linear"))
    v6e = _dep(hw="tpu-v6e", devices=2, tp=2, batch=1)
    rows_v6e = float(step_work(v6e, decode_seqs=1, decode_ctx=1024).gemm_m[i])
    assert rows_v6e >= 1 and float(w.gemm_m[i]) == 2 * rows_v6e  # the same rows, in 256-row tiles
