"""Built-in audit checks: each a small function that computes a claim with the library.

Every check takes its params model and an :class:`~inferplan.audit.registry.AuditContext`,
and returns a :class:`~inferplan.audit.registry.CheckResult`: the numbers it computed (SI units
in their names), the conditions, a verdict and a derivation a hardware engineer can follow,
citing the catalog entries it read. Verdict rules (docs/audit.md):

- ``consistent``: every case the check computes agrees with the claim within the tool's stated
  error (``tolerance.py``: LOSO median per hardware class; exact arithmetic for specs);
- ``holds-under-conditions``: some cases agree and some do not; the agreeing cases are the
  conditions;
- ``inconsistent``: no case agrees; the derivation says by how much;
- ``not-checkable``: market data or forecasts, said plainly.

The registry and result types live in ``registry.py``; scenarios (estimate calls) in
``scenario.py``. Checks register with :func:`register_check`, exactly as a plugin would.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from inferplan.audit.claims import ClaimsFile, Quantity, Verdict
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, register_check
from inferplan.audit.scenario import (
    Metric,
    Outcome,
    Scenario,
    fmt_metric,
    resolve_model,
    run_scenario,
    sources_of,
)
from inferplan.audit.tolerance import (
    CALIBRATION_COVERAGE,
    ERROR_SOURCE,
    band_for,
    ratio_band,
    within,
)
from inferplan.catalog.hardware import get_hardware
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.memory import kv_bytes_per_sequence_device, max_sequences
from inferplan.perf.step import step_work
from inferplan.units import fmt_bytes, fmt_num

GB = 1e9
TB = 1e12


def _verdict(flags: list[bool]) -> Verdict:
    """All cases agree: consistent; none: inconsistent; some: holds-under-conditions."""
    if flags and all(flags):
        return "consistent"
    if any(flags):
        return "holds-under-conditions"
    return "inconsistent"


def _mark(ok: bool) -> str:
    return "agrees" if ok else "disagrees"


def _judged(ok: bool, side: str, tol: float) -> str:
    """'agrees: inside the claimed range', 'agrees within ±27%: below ...', 'disagrees: ...'."""
    if ok:
        return "agrees: inside the claimed range" if side.startswith("inside") else \
            f"agrees within ±{tol:.0%}: {side}"
    return f"disagrees: {side} by more than ±{tol:.0%}"


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _claimed(lo: float | None, hi: float | None, unit: str = "") -> str:
    u = f" {unit}" if unit else ""
    if lo is not None and hi is not None:
        return f"{lo:g}{u}" if lo == hi else f"{lo:g}-{hi:g}{u}"
    return f">= {lo:g}{u}" if lo is not None else f"<= {hi:g}{u}"


class _Interval(CheckParams):
    claimed_low: float | None = None
    claimed_high: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> _Interval:
        if self.claimed_low is None and self.claimed_high is None:
            raise ValueError("give claimed_low and/or claimed_high")
        if (self.claimed_low is not None and self.claimed_high is not None
                and self.claimed_low > self.claimed_high):
            raise ValueError("claimed_low is above claimed_high")
        return self


# --- arithmetic ----------------------------------------------------------------------------------


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


# --- catalog facts -------------------------------------------------------------------------------

SpecField = Literal["memory_bytes", "memory_bw_bytes_s", "memory_type", "sram_bytes",
                    "sram_bw_bytes_s", "tdp_w", "host_memory_bytes"]


def _fmt_field(name: str, v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if name.endswith("bw_bytes_s"):
        return f"{v / TB:.3g} TB/s"
    if name.endswith("bytes"):
        return fmt_bytes(v)
    if name.endswith("_w"):
        return f"{v:.0f} W"
    return fmt_num(v)


class SpecItem(CheckParams):
    hardware: str
    field: SpecField
    value: float | str


class CatalogSpecParams(CheckParams):
    items: list[SpecItem] = Field(min_length=1)
    rel_tol: float = Field(default=0.02, ge=0, description="rounding of the document's figures")
    variants: dict[str, list[str]] = Field(
        default_factory=dict, description="hardware id -> other catalog ids the document's name could mean")


@register_check("catalog-spec", CatalogSpecParams)
def catalog_spec(p: CatalogSpecParams, ctx: AuditContext) -> CheckResult:
    """Spec-sheet numbers (capacity, bandwidth, memory type) against the hardware catalog."""
    computed: dict[str, float | str | None] = {}
    derivation, sources, conditions = [], [], []
    values: dict[str, list[str]] = {}
    flags = []
    for it in p.items:
        hw = get_hardware(it.hardware)
        have = getattr(hw, it.field)
        if isinstance(it.value, str):
            ok = isinstance(have, str) and it.value.lower() in have.lower()
        else:
            ok = have is not None and within(float(have), it.value, it.value, p.rel_tol)
        flags.append(ok)
        computed[f"{hw.id}.{it.field}"] = have
        derivation.append(f"{hw.id} {it.field}: catalog {_fmt_field(it.field, have)}, document "
                          f"{_fmt_field(it.field, it.value)}: {'matches' if ok else 'DIFFERS'}")
        values.setdefault(hw.id, []).append(_fmt_field(it.field, have))
        sources.append(f"hardware {hw.id}: {hw.spec_source}")
    for hw_id, others in p.variants.items():
        fields = sorted({it.field for it in p.items if it.hardware == hw_id and it.field != "memory_type"})
        alts = []
        for o in others:
            ohw = get_hardware(o)
            alts.append(f"{o} " + ", ".join(_fmt_field(f, getattr(ohw, f)) for f in fields))
            sources.append(f"hardware {o}: {ohw.spec_source}")
        conditions.append(f"'{hw_id}' is the part meant: other variants differ ({'; '.join(alts)})")
    return CheckResult(check="catalog-spec", verdict="consistent" if all(flags) else "inconsistent",
                       value="; ".join(f"{h} {' '.join(v)}" for h, v in values.items()),
                       computed=computed, conditions=conditions,
                       derivation=derivation, sources=_dedup(sources),
                       tolerance=f"spec-sheet rounding ±{p.rel_tol:.0%}")


class CatalogRatioParams(CheckParams):
    a: str
    b: str
    field: SpecField
    claimed_ratio: float = Field(gt=0)
    rel_tol: float = Field(default=0.03, ge=0)


@register_check("catalog-ratio", CatalogRatioParams)
def catalog_ratio(p: CatalogRatioParams, ctx: AuditContext) -> CheckResult:
    """A ratio of two catalog specs (e.g. '2.4x the memory')."""
    a, b = get_hardware(p.a), get_hardware(p.b)
    va, vb = getattr(a, p.field), getattr(b, p.field)
    ratio = float(va) / float(vb)
    ok = within(ratio, p.claimed_ratio, p.claimed_ratio, p.rel_tol)
    return CheckResult(
        check="catalog-ratio", verdict="consistent" if ok else "inconsistent", value=f"{ratio:.3g}x",
        computed={"ratio": ratio, f"{a.id}.{p.field}": va, f"{b.id}.{p.field}": vb},
        derivation=[f"{a.id} {_fmt_field(p.field, va)} / {b.id} {_fmt_field(p.field, vb)} = "
                    f"{ratio:.3g}x (claimed {p.claimed_ratio:g}x)"],
        sources=[f"hardware {a.id}: {a.spec_source}", f"hardware {b.id}: {b.spec_source}"],
        tolerance=f"rounding ±{p.rel_tol:.0%}",
    )


# --- what bounds inference -----------------------------------------------------------------------


class BoundRegimesParams(CheckParams):
    models: list[str] = Field(min_length=1)
    hardware: list[str] = Field(min_length=1)
    precision: str | None = None
    input_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=256, ge=1)
    max_batch: int = Field(default=1024, ge=1)
    max_prompt_tokens: int = Field(default=16384, ge=2)


def _first(values: list[int], flags: np.ndarray) -> int | None:
    hits = [v for v, f in zip(values, flags, strict=True) if f]
    return hits[0] if hits else None


@register_check("bound-regimes", BoundRegimesParams)
def bound_regimes(p: BoundRegimesParams, ctx: AuditContext) -> CheckResult:
    """Which phases and batch sizes are memory-bound, and where the compute roof takes over."""
    batches = [2**i for i in range(int(math.log2(p.max_batch)) + 1)]
    prompts = [2**i for i in range(4, int(math.log2(p.max_prompt_tokens)) + 1)]
    derivation, conditions, sources = [], [], []
    computed: dict[str, float | int | str | None] = {}
    decode_memory: list[bool] = []  # batch-1 decode is memory-bound, per (model, hardware)
    everywhere: list[bool] = []  # ... and so is prefill and every batch that fits
    for model_id in p.models:
        model = resolve_model(model_id, ctx)
        for hw_id in p.hardware:
            o = run_scenario(Scenario(model=model_id, hardware=hw_id, precision=p.precision,
                                      input_len=p.input_len, output_len=p.output_len), ctx)
            if not o.fits:
                derivation.append(f"{model.id} on {hw_id}: does not fit ({o.est.reason})")
                continue
            dep, f = o.plan.dep, o.factors
            ctx_mean = p.input_len + p.output_len / 2
            dec = step_work(dep, decode_seqs=np.array(batches, float), decode_ctx=ctx_mean).bound(f)
            pre = step_work(dep, prefill_tokens=np.array(prompts, float), prefill_seqs=1.0).bound(f)
            # largest batch the engine holds at this context (at least the batch-1 plan that fits)
            fit_b = max(1, min(max_sequences(dep, p.input_len + p.output_len, p.input_len),
                               dep.engine.max_num_seqs) * dep.layout.dp)
            b_compute = _first(batches, dec == "compute")
            p_compute = _first(prompts, pre == "compute")
            ridge = dep.peak_linear_flops / dep.memory_bw_bytes_s  # FLOP per byte
            bpw = dep.weight_bytes_per_elem
            # linear layers: 2*B FLOP per weight read once per step of B tokens
            b_star = ridge * bpw / 2 * f.compute_eff / f.bw_eff
            tag = f"{model.id} {dep.weight_precision.id} on {dep.layout.devices}x {hw_id}"
            key = f"{model.id}@{hw_id}"
            computed.update({
                f"{key}.ridge_flop_per_byte": ridge, f"{key}.decode_bound_batch1": str(dec[0]),
                f"{key}.decode_compute_bound_from_batch": b_compute,
                f"{key}.max_batch_that_fits": fit_b,
                f"{key}.prefill_compute_bound_from_tokens": p_compute,
            })
            derivation.append(
                f"{tag}: peak {dep.linear_compute_type} {dep.peak_linear_flops / 1e12:.0f} TFLOP/s / "
                f"{dep.memory_bw_bytes_s / TB:.3g} TB/s = ridge {ridge:.0f} FLOP/byte; decode does "
                f"2 FLOP per weight per sequence on {bpw:g}-byte weights, so linear layers stay "
                f"bandwidth-bound below batch ~{b_star:.0f} (at fitted efficiencies "
                f"{f.compute_eff:.2f} compute / {f.bw_eff:.2f} bandwidth)")
            decode_text = (f"compute-bound from batch {b_compute}" if b_compute else
                           f"still memory-bound at batch {batches[-1]}")
            derivation.append(
                f"  library step model: decode at batch 1 is {dec[0]}-bound, {decode_text} "
                f"({dep.engine.id} holds at most {fit_b} sequences of {p.input_len + p.output_len} "
                "tokens; KV reads grow with the batch, so attention stays bandwidth-bound); prefill is "
                + (f"compute-bound from {p_compute}-token prompts" if p_compute else
                   f"not compute-bound up to {prompts[-1]} tokens"))
            decode_memory.append(str(dec[0]) == "memory")
            everywhere.append(str(dec[0]) == "memory" and p_compute is None
                              and (b_compute is None or b_compute > fit_b))
            if b_compute and b_compute <= fit_b:
                conditions.append(f"{tag}: decode below batch {b_compute}")
            else:
                conditions.append(f"{tag}: decode, up to the {fit_b} sequences of "
                                  f"{p.input_len + p.output_len} tokens it holds")
            if p_compute:
                conditions.append(f"{tag}: not prefill (TTFT) of prompts >= {p_compute} tokens")
            sources += sources_of(o)
    conditions.append("at batch B each weight read serves B tokens: 'each token loads all weights' "
                      "holds at batch 1 (and for MoE only the active experts are read)")
    # memory-bound in every phase and batch: consistent; decode at batch 1 only: conditions;
    # not even batch-1 decode: inconsistent
    if not decode_memory:
        verdict: Verdict = "not-checkable"
        derivation.append("no model fits the hardware given: nothing to compute")
    elif all(everywhere):
        verdict = "consistent"
    elif any(decode_memory):
        verdict = "holds-under-conditions"
    else:
        verdict = "inconsistent"
    return CheckResult(check="bound-regimes", verdict=verdict,
                       value="decode: memory at small batch; prefill: compute",
                       computed=computed, conditions=_dedup(conditions), derivation=derivation,
                       sources=_dedup(sources), tolerance="bound = largest of the calibrated "
                       "compute, memory, link and overhead times of a step (docs/model.md)")


# --- estimates compared with a claim -------------------------------------------------------------


class RatioCase(CheckParams):
    label: str
    base: Scenario | None = None
    a: Scenario | None = None
    b: Scenario | None = None
    sweep_input_len: list[int] | None = Field(
        default=None, description="also compute the ratio at these prompt lengths")


class EstimateRatioParams(_Interval):
    metric: Metric
    reading: str = Field(default="", description="how the claim's words map to metric(a)/metric(b)")
    base: Scenario = Scenario()
    a: Scenario = Scenario()
    b: Scenario = Scenario()
    cases: list[RatioCase] = Field(min_length=1)


def _spec_bound(metric: str, oa: Outcome, ob: Outcome) -> str:
    """The spec ratio behind a metric ratio: compute for prefill, bytes or bandwidth for decode,
    power for energy. Empty when none applies."""
    da, db = oa.plan.dep, ob.plan.dep
    na, nb = da.layout.devices, db.layout.devices
    if metric in ("ttft_s", "prefill_tok_s"):
        fa, fb = da.peak_linear_flops * na, db.peak_linear_flops * nb
        return (f"peak {da.linear_compute_type} {na}x{fa / na / 1e12:.0f} / {db.linear_compute_type} "
                f"{nb}x{fb / nb / 1e12:.0f} TFLOP/s = {fa / fb:.3g}x")
    if metric in ("tpot_s", "decode_tok_s_per_user", "e2e_latency_s"):
        if da.hw.id == db.hw.id and na == nb:
            wa, wb = oa.est.memory.weights_bytes, ob.est.memory.weights_bytes
            return f"weights read per token {fmt_bytes(wa)} / {fmt_bytes(wb)} = {wa / wb:.3g}x"
        ba, bb = da.memory_bw_bytes_s * na, db.memory_bw_bytes_s * nb
        return f"bandwidth {na}x{ba / na / TB:.3g} / {nb}x{bb / nb / TB:.3g} TB/s = {ba / bb:.3g}x"
    if metric.startswith("joules") and oa.est.power_w and ob.est.power_w:
        return f"power {oa.est.power_w:.0f} W / {ob.est.power_w:.0f} W = {oa.est.power_w / ob.est.power_w:.3g}x"
    if metric.startswith("usd") and oa.hw.price.usd_per_hour and ob.hw.price.usd_per_hour:
        pa, pb = oa.hw.price.usd_per_hour * na, ob.hw.price.usd_per_hour * nb
        return f"price {na}x${pa / na:g} / {nb}x${pb / nb:g} per hour = {pa / pb:.3g}x"
    return ""


def _ratio(metric: str, oa: Outcome, ob: Outcome) -> float | None:
    va, vb = oa.metric(metric), ob.metric(metric)
    return va / vb if va is not None and vb else None


def _side(value: float | None, lo: float | None, hi: float | None) -> str:
    if value is None:
        return "undefined"
    if lo is not None and value < lo:
        return "below the claimed range"
    if hi is not None and value > hi:
        return "above the claimed range"
    return "inside the claimed range"


def _outcome_line(tag: str | None, o: Outcome, metric: str) -> str:
    bound = o.est.bound.get("decode" if metric in ("tpot_s", "decode_tok_s_per_user") else "prefill")
    if metric not in ("tpot_s", "ttft_s", "decode_tok_s_per_user", "prefill_tok_s"):
        bound = o.est.bound.get("decode") or o.est.bound.get("prefill")
    head = f"  {tag}: " if tag else "  "
    return f"{head}{o.describe()} -> {fmt_metric(metric, o.metric(metric))} ({bound}-bound)"


@register_check("estimate-ratio", EstimateRatioParams)
def estimate_ratio(p: EstimateRatioParams, ctx: AuditContext) -> CheckResult:
    """A claimed ratio metric(a)/metric(b) against the model, case by case."""
    lo, hi = p.claimed_low, p.claimed_high
    flags, values, holds, fails = [], [], [], []
    derivation = [f"claim read as {p.metric}(a) / {p.metric}(b) = {_claimed(lo, hi)}"
                  + (f" ({p.reading})" if p.reading else "")]
    computed: dict[str, float | str | None] = {}
    sources: list[str] = []
    bands = {}
    cost = p.metric.startswith("usd")
    for case in p.cases:
        sa = p.base.over(p.a, case.base, case.a)
        sb = p.base.over(p.b, case.base, case.b)
        oa, ob = run_scenario(sa, ctx), run_scenario(sb, ctx)
        if not (oa.fits and ob.fits):
            bad = oa if not oa.fits else ob
            derivation.append(f"{case.label}: {bad.est.model} on {bad.est.hardware} does not fit "
                              f"({bad.reason})")
            flags.append(False)
            fails.append(f"{case.label} (does not fit)")
            continue
        band = ratio_band(oa.hw.hw_class, ob.hw.hw_class)
        bands[band.hw_class] = band
        r = _ratio(p.metric, oa, ob)
        if r is None:
            derivation.append(f"{case.label}: {p.metric} is undefined for this workload")
            flags.append(False)
            fails.append(f"{case.label} (undefined)")
            continue
        ok = within(r, lo, hi, band.median)
        spec = _spec_bound(p.metric, oa, ob)
        derivation.append(f"{case.label}: ratio {r:.3g} -> {_judged(ok, _side(r, lo, hi), band.median)}"
                          + (f"; {spec}" if spec else ""))
        derivation += [_outcome_line("a", oa, p.metric), _outcome_line("b", ob, p.metric)]
        computed[f"{case.label}.ratio"] = r
        label = case.label
        if case.sweep_input_len:
            inside, pts = [], []
            for n in case.sweep_input_len:
                oa_n = run_scenario(sa.over(Scenario(input_len=n)), ctx)
                ob_n = run_scenario(sb.over(Scenario(input_len=n)), ctx)
                rn = _ratio(p.metric, oa_n, ob_n) if oa_n.fits and ob_n.fits else None
                pts.append(f"{n}: {rn:.3g}" if rn else f"{n}: -")
                computed[f"{case.label}.ratio_at_{n}_tokens"] = rn
                if rn is not None and within(rn, lo, hi, band.median):
                    inside.append(n)
            derivation.append(f"  ratio by prompt length (tokens: ratio): {', '.join(pts)}")
            if inside:
                ok = True
                span = f"{inside[0]}" if len(inside) == 1 else f"{inside[0]}-{inside[-1]}"
                label = f"{case.label}, prompts of ~{span} tokens"
        flags.append(ok)
        if ok:
            holds.append(label)
        else:
            fails.append(f"{label} ({r:.3g}, {_side(r, lo, hi)})")
        values.append(f"{r:.2g} ({case.label})")
        sources += sources_of(oa, cost=cost) + sources_of(ob, cost=cost)
    verdict = _verdict(flags)
    conditions = []
    if verdict == "holds-under-conditions":
        conditions = [f"holds: {h}" for h in holds] + [f"does not hold: {f}" for f in fails]
    tol = "; ".join(b.text() for b in bands.values())
    return CheckResult(check="estimate-ratio", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance=(tol + f" [{ERROR_SOURCE}]") if tol else None)


class EstimateValueParams(_Interval):
    metric: Metric
    unit: str = ""
    base: Scenario = Scenario()
    cases: list[Scenario] = Field(min_length=1)
    needed_bandwidth: bool = Field(
        default=False, description="also say what peak bandwidth the claimed decode rate needs")


@register_check("estimate-value", EstimateValueParams)
def estimate_value(p: EstimateValueParams, ctx: AuditContext) -> CheckResult:
    """A claimed value (tok/s, $/1M, J/token) against the model's estimate, case by case."""
    lo, hi = p.claimed_low, p.claimed_high
    derivation = [f"claimed {p.metric} {_claimed(lo, hi, p.unit)}"]
    flags, holds, fails, values, sources, bands = [], [], [], [], [], {}
    computed: dict[str, float | str | None] = {}
    for i, case in enumerate(p.cases):
        s = p.base.over(case)
        label = case.label or f"case {i + 1}"
        o = run_scenario(s, ctx)
        if not o.fits:
            derivation.append(f"{label}: {o.est.model} on {o.est.hardware} does not fit: {o.reason}")
            flags.append(False)
            fails.append(f"{label} (does not fit)")
            computed[f"{label}.{p.metric}"] = None
            continue
        band = band_for(o.hw.hw_class)
        bands[band.hw_class] = band
        v = o.metric(p.metric)
        ok = v is not None and within(v, lo, hi, band.median)
        computed[f"{label}.{p.metric}"] = v
        derivation.append(f"{label}: {fmt_metric(p.metric, v)} -> {_judged(ok, _side(v, lo, hi), band.median)}")
        derivation.append(_outcome_line(None, o, p.metric))
        if p.needed_bandwidth and "decode" in o.plan.works and lo:
            dep = o.plan.dep
            per_tok = float(o.plan.works["decode"].t_memory.sum()) * dep.memory_bw_bytes_s
            need = lo * per_tok / o.factors.bw_eff
            derivation.append(
                f"  each token reads {fmt_bytes(per_tok)} per device: {lo:g} tok/s needs >= "
                f"{need / GB:.0f} GB/s of peak bandwidth at the fitted efficiency {o.factors.bw_eff:.2f} "
                f"(this device: {dep.memory_bw_bytes_s / GB:.0f} GB/s usable)")
            computed[f"{label}.needed_peak_bw_bytes_s"] = need
        flags.append(ok)
        if ok:
            holds.append(label)
        else:
            fails.append(f"{label} ({fmt_metric(p.metric, v)}, {_side(v, lo, hi)})")
        values.append(f"{fmt_metric(p.metric, v)} ({label})")
        sources += sources_of(o, cost=p.metric.startswith("usd"))
    verdict = _verdict(flags)
    conditions = []
    if verdict == "holds-under-conditions":
        conditions = [f"holds: {h}" for h in holds] + [f"does not hold: {f}" for f in fails]
    tol = "; ".join(b.text() for b in bands.values())
    return CheckResult(check="estimate-value", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance=(tol + f" [{ERROR_SOURCE}]") if tol else None)


