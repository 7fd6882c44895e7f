"""Metrics of a simulated (or measured) run; formulas in docs/sim.md.

Per request: ``ttft = first_token - arrival``, ``e2e = finish - arrival``,
``tpot = (finish - first_token) / (output - 1)`` (requests with more than one output token),
``queue_wait = scheduled - arrival``. Inter-token latency (ITL) is the duration of each decode
step weighted by the tokens it emitted; a sequence that prompt steps held back (prefill-first
engines) waits through them too, so its next token's gap includes them. Throughput is over
the span from the first arrival to the last finish. Goodput is the share of requests meeting every per-request SLO threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from inferplan.sim.entities import Request, StepLog, TimeAverage


class ReplicaRecord(Protocol):
    """What the metrics read of a replica: its step log and time-averaged counts."""

    log: StepLog
    in_system: TimeAverage
    in_queue: TimeAverage

PERCENTILES = (50, 90, 99)


class Dist(BaseModel):
    """Summary of one latency distribution (seconds)."""

    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    count: int = 0

    def at(self, pct: int) -> float | None:
        v: float | None = getattr(self, f"p{pct}")
        return v


class SLO(BaseModel):
    """Latency objectives: percentile bounds (seconds). A run meets the SLO when every given
    percentile of the run is at or below its bound; a request meets it (goodput) when its own
    TTFT, TPOT and E2E are at or below the largest bound given for each."""

    model_config = ConfigDict(extra="forbid")
    p50_ttft_s: float | None = Field(default=None, gt=0)
    p90_ttft_s: float | None = Field(default=None, gt=0)
    p99_ttft_s: float | None = Field(default=None, gt=0)
    p50_tpot_s: float | None = Field(default=None, gt=0)
    p90_tpot_s: float | None = Field(default=None, gt=0)
    p99_tpot_s: float | None = Field(default=None, gt=0)
    p50_e2e_s: float | None = Field(default=None, gt=0)
    p90_e2e_s: float | None = Field(default=None, gt=0)
    p99_e2e_s: float | None = Field(default=None, gt=0)

    def bounds(self) -> list[tuple[str, int, float]]:
        """(metric, percentile, bound) for every bound given."""
        out = []
        for metric in ("ttft", "tpot", "e2e"):
            for pct in PERCENTILES:
                v = getattr(self, f"p{pct}_{metric}_s")
                if v is not None:
                    out.append((metric, pct, v))
        return out

    def empty(self) -> bool:
        return not self.bounds()

    def request_threshold(self, metric: str) -> float:
        vals = [v for m, _, v in self.bounds() if m == metric]
        return max(vals) if vals else math.inf

    def violations(self, m: SimMetrics) -> list[str]:
        """Human-readable list of the bounds `m` misses (empty: the SLO holds)."""
        out = []
        for metric, pct, bound in self.bounds():
            d: Dist = getattr(m, f"{metric}_s")
            v = d.at(pct)
            if v is None and metric == "tpot" and m.completed:
                continue  # every request finished with one token: no TPOT to bound
            if v is None or v > bound:
                got = "n/a" if v is None else f"{v:.3g} s"
                out.append(f"p{pct} {metric.upper()} {got} > {bound:g} s")
        if m.rejected:
            out.append(f"{m.rejected} requests rejected (do not fit the KV cache)")
        return out

    def describe(self) -> str:
        return ", ".join(f"p{p} {m.upper()} <= {v:g} s" for m, p, v in self.bounds()) or "none"


class Timeline(BaseModel):
    """Values on a uniform time grid (at most ~100 points): requests waiting, sequences per
    decode step (mean over replicas), fraction of KV blocks in use (mean over replicas)."""

    t_s: list[float] = []
    queue_len: list[float] = []
    batch_size: list[float] = []
    kv_used: list[float] = []
    in_system: list[float] = []  # requests arrived and not finished, whole cluster


RAMP_SHARE, RAMP_MIN_REQUESTS = 0.1, 10


def ramp_time_s(arrival_s: np.ndarray, finish_s: np.ndarray) -> float:
    """How long the system takes to fill: the p90 end-to-end time of the first arrivals (10%, at
    least 10), which met a nearly empty system, or the run's median end-to-end time if shorter.
    Each alone fails one way: an overload stretches the run's median (its queue), and under
    continuous batching also the first arrivals' tail (their batch keeps growing), while a
    stable run's median is below its fill time only where lifetimes spread widely."""
    if arrival_s.size == 0:
        return 0.0
    e2e = finish_s - arrival_s
    order = np.argsort(arrival_s, kind="stable")
    k = min(arrival_s.size, max(RAMP_MIN_REQUESTS, int(RAMP_SHARE * arrival_s.size)))
    return float(min(np.percentile(e2e[order[:k]], 90), np.median(e2e)))


