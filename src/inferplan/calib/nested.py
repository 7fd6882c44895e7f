"""Leave-one-source-out cross-validation: the honest error of the calibrated model.

Each source (a benchmark page, a paper, a repository) is held out in turn; its rows are
predicted by factors fitted on the other sources only, so nothing about the held-out source
influences its own prediction and the error is an estimate of the error on a new source, which
is what a user brings.

The fit has one hyperparameter, the width of the priors (``prior_scale``, multiplying every
sigma). It is **averaged out, not chosen** (:func:`averaged_loso`, what ``validate --loso`` and
the README report): the factors are the mean, in log space, of the fits at the widths of
``PRIOR_SCALES`` (a fixed, uniform hyper-prior over the width). With nothing tuned there is
nothing an inner loop could leak; the shipped profile is made the same way on every source
(:func:`fit_averaged`).

The earlier procedure is kept for comparison (:func:`nested_loso`): inside each outer fold the
width was *chosen* by a grouped k-fold cross-validation over the training sources. Its choice
flipped between neighbouring widths from one run to the next (seven folds took 1 in one run,
two in the one before), moving the reported p90 by +-3 points on changes that touched a few
rows; on the same code and corpus (2026-12-04, before the prompt-collision term) it read 19.8%
median / 65.6% p90 / 8.2% off by more than 2x where the averaged fit read 19.4% / 64.1% / 8.0%
and every fixed width was worse on at least one of the three (1: 20.6 / 66.2 / 8.6; 2: 19.7 /
64.1 / 7.8; 4: 19.8 / 64.8 / 8.5).

The 80% prediction intervals are scored the same way: the interval of a held-out row comes
from the cross-validated residuals of the *other* sources (:mod:`inferplan.perf.intervals`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inferplan.calib.fastpred import CorpusModel
from inferplan.calib.fit import FitResult, fit_model
from inferplan.errors import InputError

PRIOR_SCALES = (1.0, 2.0, 4.0)  # prior widths averaged over (multiply every sigma; fixed a priori)
INNER_FOLDS = 3
INNER_LOSS_CAP = 1.0  # |log ratio| is capped at this in the inner score (robust to one bad source)
FIT_NFEV = 60  # function evaluations per fit (converges in 10-30 on the corpus)


@dataclass
class CVResult:
    """Outer-fold predictions of every row of a CorpusModel (nan where undefined)."""

    pred: np.ndarray
    method: str
    chosen_scale: dict[str, float] = field(default_factory=dict)  # held-out source -> width

    def log_residuals(self, model: CorpusModel) -> np.ndarray:
        meas = np.array([r.measured for r in model.rows])
        ok = np.isfinite(self.pred) & (self.pred > 0)
        return np.where(ok, np.log(np.where(ok, self.pred, 1.0) / meas), np.nan)


def cv_row_key(row) -> str:
    """A corpus row's identity across runs (saved held-out predictions): file, source and id."""
    return f"{row.origin}|{row.source}|{row.id}"


def save_cv(path: Path, rows: list, cv: CVResult) -> None:
    """Write the held-out predictions of ``rows`` (``cv.pred`` in their order) and the method."""
    path.write_text(json.dumps({"method": cv.method,
                                "pred": {cv_row_key(r): (None if not np.isfinite(p) else float(p))
                                         for r, p in zip(rows, cv.pred, strict=True)}},
                               indent=0), encoding="utf-8")