class ImpliedSizeParams(CheckParams):
    claimed_tok_s: float = Field(gt=0, description="decode tok/s per user")
    shape: str = Field(default="llama-3.1-70b", description="bundled dense model whose layer shape is scaled")
    base: Scenario = Scenario()
    cases: list[Scenario] = Field(min_length=1)
    max_layers: int = Field(default=1200, ge=2)


def _scaled(ctx: AuditContext, shape: str, layers: int):
    from inferplan.audit.claims import ConstructedModel
    from inferplan.audit.scenario import construct_model

    cache = ctx.cache.setdefault("scaled", {})
    if (shape, layers) not in cache:
        from inferplan.models.registry import get_model

        base = get_model(shape)
        per_layer = base.layer_params / base.num_layers
        target = base.total_params - base.layer_params + layers * per_layer
        cache[(shape, layers)] = construct_model(ConstructedModel(
            id=f"{shape}-x{layers}-layers", base=shape, total_params=target,
            why="size implied by a claimed speed"))
    return cache[(shape, layers)]


@register_check("implied-size", ImpliedSizeParams)
def implied_size(p: ImpliedSizeParams, ctx: AuditContext) -> CheckResult:
    """The model size a claimed per-user decode speed implies on given hardware and batch."""
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.estimate import estimate_from_plan

    eff = load_efficiency(ctx.calibration)
    derivation = [f"find the dense model ({p.shape} layer shape, layers scaled) whose decode speed "
                  f"per user is {p.claimed_tok_s:g} tok/s"]
    computed: dict[str, float | str | None] = {}
    conditions, values, sources, flags = [], [], [], []

    def plan_for(case: Scenario, layers: int):
        s = p.base.over(case)
        return s, plan_estimate(_scaled(ctx, p.shape, layers), s.hardware or "", devices=s.devices,
                                precision=s.precision, engine=s.engine, batch=s.batch or 1,
                                input_len=s.input_len or 1024, output_len=s.output_len or 256)

    def rate(case: Scenario, layers: int) -> float | None:
        plan = plan_for(case, layers)[1]
        return estimate_from_plan(plan, eff).decode_tok_s_per_user if plan.fits else None

    for i, case in enumerate(p.cases):
        label = case.label or f"case {i + 1}"
        lo_l, hi_l = 1, p.max_layers
        r1 = rate(case, lo_l)
        if r1 is None or r1 < p.claimed_tok_s:
            derivation.append(f"{label}: even a 1-layer model is slower than {p.claimed_tok_s:g} tok/s "
                              f"({fmt_num(r1)} tok/s)")
            flags.append(False)
            continue
        while hi_l - lo_l > 1:  # largest layer count still at or above the claimed speed
            mid = (lo_l + hi_l) // 2
            r = rate(case, mid)
            if r is not None and r >= p.claimed_tok_s:
                lo_l = mid
            else:
                hi_l = mid
        m = _scaled(ctx, p.shape, lo_l)
        s, plan = plan_for(case, lo_l)
        at_fit_limit = not plan_for(case, lo_l + 1)[1].fits
        r_found = rate(case, lo_l) or 0.0
        if at_fit_limit and r_found > p.claimed_tok_s * 1.05:
            derivation.append(f"{label}: the largest model that fits ({m.total_params / 1e9:.0f}B) still "
                              f"runs at {r_found:.0f} tok/s: the claim needs a bigger batch or model "
                              "than these devices hold")
            flags.append(False)
            continue
        dep = plan.dep
        weights = (m.total_params * dep.weight_bytes_per_elem)
        hw = dep.hw
        computed[f"{label}.implied_params"] = float(m.total_params)
        computed[f"{label}.implied_weight_bytes"] = weights
        derivation.append(
            f"{label}: {dep.layout.devices}x {hw.id} (tp{dep.layout.tp}), batch {s.batch or 1}, "
            f"{dep.weight_precision.id}: ~{m.total_params / 1e9:.0f}B params "
            f"(~{weights / GB:.0f} GB of weights read per step at {dep.layout.devices * hw.memory_bw_bytes_s / TB:.3g} TB/s)")
        conditions.append(f"{label}: a model reading ~{m.total_params / 1e9:.0f}B params per token "
                          f"({dep.weight_precision.id})")
        values.append(f"~{m.total_params / 1e9:.0f}B ({label})")
        flags.append(True)
        sources.append(f"hardware {hw.id}: {hw.spec_source}")
    derivation.append("for a mixture-of-experts model read these as active parameters per token "
                      "(at small batch only the chosen experts are read)")
    verdict: Verdict = "holds-under-conditions" if any(flags) else "inconsistent"
    return CheckResult(check="implied-size", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance=band_for("gpu").text())


