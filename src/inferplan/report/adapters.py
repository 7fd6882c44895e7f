"""Report sections for the simulator's, planner's and audit's results.

Section providers for result type names (``SimResult``, ``PlanResult``, ``AuditReport``;
``build.py`` registers them), so that ``build_report(..., extra=[result])`` renders them without
this module importing those packages; a result class that grows its own ``report_sections()``
takes precedence (``sections.sections_from``). Fields are read by name: the providers need only
what they show.
"""

from __future__ import annotations

import math
from typing import Any

from inferplan.report.sections import (
    LineChart,
    ReportSection,
    SectionTable,
    Series,
)
from inferplan.units import fmt_time_s

QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (1.0, "max"))


def _ms(x: float | None) -> str:
    return fmt_time_s(x) if x is not None else "-"


def _num(x: float | None, unit: str = "") -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return (f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}") + unit


def _cdf(d: Any) -> tuple[list[float], list[float]]:
    """A CDF through the reported percentiles of a latency distribution (seconds)."""
    xs: list[float] = []
    ys: list[float] = []
    for q, name in QUANTILES:
        v = getattr(d, name, None)
        if v is not None and math.isfinite(v) and (not xs or v >= xs[-1]):
            xs.append(v)
            ys.append(q)
    return xs, ys


def _label(r: Any) -> str:
    pools = getattr(r, "pools", []) or []
    return " + ".join(f"{p.replicas}x{getattr(p, 'devices_per_replica', 1)} {p.hardware}"
                      + (f" ({p.role})" if p.role in ("prefill", "decode") else "")
                      for p in pools) or getattr(r, "model", "run")


def sim_sections(results: Any) -> list[ReportSection]:
    """One section for one or several simulation results of the same workload."""
    runs = results if isinstance(results, list | tuple) else [results]
    if not runs:
        return []
    first = runs[0]
    rows = []
    for r in runs:
        m = r.metrics
        rows.append([_label(r), _ms(m.ttft_s.p50), _ms(m.ttft_s.p99), _ms(m.tpot_s.p50), _ms(m.tpot_s.p99),
                     _ms(m.e2e_s.p99), _ms(m.queue_wait_s.p99), _num(m.output_tok_s),
                     _num(m.mean_batch_size), "-" if m.goodput is None else f"{m.goodput:.0%}",
                     "-" if r.usd_per_1m_output_tokens is None else f"${r.usd_per_1m_output_tokens:.3g}",
                     f"{m.completed}/{m.requests}" + (f", {m.rejected} rejected" if m.rejected else "")])
    charts = []
    for metric, title in (("ttft_s", "Time to first token"), ("e2e_s", "End-to-end latency")):
        series = []
        for r in runs:
            x, y = _cdf(getattr(r.metrics, metric))
            if x:
                series.append(Series(name=_label(r), x=x, y=y))
        if series:
            xs = [v for s in series for v in s.x if v > 0]
            charts.append(LineChart(title=f"{title}: share of requests at or below (p50, p90, p99, max)",
                                    x_title="seconds", y_title="fraction of requests", series=series,
                                    log_x=bool(xs) and max(xs) / min(xs) > 20))
    for key, title, y_title in (("queue_len", "Requests waiting over time", "requests waiting"),
                                ("batch_size", "Batch size over time", "sequences per decode step")):
        series = [Series(name=_label(r), x=list(r.metrics.timeline.t_s), y=list(getattr(r.metrics.timeline, key)))
                  for r in runs if getattr(r.metrics.timeline, key, None)]
        if series:
            charts.append(LineChart(title=title, x_title="simulated time (s)", y_title=y_title,
                                    series=series, step=True))
    text = [f"Discrete-event simulation of {first.requests} requests of the '{first.workload}' workload "
            f"(seed {first.seed}, router {first.router}): requests arrive, queue, are batched by the "
            "engine's scheduler and run on step times from the same cost model as the table above."]
    for r in runs:  # overload, rejected requests, short runs: what makes a row's figures moot
        if getattr(r, "warnings", None):
            text.append(f"{_label(r)}: " + "; ".join(r.warnings))
    if getattr(first, "slo", None) is not None:
        for r in runs:
            if r.slo_met is not None:
                text.append(f"{_label(r)}: SLO {'met' if r.slo_met else 'missed'}"
                            + (f" ({'; '.join(r.violations)})" if r.violations else "") + ".")
    return [ReportSection(
        title="Simulation", text=text,
        tables=[SectionTable(columns=["deployment", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99",
                                      "E2E p99", "queue wait p99", "output tok/s", "mean batch",
                                      "goodput", "$ / 1M out", "completed"], rows=rows)],
        charts=charts)]


def audit_sections(report: Any) -> list[ReportSection]:
    rows = [[c.id, c.title, c.claimed, c.result.value, c.result.verdict] for c in report.results]
    counts = ", ".join(f"{v} {k}" for k, v in sorted(report.counts.items()))
    doc = report.document
    return [ReportSection(
        title=f"Audit: {doc.title}",
        text=[f"Claims of {doc.title} ({doc.publisher or doc.source}) checked against the model: {counts}.",
              (f"Verdicts compare each predicted value's {report.interval_level:.0%} prediction interval "
               f"with the claim ({report.interval_source}); specs and arithmetic are exact."
               if getattr(report, "interval_level", None) is not None else
               f"Verdicts use the tool's stated error ({report.error_source}).")],
        tables=[SectionTable(columns=["claim", "what", "claimed", "inferplan", "verdict"], rows=rows)])]


def plan_sections(res: Any) -> list[ReportSection]:
    rows = []
    for o in res.options:
        pools = " + ".join(f"{p.replicas}x{p.devices_per_replica} {p.hardware}" for p in o.pools)
        rows.append([o.rank, o.id + (" (winner)" if o.id == res.winner else ""), o.kind, pools, o.devices,
                     "-" if o.usd_per_hour is None else f"${o.usd_per_hour:,.2f}",
                     "-" if o.usd_per_1m_output_tokens is None else f"${o.usd_per_1m_output_tokens:.3g}",
                     _ms(o.ttft_s.p90), _ms(o.tpot_s.p90), "yes" if o.pareto else "",
                     "yes" if o.verified else ""])
    return [ReportSection(
        title="Plan", text=[f"Cheapest deployments of {', '.join(res.models)} serving the '{res.workload}' "
                            f"workload at {res.rate:g} req/s within {res.slo} (objective: {res.objective}).",
                            *res.why],
        tables=[SectionTable(columns=["rank", "option", "kind", "pools", "devices", "$/h", "$ / 1M out",
                                      "TTFT p90", "TPOT p90", "Pareto", "verified"], rows=rows)])]
