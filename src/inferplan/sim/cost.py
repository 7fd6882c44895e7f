"""The simulator's cost model: step times from ``perf.step`` at microsecond cost per step.

:func:`inferplan.perf.step.step_work` is the only cost function; this module *tabulates* it
once per deployment so that the event loop can time tens of thousands of steps per second.
Nothing here re-derives FLOPs or bytes: every number comes from ``step_work`` evaluated on
numpy arrays, then is indexed or scaled.

How a step composition (b decode sequences at mean cached context C; p prefill tokens over s
sequences with c0 tokens cached before the chunk) is timed, per operator i of ``step_work``:

- everything that depends on the tokens through the weights (``tokens = b + p``: projections,
  experts, KV writes, link traffic) is read from a table evaluated at every integer token count;
- everything that depends on the rows that emit a token (``rows = b + s``: LM head, recurrent
  state) is the difference of two such tables (decode-only minus one-sequence prefill);
- attention over cached context is linear in query-key pairs (compute) and in KV tokens read
  (memory): ``alpha * pairs`` and ``beta * kv_read``, with separate slopes for decode and
  prefill pairs and the operator's window, all measured from ``step_work`` itself by probes;
- offloaded weights/KV over the host link overlap the device's work (``max`` of the two);
- per operator the compute and memory seconds go through :meth:`StepWork.op_times_s`'s smooth
  roofline, then links and fixed overheads are added, and the host's costs (step overhead, the
  per-sequence row) added or overlapped, exactly as ``StepWork.time_s`` does.

The decomposition is exact wherever ``step_work`` has that structure (tested against it over
random compositions of every model family in ``tests/sim/test_cost.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inferplan.perf.deployment import Deployment
from inferplan.perf.step import (
    ROOFLINE_P,
    Factors,
    StepWork,
    eager_kernel_units,
    graphed_prompt_tokens,
    small_kernel_count,
    step_work,
)

_PROBE_CTX = 1 << 24  # a context longer than any window: reveals each operator's window


def _effective(work: StepWork, f: Factors) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per operator (compute s, memory s) after efficiency factors; links + overheads; offload
    (:meth:`StepWork.effective_parts`, the same parts ``StepWork.time_s`` adds up)."""
    return work.effective_parts(f)


def causal_pairs_scalar(tokens: float, window: float) -> float:
    """Scalar twin of :func:`inferplan.perf.step.causal_pairs`."""
    if tokens <= window:
        return tokens * tokens / 2
    return window * tokens - window * window / 2


@dataclass
class _Op:
    tok_c: list[float]  # compute seconds as a function of tokens (one-sequence prefill table)
    tok_m: list[float]
    row_c: list[float]  # decode table minus prefill table: the per-row part
    row_m: list[float]
    alpha_d: float  # compute seconds per decode query-key pair
    beta_d: float  # memory seconds per cached token a decode sequence reads
    alpha_p: float  # compute seconds per prefill query-key pair
    beta_p: float  # memory seconds per cached token a prefill sequence reads
    window: float


