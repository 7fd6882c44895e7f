"""`simulate`: one workload on one cluster configuration, from ids to :class:`SimResult`.

Resolves the deployment the way ``estimate`` does (:func:`~inferplan.perf.estimate.plan_estimate`
at batch 1 with the workload's mean lengths), sizes the paged KV cache from the memory model,
builds replicas (:mod:`inferplan.sim.scheduler`) behind a router (:mod:`inferplan.sim.cluster`)
and summarizes the run (:mod:`inferplan.sim.metrics`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from inferplan.catalog.schema import HardwareSpec, Link
from inferplan.errors import DoesNotFitError, InputError, UnknownIdError
from inferplan.models.spec import ModelSpec
from inferplan.perf.deployment import FALLBACK_LINK, Deployment
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.layout import Layout
from inferplan.perf.memory import (
    activation_bytes_per_device,
    capacity_bytes,
    kv_bytes_per_sequence_device,
    weight_bytes_per_device,
)
from inferplan.sim.cluster import Cluster, make_router
from inferplan.sim.cost import StepCost
from inferplan.sim.entities import Request, SchedulerConfig
from inferplan.sim.metrics import SLO, SimMetrics, compute_metrics
from inferplan.sim.scheduler import SCHEDULERS, ContinuousBatching, Replica, Serial
from inferplan.sim.workload import RequestArrays, Workload, generate, think_times

AUTO_LAYOUT_SEQS = 16  # with devices=auto, room for this many sequences' KV (else 1)


class DeploymentSpec(BaseModel):
    """What one replica pool runs on (ids as in ``inferplan estimate``; None = auto)."""

    model_config = ConfigDict(extra="forbid")
    hardware: str
    devices: int | None = Field(default=None, ge=1, description="devices per replica (None: fewest that fit)")
    tp: int | None = Field(default=None, ge=1)
    pp: int | None = Field(default=None, ge=1)
    ep: int | None = Field(default=None, ge=1)
    precision: str | None = None
    kv_precision: str | None = None
    engine: str | None = None
    threads: int | None = Field(default=None, ge=1)


class PoolInfo(BaseModel):
    """The resolved configuration of one pool of identical replicas."""

    role: str
    hardware: str
    engine: str
    replicas: int
    devices_per_replica: int
    tp: int
    pp: int
    ep: int
    weight_precision: str
    kv_precision: str
    policy: str
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_cache_tokens: int = Field(description="KV tokens one replica holds beside its weights")
    usd_per_hour: float | None = Field(default=None, description="whole pool, catalog prices")
    power_w: float | None = Field(default=None, description="whole pool at the simulated load")


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
    usd_per_1m_output_tokens: float | None = None
    joules_per_output_token: float | None = None
    assumptions: dict = {}
    events: int = 0
    wall_s: float = 0.0


@dataclass
class PoolModel:
    """A deployment made ready to simulate: cost tables, KV capacity, scheduler limits."""

    dep: Deployment
    cost: StepCost
    cfg: SchedulerConfig
    policy: str
    max_num_seqs: int
    max_batched_tokens: int
    kv_blocks: int
    notes: dict
    dp: int = 1  # replicas the layout itself asked for (devices = dp x replica devices)

    def replica(self, index: int, role: str = "both", max_context: int = 0) -> Replica:
        if self.policy == "serial":
            return Serial(index, self.cost, self.max_batched_tokens, self.cfg.prefix_caching,
                          max_context)
        if self.policy == "continuous":
            return ContinuousBatching(index, self.cost, self.cfg, self.kv_blocks,
                                      max_num_seqs=self.max_num_seqs,
                                      max_batched_tokens=self.max_batched_tokens,
                                      microbatches=self.dep.layout.pp, role=role)
        return SCHEDULERS[self.policy](index, self)  # a plugin policy gets the pool model

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * self.cfg.block_size


def kv_cache_blocks(dep: Deployment, cfg: SchedulerConfig, max_num_seqs: int,
                    chunk_tokens: int, typical_ctx: float) -> int:
    """Paged KV blocks one replica holds: (usable memory - weights - activations) / KV bytes per
    token, per attention-DP rank, in blocks of `block_size` tokens. Per-token bytes are taken
    at the typical context, so sliding-window layers count what they keep on average."""
    cap = capacity_bytes(dep) * dep.engine.memory_utilization
    free = cap - weight_bytes_per_device(dep) - activation_bytes_per_device(dep, chunk_tokens, max_num_seqs)
    ctx = max(typical_ctx, 1.0)
    per_token = (kv_bytes_per_sequence_device(dep, ctx) - kv_bytes_per_sequence_device(dep, 0)) / ctx
    if free <= 0:
        return 0
    if per_token <= 0:
        return 1 << 30
    tokens = free / per_token * dep.layout.attn_dp
    return int(tokens // cfg.block_size)


def build_pool(model: str | ModelSpec, spec: DeploymentSpec, workload: Workload,
               cfg: SchedulerConfig | None = None, *, eff: Efficiency | None = None,
               hardware_files: tuple[Path, ...] = (), hw: HardwareSpec | None = None) -> PoolModel:
    """Resolve one pool's deployment and its simulator tables (raises if it does not fit)."""
    cfg = cfg or SchedulerConfig()
    mean_in = max(1, round(workload.mean_input()))
    mean_out = max(1, round(workload.mean_output()))
    def resolve(mode: str, batch: int):
        return plan_estimate(model, hw or spec.hardware, devices=spec.devices, tp=spec.tp,
                             pp=spec.pp, ep=spec.ep, precision=spec.precision,
                             kv_precision=spec.kv_precision, engine=spec.engine, mode=mode,  # type: ignore[arg-type]
                             batch=batch, input_len=mean_in, output_len=mean_out,
                             threads=spec.threads, hardware_files=hardware_files)

    auto = spec.devices is None and spec.tp is None and spec.pp is None and spec.ep is None
    plan = resolve("concurrency", AUTO_LAYOUT_SEQS) if auto else None
    if plan is not None and plan.fits:
        plan.notes["layout"] = (f"auto: fewest devices holding weights + KV of {AUTO_LAYOUT_SEQS} "
                                f"sequences of {mean_in}+{mean_out} tokens ({plan.notes.get('layout', '')})")
    else:  # a serving engine: its server limits (vLLM's API-server budgets), one sequence
        plan = resolve("concurrency", 1)
    if not plan.fits:
        raise DoesNotFitError(f"{plan.dep.model.id} on {plan.dep.hw.id}: {plan.reason}")
    return pool_from_deployment(plan.dep, workload, cfg, eff or load_efficiency(), plan.notes)


