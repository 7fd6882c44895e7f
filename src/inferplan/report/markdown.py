"""The report as Markdown with PNG charts (matplotlib, no browser), for docs and tickets.

``render_markdown(data, path)`` writes ``path`` and the charts into ``<stem>_files/`` next to
it, linked relatively. Same content as the HTML report; charts are static (no hover), drawn
with matplotlib's object API (``matplotlib.figure.Figure``), so no global backend is touched.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from inferplan.report.build import ReportData
from inferplan.report.figures import MEMORY_PARTS, PHASE_COLOUR, colours
from inferplan.report.html import COLUMNS, GLOSSARY, HOW, usd
from inferplan.report.sections import LineChart, ReportSection, SectionTable
from inferplan.units import fmt_layout, fmt_time_s

DPI = 110
MPL_MARKER = {"prefill": "D", "decode": "o"}


def _md(s: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(s).replace("|", "\\|").replace("\n", " ")


def _table(columns: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(_md(c) for c in columns) + " |",
           "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(_md("" if c is None else c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def comparison_markdown(data: ReportData) -> str:
    rows = []
    for i, r in enumerate([r for r in data.compare.rows if r.fits and r.estimate], 1):
        e = r.estimate
        assert e is not None
        lay = fmt_layout(e.tp, e.pp, e.ep, e.dp)
        bound = ", ".join(f"{k} {v}" for k, v in e.bound.items() if v)
        rows.append([i, f"**{r.hardware}**", f"{e.devices} ({lay})",
                     *[f(getattr(e, key)) for _, key, _, f in COLUMNS], bound])
    cols = ["#", "hardware", "devices", *[h.replace("\n", " ") for h, *_ in COLUMNS], "bound"]
    out = _table(cols, rows)
    unfit = [r for r in data.compare.rows if not r.fits]
    if unfit:
        out += "\n\nCannot run this workload:\n\n" + "\n".join(
            f"- **{r.hardware}**: {r.reason or 'does not fit'}" for r in unfit)
    return out


# --- charts ------------------------------------------------------------------------------------


def _new(w: float, h: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    return fig


def _pareto_png(data: ReportData, path: Path) -> bool:
    pts = data.cost_latency.points
    if not pts:
        return False
    x = [p.e2e_latency_s for p in pts]
    y = [p.usd_per_1m_output_tokens for p in pts]
    j = np.array([p.joules_per_output_token if p.joules_per_output_token else np.nan for p in pts])
    fig = _new(9, 5)
    ax = fig.add_subplot()
    front = data.cost_latency.front
    ax.step([x[i] for i in front], [y[i] for i in front], where="post", ls=":", c="#999",
            label="Pareto front")
    from matplotlib import colormaps

    sc = ax.scatter(x, y, c=j, cmap=colormaps["viridis"].with_extremes(bad="#bbbbbb"), s=90,
                    edgecolors="#333", zorder=3, plotnonfinite=True)
    for p, xi, yi in zip(pts, x, y, strict=True):
        ax.annotate(p.hardware, (xi, yi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    if np.isfinite(j).any():
        fig.colorbar(sc, ax=ax, label="J / output token (grey: unknown)")
    if max(x) / min(x) > 8:
        ax.set_xscale("log")
    if max(y) / min(y) > 8:
        ax.set_yscale("log")
    ax.set_xlabel("end-to-end latency per request (s)")
    ax.set_ylabel("$ per 1M output tokens")
    ax.set_title("Cost vs latency (lower left is better)", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=DPI)
    return True


def _roofline_png(data: ReportData, path: Path) -> bool:
    det = data.details
    if not det:
        return False
    cols = min(3, len(det))
    nrows = math.ceil(len(det) / cols)
    fig = _new(4.2 * cols, 3.4 * nrows)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax in axes.flat[len(det):]:
        ax.set_visible(False)
    for ax, d in zip(axes.flat, det, strict=False):
        roof = d.roofline
        xs = np.asarray(roof.intensity_flop_per_byte)
        ax.loglog(xs, np.asarray(roof.peak_flops_s) / 1e12, c="#555", lw=1.2, label="peak roof")
        ax.loglog(xs, np.asarray(roof.reachable_flops_s) / 1e12, c="#555", lw=1.2, ls="--",
                  label="reachable (calibrated)")
        for p in d.points:
            ax.scatter([p.intensity_flop_per_byte], [p.achieved_flops_s / 1e12], zorder=3, s=45,
                       marker=MPL_MARKER.get(p.phase, "o"), c=PHASE_COLOUR.get(p.phase, "#333"),
                       label=f"{p.phase} step")
        ax.set_title(f"{d.hardware} ×{d.devices} ({d.layout})", fontsize=10)
        ax.set_xlabel("FLOP / byte", fontsize=8)
        ax.set_ylabel("TFLOP/s", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, which="major")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=8)
    fig.suptitle("Roofline per device: where each step of the workload runs", x=0.01, ha="left")
    fig.savefig(path, dpi=DPI)
    return True


def _memory_png(data: ReportData, path: Path) -> bool:
    rows = [r for r in data.compare.rows if r.estimate is not None][:24]
    if not rows:
        return False
    fig = _new(9, 0.38 * len(rows) + 1.4)
    ax = fig.add_subplot()
    labels = [f"{r.hardware} ×{r.estimate.devices}" + ("" if r.fits else " (does not fit)")
              for r in rows if r.estimate is not None]
    y = np.arange(len(rows))
    left = np.zeros(len(rows))
    for key, name, colour in MEMORY_PARTS:
        v = np.array([getattr(r.estimate.memory, key) / 1e9 for r in rows])  # type: ignore[union-attr]
        ax.barh(y, v, left=left, color=colour, label=name)
        left += v
    cap = [r.estimate.memory.capacity_bytes_per_device / 1e9 for r in rows]  # type: ignore[union-attr]
    ax.scatter(cap, y, marker="|", s=300, c="#222", linewidths=2.5, label="capacity", zorder=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("GB per device")
    ax.set_title("Memory per device", loc="left")
    fig.legend(loc="outside lower center", ncol=5, fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.savefig(path, dpi=DPI)
    return True


def _throughput_png(data: ReportData, path: Path) -> bool:
    det = [d for d in data.details if d.curve]
    if not det:
        return False
    col = colours(data)
    fig = _new(11, 4.3)
    a1, a2 = fig.subplots(1, 2)
    for d in det:
        c = d.curve
        assert c is not None
        a1.loglog(c.batch, c.output_tok_s, "-o", ms=2.5, c=col[d.hardware], label=f"{d.hardware} ×{d.devices}")
        a2.loglog(c.tok_s_per_user, c.output_tok_s_per_device, "-o", ms=2.5, c=col[d.hardware])
    a1.set(xlabel="sequences decoded together (batch)", ylabel="output tok/s (all devices)",
           title="Throughput vs batch (decode)")
    a2.set(xlabel="tok/s per user", ylabel="output tok/s per device",
           title="Interactivity: per-user speed vs throughput per device")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.title.set_fontsize(10)
        _plain_log_ticks(a)
    fig.legend(loc="outside lower center", ncol=min(6, len(det)), fontsize=8)
    fig.savefig(path, dpi=DPI)
    return True


def _plain_log_ticks(ax) -> None:
    """Log axes labelled 1, 10, 100, 1000 (not 10^2) and no labels on minor ticks."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _line_png(chart: LineChart, path: Path) -> None:
    fig = _new(9, 4.2)
    ax = fig.add_subplot()
    for s in chart.series:
        if chart.step:
            ax.step(s.x, s.y, where="post", label=s.name)
        else:
            ax.plot(s.x, s.y, label=s.name)
    if chart.log_x:
        ax.set_xscale("log")
    if chart.log_y:
        ax.set_yscale("log")
    ax.set(xlabel=chart.x_title, ylabel=chart.y_title)
    ax.set_title(chart.title, loc="left")
    ax.grid(alpha=0.3)
    if len(chart.series) > 1:
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=DPI)


