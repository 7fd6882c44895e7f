"""`inferplan validate`: predict every measured row and report the error (cli-contract.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

from inferplan.calib.dataset import Row, load_dataset
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.factors import resolve_factors


class ValidationRow(BaseModel):
    id: str
    metric: str
    measured: float | None  # None: the row's value cannot be read (status error)
    predicted: float | None
    ape: float | None
    status: str  # ok | over_2x (predicted, but off by more than 2x either way) | skipped | error
    error: str | None
    model_id: str = ""
    hardware_id: str = ""
    hardware_class: str = ""
    source: str = ""
    notes: list[str] = []


class GroupStats(BaseModel):
    rows: int
    median_ape: float | None
    p90_ape: float | None


class Summary(BaseModel):
    rows: int
    predicted: int
    coverage: float
    median_ape: float | None
    p90_ape: float | None
    within_25pct: float | None
    over_2x: float | None
    by_hardware_class: dict[str, dict]
    by_metric: dict[str, dict]


class ValidationReport(BaseModel):
    rows: list[ValidationRow]
    summary: Summary
    calibration: str = "default"


def score_rows(rows: list[Row], eff: Efficiency) -> list[ValidationRow]:
    out = []
    for r in rows:
        measured = r.measured if np.isfinite(r.measured) else None
        base = dict(id=r.id, metric=r.metric, measured=measured, model_id=r.raw.get("model_id") or "",
                    hardware_id=r.raw.get("hardware_id") or "", source=r.source or "", notes=r.notes)
        if r.plan is None:
            out.append(ValidationRow(**base, predicted=None, ape=None, status="error", error=r.error))
            continue
        f, _ = resolve_factors(r.plan.dep, eff)
        pred = r.predict(f)
        cls = r.plan.dep.hw.hw_class
        if pred is None or not np.isfinite(pred):
            out.append(ValidationRow(**base, predicted=None, ape=None, status="skipped",
                                     error="the estimate does not define this metric for the row",
                                     hardware_class=cls))
            continue
        ape = abs(pred - r.measured) / r.measured
        off = pred <= 0 or max(pred / r.measured, r.measured / pred) > OVER_2X
        out.append(ValidationRow(**base, predicted=pred, ape=ape,
                                 status="over_2x" if off else "ok", error=None, hardware_class=cls))
    return out


def _stats(apes: list[float]) -> tuple[float | None, float | None]:
    if not apes:
        return None, None
    a = np.asarray(apes)
    return float(np.median(a)), float(np.percentile(a, 90))


PREDICTED = ("ok", "over_2x")  # statuses of rows with a prediction (they count for coverage)
OVER_2X = 2.0  # a prediction off by more than this factor either way is flagged, not "ok"
MIN_COVERAGE = 0.5  # below this share of rows predicted, `inferplan validate` exits 1


def summarize(rows: list[ValidationRow]) -> Summary:
    ok = [r for r in rows if r.status in PREDICTED and r.ape is not None]
    apes = [r.ape for r in ok if r.ape is not None]
    med, p90 = _stats(apes)
    n = len(rows)

    def group(key) -> dict[str, dict]:
        g: dict[str, list[float]] = {}
        for r in ok:
            g.setdefault(key(r) or "unknown", []).append(r.ape)  # type: ignore[arg-type]
        res = {}
        for k, v in g.items():
            m, p = _stats(v)
            res[k] = GroupStats(rows=len(v), median_ape=m, p90_ape=p).model_dump()
        return res

    ratio = [max(r.predicted / r.measured, r.measured / r.predicted) for r in ok
             if r.predicted and r.measured]
    return Summary(
        rows=n, predicted=len(ok), coverage=len(ok) / n if n else 0.0, median_ape=med, p90_ape=p90,
        within_25pct=sum(a <= 0.25 for a in apes) / len(apes) if apes else None,
        over_2x=sum(x > 2 for x in ratio) / len(ratio) if ratio else None,
        by_hardware_class=group(lambda r: r.hardware_class), by_metric=group(lambda r: r.metric),
    )


def validate_csv(path: Path, calibration: Path | None = None,
                 hardware_files: tuple[Path, ...] = (), *,
                 record_history: bool = False) -> ValidationReport:
    """Predict every row of ``path``. With ``record_history`` (the CLI sets it) the run is
    recorded in the history (``inferplan.store``); a history that cannot be written only warns."""
    from inferplan.errors import InferplanError
    from inferplan.store import now, try_record_run

    started = now()
    args = {"data": str(path), "calibration": str(calibration) if calibration else None,
            "hardware_files": [str(p) for p in hardware_files]}
    try:
        eff = load_efficiency(calibration)
        rows = score_rows(load_dataset(path, hardware_files), eff)
    except InferplanError as e:
        if record_history:
            try_record_run("validate", args=args, started_at=started, status="error", error=str(e))
        raise
    rep = ValidationReport(rows=rows, summary=summarize(rows), calibration=eff.profile)
    if record_history:
        s = rep.summary
        try_record_run("validate", args=args, started_at=started,
                       summary={"data": Path(path).name, "calibration": rep.calibration,
                                "rows": s.rows, "predicted": s.predicted, "median_ape": s.median_ape,
                                "p90_ape": s.p90_ape},
                       result={"summary": s.model_dump(), "calibration": rep.calibration},
                       rows=[r.model_dump() for r in rows])
    return rep
