"""The shared verdict helper of every check: turning per-case agreement into a verdict, and the
words a derivation uses for it (docs/audit.md).

A predicted value is judged against its own prediction interval (:mod:`inferplan.perf.intervals`:
the 80% interval from cross-validated residuals of its corpus support, hardware class, metric
family and regime): a case agrees when the claimed range overlaps the interval, and a case that does not says by how
much the claim lies outside it. Where no interval table is available, the class's LOSO median
band of ``tolerance.py`` is the fallback. Catalog facts and arithmetic are not predictions: their
checks compare exactly, up to the claim's rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import Field, model_validator

from inferplan.audit.registry import CheckParams, CheckResult, Verdict
from inferplan.audit.tolerance import ERROR_SOURCE, ErrorBand, band_for, within
from inferplan.perf.intervals import MetricInterval

INTERVAL_SOURCE = ("80% prediction intervals from the leave-one-source-out residuals of the "
                   "calibration corpus (perf/intervals.py, calib/data/intervals.yaml)")


def verdict_of(flags: list[bool]) -> Verdict:
    """All cases agree: consistent; none: inconsistent; some: holds-under-conditions; no case
    counted: not-checkable."""
    if not flags:
        return "not-checkable"
    if all(flags):
        return "consistent"
    if any(flags):
        return "holds-under-conditions"
    return "inconsistent"


def conditions_of(verdict: Verdict, holds: list[str], fails: list[str]) -> list[str]:
    """The conditions a 'holds-under-conditions' verdict states: the cases that hold and those
    that do not (none for the other verdicts)."""
    if verdict != "holds-under-conditions":
        return []
    return [f"holds: {h}" for h in holds] + [f"does not hold: {f}" for f in fails]


def tolerance_text(bands: Iterable[ErrorBand]) -> str | None:
    """The error bands a verdict used and where they come from (None: exact arithmetic)."""
    tol = "; ".join(b.text() for b in bands)
    return f"{tol} [{ERROR_SOURCE}]" if tol else None


def interval_text(low: float, high: float, level: float, fmt: Callable[[float], str]) -> str:
    return f"{level:.0%} interval {fmt(low)} - {fmt(high)}"


def against_interval(lo: float | None, hi: float | None, low: float, high: float, level: float,
                     fmt: Callable[[float], str] = "{:.3g}".format) -> tuple[bool, str]:
    """Does the claimed range [lo, hi] (either side may be open) overlap the tool's interval
    [low, high]? With the words: 'agrees: the claim overlaps ...' or 'disagrees: the claim lies
    outside the tool's 80% interval 1.2 - 3.4, 1.6x above its high end'."""
    span = interval_text(low, high, level, fmt)
    if lo is not None and lo > high:
        by = f", {lo / high:.3g}x above its high end" if high > 0 else ""
        return False, f"disagrees: the claim lies outside the tool's {span}{by}"
    if hi is not None and hi < low:
        by = f", {low / hi:.3g}x below its low end" if hi > 0 else ""
        return False, f"disagrees: the claim lies outside the tool's {span}{by}"
    return True, f"agrees: the claim overlaps the tool's {span}"


@dataclass
class Tally:
    """Per-case agreement of a check, turned into its verdict, conditions and result; and what
    each predicted value was judged against (its interval, or the class band as a fallback)."""

    flags: list[bool] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    fails: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # short values; the first three are shown
    intervals: dict[str, list[float]] = field(default_factory=dict)  # computed key -> [low, high]
    level: float | None = None
    groups: dict[str, int] = field(default_factory=dict)  # interval table group -> rows
    bands: dict[str, ErrorBand] = field(default_factory=dict)  # fallback bands used
    context: list[str] = field(default_factory=list)  # cases shown, not counted (Scenario.context)

    def judge(self, key: str, value: float, lo: float | None, hi: float | None,
              iv: tuple[float, float] | None, level: float | None, groups: Iterable[MetricInterval],
              hw_class: str, side: str, fmt: Callable[[float], str] = "{:.3g}".format) -> tuple[bool, str]:
        """Judge one predicted `value` (computed[key]) against the claim: inside its interval
        `iv` (at `level`, read from `groups`), else -- no interval table -- within the LOSO band
        of `hw_class` (`side`: where the value lies relative to the claim, for that wording)."""
        if iv is not None and level is not None:
            self.intervals[key] = [iv[0], iv[1]]
            self.level = level
            for g in groups:
                self.groups[g.group] = g.rows
            return against_interval(lo, hi, iv[0], iv[1], level, fmt)
        band = band_for(hw_class)
        self.bands[band.hw_class] = band
        ok = within(value, lo, hi, band.median)
        return ok, judged(ok, side, band.median)

    def add(self, ok: bool, label: str, why_not: str = "", context: bool = False) -> None:
        """Case `label` agrees (`ok`) or not (`why_not`: the value and the side it misses on).
        A `context` case is shown beside the verdict, not counted in it (``Scenario.context``)."""
        if context:
            self.context.append(f"{label} " + ("(agrees)" if ok else f"({why_not or 'disagrees'})"))
            return
        self.flags.append(ok)
        if ok:
            self.holds.append(label)
        else:
            self.fails.append(f"{label} ({why_not})" if why_not else label)

    def tolerance(self) -> str | None:
        """What the verdict compared the claims with: intervals (and their table groups), bands."""
        parts = []
        if self.intervals and self.level is not None:
            groups = ", ".join(f"{g} ({n} rows)" for g, n in self.groups.items())
            parts.append(f"a claim agrees when it overlaps the tool's {self.level:.0%} prediction "
                         f"interval of the computed value; groups: {groups} [{INTERVAL_SOURCE}]")
        band = tolerance_text(self.bands.values())
        if band:
            parts.append("no interval table: LOSO median band " + band)
        return "; ".join(parts) or None

    def result(self, check: str, computed: dict[str, float | str | None], derivation: list[str],
               sources: list[str]) -> CheckResult:
        verdict = verdict_of(self.flags)
        return CheckResult(check=check, verdict=verdict, value="; ".join(self.values[:3]),
                           computed=dict(computed),
                           conditions=conditions_of(verdict, self.holds, self.fails), context=list(self.context),
                           derivation=derivation, sources=dedup(sources),
                           tolerance=self.tolerance(), intervals=dict(self.intervals),
                           interval_level=self.level if self.intervals else None)


def mark(ok: bool) -> str:
    return "agrees" if ok else "disagrees"


def judged(ok: bool, side: str, tol: float) -> str:
    """'agrees: inside the claimed range', 'agrees within ±27%: below ...', 'disagrees: ...'."""
    if ok:
        return "agrees: inside the claimed range" if side.startswith("inside") else \
            f"agrees within ±{tol:.0%}: {side}"
    return f"disagrees: {side} by more than ±{tol:.0%}"


def dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def claimed_text(lo: float | None, hi: float | None, unit: str = "") -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"{lo:g}{u}" if lo == hi else f"{lo:g}-{hi:g}{u}"
    return f">= {lo:g}{u}" if lo is not None else f"<= {hi:g}{u}"


class Interval(CheckParams):
    claimed_low: float | None = Field(default=None, ge=0)  # rates, times, bytes, $: not negative
    claimed_high: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> Interval:
        if self.claimed_low is None and self.claimed_high is None:
            raise ValueError("give claimed_low and/or claimed_high")
        if (self.claimed_low is not None and self.claimed_high is not None
                and self.claimed_low > self.claimed_high):
            raise ValueError("claimed_low is above claimed_high")
        return self