class Steady(BaseModel):
    """Rates over the steady window: from the end of the warm-up and of the ramp-up
    (``SimMetrics.ramp_s``) to the last arrival (a run's own totals also count its ramp-up and
    its drain, where the last long requests finish on idle replicas)."""

    start_s: float
    end_s: float
    output_tok_s: float = Field(description="output tokens emitted in the window per second")
    busy_fraction: float = Field(description="share of the window replicas spent running steps")
    mean_batch_size: float = Field(description="decode sequences per step in the window, time-weighted")


STEADY_MIN_LIFETIMES = 2.0  # a steady window shorter than this many ramp times is not used


def steady_window(first: np.ndarray, fin: np.ndarray, out: np.ndarray, logs: Sequence[StepLog],
                  start_s: float, end_s: float, replicas: int, ramp_s: float = 0.0,
                  first_arrival_s: float = 0.0) -> Steady | None:
    """:class:`Steady` over [max(start_s, first + ramp_s), end_s] (``start_s``: the end of the
    warm-up, ``first``: the first arrival, the ``start_s`` of a run without warm-up): None when
    that is shorter than
    ``STEADY_MIN_LIFETIMES`` x ``ramp_s`` (a run too short to have a steady part: its whole-run
    rates stand). A request emits its first token at ``first`` and the other ``out - 1`` evenly
    until ``fin`` (all ``out`` at ``first`` when it ends there: a prefill pool's hand-off, as
    ``output_tok_s`` counts them); a logged step (or run of identical steps) counts for the part
    of it inside the window."""
    start_s = max(start_s, first_arrival_s + ramp_s)
    span = end_s - start_s
    if span <= 0 or replicas <= 0 or span < STEADY_MIN_LIFETIMES * ramp_s:
        return None
    dur = fin - first
    at_first = ((first >= start_s) & (first <= end_s)).astype(float)
    lap = np.clip(np.minimum(fin, end_s) - np.maximum(first, start_s), 0.0, None)
    tok = np.where(dur > 0, at_first + (out - 1) * lap / np.where(dur > 0, dur, 1.0), out * at_first)
    busy = batch_w = 0.0
    for log in logs:
        if not log.duration_s:
            continue
        t = np.asarray(log.start_s, dtype=float)
        d = np.asarray(log.duration_s, dtype=float)
        inside = np.clip(np.minimum(t + d, end_s) - np.maximum(t, start_s), 0.0, None)
        busy += float(inside.sum())
        batch_w += float((inside * np.asarray(log.decode_seqs, dtype=float)).sum())
    return Steady(start_s=start_s, end_s=end_s, output_tok_s=float(tok.sum() / span),
                  busy_fraction=min(busy / (span * replicas), 1.0),
                  mean_batch_size=batch_w / busy if busy else 0.0)


class SimMetrics(BaseModel):
    requests: int
    completed: int
    rejected: int = 0
    duration_s: float
    ttft_s: Dist
    tpot_s: Dist
    itl_s: Dist
    e2e_s: Dist
    queue_wait_s: Dist
    requests_per_s: float
    input_tok_s: float
    output_tok_s: float
    total_tok_s: float
    goodput: float | None = Field(default=None, description="share of requests meeting the SLO")
    goodput_requests_per_s: float | None = None
    mean_in_system: float = Field(description="time-average requests in the system (Little's L)")
    mean_queue_len: float = Field(description="time-average requests waiting, all replicas together")
    max_queue_len: int = Field(description="most requests waiting at one replica at once")
    mean_batch_size: float = Field(description="decode sequences per step, time-weighted over busy time")
    max_batch_size: int
    mean_kv_used: float
    max_kv_used: float
    busy_fraction: float = Field(description="share of the span replicas spent running steps (mean)")
    preemptions: int
    prefix_cache_hits: int = 0
    ramp_s: float = Field(default=0.0, description="p90 E2E of the first 10% of arrivals: how long "
                          "the system takes to fill (sim/metrics.py ramp_time_s)")
    steady: Steady | None = Field(default=None, description="the arrivals window after warm-up and "
                                  "ramp-up, without the drain: what $ and J per token use (None: "
                                  "too short a run; the whole run's rates stand)")
    timeline: Timeline = Timeline()


