"""Reports people would rather look at: one workload across hardware, as HTML or Markdown.

- :func:`build_report` (``build.py``): the numbers (a ranked comparison plus roofline points,
  throughput curves, memory, assumptions, measured error) as one pydantic :class:`ReportData`;
- :func:`render_html` (``html.py``): one self-contained HTML file, plotly.js inlined (offline);
- :func:`render_markdown` (``markdown.py``): Markdown + PNG charts drawn by matplotlib;
- :class:`ReportSection` and :func:`register_section_provider` (``sections.py``): how the
  simulator, planner or audit add their own sections.

Needs the ``report`` extra (plotly, matplotlib); importing this package does not import them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from inferplan.report.build import ReportData, build_report
from inferplan.report.sections import (
    LineChart,
    ReportSection,
    SectionTable,
    Series,
    register_section_provider,
)

__all__ = ["LineChart", "ReportData", "ReportSection", "SectionTable", "Series", "build_report",
           "register_section_provider", "render_html", "render_markdown", "write_report"]


def render_html(data: ReportData) -> str:
    from inferplan.report.html import render_html as _render

    return _render(data)


def render_markdown(data: ReportData, path: Path) -> list[Path]:
    from inferplan.report.markdown import render_markdown as _render

    return _render(data, path)


def write_report(data: ReportData, path: Path, fmt: Literal["html", "md"] = "html") -> list[Path]:
    """Write the report to `path` (and, for Markdown, its PNGs); returns the files written."""
    path = Path(path)
    if fmt == "md":
        return render_markdown(data, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(data), encoding="utf-8")
    return [path]
