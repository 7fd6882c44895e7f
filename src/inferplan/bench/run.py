"""`bench` as one library call: CPU always, GPU with torch, llama.cpp on request; rows recorded.

:func:`run_bench` runs the parts, writes the measured rows to a CSV (atomically) and records
the run in the history; it returns a JSON-able dict. Progress goes through ``bars``: a
factory of context managers with ``step(label)`` and ``at(label, fraction)`` (the CLI draws
rich bars; the default draws nothing).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from inferplan.errors import InputError, Interrupted
from inferplan.inputs import check_writable_out

__all__ = ["BenchOptions", "run_bench", "QUICK_LLAMACPP"]

QUICK_LLAMACPP = dict(layers=2, vocab=4096, prefill_tokens=64, decode_tokens=16, reps=1)


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    gpu: bool | None = None  # None: when torch sees a GPU
    llamacpp: bool = False
    model: str = "llama-3.2-1b"
    qtypes: str = "f16,q8_0,q4_0,tq2_0"
    threads: str | None = None  # llama.cpp thread counts, "1,2"
    layers: int | None = None
    vocab: int | None = None
    prefill: int | None = None
    decode: int | None = None
    reps: int | None = None
    engine: str = "pytorch-cudagraph"
    hardware: str | None = None
    machine_id: str = "this-machine"
    gguf_dir: Path | None = None
    out: Path | None = None

    def qtype_list(self) -> tuple[str, ...]:
        return tuple(q.strip() for q in self.qtypes.split(",") if q.strip())

    def args(self) -> dict[str, Any]:
        return asdict(self)  # the history stores paths absolute (store._args_json)


class _NoBar:
    def step(self, label: str) -> None:
        pass

    def at(self, label: str, fraction: float) -> None:
        pass


@contextlib.contextmanager
def _no_bars(total: int | None = None) -> Iterator[_NoBar]:
    yield _NoBar()


def ints(text: str | None, what: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> (1, 2, 4); InputError naming the flag otherwise."""
    from inferplan.inputs import check_int

    if not text:
        return ()
    return tuple(check_int(what, x, "threads") for x in text.split(",") if x.strip())


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def torch_with_gpu():
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def run_bench(opts: BenchOptions, bars: Callable[..., Any] = _no_bars,
              notice: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """All parts of ``bench``; returns a JSON-able dict with ``rows`` (canonical CSV rows),
    ``csv`` (where they were written) and ``run_id`` (the history record, None if not written)."""
    from inferplan.store import recorded_run

    with recorded_run("bench", opts.args()) as run:
        try:
            res = _measure(opts, bars, notice)
        except KeyboardInterrupt:  # the llama.cpp part turns its own Ctrl-C into Interrupted
            raise Interrupted("interrupted (Ctrl-C) before any LLM row was measured") from None
        rows = res["rows"]
        summary = {"hardware_id": res["hardware_id"], "rows": len(rows), "csv": res.get("csv"),
                   "read_GB_s": round(res["cpu"]["best_read_bytes_s"] / 1e9, 2),
                   "parts": [k for k in ("cpu", "gpu", "llamacpp") if res.get(k)]}
        result = {k: v for k, v in res.items() if k != "rows"}
        res["run_id"] = run.done(summary=summary, result=result, rows=rows)
    return res


def check_options(opts: BenchOptions) -> None:
    """Refuse what would fail only after minutes of measuring: an unknown model, quantization,
    engine or hardware id, an --out that cannot be written, llama.cpp missing with --llamacpp."""
    from inferplan.catalog.engines import get_engine
    from inferplan.catalog.hardware import get_hardware
    from inferplan.catalog.precisions import check_precision_ids
    from inferplan.models.registry import get_model

    get_model(opts.model)
    if opts.llamacpp:
        check_precision_ids(*opts.qtype_list())
        from inferplan.bench.llamacpp import _import_llama_cpp, check_qtypes

        check_qtypes(opts.qtype_list())  # the bench's own list, as run_llamacpp_bench checks it
        _import_llama_cpp()
    if opts.gpu is not False:
        get_engine(opts.engine)
    if opts.hardware:
        get_hardware(opts.hardware)
    if opts.out is not None:
        out = Path(opts.out)
        if out.is_dir():
            raise InputError(f"--out {out} is a folder; give the CSV's file path")
        check_writable_out(out)


BUSY_WARN_SHARE = 0.10  # background CPU share above which the CPU bench warns (grade A's bound)


def _csv_path(opts: BenchOptions) -> Path:
    """Where the measured rows go: --out, else a dated file in INFERPLAN_HOME/bench."""
    from inferplan.config import home_dir
    from inferplan.store import now

    return Path(opts.out or home_dir() / "bench" / f"bench-{now().strftime('%Y%m%d-%H%M%S')}.csv")


def _interrupted(opts: BenchOptions, rows: list[dict[str, str]], configs: dict[str, dict]) -> NoReturn:
    """Ctrl-C: write the rows measured so far and stop with an error that says where."""
    from inferplan.bench.rows import write_rows

    if not rows:
        raise Interrupted("interrupted (Ctrl-C) before any LLM row was measured")
    path = _csv_path(opts)
    try:
        write_rows(rows, path, configs)
    except OSError as e:
        raise Interrupted(f"interrupted (Ctrl-C); the {len(rows)} rows measured could not be "
                          f"written to {path}: {e.strerror or e}") from None
    raise Interrupted(f"interrupted (Ctrl-C); the {len(rows)} rows measured before it are in {path}")


def _measure(opts: BenchOptions, bars, notice) -> dict[str, Any]:
    from inferplan.bench.cpu import run_cpu_bench, thread_counts
    from inferplan.bench.rows import write_rows

    check_options(opts)
    thread_list = ints(opts.threads, "--threads")
    torch = torch_with_gpu() if opts.gpu is not False else None
    if opts.gpu and torch is None:
        raise InputError("--gpu: torch with a CUDA/ROCm device is needed: pip install 'inferplan[gpu]'")
    res: dict[str, Any] = {"skipped": []}
    with bars(len(thread_counts(cpus())) + 4) as bar:
        cpu = run_cpu_bench(opts.quick, machine_id=opts.machine_id, progress=bar.step)
    res["cpu"] = {**cpu.model_dump(), "best_read_bytes_s": cpu.best_read_bytes_s}
    res["hardware_id"] = opts.hardware or cpu.hardware_id
    if cpu.hardware_file:
        notice(f"hardware entry written: {cpu.hardware_file} (use --hardware {cpu.hardware_id})")
    if cpu.background_cpu is not None and cpu.background_cpu > BUSY_WARN_SHARE:
        notice(f"other processes used {cpu.background_cpu:.0%} of the CPU during the measurement: "
               f"its bandwidth and FLOP/s read low (so will {res['hardware_id']}'s estimates); "
               f"rerun `inferplan bench` on a quiet machine")
    rows: list[dict[str, str]] = []
    configs: dict[str, dict] = {}

    if torch is not None:
        from inferplan.bench.gpu import run_gpu_bench

        with bars(8) as bar:
            g = run_gpu_bench(opts.model, torch=torch, engine=opts.engine, quick=opts.quick,
                              progress=bar.step)
        res["gpu"] = g.model_dump(exclude={"rows", "configs"})
        rows += g.rows
        configs.update(g.configs)
    elif opts.gpu is None:
        res["skipped"].append("GPU: torch with a CUDA/ROCm device not found (pip install 'inferplan[gpu]')")

    if opts.llamacpp:
        from inferplan.bench.llamacpp import BenchInterrupted, run_llamacpp_bench

        kw: dict[str, Any] = dict(QUICK_LLAMACPP) if opts.quick else {}
        for k, v in (("layers", opts.layers), ("vocab", opts.vocab), ("prefill_tokens", opts.prefill),
                     ("decode_tokens", opts.decode), ("reps", opts.reps)):
            if v is not None:
                kw[k] = v
        try:
            with bars(None) as bar:
                lc = run_llamacpp_bench(opts.model, hardware=res["hardware_id"],
                                        qtypes=opts.qtype_list(), threads=thread_list,
                                        workdir=opts.gguf_dir, progress=bar.at, **kw)
        except BenchInterrupted as stop:  # keep what was measured, then say so
            rows += stop.rows
            configs.update(stop.configs)
            _interrupted(opts, rows, configs)
        res["llamacpp"] = lc.model_dump(exclude={"rows", "configs"})
        rows += lc.rows
        configs.update(lc.configs)

    if rows:
        path = _csv_path(opts)
        try:
            res["csv"] = str(write_rows(rows, path, configs))
        except OSError as e:  # reported after the results are shown (nothing measured is lost)
            res["csv"] = None
            res["write_error"] = (f"cannot write the measured rows to {path}: {e.strerror or e}; they are "
                                  "kept in the run history (inferplan history show ID --json)")
    elif opts.out:
        res["skipped"].append(f"--out {opts.out}: no LLM rows measured (add --llamacpp or a GPU)")
    res["rows"] = rows
    return res
