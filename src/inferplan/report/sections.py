"""Pluggable report sections: the small interface other modules use to add to a report.

A :class:`ReportSection` is a title, paragraphs of plain text, tables and line charts described
as data (no plotting library), so that both renderers draw it: HTML (plotly) and Markdown
(matplotlib PNGs). ``html`` is an optional trusted fragment shown only in the HTML report.

Two ways in, both used by :func:`inferplan.report.build.build_report`:

- **providers**: ``register_section_provider("name", fn)`` with ``fn(data: ReportData) ->
  list[ReportSection]``; called for every report, in registration order (the built-in
  ``assumptions`` and ``accuracy`` sections register this way);
- **result objects**: anything passed in ``build_report(..., extra=[...])`` that is a
  ``ReportSection``, has a ``report_sections() -> list[ReportSection]`` method, or whose type
  name has an adapter (``register_section_adapter("SimResult", fn)``; ``adapters.py`` turns
  the simulator's, planner's and audit's results into latency CDFs, queue length over time,
  option and verdict tables).

Not here: the built-in charts (roofline, Pareto, memory, throughput curves: ``figures.py`` and
``markdown.py``) and the numbers themselves (``build.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from inferplan.report.build import ReportData

__all__ = ["LineChart", "ReportSection", "SectionTable", "Series", "register_section_adapter",
           "register_section_provider", "section_providers", "sections_from"]

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


SectionProvider = Callable[["ReportData"], list[ReportSection]]
_PROVIDERS: dict[str, SectionProvider] = {}


def register_section_provider(name: str, fn: SectionProvider) -> None:
    """Add (or replace) a provider called for every report."""
    _PROVIDERS[name] = fn


def section_providers() -> dict[str, SectionProvider]:
    return dict(_PROVIDERS)


_ADAPTERS: dict[str, Callable[[Any], list[ReportSection]]] = {}


def register_section_adapter(type_name: str, fn: Callable[[Any], list[ReportSection]]) -> None:
    """Sections for results of a type (by class name, so its package need not be imported)."""
    _ADAPTERS[type_name] = fn


def sections_from(objs: Iterable[Any]) -> list[ReportSection]:
    """Sections of result objects: ReportSection as is, ``obj.report_sections()``, an adapter.

    A list or tuple of results of one type (several simulations) goes to that adapter at once.
    """
    import inferplan.report.adapters  # noqa: F401 - registers the built-in adapters

    out: list[ReportSection] = []
    for obj in objs:
        one = obj[0] if isinstance(obj, list | tuple) and obj else obj
        name = type(one).__name__
        if isinstance(obj, ReportSection):
            out.append(obj)
        elif callable(getattr(obj, "report_sections", None)):
            out.extend(obj.report_sections())
        elif name in _ADAPTERS:
            out.extend(_ADAPTERS[name](obj))
        else:
            raise TypeError(f"{name} is not a ReportSection, has no report_sections() and no "
                            f"adapter (register_section_adapter)")
    return out