class StepCost:
    """Step time of one replica of a deployment for any batch composition (seconds).

    ``max_tokens``: the largest number of tokens one step will carry (prefill budget plus
    decode sequences); larger steps fall back to calling ``step_work`` directly, as does a
    deployment whose ``step_work`` does not decompose as described above (``self.exact``).
    """

    def __init__(self, dep: Deployment, factors: Factors, max_tokens: int) -> None:
        self.dep, self.factors = dep, factors
        self._cum: list[float] = []  # decode_prefix_sums
        n = max(int(max_tokens), 2) + 1
        self.max_tokens = n - 1
        x = np.arange(n, dtype=float)
        dec_c, dec_m, dec_e, _ = _effective(step_work(dep, decode_seqs=x, decode_ctx=0.0), factors)
        pre_c, pre_m, _, _ = _effective(
            step_work(dep, prefill_tokens=x, prefill_seqs=np.minimum(x, 1.0)), factors)

        def probe(**comp: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            return _effective(step_work(dep, **comp), factors)

        # attention: slopes per pair and per cached token, and the window, from probes
        d0c, d0m, _, off0 = probe(decode_seqs=1.0, decode_ctx=0.0)
        d1c, d1m, _, off1 = probe(decode_seqs=1.0, decode_ctx=1.0)
        dbc, dbm, _, _ = probe(decode_seqs=1.0, decode_ctx=float(_PROBE_CTX))
        p0c, p0m, _, _ = probe(prefill_tokens=1.0, prefill_seqs=1.0, prefill_ctx=0.0)
        p1c, p1m, _, _ = probe(prefill_tokens=1.0, prefill_seqs=1.0, prefill_ctx=1.0)
        pbc, pbm, _, _ = probe(prefill_tokens=1.0, prefill_seqs=1.0, prefill_ctx=float(_PROBE_CTX))
        self.extra = [float(v) for v in dec_e]
        # steps that carry prompt tokens pay the eager dispatch of their layers (unless the engine
        # graphs them) and not the small-kernel minimum durations of decode steps
        self.prefill_extra = float(eager_kernel_units(dep) * factors.prefill_layer_overhead_s)
        self.small_extra = float(small_kernel_count(dep) * factors.small_kernel_s)
        self.graphed_prompt_tokens = graphed_prompt_tokens(dep)
        self.offload0 = float(off0)
        self.offload_per_ctx = float(off1 - off0)  # per cached token attended (not windowed)
        self.ops: list[_Op] = []
        for i in range(dec_c.shape[0]):
            slopes = (float(d1c[i] - d0c[i]), float(d1m[i] - d0m[i]),
                      float(p1c[i] - p0c[i]), float(p1m[i] - p0m[i]))
            far = (float(dbc[i] - d0c[i]), float(dbm[i] - d0m[i]),
                   float(pbc[i] - p0c[i]), float(pbm[i] - p0m[i]))
            window = math.inf
            for sl, fa in zip(slopes, far, strict=True):
                if sl > 0:
                    seen = fa / sl
                    if seen < _PROBE_CTX * (1 - 1e-6):
                        window = float(round(seen))
                    break
            # the one-sequence prefill table holds the causal pairs of its own chunk: remove them
            causal = np.array([causal_pairs_scalar(v, window) for v in x]) * slopes[2]
            tok_c = pre_c[i] - causal
            self.ops.append(_Op(
                tok_c=tok_c.tolist(), tok_m=pre_m[i].tolist(),
                row_c=(dec_c[i] - tok_c).tolist(), row_m=(dec_m[i] - pre_m[i]).tolist(),
                alpha_d=slopes[0], beta_d=slopes[1], alpha_p=slopes[2], beta_p=slopes[3],
                window=window))
        self._p = ROOFLINE_P
        self._inv_p = 1 / ROOFLINE_P
        # host costs (the step overhead, the per-sequence row: the last op) add to the device's
        # time, or overlap it under an overlap scheduler (StepWork.time_s)
        self.host_overlap = dep.engine.overlap_scheduler
        self.step_host_s = float(factors.step_overhead_s)
        self.exact = False
        self.exact = not self._self_check()

    def _self_check(self, n: int = 24, rtol: float = 1e-6) -> bool:
        """True when the tables reproduce ``step_work`` on a fixed set of compositions."""
        rng = np.random.default_rng(12345)
        top = min(self.max_tokens, 4096)
        for _ in range(n):
            s = int(rng.integers(0, 3))
            p = int(rng.integers(s, top // 2 + s)) if s else 0
            b = int(rng.integers(0 if p else 1, top - p + 1)) if top > p else 0
            if b + p == 0:
                b = 1
            dctx, pctx = float(rng.uniform(0, 3e4)), float(rng.uniform(0, 2e4)) if s else 0.0
            want = self.exact_time_s(decode_seqs=b, decode_ctx=dctx, prefill_tokens=p,
                                     prefill_seqs=s, prefill_ctx=pctx)
            if abs(self.time_s(b, dctx, p, s, pctx) - want) > rtol * want:
                return False
        return True

    # ------------------------------------------------------------------------------------
    def time_s(self, decode_seqs: int = 0, decode_ctx: float = 0.0, prefill_tokens: int = 0,
               prefill_seqs: int = 0, prefill_ctx: float = 0.0) -> float:
        """Seconds of one step; same arguments and meaning as :func:`step_work`."""
        b, p, s = decode_seqs, prefill_tokens, prefill_seqs
        tok = b + p
        rows = b + s
        if self.exact or tok > self.max_tokens or rows > self.max_tokens or (p and not s):
            return self.exact_time_s(decode_seqs=b, decode_ctx=decode_ctx, prefill_tokens=p,
                                     prefill_seqs=s, prefill_ctx=prefill_ctx)
        total = self.extra[tok]
        if p > 0:
            total += (self.prefill_extra if tok > self.graphed_prompt_tokens else 0.0) - self.small_extra
        P, inv = self._p, self._inv_p
        q = p / s if s else 0.0
        host = self.step_host_s
        last = len(self.ops) - 1
        for i, op in enumerate(self.ops):
            c = op.tok_c[tok] + op.row_c[rows]
            m = op.tok_m[tok] + op.row_m[rows]
            if op.alpha_d or op.beta_d or op.alpha_p or op.beta_p:
                w = op.window
                dctx = b * (decode_ctx if decode_ctx < w else w)
                c += op.alpha_d * dctx
                m += op.beta_d * dctx
                if s:
                    pctx = prefill_ctx if prefill_ctx < w else w
                    cp = q * q / 2 if q <= w else w * q - w * w / 2
                    c += op.alpha_p * (p * pctx + s * cp)
                    m += op.beta_p * s * pctx
            hi = c if c > m else m
            if hi > 0:
                t = hi * ((c / hi) ** P + (m / hi) ** P) ** inv
                if i == last:
                    host += t
                else:
                    total += t
        if self.host_overlap:
            total = total if total > host else host
        else:
            total += host
        if self.offload0 or self.offload_per_ctx:
            off = self.offload0 + self.offload_per_ctx * (b * decode_ctx + s * prefill_ctx)
            total = total if total > off else off
        return total

    def decode_run_s(self, b: int, ctx0: float, steps: int) -> tuple[float, float, float]:
        """Quadratic fit T(k) = t0 + a*k + c*k^2 of `steps` decode steps of `b` sequences whose
        mean context is ctx0 + k at step k (exact at k = 0, mid, last)."""
        t0 = self.time_s(b, ctx0)
        if steps <= 1:
            return t0, 0.0, 0.0
        k2 = steps - 1
        t2 = self.time_s(b, ctx0 + k2)
        if steps == 2:
            return t0, t2 - t0, 0.0
        k1 = k2 / 2
        t1 = self.time_s(b, ctx0 + k1)
        # through (0, t0), (k1, t1), (k2, t2)
        c = ((t2 - t0) / k2 - (t1 - t0) / k1) / (k2 - k1)
        a = (t1 - t0) / k1 - c * k1
        return t0, a, c

    def decode_prefix_sums(self, max_context: int) -> list[float]:
        """cum[c] = seconds of batch-1 decode steps at contexts 0 .. c-1 (exact, vectorized;
        kept and shared by the replicas of the deployment)."""
        if len(self._cum) < max_context + 2:
            ctx = np.arange(max_context + 1, dtype=float)
            t = step_work(self.dep, decode_seqs=1.0, decode_ctx=ctx).time_s(self.factors)
            self._cum = np.concatenate(([0.0], np.cumsum(t))).tolist()
        return self._cum

    def exact_time_s(self, **composition: float) -> float:
        """``step_work(...).time_s`` itself (the reference the tables reproduce)."""
        return float(step_work(self.dep, **composition).time_s(self.factors))


def run_sum_s(t0: float, a: float, c: float, k: int) -> float:
    """Sum of T(j) = t0 + a*j + c*j^2 for j = 0 .. k-1 (seconds)."""
    if k <= 0:
        return 0.0
    return k * t0 + a * k * (k - 1) / 2 + c * (k - 1) * k * (2 * k - 1) / 6


def steps_before(t0: float, a: float, c: float, kmax: int, budget_s: float) -> int:
    """How many of the first `kmax` steps *start* less than `budget_s` after the first starts."""
    if budget_s <= 0:
        return 0
    if run_sum_s(t0, a, c, kmax - 1) < budget_s:
        return kmax
    lo, hi = 0, kmax - 1  # start of step j is run_sum(j); step 0 starts at 0 < budget
    while lo < hi:  # largest j with run_sum(j) < budget, answer j + 1
        mid = (lo + hi + 1) // 2
        if run_sum_s(t0, a, c, mid) < budget_s:
            lo = mid
        else:
            hi = mid - 1
    return lo + 1
