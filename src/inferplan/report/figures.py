"""Plotly figures of a report (HTML report and web page). Matplotlib twins: ``markdown.py``.

Each builder takes :class:`~inferplan.report.build.ReportData` and returns a
``plotly.graph_objects.Figure`` (or None when there is nothing to draw). Colours follow the
ranking, so one hardware has the same colour in every chart.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from inferplan.report.build import ReportData
from inferplan.report.sections import LineChart

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#843c39", "#7b4173"]
PHASE_SYMBOL = {"prefill": "diamond", "decode": "circle"}
PHASE_COLOUR = {"prefill": "#d62728", "decode": "#1f77b4"}
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12)
MEMORY_PARTS = (("weights_bytes", "weights", "#4c78a8"), ("kv_cache_bytes", "KV cache", "#f58518"),
                ("activation_bytes", "activations", "#54a24b"),
                ("reserved_bytes", "engine reserve", "#bab0ac"))
MAX_BARS = 24


def colours(data: ReportData) -> dict[str, str]:
    ranked = [r.hardware for r in data.compare.rows]
    return {h: PALETTE[i % len(PALETTE)] for i, h in enumerate(ranked)}


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, xanchor="left"), height=height, font=FONT,
                      template="plotly_white", margin=dict(l=60, r=20, t=60, b=50),
                      legend=dict(orientation="h", y=-0.18, x=0))
    return fig


def roofline(data: ReportData) -> go.Figure | None:
    """One log-log roofline per hardware with the workload's steps as points."""
    det = data.details
    if not det:
        return None
    cols = min(3, len(det))
    nrows = math.ceil(len(det) / cols)
    fig = make_subplots(rows=nrows, cols=cols, horizontal_spacing=0.07, vertical_spacing=0.16 / nrows * 2,
                        subplot_titles=[f"{d.hardware} ×{d.devices} ({d.layout})" for d in det])
    shown: set[str] = set()
    for i, d in enumerate(det):
        r, c = i // cols + 1, i % cols + 1
        roof = d.roofline
        x = roof.intensity_flop_per_byte
        for name, ys, dash in (("peak roof", roof.peak_flops_s, "solid"),
                               ("reachable (calibrated)", roof.reachable_flops_s, "dash")):
            fig.add_trace(go.Scatter(
                x=x, y=[v / 1e12 for v in ys], mode="lines", name=name, legendgroup=name,
                showlegend=name not in shown, line=dict(color="#555", dash=dash, width=1.5),
                hovertemplate=f"{name}<br>%{{x:.3g}} FLOP/B → %{{y:.4g}} TFLOP/s<extra></extra>"),
                row=r, col=c)
            shown.add(name)
        for p in d.points:
            key = f"{p.phase} step"
            fig.add_trace(go.Scatter(
                x=[p.intensity_flop_per_byte], y=[p.achieved_flops_s / 1e12], mode="markers",
                name=key, legendgroup=key, showlegend=key not in shown,
                marker=dict(symbol=PHASE_SYMBOL.get(p.phase, "circle"), size=11,
                            color=PHASE_COLOUR.get(p.phase, "#333"), line=dict(color="white", width=1)),
                hovertemplate=(f"{d.hardware}: {p.label}<br>%{{x:.3g}} FLOP/byte<br>"
                               f"%{{y:.4g}} TFLOP/s achieved<br>step {p.time_s * 1e3:.3g} ms, "
                               f"{p.bound} bound<extra></extra>")), row=r, col=c)
            shown.add(key)
        fig.update_xaxes(type="log", dtick=1, row=r, col=c, title_text="FLOP / byte",
                         title_standoff=4)
        fig.update_yaxes(type="log", dtick=1, row=r, col=c, title_text="TFLOP/s" if c == 1 else None)
    fig = _layout(fig, "Roofline per device: where each step of the workload runs", 330 * nrows + 90)
    fig.update_layout(legend=dict(y=-0.12 / nrows * 1.3))
    return fig


