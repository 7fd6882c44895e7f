"""Serving simulator: workload generators, entities, replica schedulers (vLLM-like continuous
batching, serial FCFS; ``schedulers/``), the resolved serving pool (``pool.py``), a cluster
with routers and disaggregated prefill/decode pools (``cluster.py``), and metrics. Step times
come from :mod:`inferplan.perf.step` (see :mod:`inferplan.sim.cost`).
Definitions and formulas: docs/sim.md.
"""

from inferplan.perf.layout import micro_batches
from inferplan.sim.entities import SchedulerConfig
from inferplan.sim.metrics import SLO, Dist, SimMetrics
from inferplan.sim.overload import outcome_problems
from inferplan.sim.pool import (
    AUTO_LAYOUT_SEQS,
    DeploymentSpec,
    Pool,
    PoolInfo,
    ServingLimits,
    build_pool,
    pool_from_deployment,
    serving_limits,
    with_slot_room,
)
from inferplan.sim.schedulers import SCHEDULERS, Replica, register_scheduler
from inferplan.sim.simulate import SimResult, simulate, simulate_pools
from inferplan.sim.workload import (
    PRESETS,
    Arrivals,
    LengthDist,
    Prefix,
    Workload,
    get_workload,
    with_overrides,
)

__all__ = ["AUTO_LAYOUT_SEQS", "PRESETS", "SCHEDULERS", "SLO", "Arrivals", "DeploymentSpec", "Dist",
           "LengthDist", "Pool", "PoolInfo", "Prefix", "Replica", "SchedulerConfig",
           "ServingLimits", "SimMetrics", "SimResult", "Workload", "build_pool", "get_workload",
           "micro_batches", "outcome_problems", "pool_from_deployment", "register_scheduler", "serving_limits",
           "simulate", "simulate_pools", "with_overrides", "with_slot_room"]
