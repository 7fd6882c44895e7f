"""The planner's search space and the analytic bounds that prune it before any simulation.

A *candidate* is one replica configuration: model x hardware x precision x layout (TP/PP/EP).
For each candidate this module computes, from the cost function alone (no simulation):

- ``ttft_floor_s``: the API server's time per request + prefill of the prompt at the SLO's
  TTFT percentile on an idle replica. Every request's TTFT is at least that, and prefill time
  grows with the prompt, so the p-th percentile TTFT is at least this: a candidate above a TTFT
  bound can never meet it.
- ``tpot_floor_s``: a batch-1 decode step at the prompt length of the TPOT percentile (the same
  argument: a request's TPOT is at least a batch-1 step at its shortest context).
- ``capacity_rps``: requests/s one replica sustains with the TPOT bound held (continuous
  batching: the largest batch B whose steady mixed step, B decodes + the B*I/O prompt tokens
  arriving per step, is within the bound; rate = B / (O x step), Little's law; serial engines:
  1 / mean service time at 70% utilization). It sets the first replica count tried.

What does not live here: simulation (``evaluate.py``), ranking and explanation (``planner.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inferplan.catalog.schema import HardwareSpec
from inferplan.errors import DoesNotFitError, InferplanError, UnsupportedFormatError
from inferplan.models.spec import ModelSpec
from inferplan.perf.efficiency import Efficiency
from inferplan.perf.estimate import EstimatePlan, plan_estimate
from inferplan.perf.placement import engine_tps
from inferplan.perf.step import step_work
from inferplan.sim import (
    AUTO_LAYOUT_SEQS,
    SLO,
    DeploymentSpec,
    LengthDist,
    PoolInfo,
    SchedulerConfig,
    Workload,
    pool_from_deployment,
    with_slot_room,
)
from inferplan.units import fmt_layout

SERIAL_UTILIZATION = 0.7  # first guess of a serial engine's usable load (M/G/1 waits grow fast above)
SRAM_CLASSES = ("wafer", "lpu")  # layouts fixed by the vendor's compiler: only the auto layout
MAX_PP = 8


@dataclass
class Candidate:
    """One replica configuration and its analytic bounds (all per replica unless named)."""

    key: str
    model: str
    vendor: str
    precision: str | None  # None = model native
    pool: PoolInfo  # one replica, priced with every device at TDP
    power_w_max: float | None  # one replica at full utilization
    ttft_floor_s: float
    tpot_floor_s: float
    e2e_floor_s: float
    prefill_tok_s: float  # one replica, prompts only, at the mean prompt
    decode_batch: int  # largest batch within the TPOT bound (1 for serial)
    capacity_rps: float
    decode_capacity_rps: float  # decode-only steps (a disaggregated decode pool)
    bound: str  # what bounds a decode step at that batch
    reasons: list[str] = field(default_factory=list)  # why it cannot meet the SLO (empty: may)
    opts: dict[str, Any] = field(default_factory=dict)  # offload / host / slots (plan_estimate keywords)
    # plan --confidence: its steps simulated this many times slower (plan/confidence.py)
    slowdown: float = 1.0

    # the pool's fields, by the names the planner uses
    hardware = property(lambda self: self.pool.hardware)
    hw_class = property(lambda self: self.pool.hardware_class)
    engine = property(lambda self: self.pool.engine)
    policy = property(lambda self: self.pool.policy)
    weight_precision = property(lambda self: self.pool.weight_precision)
    tp = property(lambda self: self.pool.tp)
    pp = property(lambda self: self.pool.pp)
    ep = property(lambda self: self.pool.ep)
    devices = property(lambda self: self.pool.devices_per_replica)
    kv_tokens = property(lambda self: self.pool.kv_cache_tokens)
    usd_per_hour = property(lambda self: self.pool.usd_per_hour)

    @property
    def spec(self) -> DeploymentSpec:
        return DeploymentSpec(hardware=self.hardware, tp=self.tp, pp=self.pp, ep=self.ep,
                              precision=self.precision, **self.opts)

    @property
    def label(self) -> str:
        par = fmt_layout(self.tp, self.pp, self.ep)
        return f"{self.hardware} x{self.devices} ({par}, {self.weight_precision})"


def _layouts(model: ModelSpec, hw: HardwareSpec, precision: str | None, workload: Workload,
             hardware_files: tuple[Path, ...], opts: dict[str, Any] | None = None) -> list[tuple[int, int, int]]:
    """TP x PP x EP layouts worth simulating: the auto layout (fewest devices holding 16
    sequences), and for scale-up hardware every TP degree with the fewest PP stages that fit
    (MoE: also attention-DP + expert parallelism, tp=1 x ep)."""
    I, O = max(1, round(workload.mean_input())), max(1, round(workload.mean_output()))

    def fit_plan(tp: int | None = None, pp: int | None = None,
                 ep: int | None = None) -> EstimatePlan | None:
        try:
            # the engine holds at most its own limit of them (llama.cpp's slots: plan_estimate)
            p = plan_estimate(model, hw, tp=tp, pp=pp, ep=ep, precision=precision,
                              mode="concurrency", batch=AUTO_LAYOUT_SEQS, input_len=I,
                              output_len=O, hardware_files=hardware_files, **(opts or {}))
        except UnsupportedFormatError:
            raise  # no layout helps: the caller records why this hardware is out
        except InferplanError:
            if tp is pp is ep is None:
                raise  # the automatic layout's error is the hardware's (an option its engine refuses)
            return None
        if tp is pp is ep is None and not p.fits:  # say why (the reason counts the sequences)
            raise DoesNotFitError(f"does not fit: {p.reason}")
        return p if p.fits and p.dep.layout.dp == 1 else None

    def fits(tp: int | None = None, pp: int | None = None,
             ep: int | None = None) -> tuple[bool, tuple[int, int, int]]:
        p = fit_plan(tp, pp, ep)
        if p is None:
            return False, (0, 0, 0)
        lay = p.dep.layout
        return True, (lay.tp, lay.pp, lay.ep)

    auto_plan = fit_plan()
    if auto_plan is None:
        return []
    lay0 = auto_plan.dep.layout
    out = [(lay0.tp, lay0.pp, lay0.ep)]
    if hw.hw_class in SRAM_CLASSES:
        return out
    # the TP degrees the engine runs (its layout.max_tp; an engine that pads heads, AWS Neuron,
    # any degree in the scale-up domain)
    tps = [t for t in engine_tps(model, hw, auto_plan.dep.engine) if t >= lay0.tp]
    for tp in tps:
        for pp in range(1, MAX_PP + 1):
            good, lay = fits(tp=tp, pp=pp)
            if good:
                if lay not in out:
                    out.append(lay)
                break
        if model.is_moe and tp > 1:
            good, lay = fits(tp=1, pp=1, ep=tp)
            if good and lay not in out:
                out.append(lay)
    return out


def _percentile_len(dist: LengthDist, pct: int) -> float:
    return max(1.0, float(dist.quantile(pct / 100)))


def bound_candidate(model: ModelSpec, hw: HardwareSpec, lay: tuple[int, int, int],
                    precision: str | None, workload: Workload, slo: SLO,
                    cfg: SchedulerConfig, eff: Efficiency,
                    hardware_files: tuple[Path, ...] = (),
                    opts: dict[str, Any] | None = None) -> Candidate:
    """Build the candidate's deployment and its analytic bounds (see module docstring)."""
    I = max(1.0, workload.mean_input())
    O = max(1.0, workload.mean_output())
    tp, pp, ep = lay
    # a served deployment: the engine's server limits, as `simulate` runs it (batch/offline
    # modes take the offline entry point's, e.g. vLLM's LLM class: 16384 tokens a step, not 8192)
    def resolve(batch: int, lens: tuple[int, int]) -> EstimatePlan:
        return plan_estimate(model, hw, tp=tp, pp=pp, ep=ep, precision=precision,
                             mode="concurrency", batch=batch, input_len=lens[0], output_len=lens[1],
                             hardware_files=hardware_files, host_efficiency=eff, **(opts or {}))

    # llama.cpp's host layers leave KV room for its slots, as `simulate` builds it
    plan = with_slot_room(resolve(1, (round(I), round(O))), workload, cfg, resolve)
    dep = plan.dep
    pool = pool_from_deployment(dep, workload, cfg, eff)
    f = pool.factors
    policy = pool.policy
    prefill_s = pool.prefill_s

    reasons: list[str] = []
    # floors at the percentile each bound is about (p50 if no bound on that metric)
    ttft_pcts = [p for m, p, _ in slo.bounds() if m == "ttft"] or [50]
    tpot_pcts = [p for m, p, _ in slo.bounds() if m == "tpot"] or [50]
    e2e_pcts = [p for m, p, _ in slo.bounds() if m == "e2e"] or [50]
    floors = {}
    api = pool.front_s  # the API server's time per request comes first (sim: Pool.front_s)
    for pct in ttft_pcts:
        floors[("ttft", pct)] = api + prefill_s(_percentile_len(workload.input, pct))
    one_token = float(workload.output.quantile(1.0)) <= 1  # no request decodes: no TPOT
    for pct in tpot_pcts:
        floors[("tpot", pct)] = 0.0 if one_token else float(step_work(
            dep, decode_seqs=1, decode_ctx=_percentile_len(workload.input, pct)).time_s(f))
    tpot_min = float(step_work(dep, decode_seqs=1, decode_ctx=1.0).time_s(f))
    for pct in e2e_pcts:
        floors[("e2e", pct)] = api + (max(_percentile_len(workload.output, pct) - 1, 0) * tpot_min)
    for metric, pct, limit in slo.bounds():
        fl = floors[(metric, pct)]
        if fl > limit:
            reasons.append(f"p{pct} {metric.upper()} floor {fl:.3g} s > {limit:g} s "
                           f"(idle replica, batch 1)")
    ttft_floor = max(v for (m_, _), v in floors.items() if m_ == "ttft")
    tpot_floor = max(v for (m_, _), v in floors.items() if m_ == "tpot")
    e2e_floor = max(v for (m_, _), v in floors.items() if m_ == "e2e")

    # capacity with the TPOT bound held
    tpot_bound = min([v for m_, _, v in slo.bounds() if m_ == "tpot"], default=math.inf)
    ctx = I + O / 2
    if policy == "serial":
        service = pool.serial_service_s(I, O)
        batch = 1
        capacity = SERIAL_UTILIZATION / service
        work = step_work(dep, decode_seqs=1, decode_ctx=ctx)
        decode_capacity = capacity
    else:
        bs, steps = pool.batch_step_times(I, O)  # the simulator's micro-batches and prompt share
        within = np.nonzero(steps <= tpot_bound)[0]
        batch = int(bs[within[-1]]) if within.size else 1
        step = float(steps[batch - 1])
        capacity = batch / (O * step)
        work = step_work(dep, decode_seqs=batch, decode_ctx=ctx)
        _, dsteps = pool.batch_step_times(I, O, prompts=False)
        dwithin = np.nonzero(dsteps <= tpot_bound)[0]
        dbatch = int(bs[dwithin[-1]]) if dwithin.size else 1
        decode_capacity = dbatch / ((O - 1 if O > 1 else 1) * float(dsteps[dbatch - 1]))
    prefill_rate = I / max(prefill_s(I), 1e-12)
    bound = str(work.bound(f))
    key = f"{dep.model.id}|{hw.id}|{dep.weight_precision.id}|tp{tp}pp{pp}ep{ep}"
    return Candidate(
        key=key, model=dep.model.id, vendor=hw.vendor, precision=precision,
        pool=pool.info("serve", 1), power_w_max=pool.peak_power_w,
        ttft_floor_s=ttft_floor, tpot_floor_s=tpot_floor, e2e_floor_s=e2e_floor,
        prefill_tok_s=prefill_rate, decode_batch=batch, capacity_rps=capacity,
        decode_capacity_rps=decode_capacity, bound=bound, reasons=reasons, opts=dict(opts or {}))


