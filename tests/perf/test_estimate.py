import math
import re

import pytest

from inferplan.catalog.engines import get_engine, runs_on
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.precisions import get_precision
from inferplan.errors import DoesNotFitError, InputError, LayoutError, UnknownIdError
from inferplan.models.registry import get_model, list_model_ids
from inferplan.perf.estimate import estimate

TARGETS = [
    ("h100-sxm", {}),
    ("mi300x", {}),
    ("cerebras-cs3", {}),
    ("groq-lpu-v1", {}),
    ("ryzen-9-7950x", {"precision": "q4_0"}),
    ("ryzen-9-7950x", {"precision": "tq2_0"}),  # ternary kernels (llama.cpp TQ2_0)
    ("lunar-lake-npu", {"precision": "int8"}),
]


def _finite_pos(x):
    return x is not None and math.isfinite(x) and x > 0


@pytest.mark.parametrize("hw,kw", TARGETS, ids=[f"{t[0]}-{t[1].get('precision', 'native')}" for t in TARGETS])
@pytest.mark.parametrize("model", list_model_ids())
def test_every_catalog_model_gives_sane_answers(model, hw, kw):
    stored = get_precision(kw.get("precision") or get_model(model).native_precision)
    if stored.engines and not any(runs_on(get_engine(n), get_hardware(hw)) for n in stored.engines):
        # weights shipped in a format no engine on this device reads (BitNet's I2_S on a GPU)
        with pytest.raises(InputError, match=f"cannot load {stored.id} weights.*choose another --precision"):
            estimate(model, hw, input_len=512, output_len=64, **kw)
        return
    e = estimate(model, hw, input_len=512, output_len=64, **kw)
    if not e.fits:
        assert e.reason and re.search(r"\d [KMGT]B per device", e.reason)
        return
    assert _finite_pos(e.ttft_s) and _finite_pos(e.tpot_s)
    assert e.e2e_latency_s >= e.ttft_s
    assert math.isclose(e.decode_tok_s_per_user, 1 / e.tpot_s)
    assert e.memory.used_bytes_per_device <= e.memory.capacity_bytes_per_device
    assert e.devices == e.tp * e.pp * e.dp * max(1, e.ep // e.tp)
    assert e.bound["decode"] in {"compute", "memory", "communication", "overhead"}


def test_ternary_cpu_decode_is_faster_than_f16():
    tern = estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", precision="i2_s", engine="bitnet.cpp",
                    input_len=128, output_len=128)
    f16 = estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", precision="f16", input_len=128,
                   output_len=128)
    assert tern.decode_tok_s_per_user > f16.decode_tok_s_per_user


def test_a_model_too_big_for_one_device_reports_why():
    e = estimate("llama-3.1-405b", "h100-sxm", devices=1, input_len=128, output_len=16)
    assert not e.fits
    assert "weights need" in e.reason
    assert e.ttft_s is None and e.usd_per_1m_output_tokens is None


def test_a_layer_too_big_for_the_widest_stage_asks_for_a_smaller_precision_not_more_devices():
    e = estimate("llama-3.1-405b", "groq-lpu-v1", input_len=512, output_len=64)
    assert not e.fits
    assert (e.tp, e.pp) == (16, 126)  # one layer per stage over 16 chips: the largest layout
    assert "smaller precision" in e.reason and "more devices" not in e.reason
    assert "MB per device" in e.reason  # 230 MB chips are not reported as "0.2 GB"
    e8 = estimate("llama-3.1-405b", "groq-lpu-v1", input_len=512, output_len=64, precision="int8")
    assert e8.tp == 16 and e8.pp == 126  # int8 halves the layer: still the widest layout


def test_auto_devices_picks_the_fewest_that_fit():
    e = estimate("llama-3.1-70b", "h100-sxm", input_len=1024, output_len=128)
    assert e.fits and e.devices == 2 and e.tp == 2
    e8 = estimate("llama-3.1-70b", "mi300x", input_len=1024, output_len=128)
    assert e8.devices == 1


def test_wafer_pipelines_several_systems_when_the_model_exceeds_sram():
    e = estimate("llama-3.1-70b", "cerebras-cs3", input_len=512, output_len=128)
    assert e.fits and e.devices >= 4  # 141 GB of bf16 weights over 44 GB wafers


def test_tp_must_divide_kv_heads():
    with pytest.raises(LayoutError, match="5 KV heads"):  # 20 query heads, 5 KV heads
        estimate("bitnet-b1.58-2b-4t", "h100-sxm", tp=4, precision="bf16", input_len=10, output_len=10)
    with pytest.raises(LayoutError, match="attention heads"):
        estimate("llama-3.1-8b", "h100-sxm", tp=3, input_len=10, output_len=10)


