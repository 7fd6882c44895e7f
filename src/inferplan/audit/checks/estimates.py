"""Estimates compared with a claim: a value or a ratio of two scenarios' metrics.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

import math

from pydantic import Field, model_validator

from inferplan.audit.checks.verdict import (
    INTERVAL_SOURCE,
    Interval,
    Tally,
    claimed_text,
    dedup,
)
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, Verdict, register_check
from inferplan.audit.scenario import (
    Metric,
    Outcome,
    Scenario,
    ValueCase,
    fmt_metric,
    run_scenario,
    sources_of,
)
from inferplan.audit.tolerance import (
    ratio_band,
)
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.intervals import (
    FIELD_FAMILY,
    deployment_support,
    metric_interval,
    ratio_interval,
)
from inferplan.units import GB, TB, fmt_bytes, fmt_num


class RatioCase(CheckParams):
    label: str
    base: Scenario | None = None
    a: Scenario | None = None
    b: Scenario | None = None
    sweep_input_len: list[int] | None = Field(
        default=None, description="also compute the ratio at these prompt lengths")


class EstimateRatioParams(Interval):
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


def metric_ratio(metric: str, oa: Outcome, ob: Outcome) -> float | None:
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


def judge_ratio(tally: Tally, metric: str, key: str, ratio: float, a: Outcome, b: Outcome,
                lo: float | None, hi: float | None) -> tuple[bool, str]:
    """Judge ratio = metric(a) / metric(b) against the claim: the interval of the ratio of the
    two predictions (perf/intervals.py), else the larger LOSO band of the two classes."""
    ia, ib = a.interval(metric), b.interval(metric)
    iv = ratio_interval(ratio, FIELD_FAMILY[metric][1], ia, ib) if ia and ib else None
    return tally.judge(key, ratio, lo, hi, iv, ia.level if ia else None, [i for i in (ia, ib) if i],
                       ratio_band(a.hw.hw_class, b.hw.hw_class).hw_class, _side(ratio, lo, hi))


def outcome_line(tag: str | None, o: Outcome, metric: str) -> str:
    bound = o.est.bound.get("decode" if metric in ("tpot_s", "decode_tok_s_per_user") else "prefill")
    if metric not in ("tpot_s", "ttft_s", "decode_tok_s_per_user", "prefill_tok_s"):
        bound = o.est.bound.get("decode") or o.est.bound.get("prefill")
    head = f"  {tag}: " if tag else "  "
    return f"{head}{o.describe()} -> {fmt_metric(metric, o.metric(metric))} ({bound}-bound)"


@register_check("estimate-ratio", EstimateRatioParams)
def estimate_ratio(p: EstimateRatioParams, ctx: AuditContext) -> CheckResult:
    """A claimed ratio metric(a)/metric(b) against the model, case by case."""
    lo, hi = p.claimed_low, p.claimed_high
    tally = Tally()
    derivation = [f"claim read as {p.metric}(a) / {p.metric}(b) = {claimed_text(lo, hi)}"
                  + (f" ({p.reading})" if p.reading else "")]
    computed: dict[str, float | str | None] = {}
    sources: list[str] = []
    cost = p.metric.startswith("usd")
    for case in p.cases:
        sa = p.base.over(p.a, case.base, case.a)
        sb = p.base.over(p.b, case.base, case.b)
        oa, ob = run_scenario(sa, ctx), run_scenario(sb, ctx)
        if not (oa.fits and ob.fits):
            bad = oa if not oa.fits else ob
            derivation.append(f"{case.label}: {bad.est.model} on {bad.est.hardware} does not fit "
                              f"({bad.reason})")
            tally.add(False, case.label, "does not fit")
            continue
        r = metric_ratio(p.metric, oa, ob)
        if r is None:
            derivation.append(f"{case.label}: {p.metric} is undefined for this workload")
            tally.add(False, case.label, "undefined")
            continue
        ok, words = judge_ratio(tally, p.metric, f"{case.label}.ratio", r, oa, ob, lo, hi)
        spec = _spec_bound(p.metric, oa, ob)
        derivation.append(f"{case.label}: ratio {r:.3g} -> {words}" + (f"; {spec}" if spec else ""))
        derivation += [outcome_line("a", oa, p.metric), outcome_line("b", ob, p.metric)]
        computed[f"{case.label}.ratio"] = r
        label = case.label
        if case.sweep_input_len:
            inside, pts = [], []
            for n in case.sweep_input_len:
                oa_n = run_scenario(sa.over(Scenario(input_len=n)), ctx)
                ob_n = run_scenario(sb.over(Scenario(input_len=n)), ctx)
                rn = metric_ratio(p.metric, oa_n, ob_n) if oa_n.fits and ob_n.fits else None
                pts.append(f"{n}: {rn:.3g}" if rn else f"{n}: -")
                computed[f"{case.label}.ratio_at_{n}_tokens"] = rn
                if rn is not None and judge_ratio(tally, p.metric, f"{case.label}.ratio_at_{n}_tokens",
                                                  rn, oa_n, ob_n, lo, hi)[0]:
                    inside.append(n)
            derivation.append(f"  ratio by prompt length (tokens: ratio): {', '.join(pts)}")
            if inside:
                ok = True
                span = f"{inside[0]}" if len(inside) == 1 else f"{inside[0]}-{inside[-1]}"
                label = f"{case.label}, prompts of ~{span} tokens"
        tally.add(ok, label, f"{r:.3g}, {_side(r, lo, hi)}")
        tally.values.append(f"{r:.2g} ({case.label})")
        sources += sources_of(oa, cost=cost) + sources_of(ob, cost=cost)
    return tally.result("estimate-ratio", computed, derivation, sources)


class EstimateValueParams(Interval):
    metric: Metric
    unit: str = ""
    base: Scenario = Scenario()
    cases: list[ValueCase] = Field(min_length=1)
    needed_bandwidth: bool = Field(
        default=False, description="also say what peak bandwidth the claimed decode rate needs")

    @model_validator(mode="after")
    def _one_counted_case(self) -> EstimateValueParams:
        if all(c.context for c in self.cases):
            raise ValueError("every case is 'context: true': at least one case must decide the verdict")
        return self


@register_check("estimate-value", EstimateValueParams)
def estimate_value(p: EstimateValueParams, ctx: AuditContext) -> CheckResult:
    """A claimed value (tok/s, $/1M, J/token) against the model's estimate, case by case."""
    lo, hi = p.claimed_low, p.claimed_high
    derivation = [f"claimed {p.metric} {claimed_text(lo, hi, p.unit)}"]
    tally, sources = Tally(), []
    computed: dict[str, float | str | None] = {}
    for i, case in enumerate(p.cases):
        s = p.base.over(case)
        label = case.label or f"case {i + 1}"
        o = run_scenario(s, ctx)
        if not o.fits:
            derivation.append(f"{label}: {o.est.model} on {o.est.hardware} does not fit: {o.reason}")
            tally.add(False, label, "does not fit", context=bool(case.context))
            computed[f"{label}.{p.metric}"] = None
            continue
        v = o.metric(p.metric)
        computed[f"{label}.{p.metric}"] = v
        if v is None:
            derivation.append(f"{label}: {p.metric} is undefined for this workload")
            tally.add(False, label, "undefined", context=bool(case.context))
            continue
        iv = o.interval(p.metric)
        ok, words = tally.judge(f"{label}.{p.metric}", v, lo, hi, (iv.low, iv.high) if iv else None,
                                iv.level if iv else None, [iv] if iv else [], o.hw.hw_class,
                                _side(v, lo, hi), lambda x: fmt_metric(p.metric, x))
        bw_case = bool(p.needed_bandwidth and "decode" in o.plan.works and lo)
        claimed_low = lo or 0.0
        per_tok = float(o.plan.works["decode"].t_memory.sum()) * o.plan.dep.memory_bw_bytes_s if bw_case else 0.0
        if bw_case and per_tok > 0 and claimed_low * per_tok > o.plan.dep.memory_bw_bytes_s:
            # a statistical interval can reach past the memory roof; a decode speed cannot
            ok, words = False, (f"above the memory roof: reading {fmt_bytes(per_tok)} a token at 100% "
                                f"of the peak bandwidth allows {o.plan.dep.memory_bw_bytes_s / per_tok:.3g} tok/s")
        derivation.append(f"{label}: {fmt_metric(p.metric, v)} -> {words}")
        derivation.append(outcome_line(None, o, p.metric))
        if bw_case:
            dep = o.plan.dep
            need = claimed_low * per_tok / o.factors.bw_eff
            derivation.append(
                f"  each token reads {fmt_bytes(per_tok)} per device: {claimed_low:g} tok/s needs >= "
                f"{need / GB:.0f} GB/s of peak bandwidth at the fitted efficiency {o.factors.bw_eff:.2f} "
                f"(this device: {dep.memory_bw_bytes_s / GB:.0f} GB/s usable)")
            computed[f"{label}.needed_peak_bw_bytes_s"] = need
        tally.add(ok, label, f"{fmt_metric(p.metric, v)}, {_side(v, lo, hi)}", context=bool(case.context))
        tally.values.append(f"{fmt_metric(p.metric, v)} ({label})")
        sources += sources_of(o, cost=p.metric.startswith("usd"))
    return tally.result("estimate-value", computed, derivation, sources)


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
    intervals: dict[str, list[float]] = {}
    groups: dict[str, int] = {}
    level: float | None = None

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
        iv = metric_interval(r_found, "decode_tok_s_per_user", hw.hw_class, plan.mode, plan.batch,
                             plan.input_len, plan.output_len, support=deployment_support(dep))
        if iv is not None:
            # the true speed is the prediction x exp(-r), r in [q_lo, q_hi]: the models whose
            # predicted speed is the claim x exp(r); speed ~ 1 / bytes read per token
            size = (m.total_params * math.exp(-iv.q_hi), m.total_params * math.exp(-iv.q_lo))
            intervals[f"{label}.implied_params"] = list(size)
            level, groups[iv.group] = iv.level, iv.rows
            derivation.append(
                f"  within the tool's {iv.level:.0%} interval of decode speed ({iv.group}): "
                f"~{size[0] / 1e9:.0f}B - {size[1] / 1e9:.0f}B params (speed read as inverse to "
                "the bytes read per token)")
        conditions.append(f"{label}: a model reading ~{m.total_params / 1e9:.0f}B params per token "
                          f"({dep.weight_precision.id})")
        values.append(f"~{m.total_params / 1e9:.0f}B ({label})")
        flags.append(True)
        sources.append(f"hardware {hw.id}: {hw.spec_source}")
    derivation.append("for a mixture-of-experts model read these as active parameters per token "
                      "(at small batch only the chosen experts are read)")
    verdict: Verdict = "holds-under-conditions" if any(flags) else "inconsistent"
    tolerance = (f"the implied size is a condition, not a verdict; its range is the sizes whose "
                 f"predicted speed puts the claim inside the tool's {level:.0%} interval of decode "
                 "speed; groups: " + ", ".join(f"{g} ({n} rows)" for g, n in groups.items())
                 + f" [{INTERVAL_SOURCE}]") if level is not None else None
    return CheckResult(check="implied-size", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=dedup(sources), tolerance=tolerance, intervals=intervals,
                       interval_level=level)
