"""Does the held-out error transfer from one source to the next? A diagnostic, not a model term.

    python benchmarks/transfer.py > benchmarks/results/transfer.md

Reads the held-out predictions that tools/calibrate_default.py saved
(src/inferplan/calib/data/loso_predictions.json: leave-one-source-out, width-averaged) and asks
whether a correction learned from *other* sources' held-out residuals improves a source's
rows. If the remaining error were a function of what the row says (class, metric, regime,
engine, layout, precision, batch, lengths), such a correction would learn it; if it is each
source's own (harness, build, tuning), it cannot. Second-level leave-one-source-out: for every
source, the correction is learned on the other sources' residuals and applied to its rows.

- ``group median``: shift a row by the source-weighted median residual (each source weighing
  the same, as the intervals do) of its interval group (perf/intervals.py ``group_keys``:
  class x metric family x regime, backing off to wider groups below ``MIN_SOURCES`` sources).
- ``boosted trees`` (only where scikit-learn is installed; not a dependency): a gradient-boosted
  model of the residual on 17 features, absolute loss, each source weighing the same.

Each is applied in full and at half strength. The other sources' residuals came from factors
fitted with the held-out source among their training rows, a small leak in the correction's
favour. Pure arithmetic on saved predictions: seconds (the trees: ~30 s on two cores).
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from inferplan.calib.corpus import METRIC_FAMILY, TIME_METRICS, load_bundled, row_regime
from inferplan.calib.nested import load_cv
from inferplan.perf.intervals import MIN_SOURCES, group_keys, speed_residual, weighted_quantiles

CV_PATH = Path(__file__).resolve().parents[1] / "src" / "inferplan" / "calib" / "data" / "loso_predictions.json"
STRENGTHS = (1.0, 0.5)
CATEGORICAL = ("class", "family", "regime", "metric", "mode", "engine")


def held_out_rows() -> tuple[list[Any], np.ndarray]:
    """The planned corpus rows with a held-out prediction, and their speed-oriented log residuals
    (log of predicted over measured speed; > 0: predicted too fast)."""
    rows = [r for r in load_bundled() if r.plan is not None]
    pred = load_cv(CV_PATH, rows).pred
    keep = [i for i, p in enumerate(pred) if np.isfinite(p) and p > 0]
    resid = np.array([speed_residual(float(pred[i]), rows[i].measured, rows[i].metric in TIME_METRICS)
                      for i in keep])
    return [rows[i] for i in keep], resid


def source_weights(sources: np.ndarray) -> np.ndarray:
    """1/n for each row of a source with n rows (every source weighs the same)."""
    count = Counter(sources.tolist())
    return np.array([1.0 / count[s] for s in sources.tolist()])


def group_median_shift(rows: list[Any], resid: np.ndarray) -> np.ndarray:
    """Each row's shift: the other sources' source-weighted median residual in the narrowest of
    its groups that has :data:`MIN_SOURCES` other sources (0 where none has)."""
    sources = np.array([r.source for r in rows])
    keys = [group_keys(r.plan.dep.hw.hw_class, METRIC_FAMILY.get(r.metric, "throughput"), row_regime(r), None)
            for r in rows]
    shift = np.zeros(len(rows))
    for s in sorted(set(sources.tolist())):
        others = sources != s
        w = np.where(others, source_weights(sources), 0.0)
        medians: dict[str, float | None] = {}
        for i in np.flatnonzero(~others):
            for key in keys[i]:
                if key not in medians:
                    m = others & np.array([key in k for k in keys])
                    enough = len(set(sources[m].tolist())) >= MIN_SOURCES
                    medians[key] = float(weighted_quantiles(resid[m], w[m], [0.5])[0]) if enough else None
                if medians[key] is not None:
                    shift[i] = medians[key]
                    break
    return shift


def features(rows: list[Any]) -> tuple[np.ndarray, list[bool]]:
    """A numeric feature matrix (categoricals as codes) and which columns are categorical."""
    cats: list[list[str]] = []
    nums: list[list[float]] = []
    for r in rows:
        plan, dep = r.plan, r.plan.dep
        kinds = {g.mixer_kind for g in dep.groups}
        cats.append([dep.hw.hw_class, METRIC_FAMILY.get(r.metric, "throughput"), row_regime(r), r.metric,
                     r.raw.get("mode", ""), r.raw.get("engine", "")])
        nums.append([float(dep.model.is_moe), float("mla" in kinds), float(bool(kinds - {"attention", "mla"})),
                     math.log2(max(dep.layout.tp, 1)), math.log2(max(dep.layout.ep, 1)),
                     math.log2(max(dep.layout.dp, 1)), float(dep.weight_precision.bits_per_weight),
                     math.log2(max(plan.batch or 1, 1)), math.log2(max(plan.input_len, 1)),
                     math.log2(max(plan.output_len, 1)), math.log10(max(dep.model.total_params, 1))])
    codes = [{v: i for i, v in enumerate(sorted({c[j] for c in cats}))} for j in range(len(CATEGORICAL))]
    x = np.array([[codes[j][c[j]] for j in range(len(CATEGORICAL))] + n for c, n in zip(cats, nums, strict=True)],
                 dtype=float)
    return x, [True] * len(CATEGORICAL) + [False] * len(nums[0])


def boosted_shift(rows: list[Any], resid: np.ndarray) -> np.ndarray | None:
    """Each row's shift from gradient-boosted trees fitted on the other sources (None without
    scikit-learn)."""
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError:
        return None
    x, categorical = features(rows)
    sources = np.array([r.source for r in rows])
    shift = np.zeros(len(rows))
    for s in sorted(set(sources.tolist())):
        train = sources != s
        model = HistGradientBoostingRegressor(loss="absolute_error", max_depth=2, learning_rate=0.05, max_iter=200,
                                              min_samples_leaf=40, categorical_features=categorical, random_state=0)
        model.fit(x[train], resid[train], sample_weight=source_weights(sources[train]))
        shift[~train] = model.predict(x[~train])
    return shift


def scores(rows: list[Any], resid: np.ndarray) -> tuple[float, float, int]:
    """(median |error| %, p90 %, rows off by more than 2x) in each metric's own terms."""
    is_time = np.array([r.metric in TIME_METRICS for r in rows])
    ape = np.abs(np.exp(np.where(is_time, -resid, resid)) - 1)
    return 100 * float(np.median(ape)), 100 * float(np.percentile(ape, 90)), int(np.sum(np.abs(resid) > math.log(2)))


