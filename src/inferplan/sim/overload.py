"""Is a simulated run overloaded? Open-loop arrivals faster than the system serves them, or
requests queueing for longer than they are served. One definition for ``simulate``'s warnings
(cli/render_sim.py) and the planner's feasibility (plan/evaluate.py): an SLO on TPOT alone is
met by an overloaded replica (its batch is full, its queue grows), so the planner checks this
too."""

from __future__ import annotations

from typing import Any

from inferplan.units import fmt_num, fmt_time_s

OVERLOAD_QUEUE_S = 1.0  # p90 queue wait below this is never called overload


# Overload: while requests arrive, the number in the system (arrived, not finished) keeps
# growing. Compared between the two halves of the arrival window after its ramp-up (the first
# third, or the ramp time if longer: SimMetrics.ramp_s, sim/metrics.py ramp_time_s; a stable
# system fills for about that long before it levels off); a window
# with less than one ramp time left after it cannot tell, and then the requests waiting (a queue
# does not ramp up) and the queue-wait test below judge; a stable run stays flat, an overloaded
# one grows by this factor and by
# more than the noise of a stable one: OVERLOAD_SIGMAS x sqrt(mean) requests (a stable system's
# count fluctuates like a Poisson count, sd ~ sqrt(mean); 3 + 3 sqrt(mean) kept 30 seeds of a
# lightly loaded 2 x L40S run at 2 req/s quiet, where "grows by 3 and 30%" flagged 2 of them).
OVERLOAD_GROWTH = 1.3
OVERLOAD_SIGMAS = 3.0
MIN_REQUESTS_FOR_TREND = 50


SHORT_RUN_LIFETIMES = 3.0  # arrivals spanning fewer request lifetimes than this: not a steady state


def _round_up(x: float) -> int:
    """Up to two significant digits: 17,345 -> 18,000."""
    import math

    if x <= 100:
        return max(1, math.ceil(x))
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return int(math.ceil(x / scale) * scale)


def in_system_growth(m: Any, window_s: float, ramp_s: float = 0.0,
                     series: str = "in_system") -> tuple[float, float] | None:
    """Mean requests in the system (or another timeline ``series``) over the two halves of
    ``window_s`` after its ramp-up (the first third, or ``ramp_s`` if longer); None when less
    than ``ramp_s`` is left after it."""
    import numpy as np

    tl = getattr(m, "timeline", None)
    if tl is None or len(tl.t_s) < 10 or window_s <= 0:
        return None
    start = max(window_s / 3, ramp_s)
    if window_s - start < max(ramp_s, 1e-12):
        return None
    t = np.asarray(tl.t_s)
    n = np.asarray(getattr(tl, series), dtype=float)
    half = (start + window_s) / 2
    mid = (t >= start) & (t < half)
    last = (t >= half) & (t < window_s)
    if not mid.any() or not last.any():
        return None
    return float(n[mid].mean()), float(n[last].mean())


OVERLOAD_OVER_CAPACITY = 1.3  # offered rate above this x the analytic capacity: overloaded


