"""Calibration profiles in ``$INFERPLAN_HOME/profiles``: naming, listing, safe replacement.

The fit itself is :func:`inferplan.calib.calibrate.calibrate`; this module decides where its
profile goes. A profile is first written to a temporary folder, so the caller can show the
results before anything in the home is touched; :func:`install_profile` then moves it in
atomically, never over an existing profile without ``force`` (and keeps the previous one as
``NAME.prev.yaml`` when it does replace it).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inferplan.config import home_dir
from inferplan.errors import InputError
from inferplan.inputs import check_writable_out
from inferplan.store import StateError, atomic_write_text, recorded_run

if TYPE_CHECKING:
    from inferplan.calib.calibrate import CalibrationReport

__all__ = ["FittedProfile", "profile_target", "fit_profile", "install_profile", "list_profiles",
           "profile_summary", "read_profile_text"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def profiles_dir() -> Path:
    return home_dir() / "profiles"


def profile_target(name: str, out: Path | None = None, *, force: bool = False) -> Path:
    """Where a new profile goes; InputError if one is there and ``force`` is not given."""
    if out is None and not NAME.match(name):
        raise InputError(f"--name {name[:80]!r}: use 1-64 letters, digits, '-', '_' or '.'")
    if out is None and name.endswith(".prev"):  # the name of a replaced profile's backup
        raise InputError(f"--name {name[:80]!r}: names ending in .prev are the backups of replaced profiles")
    target = Path(out) if out is not None else profiles_dir() / f"{name}.yaml"
    if target.is_dir():
        raise InputError(f"{target} is a folder; --out takes a file path")
    if out is not None:
        check_writable_out(target)
    if target.exists() and not force:
        raise InputError(f"profile {target} already exists; pass --force to replace it (the "
                         f"previous one is kept as {_prev(target).name}) or choose another --name")
    return target


def _prev(target: Path) -> Path:
    return target.with_name(f"{target.stem}.prev{target.suffix or '.yaml'}")


@dataclass
class FittedProfile:
    report: CalibrationReport
    staged: Path  # the profile, written in a temporary folder
    target: Path


def fit_profile(data: list[Path], target: Path, *, base: Path | None = None, folds: str = "source",
                hardware_files: tuple[Path, ...] = (),
                progress: Callable[[int], None] | None = None, scope: str = "hardware") -> FittedProfile:
    """Fit and stage the profile (recorded in the history, an error too)."""
    from inferplan.calib.calibrate import calibrate

    if folds not in ("source", "kfold"):
        raise InputError(f"--cv must be 'source' or 'kfold', not {folds!r}")
    staged = Path(tempfile.mkdtemp(prefix="inferplan-profile-")) / target.name
    args = {"data": [Path(p) for p in data], "out": Path(target),
            "base": Path(base) if base else None, "cv": folds, "scope": scope}  # stored absolute
    with recorded_run("calibrate", args) as run:
        rep = calibrate(list(data), staged, base=base, folds=folds, hardware_files=hardware_files,
                        progress=progress, scope=scope)
        run.done(summary={"profile": str(target), "rows": rep.rows, "cv": rep.cv_method,
                          "median_ape_before": rep.before.median_ape,
                          "median_ape_in_sample": rep.after_in_sample.median_ape,
                          "median_ape_cross_validated": rep.cross_validated.median_ape},
                 result=rep.model_dump(exclude={"cv_rows"}),
                 rows=[r.model_dump() for r in rep.cv_rows])
    rep.profile_path = str(target)
    return FittedProfile(rep, staged, target)


def install_profile(fitted: FittedProfile, *, force: bool = False) -> Path | None:
    """Move the staged profile to its target atomically; returns where the previous one was
    kept (``force``), else None. StateError (naming the staged copy) if the home is read-only."""
    target = fitted.target
    text = fitted.staged.read_text(encoding="utf-8")
    kept = None
    try:
        if target.exists():
            if not force:
                raise InputError(f"profile {target} appeared meanwhile; not replaced (--force). "
                                 f"The new profile is at {fitted.staged}")
            kept = _prev(target)
            atomic_write_text(kept, target.read_text(encoding="utf-8"))
        atomic_write_text(target, text)
    except (StateError, OSError) as e:
        raise StateError(f"{e}; the fitted profile is kept at {fitted.staged}") from None
    fitted.staged.unlink(missing_ok=True)
    return kept


def list_profiles() -> list[Path]:
    d = profiles_dir()
    try:
        return sorted(p for p in d.glob("*.yaml") if not p.name.endswith(".prev.yaml")) if d.is_dir() else []
    except OSError as e:
        raise StateError(f"cannot list {d}: {e.strerror or e}") from None


def profile_summary(path: Path) -> dict:
    """A profile file's name, path and provenance (date, rows, held-out median error, data), or
    in ``problem`` why it is not a readable profile (a junk file in the folder is listed as such)."""
    import yaml

    row: dict = {"name": path.stem, "path": str(path), "date": None, "rows": None,
                 "cv_median_ape": None, "fitted_on": None, "problem": None}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:  # unreadable or invalid YAML
        row["problem"] = f"not a profile ({str(e).splitlines()[0][:60]})"
        return row
    if not isinstance(raw, dict) or "factors" not in raw:
        row["problem"] = "not a profile (no 'factors')"
        return row
    p = raw.get("provenance")
    prov: dict = p if isinstance(p, dict) else {}
    cv = prov.get("error_cross_validated")
    files = [str(x) for x in (prov.get("fitted_on") or [])]
    row.update(date=prov.get("date"), rows=prov.get("rows"),
               cv_median_ape=cv.get("median_ape") if isinstance(cv, dict) else None,
               fitted_on=", ".join(files[:3]) + (", ..." if len(files) > 3 else "") or None)
    return row


def profile_candidates(name: str) -> list[Path]:
    """Files a profile reference may mean: the path itself, then the named profile in the home."""
    stem = name[:-5] if name.endswith(".yaml") else name  # the file name `calibration list` shows
    candidates = [profiles_dir() / f"{stem}.yaml"] if NAME.match(stem) else []
    try:
        p = Path(name)
        if p.is_file():
            candidates.insert(0, p)
    except OSError:
        pass
    return candidates


def resolve_profile(name: str) -> Path:
    """A profile's path, by path or by name (``--calibration mybox``, as `calibration show`)."""
    for c in profile_candidates(name):
        if c.is_file():
            return c
    raise InputError(f"no profile '{name[:80]}': give a profile file or the name of one in "
                     f"{profiles_dir()} (inferplan calibration list)")


def read_profile_text(name: str) -> str:
    """A profile's text, by name (in the home) or path."""
    candidates = profile_candidates(name)
    for c in candidates:
        try:
            return c.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read profile {c}: {getattr(e, 'strerror', None) or e}") from None
    raise InputError(f"no profile '{name[:80]}' (inferplan calibration list)")
