"""`plan`: the cheapest (or smallest, most frugal, fastest) serving configuration that meets
latency SLOs at a request rate, searched across hardware, layouts, precisions and replicas,
including disaggregated prefill/decode pools on different hardware.

Phases (each a list of independent tasks for the executor):

1. enumerate candidates and their analytic floors and capacity (``search.py``); drop those whose
   floors already break an SLO, those over budget, and those far from the best analytic proxy of
   the objective (``prune_factor``);
2. simulate each survivor to find its fewest replicas meeting the SLO (``evaluate.py``); size
   prefill-only and decode-only pools of the best prefill and decode hardware and pair them;
3. verify the top options with the whole cluster behind its router and find their maximum
   sustainable rate; rank; mark the Pareto frontier (cost, p90 latency, energy); explain why
   the winner wins.

Every option carries the prediction interval of each of its metrics (``intervals``). With a
``confidence`` level the whole search runs at the pessimistic end of those intervals: SLOs are
checked against the high end of each latency, capacities read at the low end of throughput, and
options ranked on their pessimistic values (``confidence.py``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inferplan.catalog.hardware import get_hardware, hardware_catalog
from inferplan.catalog.precisions import check_precision_ids
from inferplan.catalog.schema import HARDWARE_CLASSES, HardwareSpec
from inferplan.errors import InputError
from inferplan.models.registry import get_model
from inferplan.models.spec import ModelSpec
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.intervals import load_intervals
from inferplan.plan.confidence import (
    Pessimism,
    option_intervals,
    pessimism,
    pessimistic_candidates,
    pool_support,
    scaled_dist,
)
from inferplan.plan.evaluate import Outcome, Settings, Task
from inferplan.plan.executor import Executor
from inferplan.plan.explain import (
    binding_slo,
    cand_key,
    explain,
    joules_per_token,
    latency_s,
    lower_bound,
    max_rate,
    pareto,
    why_none,
)
from inferplan.plan.search import Candidate, enumerate_candidates
from inferplan.sim import SLO, Dist, PoolInfo, SchedulerConfig, Workload

Objective = Literal["cost", "devices", "energy", "latency"]
OBJECTIVES = ("cost", "devices", "energy", "latency")
MAX_RATE_TOP = 3  # options whose maximum sustainable rate is simulated (others: analytic)


class PlanRequest(BaseModel):
    """What to plan for. Lists of ids; None = everything in the catalog / model native."""

    model_config = ConfigDict(extra="forbid")
    models: list[str]
    workload: Workload
    rate: float = Field(gt=0, description="requests/s the system must serve")
    slo: SLO
    objective: Objective = "cost"
    precisions: list[str] | None = None
    hardware: list[str] | None = None
    deny: list[str] = []
    classes: list[str] | None = None
    budget_usd_per_hour: float | None = Field(default=None, gt=0)
    max_devices_per_replica: int | None = Field(default=64, ge=1)
    max_replicas: int = Field(default=64, ge=1)
    disaggregation: bool = True
    requests: int = Field(default=400, ge=50, description="requests per search simulation")
    seed: int = 0
    router: str = "least_outstanding_tokens"
    scheduler: SchedulerConfig = SchedulerConfig()
    top: int = Field(default=5, ge=1, description="options verified as a whole cluster")
    prune_factor: float = Field(default=3.0, gt=1)
    calibration: Path | None = None
    hardware_files: list[Path] = []
    offload: str | None = Field(default=None, description="auto | experts (perf/offload.py)")
    host: str | None = Field(default=None, description="host CPU for offload=experts, or for llama.cpp's host layers (offload=auto, n_gpu_layers)")
    slots: int | None = Field(default=None, ge=1, description="llama.cpp server slots (default 4)")
    engine_options: dict[str, str | float] | None = Field(
        default=None, description="launch options of every candidate's engine (max_num_seqs=64, "
        "n_gpu_layers=40...: catalog.engines.ENGINE_OPTIONS); hardware whose engine does not take "
        "one is rejected with the reason")
    confidence: float | None = Field(
        default=None, gt=0, lt=1, description="plan at the pessimistic end of each metric's central "
        "interval at this level (plan/confidence.py); None: on the point estimates")


def _pairable(cp: Candidate, cd: Candidate) -> bool:
    """Whether a prefill pool and a decode pool can serve one model together: the decode pool
    reads the KV cache the prefill pool wrote, so both run the same checkpoint (weights and KV
    in one format) under one engine, on one vendor's devices (the KV connectors, NIXL, Mooncake,
    move it between builds of one engine for one vendor's GPUs)."""
    return _pair_key(cp) == _pair_key(cd)


