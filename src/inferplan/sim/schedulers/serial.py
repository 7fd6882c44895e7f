"""``serial``: one request at a time, first come first served (llama.cpp's server with one
slot; engines without continuous batching). A request is prefilled in chunks of the pool's
``max_batched_tokens``, then decoded alone; decode steps are timed exactly from a prefix sum
of batch-1 step times (:meth:`~inferplan.sim.cost.StepCost.decode_prefix_sums`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inferplan.sim.entities import DONE, PREFILLING, Request
from inferplan.sim.schedulers.base import Replica

if TYPE_CHECKING:
    from inferplan.sim.pool import Pool


class Serial(Replica):
    """One request at a time, FCFS (see module docstring)."""

    one_at_a_time = True

    def __init__(self, index: int, pool: Pool, role: str = "both") -> None:
        super().__init__(index, pool, role)
        self.chunk = max(1, pool.max_batched_tokens)
        self.prefix_caching = pool.cfg.prefix_caching
        self.current: Request | None = None
        self._last_prefix = -1
        self._decode_cum: list[float] = []
        self.max_context = -1

    @property
    def busy(self) -> bool:
        return self.current is not None

    def start_next(self, t: float) -> float | None:
        if not self.waiting:
            return None
        r = self.current = self.waiting.popleft()
        self.dequeued(t)
        r.state = PREFILLING
        r.scheduled_s = t
        done = 0
        if self.prefix_caching and r.prefix_id >= 0 and r.prefix_id == self._last_prefix:
            done = min(r.prefix_tokens, r.input_tokens - 1)
            r.cached_tokens = done
            self.prefix_hits += 1
        self._last_prefix = r.prefix_id
        prefill = 0.0
        while done < r.input_tokens:
            n = min(self.chunk, r.input_tokens - done)
            prefill += self.cost.time_s(0, 0.0, n, 1, float(done))
            done += n
        if r.input_tokens == 0:
            prefill = self.cost.time_s(1, 0.0)
        first = t + prefill
        r.first_token_s = first
        last_ctx = r.input_tokens + r.output_tokens - 1  # context of the last decode step + 1
        if last_ctx > self.max_context:
            self._decode_cum = self.cost.decode_prefix_sums(2 * last_ctx)
            self.max_context = len(self._decode_cum) - 1
        cum = self._decode_cum
        decode = cum[last_ctx] - cum[r.input_tokens] if r.output_tokens > 1 else 0.0
        self.log.add(t, prefill, 1, 0, r.input_tokens, 0.0)  # KV use: not tracked (serial)
        if r.output_tokens > 1:
            self.log.add(first, decode, r.output_tokens - 1, 1, 0, 0.0)
        return first + decode

    def step_end(self, t: float) -> tuple[list[Request], float | None]:
        r = self.current
        left: list[Request] = []
        if r is not None:
            r.state = DONE
            r.out_left = 0
            r.finish_s = t
            self.leave(r, t, left)
        self.current = None
        return left, self.start_next(t)
