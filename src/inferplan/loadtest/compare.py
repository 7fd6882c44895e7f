"""Measured vs simulated: the same metrics from a load test and from the simulator, side by side.

The simulation replays exactly what was sent (each request's prompt tokens as the server counted
them, its output tokens, the same closed-loop users or the same send times) through
:func:`inferplan.sim.simulate` on the model and hardware given. For the machine the test ran on,
:func:`local_hardware` builds a hardware entry from measurements (``bench.cpu``: DRAM read
bandwidth with all cores, BLAS SGEMM; peaks derived from the CPU's SIMD features) unless the
catalog already has ``this-machine``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from inferplan.catalog.schema import HardwareSpec
from inferplan.loadtest.client import LoadtestRun, prompt_tokens_of
from inferplan.models.spec import ModelSpec
from inferplan.sim import DeploymentSpec, SimResult, simulate
from inferplan.sim.entities import SchedulerConfig
from inferplan.sim.metrics import Dist, SimMetrics, dist
from inferplan.sim.workload import RequestArrays, Workload


class MetricRow(BaseModel):
    metric: str
    measured: float | None
    simulated: float | None
    error: float | None  # (simulated - measured) / measured


class LoadtestResult(BaseModel):
    run: LoadtestRun
    measured: SimMetrics
    simulated: SimResult | None = None
    comparison: list[MetricRow] = []
    hardware_note: str = ""
    failed: int = 0


def measured_metrics(run: LoadtestRun) -> SimMetrics:
    """The simulator's metrics computed from what the client recorded (docs/sim.md)."""
    ok = [r for r in run.records if r.error is None and r.first_token_s is not None and r.done_s is not None]
    empty = Dist()
    if not ok:
        return SimMetrics(requests=len(run.records), completed=0, duration_s=run.duration_s,
                          ttft_s=empty, tpot_s=empty, itl_s=empty, e2e_s=empty, queue_wait_s=empty,
                          requests_per_s=0.0, input_tok_s=0.0, output_tok_s=0.0, total_tok_s=0.0,
                          mean_in_system=0.0, mean_queue_len=0.0, max_queue_len=0,
                          mean_batch_size=0.0, max_batch_size=0, mean_kv_used=0.0, max_kv_used=0.0,
                          busy_fraction=0.0, preemptions=0)
    sent = np.array([r.sent_s for r in ok])
    first = np.array([r.first_token_s for r in ok], dtype=float)
    done = np.array([r.done_s for r in ok], dtype=float)
    out = np.array([r.received_tokens for r in ok], dtype=float)  # what came back, not what was asked
    inp = np.array([prompt_tokens_of(r, run) for r in ok], dtype=float)
    multi = out > 1
    gaps = np.concatenate([np.diff(r.token_s) for r in ok if len(r.token_s) > 1] or [np.zeros(0)])
    span = max(float(done.max() - sent.min()), 1e-12)
    e2e = done - sent
    return SimMetrics(
        requests=len(run.records), completed=len(ok), duration_s=span,
        ttft_s=dist(first - sent), tpot_s=dist((done[multi] - first[multi]) / (out[multi] - 1)),
        itl_s=dist(gaps), e2e_s=dist(e2e), queue_wait_s=Dist(),
        requests_per_s=len(ok) / span, input_tok_s=float(inp.sum() / span),
        output_tok_s=float(out.sum() / span), total_tok_s=float((inp.sum() + out.sum()) / span),
        mean_in_system=float(e2e.sum() / span), mean_queue_len=0.0, max_queue_len=0,
        mean_batch_size=0.0, max_batch_size=0, mean_kv_used=0.0, max_kv_used=0.0,
        busy_fraction=0.0, preemptions=0)


def replay_arrays(run: LoadtestRun, closed: bool) -> RequestArrays:
    ok = [r for r in run.records if r.error is None]
    ok.sort(key=lambda r: r.sent_s)
    n = len(ok)
    t0 = min((r.sent_s for r in ok), default=0.0)
    arrival = (np.full(n, np.nan) if closed else np.array([r.sent_s - t0 for r in ok]))
    return RequestArrays(arrival_s=arrival,
                         input_tokens=np.array([prompt_tokens_of(r, run) for r in ok], dtype=np.int64),
                         output_tokens=np.array([r.received_tokens for r in ok], dtype=np.int64),
                         prefix_id=np.full(n, -1, dtype=np.int64),
                         prefix_tokens=np.zeros(n, dtype=np.int64))


