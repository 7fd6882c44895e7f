"""llama.cpp on this CPU: prefill and decode speed of synthetic GGUF models, as canonical rows.

For each weight type (F16, Q8_0, Q4_0, TQ2_0, TQ1_0...) a GGUF with the real architecture of a
catalog model and random weights is written (``bench/gguf_synth.py``) and run through
``llama_cpp.Llama`` (the ``llamacpp`` extra: llama-cpp-python compiles llama.cpp when installed,
4.5-7 minutes on a 2-core machine). Measured like llama-bench:

- ``pp N``: N prompt tokens evaluated from an empty KV cache, timed per repetition ->
  ``prefill_tok_s`` with input_len N, output_len 0;
- ``tg N``: N tokens decoded one at a time from an empty cache -> ``decode_tok_s_per_user`` with
  input_len 0, output_len N.

One warm-up repetition is discarded; the value is the mean of ``reps`` repetitions (the
standard deviation is in the row's notes). A repetition during which other processes used more
than ``max_background`` of the CPU is run again (:func:`quiet_reps`): on a shared machine it
measures the neighbours, not the engine. ``n_threads`` and ``n_threads_batch`` are set
explicitly (llama-cpp-python's default was 1 thread here), and each model is driven from one
thread only (calling one model from alternating Python threads cost 30-45% of decode speed;
``shared/notes/llama-cpp-python.md``). Token ids are random ordinary tokens: no text is
tokenized.

Each model is measured in a child process (:func:`measure_isolated`): llama.cpp is native code,
and a crash there must cost one measurement, not the run. ggml's AMX matrix kernels crash
(SIGSEGV) on some Sapphire Rapids-class CPUs with the Q4_0/Q8_0 weights it repacks for them
(llama.cpp issue #20824; seen here with llama-cpp-python 0.3.36): a model whose child dies is
measured again with weight repacking off (``use_extra_bufts = False``, llama-server's
``--no-repack``), and its rows say so. Repacked kernels are faster where they work, so that is
the fallback, not the default.
"""

from __future__ import annotations

import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.bench.cpu import BackgroundLoad
from inferplan.bench.rows import measured_row, today
from inferplan.errors import InferplanError, InputError

__all__ = ["LlamaCppPoint", "LlamaCppResult", "run_llamacpp_bench", "llamacpp_version"]

ENGINE = "llama.cpp"
DEFAULT_QTYPES = ("f16", "q8_0", "q4_0", "tq2_0")
Progress = Callable[[str, float], None]  # (label, fraction of the whole run done)


class LlamaCppPoint(BaseModel):
    qtype: str
    bits_per_weight: float  # of the format (precisions.yaml), matrices only
    file_bits_per_weight: float  # whole file / parameters (embedding/head types included)
    file_bytes: int
    threads: int
    prefill_tokens: int
    prefill_tok_s: float
    prefill_tok_s_std: float
    decode_tokens: int
    decode_tok_s: float
    decode_tok_s_std: float
    background_cpu: float  # most CPU share other processes used during a kept repetition
    discarded_reps: int  # repetitions run again because other processes were busy
    write_s: float
    load_s: float
    weight_repacking: bool = True  # False: measured with llama.cpp's repacking off (it crashed)
    crash_signal: str | None = None  # how llama.cpp died with repacking on (SIGSEGV...), if it did


class LlamaCppResult(BaseModel):
    date: str
    model: str  # the catalog model whose shapes were used
    model_ref: str  # the rows' model_id: the catalog id, or the shrunken config.json file name
    layers: int
    vocab: int
    params: int
    hardware_id: str
    engine_version: str
    reps: int
    points: list[LlamaCppPoint]
    rows: list[dict[str, str]]
    configs: dict[str, dict]  # file name -> config.json the rows reference (shrunken models)
    duration_s: float


