"""The roofline an estimate's intervals are kept on the right side of: the shortest time and
the highest rate a plan's step works allow at 100% of the device's peaks (perf/intervals.py
clips each interval to it; the audit and validate read the same bounds)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from inferplan.perf.estimate import EstimatePlan


def roof_floor_s(work: Any) -> float:
    """Seconds a step's work cannot beat: its bytes at 100% of the peak bandwidth or its FLOPs at
    100% of the peak, whichever takes longer (perfect overlap, no overheads; the work's
    ``t_memory`` / ``t_compute`` are seconds at peak, summed over ops and chunks)."""
    return max(float(np.sum(work.t_memory)), float(np.sum(work.t_compute)))


def roof_bounds(plan: EstimatePlan) -> dict[str, tuple[float, bool]]:
    """``{field: (bound, is_time)}``: the shortest time / highest rate the plan's step works
    allow at the roofline (:func:`roof_floor_s`). TTFT >= the prompt step's floor, TPOT >= the
    decode step's (1 / it bounds the per-user speed); a static batch's end-to-end >= TTFT + (O - 1)
    TPOT floors and its throughputs <= B x tokens / that (docs/metrics.md's batch formulas)."""
    floors = {k: roof_floor_s(plan.works[k]) for k in ("prefill", "decode") if k in plan.works}
    out: dict[str, tuple[float, bool]] = {}
    if floors.get("prefill", 0) > 0:
        out["ttft_s"] = (floors["prefill"], True)
    if floors.get("decode", 0) > 0:
        out["tpot_s"] = (floors["decode"], True)
        out["decode_tok_s_per_user"] = (1 / floors["decode"], False)
    if plan.mode == "batch" and "ttft_s" in out:
        b, i, o = plan.seqs_per_replica * plan.replicas_busy, plan.input_len, plan.output_len
        e2e = floors["prefill"] + max(o - 1, 0) * floors.get("decode", 0.0)
        out["e2e_latency_s"] = (e2e, True)
        out.update(output_tok_s=(b * o / e2e, False), total_tok_s=(b * (i + o) / e2e, False),
                   requests_per_s=(b / e2e, False), prefill_tok_s=(b * i / floors["prefill"], False))
    return out


def roof_clip(plan: EstimatePlan, fld: str, low: float, high: float,
              bounds: dict[str, tuple[float, bool]] | None = None) -> tuple[float, float]:
    """An interval kept on the possible side of the roofline (:func:`roof_bounds`, or `bounds`
    already computed for the plan). A statistical interval's tail can reach past it (a group's
    cross-validated residuals scatter wider than one device's headroom); measured, 7 of the
    corpus's 492 decode rows land at most 15% past their decode roof (catalog peaks a little
    conservative), the rest below it."""
    bound = (roof_bounds(plan) if bounds is None else bounds).get(fld)
    if bound is None or not (bound[0] > 0 and math.isfinite(bound[0])):
        return low, high
    if bound[1]:
        low = max(low, bound[0])
        return low, max(high, low)
    high = min(high, bound[0])
    return min(low, high), high
