"""Precompute the error table that reports show: src/inferplan/report/data/accuracy.json.

    python tools/build_report_accuracy.py            # the bundled corpus + its LOSO

    python tools/build_report_accuracy.py [../shared/calibration/published.csv]

Per hardware class and per metric: in-sample error of the bundled profile (what
``inferplan validate`` prints) and leave-one-source-out error (each row predicted by factors
fitted on the other sources only; the same numbers as ``benchmarks/accuracy.py`` and the README).
Rerun after refitting ``calib/data/default.yaml`` or changing the performance model.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from inferplan.calib.calibrate import cross_validate, priors_only
from inferplan.calib.dataset import load_dataset
from inferplan.calib.validate import score_rows
from inferplan.catalog._load import load_yaml
from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict, load_efficiency
from inferplan.report.accuracy import ACCURACY_FILE, AccuracyGroup, AccuracySummary

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "src" / "inferplan" / "report" / "data" / ACCURACY_FILE


def _stats(xs: list[float]) -> tuple[float | None, float | None]:
    if not xs:
        return None, None
    return round(float(np.median(xs)), 4), round(float(np.percentile(xs, 90)), 4)


def _summary(data: str, rows: list, usable: list, in_sample: list, loso_ape: list[float | None],
             method: str) -> AccuracySummary:
    """Group the in-sample rows and the LOSO errors (one per usable row) by class and metric."""

    def groups(key) -> dict[str, AccuracyGroup]:
        ins: dict[str, list[float]] = defaultdict(list)
        cv: dict[str, list[float]] = defaultdict(list)
        for a, ape in zip(in_sample, loso_ape, strict=True):
            if a.ape is not None:
                ins[key(a)].append(a.ape)
            if ape is not None:
                cv[key(a)].append(ape)
        out = {}
        for k in sorted(set(ins) | set(cv)):
            m, p = _stats(ins[k])
            lm, lp = _stats(cv[k])
            out[k] = AccuracyGroup(rows=len(ins[k]), median_ape=m, p90_ape=p,
                                   loso_median_ape=lm, loso_p90_ape=lp)
        return out

    return AccuracySummary(
        data=data, rows=len(rows), sources=len({r.source for r in usable}),
        calibration="default",
        method=f"in-sample: bundled profile on every row; LOSO: {method}",
        generated=dt.date.today().isoformat(),
        by_hardware_class=groups(lambda r: r.hardware_class or "unknown"),
        by_metric=groups(lambda r: r.metric), overall=groups(lambda r: "all")["all"],
    )


def summarize(data: Path) -> AccuracySummary:
    """One CSV: in-sample error of the bundled profile and plain leave-one-source-out."""
    rows = load_dataset(data)
    usable = [r for r in rows if r.plan is not None]
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    loso, method = cross_validate(usable, prior, folds="source")
    return _summary(data.name, rows, usable, score_rows(usable, load_efficiency()),
                    [b.ape for b in loso], method)


def summarize_bundled(saved_path: Path) -> AccuracySummary:
    """The bundled corpus: in-sample error of the shipped profile, and the
    leave-one-source-out predictions saved by tools/calibrate_default.py (the README's numbers)."""
    from inferplan.calib.corpus import load_bundled
    from inferplan.calib.nested import cv_row_key

    saved = json.loads(saved_path.read_text())
    rows = load_bundled()
    usable = [r for r in rows if r.plan is not None]
    loso_ape: list[float | None] = []
    for r in usable:
        pred = saved["pred"].get(cv_row_key(r))
        loso_ape.append(None if pred is None or not np.isfinite(pred)
                        else abs(pred - r.measured) / r.measured)
    return _summary("bundled corpus", rows, usable, score_rows(usable, load_efficiency()),
                    loso_ape, saved["method"])


def main() -> None:
    if len(sys.argv) > 1:
        s = summarize(Path(sys.argv[1]))
    else:
        s = summarize_bundled(REPO / "src" / "inferplan" / "calib" / "data" / "loso_predictions.json")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(s.model_dump(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: {s.rows} rows, LOSO median "
          f"{s.overall.loso_median_ape:.0%}", file=sys.stderr)


if __name__ == "__main__":
    main()