def _import_llama_cpp():
    try:
        import llama_cpp  # type: ignore[import-not-found]
    except ImportError:
        raise InputError("the llama.cpp benchmark needs llama-cpp-python and gguf: "
                         "pip install 'inferplan[llamacpp]' (compiles llama.cpp: 4.5-7 min)") from None
    return llama_cpp


def llamacpp_version() -> str:
    llama_cpp = _import_llama_cpp()
    return f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')}"


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


class Timed(BaseModel):
    """Repetitions of one measurement that were kept, and how busy the machine was."""

    rates: list[float]  # tokens/s per kept repetition
    background: list[float]  # other processes' CPU share during each kept repetition
    tries: int  # repetitions run (kept + discarded as disturbed), warm-up not counted


def quiet_reps(run: Callable[[], float], reps: int, max_background: float,
               max_tries: int) -> Timed:
    """Call ``run()`` (returns tokens/s) until ``reps`` calls saw at most ``max_background`` of
    the CPU used by other processes, or ``max_tries`` calls were made; then keep the quietest.

    On a shared machine a repetition that overlaps other work measures the neighbours, not the
    engine: it is run again rather than averaged in.
    """
    runs: list[tuple[float, float]] = []
    for _ in range(max(max_tries, reps)):
        with BackgroundLoad() as load:
            rate = run()
        runs.append((rate, load.share or 0.0))
        if sum(b <= max_background for _, b in runs) >= reps:
            break
    kept = sorted(runs, key=lambda r: r[1])[:reps]
    return Timed(rates=[r for r, _ in kept], background=[b for _, b in kept], tries=len(runs))


def disable_weight_repacking() -> None:
    """Models loaded from now on in this process skip llama.cpp's extra CPU buffer types (the
    weight repacking for AMX and wide-SIMD kernels): ``llama_model_params.use_extra_bufts =
    False``, as llama-server's ``--no-repack``. llama-cpp-python takes no such argument, so its
    default-parameters function is wrapped; call it only in a process of its own."""
    import llama_cpp.llama_cpp as lc  # type: ignore[import-not-found]

    if "use_extra_bufts" not in {f[0] for f in lc.llama_model_params._fields_}:
        raise InputError("this llama-cpp-python cannot turn weight repacking off (no use_extra_bufts)")
    default = lc.llama_model_default_params
    if getattr(default, "no_repack", False):
        return

    def params():  # noqa: ANN202 (a ctypes struct)
        p = default()
        p.use_extra_bufts = False
        return p

    params.no_repack = True  # type: ignore[attr-defined]
    lc.llama_model_default_params = params


def _measure_child(path: str, repack: bool, kwargs: dict[str, Any]) -> tuple[Timed, Timed, float]:
    if not repack:
        disable_weight_repacking()
    return measure_model(Path(path), **kwargs)


def signal_name(signum: int) -> str:
    """``SIGSEGV`` for 11; the number itself for a signal Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class ChildCrashed(InferplanError):
    """A child process died from a signal (a crash in native code: SIGSEGV, SIGABRT)."""

    def __init__(self, signum: int) -> None:
        name = signal_name(signum)
        super().__init__(f"crashed ({name})")
        self.signal = name


CHILD_TIMEOUT_S = 3600.0  # one model's measurement; a hung child is killed after this


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent handles it
        return
    except Exception as e:  # noqa: BLE001 (sent to the parent, raised there)
        result = ("error", e)
    import pickle

    try:
        pickle.loads(pickle.dumps(result))  # what does not come back whole goes as a message
    except Exception:  # noqa: BLE001
        result = ("error", InputError(f"{type(result[1]).__name__}: {result[1]}"))
    conn.send(result)
    conn.close()


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float = CHILD_TIMEOUT_S) -> Any:
    """``fn(*args)`` in a spawned child process (a clean interpreter) and its result. Raises what
    ``fn`` raised; :class:`ChildCrashed` when the child died from a signal (native code crashed);
    InputError when it exited otherwise without a result or ran past `timeout_s` (killed)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send, fn, args), daemon=True)
    proc.start()
    send.close()
    try:
        if not recv.poll(timeout_s):
            proc.kill()
            raise InputError(f"the measurement did not finish within {timeout_s:.0f} s (killed)")
        try:
            kind, value = recv.recv()
        except EOFError:  # the child ended without a word
            proc.join()
            code = proc.exitcode
            if code is not None and code < 0:
                raise ChildCrashed(-code) from None
            raise InputError(f"the measurement process exited with code {code} and no result") from None
    finally:
        recv.close()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if kind == "error":
        raise value
    return value