def test_unknown_hardware_suggests_close_ids():
    with pytest.raises(UnknownIdError, match="did you mean"):
        estimate("llama-3.1-8b", "h100-sxn", input_len=10, output_len=10)


def test_cost_is_null_not_zero_without_a_price():
    e = estimate("llama-3.2-1b", "raspberry-pi-5", precision="q4_0", input_len=64, output_len=16)
    assert e.fits
    if e.usd_per_1m_output_tokens is not None:
        assert e.usd_per_1m_output_tokens > 0  # a purchase price was catalogued
    # (cerebras-cs3 now has a public purchase figure; an NPU has none)
    e2 = estimate("llama-3.2-1b", "apple-ane-m4", input_len=64, output_len=16)
    assert e2.fits and e2.usd_per_1m_output_tokens is None


def test_offline_batch_is_bounded_by_kv_capacity():
    e = estimate("llama-3.1-8b", "h100-sxm", mode="offline", input_len=20000, output_len=2000)
    short = estimate("llama-3.1-8b", "h100-sxm", mode="offline", input_len=128, output_len=128)
    assert e.batch < short.batch
    assert short.output_tok_s > e.output_tok_s


def test_does_not_fit_error_class_exit_code():
    assert DoesNotFitError.exit_code == 1


def test_offload_tier_lets_an_oversized_model_run_bounded_by_the_host_link():
    plain = estimate("llama-3.1-70b", "h100-sxm", devices=1, input_len=256, output_len=16)
    off = estimate("llama-3.1-70b", "h100-sxm", devices=1, input_len=256, output_len=16, offload=True)
    assert not plain.fits and off.fits
    assert off.bound["decode"] == "offload"
    # every step streams the offloaded weights over PCIe Gen5 (~50 GB/s): seconds, not ms
    assert off.tpot_s > 0.5
    assert "host DRAM" in off.assumptions["offload"]


def test_mla_prefill_uses_the_cheaper_non_absorbed_attention():
    from inferplan.models.registry import get_model

    mla = next(g.mixer for g in get_model("deepseek-v3").groups)
    assert mla.attn_prefill_flops_per_token_per_ctx < mla.attn_flops_per_token_per_ctx / 3


def test_prefill_runs_in_engine_chunks_that_reread_the_weights():
    from inferplan.perf.estimate import plan_estimate, prefill_chunks

    dep = plan_estimate("llama-3.2-1b", "ryzen-9-7950x", precision="q4_0", input_len=64,
                        output_len=8).dep
    chunk = dep.engine.prefill_chunk_tokens  # llama.cpp n_batch
    long = prefill_chunks(dep, 1, 3 * chunk)
    assert long.t_memory.shape[-1] == 3  # three steps, each reading the weights
    one = prefill_chunks(dep, 1, chunk)
    weights_op = 0
    assert float(long.t_memory[weights_op].sum()) == pytest.approx(3 * float(one.t_memory[weights_op]))
    packed = prefill_chunks(dep, 8, chunk // 4)  # 4 short prompts per step -> 2 steps
    assert packed.t_memory.shape[-1] == 2
    e = estimate("llama-3.2-1b", "ryzen-9-7950x", precision="q4_0", input_len=3 * chunk, output_len=8)
    assert e.bound["prefill"] in {"compute", "memory", "overhead", "communication"}


def test_context_beyond_the_window_is_flagged():
    e = estimate("llama-3.1-8b", "h200-sxm", input_len=200_000, output_len=8)
    assert "context window" in e.assumptions["warning"] and e.warnings == [e.assumptions["warning"]]
    e = estimate("llama-3.1-8b", "ryzen-9-7950x", input_len=200_000, output_len=8, threads=64)
    # the same warnings as a list at the top level of the JSON (nothing internal leaks)
    assert len(e.warnings) == 2 and "threads" in e.warnings[0] and "context window" in e.warnings[1]
    assert e.assumptions["warning"] == "; ".join(e.warnings) and "_warnings" not in e.assumptions
    ok = estimate("llama-3.1-8b", "h200-sxm", input_len=1000, output_len=8)
    assert "warning" not in ok.assumptions and ok.warnings == []


# --- benchmark shapes read as engines mean them ---------------------------------------------------


def test_prefill_only_at_concurrency_never_exceeds_the_compute_roof():
    from inferplan.catalog.hardware import get_hardware
    from inferplan.models.registry import get_model

    e = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=64, input_len=2048,
                 output_len=1)
    roof = get_hardware("h100-sxm").peak_flops["bf16"] * e.devices / (2 * get_model("llama-3.1-8b").total_params)
    assert e.total_tok_s < roof  # was 1.8M tok/s, 30x the roof
    assert e.prefill_tok_s > 0.2 * roof  # and still compute-bound work, not a trickle