def _best_per_hardware(cands: list[Candidate], cost: Callable[[Candidate], float]) -> list[Candidate]:
    """Each hardware's cheapest candidate by `cost`, cheapest first."""
    best: dict[str, Candidate] = {}
    for c in sorted(cands, key=cost):
        best.setdefault(c.hardware, c)
    return list(best.values())


def _pair_key(c: Candidate) -> tuple[str, ...]:
    """What a prefill and a decode pool must share (:func:`_pairable`)."""
    p = c.pool
    return (c.model, p.weight_precision, p.kv_precision, p.engine, c.vendor)


class PlanOption(BaseModel):
    id: str
    rank: int = 0
    model: str
    kind: Literal["colocated", "disaggregated"]
    pools: list[PoolInfo]
    devices: int
    usd_per_hour: float | None
    usd_per_1m_output_tokens: float | None
    usd_per_1m_tokens: float | None = Field(description="prompt + output tokens")
    joules_per_output_token: float | None
    ttft_s: Dist
    tpot_s: Dist
    e2e_s: Dist
    goodput: float | None
    capacity_rps_bound: float | None = Field(description="analytic: replicas x per-replica capacity at the TPOT bound")
    max_rate_rps: float | None = Field(default=None, description="simulated: highest rate meeting the SLO")
    max_rate_lower_bound: bool = Field(default=False, description="max_rate_rps held at every rate tried: the maximum is higher")
    max_rate_judged_rps: float | None = Field(
        default=None, description="max_rate_rps as the plan judges it (what the text shows): at a "
                                  "confidence, capped at the pessimistic analytic capacity")
    max_rate_judged_lower_bound: bool = Field(
        default=False, description="max_rate_judged_rps is a lower bound (false where the cap binds)")
    bound: str = Field(description="what bounds a decode step at the planned batch")
    binding_slo: str = Field(description="the SLO bound with the least margin")
    verified: bool = Field(description="simulated as the whole cluster behind its router")
    pareto: bool = False
    intervals: dict[str, list[float]] = Field(
        default_factory=dict, description="[low, high] of each metric (p90_tpot_s, max_rate_rps, ...) at "
        "the result's interval_level (perf/intervals.py)")
    confidence_factors: dict[str, float] = Field(
        default_factory=dict, description="with a confidence: factor on each latency (ttft, tpot, "
        "e2e; >= 1) and energy, and on capacity (throughput; <= 1) the plan was checked with; "
        "'slowdown': how many times slower every step was simulated (the latencies and J/token "
        "stored are the simulated ones over it, their factors include it)")


class Rejection(BaseModel):
    candidate: str
    reason: str


class PlanResult(BaseModel):
    models: list[str]
    workload: str
    rate: float
    slo: str
    objective: str
    options: list[PlanOption]
    frontier: list[str]
    winner: str | None
    why: list[str]
    rejected: list[Rejection]
    counts: dict[str, int]
    executor: str
    wall_s: float
    assumptions: dict[str, Any]
    warnings: list[str] = Field(default_factory=list, description="inputs the plan extrapolates "
                                "beyond (a workload longer than a model's context window)")
    confidence: float | None = Field(default=None, description="level the plan is pessimistic at")
    interval_level: float | None = Field(default=None, description="level of the options' intervals")


# --------------------------------------------------------------------------------------------


def _hardware(req: PlanRequest) -> list[HardwareSpec]:
    files = tuple(req.hardware_files)
    if req.classes:
        bad = [c for c in req.classes if c not in HARDWARE_CLASSES]
        if bad:
            raise InputError(f"unknown class {', '.join(bad)} (known: {', '.join(HARDWARE_CLASSES)})")
    if req.hardware:
        hws = [get_hardware(h, files) for h in req.hardware]
    else:
        hws = list(hardware_catalog(files).values())
    deny = {get_hardware(h, files).id for h in req.deny}
    return [h for h in hws if h.id not in deny and (not req.classes or h.hw_class in req.classes)]


