"""`inferplan validate`: predict every measured row and report the error (cli-contract.md).

Two ways to score:
- with a profile (default: the bundled one): every row predicted by that profile (in-sample on
  the rows the profile was fitted on; the summary's ``method`` names them);
- ``loso=True``: leave-one-source-out (:mod:`inferplan.calib.nested`): every row predicted by
  factors fitted on the other sources only, starting from the profile's priors, with the prior
  width averaged out (no hyperparameter tuned). This is the honest estimate of the error on new
  data.

Each predicted row also carries its 80% prediction interval (``predicted_low``/``_high``): from
the bundled interval table, or, under ``loso``, from the cross-validated residuals of the other
sources' rows (so the interval coverage reported is itself out-of-sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from inferplan.calib.corpus import (
    METRIC_FAMILY,
    TIME_METRICS,
    load_bundled,
    row_regime,
    row_tags,
)
from inferplan.calib.dataset import METRICS, Row, load_dataset, stated_engine
from inferplan.errors import InferplanError
from inferplan.perf.efficiency import Efficiency, load_efficiency
from inferplan.perf.factors import resolve_factors
from inferplan.perf.intervals import (
    INTERVAL_LEVEL,
    IntervalTable,
    build_table,
    interval,
    load_intervals,
    speed_residual,
)
from inferplan.perf.roofline import roof_clip


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
    predicted_low: float | None = None
    predicted_high: float | None = None
    regime: str = ""
    tags: list[str] = []
    origin: str = ""  # the CSV file


class GroupStats(BaseModel):
    rows: int
    median_ape: float | None
    p90_ape: float | None
    over_2x: float | None = None
    interval_coverage: float | None = None
    bias: float | None = None  # median log(predicted / measured): > 0 predicts too high


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
    sources: list[str] = []
    interval_coverage: float | None = None
    interval_level: float = INTERVAL_LEVEL
    by_source: dict[str, dict] = {}
    by_regime: dict[str, dict] = {}
    by_tag: dict[str, dict] = {}
    by_class_regime: dict[str, dict] = {}
    method: str = ""


class ValidationReport(BaseModel):
    rows: list[ValidationRow]
    summary: Summary
    calibration: str = "default"


PREDICTED = ("ok", "over_2x")  # statuses of rows with a prediction (they count for coverage)
OVER_2X = 2.0  # a prediction off by more than this factor either way is flagged, not "ok"
MIN_COVERAGE = 0.5  # below this share of rows predicted, `inferplan validate` exits 1


def _base(r: Row) -> dict:
    cls = r.plan.dep.hw.hw_class if r.plan is not None else ""
    measured = r.measured if np.isfinite(r.measured) else None
    return dict(id=r.id, metric=r.metric, measured=measured, model_id=r.raw.get("model_id") or "",
                hardware_id=r.raw.get("hardware_id") or "", source=r.source or "", notes=list(r.notes),
                hardware_class=cls, regime=row_regime(r), tags=row_tags(r), origin=r.origin)


def row_interval(r: Row, pred: float, table: IntervalTable | None) -> tuple[float | None, float | None]:
    """The 80% interval of a row's predicted metric from an interval table."""
    if table is None or r.plan is None:
        return None, None
    fam = METRIC_FAMILY.get(r.metric, "throughput")
    q_lo, q_hi, _ = table.lookup(r.plan.dep.hw.hw_class, fam, row_regime(r), row_support(r))
    lo, hi = interval(pred, r.metric in TIME_METRICS, q_lo, q_hi)
    fld, scale = METRICS.get(r.metric, ("", 1.0))
    lo, hi = roof_clip(r.plan, fld, lo / scale, hi / scale)  # type: ignore[arg-type]
    return lo * scale, hi * scale


def row_support(r: Row) -> str:
    """The row's corpus-support key (perf/intervals.py): the engine the row measured on its
    hardware, not the one that stands in for it where the catalog does not know it (ATOM rows,
    predicted with vLLM, are no measurement of vLLM on that hardware)."""
    from inferplan.catalog.engines import release_line
    from inferplan.perf.intervals import support_key

    hw_id = r.plan.dep.hw.id  # type: ignore[union-attr]
    eng = stated_engine(r.raw)
    if eng is None:
        return support_key((r.raw.get("engine") or "").strip() or "unknown", hw_id)
    return support_key(release_line(eng), hw_id)


def scored_row(r: Row, pred: float | None, low: float | None = None,
               high: float | None = None) -> ValidationRow:
    base = _base(r)
    if r.plan is None:
        return ValidationRow(**base, predicted=None, ape=None, status="error", error=r.error)
    if pred is None or not np.isfinite(pred) or pred <= 0 or base["measured"] is None:
        return ValidationRow(**base, predicted=None, ape=None, status="skipped",
                             error="the estimate does not define this metric for the row")
    ape = abs(pred - r.measured) / r.measured
    off = max(pred / r.measured, r.measured / pred) > OVER_2X
    return ValidationRow(**base, predicted=pred, ape=ape, status="over_2x" if off else "ok",
                         error=None, predicted_low=low, predicted_high=high)


