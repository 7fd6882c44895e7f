"""The resolved serving pool: limits worked out once, KV blocks, price and power."""

from __future__ import annotations

import pytest

from inferplan.catalog.engines import get_engine
from inferplan.errors import UnknownIdError
from inferplan.sim import (
    DeploymentSpec,
    SchedulerConfig,
    build_pool,
    get_workload,
    micro_batches,
    serving_limits,
)
from inferplan.sim.pool import slot_lengths


def test_an_engine_without_continuous_batching_serves_one_sequence_in_prompt_chunks():
    eng = get_engine("llama.cpp")
    lim = serving_limits(eng, SchedulerConfig())
    assert lim.policy == "serial"
    assert lim.max_num_seqs == 1
    assert lim.max_batched_tokens == eng.prefill_chunk_tokens


def test_scheduler_config_overrides_the_engine_limits():
    eng = get_engine("vllm")
    lim = serving_limits(eng, SchedulerConfig(max_num_seqs=7, max_num_batched_tokens=300))
    assert (lim.policy, lim.max_num_seqs, lim.max_batched_tokens) == ("continuous", 7, 300)
    assert serving_limits(eng, SchedulerConfig()).max_num_seqs == eng.max_num_seqs


def test_unknown_policy_is_an_unknown_id():
    with pytest.raises(UnknownIdError):
        serving_limits(get_engine("vllm"), SchedulerConfig(policy="nope"))


def test_pipeline_micro_batches_are_the_fewer_of_sequences_and_stages():
    assert micro_batches(3, 4) == 3
    assert micro_batches(9, 4) == 4
    import numpy as np

    assert micro_batches(np.array([1.0, 5.0]), 2).tolist() == [1.0, 2.0]


def test_kv_blocks_shrink_with_a_bigger_model_on_the_same_device():
    w = get_workload("chat")
    small = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm", tp=4), w)
    big = build_pool("llama-3.1-70b", DeploymentSpec(hardware="h100-sxm", tp=4), w)
    assert 0 < big.kv_blocks < small.kv_blocks  # same devices: the bigger weights leave less room
    assert small.kv_tokens == small.kv_blocks * small.block_size
    override = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), w,
                          SchedulerConfig(kv_blocks=123))
    assert override.kv_blocks == 123


def test_pool_price_scales_with_replicas_and_power_with_load():
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), get_workload("chat"))
    one, four = pool.usd_per_hour(1), pool.usd_per_hour(4)
    assert one is not None and four == pytest.approx(4 * one)
    idle, busy = pool.power_w(1, 0.0, 1.0), pool.power_w(1, 1.0, 64.0)
    assert idle is not None and busy is not None and busy > idle
    info = pool.info("serve", 2, busy=0.5, mean_batch=8.0)
    assert info.replicas == 2 and info.hardware_class == "gpu"
    assert info.max_num_seqs == pool.max_num_seqs and info.kv_cache_tokens == pool.kv_tokens


def test_step_tables_are_built_on_first_use_only():
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), get_workload("chat"))
    assert "cost" not in vars(pool)
    assert pool.cost.time_s(1, 100.0) > 0
    assert "cost" in vars(pool)


def test_llama_cpp_host_layers_leave_kv_room_for_every_slot():
    # sized for one mean request, the split left ~1.2k KV tokens: a third of chat's requests
    # were refused and the rest preempted each other
    w = get_workload("chat")
    spec = DeploymentSpec(hardware="rtx-3090", devices=1, precision="q4_k_m", offload="auto")
    pool = build_pool("llama-3.1-70b", spec, w)
    assert pool.dep.host_layers is not None
    need = w.input.quantile(0.99) + w.output.quantile(0.99)
    assert pool.kv_tokens >= max(need, pool.max_num_seqs * (w.mean_input() + w.mean_output()))
    two = build_pool("llama-3.1-70b", spec.model_copy(update={"slots": 2}), w)
    assert two.max_num_seqs == 2
    assert two.dep.host_layers.layers <= pool.dep.host_layers.layers  # fewer slots, fewer moved
    # an explicit -ngl is kept as given
    fixed = build_pool("llama-3.1-70b", spec.model_copy(update={"engine_options": {"n_gpu_layers": "40"}}), w)
    assert fixed.dep.host_layers.layers == 40