def simulate_run(run: LoadtestRun, workload: Workload, model: str | ModelSpec,
                 deployment: DeploymentSpec, *, hw: HardwareSpec | None = None,
                 scheduler: SchedulerConfig | None = None, calibration: Path | None = None,
                 hardware_files: tuple[Path, ...] = ()) -> SimResult:
    """The simulator on exactly the requests of `run`."""
    closed = workload.arrivals.kind == "closed"
    arrays = replay_arrays(run, closed)
    if len(arrays) == 0:
        raise ValueError("no successful request to replay")
    return simulate(model, deployment, workload, replay=arrays, scheduler=scheduler,
                    calibration=calibration, hardware_files=hardware_files, hw=hw)


def compare_rows(measured: SimMetrics, sim: SimMetrics) -> list[MetricRow]:
    rows = []
    for name, attr, pct in (("TTFT p50", "ttft_s", "p50"), ("TTFT p90", "ttft_s", "p90"),
                            ("TTFT mean", "ttft_s", "mean"), ("TPOT p50", "tpot_s", "p50"),
                            ("TPOT p90", "tpot_s", "p90"), ("TPOT mean", "tpot_s", "mean"),
                            ("ITL p50", "itl_s", "p50"), ("ITL p90", "itl_s", "p90"),
                            ("E2E p50", "e2e_s", "p50"), ("E2E p90", "e2e_s", "p90"),
                            ("E2E mean", "e2e_s", "mean")):
        m = getattr(getattr(measured, attr), pct)
        s = getattr(getattr(sim, attr), pct)
        rows.append(MetricRow(metric=name, measured=m, simulated=s,
                              error=(s - m) / m if m and s is not None else None))
    for name, attr in (("requests/s", "requests_per_s"), ("output tok/s", "output_tok_s")):
        m, s = getattr(measured, attr), getattr(sim, attr)
        rows.append(MetricRow(metric=name, measured=m, simulated=s,
                              error=(s - m) / m if m else None))
    return rows


def local_hardware(quick: bool = True, threads: int | None = None) -> tuple[HardwareSpec, str]:
    """This machine as a hardware entry: the catalog's ``this-machine`` if present, else
    measured now (bench.cpu: bandwidth with all cores, SGEMM, SIMD-derived peaks)."""
    from inferplan.catalog.hardware import hardware_catalog

    cat = hardware_catalog()
    if "this-machine" in cat:
        return cat["this-machine"], "catalog entry this-machine (from `inferplan bench`)"
    from inferplan.bench.cpu import (
        _array_bytes,
        detect_cpu,
        hardware_entry,
        measure_bandwidth,
        measure_gemm,
    )
    from inferplan.bench.rows import today

    cpu = detect_cpu()
    n = _array_bytes(cpu, quick)
    bw = measure_bandwidth([threads or cpu.cores], n, reps=3)
    gemm, _ = measure_gemm(quick=True)
    entry = hardware_entry(cpu, bw, gemm, today(), n)
    hw = HardwareSpec.model_validate(entry)
    best = max(p.read_bytes_s for p in bw)
    return hw, (f"measured now: {cpu.model_name}, {cpu.cores} cores, read bandwidth "
                f"{best / 1e9:.1f} GB/s, peaks {', '.join(f'{k} {v / 1e9:.0f} G' for k, v in hw.peak_flops.items())}")


def error_summary(rows: list[MetricRow]) -> float | None:
    """Median |error| over the latency rows (TTFT/TPOT/E2E)."""
    errs = [abs(r.error) for r in rows if r.error is not None and not math.isnan(r.error)
            and r.metric.split()[0] in ("TTFT", "TPOT", "E2E")]
    return float(np.median(errs)) if errs else None
