"""Estimate one workload on one hardware: fit, layout, TTFT, TPOT, throughput, cost, energy.

Two phases keep calibration cheap and every feature on one code path:

- :func:`plan_estimate` resolves ids, picks precisions and the layout, checks memory and builds
  the step compositions the mode needs (:class:`EstimatePlan`). No efficiency factor is used.
- :func:`evaluate_plan` times those steps with a set of :class:`~inferplan.perf.step.Factors`
  and derives the metrics (formulas in ``docs/metrics.md``).

:func:`estimate` does both: the :class:`Estimate` the CLI prints (``shared/spec/cli-contract.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from inferplan.catalog.engines import (
    check_engine_reads,
    check_engine_runs_on,
    get_engine,
    inert_given,
    option_given,
    option_value,
    with_engine_options,
)
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.precisions import get_precision
from inferplan.catalog.schema import EngineSpec, HardwareSpec, Precision
from inferplan.errors import InferplanError, InputError, LayoutError
from inferplan.models.registry import get_model
from inferplan.models.spec import ModelSpec
from inferplan.perf.admission import admission_note, admission_wait_steps
from inferplan.perf.batching import (
    OfflineRun,
    budget_cap,
    check_requests,
    offline_batch,
    offline_run,
)
from inferplan.perf.chunks import prefill_chunks
from inferplan.perf.compiled import check_max_model_len, compiled_kv
from inferplan.perf.cost import CostAssumptions, plan_power_w, usd_per_second
from inferplan.perf.deployment import Deployment
from inferplan.perf.efficiency import Efficiency, load_efficiency, prior_efficiency
from inferplan.perf.explain import explain
from inferplan.perf.factors import resolve_factors
from inferplan.perf.hostlayers import check_host_layers, host_layers_json, offload_to_host
from inferplan.perf.intervals import estimate_support, plan_intervals
from inferplan.perf.layout import Layout, check_layout, micro_batches
from inferplan.perf.memory import MemoryBreakdown, max_sequences, memory_breakdown
from inferplan.perf.notes import BATCH_SCOPED_KEY, WARNINGS_KEY
from inferplan.perf.notes import warn as _warn
from inferplan.perf.offline_layout import auto_layout
from inferplan.perf.offload import (
    HOST_MEMORY_UTILIZATION,
    ExpertHost,
    describe_offload,
    engine_for,
    host_expert_bytes,
    normalize_offload,
    resolve_expert_host,
    single_host_layout,
)
from inferplan.perf.placement import (
    check_replica_devices,
    choose_layout,
    offline_layouts,
    why_not_fits,
)
from inferplan.perf.precision_defaults import converted_default, resolve_precisions
from inferplan.perf.queueing import (
    STEPS_AHEAD_OVERLAP,
    cycle_shape,
    prefill_queue_s,
    served_cycle_s,
)
from inferplan.perf.slots import serving_engine
from inferplan.perf.step import Factors, StepWork, request_overhead_s, step_work
from inferplan.perf.wafer import PipelineReport, explain_pipeline, pipeline_report

Mode = Literal["batch", "concurrency", "offline"]
class MemoryReport(BaseModel):
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    reserved_bytes: float
    used_bytes_per_device: float
    capacity_bytes_per_device: float


class Estimate(BaseModel):
    """One prediction (cli-contract.md). Per-device memory; throughput for all `devices`."""

    model: str
    hardware: str
    engine: str
    devices: int
    tp: int
    pp: int
    ep: int
    weight_precision: str
    kv_precision: str
    mode: Mode
    batch: int
    input_len: int
    output_len: int
    fits: bool
    reason: str | None
    memory: MemoryReport
    ttft_s: float | None
    tpot_s: float | None
    e2e_latency_s: float | None
    decode_tok_s_per_user: float | None
    prefill_tok_s: float | None
    output_tok_s: float | None
    total_tok_s: float | None
    requests_per_s: float | None
    usd_per_1m_input_tokens: float | None
    usd_per_1m_output_tokens: float | None
    joules_per_output_token: float | None
    power_w: float | None
    bound: dict[str, str | None]
    assumptions: dict[str, Any]
    dp: int = 1
    expert_precision: str | None = None  # routed experts, when stored unlike the other weights
    expert_host: str | None = None  # host CPU holding and computing the routed experts (--offload experts)
    # llama.cpp -ngl: {cpu, layers_on_host, gpu_layers, host_weight_bytes} (perf/hostlayers.py)
    host_layers: dict[str, Any] | None = None
    pipeline: PipelineReport | None = None  # SRAM machines (wafers, LPUs): the stage-by-stage view
    hardware_class: str = ""
    why: str = ""
    intervals: dict[str, list[float]] = {}  # 80% interval per metric (perf/intervals.py)
    corpus_support: str | None = None  # measured/unmeasured: its engine on its hardware in the corpus; calibrated: fitted on it
    warnings: list[str] = []  # what the estimate extrapolates or doubts (also assumptions.warning, joined)
    offline_run: OfflineRun | None = None  # --offline --requests N: the run's seconds, $ and kWh


@dataclass
class EstimatePlan:
    """Everything of an estimate that does not depend on efficiency factors."""

    dep: Deployment
    mode: Mode
    batch: int  # sequences per step across the system (batch, concurrency or offline max)
    input_len: int
    output_len: int
    mem: MemoryBreakdown
    fits: bool
    reason: str | None
    works: dict[str, StepWork] = field(default_factory=dict)
    seqs_per_replica: float = 1.0  # sequences in flight per busy replica
    replicas_busy: float = 1.0  # replicas with work: min(dp, sequences); a sequence is never split
    microbatches: int = 1
    queue_factor: float = 1.0  # closed-loop clients per engine slot (>1: requests wait)
    notes: dict[str, Any] = field(default_factory=dict)
    # continuous batching: prompt groups per request cycle, prompts per group, decoding riders
    cycle: dict[str, Any] = field(default_factory=dict)
    rider_work: StepWork | None = None  # decode step of the riders alone (marginal prefill cost)
    admission_steps: float = 0.0  # mean decode steps a new request waits to be scheduled
    requests: int | None = None  # an offline run's prompts (perf/batching.offline_batch)

    @property
    def prompt_only(self) -> bool:  # one output token: the request is its prompt (its TPOT a quote)
        return self.mode == "batch" and self.output_len <= 1 and self.input_len > 0


# --------------------------------------------------------------------------------------------
# resolution


# macOS wires at most ~75% of unified memory for the GPU by default (Metal's
# recommendedMaxWorkingSetSize; the iogpu.wired_limit_mb sysctl raises it): mlx's profile sizes
# to it, other engines on Apple SoCs get a warning past it
MACOS_GPU_WIRED_SHARE = 0.75
MACOS_GPU_WIRED_SHARE_SMALL = 2 / 3  # Macs with at most 36 GB of unified memory
MACOS_SMALL_MAC_BYTES = 36 * 2**30


def _deployment(model: ModelSpec, hw: HardwareSpec, engine: EngineSpec, layout: Layout, w: Precision,
                e: Precision, kv: Precision, act: str, threads: int | None = None,
                expert_host: ExpertHost | None = None) -> Deployment:
    return Deployment(model=model, hw=hw, engine=engine, layout=layout, weight_precision=w,
                      expert_precision=e, kv_precision=kv, act_precision=act, threads=threads,
                      expert_host=expert_host)


def plan_estimate(model: str | ModelSpec, hardware: str | HardwareSpec, *,
                  devices: int | None = None, tp: int | None = None, pp: int | None = None,
                  ep: int | None = None, precision: str | None = None,
                  kv_precision: str | None = None, engine: str | None = None,
                  mode: Mode = "batch", batch: int = 1, input_len: int = 1024,
                  output_len: int = 128, threads: int | None = None, offload: bool | str = False,
                  host: str | HardwareSpec | None = None, slots: int | None = None,
                  engine_options: dict[str, str | float] | None = None,
                  hardware_files: tuple[Path, ...] = (), requests: int | None = None,
                  host_efficiency: Efficiency | None = None) -> EstimatePlan:
    """Resolve everything and build the step work for the mode (the devices' efficiency
    factors come later; a host CPU's, offload, from `host_efficiency`, None: the bundled ones).

    offload: False/'none'; True/'auto' (what does not fit goes to host DRAM, streamed over the
    host link); 'experts' (routed experts held and computed by the host CPU `host`, default
    the device's usual host: perf/offload.py). slots: llama-server's --parallel (default 4,
    perf/slots.py). engine_options: launch options that override the engine's defaults
    (catalog.engines.ENGINE_OPTIONS: max_num_seqs, max_num_batched_tokens, scheduler_recv_interval...).
    requests: an offline run's prompts (all queued at t = 0): no replica batches more than its
    share (perf/batching.offline_batch); None: a run long enough to fill the largest batch."""
    call = dict(locals())  # the arguments, to plan the offline layouts it ranks
    if input_len < 0 or output_len < 0:
        raise InputError("input and output lengths must be >= 0")
    if input_len + output_len == 0:
        raise InputError("input_len + output_len must be > 0")
    if batch < 1 and mode != "offline":
        raise InputError(f"{'concurrency' if mode == 'concurrency' else 'batch'} must be >= 1")
    if devices is not None and devices < 1:
        raise InputError("devices must be >= 1")
    check_requests(mode, requests)
    if threads is not None and threads < 1:
        raise InputError("threads must be >= 1")
    m = model if isinstance(model, ModelSpec) else get_model(model)
    hw = hardware if isinstance(hardware, HardwareSpec) else get_hardware(hardware, hardware_files)
    off_mode = normalize_offload(offload)
    stored = get_precision(precision if precision not in (None, "", "unknown") else m.native_precision)
    if option_value(engine_options, "n_cpu_moe") not in (None, 0, "0") and off_mode == "none":
        if not m.is_moe:  # said in its own terms, not as the --offload experts it stands for
            raise InputError(f"n_cpu_moe puts MoE layers' experts on the host CPU; {m.id} is dense")
        off_mode = "experts"  # llama.cpp --n-cpu-moe N: some layers' experts on the host CPU
    ngl_given = option_given(engine_options, "n_gpu_layers")
    if (ngl_given or option_given(engine_options, "n_cpu_moe")) and not engine and hw.hw_class == "gpu":
        engine = "llama.cpp"  # -ngl is llama.cpp's: the engine it names
    eng = get_engine(engine) if engine else engine_for(hw, off_mode, stored)
    check_engine_runs_on(eng, hw)
    converted = converted_default(eng, stored, hw) if precision in (None, "", "unknown") else None
    if converted is not None:  # DeepSeek-R1's FP8 checkpoint on llama.cpp: its GGUF conversion
        native, precision, stored = stored.id, converted.id, converted
    check_engine_reads(eng, stored, hw)
    if mode == "batch" and eng.max_static_batch is not None and batch > eng.max_static_batch:
        raise InputError(f"{eng.id} decodes at most {eng.max_static_batch} sequence"
                         f"{'s' if eng.max_static_batch > 1 else ''} at a time: a static batch of "
                         f"{batch} cannot run (--concurrency {batch} queues {batch} clients)")
    # the engine's limits on this device: its offline/benchmark entry point for batch and
    # offline runs (vLLM's LLM class), its server for concurrency
    eng = eng.for_hardware(hw, offline=mode != "concurrency")
    eng, slot_note = serving_engine(eng, slots)
    inert = inert_given(eng, engine_options)
    eng = with_engine_options(eng, engine_options)
    w, e, kv, act, notes = resolve_precisions(m, eng, hw, precision, kv_precision)
    if converted is not None:
        notes["weight_precision"] = (f"model native {native}, which {eng.id} cannot load: converted to "
                                     f"{converted.id} (GGUF; --precision for another)")
    if eng.gpu_layers == -1 and off_mode == "none":
        off_mode = "auto"  # llama.cpp -ngl -1: as many layers on the GPU as fit
    ngl = check_host_layers(eng, hw, m, mode, off_mode, host)
    if ngl_given and devices is None and tp is None and pp is None:
        devices = 1  # -ngl on one GPU; --devices spreads the layers over more
    if inert:
        notes["engine_options"] = f"{', '.join(inert)}: accepted by {eng.id} ({eng.versions}) but never read; ignored"
    if slot_note:
        notes["slots"] = slot_note
    expert_host = None
    if off_mode == "experts" and eng.cpu_moe_layers != 0:
        expert_host = resolve_expert_host(hw, host, m, w, e, kv, hardware_files, eng.id,
                                          eng.cpu_moe_layers or None, host_efficiency)
    elif eng.cpu_moe_layers and off_mode == "auto":
        raise InputError("n_cpu_moe keeps some layers' experts on the host CPU: it goes with "
                         "--offload experts, not --offload auto")
    if eng.cpu_moe_layers is not None and not eng.host_layers:
        raise InputError(f"n_cpu_moe is llama.cpp's --n-cpu-moe; {eng.id} has no such option")

    if threads is not None and hw.hw_class != "cpu":
        raise InputError(f"--threads applies to CPUs; {hw.id} is a {hw.hw_class}")
    if threads:
        notes["threads"] = f"{threads} of {hw.cores or '?'} cores"
        if hw.cores and threads > hw.cores:
            _warn(notes, f"--threads {threads} is more than {hw.id}'s {hw.cores} cores: "
                         f"modelled as {hw.cores} (extra threads add no compute or bandwidth)")

    def make_dep(lay: Layout) -> Deployment:
        return _deployment(m, hw, eng, lay, w, e, kv, act, threads, expert_host)

    if w.theoretical:
        _warn(notes, f"{w.id} is a bound, not a format an engine loads ({w.description}): the "
                     "estimate is what a kernel at that size would do; i2_s (bitnet.cpp) and "
                     "tq1_0/tq2_0 (llama.cpp) are the ternary formats that run")
    if 0 < m.max_context_tokens < input_len + output_len:
        _warn(notes, f"{input_len + output_len} tokens exceed {m.id}'s context window of "
                     f"{m.max_context_tokens}; the estimate extrapolates")
    ctx_mean = input_len + output_len / 2  # mean cached tokens over the generation
    ctx_max: float = input_len + output_len
    seqs = 1 if mode == "offline" else batch
    if any(x is not None for x in (tp, pp, ep)):
        t, p, x = tp or 1, pp or 1, ep or 1
        rep = p * max(t, x)
        n = devices or rep
        if n % rep:
            raise LayoutError(f"devices={n} is not a multiple of the replica size pp*max(tp,ep)={rep}")
        layout = Layout(tp=t, pp=p, ep=x, dp=n // rep)
        check_layout(m, layout, eng.pads_attention_heads)
        check_replica_devices(eng, layout.replica_devices)
        notes["layout"] = f"given (tp={t}, pp={p}, ep={x}, dp={layout.dp})"
    else:
        layout, how = auto_layout(  # the fastest layout where it can be ranked, else the engine's rule
            mode, devices, off_mode == "none" and not ngl and not hw.sram_only, batch,
            lambda n: choose_layout(m, hw, mode, n, make_dep, seqs, ctx_max, input_len, eng, requests),
            lambda n: offline_layouts(m, hw, n, make_dep, ctx_max, input_len, eng, requests),
            lambda n, lay: _rate_at_priors({**call, "devices": n}, lay))
        layout, how = single_host_layout(layout, how, expert_host, m.num_layers)
        notes["layout"] = how
    dep = make_dep(layout)
    check_max_model_len(dep, input_len, output_len, notes)
    dp = layout.dp
    plan = EstimatePlan(dep=dep, mode=mode, batch=batch, input_len=input_len,
                        output_len=output_len, mem=None, fits=True, reason=None, notes=notes,  # type: ignore[arg-type]
                        requests=requests)

    if mode == "offline":
        reserve = ctx_max if dep.engine.kv_reservation == "full_sequence" else ctx_mean
        per_rep = offline_batch(dep, input_len, output_len, reserve, notes, requests)
        plan.batch = min(per_rep * dp, requests) if requests else per_rep * dp
        seqs_rep = float(per_rep)
        plan.replicas_busy = plan.batch / per_rep if per_rep > 0 else float(dp)
        ctx_max = reserve
    else:  # fewer sequences than replicas leave some idle: a sequence is never split
        plan.replicas_busy = float(min(dp, max(batch, 1)))
        seqs_rep = batch / plan.replicas_busy
        if mode == "batch" and seqs_rep % 1:  # a static batch waits for its fullest replica
            seqs_rep = float(-(-batch // int(plan.replicas_busy)))
            plan.replicas_busy = batch / seqs_rep
        if (idle := dp - math.ceil(plan.replicas_busy - 1e-9)) > 0:  # still priced and powered
            _warn(notes, f"{idle} of {dp} replicas idle ({batch} {'clients' if mode == 'concurrency' else 'in the batch'})", True)
    admitted = seqs_rep
    if mode == "concurrency":
        # the engine's admission: at most max_num_seqs running, and no more than the KV cache
        # holds (the scheduler queues the rest until blocks free up)
        reserve = ctx_max if dep.engine.kv_reservation == "full_sequence" else ctx_mean
        admitted = min(seqs_rep, dep.max_running_seqs, budget_cap(dep, input_len, output_len, notes,
                                                                  seqs_rep))
        if not memory_breakdown(dep, admitted, ctx_max, admitted * input_len).fits:
            by_kv = max_sequences(dep, reserve, input_len)
            # max_sequences counts one prompt's activations; a full prefill chunk may need more
            for _ in range(64):
                if by_kv < 1 or memory_breakdown(dep, by_kv, reserve, by_kv * input_len).fits:
                    break
                by_kv -= 1
            ctx_max = reserve if by_kv >= 1 else ctx_max  # held at the reservation (on demand: mean)
            if 1 <= by_kv < admitted:
                admitted = float(by_kv)
                notes["kv_admission"] = (f"the KV cache holds {by_kv} sequences of {reserve:.0f} "
                                         f"tokens per replica; the other clients wait (FCFS)")
        plan.admission_steps = admission_wait_steps(dep.engine.admission, admitted, input_len,
                                                    output_len, layout.attn_dp, dep.step_token_budget)
        if plan.admission_steps > 0:
            notes["admission"] = admission_note(dep.engine.admission, plan.admission_steps)
    held, ctx_max = compiled_kv(dep, admitted, ctx_max)
    mem = memory_breakdown(dep, max(held, 1), ctx_max, max(held, 1) * input_len)
    if ngl or off_mode == "auto" and not mem.fits and mode != "offline":
        dep, mem = offload_to_host(dep, mem, notes, host, hardware_files, host_efficiency)
        plan.dep = dep
        if mem.fits:  # the layout search reads the devices alone
            notes["layout"] = str(notes.get("layout", "")).replace(
                "nothing fits;", "nothing fits the devices alone, so part is offloaded;")
    elif mem.fits and held < seqs_rep:  # the search sized layouts for every sequence at once
        notes["layout"] = str(notes.get("layout", "")).replace(
            "nothing fits;", "no layout holds every sequence at once, so the engine admits fewer;")
    plan.mem = mem
    wired = mem.weights_bytes + mem.kv_cache_bytes + mem.activation_bytes  # the GPU's buffers
    share = MACOS_GPU_WIRED_SHARE if mem.capacity_bytes > MACOS_SMALL_MAC_BYTES else MACOS_GPU_WIRED_SHARE_SMALL
    if hw.vendor == "Apple" and hw.hw_class == "soc" and mem.fits and wired > share * mem.capacity_bytes:
        _warn(notes, f"{wired / 1e9:.0f} GB is more than the ~{share:.0%} of unified memory macOS "
                     f"lets the GPU wire by default ({share * mem.capacity_bytes / 1e9:.0f} GB): raise "
                     f"it with `sudo sysctl iogpu.wired_limit_mb=...` or the load fails or pages")
    if mode == "offline" and seqs_rep < 1 or not mem.fits:
        plan.fits = False
        plan.reason = why_not_fits(dep, mem, max(held, 1), ctx_max)  # the sequences held
        if (off_mode == "auto" or ngl) and "offload" in notes:  # why offloading did not rescue it
            plan.reason += f"; --offload: {notes['offload']}"
            if ngl:
                plan.reason += "; a lower -O n_gpu_layers keeps more layers on the host"
        elif eng.gpu_layers is not None and eng.gpu_layers >= m.num_layers:
            plan.reason += (f"; n_gpu_layers={eng.gpu_layers} is every one of the {m.num_layers} "
                            f"layers: -1 (or --offload auto) keeps as many on the GPU as fit")
        elif off_mode == "auto" and mode == "offline":
            plan.reason += ("; --offload applies to --batch and --concurrency runs (an offline run "
                            "sizes its batch to the device's own memory)")
        return plan
    if expert_host is not None:
        notes["offload"] = describe_offload(dep)
        need, cap = host_expert_bytes(dep), (expert_host.cpu.memory_bytes or 0.0) * HOST_MEMORY_UTILIZATION
        if need > cap:
            plan.fits = False
            plan.reason = (f"routed experts need {need / 1e9:.0f} GB of host DRAM but {expert_host.cpu.id} "
                           f"has {cap / 1e9:.0f} GB usable ({HOST_MEMORY_UTILIZATION:.0%}); use --host "
                           f"with more memory or a smaller precision")
            return plan

    # ---- the step compositions this mode needs ------------------------------------------
    in_flight = seqs_rep
    eng_ = dep.engine
    if mode == "concurrency" and in_flight > admitted:
        plan.queue_factor = in_flight / admitted
        in_flight = admitted
        if admitted == dep.max_running_seqs:
            notes["queueing"] = (f"{eng_.id} runs at most {dep.max_running_seqs} sequences; "
                                 f"the other clients wait (FCFS)")
    mb = int(micro_batches(max(in_flight, 1), layout.pp))
    plan.microbatches, plan.seqs_per_replica = mb, in_flight
    if layout.attn_dp > 1 and in_flight < layout.attn_dp:  # docs/metrics.md: attention-DP, few sequences
        _warn(notes, f"{in_flight:g} sequence(s) on {layout.attn_dp} attention-DP ranks: the estimate shares "
                     f"their attention over the ranks; an engine runs each on one rank, so TTFT and TPOT can "
                     f"be up to {layout.attn_dp}x longer where attention dominates (long prompts): prefer tp "
                     "for few users", batch_scoped=True)
    b = in_flight / mb  # sequences per microbatch step
    I, O = input_len, output_len
    if mode == "batch":
        if I > 0:
            plan.works["prefill"] = prefill_chunks(dep, b, I)
        else:  # no prompt: the first token is a plain decode step
            plan.works["prefill"] = step_work(dep, decode_seqs=b, decode_ctx=0)
        if O > 0 or I == 0:  # O = 1: a decode-step question (cli-contract.md), at KV length I
            plan.works["decode"] = step_work(dep, decode_seqs=b, decode_ctx=I if O == 1 else ctx_mean)
        return plan
    # Continuous batching in steady state (docs/metrics.md): over one request cycle of O steps,
    # each of the b running sequences is prefilled once. Prompts arrive in m = min(b, O)
    # groups of k = b/m; a group's prompts run in token-budget chunks together with the decodes
    # of the other b - k sequences ("riders"); the remaining steps decode all b. With one
    # sequence this is exactly one prefill followed by O - 1 decode steps (the batch-1 path).
    o_steps = max(O, 1)
    groups = min(b, o_steps)
    k = b / groups
    riders = max(b - k, 0.0)
    if I > 0:
        plan.works["prefill"] = prefill_chunks(dep, k, I, decode_seqs=riders, decode_ctx=ctx_mean)
    else:
        plan.works["prefill"] = step_work(dep, decode_seqs=b, decode_ctx=0)
    if O > 1:
        plan.works["decode"] = step_work(dep, decode_seqs=b, decode_ctx=ctx_mean)
    plan.cycle = {"groups": groups, "prompts_per_group": k, "riders": riders}
    if riders > 0:
        plan.rider_work = step_work(dep, decode_seqs=riders, decode_ctx=ctx_mean)
    return plan


# --------------------------------------------------------------------------------------------
# evaluation


def _rate_at_priors(call: dict[str, Any], lay: Layout) -> float | None:
    """Requests/s of `call`'s workload on layout `lay`, timed with the profile's priors (the
    offline layout ranking: perf/offline_layout.py); None where it does not plan."""
    try:
        plan = plan_estimate(**{**call, "tp": lay.tp, "pp": lay.pp, "ep": lay.ep})
    except InferplanError:
        return None
    return evaluate_plan(plan, resolve_factors(plan.dep, prior_efficiency())[0]).get("requests_per_s") if plan.fits else None


def evaluate_plan(plan: EstimatePlan, f: Factors, queue_s: float | None = None) -> dict[str, float | None]:
    """Metrics of a plan under factors `f` (docs/metrics.md; None: undefined). ``queue_s``
    overrides a served prompt's wait behind others (perf/queueing.py; fastpred probes with it)."""
    if not plan.fits:
        return {}
    dep, I, O = plan.dep, plan.input_len, plan.output_len
    dp = plan.replicas_busy  # idle replicas add no throughput
    t = {k: w.total_time_s(f) for k, w in plan.works.items()}
    out: dict[str, float | None] = {}
    if plan.mode == "batch":
        B = plan.seqs_per_replica * dp
        ttft = t["prefill"]
        tpot = t.get("decode")
        e2e = ttft + (O - 1) * tpot if O > 1 and tpot is not None else ttft
        out.update(ttft_s=ttft, tpot_s=tpot, e2e_latency_s=e2e,
                   prefill_tok_s=B * I / ttft if I > 0 else None,
                   output_tok_s=B * O / e2e if O > 0 else None,
                   total_tok_s=B * (I + O) / e2e, requests_per_s=B / e2e)
        out["decode_time_share"] = (e2e - ttft) / e2e
    else:
        n = plan.seqs_per_replica  # sequences in flight per replica
        groups, group_steps = cycle_shape(plan)
        group_s = t["prefill"]  # one group's prompts, in chunks, with the riders decoding
        decode_s = t.get("decode", 0.0)
        # the steps of the other groups also advance this sequence by one token each
        e2e, prompt_q = served_cycle_s(group_s, decode_s, groups, group_steps, O)
        ttft = group_s
        tpot = (e2e - ttft) / (O - 1) if O > 1 else None
        # prompts' cost: a group's steps minus the riders', at least the prompts' share of the group's
        # sequences (riders can hide under pipelined prompt chunks: SRAM pipelines); continuous
        rider_s = plan.rider_work.total_time_s(f) * group_steps if plan.rider_work is not None else 0.0
        k = plan.cycle.get("prompts_per_group", 1.0)
        prompt_s = groups * max(group_s - rider_s, group_s * k / (k + plan.cycle.get("riders", 0.0)))
        # served requests (docs/metrics.md; not offline runs): the steps ahead of the prompt when
        # others run (STEPS_AHEAD), and the API server's own time, which holds no slot while a
        # request queues
        served = plan.mode == "concurrency"
        ahead = STEPS_AHEAD_OVERLAP if dep.engine.overlap_scheduler else 1.0
        in_step = ahead * min(1.0, max(0.0, n - 1)) * decode_s if served else 0.0
        # the API server's time and the admission wait (perf/admission.py): no running slot held
        req = request_overhead_s(f) + plan.admission_steps * decode_s if served else 0.0
        # and the other prompt groups ahead of it (arrivals collide; perf/queueing.py)
        queue = (prefill_queue_s(prompt_q, e2e, groups) if queue_s is None else queue_s) * served
        ttft, e2e = ttft + in_step + queue, e2e + in_step + queue
        rps_rep = n / (e2e if plan.queue_factor > 1 else e2e + req)
        wait = (plan.queue_factor - 1) * e2e
        out.update(ttft_s=ttft + req + wait, tpot_s=tpot, e2e_latency_s=e2e + req + wait,
                   requests_per_s=rps_rep * dp, prefill_tok_s=rps_rep * dp * I if I > 0 else None,
                   output_tok_s=rps_rep * dp * O if O > 0 else None,
                   total_tok_s=rps_rep * dp * (I + O))
        busy = max(e2e - queue, 1e-30)  # the device's busy time per request (not the waits)
        out["decode_time_share"] = min(1.0, max(0.0, 1 - prompt_s / busy)) if O > 0 else 0.0
    tp_ = out.get("tpot_s")
    out["decode_tok_s_per_user"] = 1 / tp_ if tp_ else None
    return out


def estimate_from_plan(plan: EstimatePlan, eff: Efficiency,
                       cost: CostAssumptions | None = None) -> Estimate:
    cost = cost or CostAssumptions()
    dep = plan.dep
    f, used = resolve_factors(dep, eff)
    met = evaluate_plan(plan, f)
    assumptions: dict[str, Any] = {k: {"value": v.value, "scope": v.scope, "source": v.source}
                         for k, v in used.items()}
    support, support_says = estimate_support(dep, {k: v.scope for k, v in used.items()}, eff.profile)
    assumptions.update(efficiency_profile=eff.profile, **plan.notes, corpus_support=support_says)
    assumptions["decode_context_tokens"] = plan.input_len + plan.output_len / 2
    assumptions["compute_type"] = dep.linear_compute_type
    assumptions["memory_per_device"] = "memory fields are per device (most loaded device)"
    bound: dict[str, str | None] = {"prefill": None, "decode": None}
    power = usd_in = usd_out = jpt = run = None
    pipe = pipeline_report(plan, f) if plan.fits else None
    if plan.fits:
        if "prefill" in plan.works:
            bound["prefill"] = plan.works["prefill"].total_bound(f)
        dec = plan.works.get("decode")
        if dec is not None:
            bound["decode"] = dec.total_bound(f)
        power, assumptions["power"] = plan_power_w(plan, f, met.get("decode_time_share"))
        usd_s, csrc = usd_per_second(dep, power, cost)
        assumptions["cost"] = csrc
        out_tok = met.get("output_tok_s")
        share = met.get("decode_time_share", 1.0) or 0.0
        rps = met.get("requests_per_s") or 0.0
        I, O = plan.input_len, plan.output_len
        if usd_s is not None and rps:
            # split device time between prompt and output tokens by the time each phase takes
            if I > 0:
                usd_in = usd_s * (1 - share) / (rps * I) * 1e6
            if O > 0:
                usd_out = usd_s * share / (rps * O) * 1e6 if share > 0 else None
                if usd_out is None:
                    assumptions["cost"] += "; no decode step: all device time is the prompt's ($ / 1M output: null)"
        if power is not None and out_tok:
            jpt = power / out_tok
        if plan.requests and rps:
            run = offline_run(plan.requests, rps, usd_s, power)
            assumptions["offline_run"] = run.text
    mem = plan.mem
    warns, _ = assumptions.pop(WARNINGS_KEY, []), assumptions.pop(BATCH_SCOPED_KEY, None)
    return Estimate(
        warnings=list(warns),
        model=dep.model.id, hardware=dep.hw.id, engine=dep.engine.id,
        devices=dep.layout.devices, tp=dep.layout.tp, pp=dep.layout.pp, ep=dep.layout.ep,
        dp=dep.layout.dp, weight_precision=dep.weight_precision.id,
        expert_host=dep.expert_host.cpu.id if dep.expert_host else None, pipeline=pipe,
        host_layers=host_layers_json(dep),
        expert_precision=(dep.expert_precision.id
                          if dep.expert_precision.id != dep.weight_precision.id else None),
        kv_precision=dep.kv_precision.id, mode=plan.mode, batch=plan.batch,
        input_len=plan.input_len, output_len=plan.output_len, fits=plan.fits, reason=plan.reason,
        memory=MemoryReport(
            weights_bytes=mem.weights_bytes, kv_cache_bytes=mem.kv_cache_bytes,
            activation_bytes=mem.activation_bytes, reserved_bytes=mem.reserved_bytes,
            used_bytes_per_device=mem.used_bytes, capacity_bytes_per_device=mem.capacity_bytes),
        ttft_s=met.get("ttft_s"), tpot_s=met.get("tpot_s"), e2e_latency_s=met.get("e2e_latency_s"),
        decode_tok_s_per_user=met.get("decode_tok_s_per_user"),
        prefill_tok_s=met.get("prefill_tok_s"), output_tok_s=met.get("output_tok_s"),
        total_tok_s=met.get("total_tok_s"), requests_per_s=met.get("requests_per_s"),
        usd_per_1m_input_tokens=usd_in, usd_per_1m_output_tokens=usd_out,
        joules_per_output_token=jpt, power_w=power, assumptions=assumptions, hardware_class=dep.hw.hw_class,
        bound=bound,
        why=(explain_pipeline(pipe, plan.mode == "concurrency" and plan.batch > 1) if pipe else explain(plan, bound)) if plan.fits else (plan.reason or ""),
        intervals=plan_intervals(plan, met, usd_in, usd_out, jpt) if plan.fits else {},
        corpus_support=support, offline_run=run,
    )


def estimate(model: str | ModelSpec, hardware: str | HardwareSpec, *,
             calibration: Path | None = None, cost: CostAssumptions | None = None,
             **kwargs: Any) -> Estimate:
    """Predict one workload on one hardware (see :func:`plan_estimate` for the arguments)."""
    eff = load_efficiency(calibration)
    return estimate_from_plan(plan_estimate(model, hardware, host_efficiency=eff, **kwargs), eff, cost)