def dist(x: np.ndarray, weights: np.ndarray | None = None) -> Dist:
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return Dist()
    if weights is None:
        q = np.percentile(x, PERCENTILES)
        return Dist(mean=float(x.mean()), p50=float(q[0]), p90=float(q[1]), p99=float(q[2]),
                    max=float(x.max()), count=int(x.size))
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return Dist()
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    cw = np.cumsum(w)
    qs = [float(x[min(np.searchsorted(cw, p / 100 * cw[-1]), x.size - 1)]) for p in PERCENTILES]
    return Dist(mean=float(np.average(x, weights=w)), p50=qs[0], p90=qs[1], p99=qs[2],
                max=float(x.max()), count=int(w.sum()))


def compute_metrics(reqs: Sequence[Request], replicas: Sequence[ReplicaRecord], slo: SLO | None = None,
                    timeline_points: int = 100, warmup_s: float = 0.0) -> SimMetrics:
    """Metrics of finished requests `reqs` and the replicas' step logs (docs/sim.md).

    warmup_s: latency distributions and goodput leave out requests that arrived earlier (they
    met a cold, empty system); counts, throughput and time averages keep every request.
    """
    done = [r for r in reqs if r.finish_s >= 0 and not r.rejected]
    rejected = sum(1 for r in reqs if r.rejected)
    arr = np.array([r.arrival_s for r in done])
    fin = np.array([r.finish_s for r in done])
    first = np.array([r.first_token_s for r in done])
    sched = np.array([r.scheduled_s for r in done])
    ramp = ramp_time_s(arr, fin)
    front = np.array([r.front_s for r in done])  # API-server time before the engine's queue
    out = np.array([r.output_tokens for r in done], dtype=float)
    inp = np.array([r.input_tokens for r in done], dtype=float)
    if not done:
        empty = Dist()
        return SimMetrics(requests=len(reqs), completed=0, rejected=rejected, duration_s=0.0,
                          ttft_s=empty, tpot_s=empty, itl_s=empty, e2e_s=empty,
                          queue_wait_s=empty, requests_per_s=0.0, input_tok_s=0.0,
                          output_tok_s=0.0, total_tok_s=0.0, mean_in_system=0.0,
                          mean_queue_len=0.0, max_queue_len=0, mean_batch_size=0.0,
                          max_batch_size=0, mean_kv_used=0.0, max_kv_used=0.0,
                          busy_fraction=0.0, preemptions=0)
    t0, t1 = float(arr.min()), float(fin.max())
    span = max(t1 - t0, 1e-12)
    ttft = first - arr
    e2e = fin - arr
    # TPOT of requests that generated all their tokens here (not hand-offs of a prefill pool)
    multi = (out > 1) & np.array([r.out_left == 0 for r in done])
    measured = arr >= t0 + warmup_s if warmup_s > 0 else np.ones(len(done), dtype=bool)
    if not measured.any():
        measured[:] = True
    tpot = (fin[multi & measured] - first[multi & measured]) / (out[multi & measured] - 1)
    # ITL: decode step durations weighted by the tokens they emitted
    durs, weights, kv, batch_w, batch_dur = [], [], [], [], []
    busy = 0.0
    max_b = 0
    all_logs: list[StepLog] = [rep.log for rep in replicas]
    for log in all_logs:
        if not log.duration_s:
            continue
        d = np.array(log.duration_s)
        k = np.array(log.steps, dtype=float)
        b = np.array(log.decode_seqs, dtype=float)
        per_step = np.divide(d, k, out=np.zeros_like(d), where=k > 0)
        w = b * k  # prefill-only steps: b = 0, weight 0
        gap_s, gap_w = _paused_gaps(log, d, per_step, w)  # takes its tokens out of w
        durs += [per_step, gap_s]
        weights += [w, gap_w]
        kv.append(np.array(log.kv_used))
        batch_w.append(b * d)
        batch_dur.append(d)
        busy += float(d.sum())
        max_b = max(max_b, int(b.max()))
    itl = dist(np.concatenate(durs), np.concatenate(weights)) if durs else Dist()
    busy_total = float(sum(x.sum() for x in batch_dur)) if batch_dur else 0.0
    mean_b = float(sum(x.sum() for x in batch_w) / busy_total) if busy_total else 0.0
    kv_all = np.concatenate(kv) if kv else np.zeros(1)
    kv_w = np.concatenate(batch_dur) if batch_dur else np.ones(1)
    # Little's L and the queue, integrated by the replicas' own event bookkeeping
    for rep in replicas:
        rep.in_system.change(t1, 0)
        rep.in_queue.change(t1, 0)
    # + the API-server stage: each request spends exactly its front_s there
    l_sys = (sum(rep.in_system.area for rep in replicas) + float(front.sum())) / span
    l_q = sum(rep.in_queue.area for rep in replicas) / span
    max_q = max(rep.in_queue.peak for rep in replicas)
    good = good_rps = None
    if slo is not None and not slo.empty():
        tp = np.where(multi, (fin - first) / np.maximum(out - 1, 1), 0.0)
        ok = ((ttft <= slo.request_threshold("ttft")) & (tp <= slo.request_threshold("tpot"))
              & (e2e <= slo.request_threshold("e2e")))[measured]
        good = float(ok.sum() / (measured.sum() + rejected))
        good_rps = float(ok.sum() / span * len(done) / measured.sum())
    return SimMetrics(
        requests=len(reqs), completed=len(done), rejected=rejected, duration_s=span,
        ttft_s=dist(ttft[measured]), tpot_s=dist(tpot), itl_s=itl, e2e_s=dist(e2e[measured]),
        queue_wait_s=dist(np.maximum(sched - arr - front, 0.0)[measured]),
        requests_per_s=len(done) / span, input_tok_s=float(inp.sum() / span),
        output_tok_s=float(out.sum() / span), total_tok_s=float((inp.sum() + out.sum()) / span),
        goodput=good, goodput_requests_per_s=good_rps,
        mean_in_system=l_sys, mean_queue_len=l_q, max_queue_len=max_q,
        mean_batch_size=mean_b, max_batch_size=max_b,
        mean_kv_used=float(np.average(kv_all, weights=kv_w)) if kv_w.sum() else 0.0,
        max_kv_used=float(kv_all.max()),
        busy_fraction=min(busy / (span * len(replicas)), 1.0),
        preemptions=int(sum(r.preemptions for r in done)),
        prefix_cache_hits=int(sum(getattr(rep, "prefix_hits", 0) for rep in replicas)),
        ramp_s=ramp,
        steady=steady_window(first, fin, out.astype(float), all_logs, t0 + warmup_s, float(arr.max()),
                             len(replicas), ramp, t0),
        timeline=timeline(done, all_logs, t0, t1, timeline_points),
    )


