"""Calibrate efficiency factors from measured rows; report honest (cross-validated) error.

``calibrate`` fits on all given rows and writes a profile; its error report has three parts:
before (priors), after (in-sample: the rows the fit saw) and cross-validated (each row predicted
by a fit that did not see it: leave-one-source-out, or k-fold when there is one source).
Only the cross-validated number says how well the model predicts new data.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel

from inferplan.calib.dataset import Row, load_dataset
from inferplan.calib.fit import FitResult, fit_factors
from inferplan.calib.validate import Summary, ValidationRow, score_rows, scored_row, summarize
from inferplan.catalog._load import load_yaml
from inferplan.errors import InputError
from inferplan.perf.efficiency import (  # noqa: F401 - priors_only re-exported
    Efficiency,
    default_profile_path,
    efficiency_from_dict,
    priors_only,
)


class CalibrationReport(BaseModel):
    data: list[str]
    rows: int
    fitted: dict[str, float]
    before: Summary
    after_in_sample: Summary
    cross_validated: Summary
    cv_method: str
    cv_rows: list[ValidationRow]
    profile_path: str | None


def _leading_comments(path: Path) -> str:
    """The comment block a profile file opens with (kept when the file is rewritten)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _key(k: tuple[str, str]) -> str:
    return f"{k[0]}[{k[1]}]"


def cross_validate(rows: list[Row], prior_eff: Efficiency, folds: str = "source",
                   k: int = 5, seed: int = 0, progress=None) -> tuple[list[ValidationRow], str]:
    """Predict each row with factors fitted on the other groups (source or random k-fold).

    The prior width is fixed (1); for the bundled corpus ``calib.nested`` averages the fits over
    several widths instead."""
    from inferplan.calib.fastpred import build_corpus_model
    from inferplan.calib.fit import fit_model

    model = build_corpus_model(rows, prior_eff)
    if folds == "source" and len({r.source for r in model.rows}) > 1:
        assign = np.array([r.source for r in model.rows])
        groups = sorted(set(assign))
        method = f"leave-one-source-out ({len(groups)} sources)"
    else:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(model.n_rows)
        assign = np.empty(model.n_rows, dtype=object)
        for j, i in enumerate(perm):
            assign[i] = int(j % k)
        groups = list(range(k))
        method = f"{k}-fold (seed {seed})"
    pred = np.full(model.n_rows, np.nan)
    for g in groups:
        test = assign == g
        if test.all() or not test.any():
            continue
        fit = fit_model(model, ~test)
        pred[test] = model.predict(fit.x)[test]  # type: ignore[arg-type]
        if progress:
            progress(g)
    scored = {id(r): scored_row(r, None if not np.isfinite(p) else float(p))
              for r, p in zip(model.rows, pred, strict=True)}
    return [scored[id(r)] for r in rows if id(r) in scored], method


def write_profile(path: Path, base_raw: dict, fit: FitResult, data: list[Path],
                  before: Summary, after: Summary, cv: Summary, cv_method: str,
                  header: str = "", method_note: str = "") -> None:
    raw = copy.deepcopy(base_raw)
    facs = raw.setdefault("factors", {})
    date = dt.date.today().isoformat()
    names = ", ".join(p.name for p in data) if len(data) <= 3 else f"{len(data)} files (provenance.fitted_on)"
    for (name, scope), v in sorted(fit.values.items()):
        entry = facs.setdefault(name, {}).setdefault(scope, {})
        entry.setdefault("prior", float(f"{fit.priors[(name, scope)]:.4g}"))
        entry.setdefault("source", ("prior of the unpacking cost (precisions.yaml)"
                                    if name == "dequant_ops_per_weight" else
                                    "scope added by calibration; prior inherited from the "
                                    "profile's wider scope"))
        entry["value"] = float(f"{v:.4g}")
        entry["fit_source"] = f"fitted on {fit.rows_used} rows of {names} ({date})"

    def s(x: Summary) -> dict:
        return {"median_ape": x.median_ape, "p90_ape": x.p90_ape, "coverage": x.coverage}

    raw["provenance"] = {
        "fitted_on": [p.name for p in data], "rows": fit.rows_used, "date": date,
        "method": "robust least squares (soft-L1) on log(predicted/measured) with log-normal priors"
                  + (f"; {method_note}" if method_note else ""),
        "error_before": s(before), "error_after_in_sample": s(after),
        "error_cross_validated": s(cv), "cv_method": cv_method,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    header = header or ("# Efficiency profile written by inferplan calibrate; see calib/data/default.yaml\n"
                        "# for the meaning of each factor. `prior` + `source`: before fitting; `value`: fitted.\n")
    tmp.write_text(header + yaml.safe_dump(raw, sort_keys=False, width=100), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves half a profile


def calibrate(data: list[Path], out: Path | None, base: Path | None = None, folds: str = "source",
              hardware_files: tuple[Path, ...] = (), progress=None) -> CalibrationReport:
    if not data:
        raise InputError("give at least one CSV of measurements")
    base_raw = load_yaml(base or default_profile_path())
    prior_eff = efficiency_from_dict(priors_only(base_raw), "priors")
    rows: list[Row] = []
    for p in data:
        rows.extend(load_dataset(p, hardware_files))
    usable = [r for r in rows if r.plan is not None]
    if not usable:
        raise InputError("no row of the data could be predicted (see `inferplan validate`)")
    before = summarize(score_rows(rows, prior_eff))
    fit = fit_factors(usable, prior_eff)
    after_eff = prior_eff.with_values(fit.values, "fitted")
    after = summarize(score_rows(rows, after_eff))
    cv_rows, method = cross_validate(usable, prior_eff, folds=folds, progress=progress)
    skipped = [v for v in score_rows([r for r in rows if r.plan is None], prior_eff)]
    cv = summarize(cv_rows + skipped)
    if out is not None:
        write_profile(out, priors_only(base_raw), fit, data, before, after, cv, method,
                      header=_leading_comments(base or default_profile_path()))
    return CalibrationReport(
        data=[str(p) for p in data], rows=len(rows),
        fitted={_key(k): v for k, v in sorted(fit.values.items())},
        before=before, after_in_sample=after, cross_validated=cv, cv_method=method,
        cv_rows=cv_rows + skipped, profile_path=str(out) if out else None,
    )
