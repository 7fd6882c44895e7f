"""The numbers of a report: one workload across hardware, plus what the charts need.

:func:`build_report` ranks the hardware (the rows of ``inferplan compare``) and, for the best
``detail`` entries that fit, derives the roofline operating points of each step and the
throughput-vs-batch curve. The result, :class:`ReportData`, is plain data (JSON-able): the HTML
renderer, the Markdown renderer and the web API all draw from it. No plotting here.

Roofline quantities are per device of a stage (the cost function's view, ``perf/step.py``):
FLOPs and bytes of one step at the shapes the workload runs, the step time from the calibrated
factors, achieved FLOP/s = FLOPs / step time.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from inferplan.compare import CompareResult, compare_with_plans
from inferplan.errors import InputError
from inferplan.models.registry import get_model
from inferplan.models.spec import ModelSpec
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.estimate import EstimatePlan, Mode
from inferplan.perf.factors import resolve_factors
from inferplan.perf.layout import micro_batches
from inferplan.perf.memory import max_sequences
from inferplan.perf.step import Factors, StepWork, step_work
from inferplan.report.accuracy import AccuracySummary, bundled_accuracy, live_accuracy
from inferplan.report.adapters import audit_sections, plan_sections, sim_sections
from inferplan.report.sections import (
    ReportSection,
    SectionTable,
    register_section_provider,
    section_providers,
    sections_from,
)
from inferplan.units import fmt_layout

__all__ = ["CostLatency", "HardwareDetail", "OperatingPoint", "ReportData", "Roofline",
           "ThroughputCurve", "build_report", "compare_model", "pareto_front"]

CURVE_POINTS = 28  # batch sizes evaluated per throughput curve (geometric grid)
ROOF_POINTS = 200  # intensities per roofline
SORT_KEYS = ("cost", "speed", "throughput", "energy", "devices", "ttft")


class OperatingPoint(BaseModel):
    """One engine step of the workload on the roofline (per device)."""

    model_config = ConfigDict(extra="forbid")
    phase: str  # prefill | decode
    label: str
    flops: float  # FLOPs of the step on one device
    bytes: float  # bytes moved from memory by one device
    time_s: float
    intensity_flop_per_byte: float
    achieved_flops_s: float
    bound: str


class ThroughputCurve(BaseModel):
    """Decode steps only (prefill excluded) at batch sizes 1..the most that fit in memory."""

    model_config = ConfigDict(extra="forbid")
    batch: list[int]  # sequences decoded together, whole system
    tpot_s: list[float]
    tok_s_per_user: list[float]
    output_tok_s: list[float]  # whole system
    output_tok_s_per_device: list[float]
    max_batch: int
    limit: str  # what caps the batch: memory or the engine's max_num_seqs


class Roofline(BaseModel):
    """The roofs of one device over a range of arithmetic intensity (the chart's lines)."""

    model_config = ConfigDict(extra="forbid")
    ridge_flop_per_byte: float  # peak FLOP/s / peak bytes/s: compute-bound above
    intensity_flop_per_byte: list[float]  # geometric grid around the ridge and the points
    peak_flops_s: list[float]  # min(peak FLOP/s, intensity x peak bandwidth)
    reachable_flops_s: list[float]  # the same with the calibrated efficiencies


class CostLatencyPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hardware: str
    devices: int
    e2e_latency_s: float
    ttft_s: float | None
    usd_per_1m_output_tokens: float
    joules_per_output_token: float | None


class CostLatency(BaseModel):
    """Cost vs latency of every priced hardware that fits, and its Pareto front."""

    model_config = ConfigDict(extra="forbid")
    points: list[CostLatencyPoint] = Field(default_factory=list)
    front: list[int] = Field(default_factory=list, description="indices into points, by latency")
    unpriced: list[str] = Field(default_factory=list, description="fits, no price: not shown")


class HardwareDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hardware: str
    name: str
    devices: int
    layout: str
    compute_type: str
    peak_flops_s: float  # per device, the compute type the weights use
    memory_bw_bytes_s: float  # per device
    reachable_flops_s: float  # peak x calibrated compute efficiency
    reachable_bw_bytes_s: float  # peak x calibrated bandwidth efficiency
    points: list[OperatingPoint]
    roofline: Roofline
    curve: ThroughputCurve | None


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    model_name: str
    total_params: float
    active_params: float
    mode: Mode
    batch: int
    input_len: int
    output_len: int
    precision: str | None
    kv_precision: str | None


class ReportData(BaseModel):
    """Everything a report shows; renderers format it, they compute nothing."""

    model_config = ConfigDict(extra="forbid")
    title: str
    generated: str
    inferplan_version: str
    calibration: str
    workload: Workload
    compare: CompareResult
    details: list[HardwareDetail]
    cost_latency: CostLatency = Field(default_factory=CostLatency)
    accuracy: AccuracySummary | None = None
    sections: list[ReportSection] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------


def compare_model(spec: ModelSpec, **kw) -> tuple[CompareResult, dict[str, EstimatePlan]]:
    """``compare.compare`` for a ModelSpec (a pasted config.json), also returning the plans."""
    return compare_with_plans(spec, **kw)


def _point(phase: str, label: str, work: StepWork, plan: EstimatePlan, f: Factors) -> OperatingPoint:
    dep = plan.dep
    peaks = np.array([dep.peak_expert_flops if n.endswith(".experts")
                      else dep.peak_linear_flops if n.endswith(".linear") or n == "lm_head"
                      else dep.peak_attention_flops for n in work.op_names])
    # a chunked prefill is several steps: the point is all of them together
    flops = float((np.asarray(work.t_compute).reshape(len(peaks), -1) * peaks[:, None]).sum())
    nbytes = float(np.asarray(work.t_memory).sum() * dep.memory_bw_bytes_s)
    t = work.total_time_s(f)
    return OperatingPoint(phase=phase, label=label, flops=flops, bytes=nbytes, time_s=t,
                          intensity_flop_per_byte=flops / nbytes if nbytes else math.inf,
                          achieved_flops_s=flops / t if t else 0.0, bound=work.total_bound(f))


def _curve(plan: EstimatePlan, f: Factors) -> ThroughputCurve | None:
    dep = plan.dep
    lay = dep.layout
    I, O = plan.input_len, plan.output_len
    if O == 0:
        return None
    ctx_mean, ctx_max = I + O / 2, I + O
    reserve = ctx_max if dep.engine.kv_reservation == "full_sequence" else ctx_mean
    by_memory = max_sequences(dep, reserve, I)
    max_rep = min(dep.max_running_seqs, by_memory)
    if max_rep < 1:
        return None
    limit = (f"engine max_num_seqs={dep.max_running_seqs}" if max_rep < by_memory
             else f"KV memory ({by_memory} sequences of {reserve:.0f} tokens per replica)")
    b = np.unique(np.round(np.geomspace(1, max_rep, CURVE_POINTS)).astype(int))
    mb = micro_batches(b, lay.pp)
    t = np.asarray(step_work(dep, decode_seqs=b / mb, decode_ctx=ctx_mean).time_s(f), dtype=float)
    t = np.broadcast_to(t, b.shape)
    out = lay.dp * b / t
    return ThroughputCurve(batch=[int(x) * lay.dp for x in b], tpot_s=t.tolist(),
                           tok_s_per_user=(1 / t).tolist(), output_tok_s=out.tolist(),
                           output_tok_s_per_device=(out / lay.devices).tolist(),
                           max_batch=int(max_rep) * lay.dp, limit=limit)


def _roofline(peak_flops_s: float, bw_bytes_s: float, reach_flops_s: float, reach_bw_bytes_s: float,
              points: list[OperatingPoint]) -> Roofline:
    """Roofs from 1/100 of the ridge (or the lowest point) to 30x it (or the highest), /2 x2."""
    ais = [p.intensity_flop_per_byte for p in points if math.isfinite(p.intensity_flop_per_byte)]
    ridge = peak_flops_s / bw_bytes_s
    x = np.geomspace(min([ridge / 100, *ais]) / 2, max([ridge * 30, *ais]) * 2, ROOF_POINTS)
    return Roofline(ridge_flop_per_byte=ridge, intensity_flop_per_byte=x.tolist(),
                    peak_flops_s=np.minimum(peak_flops_s, x * bw_bytes_s).tolist(),
                    reachable_flops_s=np.minimum(reach_flops_s, x * reach_bw_bytes_s).tolist())


def pareto_front(x: list[float], y: list[float]) -> list[int]:
    """Indices of points no other point beats on both (lower x and lower y), by x."""
    order = sorted(range(len(x)), key=lambda i: (x[i], y[i]))
    front, best = [], math.inf
    for i in order:
        if y[i] < best:
            front.append(i)
            best = y[i]
    return front


def _cost_latency(res: CompareResult) -> CostLatency:
    pts = [CostLatencyPoint(hardware=r.hardware, devices=e.devices, e2e_latency_s=e.e2e_latency_s,
                            ttft_s=e.ttft_s, usd_per_1m_output_tokens=e.usd_per_1m_output_tokens,
                            joules_per_output_token=e.joules_per_output_token)
           for r in res.rows if r.fits and (e := r.estimate) is not None
           and e.usd_per_1m_output_tokens and e.e2e_latency_s]
    front = pareto_front([p.e2e_latency_s for p in pts], [p.usd_per_1m_output_tokens for p in pts])
    unpriced = [r.hardware for r in res.rows if r.fits and r.estimate
                and r.estimate.usd_per_1m_output_tokens is None]
    return CostLatency(points=pts, front=front, unpriced=unpriced)


def _detail(plan: EstimatePlan, eff: Efficiency) -> HardwareDetail:
    dep = plan.dep
    f, _ = resolve_factors(dep, eff)
    names = {"prefill": f"prefill ({plan.input_len} prompt tokens)",
             "decode": f"decode (batch {plan.seqs_per_replica:g})"}
    if plan.mode == "batch" and "prefill" in plan.works:
        names["prefill"] = f"prefill (batch {plan.seqs_per_replica:g} x {plan.input_len} tokens)"
    points = [_point(k, names.get(k, k), w, plan, f) for k, w in plan.works.items()]
    lay = dep.layout
    layout = fmt_layout(lay.tp, lay.pp, lay.ep) + (f" x{lay.dp} replicas" if lay.dp > 1 else "")
    reach_flops, reach_bw = dep.peak_linear_flops * f.compute_eff, dep.memory_bw_bytes_s * f.bw_eff
    return HardwareDetail(
        hardware=dep.hw.id, name=dep.hw.name, devices=lay.devices, layout=layout,
        compute_type=dep.linear_compute_type, peak_flops_s=dep.peak_linear_flops,
        memory_bw_bytes_s=dep.memory_bw_bytes_s, reachable_flops_s=reach_flops,
        reachable_bw_bytes_s=reach_bw, points=points,
        roofline=_roofline(dep.peak_linear_flops, dep.memory_bw_bytes_s, reach_flops, reach_bw, points),
        curve=_curve(plan, f))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("inferplan")
    except Exception:  # noqa: BLE001 - not installed (source tree)
        return "dev"


def build_report(model: str | ModelSpec, *, hardware: list[str] | None = None,
                 hw_class: str | None = None, mode: Mode = "batch", batch: int = 1,
                 input_len: int = 1024, output_len: int = 256, precision: str | None = None,
                 kv_precision: str | None = None, sort: str = "cost",
                 calibration: Path | None = None, hardware_files: tuple[Path, ...] = (),
                 detail: int = 8, accuracy_csv: Path | None = None,
                 extra: list | tuple = (), offload: bool | str | None = None,
                 host: str | None = None, slots: int | None = None,
                 requests: int | None = None) -> ReportData:
    """Rank the hardware for the workload and gather what every chart needs.

    detail: how many of the best-ranked hardware that fit get roofline points and curves
    (every named hardware gets a table row). accuracy_csv: validate this CSV live instead of
    using the bundled accuracy table. extra: ReportSection objects or results with
    ``report_sections()`` (simulation, audit), appended after the providers' sections.
    """
    if detail < 0:
        raise InputError("detail must be >= 0")
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    eff = load_efficiency(calibration)
    res, plans = compare_model(spec, hardware=hardware, hw_class=hw_class, mode=mode, batch=batch,
                               input_len=input_len, output_len=output_len, precision=precision,
                               kv_precision=kv_precision, sort=sort, eff=eff,
                               hardware_files=hardware_files, offload=offload, host=host,
                               slots=slots, requests=requests)
    fits = [r.hardware for r in res.rows if r.fits]
    details = [_detail(plans[h], eff) for h in fits[:detail]]
    accuracy = (live_accuracy(accuracy_csv, calibration, hardware_files) if accuracy_csv
                else bundled_accuracy())
    mode_txt = {"batch": f"batch {batch}", "concurrency": f"{batch} concurrent users",
                "offline": "offline (largest batch that fits"
                + (f", {requests:,} requests)" if requests else ")")}[mode]
    data = ReportData(
        title=f"{spec.id}: {input_len} prompt + {output_len} output tokens, {mode_txt}",
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        inferplan_version=_version(), calibration=eff.profile,
        workload=Workload(model=spec.id, model_name=spec.name, total_params=spec.total_params,
                          active_params=spec.active_params, mode=mode, batch=batch,
                          input_len=input_len, output_len=output_len, precision=precision,
                          kv_precision=kv_precision),
        compare=res, details=details, cost_latency=_cost_latency(res), accuracy=accuracy,
    )
    sections: list[ReportSection] = []
    for fn in section_providers().values():
        sections.extend(fn(data))
    sections.extend(sections_from(extra))
    data.sections = sections
    return data


# --- built-in sections (registered like any plugin) ---------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


THIN_ROWS = 10  # a class measured on fewer rows gets a small-sample caveat


def _accuracy_section(data: ReportData) -> list[ReportSection]:
    acc = data.accuracy
    classes = sorted({r.hardware_class for r in data.compare.rows if r.fits})
    if acc is None:
        return [ReportSection(title="Measured error", text=[
            "No accuracy table is bundled (run tools/build_report_accuracy.py); "
            "`inferplan validate DATA.csv` measures the error on your own data."])]
    has_loso = any(g.loso_median_ape is not None for g in acc.by_hardware_class.values())
    cols = ["hardware class", "rows measured", "median error", "p90 error"]
    if has_loso:
        cols += ["median error, unseen source (LOSO)", "p90, unseen source"]
    rows = []
    for c in classes + ["all"]:
        g = acc.overall if c == "all" else acc.by_hardware_class.get(c)
        if g is None:
            rows.append([c, 0, "unknown", "unknown"] + (["unknown", "unknown"] if has_loso else []))
            continue
        row = [c, g.rows, _pct(g.median_ape), _pct(g.p90_ape)]
        if has_loso:
            row += [_pct(g.loso_median_ape), _pct(g.loso_p90_ape)]
        rows.append(row)
    text = [
        f"How far predictions were from published measurements ({acc.rows} rows of {acc.data}, "
        f"{acc.sources} sources; calibration '{acc.calibration}'). Error = |predicted - measured| "
        f"/ measured, for decode speed, throughput, prefill speed and latency together.",
        "In-sample: the calibrated factors scored on the rows they were fitted on. "
        "Unseen source (leave-one-source-out): each row predicted with factors fitted only on the "
        "other publications — the honest number for an engine or lab the model has not seen."
        if has_loso else f"Method: {acc.method}.",
    ]
    thin = [f"{c}: {g.rows}" for c in classes if (g := acc.by_hardware_class.get(c)) and g.rows < THIN_ROWS]
    if thin:
        text.append(f"Fewer than {THIN_ROWS} measured rows ({', '.join(thin)}): those errors are a few "
                    "anecdotes, not a rate; expect the overall error or worse.")
    if any(acc.by_hardware_class.get(c) is None for c in classes):
        text.append("'unknown': no published measurement of that class yet; treat its numbers as "
                    "spec-sheet arithmetic with uncalibrated default efficiencies.")
    return [ReportSection(title="Measured error of this tool", text=text,
                          tables=[SectionTable(columns=cols, rows=rows)])]


def _f(a: dict, key: str) -> float | None:
    v = a.get(key)
    return v["value"] if isinstance(v, dict) else None


def _assumptions_section(data: ReportData) -> list[ReportSection]:
    """Factors and conditions of each estimate, one row per hardware (best ranked first)."""
    fits = [r.estimate for r in data.compare.rows if r.fits and r.estimate is not None][:12]
    if not fits:
        return []
    factors, conds = [], []
    for e in fits:
        a = e.assumptions
        bw = (_f(a, "bw_eff") or 0) * (_f(a, "engine_bw") or 1)
        comp = (_f(a, "compute_eff") or 0) * (_f(a, "engine_compute") or 1)
        scopes = sorted({v["scope"] for k, v in a.items() if isinstance(v, dict) and "scope" in v
                         and k in ("bw_eff", "compute_eff", "engine_bw", "engine_compute",
                                   "layer_overhead_s", "step_overhead_s")})
        lo, so = _f(a, "layer_overhead_s"), _f(a, "step_overhead_s")
        factors.append([e.hardware, e.engine, f"{min(bw, 1):.2f}", f"{min(comp, 1):.2f}",
                        f"{lo * 1e6:.3g} µs" if lo is not None else "-",
                        f"{so * 1e3:.3g} ms" if so is not None else "-",
                        f"{_f(a, 'comm_eff') or 0:.2f}" if e.tp * e.pp * e.ep > 1 else "-",
                        f"{_f(a, 'dequant_w') or 0:.3g}", ", ".join(scopes)])
        lay = fmt_layout(e.tp, e.pp, e.ep) + (f" x{e.dp} replicas" if e.dp > 1 else "")
        extra = "; ".join(str(a[k]) for k in ("offline_batch", "queueing") if k in a)
        conds.append([e.hardware, f"{e.devices} ({lay})", e.weight_precision, e.kv_precision,
                      str(a.get("compute_type", "-")), str(a.get("power", "-")),
                      str(a.get("cost", "-")) + (f"; {extra}" if extra else "")])
    srcs = sorted({a["source"] for e in fits for a in e.assumptions.values()
                   if isinstance(a, dict) and a.get("source")})
    text = [
        "Every prediction is a roofline per operator (FLOPs at peak FLOP/s against bytes at "
        "peak bandwidth, each scaled by an efficiency) plus link traffic and fixed per-layer and "
        "per-step overheads (kernel launches, scheduling). The efficiencies are device x engine "
        "factors fitted to published measurements; 'scope' names the calibrated groups used "
        "('default' = a prior, not fitted to this hardware).",
        f"Decode steps use the mean context over a generation ({data.workload.input_len} + "
        f"{data.workload.output_len}/2 tokens). Memory is per device; throughput, power and cost "
        "are for all devices of a row together.",
    ]
    return [ReportSection(title="Assumptions", text=text, tables=[
        SectionTable(caption="Efficiency factors", columns=[
            "hardware", "engine", "bandwidth efficiency", "compute efficiency", "overhead / layer",
            "overhead / step", "link efficiency", "unpack ops / weight", "scope"], rows=factors),
        SectionTable(caption="Conditions", columns=[
            "hardware", "devices (layout)", "weights", "KV cache", "compute type", "power",
            "price"], rows=conds),
        SectionTable(caption="Sources of the factors", columns=["source"], rows=[[x] for x in srcs]),
    ])]


# registered the way a plugin would be (one registry per extension point)
register_section_provider("assumptions", _assumptions_section)
register_section_provider("accuracy", _accuracy_section)
register_section_provider("simulation", sim_sections, for_type="SimResult")
register_section_provider("plan", plan_sections, for_type="PlanResult")
register_section_provider("audit", audit_sections, for_type="AuditReport")
