"""The nearest bundled measurements of an estimate (``estimate --evidence N``), as a table."""

from __future__ import annotations

from rich.markup import escape

from inferplan.calib.evidence import Evidence, Measurement
from inferplan.cli.render import Col, console, print_table
from inferplan.units import fmt_num


def _workload(m: Measurement) -> str:
    mode = {"offline_max": "offline", "concurrency": "conc"}.get(m.mode, m.mode)
    size = "" if m.mode == "offline_max" or m.batch is None else f" {m.batch}"
    lens = f" {m.input_len if m.input_len is not None else '?'}/{m.output_len if m.output_len is not None else '?'}"
    return mode + size + lens


def _signed_pct(ratio: float | None) -> str:
    """predicted / measured - 1 as a signed percentage ("0%" within half a percent)."""
    if ratio is None:
        return "-"
    pct = (ratio - 1) * 100
    return "0%" if abs(pct) < 0.5 else f"{pct:+.0f}%"


def print_evidence(ev: Evidence) -> None:
    out = console()
    if not ev.rows:
        out.print(f"[dim]no bundled measurement comparable to {escape(ev.hardware)} (its class of "
                  "hardware; its vendor's, where vendors' designs differ)[/]")
        return
    cols = [Col("source", priority=8, flexible=True), Col("date", priority=2),
            Col("model", priority=6), Col("hardware", priority=7), Col("engine", priority=5),
            Col("weights", priority=4), Col("workload", priority=6), Col("metric", priority=9),
            Col("measured", "right", 9), Col("held-out", "right", 9), Col("error", "right", 9)]
    rows = [[m.source, m.date or "-", m.model, f"{m.devices or '?'} x {m.hardware}", m.engine,
             m.weight_precision, _workload(m), m.metric, fmt_num(m.measured),
             fmt_num(m.predicted_heldout), _signed_pct(m.ratio)]
            for m in ev.rows]
    print_table(cols, [[escape(c) for c in r] for r in rows],
                title="nearest published measurements (bundled corpus)")
    summary = [f"{ev.on_hardware} of {len(ev.rows)} on {ev.hardware}"
               + (f", {ev.on_vendor - ev.on_hardware} on other devices of its vendor"
                  if ev.on_vendor > ev.on_hardware else "")]
    if ev.median_ape is not None:
        summary.append(f"median error {ev.median_ape * 100:.0f}% on these rows")
    if ev.speed_bias is not None and abs(ev.speed_bias - 1) >= 0.005:
        way = "too fast" if ev.speed_bias > 1 else "too slow"
        summary.append(f"speeds {abs(ev.speed_bias - 1) * 100:.0f}% {way} (median)")
    out.print("[dim]error: held-out / measured - 1 (a time: + is predicted slower; a rate: + is "
              "predicted faster). "
              "held-out: what the tool predicted for the row with its whole source left out of "
              "the fit (" + escape(ev.method) + ")" + ("; " + ", ".join(summary) if summary else "")
              + "[/]")
