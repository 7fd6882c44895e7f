"""Replica schedulers: what one replica runs next, and when that step ends.

Two policies behind one small interface (``enqueue``, ``step_end``, ``interrupt``), registered
in ``SCHEDULERS`` by name as a plugin would be:

- ``continuous``: vLLM-style continuous batching. Every step runs all decoding sequences (one
  token each) plus prefill chunks up to ``max_num_batched_tokens`` (chunked prefill), admits
  waiting requests first-come first-served while ``max_num_seqs`` and the paged KV cache allow,
  and preempts the most recently admitted request by *recompute* when a decode step finds no
  free KV block (vLLM's default). Optional prefix caching keeps shared prompt prefixes' blocks
  and skips their prefill.
- ``serial``: one request at a time, first come first served (llama.cpp's server with one slot;
  engines without continuous batching). A request is prefilled in ``prefill_chunk_tokens``
  chunks, then decoded alone.

Speed: decoding sequences are not touched one by one per step. They share a *decode clock*
``clock`` (steps run); a sequence's cached context is ``offset + clock`` and it ends when the
clock reaches ``done_at`` (a heap). KV blocks are counted by the residue of each offset modulo the
block size, so the blocks a step needs are one table lookup. Between events (an arrival, a
completion, KV running out) identical decode steps are advanced as one *run* whose step times
are a quadratic in the step index fitted exactly at three points (``StepCost.decode_run_s``); an
arrival during a run cuts it at the next step boundary (``interrupt``).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque

from inferplan.sim.cost import StepCost, run_sum_s, steps_before
from inferplan.sim.entities import (
    DECODING,
    DONE,
    PREFILLING,
    TRANSFER,
    WAITING,
    Batch,
    Request,
    SchedulerConfig,
    StepLog,
    TimeAverage,
)

MAX_RUN_STEPS = 1 << 16  # cap on one run of decode steps (bounds the quadratic fit's span)


class Replica:
    """Interface every scheduling policy implements."""

    index: int
    outstanding_tokens: int  # prompt + output tokens of assigned, unfinished requests
    log: StepLog
    in_system: TimeAverage  # requests assigned and not finished (or handed off)
    in_queue: TimeAverage  # requests waiting to be scheduled
    preemptions: int
    prefix_hits: int

    def enqueue(self, req: Request, t: float) -> float | None:
        """Accept `req` at time `t`; return the end time of a step started now, if any."""
        raise NotImplementedError

    def step_end(self, t: float) -> tuple[list[Request], float | None]:
        """The step in flight ended at `t`: (requests that left, end of the next step or None)."""
        raise NotImplementedError

    def interrupt(self, t: float) -> float | None:
        """A request arrived at `t` during a step: new end time if the step was cut, else None."""
        return None

    @property
    def busy_s(self) -> float:
        return float(sum(self.log.duration_s))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class ContinuousBatching(Replica):
    """vLLM-like replica (see module docstring). role: 'both', 'prefill' (requests leave after
    their prefill, for a decode pool) or 'decode' (requests may arrive already prefilled)."""

    def __init__(self, index: int, cost: StepCost, cfg: SchedulerConfig, kv_blocks: int, *,
                 max_num_seqs: int, max_batched_tokens: int, microbatches: int = 1,
                 role: str = "both") -> None:
        self.index, self.cost, self.cfg, self.role = index, cost, cfg, role
        self.bs = cfg.block_size
        self.total_blocks = kv_blocks
        self.free = kv_blocks
        self.max_seqs = max_num_seqs
        self.max_tokens = max_batched_tokens
        self.chunk_cap = max_batched_tokens if cfg.chunked_prefill else 1 << 30
        self.pp = max(1, microbatches)
        self.waiting: deque[Request] = deque()
        self.prefilling: list[Request] = []
        self.running: dict[int, Request] = {}  # admission order (preemption picks the last)
        # decode set, aggregated
        self.clock = 0
        self.b = 0
        self.offset_sum = 0
        self.residue = [0] * self.bs
        self.done_heap: list[tuple[int, int, Request]] = []
        self.cache: OrderedDict[int, list[int]] = OrderedDict()  # prefix id -> [blocks, refs]
        self.cache_blocks = 0
        self.outstanding_tokens = 0
        self.preemptions = 0
        self.prefix_hits = 0
        self.log = StepLog()
        self.in_system = TimeAverage()
        self.in_queue = TimeAverage()
        self._now = 0.0
        # the step in flight
        self._kind = ""  # "", "step" or "run"
        self._start = 0.0
        self._end = 0.0
        self._chunks: list[tuple[Request, int]] = []
        self._run: tuple[float, float, float, int] = (0.0, 0.0, 0.0, 0)
        self._run_blocks = 0

    # ---- interface ----------------------------------------------------------------------
    def enqueue(self, req: Request, t: float) -> float | None:
        if self.role != "decode" or req.replica < 0:
            req.replica = self.index
        if req.computed == 0 and not self._fits_ever(req):
            req.rejected = (f"needs {req.input_tokens + req.output_tokens} tokens of KV; the "
                            f"replica holds {self.total_blocks * self.bs}")
            req.state = DONE
            req.finish_s = t
            return None
        req.state = WAITING
        if self.role == "decode":
            req.decode_replica = self.index
        self.waiting.append(req)
        self.in_system.change(t, 1)
        self.in_queue.change(t, 1)
        self.outstanding_tokens += req.input_tokens + req.output_tokens
        if not self._kind:
            return self._start_next(t)
        return None

    def interrupt(self, t: float) -> float | None:
        if self._kind != "run":
            return None
        t0, a, c, k = self._run
        keep = steps_before(t0, a, c, k, t - self._start)
        if keep >= k:
            return None
        self.free += self._run_blocks - self._blocks_needed(keep)
        self._run_blocks = self._blocks_needed(keep)
        self._run = (t0, a, c, keep)
        self._end = self._start + run_sum_s(t0, a, c, keep)
        return self._end

    def step_end(self, t: float) -> tuple[list[Request], float | None]:
        left: list[Request] = []
        if self._kind == "run":
            k = self._run[3]
            self.clock += k
            self.log.add(self._start, t - self._start, k, self.b, 0, self._kv_frac())
        elif self._kind == "step":
            self.clock += 1
            for r, n in self._chunks:
                r.computed += n
                if r.computed >= r.prompt_tokens:
                    self.prefilling.remove(r)
                    self._prefill_done(r, t, left)
        self._kind = ""
        self._pop_done(t, left)
        return left, self._start_next(t)

    # ---- decode set -----------------------------------------------------------------------
    def _join_decode(self, r: Request) -> None:
        r.state = DECODING
        r.offset = r.prompt_tokens - self.clock
        r.done_at = self.clock + r.out_left
        self.b += 1
        self.offset_sum += r.offset
        self.residue[r.offset % self.bs] += 1
        heapq.heappush(self.done_heap, (r.done_at, r.id, r))

    def _leave_decode(self, r: Request) -> None:
        self.b -= 1
        self.offset_sum -= r.offset
        self.residue[r.offset % self.bs] -= 1
        self.free += _ceil_div(r.offset + self.clock, self.bs) - r.shared_blocks
        r.state = DONE  # stale heap entries are skipped by state

    def _pop_done(self, t: float, left: list[Request]) -> None:
        h = self.done_heap
        while h and h[0][0] <= self.clock:
            _, _, r = heapq.heappop(h)
            if r.state != DECODING or r.done_at > self.clock:
                continue
            self._leave_decode(r)
            self._release(r)
            r.out_left = 0
            self._finish(r, t, left)

    def _finish(self, r: Request, t: float, left: list[Request]) -> None:
        r.state = DONE
        r.finish_s = t
        self.running.pop(r.id, None)
        self.outstanding_tokens -= r.input_tokens + r.output_tokens
        self.in_system.change(t, -1)
        left.append(r)

    def _prefill_done(self, r: Request, t: float, left: list[Request]) -> None:
        if r.first_token_s < 0:
            r.first_token_s = t
        r.out_left -= 1
        if self.cfg.prefix_caching and r.prefix_id >= 0 and not r.shared_blocks:
            self._cache_insert(r)
        if self.role == "prefill" and r.out_left > 0:
            own = _ceil_div(r.computed, self.bs) - r.shared_blocks
            self.free += own
            self._release(r)
            self.running.pop(r.id, None)
            self.outstanding_tokens -= r.input_tokens + r.output_tokens
            self.in_system.change(t, -1)
            r.state = TRANSFER
            left.append(r)
        elif r.out_left <= 0:
            self.free += _ceil_div(r.computed, self.bs) - r.shared_blocks
            self._release(r)
            self._finish(r, t, left)
        else:
            self._join_decode(r)

    def _blocks_needed(self, k: int) -> int:
        """KV blocks the decode set needs for its next `k` steps (one token each)."""
        if not self.b or k <= 0:
            return 0
        bs, res, g = self.bs, self.residue, self.clock
        full, part = divmod(k, bs)
        n = full * self.b
        for j in range(part):
            n += res[(-(g + j)) % bs]
        return n

    def _max_steps_with(self, free: int) -> int:
        """Most decode steps whose new blocks fit in `free` blocks."""
        if not self.b:
            return MAX_RUN_STEPS
        bs, res, g = self.bs, self.residue, self.clock
        cycles = free // self.b
        if cycles * bs >= MAX_RUN_STEPS:
            return MAX_RUN_STEPS
        rem = free - cycles * self.b
        k = cycles * bs
        for j in range(bs):
            need = res[(-(g + j)) % bs]
            if need > rem:
                break
            rem -= need
            k += 1
        return k

    # ---- KV blocks, prefix cache, preemption ---------------------------------------------
    def _fits_ever(self, r: Request) -> bool:
        return _ceil_div(r.input_tokens + r.output_tokens, self.bs) <= self.total_blocks

    def _kv_frac(self) -> float:
        return 1.0 - self.free / self.total_blocks if self.total_blocks else 0.0

    def _make_room(self, need: int) -> bool:
        """Evict unreferenced cached prefixes (LRU) until `need` blocks are free."""
        if need <= self.free:
            return True
        if not self.cache:
            return False
        for pid in list(self.cache):
            if self.free >= need:
                break
            blocks, refs = self.cache[pid]
            if refs == 0:
                del self.cache[pid]
                self.cache_blocks -= blocks
                self.free += blocks
        return self.free >= need

    def _cache_insert(self, r: Request) -> None:
        blocks = min(r.prefix_tokens, r.computed) // self.bs
        if blocks and r.prefix_id not in self.cache:
            self.cache[r.prefix_id] = [blocks, 1]
            self.cache_blocks += blocks
            r.shared_blocks = blocks  # ownership moves to the cache; free count unchanged

    def _cache_lookup(self, r: Request) -> None:
        entry = self.cache.get(r.prefix_id)
        if entry is None:
            return
        tokens = min(entry[0] * self.bs, r.prompt_tokens - 1)
        if tokens <= 0:
            return
        entry[1] += 1
        self.cache.move_to_end(r.prefix_id)
        r.shared_blocks = entry[0]
        r.computed = tokens
        r.cached_tokens += tokens
        self.prefix_hits += 1

    def _release(self, r: Request) -> None:
        if r.shared_blocks:
            entry = self.cache.get(r.prefix_id)
            if entry is not None:
                entry[1] -= 1
            r.shared_blocks = 0

    def _preempt_one(self) -> bool:
        """Preempt the most recently admitted running request (recompute). False if none."""
        if not self.running:
            return False
        rid = next(reversed(self.running))
        r = self.running.pop(rid)
        if r.state == DECODING:
            self._leave_decode(r)
        else:
            self.prefilling.remove(r)
            self.free += _ceil_div(r.computed, self.bs) - r.shared_blocks
        self._release(r)
        generated = r.output_tokens - r.out_left
        r.prompt_tokens = r.input_tokens + generated
        r.computed = 0
        r.state = WAITING
        r.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(r)
        self.in_queue.change(self._now, 1)
        return True

    # ---- the next step ----------------------------------------------------------------------
    def _admit_prefilled(self) -> None:
        """Requests that arrive with their prompt's KV (decode pool) join the decode set."""
        while self.waiting and self.waiting[0].computed >= self.waiting[0].prompt_tokens:
            r = self.waiting[0]
            if self.b + len(self.prefilling) >= self.max_seqs:
                return
            blocks = _ceil_div(r.computed, self.bs)
            if not self._make_room(blocks):
                return
            self.waiting.popleft()
            self.in_queue.change(self._now, -1)
            self.free -= blocks
            self.running[r.id] = r
            if r.scheduled_s < 0:
                r.scheduled_s = self._now
            self._join_decode(r)

    def _start_next(self, t: float) -> float | None:
        self._now = t
        self._admit_prefilled()
        if not (self.b or self.prefilling or self.waiting):
            return None
        # KV for the decode tokens of this step; preempt (recompute) while it does not fit
        need = self.residue[(-self.clock) % self.bs] if self.b else 0
        while need > self.free and not self._make_room(need):
            if not self._preempt_one():
                break
            need = self.residue[(-self.clock) % self.bs] if self.b else 0
        self.free -= need
        chunks = self._schedule_prefill(t)
        b = self.b
        if not chunks:
            self.free += need  # a run below allocates its blocks itself
        if not chunks and not b:
            return None  # nothing can run until a request arrives or KV frees up
        if chunks:
            p = sum(n for _, n in chunks)
            batch = Batch(decode_seqs=b, decode_ctx=(self.offset_sum + b * self.clock) / b if b else 0.0,
                          prefill_tokens=p, prefill_seqs=len(chunks),
                          prefill_ctx=sum(r.computed * n for r, n in chunks) / p, chunks=chunks)
            dur = self._time(batch)
            self._kind, self._chunks = "step", chunks
            self.log.add(t, dur, 1, b, p, self._kv_frac())
            self._start, self._end = t, t + dur
            return self._end
        # a run of decode-only steps until a completion, KV exhaustion or an interrupt
        h = self.done_heap
        while h and (h[0][2].state != DECODING or h[0][2].done_at != h[0][0]):
            heapq.heappop(h)
        k = min(h[0][0] - self.clock if h else MAX_RUN_STEPS, MAX_RUN_STEPS)
        k = max(1, min(k, self._max_steps_with(self.free)))
        blocks = self._blocks_needed(k)
        if blocks > self.free:  # a lone sequence beyond the cache: cannot happen (_fits_ever)
            k, blocks = 1, need
        self.free -= blocks
        self._run_blocks = blocks
        ctx = (self.offset_sum + b * self.clock) / b
        m = min(self.pp, b)
        t0, a, c = self.cost.decode_run_s(_ceil_div(b, m), ctx, k)
        self._run = (t0, a, c, k)
        self._kind = "run"
        self._start, self._end = t, t + run_sum_s(t0, a, c, k)
        return self._end

    def _time(self, batch: Batch) -> float:
        """Step time of `batch`; with pp stages, of its largest micro-batch (min(seqs, pp))."""
        m = min(self.pp, batch.decode_seqs + batch.prefill_seqs)
        if m <= 1:
            return self.cost.time_s(batch.decode_seqs, batch.decode_ctx, batch.prefill_tokens,
                                    batch.prefill_seqs, batch.prefill_ctx)
        return self.cost.time_s(_ceil_div(batch.decode_seqs, m), batch.decode_ctx,
                                _ceil_div(batch.prefill_tokens, m), _ceil_div(batch.prefill_seqs, m),
                                batch.prefill_ctx)

    def _schedule_prefill(self, t: float) -> list[tuple[Request, int]]:
        budget = self.max_tokens - self.b
        chunks: list[tuple[Request, int]] = []
        bs = self.bs
        for r in self.prefilling:
            if budget <= 0:
                break
            n = min(r.prompt_tokens - r.computed, budget, self.chunk_cap)
            blocks = _ceil_div(r.computed + n, bs) - _ceil_div(r.computed, bs)
            if not self._make_room(blocks):
                continue
            self.free -= blocks
            chunks.append((r, n))
            budget -= n
        while self.waiting and budget > 0 and self.b + len(self.prefilling) < self.max_seqs:
            r = self.waiting[0]
            if r.computed >= r.prompt_tokens:
                break  # a prefilled request waiting for KV room (decode pool)
            if self.cfg.prefix_caching and r.prefix_id >= 0 and r.computed == 0:
                self._cache_lookup(r)
            n = min(r.prompt_tokens - r.computed, budget, self.chunk_cap)
            if not self.cfg.chunked_prefill and n < r.prompt_tokens - r.computed and chunks:
                break  # without chunking a prompt goes whole, in a step of its own if needed
            blocks = _ceil_div(r.computed + n, bs) - _ceil_div(r.computed, bs)
            if not self._make_room(blocks):
                if r.shared_blocks:  # undo the cache hit; retry later
                    self._release(r)
                    r.cached_tokens -= r.computed
                    r.computed = 0
                    self.prefix_hits -= 1
                break
            self.waiting.popleft()
            self.in_queue.change(t, -1)
            self.free -= blocks
            r.state = PREFILLING
            if r.scheduled_s < 0:
                r.scheduled_s = t
            self.prefilling.append(r)
            self.running[r.id] = r
            chunks.append((r, n))
            budget -= n
        return chunks


