"""The shared verdict helper of every check: turning per-case agreement into a verdict, and the
words a derivation uses for it (docs/audit.md)."""

from __future__ import annotations

from pydantic import model_validator

from inferplan.audit.registry import CheckParams, Verdict


def verdict_of(flags: list[bool]) -> Verdict:
    """All cases agree: consistent; none: inconsistent; some: holds-under-conditions."""
    if flags and all(flags):
        return "consistent"
    if any(flags):
        return "holds-under-conditions"
    return "inconsistent"


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
