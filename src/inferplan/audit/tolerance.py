"""The per-class error bands: the audit's fallback where no prediction interval applies.

Predicted values are judged against their own 80% prediction interval
(``checks/verdict.py``, :mod:`inferplan.perf.intervals`); these bands are what a verdict uses
when no interval table is available, and ``within`` is the exact comparison of specs and
arithmetic.

Lives here: the leave-one-source-out (LOSO) cross-validated error of the bundled profile per
hardware class, copied from ``benchmarks/results/accuracy.md`` (which is not packaged), and the
two comparisons every check uses (:func:`band_for`, :func:`within`). Not here: how the error was
measured (``benchmarks/accuracy.py``) or the efficiency factors themselves (``calib/``).

Fallback rule (docs/audit.md):

- a predicted *value* (tok/s, $/1M, seconds) agrees with a claim when the claimed interval,
  widened by the class's LOSO **median** error, contains it; the p90 is reported next to it;
- a *ratio* of two predictions agrees under the larger of the two classes' median errors;
- catalog facts and arithmetic are exact up to the rounding of the claim (no model error).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict

ERROR_SOURCE = (
    "LOSO cross-validated error of the bundled profile (default.yaml, fitted 2026-11-27) on the "
    "84 rows of shared/calibration/published.csv, 7 sources: README.md 'Accuracy', "
    "benchmarks/results/accuracy.md (python benchmarks/accuracy.py)"
)


class ErrorBand(BaseModel):
    """Relative error of predictions for one hardware class: |pred - meas| / meas."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hw_class: str
    rows: int
    median: float
    p90: float
    note: str = ""

    def text(self) -> str:
        base = f"{self.hw_class}: LOSO median {self.median:.0%}, p90 {self.p90:.0%} ({self.rows} rows)"
        return base + (f"; {self.note}" if self.note else "")


# Copied from benchmarks/results/accuracy.md (first table); tests/audit checks they still agree.
LOSO_ERROR: dict[str, ErrorBand] = {
    b.hw_class: b
    for b in (
        ErrorBand(hw_class="gpu", rows=51, median=0.17, p90=0.60),
        ErrorBand(hw_class="soc", rows=20, median=0.14, p90=0.60),
        ErrorBand(hw_class="cpu", rows=10, median=0.53, p90=3.19),
        ErrorBand(hw_class="wafer", rows=2, median=0.54, p90=0.69),
        ErrorBand(hw_class="lpu", rows=1, median=1.91, p90=1.91),
        ErrorBand(hw_class="all", rows=84, median=0.17, p90=0.80),
    )
}

# What the calibration data holds for the vendor comparisons a document may make (from
# benchmarks/results/accuracy.md, per-source table): stated wherever a check leans on it.
CALIBRATION_COVERAGE = {
    "gpu-amd": "6 rows, all from one source (amd-rocm-perf-results: AMD's own vLLM/ROCm results, "
               "8x MI300X, Llama-3.1 70B/405B fp8)",
    "gpu-nvidia": "45 rows from 3 sources (trtllm-perf-overview-v1.0, gpt-fast-readme, "
                  "xiongjiedai-gpu-benchmarks)",
}


def band_for(hw_class: str) -> ErrorBand:
    """The error band of a hardware class; classes without measured rows use the overall one."""
    if hw_class in LOSO_ERROR:
        return LOSO_ERROR[hw_class]
    b = LOSO_ERROR["all"]
    return b.model_copy(update={
        "hw_class": hw_class,
        "note": f"no measured {hw_class} rows: the all-class error is used, unvalidated for {hw_class}",
    })


def ratio_band(class_a: str, class_b: str) -> ErrorBand:
    """Band for a ratio of two predictions: the larger median of the two classes."""
    a, b = band_for(class_a), band_for(class_b)
    return a if a.median >= b.median else b


def within(value: float | None, low: float | None, high: float | None, tol: float = 0.0) -> bool:
    """True when a positive `value` lies in [low, high] widened by a factor (1 + tol) each side.

    A missing bound is open: within(5, 3, None) is "at least 3".
    """
    if value is None or not math.isfinite(value):
        return False
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    return value * (1 + tol) >= lo and value / (1 + tol) <= hi
