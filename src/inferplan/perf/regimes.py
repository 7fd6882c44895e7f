"""Regimes and metric families: which measured rows err alike (no imports: used by perf too).

Exactly one *primary* regime per row or prediction (batch-1 decode, prefill, static batch,
concurrency, offline max); the accuracy report adds overlapping tags (long context, MoE).
"""

from __future__ import annotations

# Metric families: metrics of one family err alike (a speed and its reciprocal time).
METRIC_FAMILY = {
    "decode_tok_s_per_user": "decode", "tpot_ms": "decode",
    "ttft_ms": "prefill", "prefill_tok_s": "prefill",
    "output_tok_s": "throughput", "total_tok_s": "throughput", "requests_per_s": "throughput",
    "e2e_latency_s": "latency",
}
# metrics that are times (they grow as the system slows); every other metric is a rate
TIME_METRICS = frozenset({"tpot_ms", "ttft_ms", "e2e_latency_s"})
PRIMARY_REGIMES = ("decode-b1", "prefill", "batch", "concurrency", "offline")
LONG_CONTEXT_TOKENS = 8192  # prompt + output at or above this: a long-context row


def regime(mode: str, batch: int | None, family: str, input_len: int, output_len: int) -> str:
    """Primary regime of a measurement or a prediction.

    mode: batch | concurrency | offline (offline_max); family: a METRIC_FAMILY value.
    """
    if mode in ("offline", "offline_max"):
        return "offline"
    b = batch or 1
    if mode == "concurrency" and b > 1:
        return "concurrency"
    if family == "prefill" or output_len <= 1:
        return "prefill"
    return "decode-b1" if b <= 1 else "batch"
