"""Pluggable report sections: the small interface other modules use to add to a report.

A :class:`ReportSection` is a title, paragraphs of plain text, tables and line charts described
as data (no plotting library), so that both renderers draw it: HTML (plotly) and Markdown
(matplotlib PNGs). ``html`` is an optional trusted fragment shown only in the HTML report.

One way in: a *section provider*, ``register_section_provider(name, fn, for_type=...)``, a
function from one object to a list of sections, keyed by the type name of what it reads:

- ``for_type="ReportData"`` (the default): called for every report with its
  :class:`~inferplan.report.build.ReportData`, in registration order (the built-in
  ``assumptions`` and ``accuracy`` sections);
- ``for_type="SimResult"`` (``PlanResult``, ``AuditReport``, a plugin's type): called for
  results passed in ``build_report(..., extra=[...])`` whose type has that name (``adapters.py``
  holds the simulator's, planner's and audit's; ``build.py`` registers them). By name, so this
  package need not import those packages.

A result object may instead render itself with a ``report_sections()`` method (it takes
precedence), and a ``ReportSection`` passed in ``extra`` is used as is.

Not here: the built-in charts (roofline, Pareto, memory, throughput curves: ``figures.py`` and
``markdown.py``) and the numbers themselves (``build.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LineChart", "ReportSection", "SectionTable", "Series", "register_section_provider",
           "section_providers", "sections_from"]

Cell = str | float | int | None


class Series(BaseModel):
    """One line of a chart: x and y in the units the chart's axis titles name."""

    model_config = ConfigDict(extra="forbid")
    name: str
    x: list[float]
    y: list[float]


class LineChart(BaseModel):
    """A line chart as data. ``step``: draw a staircase (CDFs, queue length over time)."""

    model_config = ConfigDict(extra="forbid")
    title: str
    x_title: str
    y_title: str
    series: list[Series]
    log_x: bool = False
    log_y: bool = False
    step: bool = False


class SectionTable(BaseModel):
    """A table; numbers are shown as given (format them to strings for control)."""

    model_config = ConfigDict(extra="forbid")
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""


class ReportSection(BaseModel):
    """A titled part of a report (see the module docstring for how to add one)."""

    model_config = ConfigDict(extra="forbid")
    title: str
    text: list[str] = Field(default_factory=list, description="paragraphs of plain text")
    tables: list[SectionTable] = Field(default_factory=list)
    charts: list[LineChart] = Field(default_factory=list)
    html: str = Field(default="", description="trusted HTML fragment, HTML report only")


SectionProvider = Callable[[Any], list[ReportSection]]
REPORT_DATA = "ReportData"


@dataclass(frozen=True)
class _Provider:
    for_type: str
    fn: SectionProvider


_PROVIDERS: dict[str, _Provider] = {}


def register_section_provider(name: str, fn: SectionProvider, *, for_type: str = REPORT_DATA) -> None:
    """Add (or replace) provider `name`: ``fn(obj) -> list[ReportSection]`` for objects whose
    type is named `for_type` (default: every report's ReportData)."""
    _PROVIDERS[name] = _Provider(for_type, fn)


def section_providers(for_type: str = REPORT_DATA) -> dict[str, SectionProvider]:
    """The providers of one type, in registration order."""
    return {k: p.fn for k, p in _PROVIDERS.items() if p.for_type == for_type}


def sections_from(objs: Iterable[Any]) -> list[ReportSection]:
    """Sections of result objects: ReportSection as is, ``obj.report_sections()``, else the
    providers registered for its type name.

    A list or tuple of results of one type (several simulations) goes to those providers at once.
    """
    out: list[ReportSection] = []
    for obj in objs:
        one = obj[0] if isinstance(obj, list | tuple) and obj else obj
        name = type(one).__name__
        providers = section_providers(name)
        if isinstance(obj, ReportSection):
            out.append(obj)
        elif callable(getattr(obj, "report_sections", None)):
            out.extend(obj.report_sections())
        elif providers:
            for fn in providers.values():
                out.extend(fn(obj))
        else:
            raise TypeError(f"{name} is not a ReportSection, has no report_sections() and no "
                            f"adapter (register_section_provider(..., for_type='{name}'))")
    return out