def test_decode_only_shape_has_no_prefill_and_one_decode_step_first():
    e = estimate("llama-3.1-8b", "h100-sxm", mode="batch", batch=4, input_len=0, output_len=128)
    assert e.fits and e.prefill_tok_s is None and e.tpot_s > 0
    assert e.ttft_s == pytest.approx(e.tpot_s, rel=0.5)  # the first token is a decode step
    # served: the request also waits for the step in progress and pays the server's own time
    s = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=4, input_len=0, output_len=128)
    assert s.prefill_tok_s is None
    over = s.assumptions["request_overhead_s"]["value"]
    assert 0 < over < 0.1
    assert s.ttft_s == pytest.approx(2 * s.tpot_s + over, rel=0.25)


def test_served_ttft_waits_for_the_step_in_progress_only_when_others_run():
    one = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=1, input_len=512, output_len=128)
    alone = estimate("llama-3.1-8b", "h100-sxm", mode="batch", batch=1, input_len=512, output_len=128)
    over = one.assumptions["request_overhead_s"]["value"]
    assert one.ttft_s == pytest.approx(alone.ttft_s + over, rel=1e-6)  # nobody else: no wait
    many = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=32, input_len=512, output_len=128)
    assert many.ttft_s > alone.ttft_s + over + 0.5 * many.tpot_s  # + one decode step of the others


def test_batch_1_and_concurrency_1_split_cost_between_input_and_output_alike():
    b = estimate("llama-3.1-8b", "h100-sxm", mode="batch", batch=1, input_len=1024, output_len=128)
    c = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=1, input_len=1024,
                 output_len=128)
    # the same split; served, the device also idles while the API server handles the request
    assert (c.usd_per_1m_input_tokens / c.usd_per_1m_output_tokens
            == pytest.approx(b.usd_per_1m_input_tokens / b.usd_per_1m_output_tokens, rel=1e-9))
    over = c.assumptions["request_overhead_s"]["value"]
    assert c.usd_per_1m_output_tokens == pytest.approx(
        b.usd_per_1m_output_tokens * c.e2e_latency_s / b.e2e_latency_s, rel=1e-9)
    assert c.ttft_s == pytest.approx(b.ttft_s + over, rel=1e-9) and c.tpot_s == pytest.approx(b.tpot_s, rel=1e-9)


def test_offline_batch_respects_the_engines_limits():
    e = estimate("llama-3.2-1b", "h100-sxm", mode="offline", input_len=128, output_len=128)
    assert e.batch == 1024  # vLLM's max_num_seqs on a >= 70 GiB GPU (KV would hold far more)
    t = estimate("llama-3.2-1b", "h100-sxm", mode="offline", engine="tensorrt-llm", input_len=128,
                 output_len=128)
    assert t.batch == 2048  # TensorRT-LLM max_batch_size
    a = estimate("llama-3.2-1b", "a100-sxm-80g", mode="offline", input_len=128, output_len=128)
    assert a.batch == 256


def test_prompts_are_chunked_by_the_engines_token_budget():
    from inferplan.perf.chunks import prefill_chunks
    from inferplan.perf.estimate import plan_estimate

    h100 = plan_estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=4, input_len=8000,
                         output_len=1)
    l40s = plan_estimate("llama-3.1-8b", "l40s", mode="concurrency", batch=4, input_len=8000,
                         output_len=1)
    steps = lambda p: prefill_chunks(p.dep, 4, 8000).t_link.size  # noqa: E731
    assert steps(h100) == 4  # 32k prompt tokens in 8192-token steps (vLLM server on H100)
    assert steps(l40s) == 16  # 2048-token steps below 70 GiB


def test_the_token_budget_caps_running_sequences():
    """R running sequences need R x I / O prompt tokens per step besides their R decode tokens:
    above budget x O / (I + O) the other clients wait, and throughput stops growing."""
    from inferplan.perf.chunks import budget_running_seqs

    assert budget_running_seqs(8192, 1024, 1024) == 4096
    assert budget_running_seqs(8192, 8000, 0) == float("inf")
    kw = dict(mode="concurrency", input_len=7168, output_len=64, engine="vllm", devices=1)
    at_cap = estimate("llama-3.1-8b", "h100-sxm", batch=64, **kw)
    beyond = estimate("llama-3.1-8b", "h100-sxm", batch=512, **kw)
    assert "token_budget" in beyond.assumptions and "token_budget" not in at_cap.assumptions
    assert beyond.output_tok_s < 1.2 * at_cap.output_tok_s  # no more prompts per second fit
    assert beyond.ttft_s > 4 * at_cap.ttft_s  # the waiting clients see it in their TTFT


