"""The bundled calibration corpus and the regime a measured row belongs to.

The corpus is every CSV in ``calib/data/corpus/`` (the canonical schema of
``shared/calibration/README.md``; ``published.csv`` is one of them), shipped with the package so
that ``inferplan validate --bundled`` and the default profile's fit see the same rows.

Regimes group rows whose error behaves alike (the interval table and the accuracy report are
by regime): exactly one *primary* regime per row, plus overlapping *tags* (``long-context``,
``moe``) for the report.
"""

from __future__ import annotations

from pathlib import Path

from inferplan.calib.dataset import Row, load_dataset

CORPUS_DIR = Path(__file__).resolve().parent / "data" / "corpus"

# Metric families: metrics of one family err alike (a speed and its reciprocal time).
METRIC_FAMILY = {
    "decode_tok_s_per_user": "decode", "tpot_ms": "decode",
    "ttft_ms": "prefill", "prefill_tok_s": "prefill",
    "output_tok_s": "throughput", "total_tok_s": "throughput", "requests_per_s": "throughput",
    "e2e_latency_s": "latency",
}
# +1: the metric grows with time (a latency); -1: it is a rate (grows with speed)
METRIC_TIME_SIGN = {"tpot_ms": 1, "ttft_ms": 1, "e2e_latency_s": 1}
PRIMARY_REGIMES = ("decode-b1", "prefill", "batch", "concurrency", "offline")
LONG_CONTEXT_TOKENS = 8192  # prompt + output at or above this: a long-context row


def bundled_csvs() -> list[Path]:
    """The corpus files shipped with the package, sorted by name."""
    return sorted(CORPUS_DIR.glob("*.csv"))


def load_bundled(hardware_files: tuple[Path, ...] = ()) -> list[Row]:
    """Every row of every bundled CSV (rows keep their file name in ``Row.origin``)."""
    rows: list[Row] = []
    for p in bundled_csvs():
        for r in load_dataset(p, hardware_files):
            r.origin = p.name
            rows.append(r)
    return rows


def regime(mode: str, batch: int | None, family: str, input_len: int, output_len: int) -> str:
    """Primary regime of a measurement or a prediction.

    mode: batch | concurrency | offline (offline_max); family: METRIC_FAMILY value.
    """
    if mode in ("offline", "offline_max"):
        return "offline"
    b = batch or 1
    if mode == "concurrency" and b > 1:
        return "concurrency"
    if family == "prefill" or output_len <= 1:
        return "prefill"
    return "decode-b1" if b <= 1 else "batch"


def row_regime(r: Row) -> str:
    """Primary regime of a corpus row (from its planned settings when it has a plan)."""
    fam = METRIC_FAMILY.get(r.metric, "throughput")
    if r.plan is not None:
        return regime(r.plan.mode, r.plan.batch, fam, r.plan.input_len, r.plan.output_len)
    raw = r.raw
    try:
        b = int(float(raw.get("batch") or 1))
        i = int(float(raw.get("input_len") or 0))
        o = int(float(raw.get("output_len") or 2))
    except ValueError:
        b, i, o = 1, 0, 2
    return regime((raw.get("mode") or "batch").strip(), b, fam, i, o)


def row_tags(r: Row) -> list[str]:
    """Overlapping tags: ``long-context`` and ``moe``."""
    tags = []
    if r.plan is not None:
        if r.plan.input_len + r.plan.output_len >= LONG_CONTEXT_TOKENS:
            tags.append("long-context")
        if r.plan.dep.model.is_moe:
            tags.append("moe")
    return tags
