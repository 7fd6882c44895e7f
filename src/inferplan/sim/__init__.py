"""Serving simulator: workload generators, entities, replica schedulers (vLLM-like continuous
batching, serial FCFS), a cluster with routers and disaggregated prefill/decode pools, and
metrics. Step times come from :mod:`inferplan.perf.step` (see :mod:`inferplan.sim.cost`).
Definitions and formulas: docs/sim.md.
"""

from inferplan.sim.entities import SchedulerConfig
from inferplan.sim.metrics import SLO, SimMetrics
from inferplan.sim.simulate import DeploymentSpec, SimResult, simulate
from inferplan.sim.workload import PRESETS, Arrivals, LengthDist, Prefix, Workload, get_workload

__all__ = ["PRESETS", "SLO", "Arrivals", "DeploymentSpec", "LengthDist", "Prefix",
           "SchedulerConfig", "SimMetrics", "SimResult", "Workload", "get_workload", "simulate"]
