"""`simulate`: one workload on one cluster configuration, from ids to :class:`SimResult`.

:func:`simulate` resolves the pools (:func:`~inferplan.sim.pool.build_pool`: deployment, limits,
KV cache, step-time tables) and :func:`simulate_pools` runs pools already resolved (the
planner's way in): replicas (:mod:`inferplan.sim.schedulers`) behind a router
(:mod:`inferplan.sim.cluster`), then the summary (:mod:`inferplan.sim.metrics`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.catalog.schema import HardwareSpec, Link
from inferplan.errors import InputError
from inferplan.models.spec import ModelSpec
from inferplan.perf.deployment import FALLBACK_LINK, Deployment
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.layout import Layout
from inferplan.perf.memory import kv_bytes_per_sequence_device
from inferplan.sim.cluster import Cluster, make_router
from inferplan.sim.entities import Request, SchedulerConfig
from inferplan.sim.metrics import SLO, SimMetrics, compute_metrics
from inferplan.sim.overload import outcome_problems, short_run_note
from inferplan.sim.pool import DeploymentSpec, Pool, PoolInfo, build_pool
from inferplan.sim.schedulers import Replica
from inferplan.sim.workload import RequestArrays, Workload, generate, think_times
from inferplan.units import HOUR_S


class SimResult(BaseModel):
    model: str
    workload: str
    requests: int
    seed: int
    router: str
    pools: list[PoolInfo]
    metrics: SimMetrics
    slo: SLO | None = None
    slo_met: bool | None = None
    violations: list[str] = []
    warnings: list[str] = []  # overload, rejected requests, context window (sim/overload.py)
    usd_per_1m_output_tokens: float | None = None
    joules_per_output_token: float | None = None
    assumptions: dict[str, Any] = {}
    events: int = 0
    wall_s: float = 0.0


def kv_transfer_link(p: Deployment, d: Deployment) -> tuple[Link, float, str]:
    """(link, aggregate bytes/s, why) between a prefill and a decode replica. Same hardware
    within one scale-up domain: the scale-up link; otherwise each side's scale-out NIC (the
    slower side), one per device sending in parallel; PCIe through the host if neither has one."""
    n_p, n_d = p.layout.replica_devices, d.layout.replica_devices
    up = p.hw.scale_up
    if p.hw.id == d.hw.id and up and n_p + n_d <= up.domain_devices:
        return up, up.bw_bytes_s * min(n_p, n_d), f"{up.name} (same scale-up domain)"
    lp = p.hw.scale_out or FALLBACK_LINK
    ld = d.hw.scale_out or FALLBACK_LINK
    bw = min(lp.bw_bytes_s * n_p, ld.bw_bytes_s * n_d)
    link = lp if lp.bw_bytes_s * n_p <= ld.bw_bytes_s * n_d else ld
    return link, bw, f"{link.name} x{min(n_p, n_d)} devices"


def simulate(model: str | ModelSpec, deployment: DeploymentSpec | str, workload: Workload, *,
             requests: int = 1000, seed: int = 0, replicas: int = 1,
             router: str = "least_outstanding_tokens", scheduler: SchedulerConfig | None = None,
             slo: SLO | None = None, decode: DeploymentSpec | None = None,
             decode_replicas: int = 1, decode_scheduler: SchedulerConfig | None = None,
             calibration: Path | None = None, hardware_files: tuple[Path, ...] = (),
             max_time_s: float = math.inf, warmup: float = 0.0, hw: HardwareSpec | None = None,
             replay: RequestArrays | None = None) -> SimResult:
    """Simulate `requests` requests of `workload` on `replicas` replicas of `deployment`.

    With `decode`, `deployment` is the prefill pool and `decode` the decode pool
    (disaggregated serving, KV moved over the link between them). Deterministic per `seed`.
    warmup: share of the arrival span whose requests are left out of latency percentiles (they
    met an empty system). hw: a hardware entry not in the catalog (e.g. this machine,
    measured). replay: these requests instead of generating them from the workload (arrival
    times NaN for a closed loop). Pools already built: :func:`simulate_pools`.
    """
    if isinstance(deployment, str):
        deployment = DeploymentSpec(hardware=deployment)
    eff = load_efficiency(calibration)
    pre = build_pool(model, deployment, workload, scheduler, eff=eff,
                     hardware_files=hardware_files, hw=hw)
    dec = (build_pool(model, decode, workload, decode_scheduler or scheduler, eff=eff,
                      hardware_files=hardware_files) if decode else None)
    return simulate_pools(pre, workload, replicas=replicas, decode=dec,
                          decode_replicas=decode_replicas, requests=requests, seed=seed,
                          router=router, slo=slo, max_time_s=max_time_s, warmup=warmup,
                          replay=replay)


def simulate_pools(pool: Pool, workload: Workload, *, replicas: int = 1, decode: Pool | None = None,
                   decode_replicas: int = 1, role: str = "both", requests: int = 1000,
                   seed: int = 0, router: str = "least_outstanding_tokens",
                   slo: SLO | None = None, max_time_s: float = math.inf, warmup: float = 0.0,
                   replay: RequestArrays | None = None, api_server: bool = True) -> SimResult:
    """Simulate pools already resolved (:func:`~inferplan.sim.pool.build_pool`): `replicas`
    of `pool` (with `decode`: the prefill pool, and `decode_replicas` of the decode pool).
    role 'prefill' or 'decode' studies one pool of a disaggregated system alone: prompts only
    (requests end when their first token is out), or generation only (requests arrive with
    their prompt's KV cache and first token). ``api_server=False``: requests reach the engine
    when sent (an offline run through the engine's Python API, no HTTP server: calib/spread.py).
    Other arguments as :func:`simulate`."""
    if role not in ("both", "prefill", "decode"):
        raise InputError(f"unknown role '{role}' (both, prefill, decode)")
    wall = time.perf_counter()
    if requests < 1 or replicas < 1 or decode_replicas < 1:
        raise InputError("requests, replicas and decode replicas must be >= 1")
    pre, dec = pool, decode
    if dec is not None and (pre.policy != "continuous" or dec.policy != "continuous"):
        raise InputError("disaggregated prefill/decode needs continuous-batching engines on both pools "
                         f"({pre.dep.engine.id}, {dec.dep.engine.id})")
    replicas *= pre.dp  # a layout with data parallelism inside `devices` is more replicas
    if dec is not None:
        decode_replicas *= dec.dp
    reqs = replay if replay is not None else generate(workload, requests, seed)
    requests = len(reqs)
    if dec is not None:
        role = "prefill"
    reps = [pre.replica(i, role) for i in range(replicas)]
    assumptions = {k: v for k, v in pre.notes.items() if k != "_warnings"}  # the joined "warning" stays
    transfer = None
    dreps: list[Replica] = []
    if dec is not None:
        dreps = [dec.replica(i, "decode") for i in range(decode_replicas)]
        transfer, assumptions["kv_transfer"] = _kv_transfer(pre.dep, dec.dep)
    cluster = Cluster(reps, make_router(router), decode_pool=dreps or None,
                      decode_router=make_router(router), transfer_s=transfer,
                      front_s=pre.front_s if api_server else 0.0)
    closed = workload.arrivals.kind == "closed"
    done = cluster.run(reqs, closed_users=workload.arrivals.users if closed else None,
                       think_s=think_times(workload, requests, seed) if closed else None,
                       max_time_s=max_time_s, prefilled=role == "decode" and dec is None)
    issued = [r for r in done if r.replica >= 0 or r.rejected]
    arrivals = [r.arrival_s for r in issued if not math.isnan(r.arrival_s)]
    warm_s = warmup * (max(arrivals) - min(arrivals)) if warmup > 0 and arrivals else 0.0
    m = compute_metrics(issued, reps + dreps, slo, warmup_s=warm_s)
    # power, $ and J per token over the steady window (metrics.Steady), not the ramp-up and drain
    st = m.steady if m.steady is not None and m.steady.output_tok_s > 0 else None
    busy, batch, out_tok_s = ((st.busy_fraction, st.mean_batch_size, st.output_tok_s) if st else
                              (m.busy_fraction, m.mean_batch_size, m.output_tok_s))
    infos = [pre.info("prefill" if dec else ("serve" if role == "both" else role), replicas, busy, batch,
                      api_server=api_server)]
    if dec is not None:
        infos.append(dec.info("decode", decode_replicas, busy, batch))
    usd = [i.usd_per_hour for i in infos if i.usd_per_hour is not None]
    pw = [i.power_w for i in infos if i.power_w is not None]
    usd_tok = (sum(usd) / HOUR_S / out_tok_s * 1e6 if len(usd) == len(infos) and out_tok_s else None)
    j_tok = sum(pw) / out_tok_s if len(pw) == len(infos) and out_tok_s else None
    assumptions.update({
        "efficiency_profile": pre.efficiency_profile,
        "step_times": ("perf.step.step_work tables (exact)" if not pre.cost.exact
                       else "perf.step.step_work called per step"),
        "kv_block_size": pre.block_size,
        "pipeline": "with pp > 1 the batch is split into min(batch, pp) micro-batches; the largest sets the step time",
        "power": "idle + (TDP - idle) x utilization of a mean-batch decode step x busy share",
        "cost": ("catalog $/h of every device of every replica (or purchase amortized + energy at "
                 "the simulated power) over the output tokens/s simulated, both over the steady "
                 "window (warm-up and ramp-up end to last arrival: metrics.steady; the whole run if it has none), all of it charged to output"),
    })
    violations = slo.violations(m) if slo is not None and not slo.empty() else []
    res = SimResult(
        model=pre.dep.model.id, workload=workload.name, requests=requests, seed=seed,
        router=cluster.router.name, pools=infos, metrics=m, slo=slo,
        slo_met=(not violations) if slo is not None and not slo.empty() else None,
        violations=violations, usd_per_1m_output_tokens=usd_tok, joules_per_output_token=j_tok,
        assumptions=assumptions, events=cluster.events)
    offered = workload.arrivals.rate if workload.arrivals.kind in ("poisson", "gamma") else None
    # a colocated pool's analytic capacity: the overload signal of a run too short to show one
    capacity = (replicas * pre.capacity_rps(workload.mean_input(), workload.mean_output())
                if offered and dec is None and role == "both" and replay is None else None)
    res.warnings = [*([str(assumptions["warning"])] if "warning" in assumptions else []),
                    *outcome_problems(res, offered, capacity)[1]]
    note = short_run_note(m, offered) if not any(w.startswith("overloaded") for w in res.warnings) else None
    if note:
        res.warnings.append(note)
    res.warnings += run_scoped_warnings(pre, m, replicas, workload.arrivals.users if closed else None)
    if lockstep_clients(workload) and replay is None:
        res.warnings.append(
            f"{workload.arrivals.users} clients with fixed lengths and no think time run in lockstep "
            "waves: each wave's prompts arrive together and wait for one another's prefill (its "
            "TTFT); `estimate --concurrency` gives clients that have drifted apart (varied lengths): "
            "--think-time, or the workload's length distribution, desynchronizes them")
    res.wall_s = time.perf_counter() - wall
    return res


def run_scoped_warnings(pool: Pool, m: Any, replicas: int, users: int | None) -> list[str]:
    """The estimate's batch-scoped warnings (perf/notes.py), read from the run: fewer sequences
    in a step than attention-DP ranks (the step cost shares their attention over the ranks),
    fewer closed-loop clients than replicas."""
    out = []
    attn = pool.dep.layout.attn_dp
    if attn > 1 and 0 < m.mean_batch_size < attn:
        out.append(f"mean batch {m.mean_batch_size:.1f} on {attn} attention-DP ranks: the step cost "
                   f"shares its attention over the ranks; an engine runs each sequence on one rank, "
                   f"so TTFT and TPOT can be up to {attn}x longer where attention dominates (long "
                   "prompts): prefer tp for few users")
    if users is not None and users < replicas:
        out.append(f"{replicas - users} of {replicas} replicas idle ({users} clients): $ and J "
                   "count every device")
    return out


def lockstep_clients(w: Workload) -> bool:
    """Closed-loop clients that start together and stay together: fixed prompt and output
    lengths (every request finishes on the same step) and no think time."""
    a = w.arrivals
    return (a.kind == "closed" and (a.users or 0) > 1 and a.think_time_s == 0
            and w.input.kind == "fixed" and w.output.kind == "fixed")


def _kv_transfer(p: Deployment, d: Deployment) -> tuple[Callable[[Request], float], str]:
    """Seconds to move a request's KV cache from prefill to decode replica, and how."""
    link, bw, why = kv_transfer_link(p, d)
    whole = dataclasses.replace(p, layout=Layout())  # all layers and heads
    per_tok = kv_bytes_per_sequence_device(whole, 1.0) - kv_bytes_per_sequence_device(whole, 0.0)
    lat = link.latency_s

    def transfer(r: Request) -> float:
        return kv_bytes_per_sequence_device(whole, r.computed) / bw + lat

    return transfer, (f"{per_tok / 1e3:.1f} kB per token over {why}, "
                      f"{bw / 1e9:.3g} GB/s, {lat * 1e6:.0f} us latency")
