"""A served prompt's wait behind the other clients' prompts (steady-state concurrency).

The steady-state cycle (``estimate.evaluate_plan``, docs/metrics.md) spaces the n clients'
prompts evenly over a request cycle: none ever arrives while another is being prefilled. Real
clients finish, and so send their next prompt, at times set by their own lengths, so arrivals
collide: a prompt that arrives while others are queued or being prefilled waits for their prompt
work first (the engine serves the prompt tokens first come, first served, within its step token
budget).

Model: the prompt work is a single server that is busy a fraction ``rho = P / B`` of the time,
with ``P`` the marginal prompt time of one cycle (seconds of device time that prompts add over
the riders' decode steps) and ``B`` the cycle's device-busy time (seconds); one prompt's
service time is ``S = P / n``. Arrivals are taken as Poisson, the service as deterministic, so
the mean wait is the Pollaczek-Khinchine mean-value formula with zero service-time variance
(M/D/1; Kleinrock, Queueing Systems Vol. I, ch. 5): ``W = rho / (2 (1 - rho)) * S``, scaled by
``(n - 1) / n`` as a
finite-source correction (one client never waits for itself; at most n - 1 prompts are ahead).
``rho`` is capped at ``RHO_MAX``: near saturation the closed loop throttles itself (clients wait
for their answers before sending), which an open M/D/1 queue does not.

The arriving unit is the cycle's prompt group, not the client: with fewer output steps than
clients (O < n) the cycle prefills n / O prompts together, so a group's own prompts wait for one
another inside its time already; n above is the number of groups (``S = P / groups``, and a
prefill-only run, O = 1, is one group that waits for nothing else).

``P`` and ``B`` are linear in the plan's work times, which keeps the corpus fast path exact
(calib/fastpred.py evaluates the same formula on arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

RHO_MAX = 0.9  # cap on the prompt server's utilization (the closed loop throttles before 1)

# Decode steps a served prompt waits for before its own step (docs/metrics.md): a client sends
# its next request when its last token arrives, just after the next step started, so the prompt
# waits for that step. An overlap scheduler (EngineSpec.overlap_scheduler: SGLang's event loop,
# vLLM's async scheduling, TensorRT-LLM's overlap) launches step k+1 before it emits step k's
# tokens; the new request reaches it before its next loop (the step already launched: 1 step) or
# after (that step and the next one launched without it: 2), 1.5 on average. Held out (width 2,
# 2026-12-06): 17.7% / p90 57.6% / 6.4% > 2x at 1 step, 17.6% / 57.0% / 6.3% at 1.5, 17.7% /
# 57.7% / 6.4% at 2.
STEPS_AHEAD_OVERLAP = 1.5


def prefill_queue_s(prompt_s: ArrayLike, busy_s: ArrayLike, groups: ArrayLike) -> Any:
    """Mean seconds a served prompt waits behind the other prompt groups (module docstring);
    scalars or numpy arrays. 0 for one group or no prompt work."""
    n = np.maximum(np.asarray(groups, dtype=float), 1.0)
    p = np.maximum(np.asarray(prompt_s, dtype=float), 0.0)
    b = np.asarray(busy_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(np.where(b > 0, p / b, 0.0), 0.0, RHO_MAX)
    w = rho / (2 * (1 - rho)) * (p / n) * (n - 1) / n
    return float(w) if np.ndim(w) == 0 else w


def cycle_shape(plan: Any) -> tuple[float, int]:
    """(prompt groups per request cycle, steps per group) of a steady-state plan
    (``EstimatePlan.cycle`` and its prefill work's step count)."""
    steps = max(1, int(np.size(plan.works["prefill"].t_link))) if "prefill" in plan.works else 1
    return plan.cycle.get("groups", 1.0), steps


def served_cycle_s(prefill_s: float, decode_s: float, groups: float, group_steps: int,
                   output_len: int) -> tuple[float, float]:
    """(device-busy seconds of one request cycle, marginal prompt seconds in it).

    A cycle runs ``groups`` prompt groups (``prefill_s`` each, riders decoding alongside) and
    the remaining decode steps (``decode_s`` each). The riders' share of a group's steps is taken
    as a full decode step each (a decode step's time is set by the weights, not by the rows).
    Both results are linear in ``prefill_s`` and ``decode_s``."""
    o = max(output_len, 1)
    decode_steps = max(0.0, (o - 1) - (groups - 1) * group_steps) if o > 1 else 0.0
    busy = groups * prefill_s + decode_steps * decode_s
    prompt = groups * (prefill_s - (group_steps * decode_s if o > 1 else 0.0))
    return busy, prompt  # may be < 0 when the riders' steps dominate: prefill_queue_s clips it