def _proxy(c: Candidate, req: PlanRequest, out_tok_s: float) -> float:
    """Analytic stand-in of the objective, used only to prune before simulating."""
    r0 = math.ceil(req.rate / max(c.capacity_rps, 1e-12))
    if req.objective == "cost":
        return c.usd_per_hour * r0 if c.usd_per_hour is not None else math.inf
    if req.objective == "devices":
        return float(c.devices * r0)
    if req.objective == "energy":
        return (c.power_w_max or math.inf) * r0 / out_tok_s
    return c.ttft_floor_s + c.e2e_floor_s


def _objective_value(o: PlanOption, objective: str) -> tuple[float, ...]:
    inf = math.inf
    e2e, ttft, j = latency_s(o, "e2e") or inf, latency_s(o, "ttft") or inf, joules_per_token(o)
    if objective == "cost":
        return (o.usd_per_hour if o.usd_per_hour is not None else inf, e2e)
    if objective == "devices":
        return (o.devices, o.usd_per_hour if o.usd_per_hour is not None else inf)
    if objective == "energy":
        return (j if j is not None else inf, o.usd_per_hour or inf)
    return (e2e, ttft, o.usd_per_hour or inf)


def _pool_info(c: Candidate, role: str, replicas: int, power_w: float | None = None) -> PoolInfo:
    """The candidate's pool at `replicas` replicas (price of them all; power if simulated)."""
    one = c.pool
    usd = one.usd_per_hour * replicas if one.usd_per_hour is not None else None
    return one.model_copy(update={"role": role, "replicas": replicas, "usd_per_hour": usd,
                                  "power_w": power_w})


def _option(c: Candidate, out: Outcome, req: PlanRequest, mean_in: float, mean_out: float,
            verified: bool, c2: Candidate | None = None, pess: Pessimism | None = None) -> PlanOption:
    m = out.metrics
    assert m is not None and out.replicas is not None
    r = out.replicas
    pools = [_pool_info(c, "serve" if c2 is None else "prefill", r,
                        out.power_w if c2 is None else None)]
    if c2 is not None:
        pools.append(_pool_info(c2, "decode", out.replicas2 or 1))
    usd = [p.usd_per_hour for p in pools]
    usd_h = sum(usd) if all(u is not None for u in usd) else None  # type: ignore[arg-type]
    out_tok = req.rate * mean_out
    per_s = usd_h / 3600 if usd_h is not None else None
    power = out.power_w
    devices = sum(p.replicas * p.devices_per_replica for p in pools)
    if c2 is None:
        ident = f"{c.label} x{r}"
        cap = c.capacity_rps * r
    else:
        ident = f"P: {c.label} x{r} + D: {c2.label} x{out.replicas2}"
        cap = min(c.prefill_tok_s * r / mean_in, c2.decode_capacity_rps * (out.replicas2 or 1))
    if len(req.models) > 1:
        ident = f"{c.model}: {ident}"
    # at a confidence the steps ran s times slower: the values kept are over s (as at the point
    # estimate, read as if linear), their factors the slowdown times what is left of their own
    s_pre, s_dec = (c.slowdown, (c2 or c).slowdown) if pess else (1.0, 1.0)
    opt = PlanOption(
        id=ident, model=c.model, kind="colocated" if c2 is None else "disaggregated", pools=pools,
        devices=devices, usd_per_hour=usd_h,
        usd_per_1m_output_tokens=per_s / out_tok * 1e6 if per_s is not None else None,
        usd_per_1m_tokens=per_s / (req.rate * (mean_in + mean_out)) * 1e6 if per_s is not None else None,
        joules_per_output_token=power / out_tok / s_dec if power else None,
        ttft_s=scaled_dist(m.ttft_s, 1 / s_pre), tpot_s=scaled_dist(m.tpot_s, 1 / s_dec),
        e2e_s=scaled_dist(m.e2e_s, 1 / s_dec), goodput=m.goodput,
        capacity_rps_bound=cap, max_rate_rps=out.max_rate_rps,
        bound=(c2 or c).bound, binding_slo="", verified=verified,
        confidence_factors=_judged_factors(pess, s_pre, s_dec) if pess else {})
    opt.binding_slo = binding_slo(req.slo, opt)
    return opt