def load_cv(path: Path, rows: list) -> CVResult:
    """The held-out predictions :func:`save_cv` wrote, in the order of ``rows``; an InputError
    when a row is not in the file (the corpus changed since: run leave-one-source-out again)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read saved held-out predictions {path}: {e}") from None
    keys = [cv_row_key(r) for r in rows]
    missing = [k for k in keys if k not in saved["pred"]]
    if missing:
        raise InputError(f"{path} does not match the corpus ({len(missing)} rows missing, e.g. "
                         f"{missing[0]}): run tools/calibrate_default.py without --cv")
    pred = np.array([np.nan if saved["pred"][k] is None else saved["pred"][k] for k in keys], dtype=float)
    return CVResult(pred, saved["method"])


def grouped_folds(sources: list[str], k: int) -> list[list[str]]:
    """Split sources into k groups, deterministically (sorted, round robin)."""
    ordered = sorted(set(sources))
    return [ordered[i::k] for i in range(min(k, len(ordered)))]


def _score(pred: np.ndarray, meas: np.ndarray) -> float:
    ok = np.isfinite(pred) & (pred > 0)
    r = np.where(ok, np.abs(np.log(np.where(ok, pred, 1.0) / meas)), INNER_LOSS_CAP)
    return float(np.mean(np.minimum(r, INNER_LOSS_CAP))) if len(r) else 0.0


def choose_prior_scale(model: CorpusModel, train: np.ndarray, sources: np.ndarray,
                       scales=PRIOR_SCALES, k: int = INNER_FOLDS,
                       disabled: tuple[str, ...] = ()) -> float:
    """The prior width with the lowest grouped k-fold error over the ``train`` rows only."""
    folds = grouped_folds(list(sources[train]), k)
    if len(folds) < 2 or len(scales) == 1:
        return float(scales[len(scales) // 2])
    meas = np.array([r.measured for r in model.rows])
    best, best_scale = np.inf, float(scales[0])
    for scale in scales:
        errs = []
        for held in folds:
            out = train & np.isin(sources, held)
            fit = fit_model(model, train & ~out, prior_scale=scale, disabled=disabled, max_nfev=FIT_NFEV)
            pred = model.predict(fit.x, disabled)  # type: ignore[arg-type]
            errs.append(_score(pred[out], meas[out]) * out.sum())
        total = sum(errs) / max(1, train.sum())
        if total < best - 1e-12:
            best, best_scale = total, float(scale)
    return best_scale


def nested_loso(model: CorpusModel, scales=PRIOR_SCALES, inner_k: int = INNER_FOLDS,
                disabled: tuple[str, ...] = (), progress: Callable[[str], None] | None = None) -> CVResult:
    """Nested leave-one-source-out predictions of every row (see module docstring)."""
    sources = np.array([r.source for r in model.rows])
    pred = np.full(model.n_rows, np.nan)
    chosen: dict[str, float] = {}
    groups = sorted(set(sources))
    for n, src in enumerate(groups, 1):
        test = sources == src
        train = ~test
        if not train.any():
            continue
        scale = choose_prior_scale(model, train, sources, scales, inner_k, disabled)
        fit = fit_model(model, train, prior_scale=scale, disabled=disabled, max_nfev=FIT_NFEV)
        pred[test] = model.predict(fit.x, disabled)[test]  # type: ignore[arg-type]
        chosen[src] = scale
        if progress:
            progress(f"fold {n}/{len(groups)}: held out {src} ({int(test.sum())} rows, prior scale {scale:g})")
    method = (f"nested leave-one-source-out ({len(groups)} sources; prior width chosen per fold "
              f"among {', '.join(f'{s:g}' for s in scales)} by {inner_k}-fold grouped CV on the "
              f"training sources)")
    return CVResult(pred, method, chosen)


def plain_loso(model: CorpusModel, scale: float = 1.0, disabled: tuple[str, ...] = (),
               progress: Callable[[str], None] | None = None) -> CVResult:
    """Leave-one-source-out with one fixed prior width (one fit per fold; quicker, for
    ablations): :func:`averaged_loso` over that width alone."""
    cv = averaged_loso(model, (scale,), disabled, progress)
    return CVResult(cv.pred, f"leave-one-source-out (prior scale {scale:g})", {})


def fit_averaged(model: CorpusModel, subset: np.ndarray, scales=PRIOR_SCALES, disabled: tuple[str, ...] = (),
                 max_nfev: int = FIT_NFEV) -> FitResult:
    """Factors averaged over the prior widths: the mean of the fits' log-values (a geometric
    mean of each factor), one fit per width of ``scales`` on the ``subset`` rows."""
    fits = [fit_model(model, subset, prior_scale=s, disabled=disabled, max_nfev=max_nfev) for s in scales]
    x = np.mean([f.x for f in fits if f.x is not None], axis=0)
    index = {p: j for j, p in enumerate(model.params)}
    keys = {k for f in fits for k in f.values}
    values = {k: float(np.exp(x[index[k]])) for k in keys}
    priors = {k: v for f in fits for k, v in f.priors.items()}
    widths = ", ".join(f"{s:g}" for s in scales)
    return FitResult(values, priors, fits[0].rows_used, all(f.success for f in fits),
                     f"factors = mean (log space) of the fits at prior widths {widths}", x)


def averaged_loso(model: CorpusModel, scales=PRIOR_SCALES, disabled: tuple[str, ...] = (),
                  progress: Callable[[str], None] | None = None) -> CVResult:
    """Leave-one-source-out predictions with the factors averaged over the prior widths
    (see module docstring): no hyperparameter is chosen, inside or outside a fold."""
    sources = np.array([r.source for r in model.rows])
    pred = np.full(model.n_rows, np.nan)
    groups = sorted(set(sources))
    for n, src in enumerate(groups, 1):
        test = sources == src
        if (~test).any():
            fit = fit_averaged(model, ~test, scales, disabled)
            pred[test] = model.predict(fit.x, disabled)[test]  # type: ignore[arg-type]
        if progress:
            progress(f"fold {n}/{len(groups)}: held out {src} ({int(test.sum())} rows)")
    method = (f"leave-one-source-out ({len(groups)} sources; factors averaged in log space over the "
              f"fits at prior widths {', '.join(f'{s:g}' for s in scales)}: no hyperparameter tuned)")
    return CVResult(pred, method, {})
