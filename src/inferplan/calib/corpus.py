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
from inferplan.perf.regimes import (  # noqa: F401 - re-exported
    LONG_CONTEXT_TOKENS,
    METRIC_FAMILY,
    PRIMARY_REGIMES,
    TIME_METRICS,
    regime,
)

CORPUS_DIR = Path(__file__).resolve().parent / "data" / "corpus"


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