def test_attention_dp_ranks_each_run_the_engines_batch():
    """TensorRT-LLM's DeepSeek-R1 recipe: 8 B200, attention-DP, max_batch_size 896 per rank,
    concurrency 7,168: every client decodes at once (none queue)."""
    e = estimate("deepseek-r1", "b200", devices=8, tp=1, ep=8, engine="tensorrt-llm",
                 precision="fp4", mode="concurrency", batch=7168, input_len=1024, output_len=2048)
    assert "queueing" not in e.assumptions and "token_budget" not in e.assumptions
    tp8 = estimate("deepseek-r1", "b200", devices=8, tp=8, engine="tensorrt-llm", precision="fp4",
                   mode="concurrency", batch=7168, input_len=1024, output_len=2048)
    assert {"queueing", "kv_admission"} & set(tp8.assumptions)  # one scheduler, one batch


def test_concurrency_beyond_the_kv_cache_queues_instead_of_failing():
    e = estimate("llama-3.1-70b", "h100-sxm", devices=2, mode="concurrency", batch=200,
                 input_len=2048, output_len=256)
    assert e.fits and "kv_admission" in e.assumptions
    alone = estimate("llama-3.1-70b", "h100-sxm", devices=2, mode="concurrency", batch=10,
                     input_len=2048, output_len=256)
    assert e.ttft_s > 5 * alone.ttft_s  # the waiting clients see it in their TTFT


def test_fit_reports_a_positive_max_batch_for_every_fitting_row():
    from inferplan.compare import fit

    res = fit("llama-3.1-70b")
    rows = [r for r in res.rows if r.fits]
    assert rows and all(r.max_batch_at_context and r.max_batch_at_context >= 1 for r in rows)
    groq = next(r for r in fit("qwen3-235b-a22b").rows if r.hardware == "groq-lpu-v1")
    assert groq.fits and groq.ep and groq.ep > groq.tp and groq.devices == groq.ep * groq.pp


def test_prompt_only_explanation_speaks_of_the_prompt_not_decode():
    e = estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=1)
    assert e.why.startswith("compute-bound") and "decode" not in e.why and "4,096" in e.why
    d = estimate("llama-3.1-8b", "h100-sxm", mode="offline", input_len=128, output_len=512)
    assert "decode" in d.why or "memory" in d.why


def test_npu_prompt_steps_have_no_gemm_size_loss_gpu_ones_do():
    # NPU runtimes run prompts through graphs compiled for a fixed token count (QNN AR-128):
    # a short prompt is not less efficient per token; a GPU's 64-row tiles make it so (both GPU
    # prompts within vLLM's captured graphs, <= 512 tokens, so no eager dispatch enters)
    def rate(hw: str, n: int) -> float:
        prec = "w4a16" if "npu" in hw else None
        return estimate("llama-3.2-1b", hw, input_len=n, output_len=1, precision=prec).prefill_tok_s

    npu = "snapdragon-8-elite-npu"
    assert rate(npu, 256) == pytest.approx(rate(npu, 1024), rel=0.15)
    assert rate("h100-sxm", 128) < 0.8 * rate("h100-sxm", 512)
    short = estimate("llama-3.2-1b", npu, input_len=64, output_len=1, precision="w4a16")
    assert "decode" not in short.why  # a prompt-only run explains its prompt step


def test_offline_runs_pay_no_server_time_and_queued_requests_pay_it_once():
    import dataclasses

    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.estimate import evaluate_plan, plan_estimate
    from inferplan.perf.factors import resolve_factors

    def both(**kw):
        p = plan_estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=128, **kw)
        f, _ = resolve_factors(p.dep, load_efficiency())
        slow = dataclasses.replace(f, request_overhead_s=0.5)
        return p, evaluate_plan(p, dataclasses.replace(f, request_overhead_s=0.0)), evaluate_plan(p, slow)

    _, a, b = both(mode="offline")
    assert a["ttft_s"] == pytest.approx(b["ttft_s"]) and a["requests_per_s"] == pytest.approx(b["requests_per_s"])
    p, a, b = both(mode="concurrency", batch=8192, devices=24, tp=8, pp=3)  # one replica
    assert p.queue_factor > 1  # more clients than slots: the server tokenizes while they queue
    assert b["ttft_s"] - a["ttft_s"] == pytest.approx(0.5, rel=1e-6)
    assert b["requests_per_s"] == pytest.approx(a["requests_per_s"], rel=1e-9)


