"""What bounds inference: compute vs memory regimes (ridge point) of a device and model.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from inferplan.audit.checks.verdict import dedup
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, Verdict, register_check
from inferplan.audit.scenario import (
    Scenario,
    resolve_model,
    run_scenario,
    sources_of,
)
from inferplan.perf.memory import max_sequences
from inferplan.perf.step import step_work
from inferplan.units import TB


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
                               dep.max_running_seqs) * dep.layout.dp)
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
                       computed=computed, conditions=dedup(conditions), derivation=derivation,
                       sources=dedup(sources), tolerance="bound = largest of the calibrated "
                       "compute, memory, link and overhead times of a step (docs/model.md)")
