"""`inferplan bench` (measure this machine) and `inferplan history` (past runs).

Parse, call ``inferplan.bench`` / ``inferplan.store``, print: data to stdout (``--json``: one
object), progress bars and messages to stderr. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from inferplan.cli.options import Format, FormatOpt, JsonOpt, output_format
from inferplan.errors import InputError


class _Bar:
    """A rich progress bar on stderr; ``step(label)`` for counted steps, ``at(label, fraction)``."""

    def __init__(self, total: int | None = None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                          console=Console(stderr=True), transient=True)
        self.task = self.p.add_task("", total=total or 100)
        self.counted = total is not None

    def __enter__(self):
        self.p.start()
        return self

    def __exit__(self, *exc):
        self.p.stop()

    def step(self, label: str) -> None:
        self.p.update(self.task, description=label, advance=1 if self.counted else 0)

    def at(self, label: str, fraction: float) -> None:
        self.p.update(self.task, description=label, completed=100 * fraction)


def register(app: typer.Typer) -> None:
    history_app = typer.Typer(help="Past bench, validate and calibrate runs (INFERPLAN_HOME/history.db).")
    app.add_typer(history_app, name="history")

    @app.command()
    def bench(
        quick: Annotated[bool, typer.Option("--quick", help="Sub-30-second run (smaller arrays, tiny llama.cpp model)")] = False,
        gpu: Annotated[bool | None, typer.Option("--gpu/--no-gpu", help="GPU part (default: when torch sees a GPU)")] = None,
        llamacpp: Annotated[bool, typer.Option("--llamacpp", help="Run llama.cpp on synthetic GGUF models of --model")] = False,
        model: Annotated[str, typer.Option("--model", "-m", help="Catalog id or config.json whose shapes to run")] = "llama-3.2-1b",
        qtypes: Annotated[str, typer.Option("--qtypes", help="llama.cpp weight types: f16,bf16,q8_0,q4_0,tq1_0,tq2_0")] = "f16,q8_0,q4_0,tq2_0",
        threads: Annotated[str | None, typer.Option("--threads", help="llama.cpp thread counts, e.g. 1,2 (default: all CPUs)")] = None,
        layers: Annotated[int | None, typer.Option("--layers", min=1, max=1000, help="llama.cpp: run fewer layers than the model has")] = None,
        vocab: Annotated[int | None, typer.Option("--vocab", min=259, max=10**7, help="llama.cpp: smaller vocabulary (>= 259)")] = None,
        prefill: Annotated[int | None, typer.Option("--prefill", min=1, max=10**6, help="llama.cpp prompt tokens (pp N; default 512)")] = None,
        decode: Annotated[int | None, typer.Option("--decode", min=1, max=10**6, help="llama.cpp generated tokens (tg N; default 128)")] = None,
        reps: Annotated[int | None, typer.Option("--reps", min=1, max=1000, help="llama.cpp repetitions (default 3)")] = None,
        engine: Annotated[str, typer.Option("--engine", help="GPU: pytorch-cudagraph or pytorch-eager")] = "pytorch-cudagraph",
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Record rows under this catalog id")] = None,
        machine_id: Annotated[str, typer.Option("--machine-id", help="Id of the generated hardware entry (a CPU not in the catalog)")] = "this-machine",
        gguf_dir: Annotated[Path | None, typer.Option("--gguf-dir", help="Keep the synthetic GGUF files here")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="CSV for the measured rows (default: INFERPLAN_HOME/bench/...)")] = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Measure this machine (CPU always; GPU with torch; llama.cpp with --llamacpp); record it."""
        import contextlib
        import json

        from inferplan.bench.run import BenchOptions, run_bench
        from inferplan.store import StateError

        @contextlib.contextmanager
        def bars(total=None):
            with _Bar(total) as bar:
                yield bar

        opts = BenchOptions(quick=quick, gpu=gpu, llamacpp=llamacpp, model=model, qtypes=qtypes,
                            threads=threads, layers=layers, vocab=vocab, prefill=prefill,
                            decode=decode, reps=reps, engine=engine, hardware=hardware,
                            machine_id=machine_id, gguf_dir=gguf_dir, out=out)
        res = run_bench(opts, bars=bars, notice=lambda s: typer.echo(s, err=True))
        if json_out:
            typer.echo(json.dumps(res, indent=2, default=str))  # carries write_error, if any
        else:
            _print_bench(res, res["rows"])
        if res.get("write_error"):
            typer.echo(f"Error: {res['write_error']}", err=True)
            raise typer.Exit(StateError.exit_code)  # one JSON document: the result says it

    @history_app.callback(invoke_without_command=True)
    def history_list(
        ctx: typer.Context,
        kind: Annotated[str | None, typer.Option("--kind", help="bench, validate or calibrate")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, max=10**6, help="Most recent N runs")] = 50,
        fmt: FormatOpt = Format.table,
        json_out: JsonOpt = False,
    ) -> None:
        """List recorded runs, newest first (`inferplan history show ID` for one)."""
        if ctx.invoked_subcommand:
            return
        from inferplan.cli import render
        from inferplan.store import RunSummary, list_runs

        if kind is not None and kind not in ("bench", "validate", "calibrate"):
            raise InputError(f"unknown kind '{kind}' (known: bench, validate, calibrate)")
        runs = list_runs(kind=kind, limit=limit)

        def table() -> None:
            if not runs:
                typer.echo("no runs recorded yet (inferplan bench, validate and calibrate record theirs)")
                return
            render.print_table(
                (render.Col("id", "right", 9), render.Col("kind", "left", 8),
                 render.Col("status", "left", 7), render.Col("started (UTC)", "left", 6),
                 render.Col("duration", "right", 5), render.Col("rows", "right", 4),
                 render.Col("summary", "left", 1, True)),
                [(str(r.id), r.kind, r.status, r.started_at[:19].replace("T", " "),
                  "-" if r.duration_s is None else f"{r.duration_s:.1f} s", f"{r.rows:,}",
                  _run_summary(r)) for r in runs],
                "history (newest first)")

        render.emit(output_format(json_out, fmt), {"runs": [r.model_dump() for r in runs]},
                    lambda: [r.model_dump() for r in runs], table, columns=list(RunSummary.model_fields))

    @history_app.command("show")
    def history_show(
        run_id: Annotated[int, typer.Argument(help="Run id (from `inferplan history`)", min=1, max=2**62)],
        json_out: JsonOpt = False,
    ) -> None:
        """One run: arguments, summary, result and rows."""
        import json

        from inferplan.store import get_run

        run = get_run(run_id)
        if json_out:
            typer.echo(run.model_dump_json(indent=2))
            return
        typer.echo(f"run {run.id}: {run.kind} ({run.status}) {run.started_at} -> {run.finished_at}"
                   f" on {run.host}, inferplan {run.inferplan_version}")
        if run.error:
            typer.echo(f"error: {run.error}")
        typer.echo(f"args: {json.dumps(run.args)}")
        typer.echo(f"summary: {json.dumps(run.summary, default=str)}")
        typer.echo(f"rows: {run.rows} (--json prints them and the full result)")