def test_eager_prompt_steps_follow_the_engines_graphs_and_small_kernels_only_decode():
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.step import step_work

    def dep(engine: str, model: str = "llama-3.1-8b", devices: int = 1):
        return plan_estimate(model, "h100-sxm", engine=engine, devices=devices).dep

    vllm, sglang = dep("vllm"), dep("sglang")
    # vLLM V1 replays piecewise graphs for steps up to 512 tokens, SGLang for decode only
    assert float(step_work(vllm, prefill_tokens=256, prefill_seqs=1).prefill_layers) == 0
    assert float(step_work(vllm, prefill_tokens=2048, prefill_seqs=1).prefill_layers) > 0
    assert float(step_work(sglang, prefill_tokens=256, prefill_seqs=1).prefill_layers) > 0
    ds = plan_estimate("deepseek-v3", "h200-sxm", devices=8).dep
    assert float(step_work(ds, decode_seqs=4, decode_ctx=1000).small_kernels) > 1000
    assert float(step_work(ds, prefill_tokens=1024, prefill_seqs=1).small_kernels) == 0
    # ...but an eager prompt step dispatches them one by one like the rest: DeepSeek's
    # MLA (16 kernels) + MoE (17) layers weigh 33/9 dense layers there, not the coarse 18/9
    from inferplan.perf.step import eager_kernel_units, layer_kernel_units
    assert eager_kernel_units(ds) == pytest.approx(layer_kernel_units(ds) + (61 * 7 + 58 * 8) / 9)
    assert float(step_work(ds, prefill_tokens=1024, prefill_seqs=1).prefill_layers) == pytest.approx(
        eager_kernel_units(ds))
    assert eager_kernel_units(vllm) == layer_kernel_units(vllm)  # dense: nothing left out


def test_cpu_int8_dot_products_have_no_gemm_size_term_and_float_gemms_keep_it():
    """ggml's int8 kernels are SIMD dot products (no matrix unit, no row tile): their mat-vec
    floor is their own rate (ratio 1), which turns the GEMM-size term off; a float GEMM whose
    peak is above the fp32 SIMD rate (fp16 on an M2 Max CPU) keeps the ratio."""
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.step import step_work

    d = plan_estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_0").dep
    w = step_work(d, prefill_tokens=64, prefill_seqs=1)
    lin = w.op_kinds.index("linear")
    assert w.gemv_ratio is not None and w.gemv_ratio[lin] == 1.0
    assert d.simd_flops_s < d.vector_ops_s  # the unpack rate counts int8 lanes
    f = plan_estimate("llama-3.1-8b", "apple-m2-max-cpu", precision="f16").dep
    wf = step_work(f, prefill_tokens=64, prefill_seqs=1)
    assert wf.gemv_ratio is not None and wf.gemv_ratio[wf.op_kinds.index("linear")] == pytest.approx(
        max(1.0, f.peak_linear_flops / f.simd_flops_s))


def test_sglang_divides_its_token_budget_among_attention_dp_ranks():
    """TensorRT-LLM's max_num_tokens counts per rank; SGLang's chunked_prefill_size is divided
    by dp_size under DP attention, so its budget stays the replica's."""
    from inferplan.perf.estimate import plan_estimate

    kw = dict(devices=8, tp=1, ep=8, precision="fp4", mode="concurrency", batch=64,
              input_len=1024, output_len=256)
    trt = plan_estimate("deepseek-r1", "b200", engine="tensorrt-llm", **kw).dep
    sgl = plan_estimate("deepseek-r1", "b200", engine="sglang", **kw).dep
    assert trt.step_token_budget == 8 * trt.engine.prefill_chunk_tokens
    assert sgl.step_token_budget == sgl.engine.prefill_chunk_tokens
    assert trt.max_running_seqs == 8 * trt.engine.max_num_seqs


def test_threads_fill_the_performance_cores_of_a_hybrid_cpu_first():
    """An M2 Max's peaks count its 8 P-cores: 8 threads reach all of it (not 8/12), 4 threads
    half, the E-cores add nothing; a 13900K's 8 P-cores give 56% of its peak; a CPU of one core
    type shares its peak evenly."""
    from inferplan.perf.estimate import plan_estimate

    def share(hw: str, threads: int) -> float:
        return plan_estimate("llama-3.1-8b", hw, precision="q4_0", threads=threads).dep.core_share

    assert share("apple-m2-max-cpu", 8) == pytest.approx(1.0)
    assert share("apple-m2-max-cpu", 4) == pytest.approx(0.5)
    assert share("apple-m2-max-cpu", 12) == pytest.approx(1.0)
    assert share("core-i9-13900k", 4) == pytest.approx(4 / 8 * 0.561)
    assert share("core-i9-13900k", 16) == pytest.approx(0.561 + 8 / 16 * (1 - 0.561))
    assert share("ryzen-9-7950x", 4) == pytest.approx(4 / 16)


