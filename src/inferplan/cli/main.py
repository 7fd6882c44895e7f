"""The `inferplan` command: parse, call the library, print. Errors become exit codes here only.

Exit codes: 0 success, 1 a negative answer (does not fit), 2 bad input. Data goes to stdout
(``--json`` prints one JSON object), messages and progress to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from inferplan.cli.options import (
    BatchOpt,
    ClassOpt,
    ConcurrencyOpt,
    HostOpt,
    InputLenOpt,
    KvPrecisionOpt,
    OfflineOpt,
    OffloadOpt,
    OutputLenOpt,
    PrecisionOpt,
    SlotsOpt,
    SortOpt,
)
from inferplan.errors import InferplanError, InputError

app = typer.Typer(
    name="inferplan",
    help="Which hardware should serve this LLM, how fast, at what cost.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
hardware_app = typer.Typer(help="List or show catalog hardware.", no_args_is_help=False)
app.add_typer(hardware_app, name="hardware")

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Catalog model id/alias, or a config.json path or folder")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout")]
HwFileOpt = Annotated[list[Path] | None, typer.Option("--hardware-file", help="YAML with extra or overriding hardware")]
CalibOpt = Annotated[Path | None, typer.Option("--calibration", help="Calibration profile YAML (default: bundled)")]


def fail(err: InferplanError) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(err.exit_code)


def _parse_devices(devices: str) -> int | None:
    from inferplan.errors import InputError

    if devices in ("auto", ""):
        return None
    try:
        n = int(devices)
    except ValueError:
        raise InputError(f"--devices must be a positive integer or 'auto', not {devices!r}") from None
    if n < 1:
        raise InputError("--devices must be >= 1")
    return n


def _cost(cls, **kw):
    """Build CostAssumptions, turning validation errors into input errors."""
    from pydantic import ValidationError

    from inferplan.errors import InputError

    try:
        return cls(**kw)
    except ValidationError as e:
        bad = "; ".join(f"--{'-'.join(str(x) for x in err['loc']).replace('_', '-')}: {err['msg']}"
                        for err in e.errors())
        raise InputError(bad) from None


def _mode(batch: int | None, concurrency: int | None, offline: bool) -> tuple[str, int]:
    from inferplan.errors import InputError

    given = [x for x in (batch is not None, concurrency is not None, offline) if x]
    if len(given) > 1:
        raise InputError("choose one of --batch, --concurrency, --offline")
    if concurrency is not None:
        return "concurrency", concurrency
    if offline:
        return "offline", 0
    return "batch", 1 if batch is None else batch


@app.command()
def estimate(
    model: ModelOpt,
    hardware: Annotated[str, typer.Option("--hardware", "-H", help="Catalog hardware id or alias")],
    input_len: InputLenOpt,
    output_len: OutputLenOpt,
    devices: Annotated[str, typer.Option("--devices", help="N or 'auto' (fewest that fit)")] = "auto",
    tp: Annotated[int | None, typer.Option("--tp")] = None,
    pp: Annotated[int | None, typer.Option("--pp")] = None,
    ep: Annotated[int | None, typer.Option("--ep")] = None,
    precision: PrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    engine: Annotated[str | None, typer.Option("--engine")] = None,
    batch: BatchOpt = None,
    concurrency: ConcurrencyOpt = None,
    offline: OfflineOpt = False,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads (CPUs only)")] = None,
    offload: OffloadOpt = None,
    host: HostOpt = None,
    slots: SlotsOpt = None,
    usd_per_hour: Annotated[float | None, typer.Option("--usd-per-hour", help="Price per device")] = None,
    usd_per_kwh: Annotated[float, typer.Option("--usd-per-kwh", help="Electricity price (purchase-priced hardware)")] = 0.12,
    pue: Annotated[float, typer.Option("--pue", help="Power usage effectiveness (purchase-priced hardware)")] = 1.3,
    years: Annotated[float, typer.Option("--amortization-years", help="Purchase price amortized over")] = 3.0,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Predict TTFT, TPOT, throughput, memory, $ and J/token for one model on one hardware."""
    from inferplan.perf.estimate import CostAssumptions
    from inferplan.perf.estimate import estimate as run_estimate

    try:
        mode, n = _mode(batch, concurrency, offline)
        est = run_estimate(
            model, hardware, calibration=calibration,
            cost=_cost(CostAssumptions, usd_per_hour=usd_per_hour, usd_per_kwh=usd_per_kwh,
                       pue=pue, amortization_years=years),
            devices=_parse_devices(devices), tp=tp, pp=pp, ep=ep, precision=precision,
            kv_precision=kv_precision, engine=engine, mode=mode, batch=n,
            input_len=input_len, output_len=output_len, threads=threads, offload=offload,
            host=host, slots=slots, hardware_files=tuple(hardware_file or ()),
        )
    except InferplanError as e:
        fail(e)
        return
    if json_out:
        typer.echo(est.model_dump_json(indent=2, exclude={"why", "hardware_class", "dp"}))
    else:
        from inferplan.cli import render

        render.print_estimate(est)
    if not est.fits:
        raise typer.Exit(1)