def score_rows(rows: list[Row], eff: Efficiency,
               intervals: IntervalTable | None = None) -> list[ValidationRow]:
    """Every row predicted with the profile ``eff`` (intervals from ``intervals`` if given)."""
    out = []
    for r in rows:
        pred = None
        if r.plan is not None:
            f, _ = resolve_factors(r.plan.dep, eff)
            pred = r.predict(f)
        lo, hi = row_interval(r, pred, intervals) if pred and np.isfinite(pred) else (None, None)
        out.append(scored_row(r, pred, lo, hi))
    return out


def _stats(apes: list[float]) -> tuple[float | None, float | None]:
    if not apes:
        return None, None
    a = np.asarray(apes)
    return float(np.median(a)), float(np.percentile(a, 90))


def _ratio(r: ValidationRow) -> float:
    return max(r.predicted / r.measured, r.measured / r.predicted)  # type: ignore[operator]


def _covered(r: ValidationRow) -> bool | None:
    if r.predicted_low is None or r.predicted_high is None or r.measured is None:
        return None
    return r.predicted_low <= r.measured <= r.predicted_high


def group_stats(ok: list[ValidationRow]) -> GroupStats:
    apes = [r.ape for r in ok]  # type: ignore[misc]
    med, p90 = _stats(apes)  # type: ignore[arg-type]
    cov = [c for c in (_covered(r) for r in ok) if c is not None]
    logs = [math.log(r.predicted / r.measured) for r in ok]  # type: ignore[operator]
    return GroupStats(rows=len(ok), median_ape=med, p90_ape=p90,
                      over_2x=sum(_ratio(r) > OVER_2X for r in ok) / len(ok) if ok else None,
                      interval_coverage=sum(cov) / len(cov) if cov else None,
                      bias=float(np.median(logs)) if logs else None)


def summarize(rows: list[ValidationRow], method: str = "") -> Summary:
    ok = [r for r in rows if r.status in PREDICTED and r.ape is not None]
    apes = [r.ape for r in ok if r.ape is not None]
    med, p90 = _stats(apes)
    n = len(rows)

    def group(key, multi: bool = False) -> dict[str, dict]:
        g: dict[str, list[ValidationRow]] = {}
        for r in ok:
            for k in (key(r) if multi else [key(r)]):
                g.setdefault(k or "unknown", []).append(r)
        return {k: group_stats(v).model_dump() for k, v in sorted(g.items())}

    cov = [c for c in (_covered(r) for r in ok) if c is not None]
    return Summary(
        rows=n, predicted=len(ok), coverage=len(ok) / n if n else 0.0, median_ape=med, p90_ape=p90,
        within_25pct=sum(a <= 0.25 for a in apes) / len(apes) if apes else None,
        over_2x=sum(_ratio(r) > OVER_2X for r in ok) / len(ok) if ok else None,
        by_hardware_class=group(lambda r: r.hardware_class), by_metric=group(lambda r: r.metric),
        sources=sorted({r.source for r in rows if r.source}),
        interval_coverage=sum(cov) / len(cov) if cov else None,
        by_source=group(lambda r: r.source), by_regime=group(lambda r: r.regime),
        by_tag=group(lambda r: r.tags, multi=True),
        by_class_regime=group(lambda r: f"{r.hardware_class} {r.regime}"),
        method=method,
    )


# ---------------------------------------------------------------------------------------------
# cross-validated scoring


def cv_interval_rows(rows: list[Row], preds: np.ndarray, level: float = INTERVAL_LEVEL) -> list[ValidationRow]:
    """Score cross-validated predictions; each row's interval comes from the other sources'
    cross-validated residuals (leave-its-source-out on the residual pool), as a new source's
    (each source weighing the same, perf/intervals.py source_effect_quantiles), grouped by corpus
    support among those other sources."""
    classes = [r.plan.dep.hw.hw_class for r in rows]  # type: ignore[union-attr]
    fams = [METRIC_FAMILY.get(r.metric, "throughput") for r in rows]
    regs = [row_regime(r) for r in rows]
    srcs = np.array([r.source for r in rows])
    keys = [row_support(r) for r in rows]
    resid = np.array([speed_residual(p, r.measured, r.metric in TIME_METRICS)
                      if np.isfinite(p) and p > 0 else np.nan for r, p in zip(rows, preds, strict=True)])
    out = []
    tables: dict[str, IntervalTable] = {}
    for i, r in enumerate(rows):
        p = float(preds[i])
        lo = hi = None
        if np.isfinite(p) and p > 0:
            src = r.source
            if src not in tables:
                others = srcs != src
                tables[src] = build_table([c for c, o in zip(classes, others, strict=True) if o],
                                          [f for f, o in zip(fams, others, strict=True) if o],
                                          [g for g, o in zip(regs, others, strict=True) if o],
                                          resid[others], level, sources=list(srcs[others]),
                                          support=[k for k, o in zip(keys, others, strict=True) if o])
            lo, hi = row_interval(r, p, tables[src])
        out.append(scored_row(r, p if np.isfinite(p) else None, lo, hi))
    return out


