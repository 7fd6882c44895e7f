"""Reading a plan's options: each value as the plan judges it (at the pessimistic end with a
confidence level), the binding SLO, the Pareto frontier, and why the winner wins (or why nothing
qualifies). Pure functions of the planner's result types (``planner.py``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.plan.planner import PlanOption, PlanRequest, Rejection
    from inferplan.plan.search import Candidate
    from inferplan.sim import SLO


def latency_s(o: PlanOption, metric: str, pct: int = 90) -> float | None:
    """A simulated latency percentile (ttft, tpot, e2e) as the plan judges it: at the pessimistic
    end with a confidence level, else the simulated value."""
    v: float | None = getattr(o, f"{metric}_s").at(pct)
    return None if v is None else v * o.confidence_factors.get(metric, 1.0)


def joules_per_token(o: PlanOption) -> float | None:
    j = o.joules_per_output_token
    return None if j is None else j * o.confidence_factors.get("energy", 1.0)


def max_rate(o: PlanOption, rate: float) -> float | None:
    """The simulated maximum rate as the plan judges it. At a confidence the simulation already
    checked the latencies at their interval's high end (the tightened SLO), so its maximum is
    not scaled again; it is capped at the analytic capacity read at the throughput's low end
    (which the replicas cover by construction: planner floors). A maximum the search did not
    reach (every probe held) is at least the target `rate`."""
    if o.max_rate_rps is None:
        return None
    m = o.max_rate_rps
    if capped(o, rate):  # the capacity is already read at the low end
        m = max(o.capacity_rps_bound or 0.0, rate)
    return max(m, rate) if o.max_rate_lower_bound else m


def cand_key(o: PlanOption) -> str:
    """The key of the candidate an option was built from (search.Candidate.key)."""
    return f"{o.model}|{(p := o.pools[0]).hardware}|{p.weight_precision}|tp{p.tp}pp{p.pp}ep{p.ep}"


def capped(o: PlanOption, rate: float) -> bool:
    """Whether an option's maximum rate is the pessimistic analytic capacity (a confidence plan
    whose throughput factor is below 1 and whose simulated maximum reads higher): an upper
    bound then, not the "at least" of a maximum the search did not reach."""
    thr = o.confidence_factors.get("throughput", 1.0)
    return (thr < 1 and o.max_rate_rps is not None and o.capacity_rps_bound is not None
            and o.max_rate_rps > max(o.capacity_rps_bound, rate))


def lower_bound(o: PlanOption, rate: float) -> bool:
    """Whether max_rate(o, rate) is a lower bound ("≥")."""
    return o.max_rate_lower_bound and not capped(o, rate)


def binding_slo(slo: SLO, o: PlanOption) -> str:
    """The SLO bound with the least margin, as the plan judges its latencies."""
    best, text = math.inf, "none"
    for metric, pct, bound in slo.bounds():
        v = latency_s(o, metric, pct)
        if v is None:
            continue
        margin = (bound - v) / bound
        if margin < best:
            tag = " at the interval's high end" if o.confidence_factors else ""
            best, text = margin, f"p{pct} {metric.upper()} {v:.3g} s{tag} of {bound:g} s ({margin:.0%} margin)"
    return text


def pareto(options: list[PlanOption]) -> list[str]:
    """Ids of options no other option beats on all of ($/h, p90 E2E, J/token)."""
    def vec(o: PlanOption) -> tuple[float, float, float]:
        inf = math.inf
        j = joules_per_token(o)
        return (o.usd_per_hour if o.usd_per_hour is not None else inf, latency_s(o, "e2e") or inf,
                j if j is not None else inf)

    vs = [vec(o) for o in options]
    front = []
    for i, v in enumerate(vs):
        dominated = any(all(a <= b for a, b in zip(w, v, strict=True)) and w != v
                        for j, w in enumerate(vs) if j != i)
        if not dominated:
            front.append(options[i].id)
    return front


def explain(win: PlanOption, runner: PlanOption | None, cands: dict[str, Candidate],
            req: PlanRequest) -> list[str]:
    """Why the winner wins: what bounds it, its binding SLO, headroom, what the runner-up lacks."""
    def money(x: float | None) -> str:
        return "no catalog price" if x is None else f"${x:,.2f}/h"

    lines = []
    lines.append(
        f"{win.id} serves {req.rate:g} req/s within {req.slo.describe()} for {money(win.usd_per_hour)}"
        + (f" (${win.usd_per_1m_output_tokens:.3g} per 1M output tokens)" if win.usd_per_1m_output_tokens else "")
        + f" on {win.devices} device{'s' if win.devices != 1 else ''}.")
    lines.append(f"Binding SLO: {win.binding_slo}; decode steps are {win.bound}-bound on "
                 f"{win.pools[-1].hardware}.")
    if (mr := win.max_rate_judged_rps):
        least = "at least " if win.max_rate_judged_lower_bound else ""
        thr = win.confidence_factors.get("throughput")
        lines.append(f"Headroom: holds the SLO up to {least}~{mr:.3g} req/s ({mr / req.rate:.2f}x the "
                     "target; simulated" + (", latencies at their interval's high end, at most the "
                                            f"analytic capacity at x{thr:.3g} throughput: "
                                            f"{win.capacity_rps_bound:.3g} req/s)."
                                            if thr and thr < 1 and win.capacity_rps_bound else ")."))
    elif win.capacity_rps_bound:
        lines.append(f"Analytic capacity ~{win.capacity_rps_bound:.3g} req/s (TPOT bound held)"
                     + (f"; it held {req.rate:g} req/s in simulation." if win.capacity_rps_bound < req.rate else "."))
    if runner is None:
        lines.append("No other configuration met the SLO.")
        return lines
    lines.append(f"Runner-up: {runner.id} at {money(runner.usd_per_hour)}, {runner.devices} "
                 f"device{'s' if runner.devices != 1 else ''}, "
                 f"p90 E2E {latency_s(runner, 'e2e'):.3g} s.")
    lacks = []
    if req.objective == "cost" and win.usd_per_hour and runner.usd_per_hour:
        extra = runner.usd_per_hour / win.usd_per_hour - 1
        if extra > 0.005:
            lacks.append(f"costs {extra:.0%} more per hour")
        else:
            lacks.append(f"ties on cost and is ranked by p90 E2E ({latency_s(runner, 'e2e'):.3g} s vs "
                         f"{latency_s(win, 'e2e'):.3g} s)")
    if runner.devices > win.devices:
        lacks.append(f"needs {runner.devices} devices vs {win.devices}")
    wj, rj = win.joules_per_output_token, runner.joules_per_output_token
    if req.objective == "energy" and wj and rj and rj > wj * 1.005:
        lacks.append(f"uses {rj / wj - 1:.0%} more energy per output token ({rj:.3g} J vs {wj:.3g} J)")
    elif req.objective == "energy" and wj and rj:
        lacks.append(f"ties on energy ({rj:.3g} J vs {wj:.3g} J per output token)")
    if req.objective == "latency" and (latency_s(runner, 'e2e') or 0) > (latency_s(win, 'e2e') or 0):
        lacks.append(f"has a slower p90 E2E ({latency_s(runner, 'e2e'):.4g} s vs {latency_s(win, 'e2e'):.4g} s)")
    wc, rc = cands.get(cand_key(win)), cands.get(cand_key(runner))
    if wc and rc and win.kind == runner.kind == "colocated":
        if wc.usd_per_hour and rc.usd_per_hour:
            we = wc.capacity_rps / wc.usd_per_hour
            re_ = rc.capacity_rps / rc.usd_per_hour
            if re_ < we:
                lacks.append(f"serves {re_:.3g} req/s per $/h vs {we:.3g} (analytic, TPOT bound held)")
        if rc.tpot_floor_s > wc.tpot_floor_s * 1.1:
            lacks.append(f"slower batch-1 decode ({rc.tpot_floor_s * 1e3:.3g} ms vs {wc.tpot_floor_s * 1e3:.3g} ms)")
        if rc.decode_batch < wc.decode_batch:
            # KV-limited: one more sequence at the mean context would not fit its KV cache
            ctx = req.workload.mean_input() + req.workload.mean_output() / 2
            lacks.append(f"fits a smaller batch within the TPOT bound ({rc.decode_batch} vs {wc.decode_batch}"
                         + (", KV-limited" if (rc.decode_batch + 1) * ctx > rc.kv_tokens else "") + ")")
    lines.append("The runner-up " + ("; ".join(lacks) if lacks else "is close") + ".")
    return lines


def why_none(rejected: list[Rejection], budget: float | None, shown: int = 5) -> list[str]:
    """Why nothing qualifies (the SLO, within the budget if it rejected any): the first rejections."""
    over = budget is not None and any("budget" in r.reason for r in rejected)
    lines = ["no configuration meets the SLO at this rate" + (f" within the ${budget:,.2f}/h budget" if over else "")
             + (":" if rejected else "")]
    first = sorted(rejected, key=lambda r: "does not fit" in r.reason)  # the near misses first
    lines += [f"  {r.candidate}: {r.reason}" for r in first[:shown]]
    return lines + ([f"  ... and {len(rejected) - shown} more (`rejected` in --json)"] if len(rejected) > shown else [])