# --- document ------------------------------------------------------------------------------------


def _section_md(s: ReportSection, files: Path, stem: str, idx: int) -> str:
    out = [f"## {s.title}", ""]
    out += [p + "\n" for p in s.text]
    for t in s.tables:
        out += _table_block(t)
    for k, c in enumerate(s.charts):
        name = f"section{idx}-{k}.png"
        _line_png(c, files / name)
        out += [f"![{c.title}]({stem}/{name})", ""]
    return "\n".join(out)


def _table_block(t: SectionTable) -> list[str]:
    return ([f"*{t.caption}*", ""] if t.caption else []) + [_table(t.columns, t.rows), ""]


def render_markdown(data: ReportData, path: Path) -> list[Path]:
    """Write the Markdown report and its PNGs; returns every file written."""
    path = Path(path)
    files = path.with_name(path.stem + "_files")
    files.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    w = data.workload
    lines = [
        f"# inferplan report: {data.title}", "",
        f"{w.model_name} ({w.total_params / 1e9:.3g}B parameters); weights "
        f"{w.precision or 'model native'}, KV cache {w.kv_precision or 'engine default'}; "
        f"calibration profile '{data.calibration}'; inferplan {data.inferplan_version}; {data.generated}.", "",
    ]
    fits = [r for r in data.compare.rows if r.fits and r.estimate]
    if fits:
        lines.append("**Summary**: " + "; ".join(_highlights(data)) + ".\n")
    lines += [f"## Comparison (ranked by {data.compare.sort})", "",
              "Throughput, $ and J are for all devices of a row together.", "",
              comparison_markdown(data), ""]
    for key, fn in (("pareto", _pareto_png), ("roofline", _roofline_png), ("memory", _memory_png),
                    ("throughput", _throughput_png)):
        png = files / f"{key}.png"
        if fn(data, png):
            written.append(png)
            title, how = HOW[key]
            lines += [f"## {title}", "", how, "", f"![{title}]({files.name}/{png.name})", ""]
    for i, s in enumerate(data.sections):
        lines.append(_section_md(s, files, files.name, i))
        written += sorted(files.glob(f"section{i}-*.png"))
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in GLOSSARY] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return [path, *written]


def _highlights(data: ReportData) -> list[str]:
    rows = [r for r in data.compare.rows if r.fits and r.estimate]
    out = []
    for title, key, low, f in (("cheapest output", "usd_per_1m_output_tokens", True, usd),
                               ("fastest per user", "decode_tok_s_per_user", False,
                                lambda v: f"{v:,.0f} tok/s" if v >= 100 else f"{v:.3g} tok/s"),
                               ("first token soonest", "ttft_s", True, fmt_time_s)):
        c = [(getattr(r.estimate, key), r.hardware) for r in rows if getattr(r.estimate, key) is not None]
        if c:
            v, h = (min if low else max)(c)
            out.append(f"{title} **{h}** ({f(v)})")
    return out
