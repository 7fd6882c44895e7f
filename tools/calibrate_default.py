"""Refit the bundled efficiency profile and interval table on the whole bundled corpus.

    OPENBLAS_NUM_THREADS=1 python tools/calibrate_default.py [--cv src/inferplan/calib/data/loso_predictions.json]

1. Leave-one-source-out over the corpus, the prior width averaged out (calib/nested.py): the
   honest error, and the cross-validated residuals the 80% intervals come from ->
   ``calib/data/intervals.yaml``. The held-out predictions are saved for benchmarks/accuracy.py
   (``--cv``).
2. The shipped factors are made the same way on every row: the mean (log space) of the fits at
   each prior width (the shipped profile may use all the data; the accuracy it reports is the
   leave-one-source-out one) -> ``calib/data/default.yaml`` (priors kept, fitted ``value``s and
   provenance added).
Progress on stderr; a summary on stdout.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime as dt  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from inferplan.calib.calibrate import _leading_comments, priors_only, write_profile  # noqa: E402
from inferplan.calib.corpus import (  # noqa: E402
    METRIC_FAMILY,
    TIME_METRICS,
    bundled_csvs,
    load_bundled,
    row_regime,
)
from inferplan.calib.fastpred import build_corpus_model  # noqa: E402
from inferplan.calib.fit import fit_model  # noqa: E402
from inferplan.calib.nested import averaged_loso, fit_averaged, load_cv, save_cv  # noqa: E402
from inferplan.calib.validate import cv_interval_rows, row_support, score_rows, summarize  # noqa: E402
from inferplan.catalog._load import load_yaml  # noqa: E402
from inferplan.errors import InputError  # noqa: E402
from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict  # noqa: E402
from inferplan.perf.intervals import (  # noqa: E402
    EXTRA_LEVELS,
    build_table,
    default_intervals_path,
    speed_residual,
    table_to_dict,
)

REPO = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> int:
    out = default_profile_path()
    base_raw = load_yaml(out)
    prior = efficiency_from_dict(priors_only(base_raw), "priors")
    rows = load_bundled()
    planned = [r for r in rows if r.plan is not None]
    log(f"{len(rows)} rows, {len(planned)} planned, {len({r.source for r in planned})} sources")
    model = build_corpus_model(planned, prior)
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--prior-scale", type=float, help="one prior width for the shipped fit (default: "
                    "the mean of the fits at every width, as inside each held-out fold)")
    ap.add_argument("--cv", type=Path, help="reuse the held-out predictions saved by an earlier run "
                    "(src/inferplan/calib/data/loso_predictions.json) on the same code and corpus, instead "
                    "of running leave-one-source-out again; every row must be in it")
    args = ap.parse_args()
    cache = REPO / "src" / "inferplan" / "calib" / "data" / "loso_predictions.json"
    if args.cv:
        try:
            cv = load_cv(args.cv, model.rows)
        except InputError as e:
            log(f"--cv: {e}")
            return 2
        log(f"held-out predictions read from {args.cv}")
    else:
        cv = averaged_loso(model, progress=log)
        save_cv(cache, model.rows, cv)
        log(f"wrote {cache}")
    cv_scored = cv_interval_rows(model.rows, cv.pred)
    unplanned = score_rows([r for r in rows if r.plan is None], prior)
    cv_sum = summarize(cv_scored + unplanned, cv.method)
    before = summarize(score_rows(rows, prior))

    # interval table from every row's cross-validated residual
    resid = np.array([speed_residual(p, r.measured, r.metric in TIME_METRICS)
                      if np.isfinite(p) and p > 0 else np.nan for r, p in zip(model.rows, cv.pred, strict=True)])
    date = dt.date.today().isoformat()
    table = build_table([r.plan.dep.hw.hw_class for r in model.rows],  # type: ignore[union-attr]
                        [METRIC_FAMILY.get(r.metric, "throughput") for r in model.rows],
                        [row_regime(r) for r in model.rows], resid,
                        sources=[r.source for r in model.rows],
                        support=[row_support(r) for r in model.rows], extra_levels=EXTRA_LEVELS,
                        provenance={"from": "leave-one-source-out residuals of the bundled corpus, "
                                            "as a new source's (each source weighing the same)",
                                    "rows": int(np.isfinite(resid).sum()), "date": date,
                                    "files": [p.name for p in bundled_csvs()],
                                    "interval_coverage_cv": cv_sum.interval_coverage})
    ipath = default_intervals_path()
    ipath.write_text("# 80% prediction intervals: written by tools/calibrate_default.py (perf/intervals.py)\n"
                     + yaml.safe_dump(table_to_dict(table), sort_keys=False, width=100), encoding="utf-8")
    log(f"wrote {ipath}")

    everything = np.ones(model.n_rows, bool)
    if args.prior_scale:
        fit = fit_model(model, everything, prior_scale=args.prior_scale, max_nfev=200)
        fit.message += f"; prior scale {args.prior_scale:g}"
    else:
        fit = fit_averaged(model, everything, max_nfev=200)
    after_eff = prior.with_values(fit.values, "fitted")
    after = summarize(score_rows(rows, after_eff))
    write_profile(out, priors_only(base_raw), fit, bundled_csvs(), before, after, cv_sum,
                  cv.method, header=_leading_comments(out), method_note=fit.message)
    log(f"wrote {out} ({fit.message})")
    for name, s in (("priors only", before), ("shipped profile, in-sample", after),
                    ("leave-one-source-out", cv_sum)):
        print(f"{name:28s} median {s.median_ape:.1%}  p90 {s.p90_ape:.1%}  >2x {s.over_2x:.1%}  "
              f"coverage {s.coverage:.0%}  interval coverage {s.interval_coverage or 0:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
