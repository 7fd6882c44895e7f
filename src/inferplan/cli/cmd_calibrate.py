"""`inferplan calibrate` and `inferplan calibration list/show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inferplan.errors import InferplanError


def register(app: typer.Typer) -> None:
    cal_app = typer.Typer(help="List or show calibration profiles in INFERPLAN_HOME.")
    app.add_typer(cal_app, name="calibration")

    @app.command()
    def calibrate(
        data: Annotated[list[Path], typer.Argument(help="CSV files in the canonical schema")],
        name: Annotated[str, typer.Option("--name", help="Profile name")] = "calibrated",
        out: Annotated[Path | None, typer.Option("--out", help="Profile path (default: INFERPLAN_HOME/profiles/NAME.yaml)")] = None,
        base: Annotated[Path | None, typer.Option("--base", help="Profile whose priors to start from")] = None,
        folds: Annotated[str, typer.Option("--cv", help="source (leave-one-source-out) or kfold")] = "source",
        hardware_file: Annotated[list[Path] | None, typer.Option("--hardware-file", help="YAML with extra hardware")] = None,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Fit efficiency factors to measured rows; write a profile; report cross-validated error."""
        from inferplan.calib.calibrate import calibrate as run_calibrate
        from inferplan.cli.main import fail
        from inferplan.config import home_dir
        from inferplan.store import now, try_record_run

        target = out or home_dir() / "profiles" / f"{name}.yaml"
        started = now()
        args = {"data": [str(p) for p in data], "name": name, "out": str(target),
                "base": str(base) if base else None, "cv": folds}
        try:
            rep = run_calibrate(list(data), target, base=base, folds=folds,
                                hardware_files=tuple(hardware_file or ()),
                                progress=lambda g: typer.echo(f"  cross-validation fold {g} done", err=True))
        except InferplanError as e:
            try_record_run("calibrate", args=args, started_at=started, status="error", error=str(e))
            fail(e)
            return
        try_record_run(
            "calibrate", args=args, started_at=started,
            summary={"profile": str(target), "rows": rep.rows, "cv": rep.cv_method,
                     "median_ape_before": rep.before.median_ape,
                     "median_ape_in_sample": rep.after_in_sample.median_ape,
                     "median_ape_cross_validated": rep.cross_validated.median_ape},
            result=rep.model_dump(exclude={"cv_rows"}), rows=[r.model_dump() for r in rep.cv_rows])
        if json_out:
            typer.echo(rep.model_dump_json(indent=2, exclude={"cv_rows"}))
            return
        for label, s in (("before (priors)", rep.before), ("after (in-sample)", rep.after_in_sample),
                         (f"cross-validated ({rep.cv_method})", rep.cross_validated)):
            med = "-" if s.median_ape is None else f"{s.median_ape:.1%}"
            p90 = "-" if s.p90_ape is None else f"{s.p90_ape:.1%}"
            typer.echo(f"{label:50s} median APE {med:>7s}  p90 {p90:>7s}  coverage {s.coverage:.0%}")
        typer.echo(f"profile written to {target} (use --calibration {target})")

    @cal_app.command("list")
    def calibration_list() -> None:
        """Profiles in INFERPLAN_HOME/profiles."""
        from inferplan.config import home_dir

        d = home_dir() / "profiles"
        files = sorted(d.glob("*.yaml")) if d.exists() else []
        if not files:
            typer.echo("no calibration profiles yet (inferplan calibrate DATA.csv)")
        for f in files:
            typer.echo(str(f))

    @cal_app.command("show")
    def calibration_show(name: Annotated[str, typer.Argument(help="Profile name or path")]) -> None:
        """Print a profile (its provenance and fitted factors)."""
        from inferplan.config import home_dir

        p = Path(name)
        if not p.exists():
            p = home_dir() / "profiles" / f"{name}.yaml"
        if not p.exists():
            typer.echo(f"Error: no profile '{name}' (inferplan calibration list)", err=True)
            raise typer.Exit(2)
        typer.echo(p.read_text(encoding="utf-8"))
