"""Arithmetic of a claim's own numbers (ratios of growth rates) and claims that are not checkable.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

from pydantic import Field

from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, register_check
from inferplan.audit.tolerance import (
    within,
)


class GrowthRatioParams(CheckParams):
    a_label: str
    b_label: str
    a_growth_pct: float = Field(gt=-100)
    b_growth_pct: float = Field(gt=-100)
    claimed_ratio: float = Field(gt=0)
    rel_tol: float = Field(default=0.01, ge=0, description="rounding of the claimed ratio")


@register_check("growth-ratio", GrowthRatioParams)
def growth_ratio(p: GrowthRatioParams, ctx: AuditContext) -> CheckResult:
    """A 'divergence ratio' of two growth rates: the arithmetic, and what it measures."""
    ratio = p.a_growth_pct / p.b_growth_pct
    relative = (1 + p.a_growth_pct / 100) / (1 + p.b_growth_pct / 100)
    ok = within(ratio, p.claimed_ratio, p.claimed_ratio, p.rel_tol)
    derivation = [
        f"ratio of the growth rates: {p.a_growth_pct:g}% / {p.b_growth_pct:g}% = {ratio:.3g}"
        f" (claimed {p.claimed_ratio:g}: {'matches' if ok else 'does not match'})",
        f"what shipments do: {p.a_label} grow x{1 + p.a_growth_pct / 100:.3f}, {p.b_label} "
        f"x{1 + p.b_growth_pct / 100:.3f}, so the {p.a_label}/{p.b_label} shipment ratio moves by "
        f"{1 + p.a_growth_pct / 100:.3f} / {1 + p.b_growth_pct / 100:.3f} = {relative:.3f}x in one year",
        f"a ratio of growth rates is scale-free: {ratio:.3g}% vs 1% growth gives the same {ratio:.3g}x; "
        "it says nothing about the size of either market or of the gap between them",
        "the growth rates themselves are a forecast: not checkable against hardware physics",
    ]
    if not ok:
        return CheckResult(check="growth-ratio", verdict="inconsistent", value=f"{ratio:.3g}",
                           computed={"ratio_of_growth_rates": ratio, "shipment_ratio_change": relative},
                           derivation=derivation, tolerance=f"rounding ±{p.rel_tol:.0%}")
    return CheckResult(
        check="growth-ratio", verdict="holds-under-conditions",
        value=f"{ratio:.3g} (shipment ratio x{relative:.3f}/yr)",
        computed={"ratio_of_growth_rates": ratio, "shipment_ratio_change": relative},
        conditions=[f"read as a ratio of two percentage growth rates ({ratio:.3g}); as divergence of "
                    f"shipments it is x{relative:.3f} in 2026",
                    "the inputs are a market forecast (not checked)"],
        derivation=derivation, tolerance=f"rounding ±{p.rel_tol:.0%}",
    )


class NotCheckableParams(CheckParams):
    reason: str = Field(min_length=1)
    arithmetic: str | None = Field(default=None, description="what the numbers imply, if anything")


@register_check("not-checkable", NotCheckableParams)
def not_checkable(p: NotCheckableParams, ctx: AuditContext) -> CheckResult:
    """Market, forecast or business claims: no hardware physics or catalog entry decides them."""
    derivation = [p.reason] + ([p.arithmetic] if p.arithmetic else [])
    return CheckResult(check="not-checkable", verdict="not-checkable", value="-",
                       derivation=derivation)