def measure_isolated(path: Path, *, repack: bool = True, **kwargs: Any) -> tuple[Timed, Timed, float]:
    """:func:`measure_model` in a child process (:func:`run_isolated`: ChildCrashed when llama.cpp
    crashed it, so the caller can try again differently)."""
    got: tuple[Timed, Timed, float] = run_isolated(_measure_child, str(path), repack, kwargs)
    return got


def measure_model(path: Path, *, threads: int, prefill_tokens: int, decode_tokens: int,
                  reps: int, token_ids: list[int], max_background: float = 0.1,
                  max_tries: int | None = None) -> tuple[Timed, Timed, float]:
    """(prefill, decode, load seconds) of one GGUF: ``pp``/``tg`` repetitions after a warm-up."""
    llama_cpp = _import_llama_cpp()
    t0 = time.perf_counter()
    try:
        llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=max(prefill_tokens, decode_tokens) + 16,
            n_batch=max(prefill_tokens, 32), n_threads=threads, n_threads_batch=threads,
            n_gpu_layers=0, logits_all=False, verbose=False,
        )
    except (ValueError, RuntimeError) as e:
        raise InputError(f"llama.cpp could not load {path}: {e}") from None
    load_s = time.perf_counter() - t0
    prompt = token_ids[:prefill_tokens]
    gen = token_ids[:decode_tokens]

    def pp() -> float:
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        return prefill_tokens / (time.perf_counter() - t)

    def tg() -> float:
        llm.reset()
        t = time.perf_counter()
        for tok in gen:
            llm.eval([tok])
        return decode_tokens / (time.perf_counter() - t)

    tries = max_tries or 3 * reps
    try:
        pp()  # warm-up: caches, page faults of the mapped file, the thread pool
        p = quiet_reps(pp, reps, max_background, tries)
        tg()
        d = quiet_reps(tg, reps, max_background, tries)
    finally:
        llm.close()
    return p, d, load_s