class Serial(Replica):
    """One request at a time, FCFS (llama.cpp server with one slot). Prefill runs in chunks of
    `chunk` tokens; decode steps are timed exactly from a prefix sum of batch-1 step times."""

    def __init__(self, index: int, cost: StepCost, chunk: int, prefix_caching: bool = False,
                 max_context: int = 0) -> None:
        self.index, self.cost, self.chunk = index, cost, max(1, chunk)
        self.prefix_caching = prefix_caching
        self.queue: deque[Request] = deque()
        self.current: Request | None = None
        self.outstanding_tokens = 0
        self.preemptions = 0
        self.prefix_hits = 0
        self.log = StepLog()
        self.in_system = TimeAverage()
        self.in_queue = TimeAverage()
        self._last_prefix = -1
        self._decode_cum = cost.decode_prefix_sums(max(max_context, 1))
        self.max_context = len(self._decode_cum) - 1

    def enqueue(self, req: Request, t: float) -> float | None:
        req.replica = self.index
        self.queue.append(req)
        self.in_system.change(t, 1)
        self.in_queue.change(t, 1)
        self.outstanding_tokens += req.input_tokens + req.output_tokens
        if self.current is None:
            return self._start(t)
        return None

    def _start(self, t: float) -> float | None:
        if not self.queue:
            return None
        r = self.current = self.queue.popleft()
        self.in_queue.change(t, -1)
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
            self.outstanding_tokens -= r.input_tokens + r.output_tokens
            self.in_system.change(t, -1)
            left.append(r)
        self.current = None
        return left, self._start(t)


SCHEDULERS: dict[str, type[Replica]] = {}


def register_scheduler(name: str, cls: type[Replica]) -> None:
    """Add a scheduling policy under `name` (built-ins register the same way)."""
    SCHEDULERS[name] = cls


register_scheduler("continuous", ContinuousBatching)
register_scheduler("serial", Serial)

__all__ = ["SCHEDULERS", "ContinuousBatching", "Replica", "Serial", "register_scheduler"]
