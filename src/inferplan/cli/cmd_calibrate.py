"""`inferplan calibrate` and `inferplan calibration list/show`: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inferplan.cli.options import Format, FormatOpt, HwFileOpt, JsonOpt, output_format
from inferplan.errors import InputError


def register(app: typer.Typer) -> None:
    cal_app = typer.Typer(help="List or show calibration profiles in INFERPLAN_HOME.")
    app.add_typer(cal_app, name="calibration")

    @app.command()
    def calibrate(
        data: Annotated[list[Path], typer.Argument(help="CSV files in the canonical schema", exists=True, dir_okay=False)],
        name: Annotated[str, typer.Option("--name", help="Profile name (letters, digits, - _ .)")] = "calibrated",
        out: Annotated[Path | None, typer.Option("--out", help="Profile path (default: INFERPLAN_HOME/profiles/NAME.yaml)", dir_okay=False)] = None,
        base: Annotated[Path | None, typer.Option("--base", help="Profile to update: its values are the fit's priors (default: the shipped profile)", exists=True, dir_okay=False)] = None,
        folds: Annotated[str, typer.Option("--cv", help="source (leave-one-source-out) or kfold")] = "source",
        scope: Annotated[str, typer.Option("--scope", help="hardware: fit each measured device's own factors (no other device's estimate changes); family: the profile-wide scopes (hardware family, engine, precision), as the shipped profile is fitted")] = "hardware",
        force: Annotated[bool, typer.Option("--force", help="Replace an existing profile (the previous one is kept as NAME.prev.yaml)")] = False,
        hardware_file: HwFileOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Fit efficiency factors to measured rows; write a profile; report cross-validated error.

        An existing profile is never replaced silently: without --force the command stops
        before fitting. The results are printed before the profile is written, so a home that
        cannot be written loses nothing (the profile is then left in a temporary folder)."""
        from inferplan.profiles import fit_profile, install_profile, profile_target

        target = profile_target(name, out, force=force)
        fitted = fit_profile(list(data), target, base=base, folds=folds, scope=scope,
                             hardware_files=tuple(hardware_file or ()),
                             progress=lambda g: typer.echo(f"  cross-validation fold {g} done", err=True))
        rep = fitted.report
        if json_out:
            typer.echo(rep.model_dump_json(indent=2, exclude={"cv_rows"}))
        else:
            for label, s in (("before (base profile)", rep.before), ("after (in-sample)", rep.after_in_sample),
                             (f"cross-validated ({rep.cv_method})", rep.cross_validated)):
                med = "-" if s.median_ape is None else f"{s.median_ape:.1%}"
                p90 = "-" if s.p90_ape is None else f"{s.p90_ape:.1%}"
                typer.echo(f"{label:50s} median APE {med:>7s}  p90 {p90:>7s}  coverage {s.coverage:.0%}")
        from inferplan.calib.validate import MIN_COVERAGE

        if rep.before.coverage < MIN_COVERAGE:
            typer.echo(f"Warning: only {rep.before.coverage:.0%} of the rows could be predicted (the "
                       "others are errors in `inferplan validate`: unknown ids, configurations that do not "
                       "fit); the profile is fitted on those rows alone", err=True)
        for line in rep.warnings:
            typer.echo(f"Warning: {line}", err=True)
        kept = install_profile(fitted, force=force)
        if kept:
            typer.echo(f"previous profile kept as {kept}", err=True)
        typer.echo(f"profile written to {target} (use --calibration {target})", err=json_out)

    @cal_app.command("list")
    def calibration_list(fmt: FormatOpt = Format.table, json_out: JsonOpt = False) -> None:
        """Profiles in INFERPLAN_HOME/profiles."""
        from inferplan.cli import render
        from inferplan.profiles import list_profiles, profile_summary

        files = list_profiles()
        rows = [profile_summary(f) for f in files]

        def table() -> None:
            if not files:
                typer.echo("no calibration profiles yet (inferplan calibrate DATA.csv)")
                return
            render.print_table(
                (render.Col("name", "left", 9), render.Col("date", "left", 5), render.Col("rows", "right", 5),
                 render.Col("held-out median", "right", 6), render.Col("fitted on", "left", 3, True),
                 render.Col("path", "left", 1, True)),
                [(r["name"], r["date"] or "-", str(r["rows"] or "-"),
                  "-" if r["cv_median_ape"] is None else f"{r['cv_median_ape']:.1%}",
                  r["fitted_on"] or r["problem"] or "-", r["path"]) for r in rows], "calibration profiles")

        render.emit(output_format(json_out, fmt), {"profiles": rows}, lambda: rows, table)

    @cal_app.command("show")
    def calibration_show(name: Annotated[str, typer.Argument(help="Profile name or path")],
                         json_out: JsonOpt = False) -> None:
        """Print a profile (its provenance and fitted factors; --json: the YAML as one object)."""
        import json

        import yaml

        from inferplan.perf.efficiency import efficiency_from_dict
        from inferplan.profiles import read_profile_text

        text = read_profile_text(name)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InputError(f"profile {name} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict) or not isinstance(data.get("factors"), dict):
            raise InputError(f"{name} is not an efficiency profile (a YAML mapping with 'factors')")
        efficiency_from_dict(data, name)  # its entries, as --calibration reads them
        typer.echo(json.dumps(data, indent=2, default=str) if json_out else text)