# --- memory and model size -----------------------------------------------------------------------


class FitCase(CheckParams):
    label: str | None = None
    precision: str | None = None
    batch: int = Field(default=1, ge=1)
    context: int = Field(default=4096, ge=1)


class DeviceRange(CheckParams):
    low: int = Field(ge=1)
    high: int = Field(ge=1)


class FitDevicesParams(CheckParams):
    model: str
    claimed: dict[str, DeviceRange] = Field(min_length=1, description="hardware id -> devices claimed")
    cases: list[FitCase] = Field(min_length=1)


@register_check("fit-devices", FitDevicesParams)
def fit_devices(p: FitDevicesParams, ctx: AuditContext) -> CheckResult:
    """How many devices hold a model plus its KV cache (fewest that fit, engine memory limits)."""
    model = resolve_model(p.model, ctx)
    derivation, sources, flags, holds, fails, values = [], [], [], [], [], []
    computed: dict[str, float | int | str | None] = {}
    for case in p.cases:
        label = case.label or f"{case.precision or 'native'}, batch {case.batch} x {case.context} tokens"
        oks = []
        parts = []
        for hw_id, rng in p.claimed.items():
            plan = plan_estimate(model, hw_id, precision=case.precision, batch=case.batch,
                                 input_len=case.context, output_len=0)
            dep, mem = plan.dep, plan.mem
            n = dep.layout.devices
            ok = plan.fits and rng.low <= n <= rng.high
            oks.append(ok)
            usable = mem.capacity_bytes * dep.engine.memory_utilization
            # sequences of this context the engine could hold (at least the batch that fits)
            room = max(max_sequences(dep, case.context, case.context), case.batch) if plan.fits else 0
            parts.append(
                f"{hw_id}: {n} device(s) (tp{dep.layout.tp} pp{dep.layout.pp}; weights "
                f"{fmt_bytes(mem.weights_bytes)}/device of {fmt_bytes(usable)} usable by "
                f"{dep.engine.id}, KV {fmt_bytes(mem.kv_cache_bytes)}; room for {room} such sequences)"
                f" vs claimed {rng.low}-{rng.high}: {_mark(ok)}")
            computed[f"{label}.{hw_id}.devices"] = n
            computed[f"{label}.{hw_id}.weights_bytes_per_device"] = mem.weights_bytes
            sources.append(f"hardware {hw_id}: {dep.hw.spec_source}")
            wp = dep.weight_precision
        total = model.total_params * wp.bits_per_weight / 8
        derivation.append(f"{label}: {model.id} {model.total_params / 1e9:.1f}B x {wp.bits_per_weight:g} "
                          f"bits = {fmt_bytes(total)} of weights (+ head at {wp.head_bits:g} bits)")
        derivation += [f"  {x}" for x in parts]
        flags.append(all(oks))
        (holds if all(oks) else fails).append(label)
        values.append(f"{case.precision or 'native'} b{case.batch} "
                      + "/".join(str(computed[f"{label}.{h}.devices"]) for h in p.claimed))
    sources.append(f"model {model.id}: {model.source}")
    verdict = _verdict(flags)
    conditions = ([f"holds: {h}" for h in holds] + [f"does not hold: {f}" for f in fails]
                  if verdict == "holds-under-conditions" else [])
    return CheckResult(check="fit-devices", verdict=verdict,
                       value=f"{'/'.join(p.claimed)}: " + ", ".join(values),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance="memory arithmetic (exact for the stated "
                       "engine memory share, KV precision and context)")


