"""Human-readable output of simulate / plan / loadtest (rich). `--json` bypasses it."""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inferplan.cli.render import _usd, console
from inferplan.units import fmt_num, fmt_time_s


class _Out:
    """The stdout console, made at each print (so the width is the one in force now)."""

    def print(self, *a, **kw) -> None:
        console().print(*a, **kw)


out = _Out()
err = Console(stderr=True, highlight=False)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0%}"


def _dist_row(t: Table, name: str, d) -> None:
    t.add_row(name, fmt_time_s(d.p50), fmt_time_s(d.p90), fmt_time_s(d.p99), fmt_time_s(d.mean))


def print_simulation(res) -> None:
    for p in res.pools:
        par = f"tp={p.tp} pp={p.pp} ep={p.ep}"
        out.print(f"[bold]{res.model}[/] {p.role}: {p.replicas} x [bold]{p.devices_per_replica} x "
                  f"{p.hardware}[/] ({p.engine}, {par}, {p.weight_precision}/KV {p.kv_precision}, "
                  f"{p.policy}{' prefill-first' if p.prefill_first else ''}"
                  f"{', whole-sequence KV reservation' if p.kv_reservation == 'full_sequence' else ''}, max_num_seqs {p.max_num_seqs}, {p.max_num_batched_tokens} tokens/step, "
                  f"KV {p.kv_cache_tokens:,} tokens)")
    if (res.assumptions or {}).get("engine_options"):
        out.print(f"[yellow]engine options: {escape(str(res.assumptions['engine_options']))}[/]")
    m = res.metrics
    out.print(f"workload {res.workload}: {m.completed}/{m.requests} requests over "
              f"{fmt_time_s(m.duration_s)} (seed {res.seed}, router {res.router})"
              + (f", {m.rejected} rejected" if m.rejected else ""))
    t = Table(box=None, pad_edge=False)
    for c in ("", "p50", "p90", "p99", "mean"):
        t.add_column(c, justify="right" if c else "left")
    _dist_row(t, "TTFT", m.ttft_s)
    _dist_row(t, "TPOT", m.tpot_s)
    _dist_row(t, "ITL", m.itl_s)
    _dist_row(t, "E2E", m.e2e_s)
    _dist_row(t, "queue wait", m.queue_wait_s)
    out.print(t)
    many = sum(p.replicas for p in res.pools) > 1  # the queue's mean is the system's, its max one replica's
    all_reps, one_rep = (" over all replicas", " on one") if many else ("", "")
    out.print(f"throughput {fmt_num(m.requests_per_s)} req/s, {fmt_num(m.output_tok_s)} output tok/s, "
              f"{fmt_num(m.total_tok_s)} total tok/s; batch mean {m.mean_batch_size:.1f} (max "
              f"{m.max_batch_size}); queue mean {m.mean_queue_len:.1f}{all_reps} (max {m.max_queue_len}"
              f"{one_rep}); KV use "
              f"mean {m.mean_kv_used:.0%} (max {m.max_kv_used:.0%}); preemptions {m.preemptions}"
              + (f"; prefix-cache hits {m.prefix_cache_hits}" if m.prefix_cache_hits else ""))
    if res.usd_per_1m_output_tokens is not None or res.joules_per_output_token is not None:
        out.print(f"cost {_usd(res.usd_per_1m_output_tokens)} per 1M output tokens; "
                  f"{fmt_num(res.joules_per_output_token)} J/output token (prompts' share included: "
                  f"estimate splits $ between input and output)")
    if res.slo is not None:
        good = "-" if m.goodput is None else f"{m.goodput:.1%}"
        if res.slo_met:
            out.print(f"[green]SLO met[/] ({res.slo.describe()}); goodput {good}")
        else:
            out.print(f"[red]SLO missed[/]: {'; '.join(res.violations)}; goodput {good}")
    out.print(f"[dim]simulated {res.events:,} events in {res.wall_s:.2f} s[/]")


