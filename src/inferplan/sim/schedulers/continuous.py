"""``continuous``: vLLM-style continuous batching.

Every step runs all decoding sequences (one token each) plus prefill chunks up to
``max_num_batched_tokens`` (chunked prefill), admits waiting requests first-come first-served
while ``max_num_seqs`` and the paged KV cache allow, and preempts the most recently admitted
request by *recompute* when a decode step finds no free KV block (vLLM's default). Optional
prefix caching keeps shared prompt prefixes' blocks and skips their prefill. The limits come
from the pool (:class:`~inferplan.sim.pool.ServingLimits`), not from the engine's name.

Speed: decoding sequences are not touched one by one per step. They share a *decode clock*
``clock`` (steps run); a sequence's cached context is ``offset + clock`` and it ends when the
clock reaches ``done_at`` (a heap). KV blocks are counted by the residue of each offset modulo the
block size, so the blocks a step needs are one table lookup. Between events (an arrival, a
completion, KV running out) identical decode steps are advanced as one *run* whose step times
are a quadratic in the step index fitted exactly at three points (``StepCost.decode_run_s``); an
arrival during a run cuts it at the next step boundary (``interrupt``).

Prefill-first engines (``EngineSpec.prefill_first``: SGLang, vLLM V0) run a step that takes
waiting prompts without the decodes: those pause (the decode clock stands still) until no
prompt can be scheduled, and the prompts get the whole token budget.

Reservation: an engine that reserves each request's whole sequence (``Pool.kv_reservation`` =
``full_sequence``: TensorRT-LLM's GUARANTEED_NO_EVICT capacity scheduler, its default and
trtllm-bench's) admits a request only while the blocks of prompt + output of every admitted
request fit in the cache (``committed``); its decodes then never run out of blocks and it never
preempts. With equal lengths the run goes in waves of ``cache blocks // blocks per request``.

Admission: an engine that polls its request socket every R decode steps (SGLang
``--scheduler-recv-interval``, ``EngineSpec.admission.recv_interval_steps``) only sees a new
request at a step whose clock is a multiple of R, or at once when it has nothing decoding; the
request waits in the queue until then (the estimate's mean wait of (R - 1) / 2 steps,
perf/admission.py, is this rule averaged over arrival phases). TensorRT-LLM can also hold new
prompts back while sequences decode (``_hold_steps``): with attention-DP balancing
(``admission.adp_balance_timeout_steps``) until every attention rank has one waiting or the
timeout passes; with batch waiting (``batch_wait_timeout_steps``) until the queued prompt tokens
reach ``batch_wait_max_tokens_ratio`` of the step budget or the timeout passes. The timeouts
count decode steps from the step that first saw a held request; the estimate's mean wait
(perf/admission.py) averages this rule over a hold: the request that opens it waits all of it,
those arriving during it half.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import TYPE_CHECKING

from inferplan.perf.layout import micro_batches
from inferplan.sim.cost import run_sum_s, steps_before
from inferplan.sim.entities import DECODING, DONE, PREFILLING, TRANSFER, WAITING, Batch, Request
from inferplan.sim.schedulers.base import Replica

if TYPE_CHECKING:
    from inferplan.sim.pool import Pool

MAX_RUN_STEPS = 1 << 16  # cap on one run of decode steps (bounds the quadratic fit's span)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class ContinuousBatching(Replica):
    """vLLM-like replica (see module docstring). role: 'both', 'prefill' (requests leave after
    their prefill, for a decode pool) or 'decode' (requests may arrive already prefilled)."""

    def __init__(self, index: int, pool: Pool, role: str = "both") -> None:
        super().__init__(index, pool, role)
        self.cfg = cfg = pool.cfg
        self.bs = pool.block_size
        self.total_blocks = pool.kv_blocks
        self.free = pool.kv_blocks
        self.max_seqs = pool.max_num_seqs
        self.max_tokens = pool.max_batched_tokens
        self.chunk_cap = pool.max_batched_tokens if cfg.chunked_prefill else 1 << 30
        self.pp = max(1, pool.pipeline_stages)
        self.recv = max(1, pool.dep.engine.admission.recv_interval_steps)
        adm = pool.dep.engine.admission
        self.ranks = pool.dep.layout.attn_dp  # attention-DP ranks of the replica
        # hold timeouts in decode steps (0: no such hold; balancing needs several ranks)
        self.adp_timeout = adm.adp_balance_timeout_steps if self.ranks > 1 else 0
        self.bw_timeout = adm.batch_wait_timeout_steps
        self.bw_tokens = adm.batch_wait_max_tokens_ratio * self.max_tokens
        self._hold_from: int | None = None  # decode clock when held prompts were first seen
        self.prefill_first = pool.prefill_first
        self.full_sequence = pool.kv_reservation == "full_sequence"
        self.committed = 0  # full_sequence: blocks reserved for the admitted requests' sequences
        # compiled-shape engines encode one prompt per call (perf/compiled.py: ctx batch 1)
        self.one_prompt = pool.dep.engine.compiled_shapes
        self._paused = False  # the step in flight holds the decodes back (prefill-first)
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
        self._now = 0.0
        # the step in flight
        self._kind = ""  # "", "step" or "run"
        self._start = 0.0
        self._end = 0.0
        self._chunks: list[tuple[Request, int]] = []
        self._run: tuple[float, float, float, int] = (0.0, 0.0, 0.0, 0)
        self._run_blocks = 0

    # ---- interface ----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return bool(self._kind)

    def rejects(self, req: Request) -> str:
        if not self._fits_ever(req):  # a decode pool's requests arrive prefilled: checked too
            return (f"needs {self._sequence_tokens(req)} tokens of KV; the "
                    f"replica holds {self.total_blocks * self.bs}")
        return ""

    def interrupt(self, t: float) -> float | None:
        if self._kind != "run":
            return None
        t0, a, c, k = self._run
        keep = steps_before(t0, a, c, k, t - self._start)
        keep += (-(self.clock + keep)) % self.recv  # seen at the next poll of the socket
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
            self.clock += 0 if self._paused else 1
            for r, n in self._chunks:
                r.computed += n
                if r.computed >= r.prompt_tokens:
                    self.prefilling.remove(r)
                    self._prefill_done(r, t, left)
        self._kind = ""
        self._pop_done(t, left)
        return left, self.start_next(t)

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
        self._stop_running(r)
        self.leave(r, t, left)

    def _start_running(self, r: Request) -> None:
        """`r` is admitted: it runs, and under full-sequence reservation holds its sequence's
        blocks in ``committed`` (the sum of ``_reserved`` over ``running``, kept only here)."""
        self.running[r.id] = r
        self.committed += self._reserved(r)

    def _stop_running(self, r: Request) -> None:
        """`r` no longer runs here (finished, handed off or preempted): its reservation ends."""
        if self.running.pop(r.id, None) is not None:
            self.committed -= self._reserved(r)

    def _reserved(self, r: Request) -> int:
        """Blocks reserved for `r` while it runs: its whole sequence (prompt + output; a prefill
        pool's, prompt + its first token) under full-sequence reservation, else none."""
        return _ceil_div(self._sequence_tokens(r), self.bs) if self.full_sequence else 0

    def _reservable(self, r: Request) -> bool:
        """Full-sequence reservation: `r`'s sequence fits beside the admitted ones' (else: True)."""
        return not self.full_sequence or self.committed + self._reserved(r) <= self.total_blocks

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
            self._stop_running(r)
            r.state = TRANSFER
            self.leave(r, t, left)
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
    def _sequence_tokens(self, r: Request) -> int:
        """Tokens of KV `r` holds here at most: prompt + output (a prefill pool: prompt + its
        first token, then the request moves on)."""
        return r.input_tokens + (1 if self.role == "prefill" else r.output_tokens)

    def _fits_ever(self, r: Request) -> bool:
        return _ceil_div(self._sequence_tokens(r), self.bs) <= self.total_blocks

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
        r = self.running[next(reversed(self.running))]
        self._stop_running(r)
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
        self.requeued(self._now)
        return True

    # ---- the next step ----------------------------------------------------------------------
    def _admit_prefilled(self) -> None:
        """Requests that arrive with their prompt's KV (decode pool) join the decode set."""
        while self.waiting and self.waiting[0].computed >= self.waiting[0].prompt_tokens:
            r = self.waiting[0]
            if self.b + len(self.prefilling) >= self.max_seqs:
                return
            blocks = _ceil_div(r.computed, self.bs)
            if not self._reservable(r) or not self._make_room(blocks):
                return
            self.waiting.popleft()
            self.dequeued(self._now)
            self.free -= blocks
            self._start_running(r)
            if r.scheduled_s < 0:
                r.scheduled_s = self._now
            self._join_decode(r)

    def start_next(self, t: float) -> float | None:
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
        held = self._hold_steps()
        chunks = self._schedule_prefill(t, held)
        b = self.b
        self._paused = bool(chunks) and self.prefill_first and b > 0
        if not chunks or self._paused:
            self.free += need  # a run below allocates its blocks itself; paused: no decode token
            b = 0 if self._paused else b
        if not chunks and not b:
            return None  # nothing can run until a request arrives or KV frees up
        if chunks:
            p = sum(n for _, n in chunks)
            batch = Batch(decode_seqs=b, decode_ctx=(self.offset_sum + b * self.clock) / b if b else 0.0,
                          prefill_tokens=p, prefill_seqs=len(chunks),
                          prefill_ctx=sum(r.computed * n for r, n in chunks) / p, chunks=chunks)
            dur = self._time(batch)
            self._kind, self._chunks = "step", chunks
            self.log.add(t, dur, 1, b, p, self._kv_frac(), paused=self.b if self._paused else 0)
            self._start, self._end = t, t + dur
            return self._end
        # a run of decode-only steps until a completion, KV exhaustion or an interrupt
        h = self.done_heap
        while h and (h[0][2].state != DECODING or h[0][2].done_at != h[0][0]):
            heapq.heappop(h)
        k = min(h[0][0] - self.clock if h else MAX_RUN_STEPS, MAX_RUN_STEPS)
        if self._unreceived():  # stop at the next poll of the socket, where they are seen
            k = min(k, (-self.clock) % self.recv or self.recv)
        if held:  # stop where the hold on the waiting prompts times out
            k = min(k, held)
        k = max(1, min(k, self._max_steps_with(self.free)))
        blocks = self._blocks_needed(k)
        if blocks > self.free:  # a lone sequence beyond the cache: cannot happen (_fits_ever)
            k, blocks = 1, need
        self.free -= blocks
        self._run_blocks = blocks
        ctx = (self.offset_sum + b * self.clock) / b
        t0, a, c = self.cost.decode_run_s(_ceil_div(b, micro_batches(b, self.pp)), ctx, k)
        self._run = (t0, a, c, k)
        self._kind = "run"
        self._start, self._end = t, t + run_sum_s(t0, a, c, k)
        return self._end

    def _time(self, batch: Batch) -> float:
        """Step time of `batch`; with pp stages, of its largest micro-batch."""
        m = micro_batches(batch.decode_seqs + batch.prefill_seqs, self.pp)
        if m <= 1:
            return self.cost.time_s(batch.decode_seqs, batch.decode_ctx, batch.prefill_tokens,
                                    batch.prefill_seqs, batch.prefill_ctx)
        return self.cost.time_s(_ceil_div(batch.decode_seqs, m), batch.decode_ctx,
                                _ceil_div(batch.prefill_tokens, m), _ceil_div(batch.prefill_seqs, m),
                                batch.prefill_ctx)

    def _polls(self) -> bool:
        """The engine reads its request socket before this step: every ``recv`` decode steps,
        or at every step while nothing decodes."""
        return self.recv <= 1 or not self.b or self.clock % self.recv == 0

    def _unreceived(self) -> bool:
        """A request at the head of the queue has arrived but was never scheduled."""
        return self.recv > 1 and bool(self.waiting) and self.waiting[0].scheduled_s < 0

    def _hold_steps(self) -> int:
        """Decode steps for which new prompts are still held back (0: they may be scheduled).

        Only while sequences decode (with nothing decoding there is nothing to balance or batch
        against). Attention-DP balancing holds until ``ranks`` requests wait (one a rank);
        batch waiting until their prompt tokens reach its share of the step budget; each gives
        up after its timeout, counted from the step that first saw the held queue."""
        if not (self.adp_timeout or self.bw_timeout):
            return 0
        if not self.b or not self.waiting or self.waiting[0].scheduled_s >= 0:
            self._hold_from = None  # nothing new waits (a preempted request is not held)
            return 0
        if self._hold_from is None:
            self._hold_from = self.clock
        waited = self.clock - self._hold_from
        left = 0
        if self.adp_timeout and len(self.waiting) < self.ranks:
            left = max(left, self.adp_timeout - waited)
        if self.bw_timeout:
            queued = 0
            for r in self.waiting:
                queued += r.prompt_tokens - r.computed
                if queued >= self.bw_tokens:
                    break
            if queued < self.bw_tokens:
                left = max(left, self.bw_timeout - waited)
        if left <= 0:
            self._hold_from = None  # released: the next held queue starts its own count
        return max(0, left)

    def _schedule_prefill(self, t: float, held: int) -> list[tuple[Request, int]]:
        """This step's prompt chunks: those in progress, then new prompts unless `held`
        (``_hold_steps``, computed once per step by ``start_next``)."""
        budget = self.max_tokens - (0 if self.prefill_first else self.b)
        polls = self._polls()
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
        if held:
            return chunks  # the engine holds new prompts back this step (module docstring)
        while self.waiting and budget > 0 and self.b + len(self.prefilling) < self.max_seqs:
            r = self.waiting[0]
            if r.computed >= r.prompt_tokens:
                break  # a prefilled request waiting for KV room (decode pool)
            if r.scheduled_s < 0 and not polls:
                break  # not read from the socket yet
            if self.one_prompt and chunks:
                break
            if not self._reservable(r):
                break  # its whole sequence does not fit beside the admitted ones' yet
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
            self.dequeued(t)
            self.free -= blocks
            r.state = PREFILLING
            if r.scheduled_s < 0:
                r.scheduled_s = t
            self.prefilling.append(r)
            self._start_running(r)
            chunks.append((r, n))
            budget -= n
        return chunks