def main() -> int:
    t0 = time.perf_counter()
    rows, resid = held_out_rows()
    n = len(rows)
    table = [("held out, as shipped", scores(rows, resid))]
    shifts = [("group median", group_median_shift(rows, resid)), ("boosted trees", boosted_shift(rows, resid))]
    for name, shift in shifts:
        if shift is None:
            table.append((f"{name}: skipped (scikit-learn is not installed)", None))
            continue
        for k in STRENGTHS:
            table.append((f"{name}, {'full' if k == 1 else f'x{k:g}'}", scores(rows, resid - k * shift)))
    print("# Does the held-out error transfer from one source to the next?\n")
    print(f"Generated by `benchmarks/transfer.py` ({time.strftime('%Y-%m-%d')}, {time.perf_counter() - t0:.1f} s); "
          f"method in its docstring. {n} held-out rows of {len({r.source for r in rows})} sources "
          "(src/inferplan/calib/data/loso_predictions.json), each corrected by what the other sources' residuals teach.\n")
    print("| correction | median | p90 | off > 2x |\n|---|---|---|---|")
    for name, sc in table:
        if sc is None:
            print(f"| {name} | | | |")
        else:
            print(f"| {name} | {sc[0]:.1f}% | {sc[1]:.1f}% | {sc[2]} ({100 * sc[2] / n:.1f}%) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