def test_a_static_split_waits_for_the_slowest_core_of_a_hybrid_cpu():
    """ggml of 2023 (llama.cpp-2023-cpu) gave each thread an equal share of every op's rows: past
    a 13900K's 8 P-cores every thread runs at an E-core's rate, so 16 threads reach less than 8
    (0.44 of the peak against 0.56), and the prompt runs slower than with dynamic scheduling."""
    from inferplan.perf.estimate import estimate, plan_estimate

    kw = dict(precision="q4_0", input_len=512, output_len=0)
    e_core = (1 - 0.561) / 16

    def share(engine: str, threads: int) -> float:
        return plan_estimate("llama-2-7b", "core-i9-13900k", engine=engine, threads=threads,
                             **kw).dep.core_share

    assert share("llama.cpp-2023-cpu", 8) == pytest.approx(0.561, abs=1e-3)  # P-cores: as before
    assert share("llama.cpp-2023-cpu", 16) == pytest.approx(16 * e_core, abs=1e-3)
    assert share("llama.cpp-2023-cpu", 16) < share("llama.cpp-2023-cpu", 8) < share("llama.cpp", 16)
    assert share("llama.cpp-2023-cpu", 24) == pytest.approx(24 * e_core, abs=1e-3)
    def prefill(threads: int) -> float:
        return estimate("llama-2-7b", "core-i9-13900k", engine="llama.cpp-2023-cpu",
                        threads=threads, **kw).prefill_tok_s

    assert prefill(16) < prefill(8) < prefill(24)  # adding E-core threads first slows the prompt


def test_a_format_only_some_engines_read_picks_one_of_them_or_is_refused():
    # bitnet.cpp's I2_S: the BitNet model's own file; llama.cpp cannot load it
    e = estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", input_len=128, output_len=16)
    assert e.engine == "bitnet.cpp" and e.weight_precision == "i2_s"
    with pytest.raises(InputError, match="'llama.cpp' cannot load i2_s.*use --engine bitnet.cpp"):
        estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", engine="llama.cpp", input_len=128, output_len=16)
    # ik_llama.cpp's own types pick ik_llama.cpp; an older llama.cpp release line is refused too
    assert estimate("llama-3.1-8b", "ryzen-9-7950x", precision="iq2_bn", input_len=128,
                    output_len=16).engine == "ik_llama.cpp"
    with pytest.raises(InputError, match="cannot load q4_0_r4"):
        estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_0_r4", engine="llama.cpp-2024-cpu",
                 input_len=128, output_len=16)
    # formats many engines read are not restricted
    assert estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_0", input_len=128,
                    output_len=16).engine == "llama.cpp"


def test_moe_offload_picks_the_llama_cpp_fork_that_reads_the_format():
    e = estimate("qwen3-30b-a3b", "rtx-4090", offload="experts", precision="q4_0_r4", input_len=128,
                 output_len=16)
    assert e.engine == "ik_llama.cpp"


def test_compare_lists_a_named_device_that_cannot_load_the_format_as_a_row():
    from inferplan.compare import compare

    res = compare("bitnet-b1.58-2b-4t", hardware=["h100-sxm", "ryzen-9-7950x"], input_len=128, output_len=16)
    rows = {r.hardware: r for r in res.rows}
    assert not rows["h100-sxm"].fits and "cannot load i2_s" in rows["h100-sxm"].reason
    assert rows["ryzen-9-7950x"].fits and rows["ryzen-9-7950x"].estimate.engine == "bitnet.cpp"


def test_bitnet_cpp_runs_on_cpu_cores_not_on_a_socs_gpu():
    with pytest.raises(InputError, match=r"bitnet\.cpp \(on cpu\).*apple-m2-max-gpu"):
        estimate("bitnet-b1.58-2b-4t", "apple-m2-max-gpu", input_len=128, output_len=16)
    assert estimate("bitnet-b1.58-2b-4t", "apple-m2-max-cpu", input_len=128, output_len=16).engine == "bitnet.cpp"


def test_an_overlap_scheduler_holds_a_served_prompt_half_a_step_longer():
    """Under an overlap scheduler the next decode step is already launched when a client's last
    token goes out, so its next prompt waits 1.5 decode steps on average instead of one; the step
    times and the rest of the request are the same."""
    import dataclasses

    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.estimate import evaluate_plan, plan_estimate
    from inferplan.perf.factors import resolve_factors
    from inferplan.perf.queueing import STEPS_AHEAD_OVERLAP

    plan = plan_estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=256, mode="concurrency",
                         batch=16, engine="sglang")
    assert plan.dep.engine.overlap_scheduler
    f, _ = resolve_factors(plan.dep, load_efficiency())
    serial = dataclasses.replace(plan, dep=dataclasses.replace(
        plan.dep, engine=plan.dep.engine.model_copy(update={"overlap_scheduler": False})))
    on, off = evaluate_plan(plan, f), evaluate_plan(serial, f)
    step = plan.works["decode"].total_time_s(f)
    assert on["ttft_s"] - off["ttft_s"] == pytest.approx((STEPS_AHEAD_OVERLAP - 1) * step)
    assert on["tpot_s"] == pytest.approx(off["tpot_s"])
    one = plan_estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=256, mode="concurrency",
                        batch=1, engine="sglang")
    alone = dataclasses.replace(one, dep=dataclasses.replace(
        one.dep, engine=one.dep.engine.model_copy(update={"overlap_scheduler": False})))
    assert evaluate_plan(one, f)["ttft_s"] == pytest.approx(evaluate_plan(alone, f)["ttft_s"])  # no one ahead