def pareto(data: ReportData) -> go.Figure | None:
    """Cost per 1M output tokens vs end-to-end latency, colour = J per output token."""
    cl = data.cost_latency
    pts = cl.points
    if not pts:
        return None
    x = [p.e2e_latency_s for p in pts]
    y = [p.usd_per_1m_output_tokens for p in pts]
    j = [p.joules_per_output_token for p in pts]
    known_j = [v for v in j if v is not None]
    front = cl.front
    fig = go.Figure()
    fx = [x[i] for i in front]
    fy = [y[i] for i in front]
    fig.add_trace(go.Scatter(x=fx, y=fy, mode="lines", name="Pareto front (nothing both cheaper and faster)",
                             line=dict(color="#999", dash="dot", shape="hv"), hoverinfo="skip"))
    hover = [f"<b>{e.hardware}</b> ×{e.devices}<br>e2e {e.e2e_latency_s:.3g} s, TTFT {e.ttft_s:.3g} s<br>"
             f"${e.usd_per_1m_output_tokens:.3g} / 1M output tokens<br>"
             + (f"{e.joules_per_output_token:.3g} J/token" if e.joules_per_output_token else "J/token unknown")
             for e in pts]
    log_x, log_y = max(x) / min(x) > 8, max(y) / min(y) > 8
    fig.add_trace(go.Scatter(
        x=x, y=y, mode="markers+text", text=[p.hardware for p in pts],
        textposition=label_positions(x, y, log_x, log_y),
        name="hardware", hovertext=hover, hoverinfo="text", showlegend=False,
        marker=dict(size=14, line=dict(color="#333", width=1),
                    color=[v if v is not None else float("nan") for v in j],
                    colorscale="Viridis", showscale=bool(known_j),
                    cmin=min(known_j) if known_j else None, cmax=max(known_j) if known_j else None,
                    colorbar=dict(title=dict(text="J / output token" + (
                        "<br>(grey: unknown)" if len(known_j) < len(j) else "")), thickness=14))))
    fig.update_xaxes(title_text="end-to-end latency per request (s)", type="log" if log_x else "linear",
                     range=padded_range(x, log_x, 0.09), **(log_ticks(min(x), max(x)) if log_x else {}))
    fig.update_yaxes(title_text="$ per 1M output tokens", type="log" if log_y else "linear",
                     **(log_ticks(min(y), max(y)) if log_y else {}))
    unpriced = cl.unpriced
    fig = _layout(fig, "Cost vs latency (lower left is better)", 460)
    if unpriced:
        fig.add_annotation(text="no price, not shown: " + ", ".join(unpriced[:8]) + (" …" if len(unpriced) > 8 else ""),
                           xref="paper", yref="paper", x=0, y=1.06, showarrow=False,
                           font=dict(size=11, color="#777"), xanchor="left")
    return fig


def padded_range(v: list[float], log: bool, pad: float) -> list[float]:
    """Axis range with room for the text labels at both ends (plotly pads markers only)."""
    a = np.log10(v) if log else np.asarray(v, dtype=float)
    lo, hi = float(a.min()), float(a.max())
    span = hi - lo or (abs(hi) or 1.0)
    lo, hi = lo - pad * span, hi + pad * span
    if not log:
        lo = max(lo, 0.0)
    return [lo, hi]


def log_ticks(lo: float, hi: float) -> dict[str, list]:
    """1-2-5 ticks spanning [lo, hi] for a log axis (plotly's default crowds short ranges)."""
    vals = [m * 10.0**k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for m in (1, 2, 5)]
    vals = [v for v in vals if lo / 1.5 <= v <= hi * 1.5]
    return {"tickvals": vals, "ticktext": [f"{v:g}" for v in vals]}


def label_positions(x: list[float], y: list[float], log_x: bool, log_y: bool) -> list[str]:
    """Label above the point, or below it when a close neighbour sits higher (fewer overlaps)."""

    def norm(v: list[float], log: bool) -> np.ndarray:
        a = np.log10(v) if log else np.asarray(v, dtype=float)
        span = a.max() - a.min()
        return (a - a.min()) / span if span > 0 else a * 0

    nx, ny = norm(x, log_x), norm(y, log_y)
    pos = []
    for i in range(len(x)):
        near = [j for j in range(len(x)) if j != i and abs(nx[i] - nx[j]) < 0.12
                and abs(ny[i] - ny[j]) < 0.12]
        pos.append("bottom center" if any(ny[j] > ny[i] for j in near) else "top center")
    return pos


