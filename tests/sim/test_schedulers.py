"""Schedulers: one registry for built-ins and plugins, one shared base."""

from __future__ import annotations

from inferplan.sim import (
    SCHEDULERS,
    DeploymentSpec,
    SchedulerConfig,
    build_pool,
    get_workload,
    register_scheduler,
    simulate,
)
from inferplan.sim.schedulers import ContinuousBatching, Serial
from inferplan.sim.workload import with_overrides


def test_built_in_policies_register_like_plugins():
    assert SCHEDULERS["continuous"] is ContinuousBatching
    assert SCHEDULERS["serial"] is Serial


def test_a_plugin_policy_is_built_through_the_registry_with_the_pool():
    built = []

    class Counting(ContinuousBatching):
        def __init__(self, index, pool, role="both"):
            super().__init__(index, pool, role)
            built.append((index, pool.max_num_seqs, role))

    register_scheduler("counting", Counting)
    try:
        w = with_overrides(get_workload("chat"), rate=4)
        res = simulate("llama-3.1-8b", "h100-sxm", w, requests=50, replicas=2,
                       scheduler=SchedulerConfig(policy="counting", max_num_seqs=8))
    finally:
        SCHEDULERS.pop("counting")
    assert [b[0] for b in built] == [0, 1]
    assert all(b[1] == 8 and b[2] == "both" for b in built)
    assert res.pools[0].policy == "counting"
    assert res.metrics.completed == 50
    assert res.metrics.max_batch_size <= 8


def test_max_sequences_in_flight_come_from_the_pool_limits():
    w = with_overrides(get_workload("chat"), rate=30)
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), w,
                      SchedulerConfig(max_num_seqs=5))
    rep = pool.replica(0)
    assert rep.max_seqs == 5
    res = simulate("llama-3.1-8b", "h100-sxm", w, requests=200,
                   scheduler=SchedulerConfig(max_num_seqs=5))
    assert res.metrics.max_batch_size <= 5


def test_the_serial_policy_is_one_at_a_time():
    assert Serial.one_at_a_time and not ContinuousBatching.one_at_a_time