def _judged_factors(pess: Pessimism, s_pre: float, s_dec: float) -> dict[str, float]:
    """The factors on an option's values at a confidence (its simulated values over the
    slowdown): each latency's, the slowdown of its pool (TTFT the prefill pool's) times what is
    left of its own factor, i.e. the larger of the two; energy's likewise; the throughput's (the
    capacity is already that of the slowed steps); the decode pool's slowdown."""
    return {**{m: (s_pre if m == "ttft" else s_dec) * pess.residual(m, s_pre, s_dec) for m in pess.latency},
            "energy": max(s_dec, pess.energy), "throughput": pess.throughput, "slowdown": s_dec}


# --------------------------------------------------------------------------------------------


def _context_warnings(models: list[ModelSpec], w: Workload) -> list[str]:
    """A workload whose long requests (p99 prompt + p99 output) exceed a model's context."""
    longest = float(w.input.quantile(0.99)) + float(w.output.quantile(0.99))
    return [f"{m.id}: requests up to {longest:,.0f} tokens (p99 prompt + p99 output) exceed its "
            f"context window of {m.max_context_tokens:,}; the plan extrapolates"
            for m in models if 0 < m.max_context_tokens < longest]


def plan(req: PlanRequest, *, executor: str = "process", workers: int | None = None,
         ray_address: str | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> PlanResult:
    """Search (see module docstring). `progress(phase, done, total)` reports each task done."""
    wall = time.perf_counter()
    if req.workload.arrivals.kind not in ("poisson", "gamma") or req.workload.trace:
        raise InputError("plan needs an open-loop arrival process at --rate (Poisson or gamma); "
                         "replay traces with `inferplan simulate`")
    if req.slo.empty():
        raise InputError("give at least one SLO bound (e.g. --p90-ttft 1 --p90-tpot 0.05)")
    eff = load_efficiency(req.calibration)
    files = tuple(req.hardware_files)
    models = [get_model(m) for m in req.models]
    hws = _hardware(req)
    if not hws:
        raise InputError("no hardware left after --hardware/--deny/--class")
    precisions: list[str | None] = (
        [None if p in ("native", "auto") else p for p in req.precisions] if req.precisions else [None])
    check_precision_ids(*precisions)
    mean_in, mean_out = req.workload.mean_input(), req.workload.mean_output()
    level = req.confidence
    pess_cache: dict[tuple[str, str, str, str], Pessimism] = {}

    def pess_of(c: Candidate, c2: Candidate | None = None) -> Pessimism | None:
        """Factors at the pessimistic end for a candidate (prefill pool c, decode pool c2)."""
        if level is None:
            return None
        d = c2 or c
        k = (c.hw_class, d.hw_class, pool_support(c.engine, c.hardware), pool_support(d.engine, d.hardware))
        if k not in pess_cache:
            pess_cache[k] = pessimism(k[0], k[1], level, mean_in, mean_out, k[2], k[3])
        return pess_cache[k]

    def slo_of(c: Candidate, c2: Candidate | None = None) -> SLO:
        """The bounds the simulated latencies of c (+ c2) must meet (at a confidence, its steps
        slowed: what remains of each latency's factor)."""
        pe = pess_of(c, c2)
        return pe.sim_slo(req.slo, c.slowdown, (c2 or c).slowdown) if pe else req.slo

    opts = {"offload": req.offload, "host": req.host, "slots": req.slots,
            "engine_options": req.engine_options or None}
    if level is None:
        cands, unfit = enumerate_candidates(models, hws, precisions, req.workload, req.slo,
                                            req.scheduler, eff, files, req.max_devices_per_replica,
                                            opts=opts)
    else:
        cands, unfit = pessimistic_candidates(models, hws, precisions, req, eff, level, opts)
    by_key = {c.key: c for c in cands}
    rejected = [Rejection(candidate=f"{u['hardware']} ({u['precision']})", reason=u["reason"]) for u in unfit]
    counts = {"hardware": len(hws), "candidates": len(cands), "unfit": len(unfit)}
    warnings = _context_warnings(models, req.workload)
    figure = {"cost": "price", "energy": "power figure"}.get(req.objective)
    if cands and figure and not any(c.usd_per_hour if req.objective == "cost" else c.power_w_max
                                    for c in cands):
        # nothing to rank by: the fewest devices stand in (the fastest, which the unpriced
        # shortlist keeps, would be the most chips)
        warnings.append(f"no hardware searched has a catalog {figure}, so the "
                        f"{req.objective} objective cannot rank them: ranked by devices instead "
                        f"(a --hardware-file entry can give one)")
        req = req.model_copy(update={"objective": "devices"})

    alive, budget_out = [], 0
    for c in cands:
        if c.reasons:
            rejected.append(Rejection(candidate=c.label, reason="; ".join(c.reasons)))
        elif req.budget_usd_per_hour and (c.usd_per_hour is None or c.usd_per_hour > req.budget_usd_per_hour):
            budget_out += 1
            rejected.append(Rejection(candidate=c.label, reason=(
                "no catalog price: a budget cannot be checked" if c.usd_per_hour is None
                else f"one replica costs ${c.usd_per_hour:.2f}/h > the ${req.budget_usd_per_hour:,.2f}/h budget")))
        else:
            alive.append(c)
    counts["pruned_by_floors"] = len(cands) - len(alive) - budget_out
    counts["over_budget"] = budget_out
    # prune far from the best analytic proxy (unpriced hardware kept by latency, a few)
    out_tok = req.rate * mean_out
    proxies = {c.key: _proxy(c, req, out_tok) for c in alive}
    finite = [v for v in proxies.values() if math.isfinite(v)]
    best = min(finite) if finite else math.inf
    keep = [c for c in alive if proxies[c.key] <= req.prune_factor * best]
    if req.objective in ("cost", "energy"):
        unpriced = sorted((c for c in alive if not math.isfinite(proxies[c.key])),
                          key=lambda c: c.ttft_floor_s + c.e2e_floor_s)[:4]
        keep += [c for c in unpriced if c not in keep]  # all unpriced: best is inf, kept above
    for c in alive:
        if c not in keep:
            rejected.append(Rejection(candidate=c.label, reason=(
                f"analytic {req.objective} proxy {proxies[c.key]:.3g} > {req.prune_factor:g}x the best "
                f"({best:.3g}); not simulated") if math.isfinite(proxies[c.key]) else (
                f"no catalog {'power figure' if req.objective == 'energy' else 'price'}, so its "
                f"{req.objective} cannot be ranked (a --hardware-file entry can give one); only the "
                f"4 such options quickest to a first token and a whole request are simulated")))
    counts["pruned_by_proxy"] = len(alive) - len(keep)
    # simulate enough arrivals to cover several request lifetimes at the TPOT bound
    tpot_bound = min([v for m, _, v in req.slo.bounds() if m == "tpot"], default=0.05)
    window = max(60.0, 10 * mean_out * tpot_bound)
    settings = Settings(requests=req.requests, max_requests=max(Settings.max_requests, req.requests),
                        seed=req.seed, router=req.router, window_s=window,
                        lifetime_s=mean_out * tpot_bound,
                        scheduler=req.scheduler, calibration=req.calibration, hardware_files=files,
                        capacity_slack=Settings.capacity_slack if level is None else 1.0)

    def r0(cap: float) -> int:
        return max(1, min(req.max_replicas, math.ceil(req.rate / max(cap, 1e-12))))

    sims = 0
    with Executor(executor, workers, ray_address) as ex:
        def run(phase: str, tasks: list[Task]) -> list[Outcome]:
            nonlocal sims
            if progress:
                progress(phase, 0, len(tasks))
            done = 0

            def tick(i: int, o: Outcome) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress(phase, done, len(tasks))

            outs = ex.map(tasks, tick)
            sims += sum(o.sims for o in outs)
            return outs

        # ---- phase 2: replicas per candidate; P/D pools --------------------------------
        tasks = [Task("replicas", c, req.workload, req.rate, slo_of(c), settings,
                      replicas=r0(c.capacity_rps), r_cap=req.max_replicas) for c in keep]
        pd_pre: list[Candidate] = []
        pd_dec: list[Candidate] = []
        if req.disaggregation:
            for m in models:  # per model: in the 3 groups that can pair (_pairable) whose
                # prefill is cheapest per prompt token, the 2 hardware cheapest per prompt token
                # and the 2 cheapest per decode throughput (each at its best layout)
                cont = [c for c in keep if c.model == m.id and c.policy == "continuous" and c.usd_per_hour]
                groups: dict[tuple[str, ...], list[Candidate]] = {}
                for c in cont:
                    groups.setdefault(_pair_key(c), []).append(c)

                def pre_cost(c: Candidate) -> float:
                    return (c.usd_per_hour or 0) / c.prefill_tok_s

                def dec_cost(c: Candidate) -> float:
                    return (c.usd_per_hour or 0) / c.decode_capacity_rps

                for g in sorted(groups.values(), key=lambda g: min(map(pre_cost, g)))[:3]:
                    pd_pre += _best_per_hardware(g, pre_cost)[:2]
                    pd_dec += _best_per_hardware(g, dec_cost)[:2]
            tasks += [Task("prefill_pool", c, req.workload, req.rate, slo_of(c), settings,
                           replicas=max(1, math.ceil(req.rate * mean_in / c.prefill_tok_s / 0.7)),
                           r_cap=req.max_replicas) for c in pd_pre]
            tasks += [Task("decode_pool", c, req.workload, req.rate, slo_of(c), settings,
                           replicas=r0(c.decode_capacity_rps), r_cap=req.max_replicas) for c in pd_dec]
        outs = run("simulate candidates", tasks)
        options: list[PlanOption] = []
        pre_ok: dict[str, Outcome] = {}
        dec_ok: dict[str, Outcome] = {}
        for t, out in zip(tasks, outs, strict=True):
            if t.kind == "replicas":
                if out.feasible and out.metrics is not None:
                    options.append(_option(t.cand, out, req, mean_in, mean_out, verified=False,
                                           pess=pess_of(t.cand)))
                else:
                    rejected.append(Rejection(candidate=t.cand.label,
                                              reason=out.error or "; ".join(out.violations) or "SLO missed"))
            elif out.feasible and t.kind == "prefill_pool":
                pre_ok[t.cand.key] = out
            elif out.feasible and t.kind == "decode_pool":
                dec_ok[t.cand.key] = out
        counts["feasible_colocated"] = len(options)

        # ---- phase 3: verify the best, pairs, max rate ------------------------------------
        def budget_ok(o: PlanOption) -> bool:
            # an option without a price cannot be shown to be within a budget
            return not req.budget_usd_per_hour or (o.usd_per_hour is not None
                                                   and o.usd_per_hour <= req.budget_usd_per_hour)

        options.sort(key=lambda o: _objective_value(o, req.objective))
        top = [o for o in options if budget_ok(o)][:req.top]
        vtasks = []
        for o in top:
            c = by_key[cand_key(o)]
            vtasks.append(Task("verify", c, req.workload, req.rate, slo_of(c), settings,
                               replicas=o.pools[0].replicas, r_cap=req.max_replicas))
        pairs = []
        for kp, op_ in pre_ok.items():
            for kd, od in dec_ok.items():
                cp, cd = by_key[kp], by_key[kd]
                if not _pairable(cp, cd):
                    continue
                cost = ((cp.usd_per_hour or 0) * (op_.replicas or 1) + (cd.usd_per_hour or 0) * (od.replicas or 1))
                pairs.append((cost, cp, cd, op_.replicas or 1, od.replicas or 1))
        pairs.sort(key=lambda x: x[0])
        for _, cp, cd, rp, rd in pairs[:4]:
            vtasks.append(Task("pair", cp, req.workload, req.rate, slo_of(cp, cd), settings, replicas=rp,
                               cand2=cd, replicas2=rd, r_cap=req.max_replicas))
        vouts = run("verify top options", vtasks)
        verified: list[PlanOption] = []
        for t, out in zip(vtasks, vouts, strict=True):
            if not (out.feasible and out.metrics is not None):
                rejected.append(Rejection(candidate=t.cand.label + (f" + {t.cand2.label}" if t.cand2 else ""),
                                          reason=out.error or "; ".join(out.violations) or "SLO missed"))
                continue
            verified.append(_option(t.cand, out, req, mean_in, mean_out, verified=True, c2=t.cand2,
                                    pess=pess_of(t.cand, t.cand2)))
        verified.sort(key=lambda o: _objective_value(o, req.objective))
        mtasks = [Task("max_rate", by_key[cand_key(o)], req.workload, req.rate,
                       slo_of(by_key[cand_key(o)]), settings,
                       replicas=o.pools[0].replicas)
                  for o in verified if o.kind == "colocated" and budget_ok(o)][:MAX_RATE_TOP]
        mouts = run("maximum sustainable rate", mtasks)
        maxr = {t.cand.key: o for t, o in zip(mtasks, mouts, strict=True)}
        for opt in verified:
            mo = maxr.get(cand_key(opt))
            if opt.kind == "colocated" and mo is not None:
                opt.max_rate_rps, opt.max_rate_lower_bound = mo.max_rate_rps, mo.max_rate_lower_bound
                opt.max_rate_judged_rps = max_rate(opt, req.rate)
                opt.max_rate_judged_lower_bound = lower_bound(opt, req.rate)
        counts["feasible_disaggregated"] = sum(1 for o in verified if o.kind == "disaggregated")
        counts["simulations"] = sims

    top_keys = {cand_key(o) for o in top}
    final = verified + [o for o in options if cand_key(o) not in top_keys]
    over = [o for o in final if not budget_ok(o)]
    counts["over_budget"] += len(over)  # whole clusters over it (one replica was within it)
    for o in over:
        rejected.append(Rejection(candidate=o.id, reason=(f"${o.usd_per_hour:.2f}/h > the ${req.budget_usd_per_hour:,.2f}/h budget" if o.usd_per_hour is not None
                                                          else "no catalog price: a budget cannot be checked")))
    final = [o for o in final if budget_ok(o)]
    table = load_intervals()
    for o in final:
        s = o.confidence_factors.get("slowdown", 1.0)  # intervals about the point estimates
        o.intervals = option_intervals(
            o.ttft_s, o.tpot_s, o.e2e_s,
            {"max_rate_rps": o.max_rate_rps and o.max_rate_rps * s,
             "capacity_rps_bound": o.capacity_rps_bound and o.capacity_rps_bound * s},
            o.joules_per_output_token, o.pools[0].hardware_class, o.pools[-1].hardware_class, level, mean_in,
            mean_out, *(pool_support(p.engine, p.hardware) for p in (o.pools[0], o.pools[-1])))
    # options verified as whole clusters first (the search's best), then the rest
    final.sort(key=lambda o: (not o.verified, _objective_value(o, req.objective)))
    for i, o in enumerate(final, 1):
        o.rank = i
    front = pareto(final)
    for o in final:
        o.pareto = o.id in front
    win = final[0] if final else None
    runner = final[1] if len(final) > 1 else None
    why = explain(win, runner, by_key, req) if win else why_none(rejected, req.budget_usd_per_hour)
    assumptions: dict[str, Any] = {}
    if level is not None:
        by_desc: dict[str, list[str]] = {}  # pools (engine@hardware, prefill/decode) that share factors
        for (_, _, sa, sb), pe in pess_cache.items():
            by_desc.setdefault(pe.describe(), []).append(sa if sa == sb else f"{sa}/{sb}")
        said = "; ".join(f"{', '.join(pools)}: {desc}" for desc, pools in by_desc.items())
        assumptions["confidence"] = (
            f"planned at the pessimistic end of the {level:.0%} prediction intervals (plan/confidence.py): "
            f"every step simulated s times slower, s the larger of TPOT's high-end factor and 1 / "
            f"throughput's low-end factor, at the target rate (its batches and queues as they would "
            f"grow), the simulated latencies x what remains of their factor must meet the SLO, and "
            f"replica capacities are those of the slowed steps ({said})")
        why.insert(1 if win else 0, f"At {level:.0%} confidence: the plan holds at the pessimistic "
                   f"end of each metric's {level:.0%} interval ({said}).")
    return PlanResult(
        warnings=warnings,
        models=[m.id for m in models], workload=req.workload.name, rate=req.rate,
        slo=req.slo.describe(), objective=req.objective, options=final, frontier=front,
        winner=win.id if win else None, why=why, rejected=rejected, counts=counts,
        executor=executor, wall_s=time.perf_counter() - wall,
        assumptions={
            "search_simulations": (f"{req.requests} requests per simulation of one replica at "
                                   "rate/replicas (Poisson split; conservative for the router)"),
            "verification": f"top {req.top} options and disaggregated pairs simulated as whole clusters "
                            f"behind '{req.router}'",
            "cost": "catalog $/h per device (or purchase amortized + power) x devices x replicas",
            "energy": "idle + (TDP - idle) x utilization at the simulated load / output tokens/s",
            "python": sys.version.split()[0],
            **assumptions,
        },
        confidence=level,
        interval_level=(level if level is not None else table.level) if table else None)