def print_plan(res, show: int = 10) -> None:
    out.print(f"[bold]plan[/] {', '.join(res.models)} · {res.workload} at {fmt_num(res.rate)} req/s · "
              f"SLO {res.slo} · objective {res.objective}")
    if not res.options:
        out.print(f"[red]{res.why[0].rstrip(':') if res.why else 'no configuration meets the SLO'}[/]")
    else:
        t = Table(box=None, pad_edge=False)
        for c in ("#", "configuration", "devices", "$/h", "$/1M out", "J/tok", "p90 TTFT",
                  "p90 TPOT", "p90 E2E", "max req/s", ""):
            t.add_column(c, justify="left" if c in ("configuration", "") else "right")
        from inferplan.plan.explain import joules_per_token, latency_s

        for o in res.options[:show]:
            flags = ("P" if o.pareto else "") + ("" if o.verified else " ~")
            # every option listed held the SLO at the target rate in simulation: an analytic
            # capacity below it reads as that lower bound, not as a contradiction
            cap = o.capacity_rps_bound
            mr = (("≥" if o.max_rate_judged_lower_bound else "") + fmt_num(o.max_rate_judged_rps)
                  if o.max_rate_judged_rps
                  else f"≥{fmt_num(res.rate)}" if cap is not None and cap < res.rate else f"~{fmt_num(cap)}")
            t.add_row(str(o.rank), o.id, str(o.devices), _usd(o.usd_per_hour),
                      _usd(o.usd_per_1m_output_tokens), fmt_num(joules_per_token(o)),
                      fmt_time_s(latency_s(o, "ttft")), fmt_time_s(latency_s(o, "tpot")),
                      fmt_time_s(latency_s(o, "e2e")), mr, flags)
        out.print(t)
        out.print("[dim]P = on the Pareto frontier ($/h, p90 E2E, J/token); ~ = not verified as a whole "
                  "cluster (listed after the verified ones); max req/s: simulated (≥: held at every rate tried, or at the target where the "
                  "analytic bound reads lower), ~ analytic; $/1M out: all of $/h over the output tokens "
                  "at the planned rate (estimate and compare split it between input and output)[/]")
        if res.confidence is not None:
            out.print(f"[yellow]Planned at the pessimistic end at {res.confidence:.0%} confidence:[/] "
                      f"latencies and J/token are the high end of their {res.confidence:.0%} "
                      "intervals (simulated value x factor), capacity the low end; point estimates "
                      "and intervals in --json")
    out.print("")
    for line in res.why[0 if res.options else 1:]:  # without options the first is the headline
        out.print(line)
    c = res.counts
    budget = f"{c['over_budget']} over budget or unpriced, " if c.get("over_budget") else ""
    out.print(f"[dim]{c.get('hardware', 0)} hardware, {c.get('candidates', 0)} candidates: "
              f"{c.get('pruned_by_floors', 0)} cannot meet the SLO (analytic floors or limits), "
              f"{budget}{c.get('pruned_by_proxy', 0)} pruned by analytic bounds, "
              f"{c.get('simulations', 0)} simulations; {res.wall_s:.1f} s on '{res.executor}'[/]")


@contextlib.contextmanager
def progress_bar(enabled: bool = True):
    """Yields progress(phase, done, total) drawing a rich bar on stderr (no-op if disabled)."""
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True)
    tasks: dict[str, TaskID] = {}

    def tick(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=max(total, 1))
        bar.update(tasks[phase], completed=done)

    with bar:
        yield tick


def print_loadtest(res) -> None:
    r = res.run
    out.print(f"[bold]loadtest[/] {r.endpoint} · {r.workload} ({r.arrivals}) · {r.requests_sent} "
              f"requests in {fmt_time_s(r.duration_s)}" + (f" · [red]{res.failed} failed[/]" if res.failed else ""))
    reasons: dict[str, int] = {}
    for rec in r.records:
        if rec.error:
            reasons[rec.error] = reasons.get(rec.error, 0) + 1
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:3]:
        out.print(f"[red]  {n} x {escape(why)}[/]")
    short = sum(1 for rec in r.records if not rec.error and rec.received_tokens < rec.output_tokens)
    if short:
        out.print(f"[yellow]  {short} request(s) got fewer tokens than asked (the server stopped early: "
                  "min_tokens or ignore_eos not honoured); metrics count the tokens received[/]")
    m = res.measured
    if not res.comparison:
        t = Table(box=None, pad_edge=False)
        for c in ("", "p50", "p90", "p99", "mean"):
            t.add_column(c, justify="right" if c else "left")
        _dist_row(t, "TTFT", m.ttft_s)
        _dist_row(t, "TPOT", m.tpot_s)
        _dist_row(t, "ITL", m.itl_s)
        _dist_row(t, "E2E", m.e2e_s)
        out.print(t)
        out.print(f"throughput {fmt_num(m.requests_per_s)} req/s, {fmt_num(m.output_tok_s)} output tok/s")
        return
    t = Table(box=None, pad_edge=False)
    for c in ("metric", "measured", "simulated", "error"):
        t.add_column(c, justify="left" if c == "metric" else "right")
    for row in res.comparison:
        fmt = fmt_num if "/s" in row.metric else fmt_time_s
        t.add_row(row.metric, fmt(row.measured), fmt(row.simulated), _pct(row.error))
    out.print(t)
    if res.simulated is not None:
        p = res.simulated.pools[0]
        out.print(f"[dim]simulated: {res.simulated.model} on {p.hardware} ({p.engine}, {p.policy}, "
                  f"{p.weight_precision}); hardware: {res.hardware_note}[/]")
