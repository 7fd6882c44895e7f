"""The self-contained HTML report: one file, plotly's JavaScript embedded, no network needed.

Also the HTML fragments the web page reuses (:func:`comparison_table`, :func:`summary`), so the
table reads the same in the report and on the page. Every piece of text from the data is
escaped; a section's ``html`` field is the only trusted input.
"""

from __future__ import annotations

import math
from html import escape

from inferplan.report.build import ReportData
from inferplan.report.sections import LineChart, ReportSection, SectionTable
from inferplan.units import fmt_layout, fmt_num, fmt_time_s

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True,
                 "modeBarButtonsToRemove": ["select2d", "lasso2d"]}

CSS = """
:root { --fg:#1d2430; --muted:#5b6575; --line:#e3e7ee; --accent:#1f5fbf; --good:#0b7a3e; --bg:#fafbfc; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
main { max-width: 1280px; margin: 0 auto; padding: 24px 28px 60px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header .sub { font-size: 17px; margin: 0 0 8px; }
.conditions { color: var(--muted); margin: 0; }
nav { margin: 16px 0 8px; display:flex; flex-wrap:wrap; gap:6px 14px; }
nav a { color: var(--accent); text-decoration: none; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:18px 0; }
section h2 { font-size: 18px; margin: 0 0 8px; }
p.how { color: var(--muted); margin: 4px 0 10px; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 17px; font-weight: 600; }
.card .d { color: var(--muted); font-size: 12px; }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f2f4f8; font-weight: 600; white-space: nowrap; position: sticky; top: 0; }
td.n, th.n { text-align: right; white-space: nowrap; }
td.best { color: var(--good); font-weight: 700; }
span.d { color: var(--muted); font-size: 12px; }
td.why { color: var(--muted); font-size: 12px; min-width: 200px; }
td.hw, td.bound { white-space: nowrap; }
section table { font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 12px 0 4px; }
tr.unfit td { color: var(--muted); }
.tag { display:inline-block; padding:0 6px; border-radius:10px; font-size:12px; background:#eef2f8; }
.tag.memory { background:#e6f0ff; } .tag.compute { background:#fde8e8; }
.tag.overhead { background:#fff3d6; } .tag.communication { background:#e9f7ee; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--accent); }
dl.glossary { display:grid; grid-template-columns: max-content 1fr; gap: 4px 14px; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0; color: var(--muted); }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; }
"""

GLOSSARY = (
    ("TTFT", "time to first token: queueing + prefill of the prompt (with other users' decode steps in flight)."),
    ("TPOT", "time per output token after the first: one decode step (in steady state, including the "
             "prefill work interleaved per step)."),
    ("tok/s per user", "1 / TPOT: how fast one user sees text appear."),
    ("output tok/s", "generated tokens per second over all devices and users (Little's law in steady state)."),
    ("$ / 1M tokens", "device-hours priced at the catalog rate, split between prompt and output tokens by "
                      "the time each phase takes. Blank: no price for that hardware."),
    ("J / token", "system power (idle + utilization-scaled TDP share) / output tok/s."),
    ("bound", "what limits the step: compute (FLOP/s), memory (bandwidth), communication (links) or "
              "overhead (kernel launches, scheduling)."),
    ("devices", "the fewest devices that hold weights + KV cache for this workload; tp = tensor "
                "parallel, pp = pipeline stages."),
)