def loso_rows(rows: list[Row], base: Path | None = None, averaged: bool = True,
              progress: Callable[[str], None] | None = None) -> tuple[list[ValidationRow], str, np.ndarray]:
    """Cross-validated predictions of ``rows`` (leave-one-source-out from the profile's priors,
    factors averaged over the prior widths; ``averaged=False``: one width, quicker).

    Returns the scored rows (unplannable rows as errors, in the input order), the method and
    the outer-fold predictions of the planned rows.
    """
    from inferplan.calib.fastpred import build_corpus_model
    from inferplan.calib.nested import averaged_loso, plain_loso
    from inferplan.catalog._load import load_yaml
    from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict, priors_only

    prior = efficiency_from_dict(priors_only(load_yaml(base or default_profile_path())), "priors")
    planned = [r for r in rows if r.plan is not None]
    if len({r.source for r in planned}) < 2:
        raise _single_source_error()
    model = build_corpus_model(planned, prior)
    cv = averaged_loso(model, progress=progress) if averaged else plain_loso(model, progress=progress)
    scored = cv_interval_rows(model.rows, cv.pred)
    by_id = {id(r): v for r, v in zip(model.rows, scored, strict=True)}
    out = [by_id[id(r)] if id(r) in by_id else scored_row(r, None) for r in rows]
    return out, cv.method, cv.pred


def _single_source_error():
    from inferplan.errors import InputError

    return InputError("leave-one-source-out needs rows from at least two sources (the `source` column)")


def validate_rows(rows: list[Row], calibration: Path | None = None, loso: bool = False,
                  progress: Callable[[str], None] | None = None, bundled: bool = False) -> ValidationReport:
    """Score ``rows`` with a profile, or by leave-one-source-out from its priors (see module
    docstring)."""
    if loso:
        scored, method, _ = loso_rows(rows, calibration, progress=progress)
        name = f"leave-one-source-out from the priors of {(calibration or Path('default')).stem}"
        if calibration is not None:
            from inferplan.catalog._load import load_yaml

            # the profile's priors (LOSO strips its values): the base's values, when calibrate wrote it
            seen = set((load_yaml(calibration).get("provenance") or {}).get("priors_fitted_on") or [])
            if seen:  # a profile written by calibrate: its priors are fitted values
                method += (f"; the profile's priors were fitted on {len(seen)} file(s) "
                           f"({', '.join(sorted(seen)[:3])}{', ...' if len(seen) > 3 else ''}): rows "
                           "of those are not held out from them")
    else:
        eff = load_efficiency(calibration)
        scored = score_rows(rows, eff, load_intervals())
        name = eff.profile
        fitted_on = ", ".join(eff.provenance.get("fitted_on") or []) or "see its provenance"
        method = (f"predicted with the {eff.profile} profile (fitted on {fitted_on}: in-sample on "
                  f"those rows); --loso gives the cross-validated error")
    return ValidationReport(rows=scored, summary=summarize(scored, method), calibration=name)


def validate_bundled(calibration: Path | None = None, loso: bool = False,
                     progress: Callable[[str], None] | None = None,
                     hardware_files: tuple[Path, ...] = ()) -> ValidationReport:
    """``inferplan validate --bundled [--loso]``: the corpus shipped with the package."""
    return validate_rows(load_bundled(hardware_files), calibration, loso, progress, bundled=True)


def validate_csv(path: Path, calibration: Path | None = None,
                 hardware_files: tuple[Path, ...] = (), *,
                 record_history: bool = False, loso: bool = False,
                 progress: Callable[[str], None] | None = None) -> ValidationReport:
    """Predict every row of ``path``. With ``record_history`` (the CLI sets it) the run is
    recorded in the history (``inferplan.store``); a history that cannot be written only warns."""
    from inferplan.store import now, try_record_run

    started = now()
    args = {"data": Path(path), "calibration": Path(calibration) if calibration else None,
            "hardware_files": [Path(p) for p in hardware_files], "loso": loso}  # store: absolute
    try:
        rep = validate_rows(load_dataset(path, hardware_files), calibration, loso, progress)
    except InferplanError as e:
        if record_history:
            try_record_run("validate", args=args, started_at=started, status="error", error=str(e))
        raise
    if record_history:
        s = rep.summary
        low = s.coverage < MIN_COVERAGE  # the CLI exits 1: an error, with the report kept
        try_record_run("validate", args=args, started_at=started, status="error" if low else "ok",
                       error=f"{s.coverage:.0%} of the rows predicted (below {MIN_COVERAGE:.0%})" if low else None,
                       summary={"data": Path(path).name, "calibration": rep.calibration,
                                "rows": s.rows, "predicted": s.predicted, "median_ape": s.median_ape,
                                "p90_ape": s.p90_ape},
                       result={"summary": s.model_dump(), "calibration": rep.calibration},
                       rows=[r.model_dump() for r in rep.rows])
    return rep
