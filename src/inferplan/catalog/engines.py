"""Serving engines: lookup, aliases, and the default engine for a device."""

from __future__ import annotations

from functools import lru_cache

from inferplan.catalog._load import build_alias_index, data_path, load_yaml, resolve_id
from inferplan.catalog.schema import EngineSpec, HardwareSpec
from inferplan.errors import CatalogError, InputError, UnknownIdError

_DEFAULT_BY_CLASS = {
    "gpu": "vllm", "tpu": "vllm", "asic": "vllm", "wafer": "cerebras", "lpu": "groq",
    "cpu": "llama.cpp", "soc": "llama.cpp", "npu": "npu-runtime",
}


@lru_cache(maxsize=1)
def engine_catalog() -> dict[str, EngineSpec]:
    out: dict[str, EngineSpec] = {}
    for entry in load_yaml(data_path("engines.yaml")):
        try:
            e = EngineSpec(**entry)
        except Exception as err:
            raise CatalogError(f"engines.yaml entry {entry.get('id')!r}: {err}") from err
        out[e.id] = e
    return out


def get_engine(name: str) -> EngineSpec:
    cat = engine_catalog()
    index = build_alias_index({k: v.aliases for k, v in cat.items()})
    try:
        return cat[resolve_id("engine", name, cat, index)]
    except UnknownIdError as e:
        raise UnknownIdError("engine", name, cat, hint=f"known engines: {', '.join(cat)}") from e


def default_engine(hw: HardwareSpec) -> EngineSpec:
    return get_engine(hw.default_engine or _DEFAULT_BY_CLASS[hw.hw_class])


def check_engine_runs_on(engine: EngineSpec, hw: HardwareSpec) -> None:
    """Refuse pairs that cannot exist (TensorRT-LLM on an AMD GPU, Groq's stack on a CPU)."""
    if hw.hw_class not in engine.hardware_classes or (
        engine.vendors and hw.vendor not in engine.vendors
    ):
        raise InputError(
            f"engine '{engine.id}' does not run on {hw.id} ({hw.vendor} {hw.hw_class}); "
            f"default for it: {default_engine(hw).id}"
        )