def usd(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x < 0.01:
        return f"${x:.2g}"
    return f"${x:.3g}" if x < 100 else f"${x:,.0f}"


def _cell(v, cls: str = "n", best: bool = False) -> str:
    c = cls + (" best" if best else "")
    return f'<td class="{c}">{escape(str(v))}</td>'


def _bound(b: dict) -> str:
    parts = []
    for phase in ("prefill", "decode"):
        v = b.get(phase)
        if v:
            parts.append(f'<span class="tag {escape(v)}">{phase}: {escape(v)}</span>')
    return "<br>".join(parts)


def num(x: float | None) -> str:
    """3 significant digits, thousands as whole numbers with separators."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:,.0f}" if abs(x) >= 1000 else fmt_num(x)


COLUMNS = (  # (header, estimate field, lower is better, formatter)
    ("TTFT", "ttft_s", True, fmt_time_s),
    ("TPOT", "tpot_s", True, fmt_time_s),
    ("tok/s\nper user", "decode_tok_s_per_user", False, num),
    ("output\ntok/s", "output_tok_s", False, num),
    ("$ / 1M\ninput", "usd_per_1m_input_tokens", True, usd),
    ("$ / 1M\noutput", "usd_per_1m_output_tokens", True, usd),
    ("J /\ntoken", "joules_per_output_token", True, num),
)


def comparison_table(data: ReportData, why_column: bool = True) -> str:
    """The ranked table (best value of each column in bold green), then what does not fit.

    Without ``why_column`` (narrow pages) the explanation is the bound cell's tooltip.
    """
    rows = [r for r in data.compare.rows if r.fits and r.estimate]
    best = {}
    for _, key, low, _ in COLUMNS:
        vals = [getattr(r.estimate, key) for r in rows]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        if len(vals) > 1:
            best[key] = min(vals) if low else max(vals)
    head = ['<th class="n">#</th>', "<th>hardware</th>", '<th class="n">devices</th>']
    head += [f'<th class="n">{escape(h).replace(chr(10), "<br>")}</th>' for h, *_ in COLUMNS]
    head += ["<th>bound</th>"] + (["<th>why</th>"] if why_column else [])
    out = ['<div class="tablewrap"><table class="compare"><thead><tr>', "".join(head),
           "</tr></thead><tbody>"]
    for i, r in enumerate(rows, 1):
        e = r.estimate
        assert e is not None
        lay = fmt_layout(e.tp, e.pp, e.ep, e.dp)
        cells = [_cell(i), f'<td class="hw"><b>{escape(r.hardware)}</b><br><span class="d">'
                 f'{escape(r.hardware_class)}, {escape(e.engine)}</span></td>',
                 f'<td class="n">{e.devices} <span class="d">({escape(lay)})</span></td>']
        for _, key, _, f in COLUMNS:
            v = getattr(e, key)
            cells.append(_cell(f(v), best=v is not None and best.get(key) == v))
        cells.append(f'<td class="bound" title="{escape(e.why)}">{_bound(e.bound)}</td>')
        if why_column:
            cells.append(f'<td class="why">{escape(e.why)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    unfit = [r for r in data.compare.rows if not r.fits]
    if unfit:
        items = "".join(f"<li><b>{escape(r.hardware)}</b>: {escape(r.reason or 'does not fit')}</li>"
                        for r in unfit)
        out.append(f"<details><summary>{len(unfit)} hardware cannot run this workload</summary>"
                   f"<ul>{items}</ul></details>")
    return "".join(out)


def summary(data: ReportData) -> str:
    """A few cards: the best hardware by cost, speed per user, throughput, energy."""
    rows = [r for r in data.compare.rows if r.fits and r.estimate]
    if not rows:
        return '<p>No selected hardware can run this workload.</p>'

    def pick(key: str, low: bool):
        cands = [(getattr(r.estimate, key), r) for r in rows if getattr(r.estimate, key) is not None]
        if not cands:
            return None
        return (min if low else max)(cands, key=lambda t: t[0])

    cards = []
    for title, key, low, f, unit in (
            ("cheapest output", "usd_per_1m_output_tokens", True, usd, " / 1M tokens"),
            ("fastest per user", "decode_tok_s_per_user", False, num, " tok/s"),
            ("most throughput", "output_tok_s", False, num, " tok/s"),
            ("least energy", "joules_per_output_token", True, num, " J/token"),
            ("first token soonest", "ttft_s", True, fmt_time_s, "")):
        p = pick(key, low)
        if p is None:
            continue
        v, r = p
        e = r.estimate
        cards.append(f'<div class="card"><div class="k">{escape(title)}</div>'
                     f'<div class="v">{escape(r.hardware)}</div>'
                     f'<div class="d">{escape(f(v) + unit)} on {e.devices} device(s)</div></div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def conditions(data: ReportData) -> str:
    w = data.workload
    prec = w.precision or "model native"
    kv = w.kv_precision or "engine default"
    return (f"{escape(w.model_name)} ({w.total_params / 1e9:.3g}B parameters"
            + (f", {w.active_params / 1e9:.3g}B active" if w.active_params < w.total_params * 0.99 else "")
            + f"); weights {escape(prec)}, KV cache {escape(kv)}; "
            f"calibration profile '{escape(data.calibration)}'; inferplan {escape(data.inferplan_version)}; "
            f"{escape(data.generated)}")


def _table(t: SectionTable) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape('' if c is None else str(c))}</td>" for c in row)
                   + "</tr>" for row in t.rows)
    cap = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return f'<div class="tablewrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _fig_html(fig) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG)


def _chart(chart: LineChart) -> str:
    from inferplan.report.figures import line_chart

    return _fig_html(line_chart(chart))


def section_html(s: ReportSection, anchor: str) -> str:
    parts = [f'<section id="{anchor}"><h2>{escape(s.title)}</h2>']
    parts += [f"<p>{escape(p)}</p>" for p in s.text]
    parts += [_table(t) for t in s.tables]
    parts += [_chart(c) for c in s.charts]
    if s.html:
        parts.append(s.html)
    parts.append("</section>")
    return "".join(parts)


HOW = {
    "pareto": ("Cost vs latency", "Each point is one hardware running the workload on the fewest "
               "devices that fit. Lower is cheaper, further left answers sooner; the dotted line "
               "joins the hardware nothing else beats on both. Colour: energy per output token."),
    "roofline": ("Roofline", "Horizontal roof: peak FLOP/s of one device for the weights' compute "
                 "type; sloped roof: peak memory bandwidth x FLOP per byte. Dashed: what the "
                 "calibrated efficiencies let the engine reach. A point under the sloped part is "
                 "memory-bound (faster memory helps, more FLOP/s does not); under the flat part, "
                 "compute-bound. Points below both roofs lose time to overheads or links."),
    "memory": ("Memory per device", "What each device holds for this workload: weights, the KV "
               "cache of the sequences in flight, activations of the largest step and what the "
               "engine keeps in reserve. The black tick is the device's capacity."),
    "throughput": ("Throughput and interactivity", "Left: output tokens per second of the whole "
                   "system as more sequences decode together, up to the batch whose KV cache "
                   "still fits. Right: the same points as throughput per device against the speed "
                   "each user sees — moving right buys interactivity with throughput. Decode steps "
                   "only; prompt processing is excluded."),
}


def render_html(data: ReportData) -> str:
    """The report as one HTML document (plotly.js inlined, ~5 MB)."""
    from plotly.offline import get_plotlyjs

    from inferplan.report.figures import figures

    figs = figures(data)
    nav = [("summary", "Summary"), ("comparison", "Comparison")]
    nav += [(k, HOW[k][0]) for k in figs]
    extra = [(f"section-{i}", s) for i, s in enumerate(data.sections)]
    nav += [(a, s.title) for a, s in extra]
    nav += [("glossary", "Definitions")]
    body = [
        "<header><h1>inferplan report</h1>",
        f'<p class="sub">{escape(data.title)}</p>',
        f'<p class="conditions">{conditions(data)}</p></header>',
        "<nav>" + "".join(f'<a href="#{a}">{escape(t)}</a>' for a, t in nav) + "</nav>",
        f'<section id="summary"><h2>Summary</h2>{summary(data)}</section>',
        '<section id="comparison"><h2>Comparison</h2><p class="how">Ranked by '
        f"{escape(data.compare.sort)}; best value of each column in green. Throughput, $ and J are "
        "for all devices of a row together.</p>" + comparison_table(data) + "</section>",
    ]
    for k, fig in figs.items():
        title, how = HOW[k]
        body.append(f'<section id="{k}"><h2>{escape(title)}</h2><p class="how">{escape(how)}</p>'
                    f"{_fig_html(fig)}</section>")
    body += [section_html(s, a) for a, s in extra]
    body.append('<section id="glossary"><h2>Definitions</h2><dl class="glossary">'
                + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in GLOSSARY)
                + "</dl></section>")
    body.append("<footer>Made by inferplan, an analytic model of LLM inference (no hardware was "
                "run). Formulas: docs/metrics.md and docs/model.md of the inferplan repository."
                "</footer>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>inferplan: {escape(data.title)}</title><style>{CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body><main>"
            + "".join(body) + "</main></body></html>\n")
