"""The shared verdict helper of every check: turning per-case agreement into a verdict, and the
words a derivation uses for it (docs/audit.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import model_validator

from inferplan.audit.registry import CheckParams, CheckResult, Verdict
from inferplan.audit.tolerance import ERROR_SOURCE, ErrorBand


def verdict_of(flags: list[bool]) -> Verdict:
    """All cases agree: consistent; none: inconsistent; some: holds-under-conditions."""
    if flags and all(flags):
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


@dataclass
class Tally:
    """Per-case agreement of a check, turned into its verdict, conditions and result."""

    flags: list[bool] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)
    fails: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # short values; the first three are shown

    def add(self, ok: bool, label: str, why_not: str = "") -> None:
        """Case `label` agrees (`ok`) or not (`why_not`: the value and the side it misses on)."""
        self.flags.append(ok)
        if ok:
            self.holds.append(label)
        else:
            self.fails.append(f"{label} ({why_not})" if why_not else label)

    def result(self, check: str, computed: dict[str, float | str | None], derivation: list[str],
               sources: list[str], bands: Iterable[ErrorBand] = ()) -> CheckResult:
        verdict = verdict_of(self.flags)
        return CheckResult(check=check, verdict=verdict, value="; ".join(self.values[:3]),
                           computed=dict(computed), conditions=conditions_of(verdict, self.holds, self.fails),
                           derivation=derivation, sources=dedup(sources),
                           tolerance=tolerance_text(bands))


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
    claimed_low: float | None = None
    claimed_high: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Interval:
        if self.claimed_low is None and self.claimed_high is None:
            raise ValueError("give claimed_low and/or claimed_high")
        if (self.claimed_low is not None and self.claimed_high is not None
                and self.claimed_low > self.claimed_high):
            raise ValueError("claimed_low is above claimed_high")
        return self