def run_llamacpp_bench(model: str = "llama-3.2-1b", *, hardware: str,
                       qtypes: tuple[str, ...] = DEFAULT_QTYPES, threads: tuple[int, ...] = (),
                       layers: int | None = None, vocab: int | None = None,
                       prefill_tokens: int = 512, decode_tokens: int = 128, reps: int = 3,
                       workdir: Path | None = None, seed: int = 0, max_background: float = 0.1,
                       progress: Progress | None = None) -> LlamaCppResult:
    """Write one synthetic GGUF per qtype and measure ``pp``/``tg`` at each thread count.

    hardware: the catalog id the rows are recorded under (``this-machine`` after ``inferplan
    bench``). threads: thread counts (default: all usable CPUs). layers/vocab: shrink the model
    (rows then reference the shrunken config.json, returned in ``configs``). workdir: where the
    GGUF files go (default: a temporary folder, deleted afterwards).
    """
    import os

    import numpy as np

    from inferplan.bench.gguf_synth import (
        MIN_VOCAB,
        synthetic_config,
        synthetic_model,
        write_synthetic_gguf,
    )
    from inferplan.catalog.hardware import get_hardware
    from inferplan.catalog.precisions import get_precision
    from inferplan.models.registry import get_model, list_model_ids

    t_start = time.perf_counter()
    _import_llama_cpp()
    check_qtypes(qtypes)
    hw = get_hardware(hardware)
    if hw.hw_class != "cpu":
        raise InputError(f"the llama.cpp benchmark runs on this CPU; {hw.id} is a {hw.hw_class}")
    if not threads:
        threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,)
    if any(t < 1 for t in threads):
        raise InputError("thread counts must be >= 1")
    if min(prefill_tokens, decode_tokens) < 1 or reps < 1:
        raise InputError("prefill_tokens, decode_tokens and reps must be >= 1")
    base = get_model(model)
    spec = synthetic_model(base, layers=layers, vocab=vocab)
    # rows must name a model `validate` can load: the catalog id, else a config.json beside the CSV
    in_catalog = spec is base and base.id in list_model_ids()
    model_ref = base.id if in_catalog else f"{spec.id}.json"
    configs = {} if in_catalog else {model_ref: synthetic_config(spec)}
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(MIN_VOCAB, spec.vocab_size, size=max(prefill_tokens, decode_tokens)).tolist()
    version = llamacpp_version()
    say = progress or (lambda _s, _f: None)
    total = len(qtypes) * (1 + len(threads))
    done = 0
    points: list[LlamaCppPoint] = []
    repack: dict[str, bool] = {}  # qtype -> weight repacking on (off once llama.cpp crashed with it)
    crash: dict[str, str] = {}  # qtype -> the signal llama.cpp died from with repacking on
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="inferplan-gguf-") as tmp, _keep_on_interrupt(rows, configs):
        folder = Path(workdir) if workdir else Path(tmp)
        for q in qtypes:
            path = folder / f"{spec.id}-{q}-seed{seed}.gguf"
            t = time.perf_counter()
            if not (workdir and path.exists()):  # kept files are complete (written atomically)
                say(f"writing {path.name}", done / total)
                write_synthetic_gguf(spec, path, q, seed=seed)
            write_s = time.perf_counter() - t
            done += 1
            size = path.stat().st_size
            for th in threads:
                say(f"{q}: pp{prefill_tokens} + tg{decode_tokens}, {th} threads", done / total)
                kw = dict(threads=th, prefill_tokens=prefill_tokens, decode_tokens=decode_tokens,
                          reps=reps, token_ids=token_ids, max_background=max_background)
                got = None
                if repack.get(q, True):
                    try:
                        got = measure_isolated(path, **kw)
                    except ChildCrashed as e:  # once more without weight repacking, for this type
                        crash[q] = e.signal
                        say(f"{q}: llama.cpp {e}; again with weight repacking off", done / total)
                        repack[q] = False
                if got is None:
                    try:
                        got = measure_isolated(path, repack=False, **kw)
                    except ChildCrashed as e:
                        raise InputError(f"llama.cpp {e} measuring {path.name} ({th} threads), "
                                         "with and without weight repacking") from None
                pp, tg, load_s = got
                done += 1
                (pp_m, pp_s), (tg_m, tg_s) = _mean_std(pp.rates), _mean_std(tg.rates)
                pt = LlamaCppPoint(
                    qtype=q, bits_per_weight=get_precision(q).bits_per_weight,
                    file_bits_per_weight=size * 8 / spec.total_params, file_bytes=size,
                    threads=th, prefill_tokens=prefill_tokens, prefill_tok_s=pp_m,
                    prefill_tok_s_std=pp_s, decode_tokens=decode_tokens, decode_tok_s=tg_m,
                    decode_tok_s_std=tg_s, background_cpu=max(pp.background + tg.background),
                    discarded_reps=pp.tries + tg.tries - 2 * reps, write_s=write_s, load_s=load_s,
                    weight_repacking=repack.get(q, True), crash_signal=crash.get(q))
                points.append(pt)
                rows += _rows(pt, model_ref, hw.id, version, reps, seed, spec, base)
            if not workdir:
                path.unlink(missing_ok=True)
    say("done", 1.0)
    return LlamaCppResult(
        date=today(), model=base.id, model_ref=model_ref, layers=spec.num_layers,
        vocab=spec.vocab_size, params=spec.total_params, hardware_id=hw.id,
        engine_version=version, reps=reps, points=points, rows=rows, configs=configs,
        duration_s=time.perf_counter() - t_start,
    )


class BenchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a bench, carrying the rows (and configs) measured before it."""

    def __init__(self, rows: list[dict[str, str]], configs: dict[str, dict]) -> None:
        super().__init__("interrupted")
        self.rows, self.configs = rows, configs


@contextmanager
def _keep_on_interrupt(rows: list[dict[str, str]], configs: dict[str, dict]) -> Iterator[None]:
    """Turn a Ctrl-C into :class:`BenchInterrupted` with what was measured so far."""
    try:
        yield
    except BenchInterrupted:
        raise
    except KeyboardInterrupt:
        raise BenchInterrupted(rows, configs) from None


BACKGROUND_GRADES = ((0.10, "A"), (0.30, "B"))  # most background CPU share for each grade; above: C


def reliability_for_background(share: float) -> str:
    """The corpus grade of a measurement taken while other processes used ``share`` of the CPU:
    A on a quiet machine (<= 10%), B up to 30%, C above (llama.cpp's threads then compete for
    cores and bandwidth: a lower bound on what the machine does)."""
    return next((g for limit, g in BACKGROUND_GRADES if share <= limit), "C")


def check_qtypes(qtypes: tuple[str, ...]) -> None:
    """InputError unless ``qtypes`` are one or more of the GGUF types this bench writes."""
    from inferplan.bench.gguf_synth import QTYPES

    unknown = [q for q in qtypes if q not in QTYPES]
    if unknown:
        raise InputError(f"unknown qtype(s) {', '.join(unknown)} (known: {', '.join(QTYPES)})")
    if not qtypes:
        raise InputError("give at least one qtype")


def _rows(p: LlamaCppPoint, model_ref: str, hid: str, version: str, reps: int, seed: int,
          spec, base) -> list[dict[str, str]]:
    notes = {"threads": p.threads, "engine_version": version,
             "synthetic": f"random weights seed {seed}, shapes of {base.id}"
                          + (f" with {spec.num_layers} layers, vocab {spec.vocab_size}"
                             if spec is not base else ""),
             "file_bytes": p.file_bytes, "reps": reps}
    notes["background_cpu"] = f"{p.background_cpu:.0%}"
    grade = reliability_for_background(p.background_cpu)
    if grade != "A":
        notes["reliability"] = (f"{grade}: other processes used {p.background_cpu:.0%} of the CPU "
                                "during a kept repetition (rerun on a quiet machine for grade A)")
    if p.discarded_reps:
        notes["discarded_reps"] = p.discarded_reps
    if not p.weight_repacking:
        notes["weight_repacking"] = f"off (llama.cpp crashed with it on this CPU, {p.crash_signal}: --no-repack)"
    common: dict[str, Any] = dict(model_id=model_ref, hardware_id=hid, weight_precision=p.qtype,
                  kv_precision="f16", engine=ENGINE, batch=1, reliability=grade)
    stem = f"llamacpp-{p.qtype}-t{p.threads}"
    return [
        measured_row(id=f"{stem}-pp{p.prefill_tokens}", metric="prefill_tok_s", value=p.prefill_tok_s,
                     input_len=p.prefill_tokens, output_len=0,
                     notes={**notes, "std": f"{p.prefill_tok_s_std:.3g}"}, **common),
        measured_row(id=f"{stem}-tg{p.decode_tokens}", metric="decode_tok_s_per_user",
                     value=p.decode_tok_s, input_len=0, output_len=p.decode_tokens,
                     notes={**notes, "std": f"{p.decode_tok_s_std:.3g}"}, **common),
    ]
