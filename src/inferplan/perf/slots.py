"""llama.cpp's server slots: ``llama-server --parallel N`` serves N sequences at once.

Each slot is one sequence; every server step decodes one token for every active slot and adds
prompt tokens of slots still prefilling, up to ``n_batch`` tokens per step, all in one
``llama_decode`` batch over a KV cache the slots share (continuous batching across slots,
``--kv-unified``). The current default is ``-np -1`` ("auto"), which the server turns into 4
slots with a unified KV cache (ggml-org/llama.cpp ``tools/server/server.cpp``: "n_parallel is
set to auto, using n_parallel = 4 and kv_unified = true"; ``common/arg.cpp``: the server
example sets ``params.n_parallel = -1``, llama.cpp as vendored in llama-cpp-python 0.3.36).

The model is the engine's own continuous batching with ``max_num_seqs = N``: this module only
turns ``--slots`` into the engine limits that concurrency mode, the simulator and the planner
already use (:func:`serving_engine`). One slot is the old one-request-at-a-time server (the
llama-cpp-python server has one).
"""

from __future__ import annotations

from inferplan.catalog.schema import EngineSpec, HardwareSpec
from inferplan.errors import InputError

LLAMA_SERVER_DEFAULT_SLOTS = 4  # llama-server -np -1 (auto) -> 4 slots, unified KV (see module docstring)
SLOT_ENGINES = ("llama.cpp",)  # engines whose server takes --parallel N
MAX_SLOTS = 4096


def serving_engine(engine: EngineSpec, slots: int | None) -> tuple[EngineSpec, str | None]:
    """The engine as its server runs with `slots` slots (None: the server's default), and a
    note for the assumptions (None when slots do not apply)."""
    if engine.base_id not in SLOT_ENGINES:
        if slots is not None:
            raise InputError(f"--slots sets llama-server's --parallel; engine {engine.id} has no slots "
                             f"(use --engine llama.cpp)")
        return engine, None
    if slots is not None and not 1 <= slots <= MAX_SLOTS:
        raise InputError(f"--slots must be between 1 and {MAX_SLOTS}")
    n = LLAMA_SERVER_DEFAULT_SLOTS if slots is None else slots
    how = "given" if slots is not None else "llama-server default -np auto = 4"
    served = engine.model_copy(update={"max_num_seqs": n, "continuous_batching": n > 1})
    if n > 1:
        note = (f"{n} server slots ({how}): continuous batching of up to {n} sequences over a "
                f"shared KV cache, prompts in chunks of n_batch={engine.prefill_chunk_tokens}")
    else:
        note = f"1 server slot ({how}): one request at a time, the others wait (FCFS)"
    return served, note


def slots_for_hardware(hw: HardwareSpec, slots: int | None, offload: bool | str | None = None,
                       engine: str | None = None, precision: str | None = None) -> int | None:
    """`slots` for a device served by llama.cpp (the engine named, else the one an estimate
    picks: perf/offload.engine_for, from the offload mode and the weights' format), else None:
    one --slots across a comparison of many devices applies to the llama.cpp rows only."""
    from inferplan.catalog.engines import get_engine
    from inferplan.catalog.precisions import get_precision
    from inferplan.perf.offload import engine_for

    if slots is None:
        return None
    stored = get_precision(precision) if precision not in (None, "", "unknown") else None
    eng = get_engine(engine) if engine else engine_for(hw, offload, stored)
    return slots if eng.base_id in SLOT_ENGINES else None
