"""Simulation tasks of the planner, one function per kind, runnable in any worker process.

A :class:`Task` carries everything a worker needs (ids, the workload, the SLO, the settings), so
the same tasks run in-process, in a local process pool or on Ray. Workers keep the simulator's
tables of each deployment they have built (``_POOLS``) for the tasks that follow.

Search simulations study one replica fed a Poisson (or gamma) stream at ``rate / replicas``:
random splitting of a Poisson stream is Poisson, and a least-outstanding-tokens router only
smooths each replica's load, so this errs on the safe side. The top options are then verified
with the whole cluster behind its router (``verify``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from inferplan.errors import InferplanError
from inferplan.perf.efficiency import load_efficiency
from inferplan.plan.confidence import slowed_deployment, slowed_factors
from inferplan.plan.search import Candidate
from inferplan.sim import (
    SLO,
    Arrivals,
    Pool,
    SchedulerConfig,
    SimMetrics,
    SimResult,
    Workload,
    build_pool,
    outcome_problems,
    simulate_pools,
)
from inferplan.units import fmt_num

# replicas never go below rate / (slack x analytic capacity). The capacity is the largest batch
# within the TPOT bound over its step time (Little's law), so above it the batch, and the mean
# TPOT, must grow past the bound: no steady state meets a TPOT SLO there. A slack above 1 let
# short simulations, still filling up, pass a cluster that a long run shows overloaded.
CAPACITY_SLACK = 1.0
UNSAMPLED_SCALE = 8.0  # Settings.n_sampled: a cluster that cannot be sampled runs up to 8x longer
MAX_WARMUP = 0.5  # Settings.warmup_for: at most half a run is left out


@dataclass
class Settings:
    """How long simulations run: long enough to cover `window_s` of arrivals (several request
    lifetimes, so a queue that grows shows up), between `requests` and `max_requests`."""

    requests: int = 400  # fewest requests per simulation
    max_requests: int = 3000
    window_s: float = 60.0  # arrivals simulated, seconds
    warmup: float = 0.2  # share of the window left out of latency percentiles (at least...)
    lifetime_s: float = 0.0  # ...one request's lifetime at the SLO (planner: O x the TPOT bound)
    seed: int = 0
    router: str = "least_outstanding_tokens"
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    calibration: Path | None = None
    hardware_files: tuple[Path, ...] = ()
    # replicas never go below rate / (slack x analytic capacity); 1 at a confidence level, where
    # the capacity is already read at the low end of its interval and the simulation runs at
    # the point estimate's speed
    capacity_slack: float = CAPACITY_SLACK

    # a cluster too busy for `max_requests` to cover `window_s` of its arrivals is simulated as a
    # sample of its replicas at their share of the rate (at least this many replicas)
    min_sample_replicas: int = 4

    def n(self, rate: float, scale: float = 1.0) -> int:
        return int(min(self.max_requests * scale, max(self.requests, rate * self.window_s)))

    def warmup_for(self, requests: int, rate: float) -> float:
        """The share of a run of ``requests`` at ``rate`` left out of its percentiles: at least
        one request lifetime (a cluster fills for that long: a 60-s run of 25-s requests read
        from its 12th second measured a filling system), at most ``MAX_WARMUP``."""
        run_s = requests / max(rate, 1e-12)
        return max(self.warmup, min(MAX_WARMUP, self.lifetime_s / max(run_s, 1e-12)))

    def n_sampled(self, rate: float) -> int:
        """Requests of a cluster (or pair) simulation at ``rate``, after :meth:`sample`: a
        cluster that cannot be sampled below ``min_sample_replicas`` (a pair of 5 + 3 replicas
        at 200 req/s) still covers ``window_s`` of arrivals, up to ``UNSAMPLED_SCALE`` x
        ``max_requests`` (3,000 requests at 200 req/s are 15 s of arrivals, less than a 500-token
        answer's lifetime: its TPOT read a filling cluster, 36 ms where a long run gives 50)."""
        return self.n(rate, scale=UNSAMPLED_SCALE)

    def sample(self, replicas: int, rate: float) -> int:
        """Replicas to simulate for a cluster of ``replicas`` behind one router at ``rate``.

        The whole cluster, if ``max_requests`` cover ``window_s`` of its arrivals; else the
        fewest (but ``min_sample_replicas``) whose share of the rate they do cover, so the run
        reaches its steady state (3,000 requests at 1,000 req/s are 3 s of arrivals, less than
        one chat request's lifetime: every request would see a filling system). Replicas behind
        a least-loaded router are nearly independent; a smaller sample pools less, so it errs
        slow."""
        if rate * self.window_s <= self.max_requests:
            return replicas
        k = math.ceil(replicas * self.max_requests / (rate * self.window_s))
        return min(replicas, max(self.min_sample_replicas, k))

    def sample_pair(self, prefill: int, decode: int, rate: float) -> tuple[int, int, float]:
        """:meth:`sample` for a disaggregated pair: (prefill replicas, decode replicas, share of
        the rate) simulated: the share of both pools whose requests cover ``window_s``, but at
        least ``min_sample_replicas`` in the smaller pool; each pool rounded, the rate at the
        larger of the two rounded shares (the pool rounded down is loaded a little more than in
        the full cluster: errs slow)."""
        if rate * self.window_s <= self.max_requests:
            return prefill, decode, 1.0
        share = max(self.max_requests / (rate * self.window_s),
                    self.min_sample_replicas / min(prefill, decode))
        if share >= 1:
            return prefill, decode, 1.0
        p, d = max(1, round(prefill * share)), max(1, round(decode * share))
        return p, d, max(p / prefill, d / decode)


@dataclass
class Task:
    kind: str  # replicas | prefill_pool | decode_pool | verify | pair | max_rate
    cand: Candidate
    workload: Workload
    rate: float  # requests/s of the whole system
    slo: SLO
    settings: Settings
    replicas: int = 1  # first guess (search) or fixed (verify, max_rate)
    r_cap: int = 64
    cand2: Candidate | None = None  # decode pool of a pair
    replicas2: int = 1


@dataclass
class Outcome:
    key: str
    kind: str
    feasible: bool
    replicas: int | None
    replicas2: int | None = None
    metrics: SimMetrics | None = None
    usd_per_1m_output_tokens: float | None = None
    joules_per_output_token: float | None = None
    power_w: float | None = None
    violations: list[str] = field(default_factory=list)
    max_rate_rps: float | None = None
    max_rate_lower_bound: bool = False  # every rate probed held: the maximum is higher
    sims: int = 0
    error: str = ""


_POOLS: dict[tuple[str, ...], Pool] = {}


def _pool(c: Candidate, w: Workload, s: Settings) -> Pool:
    key = (c.key, w.model_dump_json(), s.scheduler.model_dump_json(), str(s.calibration),
           repr(sorted(c.opts.items())), repr(c.slowdown))  # offload / host / slots change the deployment
    pool = _POOLS.get(key)
    if pool is None:
        if len(_POOLS) > 256:
            _POOLS.clear()
        pool = build_pool(c.model, c.spec, w, s.scheduler, eff=load_efficiency(s.calibration),
                          hardware_files=s.hardware_files)
        if c.slowdown != 1.0:  # plan --confidence: the steps of the pessimistic end
            pool = replace(pool, factors=slowed_factors(pool.factors, c.slowdown),
                           dep=slowed_deployment(pool.dep, c.slowdown))
        _POOLS[key] = pool
    return pool


def at_rate(w: Workload, rate: float) -> Workload:
    a = w.arrivals
    return w.model_copy(update={"arrivals": Arrivals(kind=a.kind if a.kind == "gamma" else "poisson",
                                                     rate=rate, cv=a.cv)})


def _slo_for(slo: SLO, metrics: tuple[str, ...]) -> SLO:
    keep = {f"p{p}_{m}_s": v for m, p, v in slo.bounds() if m in metrics}
    return SLO(**keep)


def _one(t: Task, replicas: int, rate: float | None = None, role: str = "both",
         slo: SLO | None = None) -> SimResult:
    """One replica at (rate or t.rate) / replicas."""
    pool = _pool(t.cand, t.workload, t.settings)
    per = (rate or t.rate) / replicas
    n = t.settings.n(per)
    return simulate_pools(pool, at_rate(t.workload, per), requests=n,
                          seed=t.settings.seed, slo=slo or t.slo, role=role,
                          warmup=t.settings.warmup_for(n, per))


def _problems(res: SimResult, offered_rps: float) -> list[str]:
    """Why a run does not hold beyond its SLO: nothing served, requests rejected, or arrivals
    outrunning the system (sim/overload.py). An SLO on TPOT alone is met by an overloaded
    replica (a full batch steps as fast as ever while its queue grows), so this is checked too."""
    served_none, warnings = outcome_problems(res, offered_rps)
    return ([served_none] if served_none else []) + warnings


def _holds(res: SimResult, offered_rps: float) -> bool:
    return bool(res.slo_met) and not _problems(res, offered_rps)


def _outcome(t: Task, res: SimResult, replicas: int, sims: int, replicas2: int | None = None,
             offered_rps: float | None = None) -> Outcome:
    problems = _problems(res, t.rate if offered_rps is None else offered_rps)
    return Outcome(key=t.cand.key if t.cand2 is None else f"{t.cand.key}+{t.cand2.key}",
                   kind=t.kind, feasible=bool(res.slo_met) and not problems, replicas=replicas,
                   replicas2=replicas2, metrics=res.metrics,
                   usd_per_1m_output_tokens=res.usd_per_1m_output_tokens,
                   joules_per_output_token=res.joules_per_output_token,
                   power_w=sum(p.power_w or 0 for p in res.pools) or None,
                   violations=list(res.violations) + problems, sims=sims)


def search_replicas(t: Task, role: str = "both", slo: SLO | None = None) -> Outcome:
    """Fewest replicas meeting the SLO, starting from the analytic guess t.replicas (power is
    scaled from the one simulated replica to all of them)."""
    out = _search_replicas(t, role, slo)
    if out.power_w and out.replicas:
        out.power_w *= out.replicas
    return out


def _floor(t: Task) -> int:
    """The fewest replicas of a colocated candidate the search accepts (Settings.capacity_slack)."""
    return max(1, math.ceil(t.rate / (t.settings.capacity_slack * max(t.cand.capacity_rps, 1e-12))))


def _search_replicas(t: Task, role: str, slo: SLO | None) -> Outcome:
    tried: dict[int, SimResult] = {}

    def ok(r: int) -> bool:
        if r not in tried:
            tried[r] = _one(t, r, role=role, slo=slo)
        return _holds(tried[r], t.rate / r)

    floor = _floor(t) if role == "both" else 1
    if floor > t.r_cap:  # the analytic capacity already needs more than the limit: no simulation
        slack = t.settings.capacity_slack
        allow = f", even allowing {slack:g}x that" if slack > 1 else ""
        return Outcome(key=t.cand.key, kind=t.kind, feasible=False, replicas=None, violations=[
            f"needs at least {floor:,} replicas ({fmt_num(t.rate)} req/s at an analytic capacity of "
            f"{fmt_num(t.cand.capacity_rps)} req/s per replica{allow}), more than --max-replicas "
            f"{t.r_cap}"])
    r = max(floor, min(t.replicas, t.r_cap))
    if ok(r):
        while r > floor and ok(r - 1):
            r -= 1
        return _outcome(t, tried[r], r, len(tried), offered_rps=t.rate / r)
    step = 1
    while r < t.r_cap:
        r = min(t.r_cap, r + step)
        if ok(r):
            # back off the overshoot of the growing step
            while r - 1 not in tried and r > 1 and ok(r - 1):
                r -= 1
            return _outcome(t, tried[r], r, len(tried), offered_rps=t.rate / r)
        step = min(step * 2, 8)
    out = _outcome(t, tried[r], r, len(tried), offered_rps=t.rate / r)
    out.feasible = False
    out.replicas = None
    out.violations = [f"SLO missed even with {r} replicas: " + "; ".join(out.violations)]
    return out


def verify(t: Task) -> Outcome:
    """The whole cluster behind its router at t.replicas (and one fewer, if that holds too)."""
    sims = 0

    def run(r: int) -> tuple[SimResult, float]:
        nonlocal sims
        sims += 1
        return _cluster(t, r, t.rate)

    r = t.replicas
    res, offered = run(r)
    if _holds(res, offered) and r > _floor(t):
        fewer, off = run(r - 1)
        if _holds(fewer, off):
            r, res, offered = r - 1, fewer, off
    while not _holds(res, offered) and r < t.r_cap:  # the split was optimistic for this workload
        r += 1
        res, offered = run(r)
    out = _outcome(t, res, r, sims, offered_rps=offered)
    k = t.settings.sample(r, t.rate)
    if out.power_w and k < r:
        out.power_w *= r / k
    return out


def _cluster(t: Task, replicas: int, rate: float) -> tuple[SimResult, float]:
    """The cluster of ``replicas`` behind its router at ``rate`` (or a sample of its replicas at
    their share of the rate: Settings.sample); (result, the rate the simulation offered)."""
    k = t.settings.sample(replicas, rate)
    offered = rate * k / replicas
    n = t.settings.n_sampled(offered)
    res = simulate_pools(_pool(t.cand, t.workload, t.settings), at_rate(t.workload, offered),
                         requests=n, seed=t.settings.seed, replicas=k,
                         router=t.settings.router, slo=t.slo, warmup=t.settings.warmup_for(n, offered))
    return res, offered


def pair(t: Task) -> Outcome:
    """A disaggregated pair (prefill pool t.cand x t.replicas, decode pool t.cand2 x
    t.replicas2) as one cluster; adds a decode replica while the SLO is missed."""
    assert t.cand2 is not None
    pre = _pool(t.cand, t.workload, t.settings)
    dec = _pool(t.cand2, t.workload, t.settings)
    sims = 0
    rp, rd = t.replicas, t.replicas2
    assert rd is not None
    while True:
        sp, sd, share = t.settings.sample_pair(rp, rd, t.rate)  # a busy pair: a sample of it
        offered = t.rate * share
        n = t.settings.n_sampled(offered)
        res = simulate_pools(pre, at_rate(t.workload, offered), requests=n,
                             seed=t.settings.seed, replicas=sp, decode=dec, decode_replicas=sd,
                             router=t.settings.router, slo=t.slo, warmup=t.settings.warmup_for(n, offered))
        sims += 1
        if _holds(res, offered) or sims >= 3:
            break
        ttft_bad = any("TTFT" in v for v in res.violations)
        before = (sp, sd, share)
        for _ in range(max(rp, rd)):  # grow until the sample changes (else the same run again)
            if ttft_bad:
                rp += 1
            else:
                rd += 1
            if t.settings.sample_pair(rp, rd, t.rate) != before:
                break
    out = _outcome(t, res, rp, sims, replicas2=rd, offered_rps=offered)
    if out.power_w and share < 1:
        out.power_w /= share
    return out


def max_rate(t: Task, probes: int = 2, steps: int = 2) -> Outcome:
    """Highest total rate the whole cluster (t.replicas behind the router) holds within the
    SLO: grow the rate by 30% while it holds, then bisect (about +-7%)."""
    sims = 0

    def holds(rate: float) -> bool:
        nonlocal sims
        sims += 1
        return _holds(*_cluster(t, t.replicas, rate))

    lo, hi = t.rate, t.rate * 1.3
    for _ in range(probes):
        if not holds(hi):
            break
        lo, hi = hi, hi * 1.3
    else:
        hi = 0.0  # still holding: report the last rate that held, as a lower bound
    if hi:
        for _ in range(steps):
            mid = (lo + hi) / 2
            if holds(mid):
                lo = mid
            else:
                hi = mid
    return Outcome(key=t.cand.key, kind=t.kind, feasible=True, replicas=t.replicas, sims=sims,
                   max_rate_rps=lo, max_rate_lower_bound=not hi)


def run_task(t: Task) -> Outcome:
    """Entry point for every executor (a module-level function: picklable)."""
    try:
        if t.kind == "replicas":
            return search_replicas(t)
        if t.kind == "prefill_pool":
            return search_replicas(t, role="prefill", slo=_slo_for(t.slo, ("ttft",)))
        if t.kind == "decode_pool":
            return search_replicas(t, role="decode", slo=_slo_for(t.slo, ("tpot",)))
        if t.kind == "verify":
            return verify(t)
        if t.kind == "pair":
            return pair(t)
        if t.kind == "max_rate":
            return max_rate(t)
        raise ValueError(f"unknown task kind {t.kind}")
    except InferplanError as e:
        return Outcome(key=t.cand.key, kind=t.kind, feasible=False, replicas=None, error=str(e))
