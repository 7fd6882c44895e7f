"""The `inferplan` command: parse, call one library function, render.

Exit codes: 0 success, 1 a negative answer (does not fit, nothing served, SLO missed), 2 bad
input. Data goes to stdout (``--json``/``--format json`` prints one JSON object), messages and
progress to stderr. The library's errors (``InferplanError``) become ``Error: ...`` and their
exit code in one place, :class:`ErrorBoundary`; anything else escaping is a bug and keeps its
traceback.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from typer.core import TyperGroup

from inferplan.cli.options import (
    BatchOpt,
    CalibOpt,
    ClassOpt,
    ConcurrencyOpt,
    EngineOpt,
    EngineOptionOpt,
    EpOpt,
    Format,
    FormatOpt,
    HardwareOpt,
    HostOpt,
    HwFileOpt,
    InputLenOpt,
    JsonOpt,
    KvPrecisionOpt,
    ModelOpt,
    OfflineOpt,
    OffloadOpt,
    OutputLenOpt,
    PpOpt,
    PrecisionOpt,
    RequestsOpt,
    SlotsOpt,
    SortOpt,
    ThreadsOpt,
    TpOpt,
    number,
    output_format,
)
from inferplan.errors import InferplanError, InputError


class ErrorBoundary(TyperGroup):
    """The one place library errors become messages and exit codes (for every subcommand).

    Warnings (a skipped user file, a history that could not be written) print as one
    ``Warning: ...`` line on stderr."""

    def parse_args(self, ctx, args):
        ctx.meta[_JSON_KEY] = _wants_json(list(args))
        args = _json_after_command(self, ctx, list(args))
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as e:
            if not ctx.meta[_JSON_KEY]:
                raise
            _usage_error_json(e)

    def invoke(self, ctx):
        def show(message, category, filename, lineno, file=None, line=None):
            typer.echo(f"Warning: {message}", err=True)

        old = warnings.showwarning
        warnings.showwarning = show
        json_out = ctx.meta.get(_JSON_KEY, False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                warnings.showwarning = show
                return super().invoke(ctx)
        except InferplanError as e:
            typer.echo(f"Error: {e}", err=True)
            if json_out:
                typer.echo(error_json(e, e.exit_code))
            raise typer.Exit(e.exit_code) from None
        except _USAGE_ERROR as e:
            if json_out:
                _usage_error_json(e)
            raise
        finally:
            warnings.showwarning = old


_JSON_KEY = "inferplan.json_out"
# click's UsageError (bad options, missing values), whether typer uses click or its own copy
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _usage_error_json(e) -> NoReturn:
    """A usage error of a ``--json`` command: click's message on stderr, the JSON error
    document on stdout, its exit code."""
    e.show()
    typer.echo(error_json(e, e.exit_code))
    raise typer.Exit(e.exit_code) from None


def _json_after_command(group, ctx, args: list[str]) -> list[str]:
    """``inferplan --json estimate ...`` reads as ``inferplan estimate --json ...`` (and
    ``inferplan --json models show X`` as ``inferplan models show --json X``): a ``--json``
    before the command path moves after its last name (the groups have no ``--json``)."""
    if "--json" not in args:
        return args
    i, last, cmd = args.index("--json"), None, group
    for j, a in enumerate(args):
        if a.startswith("-"):
            continue
        sub = cmd.get_command(ctx, a) if hasattr(cmd, "get_command") else None
        if sub is None:
            break
        cmd, last = sub, j
    if last is None:  # no command: the error is about the rest (the JSON flag is kept in ctx.meta)
        return args[:i] + args[i + 1:]
    if last < i:
        return args
    return args[:i] + args[i + 1:last + 1] + ["--json"] + args[last + 1:]


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON output (``--json``, ``--format json``)."""
    return "--json" in args or "--format=json" in args or any(
        a == "--format" and b == "json" for a, b in zip(args, args[1:], strict=False))


def error_json(e: Exception, exit_code: int) -> str:
    """The JSON object a ``--json`` command prints on stdout when it fails (besides the
    ``Error: ...`` line on stderr), so a pipeline reading stdout gets one JSON document either
    way: ``{"error": {"type": "DoesNotFitError", "message": "...", "exit_code": 1}}``."""
    import json

    msg = e.format_message() if hasattr(e, "format_message") else str(e)
    return json.dumps({"error": {"type": type(e).__name__, "message": msg, "exit_code": exit_code}},
                      indent=2)


def _version(value: bool) -> None:
    if value:
        from inferplan.store import package_version

        typer.echo(f"inferplan {package_version()}")
        raise typer.Exit(0)