def test_power_grows_with_the_batch_and_a_prompt_draws_more_than_a_batch_1_decode_step():
    """perf/cost.py activity: compute at its calibrated efficiency saturates the device; compute
    and memory activity add (their maximum made power fall as the batch grew)."""
    from inferplan.perf.estimate import estimate

    kw = dict(input_len=512, output_len=128)
    watts = [estimate("llama-3.1-8b", "h100-sxm", mode="batch", batch=b, **kw).power_w for b in (1, 8, 32, 256)]
    assert watts == sorted(watts) and watts[-1] <= 700 and watts[-1] > 1.2 * watts[0]
    prompt = estimate("llama-3.1-8b", "h100-sxm", input_len=512, output_len=1).power_w
    assert prompt > watts[0]
    offline = estimate("llama-3.1-8b", "h100-sxm", mode="offline", **kw).power_w
    assert offline > 0.9 * watts[-1]


def test_more_threads_than_cores_warns_and_is_modelled_as_the_cores():
    from inferplan.perf.estimate import estimate

    kw = dict(precision="q4_0", input_len=128, output_len=64)
    over = estimate("llama-3.2-1b", "ryzen-9-7950x", threads=64, **kw)
    full = estimate("llama-3.2-1b", "ryzen-9-7950x", threads=16, **kw)
    assert "more than ryzen-9-7950x's 16 cores" in over.assumptions["warning"]
    assert "warning" not in full.assumptions and over.tpot_s == full.tpot_s


def test_a_cpu_on_fewer_threads_draws_less_power():
    from inferplan.perf.estimate import estimate

    watts = [estimate("llama-3.2-1b", "ryzen-9-7950x", precision="q4_0", threads=t).power_w for t in (1, 4, 16)]
    assert watts == sorted(watts) and watts[0] < 0.5 * watts[-1]


def test_fewer_sequences_than_attention_dp_ranks_warns():
    from inferplan.perf.estimate import estimate

    kw = dict(devices=8, engine="sglang", input_len=4096, output_len=64)
    adp = estimate("deepseek-v3", "h200-sxm", tp=1, ep=8, **kw)
    assert "on 8 attention-DP ranks" in adp.assumptions["warning"]
    busy = estimate("deepseek-v3", "h200-sxm", tp=1, ep=8, mode="concurrency", batch=64, **kw)
    tp = estimate("deepseek-v3", "h200-sxm", tp=8, **kw)
    assert "warning" not in busy.assumptions and "warning" not in tp.assumptions


@pytest.mark.parametrize("hw,engine", [("cerebras-cs3", None), ("groq-lpu-v1", None), ("tpu-v6e", None),
                                       ("trainium2", None), ("h100-sxm", "tensorrt-llm"),
                                       ("snapdragon-8-elite-npu", None)])
def test_gguf_weights_are_refused_where_no_engine_reads_them(hw, engine):
    from inferplan.errors import UnsupportedFormatError
    from inferplan.perf.estimate import estimate

    with pytest.raises(UnsupportedFormatError, match="cannot load q4_k_m"):
        estimate("llama-3.1-8b", hw, precision="q4_k_m", **({"engine": engine} if engine else {}))


def test_gguf_weights_load_in_llama_cpp_and_vllm_on_gpus_and_cpus():
    from inferplan.perf.estimate import estimate

    # a GGUF file runs in llama.cpp on a desktop card, in vLLM's GGUF loader on a datacenter GPU
    assert estimate("llama-3.1-8b", "h100-sxm", precision="q4_k_m").engine == "vllm"
    assert estimate("llama-3.1-8b", "rtx-4090", precision="q4_k_m").engine == "llama.cpp"
    assert estimate("llama-3.1-8b", "rtx-4090", precision="q4_k_m", engine="llama.cpp").fits
    assert estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q4_k_m").engine == "llama.cpp"


