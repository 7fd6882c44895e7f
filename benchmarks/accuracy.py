"""Accuracy of the performance model on shared/calibration/published.csv.

    python benchmarks/accuracy.py [published.csv] > benchmarks/results/accuracy.md

Three numbers per group, each on the same rows:
- priors: no fitting at all (the documented prior factors);
- in-sample: factors fitted on every row, scored on the same rows (optimistic);
- LOSO: leave-one-source-out cross-validation: each row is predicted by factors fitted on the
  other sources only. This is the honest estimate of error on new data.
Also random 5-fold CV (rows of the same source may share a fold's training set).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from inferplan.calib.calibrate import cross_validate, priors_only
from inferplan.calib.dataset import load_dataset
from inferplan.calib.fit import fit_factors
from inferplan.calib.validate import score_rows
from inferplan.catalog._load import load_yaml
from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict

REPO = Path(__file__).resolve().parent.parent


def med(xs):
    return f"{np.median(xs):.0%}" if xs else "-"


def p90(xs):
    return f"{np.percentile(xs, 90):.0%}" if xs else "-"


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared/calibration/published.csv"
    rows = load_dataset(data)
    usable = [r for r in rows if r.plan is not None]
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    fit = fit_factors(usable, prior)
    scored = {
        "priors": score_rows(usable, prior),
        "in-sample": score_rows(usable, prior.with_values(fit.values, "fit")),
        "LOSO": cross_validate(usable, prior, folds="source")[0],
        "5-fold": cross_validate(usable, prior, folds="kfold", k=5)[0],
    }
    print(f"Data: `{data.name}`, {len(rows)} rows, {len(usable)} predicted "
          f"(coverage {len(usable) / len(rows):.0%}). APE = |predicted - measured| / measured.\n")
    for title, key in (("hardware class", lambda r: r.hardware_class), ("metric", lambda r: r.metric),
                       ("source", lambda r: r.source)):
        groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for name, vs in scored.items():
            for v in vs:
                if v.ape is not None:
                    groups[key(v)][name].append(v.ape)
                    groups["**all**"][name].append(v.ape)
        print(f"| {title} | rows | priors median | in-sample median | LOSO median | LOSO p90 | 5-fold median |")
        print("|---|---|---|---|---|---|---|")
        for g in sorted(groups, key=lambda k: (k == "**all**", k)):
            d = groups[g]
            print(f"| {g} | {len(d['LOSO'])} | {med(d['priors'])} | {med(d['in-sample'])} | "
                  f"{med(d['LOSO'])} | {p90(d['LOSO'])} | {med(d['5-fold'])} |")
        print()


if __name__ == "__main__":
    main()