def outcome_problems(res: Any, offered_rate_rps: float | None = None,
                     capacity_rps: float | None = None) -> tuple[str | None, list[str]]:
    """(why nothing was served, or None; overload warnings) for a simulation result.

    Overload: open-loop arrivals faster than the system serves them, or requests queueing for
    longer than they are served; where a run is too short to show either, arrivals above
    OVERLOAD_OVER_CAPACITY x ``capacity_rps`` (the replicas' analytic capacity, an upper bound:
    Pool.capacity_rps)."""
    m = res.metrics
    served_none = None
    if m.completed == 0:
        why = "; ".join(getattr(res, "violations", None) or []) or (
            f"{m.rejected} of {m.requests} requests rejected" if m.rejected else "no request finished")
        served_none = f"no request was served ({why})"
    warnings: list[str] = []
    if m.completed and m.rejected:
        warnings.append(f"{m.rejected:,} of {m.requests:,} requests were rejected (they do not fit "
                        "the KV cache)")
    wait, e2e = m.queue_wait_s.p90, m.e2e_s.p90
    trend, queue, what = None, None, "requests in the system"
    if offered_rate_rps and m.completed >= MIN_REQUESTS_FOR_TREND:
        window = m.requests / offered_rate_rps
        trend = in_system_growth(m, window, getattr(m, "ramp_s", 0.0) or 0.0)
        if trend is None:  # too short a run to see past the ramp-up: the queue does not ramp up
            queue = in_system_growth(m, window, series="queue_len")
    grows = next(((g, w) for g, w in ((trend, what), (queue, "requests waiting"))
                  if g and g[1] > OVERLOAD_GROWTH * max(g[0], 1.0)
                  and g[1] - g[0] >= 3 + OVERLOAD_SIGMAS * g[0] ** 0.5), None)
    if grows:
        (before, after), what = grows
        warnings.append(f"overloaded: requests arrive at {fmt_num(offered_rate_rps)} req/s, faster "
                        f"than they are served ({fmt_num(m.requests_per_s)} req/s over the run): "
                        f"the {what} grow from {before:.0f} to {after:.0f} "
                        f"while they arrive (p90 E2E {fmt_time_s(e2e)}); lower the rate or add "
                        "replicas")
    elif trend is None and offered_rate_rps and capacity_rps \
            and offered_rate_rps > OVERLOAD_OVER_CAPACITY * capacity_rps:
        warnings.append(f"overloaded: requests arrive at {fmt_num(offered_rate_rps)} req/s, above the "
                        f"{fmt_num(capacity_rps)} req/s the replicas serve at most at their largest "
                        "batch (analytic; the run is too short to show its queue grow); lower the "
                        "rate or add replicas")
    elif trend is None and m.completed and wait is not None and e2e is not None \
            and wait > OVERLOAD_QUEUE_S and wait > 0.5 * e2e:
        # only where no trend could be read (a short run, few requests, closed loop): a stable
        # single-slot server waits longer than it serves from ~50% load on (M/D/1 at rho 0.5:
        # mean wait = half a service), with no queue that grows
        warnings.append(f"overloaded: p90 queue wait {fmt_time_s(wait)} of a p90 end-to-end "
                        f"{fmt_time_s(e2e)} (requests wait longer than they are served; mean queue "
                        f"{m.mean_queue_len:.0f}, max {m.max_queue_len:,}); lower the rate or add "
                        "replicas")
    return served_none, warnings


def short_run_note(m: Any, offered_rate_rps: float | None) -> str | None:
    """A caveat (not a problem: the planner's runs are sized for it) when an open-loop run's
    arrivals span fewer than SHORT_RUN_LIFETIMES ramp times (SimMetrics.ramp_s)."""
    life = getattr(m, "ramp_s", 0.0)
    if not offered_rate_rps or not m.completed or not life:
        return None
    window = m.requests / offered_rate_rps
    if window >= SHORT_RUN_LIFETIMES * life:
        return None
    # twice the threshold: the ramp time read on a longer run grows (more of its tail is seen)
    need = _round_up(2 * SHORT_RUN_LIFETIMES * life * offered_rate_rps)
    costs = ("$ and J per token are the whole run's, ramp-up and drain included" if m.steady is None
             else "$ and J per token come from its short steady part")
    return (f"short run: its arrivals span {fmt_time_s(window)}, less than {SHORT_RUN_LIFETIMES:g} "
            f"times the {fmt_time_s(life)} the system takes to fill (p90 E2E of the first arrivals), "
            "so most requests met a filling or draining system: latencies read low, the throughput "
            f"({fmt_num(m.requests_per_s)} of {fmt_num(offered_rate_rps)} req/s offered) counts the "
            f"drain, and {costs}; for steady-state numbers simulate at least {need:,} requests (-n)")
