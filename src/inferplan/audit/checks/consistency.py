"""Claims of one document against each other (same quantity key, different numbers).

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

import math

from pydantic import Field

from inferplan.audit.claims import ClaimsFile, Quantity
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, Verdict, register_check


class InternalConsistencyParams(CheckParams):
    key: str
    rel_tol: float = Field(default=0.10, ge=0, description="rounding allowed between the statements")


def conflicts_for(doc: ClaimsFile, key: str, rel_tol: float) -> list[tuple[str, str, float]]:
    """Pairs of claims stating the same quantity with intervals that do not overlap (after
    widening each by rel_tol): (claim a, claim b, gap factor)."""
    stated = [(c.id, iv) for c in doc.claims
              if c.quantity.key == key and (iv := c.quantity.interval()) is not None]
    out = []
    for k, (ia, (alo, ahi)) in enumerate(stated):
        for ib, (blo, bhi) in stated[k + 1:]:
            a_lo, a_hi = alo or 0.0, ahi if ahi is not None else math.inf
            b_lo, b_hi = blo or 0.0, bhi if bhi is not None else math.inf
            if a_hi * (1 + rel_tol) < b_lo / (1 + rel_tol):
                out.append((ia, ib, b_lo / a_hi))
            elif b_hi * (1 + rel_tol) < a_lo / (1 + rel_tol):
                out.append((ia, ib, a_lo / b_hi))
    return out


@register_check("internal-consistency", InternalConsistencyParams)
def internal_consistency(p: InternalConsistencyParams, ctx: AuditContext) -> CheckResult:
    """Claims of the same document that state the same quantity must agree with each other."""
    same = [c for c in ctx.doc.claims if c.quantity.key == p.key]
    if len(same) < 2:
        return CheckResult(check="internal-consistency", verdict="not-checkable", value="-",
                           derivation=[f"no other claim of this document states '{p.key}'"])
    derivation = [f"claim {c.id} ({c.where or 'text'}): \"{c.quote}\" -> {_q(c.quantity)}" for c in same]
    pairs = conflicts_for(ctx.doc, p.key, p.rel_tol)
    for a, b, gap in pairs:
        derivation.append(f"claims {a} and {b} cannot both hold: {gap:.3g}x apart "
                          f"(more than the ±{p.rel_tol:.0%} rounding allowed)")
    for c in same:
        r = ctx.results.get(c.id)
        if r is not None and c.id != ctx.claim.id:
            derivation.append(f"the tool's value for claim {c.id}: {r.value} ({r.verdict})")
    verdict: Verdict = "inconsistent" if pairs else "consistent"
    return CheckResult(check="internal-consistency", verdict=verdict,
                       value=" vs ".join(f"{_q(c.quantity)} ({c.id})" for c in same),
                       computed={"conflicting_pairs": len(pairs)}, derivation=derivation,
                       tolerance=f"rounding ±{p.rel_tol:.0%}")


def _q(q: Quantity) -> str:
    return q.text()
