"""Calibrated efficiencies: ratios of achieved fractions of peak between devices.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

from pydantic import Field

from inferplan.audit.checks.verdict import Interval, mark
from inferplan.audit.registry import AuditContext, CheckResult, Verdict, register_check
from inferplan.audit.tolerance import (
    CALIBRATION_COVERAGE,
    within,
)
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.schema import ComputeType
from inferplan.units import TB


class EfficiencyRatioParams(Interval):
    a_family: str = Field(description="e.g. gpu-amd")
    b_family: str = Field(description="e.g. gpu-nvidia")
    engine_scope: str = Field(default="vllm@gpu", description="engine factor scope used by both")
    hardware: tuple[str, str] | None = Field(
        default=None, description="one device of each family, to show absolute effective rates")
    rel_tol: float = Field(default=0.10, ge=0, description="how loosely 'approximately' is read")


@register_check("efficiency-ratio", EfficiencyRatioParams)
def efficiency_ratio(p: EfficiencyRatioParams, ctx: AuditContext) -> CheckResult:
    """Fraction of peak one hardware family reaches relative to another (calibrated factors)."""
    from inferplan.catalog._load import load_yaml
    from inferplan.perf.efficiency import default_profile_path, load_efficiency

    eff = load_efficiency(ctx.calibration)
    path = ctx.calibration or default_profile_path()
    raw = (load_yaml(path) or {}).get("factors", {})
    lo, hi = p.claimed_low, p.claimed_high
    computed: dict[str, float | str | None] = {}
    derivation, fitted_ok, prior_ok, effective = [], [], [], {}
    for factor, engine_factor, what in (("bw_eff", "engine_bw", "bandwidth"),
                                        ("compute_eff", "engine_compute", "compute")):
        fa = eff.lookup(factor, [p.a_family])
        fb = eff.lookup(factor, [p.b_family])
        fe = eff.lookup(engine_factor, [p.engine_scope])
        r = (fa.value * fe.value) / (fb.value * fe.value)
        effective[what] = (fa.value * fe.value, fb.value * fe.value)
        pa = raw.get(factor, {}).get(p.a_family, {})
        pb = raw.get(factor, {}).get(p.b_family, {})
        pr = pa["prior"] / pb["prior"] if "prior" in pa and "prior" in pb else None
        computed[f"{factor}.fitted_ratio"] = r
        computed[f"{factor}.prior_ratio"] = pr
        ok, pok = within(r, lo, hi, p.rel_tol), pr is not None and within(pr, lo, hi, p.rel_tol)
        fitted_ok.append(ok)
        prior_ok.append(pok)
        derivation.append(
            f"{what} ({factor}): {p.a_family} {fa.value:.3g} x {engine_factor}[{p.engine_scope}] "
            f"{fe.value:.3g} / {p.b_family} {fb.value:.3g} x {fe.value:.3g} = {r:.3g} -> {mark(ok)}; "
            f"priors {pa.get('prior')} / {pb.get('prior')} = " + (f"{pr:.3g} -> {mark(pok)}" if pr else "-"))
        derivation.append(f"  prior sources: {p.a_family}: {pa.get('source', '-')}; "
                          f"{p.b_family}: {pb.get('source', '-')}")
    derivation.append("the same engine factor multiplies both sides: the ratio compares each "
                      "family's achieved fraction of its own peak")
    sources = [f"efficiency profile '{eff.profile}' ({path}): {eff.provenance.get('method', '')}, "
               f"fitted {eff.provenance.get('date', '?')}"]
    if p.hardware:
        ha, hb = get_hardware(p.hardware[0]), get_hardware(p.hardware[1])
        ea, eb = effective["bandwidth"]
        ba, bb = ha.memory_bw_bytes_s * ea, hb.memory_bw_bytes_s * eb
        t: ComputeType = "bf16"
        ca, cb = ha.peak_flops.get(t, 0) * effective["compute"][0], hb.peak_flops.get(t, 0) * effective["compute"][1]
        derivation.append(
            f"in absolute terms at the fitted factors: {ha.id} {ba / TB:.3g} vs {hb.id} {bb / TB:.3g} TB/s "
            f"effective ({ba / bb:.3g}x), {t} {ca / 1e12:.0f} vs {cb / 1e12:.0f} TFLOP/s ({ca / cb:.3g}x)")
        computed["effective_bw_ratio"] = ba / bb
        computed["effective_bf16_ratio"] = ca / cb if cb else None
        sources += [f"hardware {ha.id}: {ha.spec_source}", f"hardware {hb.id}: {hb.spec_source}"]
    for fam in (p.a_family, p.b_family):
        if fam in CALIBRATION_COVERAGE:
            derivation.append(f"data behind {fam}: {CALIBRATION_COVERAGE[fam]}")
    conditions: list[str] = []
    if any(fitted_ok):
        verdict: Verdict = "consistent"
    elif any(prior_ok):
        verdict = "holds-under-conditions"
        which = [w for w, ok in zip(("bandwidth", "compute"), prior_ok, strict=True) if ok]
        conditions = [f"only for {'/'.join(which)}-bound work (prefill, large batches) as measured "
                      "by the prior's source; the fit to the calibration data gives "
                      + ", ".join(f"{k.split('.')[0]} {v:.2f}" for k, v in computed.items()
                                  if k.endswith("fitted_ratio") and v is not None),
                      f"data behind {p.a_family}: {CALIBRATION_COVERAGE.get(p.a_family, 'see profile')}"]
    else:
        verdict = "inconsistent"
    value = ", ".join(f"{k.split('.')[0]} {v:.2f}" for k, v in computed.items()
                      if k.endswith("fitted_ratio") and v is not None)
    return CheckResult(check="efficiency-ratio", verdict=verdict, value=f"fitted {value}",
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=sources, tolerance=f"±{p.rel_tol:.0%} ('approximately'); factor "
                       "ratios are not predictions, so the LOSO band does not apply")