@app.command()
def compare(
    model: ModelOpt,
    hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Comma-separated ids")] = None,
    all_hw: Annotated[bool, typer.Option("--all", help="Every catalog hardware")] = False,
    hw_class: ClassOpt = None,
    input_len: InputLenOpt = 1024,
    output_len: OutputLenOpt = 256,
    precision: PrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    batch: BatchOpt = None,
    concurrency: ConcurrencyOpt = None,
    offline: OfflineOpt = False,
    sort: SortOpt = "cost",
    show_unfit: Annotated[bool, typer.Option("--show-unfit", help="Also list hardware that cannot run it")] = False,
    offload: OffloadOpt = None,
    host: HostOpt = None,
    slots: SlotsOpt = None,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One workload across hardware: a ranked table with what bounds each."""
    from inferplan.compare import compare as run_compare

    try:
        mode, n = _mode(batch, concurrency, offline)
        if not hardware and not all_hw and not hw_class:
            all_hw = True
        res = run_compare(
            model, hardware=None if all_hw or not hardware else hardware.split(","),
            hw_class=hw_class, mode=mode, batch=n, input_len=input_len, output_len=output_len,
            precision=precision, kv_precision=kv_precision, sort=sort, calibration=calibration,
            hardware_files=tuple(hardware_file or ()), offload=offload, host=host, slots=slots,
        )
    except InferplanError as e:
        fail(e)
        return
    if json_out:
        typer.echo(res.model_dump_json(indent=2))
    else:
        from inferplan.cli import render

        render.print_compare(res, show_unfit=show_unfit)
    if not any(r.fits for r in res.rows):
        raise typer.Exit(1)


@app.command()
def fit(
    model: ModelOpt,
    context: Annotated[int, typer.Option("--context", help="Tokens per sequence (prompt + output)")] = 4096,
    batch: Annotated[int, typer.Option("--batch", help="Sequences held at once")] = 1,
    precision: PrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    hw_class: ClassOpt = None,
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Which hardware can hold the model (and the KV of `batch` sequences), on how many devices."""
    from inferplan.compare import fit as run_fit

    try:
        res = run_fit(model, context=context, batch=batch, precision=precision,
                      kv_precision=kv_precision, hw_class=hw_class,
                      hardware_files=tuple(hardware_file or ()))
    except InferplanError as e:
        fail(e)
        return
    if json_out:
        typer.echo(res.model_dump_json(indent=2))
    else:
        from inferplan.cli import render

        render.print_fit(res)
    if not any(r.fits for r in res.rows):
        raise typer.Exit(1)


@app.command()
def validate(
    data: Annotated[Path | None, typer.Argument(help="CSV in the canonical calibration schema")] = None,
    bundled: Annotated[bool, typer.Option("--bundled", help="Score the calibration corpus shipped with inferplan")] = False,
    loso: Annotated[bool, typer.Option("--loso", help="Nested leave-one-source-out: each source predicted by factors fitted on the others (the honest error)")] = False,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Predict every row of a measurement CSV (or the bundled corpus) and report the error."""
    import os

    # the fits multiply small matrices: BLAS threads only contend for the cores (set before numpy loads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from inferplan.calib.validate import validate_bundled, validate_csv

    def progress(msg: str) -> None:
        typer.echo(msg, err=True)

    try:
        if bundled == (data is not None):
            raise InputError("give a CSV file or --bundled (not both)")
        if bundled:
            rep = validate_bundled(calibration=calibration, loso=loso, progress=progress,
                                   hardware_files=tuple(hardware_file or ()))
        else:
            rep = validate_csv(data, calibration=calibration,  # type: ignore[arg-type]
                               hardware_files=tuple(hardware_file or ()), record_history=True,
                               loso=loso, progress=progress)
    except InferplanError as e:
        fail(e)
        return
    if json_out:
        typer.echo(rep.model_dump_json(indent=2))
    else:
        from inferplan.cli import render

        render.print_validation(rep)


@app.command()
def models(json_out: JsonOpt = False) -> None:
    """List the bundled models."""
    from inferplan.cli import render

    try:
        render.print_models(json_out)
    except InferplanError as e:
        fail(e)


@hardware_app.callback(invoke_without_command=True)
def hardware_list(
    ctx: typer.Context,
    hw_class: ClassOpt = None,
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List catalog hardware (``inferplan hardware show ID`` for one entry with sources)."""
    if ctx.invoked_subcommand:
        return
    from inferplan.cli import render

    try:
        render.print_hardware_list(hw_class, tuple(hardware_file or ()), json_out)
    except InferplanError as e:
        fail(e)


@hardware_app.command("show")
def hardware_show(
    hw_id: Annotated[str, typer.Argument(help="Hardware id or alias")],
    hardware_file: HwFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one hardware entry with its sources."""
    from inferplan.cli import render

    try:
        render.print_hardware(hw_id, tuple(hardware_file or ()), json_out)
    except InferplanError as e:
        fail(e)


@app.command()
def precisions(json_out: JsonOpt = False) -> None:
    """List weight/KV precisions (bits per weight, native compute)."""
    from inferplan.cli import render

    render.print_precisions(json_out)


@app.command()
def engines(json_out: JsonOpt = False) -> None:
    """List serving engines and their defaults."""
    from inferplan.cli import render

    render.print_engines(json_out)


# Command groups that live in their own modules (kept light at import: typer only). Each
# module exposes ``register(app)``; heavy imports happen inside the command functions.
COMMAND_MODULES = ("cmd_calibrate", "cmd_bench", "cmd_sim", "cmd_report", "cmd_audit")


def _register_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"inferplan.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"inferplan.cli.{name}":
                continue  # not built yet
            raise
        mod.register(app)


_register_modules()


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except InferplanError as e:  # pragma: no cover - commands catch their own
        typer.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    run()
