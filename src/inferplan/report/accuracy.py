"""The tool's measured error, per hardware class, for reports.

Two sources:

- the bundled ``report/data/accuracy.json``, made by ``tools/build_report_accuracy.py`` from
  ``shared/calibration/published.csv``: in-sample error of the bundled profile *and*
  leave-one-source-out (LOSO) error, the honest number for an engine/source the model has not
  seen (the README's accuracy table; LOSO takes ~15 s, too slow to run per report);
- a live validation of a CSV the caller names (``inferplan report --validation DATA.csv``):
  in-sample error of the calibration in use, no LOSO.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

ACCURACY_FILE = "accuracy.json"


class AccuracyGroup(BaseModel):
    """Absolute percentage error (|predicted - measured| / measured) over `rows` rows."""

    model_config = ConfigDict(extra="forbid")
    rows: int
    median_ape: float | None  # in-sample: the profile scored on the rows it was fitted on
    p90_ape: float | None
    loso_median_ape: float | None = None  # leave-one-source-out cross-validation
    loso_p90_ape: float | None = None


class AccuracySummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str  # file the rows came from
    rows: int
    sources: int
    calibration: str
    method: str
    generated: str = ""
    by_hardware_class: dict[str, AccuracyGroup]
    by_metric: dict[str, AccuracyGroup]
    overall: AccuracyGroup


def bundled_accuracy() -> AccuracySummary | None:
    """The precomputed summary shipped with the package (None if it was not generated)."""
    f = resources.files("inferplan.report").joinpath("data", ACCURACY_FILE)
    if not f.is_file():
        return None
    return AccuracySummary.model_validate(json.loads(f.read_text(encoding="utf-8")))


def live_accuracy(csv: Path, calibration: Path | None = None,
                  hardware_files: tuple[Path, ...] = ()) -> AccuracySummary:
    """In-sample error of `calibration` on the rows of `csv` (``inferplan validate``'s numbers)."""
    import inspect

    from inferplan.calib.validate import validate_csv

    kw: dict = {}
    if "record_history" in inspect.signature(validate_csv).parameters:
        kw["record_history"] = False  # a report reads; it does not add to the run history
    rep = validate_csv(csv, calibration=calibration, hardware_files=hardware_files, **kw)
    s = rep.summary

    def groups(d: dict[str, dict]) -> dict[str, AccuracyGroup]:
        return {k: AccuracyGroup(rows=v["rows"], median_ape=v["median_ape"], p90_ape=v["p90_ape"])
                for k, v in sorted(d.items())}

    return AccuracySummary(
        data=csv.name, rows=s.rows, sources=len({r.source for r in rep.rows}),
        calibration=rep.calibration, method="in-sample: this calibration scored on these rows",
        by_hardware_class=groups(s.by_hardware_class), by_metric=groups(s.by_metric),
        overall=AccuracyGroup(rows=s.predicted, median_ape=s.median_ape, p90_ape=s.p90_ape),
    )