def _hw_opts(hw: HardwareSpec, opts: dict[str, Any] | None, precision: str | None = None) -> dict[str, Any]:
    """offload/host/slots as they apply to `hw` and the weights' format (slots: llama.cpp-served
    devices only)."""
    from inferplan.perf.offload import offload_on
    from inferplan.perf.slots import slots_for_hardware

    o = {k: v for k, v in (opts or {}).items() if v is not None}
    if "offload" in o and (on := offload_on(hw, o.pop("offload"))) is not None:
        o["offload"] = on
    if "slots" in o:
        o["slots"] = slots_for_hardware(hw, o["slots"], o.get("offload"), precision=precision)
        if o["slots"] is None:
            del o["slots"]
    return o


def enumerate_candidates(models: list[ModelSpec], hardware: list[HardwareSpec],
                         precisions: list[str | None], workload: Workload, slo: SLO,
                         cfg: SchedulerConfig, eff: Efficiency,
                         hardware_files: tuple[Path, ...] = (),
                         max_devices: int | None = None,
                         opts: dict[str, Any] | None = None,
                         ) -> tuple[list[Candidate], list[dict[str, str]]]:
    """Every (model, hardware, precision, layout) candidate with its bounds, and the
    (hardware, reason) of those that cannot run at all."""
    cands: list[Candidate] = []
    unfit: list[dict[str, str]] = []
    for m in models:
        for hw in hardware:
            for prec in precisions:
                o = _hw_opts(hw, opts, prec)
                try:
                    lays = _layouts(m, hw, prec, workload, hardware_files, o)
                except InferplanError as e:
                    unfit.append({"model": m.id, "hardware": hw.id, "precision": prec or "native",
                                  "reason": str(e)})
                    continue
                if not lays:
                    unfit.append({"model": m.id, "hardware": hw.id, "precision": prec or "native",
                                  "reason": f"does not fit with KV room for {AUTO_LAYOUT_SEQS} sequences"})
                    continue
                for lay in lays:
                    try:
                        c = bound_candidate(m, hw, lay, prec, workload, slo, cfg, eff, hardware_files, o)
                    except InferplanError as e:
                        unfit.append({"model": m.id, "hardware": hw.id, "precision": prec or "native",
                                      "reason": str(e)})
                        continue
                    if max_devices and c.devices > max_devices:
                        c.reasons.append(f"{c.devices} devices per replica > max {max_devices}")
                    cands.append(c)
    return cands, unfit