def test_an_fp32_checkpoint_is_served_in_fp16_unless_fp32_is_asked_for():
    from inferplan.perf.estimate import estimate

    auto = estimate("gpt-j-6b", "h100-sxm")
    kept = estimate("gpt-j-6b", "h100-sxm", precision="fp32")
    assert auto.weight_precision == "fp16" and "served in fp16" in auto.assumptions["weight_precision"]
    assert kept.weight_precision == "fp32" and kept.memory.weights_bytes == pytest.approx(2 * auto.memory.weights_bytes, rel=0.01)


def test_a_decode_step_bound_by_small_batch_gemm_efficiency_says_so_with_both_peak_times():
    from inferplan.perf.estimate import estimate

    e = estimate("llama-3.1-70b", "tpu7x", mode="batch", batch=1)
    if e.bound["decode"] == "compute":  # the fitted GEMM-size half-point makes M=1 GEMMs slow
        assert "at their calibrated efficiency" in e.why and "reads at peak bandwidth" in e.why
    h = estimate("llama-3.1-8b", "h100-sxm", mode="batch", batch=1)
    assert h.why.startswith("memory-bound")


def test_apple_silicon_warns_past_the_gpu_memory_macos_wires_by_default():
    big = estimate("qwen3-235b-a22b", "apple-m2-ultra-gpu", precision="q5_k_m")
    assert big.fits and any("iogpu.wired_limit_mb" in w for w in big.warnings)
    small = estimate("llama-3.1-70b", "apple-m2-ultra-gpu", precision="q4_k_m")
    assert not any("iogpu" in w for w in small.warnings)


def test_a_pipeline_stage_draws_busy_power_only_while_a_micro_batch_is_in_it():
    kw = dict(engine="llama.cpp", precision="q4_k_m", devices=2, pp=2, input_len=512, output_len=128)
    one = estimate("llama-3.1-70b", "rtx-3090", batch=1, **kw)  # each GPU works half the step
    two = estimate("llama-3.1-70b", "rtx-3090", batch=2, **kw)  # two micro-batches: both busy
    tdp, idle = 350.0, 0.2 * 350.0
    assert one.power_w < 2 * (idle + (tdp - idle) * 0.55)
    assert two.power_w > 1.5 * one.power_w - 2 * idle


def test_a_pipeline_runs_prompts_of_several_users_in_micro_batches_and_draws_for_them():
    kw = dict(engine="llama.cpp", precision="q4_k_m", devices=2, pp=2, input_len=4096, output_len=1)
    one = estimate("llama-3.1-8b", "rtx-3090", batch=1, **kw)
    two = estimate("llama-3.1-8b", "rtx-3090", batch=2, **kw)  # both stages busy
    assert two.power_w > 1.3 * one.power_w


def test_replicas_left_without_a_sequence_are_said_to_be_idle():
    """--devices far beyond what a batch uses builds replicas that decode nothing yet are priced
    and powered: the estimate says how many; a batch that reaches every replica says nothing."""
    from inferplan.perf.estimate import estimate

    lone = estimate("llama-3.1-8b", "h100-sxm", devices=16, tp=1)
    assert any("15 of 16 replicas idle" in w for w in lone.warnings)
    full = estimate("llama-3.1-8b", "h100-sxm", devices=16, tp=1, batch=16)
    assert not any("idle" in w for w in full.warnings)


def test_many_clients_on_several_devices_run_replicas_where_they_serve_more():
    """2,048 clients of an 8B model: one TP8 replica admits max_num_seqs of them and queues the
    rest; the estimate ranks the layouts on those devices and runs eight TP1 replicas, on 8
    devices given and on the fewest that hold the clients; 16 clients of a 70B model keep TP8
    (the lowest end-to-end time is also the most requests/s for closed-loop clients)."""
    from inferplan.perf.estimate import estimate

    many = estimate("llama-3.1-8b", "h100-sxm", devices=8, mode="concurrency", batch=2048)
    one = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=8, mode="concurrency", batch=2048)
    assert (many.tp, many.dp) == (1, 8)
    assert many.requests_per_s > 1.2 * one.requests_per_s and many.ttft_s < one.ttft_s / 10
    assert "the engine's rule gave tp=8" in many.assumptions["layout"]
    auto = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=2048)
    assert auto.dp > 1 and auto.requests_per_s >= 0.95 * many.requests_per_s
    few = estimate("llama-3.1-70b", "h100-sxm", devices=8, mode="concurrency", batch=16)
    assert (few.tp, few.dp) == (8, 1)


def test_clients_whose_kv_fits_at_its_on_demand_reservation_fit():
    """1,024 clients of an 8B model on one MI300X: their KV does not fit at the full context of
    each, but vLLM reserves blocks as tokens arrive (the mean context), where it does."""
    from inferplan.perf.estimate import estimate

    e = estimate("llama-3.1-8b", "mi300x", devices=1, mode="concurrency", batch=1024)
    assert e.fits and e.batch == 1024
