"""`inferplan audit [CLAIMS.yaml]`: check a document's hardware claims against the model.

Parses, calls :func:`inferplan.audit.run_audit`, prints (a table, ``--verbose`` derivations, or
``--json``). Typer only at import; the library and rich load inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inferplan.cli.options import CalibOpt, JsonOpt

VERDICT_STYLE = {
    "consistent": "green",
    "holds-under-conditions": "yellow",
    "inconsistent": "red",
    "not-checkable": "dim",
}


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        claims: Annotated[Path | None, typer.Argument(
            help="Claims YAML (default: the bundled article, docs/audit.md)", exists=True, dir_okay=False)] = None,
        only: Annotated[list[str] | None, typer.Option(
            "--only", help="Claim id or its number ('05'); repeat or comma-separate")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Derivations, conditions, sources")] = False,
        calibration: CalibOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Check each claim of a document (tok/s, $, specs, fit) against the model and catalog."""
        from inferplan.audit import run_audit

        ids = [x.strip() for item in (only or []) for x in item.split(",") if x.strip()]
        report = run_audit(claims, only=ids or None, calibration=calibration)
        if json_out:
            typer.echo(report.model_dump_json(indent=2))
        else:
            print_report(report, verbose=verbose)


def print_report(report, verbose: bool = False) -> None:
    """The verdict table; with `verbose`, each claim's derivation, conditions and sources."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from inferplan.cli.render import width

    out = Console(highlight=False, width=width())
    doc = report.document
    out.print(f"[bold]{escape(doc.title)}[/] ({escape(doc.date)}; {escape(report.claims_file)})")
    table = Table(show_lines=False)
    for col, kw in (("id", {"no_wrap": True}), ("claim", {"ratio": 3}), ("claimed", {"ratio": 1}),
                    ("tool's value", {"ratio": 3}), ("verdict", {"no_wrap": True})):
        table.add_column(col, overflow="fold", **kw)  # type: ignore[arg-type]
    for r in report.results:
        v = r.result.verdict
        table.add_row(escape(r.id), escape(r.title), escape(r.claimed), escape(_short(r.result.value)),
                      f"[{VERDICT_STYLE[v]}]{v}[/]")
    out.print(table)
    for c in report.conflicts:
        out.print(f"[red]internal conflict[/] ({escape(c.key)}): claims {escape(' and '.join(c.claims))} "
                  f"state {escape(' vs '.join(c.values))} ({c.gap_factor:.3g}x apart)")
    counts = ", ".join(f"{n} {v}" for v, n in report.counts.items() if n)
    if report.interval_level is not None:
        out.print(f"[dim]{counts}. 'consistent' = each predicted value's {report.interval_level:.0%} "
                  "prediction interval (its corpus support, hardware class, metric family and "
                  "regime) overlaps the claim; catalog facts and arithmetic: exact up to rounding (--verbose for intervals "
                  "and derivations)[/]")
    else:
        out.print(f"[dim]{counts}. 'consistent' = within the tool's stated error: "
                  + escape("; ".join(f"{b.hw_class} {b.median:.0%}" for b in report.error_bands))
                  + " (LOSO median; --verbose for derivations)[/]")
    if not verbose:
        return
    for r in report.results:
        res = r.result
        out.rule(f"{escape(r.id)}  [{VERDICT_STYLE[res.verdict]}]{res.verdict}[/]", align="left")
        out.print(f"[bold]{escape(r.title)}[/]  ({escape(r.where)})" if r.where else f"[bold]{escape(r.title)}[/]")
        out.print(f"  quote: \"{escape(r.quote)}\"")
        out.print(f"  claimed: {escape(r.claimed)}" + (
            f"; document's conditions: {escape('; '.join(r.stated_conditions))}" if r.stated_conditions else ""))
        out.print(f"  tool: {escape(res.value)}  [dim](check {escape(res.check)})[/]")
        if res.conditions:
            out.print("  conditions:")
            for c in res.conditions:
                out.print(f"    - {escape(c)}")
        if res.context:
            out.print("  for comparison (not in the verdict):")
            for c in res.context:
                out.print(f"    - {escape(c)}")
        if res.derivation:
            out.print("  derivation:")
            for d in res.derivation:
                out.print(f"    {escape(d)}")
        if r.note:
            out.print(f"  note: {escape(r.note)}")
        if res.intervals and res.interval_level is not None:
            out.print(f"  tool's {res.interval_level:.0%} intervals:")
            for k, (lo, hi) in res.intervals.items():
                out.print(f"    {escape(k)}: {lo:.3g} - {hi:.3g}")
        if res.tolerance:
            out.print(f"  [dim]tolerance: {escape(res.tolerance)}[/]")
        for s in res.sources:
            out.print(f"  [dim]source: {escape(s)}[/]")
    if report.interval_level is not None:
        out.print(f"[dim]intervals: {escape(report.interval_source)}[/]")
    else:
        out.print(f"[dim]error bands: {escape(report.error_source)}[/]")


def _short(text: str, n: int = 90) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