def pool_from_deployment(dep: Deployment, workload: Workload, cfg: SchedulerConfig,
                         eff: Efficiency, notes: dict | None = None) -> PoolModel:
    eng = dep.engine
    policy = cfg.policy or ("continuous" if eng.continuous_batching and eng.max_num_seqs > 1 else "serial")
    if policy not in SCHEDULERS:
        raise UnknownIdError("scheduler policy", policy, SCHEDULERS)
    max_seqs = cfg.max_num_seqs or eng.max_num_seqs
    max_tokens = cfg.max_num_batched_tokens or max(eng.prefill_chunk_tokens, max_seqs)
    if policy == "serial":  # one sequence; prompts in chunks of the engine's batch size
        max_seqs, max_tokens = 1, cfg.max_num_batched_tokens or eng.prefill_chunk_tokens
    f, _ = resolve_factors(dep, eff)
    cost = StepCost(dep, f, max_tokens + max_seqs)
    typical = workload.mean_input() + workload.mean_output() / 2
    blocks = cfg.kv_blocks or kv_cache_blocks(dep, cfg, max_seqs, max_tokens, typical)
    if blocks <= 0:
        raise DoesNotFitError(f"{dep.model.id} on {dep.hw.id}: no memory left for the KV cache")
    return PoolModel(dep, cost, cfg, policy, max_seqs, max_tokens, blocks, dict(notes or {}),
                     dp=dep.layout.dp)


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


def _price_per_hour(dep: Deployment) -> float | None:
    hw = dep.hw
    if hw.price.usd_per_hour is not None:
        return hw.price.usd_per_hour * dep.layout.replica_devices
    return None