class SizeVariant(CheckParams):
    precision: str
    count: Literal["all", "non-embedding"] = "all"


class ModelSizeParams(_Interval):
    model: str
    variants: list[SizeVariant] = Field(min_length=1, description="the first is the plain reading")
    reference_hardware: str = Field(default="epyc-9965", description="any device that holds it (tp=1)")


@register_check("model-size", ModelSizeParams)
def model_size(p: ModelSizeParams, ctx: AuditContext) -> CheckResult:
    """Bytes of a model's weights at a precision (all weights, or without embedding/head)."""
    model = resolve_model(p.model, ctx)
    derivation, flags, values, holds, fails = [], [], [], [], []
    computed: dict[str, float | None] = {}
    sources = [f"model {model.id}: {model.source}"]
    for v in p.variants:
        plan = plan_estimate(model, p.reference_hardware, devices=1, precision=v.precision,
                             input_len=1, output_len=1)
        dep = plan.dep
        w = dep.weight_precision
        ends = model.embedding_params + (0 if model.tie_word_embeddings else model.lm_head_params)
        total = plan.mem.weights_bytes
        size = total - ends * dep.head_bytes_per_elem if v.count == "non-embedding" else total
        ok = within(size, p.claimed_low, p.claimed_high)
        label = f"{w.id} ({w.bits_per_weight:g} bits), {v.count}"
        computed[f"{w.id}.{v.count}.bytes"] = size
        layer_bytes = total - ends * dep.head_bytes_per_elem
        derivation.append(
            f"{label}: layers {model.layer_params / 1e9:.3g}B x {w.bits_per_weight:g}/8 = "
            f"{fmt_bytes(layer_bytes)}" + ("" if v.count == "non-embedding" else
                                          f" + embedding/head {ends / 1e9:.3g}B x {w.head_bits:g}/8 = "
                                          f"{fmt_bytes(ends * dep.head_bytes_per_elem)}")
            + f" -> {fmt_bytes(size)} ({_mark(ok)} with {_claimed(p.claimed_low, p.claimed_high)} bytes)")
        flags.append(ok)
        values.append(f"{fmt_bytes(size)} ({w.id}{', no emb.' if v.count == 'non-embedding' else ''})")
        (holds if ok else fails).append(label)
        sources.append(f"precision {w.id}: {w.source}")
    if flags[0]:
        verdict: Verdict = "consistent"
    elif any(flags):
        verdict = "holds-under-conditions"
    else:
        verdict = "inconsistent"
    conditions = ([f"holds: {h}" for h in holds] + [f"does not hold: {f}" for f in fails]
                  if verdict == "holds-under-conditions" else [])
    return CheckResult(check="model-size", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance="exact arithmetic; the claim's rounding "
                       "is in its interval")


