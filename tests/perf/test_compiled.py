"""Compiled-shape engines (perf/compiled.py): optimum-neuron computes its compiled batch and length."""

import numpy as np
import pytest

from inferplan.catalog.engines import get_engine, with_engine_options
from inferplan.errors import InputError
from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.memory import kv_bytes_per_sequence_device
from inferplan.perf.step import step_work

OPTS = {"max_num_seqs": 32, "max_model_len": 4096}


def _dep(engine="optimum-neuron", options=None, **kw):
    return plan_estimate("llama-3.1-8b", "trainium2", engine=engine, engine_options=options,
                         input_len=kw.pop("input_len", 1500), output_len=kw.pop("output_len", 250),
                         **kw).dep


def test_one_live_sequence_costs_the_whole_compiled_batch():
    dep = _dep(options=OPTS)
    one = step_work(dep, decode_seqs=1, decode_ctx=1600)
    full = step_work(dep, decode_seqs=32, decode_ctx=4096)
    np.testing.assert_allclose(one.t_memory, full.t_memory)
    np.testing.assert_allclose(one.t_compute, full.t_compute)
    # the same composition on the neuron engine (buckets, continuous batching) is far cheaper
    plain = step_work(_dep(engine="neuron"), decode_seqs=1, decode_ctx=1600)
    assert plain.t_memory.sum() < 0.6 * one.t_memory.sum()


def test_decode_reads_the_kv_of_every_slot_at_the_compiled_length():
    dep = _dep(options=OPTS)
    kv_s = dep.max_running_seqs * 4096 * kv_bytes_per_sequence_device(dep, 1) / dep.memory_bw_bytes_s
    extra = (step_work(dep, decode_seqs=1, decode_ctx=10).t_memory.sum()
             - step_work(dep, decode_seqs=0, decode_ctx=0, prefill_tokens=1, prefill_seqs=1).t_memory.sum())
    assert extra == pytest.approx(kv_s, rel=0.05)


def test_prompts_are_padded_to_the_compiled_length():
    dep = _dep(options=OPTS)
    short = step_work(dep, prefill_tokens=1500, prefill_seqs=1)
    padded = step_work(_dep(engine="neuron"), prefill_tokens=4096, prefill_seqs=1)
    np.testing.assert_allclose(short.t_compute[:-1].sum(), padded.t_compute[:-1].sum(), rtol=1e-9)
    two = step_work(dep, prefill_tokens=3000, prefill_seqs=2)  # one context encoding each
    assert two.t_compute[:-1].sum() == pytest.approx(2 * short.t_compute[:-1].sum(), rel=0.01)


def test_without_a_compiled_length_only_the_batch_is_padded():
    dep = _dep(options={"max_num_seqs": 8})
    one = step_work(dep, decode_seqs=1, decode_ctx=1600)
    eight = step_work(dep, decode_seqs=8, decode_ctx=1600)
    np.testing.assert_allclose(one.t_memory, eight.t_memory)
    prompt = step_work(dep, prefill_tokens=1500, prefill_seqs=1)
    plain = step_work(_dep(engine="neuron"), prefill_tokens=1500, prefill_seqs=1)
    np.testing.assert_allclose(prompt.t_compute[:-1], plain.t_compute[:-1])


def test_batch_1_tpot_is_flat_in_the_compiled_batch_and_rises_with_it():
    tpot = {b: estimate("llama-3.1-8b", "trainium2", engine="optimum-neuron", batch=b,
                        input_len=1500, output_len=250,
                        engine_options={"max_num_seqs": 32, "max_model_len": 4096}).tpot_s
            for b in (1, 8)}
    assert tpot[1] == pytest.approx(tpot[8], rel=0.02)
    small = estimate("llama-3.1-8b", "trainium2", engine="optimum-neuron", batch=1, input_len=1500,
                     output_len=250, engine_options={"max_num_seqs": 4, "max_model_len": 4096})
    assert small.tpot_s < 0.8 * tpot[1]


def test_kv_memory_holds_every_compiled_slot():
    plan = plan_estimate("llama-3.1-8b", "trainium2", engine="optimum-neuron", engine_options=OPTS,
                         input_len=100, output_len=10)
    assert plan.mem.kv_cache_bytes == pytest.approx(32 * 4096 * kv_bytes_per_sequence_device(plan.dep, 1),
                                              rel=1e-6)


def test_sequences_longer_than_the_compiled_length_are_refused():
    with pytest.raises(InputError, match="compiled for 4096 tokens"):
        plan_estimate("llama-3.1-8b", "trainium2", engine="optimum-neuron", engine_options=OPTS,
                      input_len=4000, output_len=200)


def test_engine_option_spellings_set_the_compiled_length():
    eng = get_engine("tgi-neuron")
    assert eng.id == "optimum-neuron" and eng.compiled_shapes and eng.fork_of == "neuron"
    for key in ("max_model_len", "sequence_length", "max_total_tokens"):
        assert with_engine_options(eng, {key: "2048"}).max_model_len == 2048


def test_estimate_notes_state_the_compiled_shapes():
    est = estimate("llama-3.1-8b", "trainium2", engine="optimum-neuron", batch=1, input_len=1500,
                   output_len=250, engine_options=OPTS)
    assert "32 slots" in est.assumptions["compiled_shapes"] and "4096" in est.assumptions["compiled_shapes"]


def test_any_engine_refuses_sequences_beyond_its_max_model_len_and_pads_nothing():
    with pytest.raises(InputError, match="was launched with 1024 tokens"):
        plan_estimate("llama-3.1-8b", "h100-sxm", engine="vllm", engine_options={"max_model_len": 1024},
                      input_len=1000, output_len=100)
    capped = estimate("llama-3.1-8b", "h100-sxm", engine="vllm", batch=1, input_len=500, output_len=100,
                      engine_options={"max_model_len": 4096})
    plain = estimate("llama-3.1-8b", "h100-sxm", engine="vllm", batch=1, input_len=500, output_len=100)
    assert capped.tpot_s == pytest.approx(plain.tpot_s) and capped.ttft_s == pytest.approx(plain.ttft_s)
    assert "compiled_shapes" not in capped.assumptions


def test_xla_engines_pad_each_step_to_a_power_of_two_on_tpus():
    """vLLM's TPU backend and SGLang-JAX run precompiled power-of-two token buckets: a 1,500-token
    prompt step computes 2,048 rows, a 3-sequence decode step 16; on a GPU nothing is padded."""
    def linear_flops_s(hw: str, engine: str, **comp) -> float:
        dep = plan_estimate("llama-3.1-8b", hw, engine=engine, input_len=1500, output_len=100).dep
        w = step_work(dep, **comp)
        return float(sum(t for t, k in zip(w.t_compute, w.op_kinds, strict=True) if k == "linear"))

    for engine in ("vllm", "sglang-jax"):
        prompt = linear_flops_s("tpu-v6e", engine, prefill_tokens=1500, prefill_seqs=1)
        assert prompt == pytest.approx(linear_flops_s("tpu-v6e", engine, prefill_tokens=2048,
                                                      prefill_seqs=1))
        decode = linear_flops_s("tpu-v6e", engine, decode_seqs=3, decode_ctx=100)
        assert decode == pytest.approx(linear_flops_s("tpu-v6e", engine, decode_seqs=16, decode_ctx=100))
    gpu = linear_flops_s("h100-sxm", "vllm", prefill_tokens=1500, prefill_seqs=1)
    assert gpu == pytest.approx(1500 / 2048 * linear_flops_s("h100-sxm", "vllm", prefill_tokens=2048,
                                                             prefill_seqs=1))
