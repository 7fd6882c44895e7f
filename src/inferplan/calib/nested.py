"""Nested leave-one-source-out cross-validation: the honest error of the calibrated model.

Outer loop: each source (a benchmark page, a paper, a repository) is held out in turn; its rows
are predicted by factors fitted on the other sources only. Inner loop, inside each outer fold:
the prior width (``prior_scale``, the one hyperparameter of the fit) is chosen by a grouped
k-fold cross-validation over the *training* sources alone, then the factors are refitted on all
training sources with that width. Nothing about the held-out source (its rows, its error)
influences its own prediction; the reported error is therefore an estimate of the error on a
new source, which is what a user brings.

The 80% prediction intervals are scored the same way: the interval of a held-out row comes
from the cross-validated residuals of the *other* sources (:mod:`inferplan.perf.intervals`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inferplan.calib.fastpred import CorpusModel
from inferplan.calib.fit import fit_model

PRIOR_SCALES = (1.0, 2.0, 4.0)  # grid of the inner cross-validation (multiplies every sigma)
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
    """Leave-one-source-out with a fixed prior width (no inner loop; quicker, for ablations)."""
    sources = np.array([r.source for r in model.rows])
    pred = np.full(model.n_rows, np.nan)
    for src in sorted(set(sources)):
        test = sources == src
        if (~test).any():
            fit = fit_model(model, ~test, prior_scale=scale, disabled=disabled, max_nfev=FIT_NFEV)
            pred[test] = model.predict(fit.x, disabled)[test]  # type: ignore[arg-type]
        if progress:
            progress(f"held out {src}")
    return CVResult(pred, f"leave-one-source-out (prior scale {scale:g})", {})
