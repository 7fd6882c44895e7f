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