def _pool_power_w(pool: PoolModel, replicas: int, busy: float, mean_batch: float) -> float | None:
    """Idle + (TDP - idle) x utilization of a representative step x busy share (docs/sim.md)."""
    from inferplan.perf.estimate import IDLE_FRACTION_OF_TDP
    from inferplan.perf.step import step_work

    hw = pool.dep.hw
    if not hw.tdp_w:
        return None
    idle = hw.idle_w if hw.idle_w is not None else IDLE_FRACTION_OF_TDP * hw.tdp_w
    b = max(mean_batch, 1.0)
    cu, bu = step_work(pool.dep, decode_seqs=b, decode_ctx=1024.0).utilization(pool.cost.factors)
    u = min(1.0, max(float(cu), float(bu))) * min(1.0, busy)
    return replicas * pool.dep.layout.replica_devices * (idle + (hw.tdp_w - idle) * u)


def simulate(model: str | ModelSpec, deployment: DeploymentSpec | str, workload: Workload, *,
             requests: int = 1000, seed: int = 0, replicas: int = 1,
             router: str = "least_outstanding_tokens", scheduler: SchedulerConfig | None = None,
             slo: SLO | None = None, decode: DeploymentSpec | None = None,
             decode_replicas: int = 1, decode_scheduler: SchedulerConfig | None = None,
             calibration: Path | None = None, hardware_files: tuple[Path, ...] = (),
             max_time_s: float = math.inf, pools: tuple[PoolModel, ...] | None = None,
             role: str = "both", warmup: float = 0.0, hw: HardwareSpec | None = None,
             replay: RequestArrays | None = None) -> SimResult:
    """Simulate `requests` requests of `workload` on `replicas` replicas of `deployment`.

    With `decode`, `deployment` is the prefill pool and `decode` the decode pool
    (disaggregated serving, KV moved over the link between them). Deterministic per `seed`.
    Prebuilt `pools` (prefill/only, decode) skip resolution (the planner reuses them).
    role 'prefill' or 'decode' studies one pool of a disaggregated system alone: prompts only
    (requests end when their first token is out), or generation only (requests arrive with
    their prompt's KV cache and first token). warmup: share of the arrival span whose requests
    are left out of latency percentiles (they met an empty system). hw: a hardware entry not
    in the catalog (e.g. this machine, measured). replay: these requests instead of generating
    them from the workload (arrival times NaN for a closed loop).
    """
    if role not in ("both", "prefill", "decode"):
        raise InputError(f"unknown role '{role}' (both, prefill, decode)")
    wall = time.perf_counter()
    if requests < 1 or replicas < 1 or decode_replicas < 1:
        raise InputError("requests, replicas and decode replicas must be >= 1")
    if isinstance(deployment, str):
        deployment = DeploymentSpec(hardware=deployment)
    eff = load_efficiency(calibration)
    if pools is None:
        pre = build_pool(model, deployment, workload, scheduler, eff=eff,
                         hardware_files=hardware_files, hw=hw)
        dec = (build_pool(model, decode, workload, decode_scheduler or scheduler, eff=eff,
                          hardware_files=hardware_files) if decode else None)
    else:
        pre, dec = pools[0], (pools[1] if len(pools) > 1 else None)
    if dec is not None and (pre.policy != "continuous" or dec.policy != "continuous"):
        raise InputError("disaggregated prefill/decode needs continuous-batching engines on both pools "
                         f"({pre.dep.engine.id}, {dec.dep.engine.id})")
    replicas *= pre.dp  # a layout with data parallelism inside `devices` is more replicas
    if dec is not None:
        decode_replicas *= dec.dp
    reqs = replay if replay is not None else generate(workload, requests, seed)
    requests = len(reqs)
    max_ctx = int(reqs.input_tokens.max() + reqs.output_tokens.max())
    if dec is not None:
        role = "prefill"
    reps = [pre.replica(i, role, max_ctx) for i in range(replicas)]
    assumptions = dict(pre.notes)
    transfer = None
    dreps: list[Replica] = []
    if dec is not None:
        dreps = [dec.replica(i, "decode", max_ctx) for i in range(decode_replicas)]
        link, bw, why = kv_transfer_link(pre.dep, dec.dep)
        whole = dataclasses.replace(pre.dep, layout=Layout())  # all layers and heads
        per_tok = kv_bytes_per_sequence_device(whole, 1.0) - kv_bytes_per_sequence_device(whole, 0.0)
        lat = link.latency_s

        def transfer(r: Request) -> float:
            return kv_bytes_per_sequence_device(whole, r.computed) / bw + lat

        assumptions["kv_transfer"] = (f"{per_tok / 1e3:.1f} kB per token over {why}, "
                                      f"{bw / 1e9:.3g} GB/s, {lat * 1e6:.0f} us latency")
    cluster = Cluster(reps, make_router(router), decode_pool=dreps or None,
                      decode_router=make_router(router), transfer_s=transfer)
    closed = workload.arrivals.kind == "closed"
    done = cluster.run(reqs, closed_users=workload.arrivals.users if closed else None,
                       think_s=think_times(workload, requests, seed) if closed else None,
                       max_time_s=max_time_s, prefilled=role == "decode" and dec is None)
    issued = [r for r in done if r.replica >= 0 or r.rejected]
    if issued and all(r.rejected for r in issued):  # nothing can be served: a negative answer
        raise DoesNotFitError(f"{pre.dep.model.id} on {pre.dep.hw.id}: every request was rejected: "
                              f"{issued[0].rejected}")
    arrivals = [r.arrival_s for r in issued if not math.isnan(r.arrival_s)]
    warm_s = warmup * (max(arrivals) - min(arrivals)) if warmup > 0 and arrivals else 0.0
    m = compute_metrics(issued, reps + dreps, slo, warmup_s=warm_s)
    infos = [_pool_info(pre, "prefill" if dec else ("serve" if role == "both" else role), replicas,
                        m.busy_fraction, m.mean_batch_size)]
    if dec is not None:
        infos.append(_pool_info(dec, "decode", decode_replicas, m.busy_fraction, m.mean_batch_size))
    usd = [i.usd_per_hour for i in infos]
    pw = [i.power_w for i in infos]
    usd_tok = (sum(usd) / 3600 / m.output_tok_s * 1e6  # type: ignore[arg-type]
               if all(u is not None for u in usd) and m.output_tok_s else None)
    j_tok = (sum(pw) / m.output_tok_s  # type: ignore[arg-type]
             if all(p is not None for p in pw) and m.output_tok_s else None)
    assumptions.update({
        "efficiency_profile": eff.profile,
        "step_times": ("perf.step.step_work tables (exact)" if not pre.cost.exact
                       else "perf.step.step_work called per step"),
        "kv_block_size": pre.cfg.block_size,
        "pipeline": "with pp > 1 the batch is split into min(batch, pp) micro-batches; the largest sets the step time",
        "power": "idle + (TDP - idle) x utilization of a mean-batch decode step x busy share",
        "cost": "catalog $/h of every device of every replica over the output tokens/s simulated",
    })
    violations = slo.violations(m) if slo is not None and not slo.empty() else []
    return SimResult(
        model=pre.dep.model.id, workload=workload.name, requests=requests, seed=seed,
        router=cluster.router.name, pools=infos, metrics=m, slo=slo,
        slo_met=(not violations) if slo is not None and not slo.empty() else None,
        violations=violations, usd_per_1m_output_tokens=usd_tok, joules_per_output_token=j_tok,
        assumptions=assumptions, events=cluster.events, wall_s=time.perf_counter() - wall)


def _pool_info(pool: PoolModel, role: str, replicas: int, busy: float, mean_batch: float) -> PoolInfo:
    dep = pool.dep
    lay = dep.layout
    price = _price_per_hour(dep)
    return PoolInfo(
        role=role, hardware=dep.hw.id, engine=dep.engine.id, replicas=replicas,
        devices_per_replica=lay.replica_devices, tp=lay.tp, pp=lay.pp, ep=lay.ep,
        weight_precision=dep.weight_precision.id, kv_precision=dep.kv_precision.id,
        policy=pool.policy, max_num_seqs=pool.max_num_seqs,
        max_num_batched_tokens=pool.max_batched_tokens, kv_cache_tokens=pool.kv_tokens,
        usd_per_hour=price * replicas if price is not None else None,
        power_w=_pool_power_w(pool, replicas, busy, mean_batch))
