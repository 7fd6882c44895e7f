"""`loadtest`: measure a real OpenAI-compatible server with the simulator's workloads and
metrics, and put the simulation of the same requests beside it (client: ``client.py``;
comparison: ``compare.py``)."""

from __future__ import annotations

from pathlib import Path

from inferplan.catalog.schema import HardwareSpec
from inferplan.loadtest.client import LoadtestRun, RequestRecord, run_loadtest
from inferplan.loadtest.compare import (
    LoadtestResult,
    MetricRow,
    compare_rows,
    measured_metrics,
    simulate_run,
)
from inferplan.models.spec import ModelSpec
from inferplan.sim import DeploymentSpec
from inferplan.sim.entities import SchedulerConfig
from inferplan.sim.workload import Workload

__all__ = ["LoadtestResult", "LoadtestRun", "MetricRow", "RequestRecord", "loadtest", "run_loadtest"]


def loadtest(endpoint: str, workload: Workload, *, requests: int = 50, max_duration_s: float = 300.0,
             model_name: str = "default", seed: int = 0, local_only: bool = False,
             sim_model: str | ModelSpec | None = None, sim_deployment: DeploymentSpec | None = None,
             sim_hw: HardwareSpec | None = None, hardware_note: str = "",
             scheduler: SchedulerConfig | None = None, calibration: Path | None = None,
             hardware_files: tuple[Path, ...] = ()) -> LoadtestResult:
    """Run the load test; with `sim_model` and a deployment (or `sim_hw`), simulate the same
    requests and compare metric by metric."""
    run = run_loadtest(endpoint, workload, requests=requests, max_duration_s=max_duration_s,
                       model_name=model_name, seed=seed, local_only=local_only)
    measured = measured_metrics(run)
    res = LoadtestResult(run=run, measured=measured, hardware_note=hardware_note,
                         failed=sum(1 for r in run.records if r.error))
    if sim_model is not None and (sim_deployment is not None or sim_hw is not None) and measured.completed:
        dep = sim_deployment or DeploymentSpec(hardware=sim_hw.id if sim_hw else "")
        sim = simulate_run(run, workload, sim_model, dep, hw=sim_hw, scheduler=scheduler,
                           calibration=calibration, hardware_files=hardware_files)
        res.simulated = sim
        res.comparison = compare_rows(measured, sim.metrics)
    return res
