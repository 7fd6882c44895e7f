"""Refit the bundled efficiency profile on shared/calibration/published.csv.

    python tools/calibrate_default.py [path/to/published.csv]

Writes src/inferplan/calib/data/default.yaml (priors kept, fitted `value`s added, provenance
with before / in-sample / leave-one-source-out error) and prints the report. The published rows
are the only training data; the cross-validated error is the honest one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from inferplan.calib.calibrate import calibrate
from inferplan.perf.efficiency import default_profile_path

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    data = Path(argv[0]) if argv else REPO.parent / "shared" / "calibration" / "published.csv"
    out = default_profile_path()
    rep = calibrate([data], out, base=out, progress=lambda g: print(f"  fold {g} done", file=sys.stderr))
    for name, s in (("before (priors)", rep.before), ("after, in-sample", rep.after_in_sample),
                    (f"cross-validated, {rep.cv_method}", rep.cross_validated)):
        print(f"{name:45s} median APE {s.median_ape:.1%}  p90 {s.p90_ape:.1%}  "
              f"within 25% {s.within_25pct:.0%}  coverage {s.coverage:.0%}")
    for k, v in rep.fitted.items():
        print(f"  {k:45s} {v:.4g}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