app = typer.Typer(
    name="inferplan",
    cls=ErrorBoundary,
    help="Which hardware should serve this LLM, how fast, at what cost.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
hardware_app = typer.Typer(help="List or show catalog hardware.", no_args_is_help=False)
app.add_typer(hardware_app, name="hardware")
models_app = typer.Typer(help="List the bundled models or show one.", no_args_is_help=False)
app.add_typer(models_app, name="models")


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit")] = False,
) -> None:
    """Which hardware should serve this LLM, how fast, at what cost."""


def _mode(batch: int | None, concurrency: int | None,
          offline: bool) -> tuple[Literal["batch", "concurrency", "offline"], int]:
    from inferplan.errors import InputError

    given = [x for x in (batch is not None, concurrency is not None, offline) if x]
    if len(given) > 1:
        raise InputError("choose one of --batch, --concurrency, --offline")
    if concurrency is not None:
        return "concurrency", concurrency
    if offline:
        return "offline", 0
    return "batch", 1 if batch is None else batch


def _devices(text: str) -> int | None:
    from inferplan.errors import InputError
    from inferplan.inputs import check_int

    if text.strip() in ("auto", ""):
        return None
    try:
        return check_int("--devices", text, "devices")
    except InputError as e:
        raise InputError(f"{e} (or 'auto')") from None