def memory(data: ReportData) -> go.Figure | None:
    """Per-device memory as stacked horizontal bars, with the device's capacity."""
    rows = [r for r in data.compare.rows if r.estimate is not None][:MAX_BARS]
    if not rows:
        return None
    labels = [f"{r.hardware} ×{r.estimate.devices}" + ("" if r.fits else " (does not fit)")
              for r in rows if r.estimate is not None]
    fig = go.Figure()
    for key, name, colour in MEMORY_PARTS:
        v = [getattr(r.estimate.memory, key) / 1e9 for r in rows]  # type: ignore[union-attr]
        fig.add_trace(go.Bar(y=labels, x=v, name=name, orientation="h", marker_color=colour,
                             hovertemplate=f"%{{y}}<br>{name}: %{{x:.3g}} GB<extra></extra>"))
    cap = [r.estimate.memory.capacity_bytes_per_device / 1e9 for r in rows]  # type: ignore[union-attr]
    fig.add_trace(go.Scatter(y=labels, x=cap, mode="markers", name="capacity",
                             marker=dict(symbol="line-ns", size=22, line=dict(width=3, color="#222")),
                             hovertemplate="%{y}<br>capacity %{x:.3g} GB<extra></extra>"))
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title_text="GB per device")
    return _layout(fig, "Memory per device", max(260, 34 * len(rows) + 130))


def throughput(data: ReportData) -> go.Figure | None:
    """System output tok/s vs batch, and per-device throughput vs per-user speed."""
    det = [d for d in data.details if d.curve]
    if not det:
        return None
    col = colours(data)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "Throughput vs batch (decode)", "Interactivity: per-user speed vs throughput per device"))
    for d in det:
        c = d.curve
        assert c is not None
        hw = d.hardware
        fig.add_trace(go.Scatter(
            x=c.batch, y=c.output_tok_s, mode="lines+markers", name=f"{hw} ×{d.devices}",
            legendgroup=hw, line=dict(color=col[hw]), marker=dict(size=4),
            customdata=np.array([c.tok_s_per_user, c.tpot_s]).T,
            hovertemplate=(f"{hw}<br>batch %{{x}}<br>%{{y:.4g}} output tok/s<br>"
                           "%{customdata[0]:.3g} tok/s per user<extra></extra>")), row=1, col=1)
        fig.add_trace(go.Scatter(
            x=c.tok_s_per_user, y=c.output_tok_s_per_device, mode="lines+markers", name=hw,
            legendgroup=hw, showlegend=False, line=dict(color=col[hw]), marker=dict(size=4),
            customdata=c.batch,
            hovertemplate=(f"{hw}<br>batch %{{customdata}}<br>%{{x:.3g}} tok/s per user<br>"
                           "%{y:.4g} tok/s per device<extra></extra>")), row=1, col=2)
    at = {r.hardware: r.estimate.batch for r in data.compare.rows if r.estimate}
    for d in det:
        c = d.curve
        assert c is not None
        i = int(np.argmin(np.abs(np.log(np.asarray(c.batch) / max(at.get(d.hardware, 1), 1)))))
        for col_, xs, ys in ((1, c.batch, c.output_tok_s), (2, c.tok_s_per_user, c.output_tok_s_per_device)):
            fig.add_trace(go.Scatter(
                x=[xs[i]], y=[ys[i]], mode="markers", name="this workload", legendgroup="workload",
                showlegend=d is det[0] and col_ == 1,
                marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color=col[d.hardware], width=2.5)),
                hovertemplate=f"{d.hardware}: this workload (batch {c.batch[i]})<extra></extra>"),
                row=1, col=col_)
    fig.update_xaxes(type="log", dtick=1, title_text="sequences decoded together (batch)", row=1, col=1)
    fig.update_yaxes(type="log", dtick=1, title_text="output tok/s (all devices)", row=1, col=1)
    fig.update_xaxes(type="log", dtick=1, title_text="tok/s per user", row=1, col=2)
    fig.update_yaxes(type="log", dtick=1, title_text="output tok/s per device", row=1, col=2)
    return _layout(fig, "Throughput and interactivity (decode steps, up to the batch that fits)", 470)


def line_chart(chart: LineChart) -> go.Figure:
    """A section's chart (see sections.py)."""
    fig = go.Figure()
    for s in chart.series:
        fig.add_trace(go.Scatter(x=s.x, y=s.y, mode="lines", name=s.name,
                                 line=dict(shape="hv" if chart.step else "linear")))
    fig.update_xaxes(title_text=chart.x_title, type="log" if chart.log_x else "linear")
    fig.update_yaxes(title_text=chart.y_title, type="log" if chart.log_y else "linear")
    return _layout(fig, chart.title, 400)


def figures(data: ReportData) -> dict[str, go.Figure]:
    """The built-in charts that have something to show, in report order."""
    out = {"pareto": pareto(data), "roofline": roofline(data), "memory": memory(data),
           "throughput": throughput(data)}
    return {k: v for k, v in out.items() if v is not None}


def figure_json(fig: go.Figure) -> dict[str, Any]:
    """JSON for ``Plotly.newPlot(div, fig.data, fig.layout)`` (the web page)."""
    import json

    return json.loads(fig.to_json())
