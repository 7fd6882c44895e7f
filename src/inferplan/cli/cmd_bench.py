"""`inferplan bench` (measure this machine) and `inferplan history` (past runs).

Parse, call ``inferplan.bench`` / ``inferplan.store``, print: data to stdout (``--json``: one
object), progress bars and messages to stderr. Heavy imports happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

QUICK_LLAMACPP = dict(layers=2, vocab=4096, prefill_tokens=64, decode_tokens=16, reps=1)


def _ints(text: str | None, what: str) -> tuple[int, ...]:
    from inferplan.errors import InputError

    if not text:
        return ()
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise InputError(f"{what} must be comma-separated integers, not {text!r}") from None
    if any(v < 1 for v in vals):
        raise InputError(f"{what} must be >= 1")
    return vals


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
        layers: Annotated[int | None, typer.Option("--layers", help="llama.cpp: run fewer layers than the model has")] = None,
        vocab: Annotated[int | None, typer.Option("--vocab", help="llama.cpp: smaller vocabulary (>= 259)")] = None,
        prefill: Annotated[int | None, typer.Option("--prefill", help="llama.cpp prompt tokens (pp N; default 512)")] = None,
        decode: Annotated[int | None, typer.Option("--decode", help="llama.cpp generated tokens (tg N; default 128)")] = None,
        reps: Annotated[int | None, typer.Option("--reps", help="llama.cpp repetitions (default 3)")] = None,
        engine: Annotated[str, typer.Option("--engine", help="GPU: pytorch-cudagraph or pytorch-eager")] = "pytorch-cudagraph",
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Record rows under this catalog id")] = None,
        machine_id: Annotated[str, typer.Option("--machine-id", help="Id of the generated hardware entry (a CPU not in the catalog)")] = "this-machine",
        gguf_dir: Annotated[Path | None, typer.Option("--gguf-dir", help="Keep the synthetic GGUF files here")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="CSV for the measured rows (default: INFERPLAN_HOME/bench/...)")] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout")] = False,
    ) -> None:
        """Measure this machine (CPU always; GPU with torch; llama.cpp with --llamacpp); record it."""
        import json

        from inferplan.cli.main import fail
        from inferplan.errors import InferplanError
        from inferplan.store import now, try_record_run

        started = now()
        args = {k: (str(v) if isinstance(v, Path) else v) for k, v in dict(
            quick=quick, gpu=gpu, llamacpp=llamacpp, model=model, qtypes=qtypes, threads=threads,
            layers=layers, vocab=vocab, prefill=prefill, decode=decode, reps=reps, engine=engine,
            hardware=hardware, machine_id=machine_id, gguf_dir=gguf_dir, out=out).items()}
        try:
            res = _run_bench(quick=quick, gpu=gpu, llamacpp=llamacpp, model=model, qtypes=qtypes,
                             threads=threads, layers=layers, vocab=vocab, prefill=prefill,
                             decode=decode, reps=reps, engine=engine, hardware=hardware,
                             machine_id=machine_id, gguf_dir=gguf_dir, out=out)
        except InferplanError as e:
            try_record_run("bench", args=args, started_at=started, status="error", error=str(e))
            fail(e)
            return
        rows = res.pop("rows")
        summary = {"hardware_id": res["hardware_id"], "rows": len(rows), "csv": res.get("csv"),
                   "read_GB_s": round(res["cpu"]["best_read_bytes_s"] / 1e9, 2),
                   "parts": [k for k in ("cpu", "gpu", "llamacpp") if res.get(k)]}
        res["run_id"] = try_record_run("bench", args=args, started_at=started, summary=summary,
                                       result=res, rows=rows)
        if json_out:
            typer.echo(json.dumps({**res, "rows": rows}, indent=2, default=str))
        else:
            _print_bench(res, rows)

    @history_app.callback(invoke_without_command=True)
    def history_list(
        ctx: typer.Context,
        kind: Annotated[str | None, typer.Option("--kind", help="bench, validate or calibrate")] = None,
        limit: Annotated[int, typer.Option("--limit", help="Most recent N runs")] = 50,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List recorded runs, newest first (`inferplan history show ID` for one)."""
        if ctx.invoked_subcommand:
            return
        import json

        from inferplan.cli.main import fail
        from inferplan.errors import InferplanError
        from inferplan.store import list_runs

        try:
            runs = list_runs(kind=kind, limit=limit)
        except InferplanError as e:
            fail(e)
            return
        if json_out:
            typer.echo(json.dumps({"runs": [r.model_dump() for r in runs]}, indent=2))
            return
        if not runs:
            typer.echo("no runs recorded yet (inferplan bench, validate and calibrate record theirs)")
            return
        from rich.table import Table

        from inferplan.cli.render import out as console

        t = Table(title="history (newest first)", title_justify="left")
        for col in ("id", "kind", "status", "started (UTC)", "duration", "rows", "summary"):
            t.add_column(col, overflow="fold")
        for r in runs:
            dur = "-" if r.duration_s is None else f"{r.duration_s:.1f} s"
            brief = ", ".join(f"{k}={_short(v)}" for k, v in r.summary.items())
            t.add_row(str(r.id), r.kind, r.status, r.started_at[:19].replace("T", " "), dur,
                      str(r.rows), brief)
        console.print(t)

    @history_app.command("show")
    def history_show(
        run_id: Annotated[int, typer.Argument(help="Run id (from `inferplan history`)")],
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """One run: arguments, summary, result and rows."""
        import json

        from inferplan.cli.main import fail
        from inferplan.errors import InferplanError
        from inferplan.store import get_run

        try:
            run = get_run(run_id)
        except InferplanError as e:
            fail(e)
            return
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


def _short(v) -> str:
    s = f"{v:.3g}" if isinstance(v, float) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _run_bench(*, quick, gpu, llamacpp, model, qtypes, threads, layers, vocab, prefill, decode,
               reps, engine, hardware, machine_id, gguf_dir, out) -> dict:
    """All parts of `bench`; returns a JSON-able dict with ``rows`` (canonical CSV rows)."""
    from inferplan.bench.cpu import run_cpu_bench, thread_counts
    from inferplan.bench.rows import write_rows
    from inferplan.errors import InputError

    thread_list = _ints(threads, "--threads")
    torch = _torch_with_gpu() if gpu is not False else None
    if gpu and torch is None:
        raise InputError("--gpu: torch with a CUDA/ROCm device is needed: pip install 'inferplan[gpu]'")
    res: dict = {"skipped": []}
    with _Bar(total=len(thread_counts(_cpus())) + 4) as bar:
        cpu = run_cpu_bench(quick, machine_id=machine_id, progress=bar.step)
    res["cpu"] = {**cpu.model_dump(), "best_read_bytes_s": cpu.best_read_bytes_s}
    res["hardware_id"] = hardware or cpu.hardware_id
    if cpu.hardware_file:
        typer.echo(f"hardware entry written: {cpu.hardware_file} (use --hardware {cpu.hardware_id})", err=True)
    rows: list[dict[str, str]] = []
    configs: dict[str, dict] = {}

    if torch is not None:
        from inferplan.bench.gpu import run_gpu_bench

        with _Bar(total=8) as bar:
            g = run_gpu_bench(model, torch=torch, engine=engine, quick=quick, progress=bar.step)
        res["gpu"] = g.model_dump(exclude={"rows", "configs"})
        rows += g.rows
        configs.update(g.configs)
    elif gpu is None:
        res["skipped"].append("GPU: torch with a CUDA/ROCm device not found (pip install 'inferplan[gpu]')")

    if llamacpp:
        from inferplan.bench.llamacpp import run_llamacpp_bench

        kw = dict(QUICK_LLAMACPP) if quick else {}
        for k, v in (("layers", layers), ("vocab", vocab), ("prefill_tokens", prefill),
                     ("decode_tokens", decode), ("reps", reps)):
            if v is not None:
                kw[k] = v
        with _Bar() as bar:
            lc = run_llamacpp_bench(model, hardware=res["hardware_id"],
                                    qtypes=tuple(q.strip() for q in qtypes.split(",") if q.strip()),
                                    threads=thread_list, workdir=gguf_dir, progress=bar.at, **kw)
        res["llamacpp"] = lc.model_dump(exclude={"rows", "configs"})
        rows += lc.rows
        configs.update(lc.configs)

    if rows:
        from inferplan.config import home_dir
        from inferplan.store import now

        path = out or home_dir() / "bench" / f"bench-{now().strftime('%Y%m%d-%H%M%S')}.csv"
        res["csv"] = str(write_rows(rows, path, configs))
    elif out:
        res["skipped"].append(f"--out {out}: no LLM rows measured (add --llamacpp or a GPU)")
    res["rows"] = rows
    return res


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _torch_with_gpu():
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _print_bench(res: dict, rows: list[dict[str, str]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from inferplan.cli.render import out as console

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
    for s in res.get("skipped", []) + c.get("skipped", []) + (res.get("gpu") or {}).get("skipped", []):
        console.print(f"[dim]skipped: {escape(s)}[/]")
    if rows:
        console.print(f"{len(rows)} measured rows: {res['csv']} (inferplan validate {res['csv']})")
    if res.get("run_id"):
        console.print(f"[dim]recorded as run {res['run_id']} (inferplan history show {res['run_id']})[/]")