@app.command()
def estimate(
    model: ModelOpt,
    hardware: HardwareOpt,
    input_len: InputLenOpt = 1024,
    output_len: OutputLenOpt = 256,
    devices: Annotated[str, typer.Option("--devices", help="N or 'auto' (fewest that fit)")] = "auto",
    tp: TpOpt = None,
    pp: PpOpt = None,
    ep: EpOpt = None,
    precision: PrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    engine: EngineOpt = None,
    batch: BatchOpt = None,
    concurrency: ConcurrencyOpt = None,
    offline: OfflineOpt = False,
    requests: RequestsOpt = None,
    threads: ThreadsOpt = None,
    offload: OffloadOpt = None,
    host: HostOpt = None,
    slots: SlotsOpt = None,
    engine_option: EngineOptionOpt = None,
    usd_per_hour: Annotated[float | None, typer.Option("--usd-per-hour", parser=number("--usd-per-hour", "usd_per_hour"), help="Price per device")] = None,
    usd_per_kwh: Annotated[float, typer.Option("--usd-per-kwh", parser=number("--usd-per-kwh", 100.0), help="Electricity price (purchase-priced hardware)")] = 0.12,
    pue: Annotated[float, typer.Option("--pue", parser=number("--pue", 10.0, lo=1.0, lo_open=False), help="Power usage effectiveness (purchase-priced hardware)")] = 1.3,
    years: Annotated[float, typer.Option("--amortization-years", parser=number("--amortization-years", 100.0), help="Purchase price amortized over")] = 3.0,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    evidence: Annotated[int, typer.Option("--evidence", min=0, max=50, help="Also show the N bundled published measurements nearest to this configuration, each with the tool's held-out prediction of it (JSON: 'evidence')")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Predict TTFT, TPOT, throughput, memory, $ and J/token for one model on one hardware."""
    from inferplan.catalog.engines import parse_engine_options
    from inferplan.inputs import build
    from inferplan.perf.cost import CostAssumptions
    from inferplan.perf.estimate import estimate as run_estimate

    mode, n = _mode(batch, concurrency, offline)
    est = run_estimate(
        model, hardware, calibration=calibration,
        cost=build(CostAssumptions, usd_per_hour=usd_per_hour, usd_per_kwh=usd_per_kwh, pue=pue,
                   amortization_years=years),
        devices=_devices(devices), tp=tp, pp=pp, ep=ep, precision=precision,
        kv_precision=kv_precision, engine=engine, mode=mode, batch=n,
        input_len=input_len, output_len=output_len, threads=threads, offload=offload,
        host=host, slots=slots, engine_options=parse_engine_options(engine_option or []),
        hardware_files=tuple(hardware_file or ()), requests=requests,
    )
    near = _evidence(est, model, evidence, tuple(hardware_file or ())) if evidence else None
    if json_out:
        if near is None:
            typer.echo(est.model_dump_json(indent=2))  # the contract's fields and more (why, dp...)
        else:
            typer.echo(json.dumps(est.model_dump(mode="json") | {"evidence": near.model_dump(mode="json")}, indent=2))
    else:
        from inferplan.cli import render

        render.print_estimate(est, evidence_hint=near is None)
        if near is not None:
            from inferplan.cli.render_evidence import print_evidence

            print_evidence(near)
    if not est.fits:
        raise typer.Exit(1)


def _evidence(est: Any, model: str, k: int, hardware_files: tuple[Path, ...]) -> Any:
    """The ``k`` bundled measurements nearest to an estimate of ``model`` (calib/evidence.py)."""
    from inferplan.calib.evidence import nearest, query_for

    return nearest(query_for(est, model, hardware_files), k)


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
    requests: RequestsOpt = None,
    sort: SortOpt = "cost",
    show_unfit: Annotated[bool, typer.Option("--show-unfit", help="Also list hardware that cannot run it")] = False,
    offload: OffloadOpt = None,
    host: HostOpt = None,
    slots: SlotsOpt = None,
    engine: Annotated[str | None, typer.Option("--engine", help="Serving engine on every device it runs on (the others are listed as unfit); default: each device's usual one")] = None,
    threads: ThreadsOpt = None,
    engine_option: EngineOptionOpt = None,
    devices: Annotated[int | None, typer.Option("--devices", min=1, max=4096, help="That many of each device (default: the fewest that fit, or a larger layout where it ranks better)")] = None,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    fmt: FormatOpt = Format.table,
    json_out: JsonOpt = False,
) -> None:
    """One workload across hardware: a ranked table with what bounds each."""
    from inferplan.catalog.engines import parse_engine_options
    from inferplan.cli import render
    from inferplan.compare import compare as run_compare

    mode, n = _mode(batch, concurrency, offline)
    if hardware is not None and all_hw:
        raise InputError("--all and --hardware contradict each other: give one")
    if hardware is not None and not hardware.replace(",", "").strip():
        raise InputError(f"no hardware named: --hardware {hardware!r} (leave it out, or --all, for every device)")
    if not hardware and not all_hw and not hw_class:
        all_hw = True
    res = run_compare(
        model, hardware=None if all_hw or not hardware else hardware.split(","),
        hw_class=hw_class, mode=mode, batch=n, input_len=input_len, output_len=output_len,
        precision=precision, kv_precision=kv_precision, sort=sort, calibration=calibration,
        hardware_files=tuple(hardware_file or ()), offload=offload, host=host, slots=slots,
        requests=requests, engine=engine, threads=threads,
        engine_options=dict[str, str | float](parse_engine_options(engine_option or [])) or None,
        devices=devices,
    )
    fitted = [r.estimate for r in res.rows if r.estimate is not None]
    if threads is not None and not any(e.hardware_class == "cpu" for e in fitted):
        typer.echo("Warning: --threads applies to CPU rows; this comparison has none", err=True)
    if slots is not None and not any(e.engine == "llama.cpp" for e in fitted):
        typer.echo("Warning: --slots applies to rows served by llama.cpp; this comparison has none",
                   err=True)
    render.emit(output_format(json_out, fmt), res, lambda: render.compare_rows(res),
                lambda: render.print_compare(res, show_unfit=show_unfit))
    if not any(r.fits for r in res.rows):
        raise typer.Exit(1)


@app.command()
def fit(
    model: ModelOpt,
    context: Annotated[int, typer.Option("--context", min=1, max=10**7, help="Tokens per sequence (prompt + output)")] = 4096,
    batch: Annotated[int, typer.Option("--batch", min=1, max=10**6, help="Sequences held at once")] = 1,
    precision: PrecisionOpt = None,
    kv_precision: KvPrecisionOpt = None,
    hw_class: ClassOpt = None,
    hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Comma-separated ids (default: every device, or --class)")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="Serving engine on every device it runs on (default: each device's usual one)")] = None,
    hardware_file: HwFileOpt = None,
    fmt: FormatOpt = Format.table,
    json_out: JsonOpt = False,
) -> None:
    """Which hardware can hold the model (and the KV of `batch` sequences), on how many devices."""
    from inferplan.cli import render
    from inferplan.compare import fit as run_fit

    if hardware is not None and not hardware.replace(",", "").strip():
        raise InputError(f"no hardware named: --hardware {hardware!r} (leave it out for every device)")
    res = run_fit(model, context=context, batch=batch, precision=precision,
                  kv_precision=kv_precision, hw_class=hw_class,
                  hardware=hardware.split(",") if hardware else None, engine=engine,
                  hardware_files=tuple(hardware_file or ()))
    render.emit(output_format(json_out, fmt), res, lambda: render.fit_rows(res),
                lambda: render.print_fit(res))
    if not any(r.fits for r in res.rows):
        raise typer.Exit(1)


@app.command()
def validate(
    data: Annotated[Path | None, typer.Argument(help="CSV in the canonical calibration schema")] = None,
    bundled: Annotated[bool, typer.Option("--bundled", help="Score the calibration corpus shipped with inferplan")] = False,
    loso: Annotated[bool, typer.Option("--loso", help="Leave-one-source-out: each source predicted by factors fitted on the others, the prior width averaged out (the honest error)")] = False,
    calibration: CalibOpt = None,
    hardware_file: HwFileOpt = None,
    fmt: FormatOpt = Format.table,
    json_out: JsonOpt = False,
) -> None:
    """Predict every row of a measurement CSV (or, with --bundled, the corpus shipped with
    inferplan) and report the error (exit 1 below 50% coverage). --loso:
    leave-one-source-out from the profile's priors (progress on stderr)."""
    import os

    # the fits multiply small matrices: BLAS threads only contend for the cores (set before numpy loads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from inferplan.calib.validate import MIN_COVERAGE, validate_bundled, validate_csv
    from inferplan.cli import render

    def progress(msg: str) -> None:
        typer.echo(msg, err=True)

    if bundled == (data is not None):
        raise InputError("give a CSV file or --bundled (not both)")
    if bundled:
        rep = validate_bundled(calibration=calibration, loso=loso, progress=progress,
                               hardware_files=tuple(hardware_file or ()))
    else:
        rep = validate_csv(data, calibration=calibration,  # type: ignore[arg-type]
                           hardware_files=tuple(hardware_file or ()), record_history=True,
                           loso=loso, progress=progress)
    render.emit(output_format(json_out, fmt), rep, lambda: render.validation_rows(rep),
                lambda: render.print_validation(rep))
    if rep.summary.coverage < MIN_COVERAGE:
        typer.echo(f"Error: only {rep.summary.predicted} of {rep.summary.rows} rows predicted "
                   f"({rep.summary.coverage:.0%} coverage, below {MIN_COVERAGE:.0%}); see the "
                   "status of each row", err=True)
        raise typer.Exit(1)


@models_app.callback(invoke_without_command=True)
def models(ctx: typer.Context, fmt: FormatOpt = Format.table, json_out: JsonOpt = False) -> None:
    """List the bundled models (``inferplan models show MODEL`` for what is read from one)."""
    if ctx.invoked_subcommand:
        return
    from inferplan.cli import render

    render.print_models(output_format(json_out, fmt))


@models_app.command("show")
def models_show(
    model: Annotated[str, typer.Argument(help="Bundled model id or alias, or a Hugging Face config.json (or its folder)")],
    json_out: JsonOpt = False,
) -> None:
    """What inferplan reads from a model: parameters, layers, context, precision, weight and KV bytes."""
    from inferplan.cli import render
    from inferplan.models.describe import describe_model
    from inferplan.models.registry import get_model

    card = describe_model(get_model(model))
    render.emit("json" if json_out else "table", card, lambda: [card.model_dump()],
                lambda: render.print_model_card(card))


@hardware_app.callback(invoke_without_command=True)
def hardware_list(
    ctx: typer.Context,
    hw_class: ClassOpt = None,
    hardware_file: HwFileOpt = None,
    fmt: FormatOpt = Format.table,
    json_out: JsonOpt = False,
) -> None:
    """List catalog hardware (``inferplan hardware show ID`` for one entry with sources)."""
    if ctx.invoked_subcommand:
        return
    from inferplan.cli import render

    render.print_hardware_list(hw_class, tuple(hardware_file or ()), output_format(json_out, fmt))


@hardware_app.command("show")
def hardware_show(
    hw_id: Annotated[str, typer.Argument(help="Hardware id or alias")],
    hardware_file: HwFileOpt = None,
    fmt: FormatOpt = Format.table,
    json_out: JsonOpt = False,
) -> None:
    """Show one hardware entry with units and its sources."""
    from inferplan.cli import render

    render.print_hardware(hw_id, tuple(hardware_file or ()), output_format(json_out, fmt))


@app.command()
def precisions(fmt: FormatOpt = Format.table, json_out: JsonOpt = False) -> None:
    """List weight/KV precisions (bits per weight, native compute)."""
    from inferplan.cli import render

    render.print_precisions(output_format(json_out, fmt))


@app.command()
def engines(fmt: FormatOpt = Format.table, json_out: JsonOpt = False) -> None:
    """List serving engines and their defaults."""
    from inferplan.cli import render

    render.print_engines(output_format(json_out, fmt))


# Command groups that live in their own modules (kept light at import: typer only). Each
# module exposes ``register(app)``; heavy imports happen inside the command functions.
COMMAND_MODULES = ("cmd_calibrate", "cmd_bench", "cmd_sim", "cmd_report", "cmd_audit")


def _register_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"inferplan.cli.{name}").register(app)


_register_modules()


def run() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    run()
