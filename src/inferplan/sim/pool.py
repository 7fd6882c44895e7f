"""The resolved serving pool: one deployment made ready to serve, worked out once.

A :class:`Pool` is what the simulator runs and what the planner ranks: the deployment
(:mod:`inferplan.perf.deployment`), the scheduler's limits (policy, sequences and tokens per
step), pipeline micro-batching, the paged KV cache it holds, its efficiency factors and step-time
tables, its price and its power. :class:`PoolInfo` is its public summary (in ``SimResult`` and
in the planner's options).

What does not live here: the event loop (``cluster.py``), scheduling (``schedulers/``), the cost
function (``perf.step``; tabulated in ``cost.py``), dollars and watts formulas (``perf.cost``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from inferplan.catalog.schema import EngineSpec, HardwareSpec
from inferplan.errors import DoesNotFitError, UnknownIdError
from inferplan.models.spec import ModelSpec
from inferplan.perf.cost import (
    CostAssumptions,
    activity,
    chip_utilization,
    device_power_w,
    usd_per_device_hour,
)
from inferplan.perf.deployment import Deployment
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.estimate import EstimatePlan, Mode, plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.hostlayers import gpu_layers_given
from inferplan.perf.layout import micro_batches
from inferplan.perf.memory import (
    activation_bytes_per_device,
    kv_bytes_per_sequence_device,
    kv_room_bytes,
)
from inferplan.perf.notes import drop_batch_scoped
from inferplan.perf.offload import host_power_w
from inferplan.perf.step import Factors, request_overhead_s, step_work
from inferplan.sim.cost import StepCost
from inferplan.sim.entities import SchedulerConfig
from inferplan.sim.schedulers import SCHEDULERS
from inferplan.sim.workload import Workload

if TYPE_CHECKING:
    from inferplan.sim.schedulers import Replica

AUTO_LAYOUT_SEQS = 16  # with devices=auto, room for this many sequences' KV (else 1)
POWER_DECODE_CTX = 1024.0  # context of the representative decode step that sets pool power


class DeploymentSpec(BaseModel):
    """What one replica pool runs on (ids as in ``inferplan estimate``; None = auto)."""

    model_config = ConfigDict(extra="forbid")
    hardware: str
    devices: int | None = Field(default=None, ge=1, description="devices per replica (None: fewest that fit)")
    tp: int | None = Field(default=None, ge=1)
    pp: int | None = Field(default=None, ge=1)
    ep: int | None = Field(default=None, ge=1)
    precision: str | None = None
    kv_precision: str | None = None
    engine: str | None = None
    threads: int | None = Field(default=None, ge=1)
    offload: str | None = Field(default=None, description="auto | experts (perf/offload.py)")
    host: str | None = Field(default=None, description="host CPU for offload=experts, or for llama.cpp's host layers (offload=auto, n_gpu_layers)")
    slots: int | None = Field(default=None, ge=1, description="llama.cpp server slots (default 4)")
    engine_options: dict[str, str | float] = Field(
        default_factory=dict, description="engine launch options (catalog.engines.ENGINE_OPTIONS), "
                                          "as estimate's --engine-option")

    @property
    def auto_layout(self) -> bool:
        """No device count or parallelism given: the fewest devices that fit."""
        return self.devices is None and self.tp is None and self.pp is None and self.ep is None


class PoolInfo(BaseModel):
    """The resolved configuration of one pool of identical replicas."""

    role: str = Field(description="serve, prefill or decode")
    hardware: str
    hardware_class: str
    engine: str
    replicas: int
    devices_per_replica: int
    tp: int
    pp: int
    ep: int
    weight_precision: str
    kv_precision: str
    policy: str
    prefill_first: bool = Field(default=False, description="continuous policy: steps that take "
                                "waiting prompts run them alone, the decodes paused")
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_reservation: Literal["on_demand", "full_sequence"] = Field(default="on_demand", description="on_demand: KV blocks taken as "
                                "tokens arrive, preempting when they run out; full_sequence: a "
                                "request is admitted only while prompt + output of every admitted "
                                "request fit (TensorRT-LLM GUARANTEED_NO_EVICT)")
    kv_cache_tokens: int = Field(description="KV tokens one replica holds beside its weights")
    usd_per_hour: float | None = Field(default=None, description="whole pool, catalog prices")
    power_w: float | None = Field(default=None, description="whole pool at the simulated load")
    api_server_s: float = Field(default=0.0, description="seconds each request spends in the API "
                                "server before the engine sees it (added to TTFT and E2E)")


@dataclass(frozen=True)
class ServingLimits:
    """What one replica's scheduler may put in a step (from the engine, overridden by the
    scheduler configuration)."""

    policy: str  # a key of SCHEDULERS
    max_num_seqs: int  # sequences in flight (1: one request at a time)
    max_batched_tokens: int  # tokens per step: decode tokens + prefill chunk (serial: prompt chunk)


def serving_limits(engine: EngineSpec, cfg: SchedulerConfig, max_seqs: int | None = None,
                   budget_tokens: int | None = None) -> ServingLimits:
    """The policy and limits of `engine` under `cfg` (``None`` fields take the defaults:
    `max_seqs` and `budget_tokens` when given, a deployment's Deployment.max_running_seqs and
    step_token_budget, which count attention-DP ranks; else the engine's own). A policy of one
    sequence at a time admits one sequence and prefills in the engine's chunk; otherwise a step
    carries up to ``max(token budget, max_num_seqs)`` tokens."""
    policy = cfg.policy or ("continuous" if engine.continuous_batching and engine.max_num_seqs > 1
                            else "serial")
    if policy not in SCHEDULERS:
        raise UnknownIdError("scheduler policy", policy, SCHEDULERS)
    if SCHEDULERS[policy].one_at_a_time:
        return ServingLimits(policy, 1, cfg.max_num_batched_tokens or engine.prefill_chunk_tokens)
    seqs = cfg.max_num_seqs or max_seqs or engine.max_num_seqs
    budget = budget_tokens or engine.prefill_chunk_tokens
    return ServingLimits(policy, seqs, cfg.max_num_batched_tokens or max(budget, seqs))


def block_tokens(dep: Deployment, cfg: SchedulerConfig) -> int:
    """Tokens per paged KV block: `cfg`'s, else the engine's (EngineSpec.kv_block_tokens)."""
    return cfg.block_size or dep.engine.kv_block_tokens


def kv_cache_blocks(dep: Deployment, block_size: int, max_num_seqs: int, chunk_tokens: int,
                    typical_ctx: float) -> int:
    """Paged KV blocks one replica holds: the KV room (``kv_room_bytes``: the engine's share of
    the device, or of its memory left free, after weights and activations) / KV bytes per token,
    per attention-DP rank, in blocks of `block_size` tokens. Per-token bytes are taken at the
    typical context, so sliding-window layers count what they keep on average."""
    free = kv_room_bytes(dep, activation_bytes_per_device(dep, chunk_tokens, max_num_seqs))
    ctx = max(typical_ctx, 1.0)
    per_token = (kv_bytes_per_sequence_device(dep, ctx) - kv_bytes_per_sequence_device(dep, 0)) / ctx
    if free <= 0:
        return 0
    if per_token <= 0:
        return 1 << 30
    tokens = free / per_token * dep.layout.attn_dp
    return int(tokens // block_size)


@dataclass
class Pool:
    """A deployment made ready to serve: limits, KV blocks, factors, step-time tables (built on
    first use), price and power. One replica unless a method says otherwise."""

    dep: Deployment
    cfg: SchedulerConfig
    limits: ServingLimits
    factors: Factors
    kv_blocks: int
    efficiency_profile: str = "default"
    notes: dict[str, Any] = field(default_factory=dict)

    # ---- limits ------------------------------------------------------------------------------
    @property
    def policy(self) -> str:
        return self.limits.policy

    @property
    def prefill_first(self) -> bool:
        """Steps that take waiting prompts run them alone (the engine's, unless the scheduler
        configuration says); only the continuous policy batches prompts with decodes at all."""
        first = self.dep.engine.prefill_first if self.cfg.prefill_first is None else self.cfg.prefill_first
        return first and not SCHEDULERS[self.policy].one_at_a_time

    @property
    def max_num_seqs(self) -> int:
        return self.limits.max_num_seqs

    @property
    def front_s(self) -> float:
        """Seconds a request spends in the API server before the engine sees it (the fitted
        per-request overhead, ``perf.step.request_overhead_s``, that ``estimate`` adds to a
        served TTFT and E2E)."""
        return request_overhead_s(self.factors)

    @property
    def kv_reservation(self) -> Literal["on_demand", "full_sequence"]:
        """How a replica takes KV blocks (the engine's, unless the scheduler configuration says):
        ``on_demand`` or ``full_sequence`` (EngineSpec.kv_reservation)."""
        return self.cfg.kv_reservation or self.dep.engine.kv_reservation

    @property
    def max_batched_tokens(self) -> int:
        return self.limits.max_batched_tokens

    @property
    def dp(self) -> int:
        """Replicas the layout itself asked for (devices = dp x replica devices)."""
        return self.dep.layout.dp

    @property
    def pipeline_stages(self) -> int:
        """Pipeline stages: a step is split into min(sequences, stages) micro-batches."""
        return self.dep.layout.pp

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * self.block_size

    @property
    def block_size(self) -> int:
        """Tokens per KV block: the scheduler configuration's, else the engine's page."""
        return block_tokens(self.dep, self.cfg)

    @cached_property
    def cost(self) -> StepCost:
        """Step-time tables of one replica (built on first use: the planner's bounds need none)."""
        return StepCost(self.dep, self.factors, self.max_batched_tokens + self.max_num_seqs)

    def replica(self, index: int, role: str = "both") -> Replica:
        """Replica `index` of this pool, scheduled by its policy (a plugin's the same way)."""
        return SCHEDULERS[self.policy](index, self, role)

    def prefill_s(self, tokens: float) -> float:
        """Seconds to prefill one prompt of ``tokens`` alone on an idle replica, in chunks of the
        step token budget (each chunk attending to the tokens before it)."""
        chunk, f = self.max_batched_tokens, self.factors
        done, t = 0.0, 0.0
        while done < tokens:
            n = min(chunk, tokens - done)
            t += float(step_work(self.dep, prefill_tokens=n, prefill_seqs=1, prefill_ctx=done).time_s(f))
            done += n
        return t

    def serial_service_s(self, mean_input: float, mean_output: float) -> float:
        """Seconds one request takes alone: its prefill, then O - 1 batch-1 decode steps at the
        mean context I + O/2."""
        ctx = mean_input + mean_output / 2
        decode = float(step_work(self.dep, decode_seqs=1, decode_ctx=ctx).time_s(self.factors))
        return self.prefill_s(mean_input) + (mean_output - 1) * decode

    def batch_step_times(self, mean_input: float, mean_output: float,
                         prompts: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(batch sizes 1..B, mean seconds of one steady step at each): B the largest batch the
        engine (max_num_seqs) and the KV cache (at the mean context I + O/2) allow; each step
        split into the pipeline's micro-batches, as the simulator runs it, and with ``prompts``
        carrying the arriving prompts: b/O of them per step on average (b·I/O tokens), in chunks
        of the step's token budget. A step either carries prompt chunks or not, and one that
        does costs more than its tokens (an engine runs it outside its decode graphs: vLLM's
        mixed steps are eager), so the mean is the mixture: with chunks arriving as a Poisson
        stream of ``lam`` per step, a share ``p = 1 - exp(-lam)`` of steps carry
        ``b·I/O / p`` prompt tokens, the rest none. (Spreading b·I/O tokens over every step
        charged every step the mixed step's cost: DeepSeek-R1 on 8 B200 at 228 sequences read
        49 ms a step where the simulator's steps average 42.)"""
        ctx = mean_input + mean_output / 2
        b_max = max(1, min(self.max_num_seqs, max(1, int(self.kv_tokens // ctx))))
        bs = np.arange(1, b_max + 1, dtype=float)
        mb = micro_batches(bs, self.pipeline_stages)
        seqs = np.ceil(bs / mb)
        plain = step_work(self.dep, decode_seqs=seqs, decode_ctx=ctx).time_s(self.factors)
        if not prompts:
            return bs, plain
        arriving = bs / mb / mean_output  # prompts per step
        room = np.maximum(self.max_batched_tokens - seqs, 1.0)  # a step's tokens left for prompts
        chunks = np.maximum(1.0, np.ceil(mean_input / room))
        # a chunk as long as the step's room fills it alone: those steps come one per chunk
        # (min(1, lam)); shorter ones share steps as Poisson arrivals (1 - exp(-lam))
        lam = arriving * chunks
        p = np.where(chunks > 1, np.minimum(1.0, lam), 1.0 - np.exp(-lam))  # share of steps with prompt work
        # a prefill-first engine runs the prompts in steps of their own while the decodes wait
        alone = self.prefill_first
        chunk_s = step_work(self.dep, decode_seqs=np.zeros_like(seqs) if alone else seqs,
                            decode_ctx=ctx, prefill_tokens=arriving * mean_input / p,
                            prefill_seqs=arriving / p).time_s(self.factors)
        mixed = plain + chunk_s if alone else chunk_s
        return bs, p * mixed + (1.0 - p) * plain

    def capacity_rps(self, mean_input: float, mean_output: float) -> float:
        """Requests/s one replica serves at most, analytically, for requests of these mean
        lengths: the serial policy one request after another (:meth:`serial_service_s`); the
        others at their largest batch, b / (O · T(b)) (:meth:`batch_step_times`; Little's law).
        No preemption or queueing: an upper bound the simulation stays below (the planner reads
        the same steps within its TPOT bound: plan/search.py)."""
        i, o = max(1.0, mean_input), max(1.0, mean_output)
        if SCHEDULERS[self.policy].one_at_a_time:
            return 1.0 / max(self.serial_service_s(i, o), 1e-12)
        bs, steps = self.batch_step_times(i, o)
        return float(bs[-1] / (o * max(float(steps[-1]), 1e-12)))

    # ---- power and price ---------------------------------------------------------------------
    def power_w(self, replicas: int, busy: float, mean_batch: float) -> float | None:
        """Watts of `replicas` replicas: per device idle + (TDP - idle) x utilization of a
        decode step at the mean batch x busy share (docs/sim.md); None without a TDP."""
        b = max(mean_batch, 1.0)
        work = step_work(self.dep, decode_seqs=b, decode_ctx=POWER_DECODE_CTX)
        cu, bu = work.utilization(self.factors)
        stage = min(1.0, micro_batches(b, self.dep.layout.pp) / self.dep.layout.pp)  # perf/cost.plan_power_w
        u = activity(*chip_utilization(self.dep, float(cu), float(bu)), self.factors.compute_eff) * min(1.0, busy) * stage
        dev = device_power_w(self.dep.hw, u)
        if dev is None:
            return None
        out = replicas * self.dep.layout.replica_devices * dev
        if self.dep.expert_host is not None or self.dep.host_layers is not None:
            # the host CPU computing experts or layers: its share of a busy step, when busy
            out += replicas * host_power_w(self.dep, work, self.factors, busy)[0]
        return out

    @property
    def peak_power_w(self) -> float | None:
        """Watts of one replica with every device at TDP."""
        hw = self.dep.hw
        return self.dep.layout.replica_devices * hw.tdp_w if hw.tdp_w else None

    def usd_per_hour(self, replicas: int = 1, power_w: float | None = None,
                     cost: CostAssumptions | None = None) -> float | None:
        """$ per hour of `replicas` replicas drawing `power_w` watts in all (the energy part of
        an amortized purchase price; default: every device at TDP); None without a price."""
        devices = replicas * self.dep.layout.replica_devices
        per_device = power_w / devices if power_w is not None else self.dep.hw.tdp_w
        usd_h, _ = usd_per_device_hour(self.dep.hw, per_device, cost or CostAssumptions())
        return usd_h * devices if usd_h is not None else None

    def info(self, role: str, replicas: int, busy: float | None = None,
             mean_batch: float = 1.0, api_server: bool = True) -> PoolInfo:
        """Summary of `replicas` replicas; with `busy` (share of time stepping) their power and
        price at that load, else their price at peak power and no power figure. ``api_server``:
        requests pass the engine's API server first (not an offline run's Python API)."""
        dep, lay = self.dep, self.dep.layout
        power = self.power_w(replicas, busy, mean_batch) if busy is not None else None
        return PoolInfo(
            role=role, hardware=dep.hw.id, hardware_class=dep.hw.hw_class, engine=dep.engine.id,
            replicas=replicas, devices_per_replica=lay.replica_devices, tp=lay.tp, pp=lay.pp,
            ep=lay.ep, weight_precision=dep.weight_precision.id, kv_precision=dep.kv_precision.id,
            policy=self.policy, prefill_first=self.prefill_first, max_num_seqs=self.max_num_seqs,
            max_num_batched_tokens=self.max_batched_tokens, kv_reservation=self.kv_reservation,
            kv_cache_tokens=self.kv_tokens,
            usd_per_hour=self.usd_per_hour(replicas, power), power_w=power,
            api_server_s=self.front_s if api_server and role in ("serve", "prefill") else 0.0)


def pool_from_deployment(dep: Deployment, workload: Workload, cfg: SchedulerConfig | None = None,
                         eff: Efficiency | None = None, notes: dict[str, Any] | None = None) -> Pool:
    """The pool of `dep` serving `workload` (raises if no memory is left for the KV cache)."""
    cfg = cfg or SchedulerConfig()
    eff = eff or load_efficiency()
    limits = serving_limits(dep.engine, cfg, dep.max_running_seqs, dep.step_token_budget)
    f, _ = resolve_factors(dep, eff)
    typical = workload.mean_input() + workload.mean_output() / 2
    blocks = cfg.kv_blocks or kv_cache_blocks(dep, block_tokens(dep, cfg), limits.max_num_seqs,
                                              limits.max_batched_tokens, typical)
    if blocks <= 0:
        raise DoesNotFitError(f"{dep.model.id} on {dep.hw.id}: no memory left for the KV cache")
    return Pool(dep, cfg, limits, f, blocks, eff.profile, dict(notes or {}))


def slot_lengths(workload: Workload, slots: int) -> tuple[int, int]:
    """Prompt and output lengths whose KV, times `slots` sequences, holds the slots at the
    workload's mean lengths and at least one request at its 99th-percentile lengths (the KV a
    llama.cpp server's context ``-c`` must hold for its ``-np`` slots: a request longer than the
    whole cache is refused)."""
    n = max(1, slots)
    return (max(round(workload.mean_input()), math.ceil(workload.input.quantile(0.99) / n), 1),
            max(round(workload.mean_output()), math.ceil(workload.output.quantile(0.99) / n), 1))


def with_slot_room(plan: EstimatePlan, workload: Workload, cfg: SchedulerConfig | None,
                   resolve: Callable[[int, tuple[int, int]], EstimatePlan]) -> EstimatePlan:
    """`plan`, or where llama.cpp chose its host layers (no -ngl given) for one sequence, the
    plan `resolve` (sequences, (prompt, output) lengths) gives for the server's slots at
    :func:`slot_lengths`: a split sized for one mean request leaves KV for that one only."""
    if not plan.fits or plan.dep.host_layers is None or gpu_layers_given(plan.dep.engine, plan.dep.model) is not None:
        return plan  # an -ngl N split is the user's (-1, "as many as fit", is sized here)
    seqs = (cfg.max_num_seqs if cfg else None) or plan.dep.engine.max_num_seqs
    slotted = resolve(seqs, slot_lengths(workload, seqs))
    return slotted if slotted.fits else plan


def build_pool(model: str | ModelSpec, spec: DeploymentSpec, workload: Workload,
               cfg: SchedulerConfig | None = None, *, eff: Efficiency | None = None,
               hardware_files: tuple[Path, ...] = (), hw: HardwareSpec | None = None) -> Pool:
    """Resolve one pool's deployment the way ``estimate`` does, at the workload's mean lengths:
    with no layout given, the fewest devices holding weights + KV of ``AUTO_LAYOUT_SEQS``
    sequences, else batch 1 (raises :class:`DoesNotFitError` if it does not fit)."""
    mean_in = max(1, round(workload.mean_input()))
    mean_out = max(1, round(workload.mean_output()))

    def resolve(mode: Mode, batch: int, lens: tuple[int, int] = (mean_in, mean_out)) -> EstimatePlan:
        return plan_estimate(model, hw or spec.hardware, devices=spec.devices, tp=spec.tp,
                             pp=spec.pp, ep=spec.ep, precision=spec.precision,
                             kv_precision=spec.kv_precision, engine=spec.engine, mode=mode,
                             batch=batch, input_len=lens[0], output_len=lens[1],
                             threads=spec.threads, offload=spec.offload or False, host=spec.host,
                             slots=spec.slots, engine_options=spec.engine_options or None,
                             hardware_files=hardware_files, host_efficiency=eff)

    plan = resolve("concurrency", AUTO_LAYOUT_SEQS) if spec.auto_layout else None
    if plan is not None and plan.fits:
        plan.notes["layout"] = (f"auto: fewest devices holding weights + KV of {AUTO_LAYOUT_SEQS} "
                                f"sequences of {mean_in}+{mean_out} tokens ({plan.notes.get('layout', '')})")
    else:  # a serving engine: its server limits (vLLM's API-server budgets), one sequence
        plan = with_slot_room(resolve("concurrency", 1), workload, cfg,
                              lambda n, lens: resolve("concurrency", n, lens))
    if not plan.fits:
        raise DoesNotFitError(f"{plan.dep.model.id} on {plan.dep.hw.id}: {plan.reason}")
    return pool_from_deployment(plan.dep, workload, cfg, eff, drop_batch_scoped(plan.notes))