def timeline(done: Sequence[Request], logs: Sequence[StepLog], t0: float, t1: float,
             points: int) -> Timeline:
    """Queue length (from request timestamps), batch size and KV use (from step logs)."""
    if t1 <= t0 or points < 2:
        return Timeline()
    grid = np.linspace(t0, t1, points)
    arr = np.sort(np.array([r.arrival_s for r in done]))
    engine_arr = np.sort(np.array([r.arrival_s + r.front_s for r in done]))  # the engine's queue
    sch = np.sort(np.array([r.scheduled_s for r in done]))
    queue = np.searchsorted(engine_arr, grid, side="right") - np.searchsorted(sch, grid, side="right")
    fin = np.sort(np.array([r.finish_s if r.finish_s >= 0 else np.inf for r in done]))
    in_sys = np.searchsorted(arr, grid, side="right") - np.searchsorted(fin, grid, side="right")
    batch = np.zeros(points)
    kvu = np.zeros(points)
    n = 0
    for log in logs:
        if not log.start_s:
            continue
        st = np.array(log.start_s)
        end = st + np.array(log.duration_s)
        i = np.clip(np.searchsorted(st, grid, side="right") - 1, 0, len(st) - 1)
        running = (grid >= st[i]) & (grid < end[i])
        batch += np.where(running, np.array(log.decode_seqs)[i], 0)
        kvu += np.array(log.kv_used)[i]
        n += 1
    n = max(n, 1)
    return Timeline(t_s=[round(float(x), 6) for x in grid], queue_len=queue.astype(float).tolist(),
                    batch_size=(batch / n).tolist(), kv_used=(kvu / n).tolist(),
                    in_system=in_sys.astype(float).tolist())


def _paused_gaps(log: StepLog, d: np.ndarray, per_step: np.ndarray,
                 weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inter-token gaps that span prompt steps of a prefill-first engine (StepLog.paused): the
    sequences held back wait through those steps and then their next decode step, one token
    each. Returns (gap seconds, tokens) for the ITL sample and takes those tokens out of
    `weight` (tokens per logged step) for the decode step that ends each gap: every token is
    counted once. `d` and `per_step`: each logged entry's seconds, and per step."""
    paused = np.array(log.paused, dtype=float)
    if not paused.any():
        return np.zeros(0), np.zeros(0)
    gaps, tokens = [], []
    wait, held = 0.0, 0.0
    for i in range(len(d)):
        if paused[i] > 0:
            wait += d[i]
            held = max(held, paused[i])
        elif weight[i] > 0 and wait > 0:
            n = min(held, float(log.decode_seqs[i]), weight[i])
            gaps.append(wait + per_step[i])
            tokens.append(n)
            weight[i] -= n
            wait, held = 0.0, 0.0
    return np.array(gaps), np.array(tokens)