def test_slot_lengths_hold_the_slots_at_the_mean_and_one_long_request():
    w = get_workload("chat")
    i, o = slot_lengths(w, 4)
    assert 4 * (i + o) >= w.input.quantile(0.99) + w.output.quantile(0.99)
    assert (i, o) >= (round(w.mean_input()), round(w.mean_output()))
    i1, o1 = slot_lengths(w, 1)
    assert i1 >= w.input.quantile(0.99) and o1 >= w.output.quantile(0.99)


def test_ngl_minus_one_is_sized_for_the_slots_as_offload_auto_is():
    w = get_workload("chat")
    base = dict(hardware="rtx-4090", devices=1, precision="q4_k_m", engine="llama.cpp")
    auto = build_pool("llama-3.1-70b", DeploymentSpec(**base, offload="auto"), w)
    minus1 = build_pool("llama-3.1-70b", DeploymentSpec(**base, engine_options={"n_gpu_layers": "-1"}), w)
    assert minus1.kv_tokens == auto.kv_tokens and minus1.dep.host_layers.layers == auto.dep.host_layers.layers


def test_the_analytic_step_mixes_steps_with_and_without_prompt_chunks():
    """A step that carries a prompt chunk costs more than its tokens (vLLM runs mixed steps
    outside its decode graphs); at b sequences b/O prompts arrive per step, so a share of steps
    carries them and the rest do not. The analytic mean step (the planner's capacity) matches
    the simulator's mean TPOT at its mean batch for DeepSeek-R1 on 8 B200 (attention-DP, EP8),
    where charging every step a fraction of a prompt read 18% slow."""
    from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload, simulate
    from inferplan.sim.entities import SchedulerConfig
    from inferplan.sim.pool import build_pool

    spec = DeploymentSpec(hardware="b200", devices=8, tp=1, ep=8)
    w = Workload(arrivals=Arrivals(kind="poisson", rate=11.1), input=LengthDist(value=2000),
                 output=LengthDist(value=500))
    pool = build_pool("deepseek-r1", spec, w, SchedulerConfig())
    res = simulate("deepseek-r1", spec, w, requests=2000, warmup=0.3)
    _, steps = pool.batch_step_times(2000, 500)
    b = int(round(res.metrics.mean_batch_size))
    assert float(steps[b - 1]) == pytest.approx(res.metrics.tpot_s.mean, rel=0.1)
    _, plain = pool.batch_step_times(2000, 500, prompts=False)
    assert float(plain[b - 1]) < float(steps[b - 1])


def test_prompts_longer_than_a_step_take_one_step_per_chunk():
    """A 30,000-token prompt fills ~4 steps of an 8,192-token budget by itself: the share of
    steps with prompt work is min(1, chunks per step), and the mean step stays between the
    decode-only step and a full prompt step."""
    from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload
    from inferplan.sim.entities import SchedulerConfig
    from inferplan.sim.pool import build_pool

    w = Workload(arrivals=Arrivals(kind="poisson", rate=0.5), input=LengthDist(value=30000),
                 output=LengthDist(value=200))
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), w, SchedulerConfig())
    _, mixed = pool.batch_step_times(30000, 200)
    _, plain = pool.batch_step_times(30000, 200, prompts=False)
    assert all(p <= m for p, m in zip(plain[:8], mixed[:8], strict=True))
    assert pool.capacity_rps(30000, 200) > 0.3


def test_a_prefill_first_engines_prompt_steps_pause_its_decodes_in_the_analytic_step():
    """SGLang (prefill-first) runs prompts in steps of their own: the mean step at b sequences
    is the decode step plus, for the share of steps with prompts, a prompt-only step; it
    tracks the simulator's mean TPOT at its mean batch."""
    from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload, simulate
    from inferplan.sim.entities import SchedulerConfig
    from inferplan.sim.pool import build_pool

    spec = DeploymentSpec(hardware="h100-sxm", engine="sglang")
    w = Workload(arrivals=Arrivals(kind="poisson", rate=2.0), input=LengthDist(value=2000),
                 output=LengthDist(value=500))
    pool = build_pool("llama-3.1-8b", spec, w, SchedulerConfig())
    assert pool.prefill_first
    res = simulate("llama-3.1-8b", spec, w, requests=1000, warmup=0.3)
    _, steps = pool.batch_step_times(2000, 500)
    b = int(round(res.metrics.mean_batch_size))
    assert float(steps[b - 1]) == pytest.approx(res.metrics.tpot_s.mean, rel=0.2)