class ContextScalingParams(CheckParams):
    model: str
    hardware: str
    devices: int | None = Field(default=None, ge=1, description="fixed device count (default: fewest)")
    precision: str | None = None
    kv_precision: str | None = None
    short_context: int = Field(ge=1)
    long_context: int = Field(ge=1)
    output_len: int = Field(default=256, ge=1)
    claimed_ratio: float = Field(gt=0, description="claimed cost(long) / cost(short)")
    mechanism_not_modelled: str | None = Field(
        default=None, description="what the document relies on that the model does not compute")


@register_check("context-scaling", ContextScalingParams)
def context_scaling(p: ContextScalingParams, ctx: AuditContext) -> CheckResult:
    """What a longer context costs: KV bytes, decode time, prefill work, and a host-memory tier."""
    model = resolve_model(p.model, ctx)
    base = Scenario(model=p.model, hardware=p.hardware, devices=p.devices, precision=p.precision,
                    kv_precision=p.kv_precision, output_len=p.output_len)
    s = run_scenario(base.over(Scenario(input_len=p.short_context)), ctx)
    lg = run_scenario(base.over(Scenario(input_len=p.long_context)), ctx)
    # whole-sequence KV: a one-device layout (the plan need not fit; only its sizes are read)
    one = plan_estimate(model, p.hardware, tp=1, pp=1, precision=p.precision,
                        kv_precision=p.kv_precision, input_len=1, output_len=1).dep
    kv_s = kv_bytes_per_sequence_device(one, p.short_context)
    kv_l = kv_bytes_per_sequence_device(one, p.long_context)
    link = s.plan.dep.hw.host_link
    mla = any(g.mixer.kind == "mla" for g in model.groups)
    derivation = [
        f"KV cache of {model.id} ({one.kv_precision.id}): {model.kv_elems_per_token} elements x "
        f"{one.kv_bytes_per_elem:g} bytes = {fmt_bytes(kv_l / p.long_context)} per token -> "
        f"{fmt_bytes(kv_s)} at {p.short_context} tokens, {fmt_bytes(kv_l)} at {p.long_context} "
        f"({kv_l / kv_s:.3g}x) per sequence" + (" (MLA latent; replicated on every tensor-parallel "
                                               "rank)" if mla else ""),
        f"prefill attention grows with the square of the prompt: "
        f"({p.long_context}/{p.short_context})^2 = {(p.long_context / p.short_context) ** 2:.3g}x "
        "the query-key pairs",
    ]
    computed: dict[str, float | str | None] = {
        "kv_bytes_short": kv_s, "kv_bytes_long": kv_l, "kv_ratio": kv_l / kv_s}
    tpot_r = None
    if s.fits and lg.fits:
        tpot_r = _ratio("tpot_s", lg, s)
        computed["tpot_ratio"] = tpot_r
        derivation.append(f"decode time per token, dense attention (library): "
                          f"{fmt_metric('tpot_s', s.metric('tpot_s'))} at {p.short_context} tokens vs "
                          f"{fmt_metric('tpot_s', lg.metric('tpot_s'))} at {p.long_context} "
                          f"({tpot_r:.3g}x)")
        derivation += [_outcome_line("short", s, "tpot_s"), _outcome_line("long", lg, "tpot_s")]
        ls, ll = s.plan.dep.layout, lg.plan.dep.layout
        if (ls.tp, ls.pp) != (ll.tp, ll.pp):
            derivation.append(f"  the long context needs another layout (tp{ll.tp} pp{ll.pp} instead of "
                              f"tp{ls.tp} pp{ls.pp}): weights + KV + activations do not fit the shorter context's layout")
    else:
        bad = lg if not lg.fits else s
        derivation.append(f"{bad.est.input_len} tokens do not fit: {bad.est.reason}")
    if link:
        t_host = kv_l / link.bw_bytes_s
        computed["kv_long_read_over_host_link_s"] = t_host
        derivation.append(
            f"with the cache in host DRAM, a dense decode step reads {fmt_bytes(kv_l)} per sequence over "
            f"{link.name} ({link.bw_bytes_s / GB:.0f} GB/s): {t_host:.3g} s per token "
            f"(vs {kv_s / link.bw_bytes_s:.3g} s at {p.short_context})")
    band = band_for(s.hw.hw_class)
    ok = tpot_r is not None and within(tpot_r, p.claimed_ratio, p.claimed_ratio, band.median)
    conditions: list[str] = []
    if ok:
        verdict: Verdict = "consistent"
    elif p.mechanism_not_modelled:
        verdict = "holds-under-conditions"
        conditions = [
            f"only if {p.mechanism_not_modelled}: with dense attention a {p.long_context}-token "
            f"context reads {kv_l / kv_s:.3g}x the KV bytes per token"
            + (f" and decode takes {tpot_r:.3g}x as long" if tpot_r else ""),
            f"'cost' read as memory capacity priced at DRAM instead of HBM: the cache is still "
            f"{fmt_bytes(kv_l)} vs {fmt_bytes(kv_s)} per sequence",
        ]
    else:
        verdict = "inconsistent"
    sources = sources_of(s) + ([f"host link {s.hw.id}: {link.source}"] if link else [])
    return CheckResult(check="context-scaling", verdict=verdict,
                       value=f"KV {kv_l / kv_s:.3g}x" + (f", decode {tpot_r:.3g}x" if tpot_r else ""),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance=band.text())


