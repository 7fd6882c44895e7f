"""How many sequences one replica runs at once: the step token budget's cap, and an offline
run's batch (the largest that fits, no more than the run has requests for)."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from inferplan.errors import InputError
from inferplan.perf.chunks import budget_running_seqs
from inferplan.perf.deployment import Deployment
from inferplan.perf.memory import max_sequences


def check_requests(mode: str, requests: int | None) -> None:
    """An offline run's prompt count: only offline runs have one, and it is at least 1."""
    if requests is not None and mode != "offline":
        raise InputError("requests (the prompts of an offline run) applies to offline runs only")
    if requests is not None and requests < 1:
        raise InputError("requests must be >= 1")


def budget_cap(dep: Deployment, input_len: int, output_len: int, notes: dict[str, Any],
               wanted: float = math.inf) -> float:
    """Running sequences the step token budget sustains (budget_running_seqs), noted when it
    binds; no cap for engines that do not batch continuously."""
    if not dep.engine.continuous_batching:
        return math.inf
    cap = max(1.0, budget_running_seqs(dep.step_token_budget, input_len, output_len))
    if cap < min(wanted, dep.max_running_seqs):
        notes["token_budget"] = (f"{dep.step_token_budget:,} tokens per step keep at most {cap:.4g} "
                                 f"sequences decoding while their successors' prompts are prefilled")
    return cap


def offline_batch(dep: Deployment, input_len: int, output_len: int, reserve_tokens: float,
                  notes: dict[str, Any], requests: int | None = None) -> int:
    """Sequences one replica runs together in an offline run (every prompt queued at t = 0):
    the engine's max_num_seqs, what the KV cache holds at ``reserve_tokens`` per sequence, what
    the step token budget sustains and, for a run of ``requests`` prompts shared by the dp
    replicas, ``ceil(requests / dp)``: a run of 1,000 prompts never batches 2,048 (the
    steady state of a longer run would; trtllm-bench and ``vllm bench`` runs are often 1,000
    requests). Writes the note ``offline_batch``."""
    fit = max_sequences(dep, reserve_tokens, input_len)
    cap = budget_cap(dep, input_len, output_len, notes)  # inf: no continuous batching
    per_rep = int(min(dep.max_running_seqs, fit, cap))
    why = f"KV for {reserve_tokens:.0f} tokens each, cap max_num_seqs={dep.max_running_seqs}"
    if requests is not None:
        share = -(-requests // dep.layout.dp)
        if share < per_rep:
            per_rep = share
        why += f"; the run's {requests:,} requests over {dep.layout.dp} replica(s)"
    notes["offline_batch"] = f"largest batch that fits: {per_rep} sequences per replica ({why})"
    return per_rep


class OfflineRun(BaseModel):
    """An offline run of ``requests`` prompts at the steady state's rate (``Estimate.offline_run``)."""

    requests: int
    seconds: float
    usd: float | None  # None: no price for the hardware
    kwh: float | None  # None: no power figure

    @property
    def text(self) -> str:
        parts = [f"{self.requests:,} requests in ~{_duration(self.seconds)}"]
        if self.usd is not None:
            parts.append(f"${self.usd:,.2f}")
        if self.kwh is not None:
            parts.append(f"{self.kwh:,.3g} kWh")
        return ", ".join(parts)


def offline_run(requests: int, requests_per_s: float, usd_per_s: float | None,
                power_w: float | None) -> OfflineRun:
    """How long an offline run of ``requests`` prompts takes at ``requests_per_s`` (the steady
    state; a run of fixed lengths longer than one batch ends with a smaller wave), and what it
    costs in dollars and energy (J / 3.6e6 = kWh) where the price and power are known."""
    run_s = requests / requests_per_s
    return OfflineRun(requests=requests, seconds=run_s,
                      usd=None if usd_per_s is None else usd_per_s * run_s,
                      kwh=None if power_w is None else power_w * run_s / 3.6e6)


def _duration(seconds: float) -> str:
    """Seconds as the largest sensible unit (s, min, h, days)."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.3g} {unit}"
    return f"{seconds:,.3g} s"
