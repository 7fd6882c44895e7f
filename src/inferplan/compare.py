"""One workload across many hardware entries (`compare`), and what holds a model (`fit`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.catalog.engines import default_engine, get_engine, runs_on
from inferplan.catalog.hardware import get_hardware, hardware_catalog
from inferplan.catalog.precisions import check_precision_ids
from inferplan.catalog.schema import HARDWARE_CLASSES, HardwareSpec
from inferplan.errors import InferplanError, InputError, UnsupportedFormatError
from inferplan.models.registry import get_model
from inferplan.models.spec import ModelSpec
from inferplan.perf.batching import check_requests
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.estimate import (
    Estimate,
    EstimatePlan,
    Mode,
    estimate_from_plan,
    plan_estimate,
)
from inferplan.perf.notes import WARNINGS_KEY
from inferplan.perf.offload import offload_on
from inferplan.perf.slots import slots_for_hardware

SORT_KEYS = ("cost", "speed", "throughput", "energy", "devices", "ttft")


class CompareRow(BaseModel):
    hardware: str
    hardware_class: str
    fits: bool
    reason: str | None = None
    estimate: Estimate | None = None


class CompareResult(BaseModel):
    model: str
    mode: str
    input_len: int
    output_len: int
    sort: str
    rows: list[CompareRow]


def select_hardware(hardware: list[str] | None, hw_class: str | None,
            files: tuple[Path, ...]) -> list[HardwareSpec]:
    if hw_class and hw_class not in HARDWARE_CLASSES:
        raise InputError(f"unknown class '{hw_class}' (known: {', '.join(HARDWARE_CLASSES)})")
    if hardware:
        names = list(dict.fromkeys(h.strip() for h in hardware if h.strip()))  # once each, in order
        if not names:
            raise InputError("no hardware named (--hardware takes ids separated by commas)")
        hws = list({h.id: h for h in (get_hardware(n, files) for n in names)}.values())
        other = [h.id for h in hws if hw_class and h.hw_class != hw_class]
        if other:
            raise InputError(f"--class {hw_class} excludes the hardware named: {', '.join(other)} "
                             f"({', '.join(sorted({h.hw_class for h in hws if h.id in other}))})")
        return hws
    hws = list(hardware_catalog(files).values())
    return [h for h in hws if not hw_class or h.hw_class == hw_class]


def _sort_key(sort: str):
    def val(x: float | None, sign: float = 1.0) -> float:
        return sign * x if x is not None and math.isfinite(x) else math.inf

    def key(r: CompareRow):
        e = r.estimate
        if not r.fits or e is None:
            return (1, math.inf, r.hardware)
        k = {
            "cost": val(e.usd_per_1m_output_tokens),
            "speed": val(e.decode_tok_s_per_user, -1),
            "throughput": val(e.output_tok_s, -1),
            "energy": val(e.joules_per_output_token),
            "devices": float(e.devices),
            "ttft": val(e.ttft_s),
        }[sort]
        return (0, k, -(e.decode_tok_s_per_user or 0))

    return key


def compare(model: str | ModelSpec, *, hardware: list[str] | None = None,
            hw_class: str | None = None, mode: Mode = "batch", batch: int = 1,
            input_len: int = 1024, output_len: int = 256, precision: str | None = None,
            kv_precision: str | None = None, sort: str = "cost", calibration: Path | None = None,
            hardware_files: tuple[Path, ...] = (), offload: bool | str | None = None,
            host: str | None = None, slots: int | None = None,
            requests: int | None = None, engine: str | None = None,
            threads: int | None = None,
            engine_options: dict[str, str | float] | None = None,
            devices: int | None = None) -> CompareResult:
    """Estimate the workload on each selected device (fewest devices that fit) and rank;
    ``requests``: an offline run's prompts (:func:`~inferplan.perf.estimate.plan_estimate`);
    ``engine``: on every device it runs on (the others are unfit rows); ``threads``: the CPUs';
    ``engine_options``: launch options for every device's engine (one that an engine does not
    take makes that device's row unfit, or an error for hardware named by the user);
    ``devices``: that many of each device (default: the fewest that fit, and larger layouts
    where they rank better)."""
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    res, _ = compare_with_plans(
        spec, hardware=hardware, hw_class=hw_class, mode=mode, batch=batch, input_len=input_len,
        output_len=output_len, precision=precision, kv_precision=kv_precision, sort=sort,
        eff=load_efficiency(calibration), hardware_files=hardware_files, offload=offload,
        host=host, slots=slots, requests=requests, engine=engine, threads=threads,
        engine_options=engine_options, devices=devices)
    return res


def compare_with_plans(spec: ModelSpec, *, hardware: list[str] | None, hw_class: str | None,
                       mode: Mode, batch: int, input_len: int, output_len: int,
                       precision: str | None, kv_precision: str | None, sort: str,
                       eff: Efficiency, hardware_files: tuple[Path, ...] = (),
                       offload: bool | str | None = None, host: str | None = None,
                       slots: int | None = None, requests: int | None = None,
                       engine: str | None = None, threads: int | None = None,
                       engine_options: dict[str, str | float] | None = None,
                       devices: int | None = None,
                       ) -> tuple[CompareResult, dict[str, EstimatePlan]]:
    """:func:`compare`, also returning each fitting device's plan (reports draw from them).

    offload/host/slots as in :func:`~inferplan.perf.estimate.plan_estimate`; `slots` applies to
    the llama.cpp rows only (other engines have no server slots).
    """
    if sort not in SORT_KEYS:
        raise InputError(f"unknown sort '{sort}' (known: {', '.join(SORT_KEYS)})")
    check_requests(mode, requests)  # once, not as every row's error
    check_precision_ids(precision, kv_precision)
    eng = get_engine(engine) if engine else None  # an unknown id: "did you mean", once
    rows: list[CompareRow] = []
    plans: dict[str, EstimatePlan] = {}
    for hw in select_hardware(hardware, hw_class, hardware_files):
        if eng is not None and not runs_on(eng, hw):
            rows.append(CompareRow(hardware=hw.id, hardware_class=hw.hw_class, fits=False,
                                   reason=f"{eng.id} does not run on {hw.id} (a {hw.hw_class})"))
            continue
        own: dict[str, Any] = {"engine": engine, "threads": threads if hw.hw_class == "cpu" else None,
                               "engine_options": engine_options, "devices": devices}
        try:
            plan = plan_estimate(spec, hw, mode=mode, batch=batch, input_len=input_len,
                                 output_len=output_len, precision=precision,
                                 kv_precision=kv_precision, host=host, offload=offload_on(hw, offload) or False,
                                 slots=slots_for_hardware(hw, slots, offload, engine, precision), requests=requests,
                                 host_efficiency=eff, **own)
            est = estimate_from_plan(plan, eff)
        except InferplanError as e:
            # the user named it: a bad request, not a row (but a file format no engine there
            # loads is an answer about that device, like one that does not fit)
            if hardware and not isinstance(e, UnsupportedFormatError):
                raise
            rows.append(CompareRow(hardware=hw.id, hardware_class=hw.hw_class, fits=False,
                                   reason=str(e)))
            continue
        if est.fits:
            plan, est = _best_engine_layout(spec, hw, plan, est, eff, sort, mode=mode, batch=batch,
                                            input_len=input_len, output_len=output_len,
                                            precision=precision, kv_precision=kv_precision,
                                            requests=requests, **own)
        plans[hw.id] = plan
        rows.append(CompareRow(hardware=hw.id, hardware_class=hw.hw_class, fits=est.fits,
                               reason=est.reason, estimate=est))
    rows.sort(key=_sort_key(sort))
    res = CompareResult(model=spec.id, mode=mode, input_len=input_len, output_len=output_len,
                        sort=sort, rows=rows)
    return res, plans


def _best_engine_layout(spec: ModelSpec, hw: HardwareSpec, plan: EstimatePlan, est: Estimate,
                        eff: Efficiency, sort: str, **kw) -> tuple[EstimatePlan, Estimate]:
    """The engine's layouts for this hardware, best first under `sort`: the fewest devices that
    fit (the engine's automatic layout), each larger tensor-parallel group inside the scale-up
    domain (no pipeline) and, for MoE models on GPUs (where those recipes are documented), the
    engine's expert-parallel placements on the same device counts (``moe_options``: experts EP with attention TP, and attention
    data-parallel with experts EP, SGLang's/TensorRT-LLM's DeepSeek recipe). More devices buy KV
    room and bandwidth; attention-DP stops replicating MLA's latent KV on every TP rank. At some
    loads either is the cheaper deployment per token."""
    from inferplan.perf.placement import engine_tps

    lay = plan.dep.layout
    if sort == "devices" or lay.pp > 1 or lay.dp > 1 or lay.ep > 1 or kw.get("devices"):
        return plan, est  # (a device count the user gave is kept)
    kw = {k: v for k, v in kw.items() if k != "devices"}
    best = (plan, est)
    key = _sort_key(sort)
    eng = plan.dep.engine
    options: list[dict[str, Any]] = []
    tps = engine_tps(spec, hw, eng)
    for tp in tps:
        if tp > lay.tp:
            options.append({"devices": tp})
        # expert placements on the automatic layout's devices and on the whole domain
        if spec.is_moe and hw.hw_class == "gpu" and tp >= 2 and tp in (lay.tp, tps[-1]):
            if "ep" in eng.layout.moe_options:
                options.append({"tp": tp, "ep": tp})
            if "attention_dp_ep" in eng.layout.moe_options:
                options.append({"tp": 1, "ep": tp})
    for opt in options:
        try:
            p2 = plan_estimate(spec, hw, **opt, **kw)
            got = p2.dep.layout
            # offline runs and closed-loop clients on N devices: whatever layout the estimate
            # ranks fastest there (replicas, pipeline stages or expert parallelism); otherwise
            # exactly the TP/EP asked for
            pick = kw.get("mode") in ("offline", "concurrency") and set(opt) == {"devices"}
            if not p2.fits or (not pick and (got.pp > 1 or (got.tp, got.ep) != (
                    opt.get("tp", opt.get("devices")), opt.get("ep", 1)))):
                continue
            e2 = estimate_from_plan(p2, eff)
        except InferplanError:
            continue
        row_best = CompareRow(hardware=hw.id, hardware_class=hw.hw_class, fits=True, estimate=best[1])
        row_new = CompareRow(hardware=hw.id, hardware_class=hw.hw_class, fits=True, estimate=e2)
        new_key = key(row_new)
        # a layout is preferred only on a known value of the sort key: a device without a price
        # (or power figure) keeps its automatic layout, not the fastest of the unpriceable ones
        if math.isfinite(new_key[1]) and new_key < key(row_best):
            best = (p2, e2)
    return best


class FitRow(BaseModel):
    hardware: str
    hardware_class: str
    fits: bool
    devices: int | None
    tp: int | None
    pp: int | None
    ep: int | None = None  # expert parallelism (MoE layouts wider than their TP)
    weights_bytes_per_device: float | None
    kv_bytes_per_device: float | None
    capacity_bytes_per_device: float | None
    max_batch_at_context: int | None
    reason: str | None
    warnings: list[str] = []  # what holds it only past a default (macOS's GPU memory limit...)


class FitResult(BaseModel):
    model: str
    context: int
    batch: int
    weight_precision: str
    rows: list[FitRow]


def fit(model: str | ModelSpec, *, context: int = 4096, batch: int = 1, precision: str | None = None,
        kv_precision: str | None = None, hw_class: str | None = None,
        hardware_files: tuple[Path, ...] = (), hardware: list[str] | None = None,
        engine: str | None = None) -> FitResult:
    """Fewest devices of each hardware that hold weights + KV for `batch` x `context` tokens
    (`hardware`: these devices only; `engine`: on every device it runs on, the others unfit)."""
    from inferplan.perf.memory import max_sequences

    if context < 1 or batch < 1:
        raise InputError("--context and --batch must be >= 1")
    check_precision_ids(precision, kv_precision)
    spec = model if isinstance(model, ModelSpec) else get_model(model)
    rows: list[FitRow] = []
    from inferplan.catalog.precisions import get_precision

    # the title's precision: what was asked (its id, not an alias), else the model's own
    wp = get_precision(precision).id if precision else spec.native_precision
    if wp == "fp32" and not precision:
        wp = "fp32 checkpoint, served in 16 bits"
    eng = get_engine(engine) if engine else None  # an unknown id: "did you mean", once
    for hw in select_hardware(hardware, hw_class, hardware_files):
        try:
            # memory for `batch` sequences held at once; a runtime that holds fewer (an NPU
            # runtime: one) is asked for what it holds, and the row says so below
            top = (eng or default_engine(hw)).max_static_batch
            held = min(batch, top) if top else batch
            plan = plan_estimate(spec, hw, mode="batch", batch=held, input_len=context,
                                 output_len=0, precision=precision, kv_precision=kv_precision,
                                 engine=engine)
            if held < batch:
                plan.fits, plan.reason = False, (f"{plan.dep.engine.id} holds at most {held} "
                                                 f"sequence{'s' if held > 1 else ''} at a time")
        except InferplanError as e:
            rows.append(FitRow(hardware=hw.id, hardware_class=hw.hw_class, fits=False, devices=None,
                               tp=None, pp=None, weights_bytes_per_device=None, kv_bytes_per_device=None,
                               capacity_bytes_per_device=None, max_batch_at_context=None, reason=str(e)))
            continue
        dep, mem = plan.dep, plan.mem
        rows.append(FitRow(
            hardware=hw.id, hardware_class=hw.hw_class, fits=plan.fits,
            devices=dep.layout.devices, tp=dep.layout.tp, pp=dep.layout.pp, ep=dep.layout.ep,
            weights_bytes_per_device=mem.weights_bytes, kv_bytes_per_device=mem.kv_cache_bytes,
            capacity_bytes_per_device=mem.capacity_bytes,
            max_batch_at_context=(min(max_sequences(dep, context, context),
                                      dep.engine.max_static_batch or 10**12) if plan.fits else None),
            reason=plan.reason, warnings=list(plan.notes.get(WARNINGS_KEY) or []) if plan.fits else [],
        ))
    rows.sort(key=lambda r: (not r.fits, r.devices or 1e9, r.hardware))
    return FitResult(model=spec.id, context=context, batch=batch, weight_precision=wp, rows=rows)