class WaferFitParams(CheckParams):
    hardware: str
    models: list[str] = Field(min_length=1)
    precision: str | None = None
    input_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=256, ge=1)
    gpu_reference: Scenario | None = Field(
        default=None, description="a GPU deployment whose communication share is shown for contrast")


@register_check("wafer-fit", WaferFitParams)
def wafer_fit(p: WaferFitParams, ctx: AuditContext) -> CheckResult:
    """Which models fit one SRAM device (wafer, LPU), and what crossing devices costs per token."""
    hw = get_hardware(p.hardware)
    derivation, flags, holds, fails, sources = [], [], [], [], [f"hardware {hw.id}: {hw.spec_source}"]
    computed: dict[str, float | int | str | None] = {}
    for model_id in p.models:
        o = run_scenario(Scenario(model=model_id, hardware=p.hardware, precision=p.precision,
                                  input_len=p.input_len, output_len=p.output_len), ctx)
        dep = o.plan.dep
        cap = (hw.sram_bytes if hw.sram_only else hw.memory_bytes) or 0.0
        if model_id == p.models[0]:
            derivation.insert(0, f"one {hw.id} holds {fmt_bytes(cap)} ({dep.engine.memory_utilization:.0%} "
                                 f"usable): at {dep.weight_bytes_per_elem * 8:g} bits that is at most "
                                 f"~{cap * dep.engine.memory_utilization / dep.weight_bytes_per_elem / 1e9:.0f}B "
                                 "params before KV cache")
        n, pp = o.est.devices, dep.layout.pp
        link = dep.pp_link
        hop_bytes = dep.model.hidden_size * dep.act_bytes  # one activation vector per stage boundary
        hop_s = (pp - 1) * (hop_bytes / link.bw_bytes_s + link.latency_s)
        tpot = o.metric("tpot_s")
        single = n == 1
        flags.append(single)
        (holds if single else fails).append(f"{dep.model.id} ({dep.model.total_params / 1e9:.0f}B)")
        computed[f"{dep.model.id}.devices"] = n
        computed[f"{dep.model.id}.decode_tok_s_per_user"] = o.metric("decode_tok_s_per_user")
        line = (f"{dep.model.id} {dep.weight_precision.id}: {fmt_bytes(dep.model.total_params * dep.weight_bytes_per_elem)}"
                f" of weights -> {n} {hw.id}")
        if pp > 1 and tpot:
            line += (f", pipelined over {pp} stages; per token {pp - 1} hop{'s' if pp > 2 else ''} of "
                     f"{fmt_bytes(hop_bytes)} over "
                     f"{link.name}: {hop_s * 1e6:.0f} us of {tpot * 1e3:.3g} ms ({hop_s / tpot:.0%})")
            computed[f"{dep.model.id}.link_share_of_tpot"] = hop_s / tpot
        derivation.append(line)
    if p.gpu_reference is not None:
        g = run_scenario(p.gpu_reference, ctx)
        if g.fits and "decode" in g.plan.works:
            w = g.plan.works["decode"]
            comm = float(w.t_link / g.factors.comm_eff + w.t_link_latency)
            total = float(w.time_s(g.factors))
            computed["gpu_reference.comm_share_of_decode_step"] = comm / total
            derivation.append(f"contrast: {g.describe()}: tensor-parallel all-reduces take "
                              f"{comm * 1e3:.3g} ms of a {total * 1e3:.3g} ms decode step ({comm / total:.0%})")
            sources += sources_of(g)
    verdict = _verdict(flags)
    conditions = ([f"single {hw.id}: {', '.join(holds)}"] if holds else []) + (
        [f"needs several (with links): {', '.join(fails)}"] if fails and holds else [])
    n_single = sum(flags)
    return CheckResult(check="wafer-fit", verdict=verdict,
                       value=f"{n_single}/{len(flags)} models fit one {hw.id}",
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=_dedup(sources), tolerance="memory arithmetic; link times at catalog "
                       "bandwidth and latency")


# --- calibrated efficiencies ---------------------------------------------------------------------


class EfficiencyRatioParams(_Interval):
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
            f"{fe.value:.3g} / {p.b_family} {fb.value:.3g} x {fe.value:.3g} = {r:.3g} -> {_mark(ok)}; "
            f"priors {pa.get('prior')} / {pb.get('prior')} = " + (f"{pr:.3g} -> {_mark(pok)}" if pr else "-"))
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
        t = "bf16"
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


# --- claims of one document against each other ----------------------------------------------------


class InternalConsistencyParams(CheckParams):
    key: str
    rel_tol: float = Field(default=0.10, ge=0, description="rounding allowed between the statements")


def conflicts_for(doc: ClaimsFile, key: str, rel_tol: float) -> list[tuple[str, str, float]]:
    """Pairs of claims stating the same quantity with intervals that do not overlap (after
    widening each by rel_tol): (claim a, claim b, gap factor)."""
    stated = [(c.id, c.quantity.interval()) for c in doc.claims if c.quantity.key == key]
    stated = [(i, iv) for i, iv in stated if iv is not None]
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