def _run_summary(r) -> str:
    """A history row's summary cell: its summary's key=value pairs, or the error of a failed run."""
    if r.status == "error" and not r.summary:
        return f"error: {r.error or '-'}"
    return ", ".join(f"{k}={_short(v)}" for k, v in r.summary.items())


def _short(v) -> str:
    s = f"{v:.3g}" if isinstance(v, float) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _print_bench(res: dict, rows: list[dict[str, str]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from inferplan.cli.render import console as make_console

    console = make_console()

    c = res["cpu"]
    cpu = c["cpu"]
    console.print(f"[bold]{cpu['model_name']}[/]: {cpu['cores']} cores, {cpu['threads']} threads, "
                  f"{(cpu['memory_bytes'] or 0) / 1e9:.1f} GB, SIMD {' '.join(cpu['simd']) or '-'}")
    console.print(f"hardware id: [bold]{res['hardware_id']}[/]"
                  + (" (catalog)" if c["matched_catalog"] else " (generated entry)"))
    t = Table(title="memory bandwidth (GB/s)", title_justify="left")
    for col in ("threads", "read", "copy"):
        t.add_column(col, justify="right")
    for p in c["bandwidth"]:
        t.add_row(str(p["threads"]), f"{p['read_bytes_s'] / 1e9:.1f}", f"{p['copy_bytes_s'] / 1e9:.1f}")
    console.print(t)
    for g in c["gemm"]:
        console.print(f"{g['kind']} {g['dtype']} n={g['n']}: {g['flops_s'] / 1e9:.1f} GFLOP/s"
                      + (f", {g['bytes_s'] / 1e9:.1f} GB/s" if g.get("bytes_s") else ""))
    if res.get("gpu"):
        g = res["gpu"]
        console.print(f"GPU {g['device']['name']} -> {g['hardware_id']}: copy "
                      f"{(g['d2d_bytes_s'] or 0) / 1e12:.2f} TB/s; "
                      + ", ".join(f"{x['dtype']} GEMM {x['flops_s'] / 1e12:.0f} TFLOP/s" for x in g["gemm"]))
    if res.get("llamacpp"):
        lc = res["llamacpp"]
        t = Table(title=f"llama.cpp ({lc['engine_version']}), {lc['model_ref']}: {lc['layers']} layers, "
                        f"{lc['params'] / 1e9:.2f} B params", title_justify="left")
        for col in ("type", "bits/weight", "threads", "prefill tok/s", "decode tok/s", "other load",
                    "rerun"):
            t.add_column(col, justify="right")
        for p in lc["points"]:
            t.add_row(p["qtype"], f"{p['bits_per_weight']:.2f}", str(p["threads"]),
                      f"{p['prefill_tok_s']:.1f}", f"{p['decode_tok_s']:.1f}",
                      f"{p['background_cpu']:.0%}", str(p["discarded_reps"]))
        console.print(t)
        off = {p["qtype"]: p.get("crash_signal") for p in lc["points"] if not p.get("weight_repacking", True)}
        if off:
            console.print(f"[yellow]llama.cpp crashed with weight repacking on "
                          f"({', '.join(f'{q}: {sig}' for q, sig in off.items())}): those types were "
                          f"measured with it off (llama.cpp's --no-repack). A known crash of ggml's AMX kernels "
                          f"on some Intel CPUs (llama.cpp #20824).[/]")
    for s in res.get("skipped", []) + c.get("skipped", []) + (res.get("gpu") or {}).get("skipped", []):
        console.print(f"[dim]skipped: {escape(s)}[/]")
    if rows:
        console.print(f"{len(rows)} measured rows: {res['csv']} (inferplan validate {res['csv']})"
                      if res.get("csv") else f"{len(rows)} measured rows, not written to a CSV (history "
                      f"run {res.get('run_id')}: inferplan history show {res.get('run_id')} --json)")
    if res.get("run_id"):
        console.print(f"[dim]recorded as run {res['run_id']} (inferplan history show {res['run_id']})[/]")
