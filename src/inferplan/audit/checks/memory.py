"""Memory and model size: implied sizes, devices needed, context scaling, wafer fit.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inferplan.audit.checks.estimates import judge_ratio, metric_ratio, outcome_line
from inferplan.audit.checks.verdict import (
    Interval,
    Tally,
    claimed_text,
    conditions_of,
    dedup,
    mark,
    verdict_of,
)
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, Verdict, register_check
from inferplan.audit.scenario import (
    Scenario,
    fmt_metric,
    resolve_model,
    run_scenario,
    sources_of,
)
from inferplan.audit.tolerance import (
    within,
)
from inferplan.catalog.hardware import get_hardware
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.memory import kv_bytes_per_sequence_device, max_sequences, weight_room_bytes
from inferplan.units import GB, fmt_bytes


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
    derivation, sources, flags, values = [], [], [], []
    holds: list[str] = []
    fails: list[str] = []
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
            usable = weight_room_bytes(dep)
            # sequences of this context the engine could hold (at least the batch that fits)
            room = max(max_sequences(dep, case.context, case.context), case.batch) if plan.fits else 0
            parts.append(
                f"{hw_id}: {n} device(s) (tp{dep.layout.tp} pp{dep.layout.pp}; weights "
                f"{fmt_bytes(mem.weights_bytes)}/device of {fmt_bytes(usable)} usable by "
                f"{dep.engine.id}, KV {fmt_bytes(mem.kv_cache_bytes)}; room for {room} such sequences)"
                f" vs claimed {rng.low}-{rng.high}: {mark(ok)}")
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
    verdict = verdict_of(flags)
    conditions = conditions_of(verdict, holds, fails)
    return CheckResult(check="fit-devices", verdict=verdict,
                       value=f"{'/'.join(p.claimed)}: " + ", ".join(values),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=dedup(sources), tolerance="memory arithmetic (exact for the stated "
                       "engine memory share, KV precision and context)")


class SizeVariant(CheckParams):
    precision: str
    count: Literal["all", "non-embedding"] = "all"


class ModelSizeParams(Interval):
    model: str
    variants: list[SizeVariant] = Field(min_length=1, description="the first is the plain reading")
    reference_hardware: str = Field(default="epyc-9965", description="any device that holds it (tp=1)")


@register_check("model-size", ModelSizeParams)
def model_size(p: ModelSizeParams, ctx: AuditContext) -> CheckResult:
    """Bytes of a model's weights at a precision (all weights, or without embedding/head)."""
    model = resolve_model(p.model, ctx)
    derivation, flags, values = [], [], []
    holds: list[str] = []
    fails: list[str] = []
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
            + f" -> {fmt_bytes(size)} ({mark(ok)} with {claimed_text(p.claimed_low, p.claimed_high)} bytes)")
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
    conditions = conditions_of(verdict, holds, fails)
    return CheckResult(check="model-size", verdict=verdict, value="; ".join(values[:3]),
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=dedup(sources), tolerance="exact arithmetic; the claim's rounding "
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
        tpot_r = metric_ratio("tpot_s", lg, s)
        computed["tpot_ratio"] = tpot_r
        derivation.append(f"decode time per token, dense attention (library): "
                          f"{fmt_metric('tpot_s', s.metric('tpot_s'))} at {p.short_context} tokens vs "
                          f"{fmt_metric('tpot_s', lg.metric('tpot_s'))} at {p.long_context} "
                          f"({tpot_r:.3g}x)")
        derivation += [outcome_line("short", s, "tpot_s"), outcome_line("long", lg, "tpot_s")]
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
    judge = Tally()
    ok = False
    if tpot_r is not None:
        ok, words = judge_ratio(judge, "tpot_s", "tpot_ratio", tpot_r, lg, s, p.claimed_ratio,
                                p.claimed_ratio)
        derivation.append(f"claimed ratio {p.claimed_ratio:g} vs the decode ratio {tpot_r:.3g}: {words}")
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
                       sources=dedup(sources), tolerance=judge.tolerance(),
                       intervals=judge.intervals, interval_level=judge.level)


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
    flags, sources = [], [f"hardware {hw.id}: {hw.spec_source}"]
    derivation: list[str] = []
    holds: list[str] = []
    fails: list[str] = []
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
            comm = float(w.comm_s(g.factors))
            total = float(w.time_s(g.factors))
            computed["gpu_reference.comm_share_of_decode_step"] = comm / total
            derivation.append(f"contrast: {g.describe()}: tensor-parallel all-reduces take "
                              f"{comm * 1e3:.3g} ms of a {total * 1e3:.3g} ms decode step ({comm / total:.0%})")
            sources += sources_of(g)
    verdict = verdict_of(flags)
    conditions = ([f"single {hw.id}: {', '.join(holds)}"] if holds else []) + (
        [f"needs several (with links): {', '.join(fails)}"] if fails and holds else [])
    n_single = sum(flags)
    return CheckResult(check="wafer-fit", verdict=verdict,
                       value=f"{n_single}/{len(flags)} models fit one {hw.id}",
                       computed=computed, conditions=conditions, derivation=derivation,
                       sources=dedup(sources), tolerance="memory arithmetic; link times at catalog "
                       "bandwidth and latency")
