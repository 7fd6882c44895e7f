"""Serving engines: profiles as data, lookup, aliases, and the default engine for a device.

Each engine is one YAML file under ``catalog/data/engines/`` (a mapping, or a list of mappings
when one engine's behaviour differs between version ranges), validated by
:class:`~inferplan.catalog.schema.EngineSpec` (``extra="forbid"``). Every value cites the
engine's docs or code in ``source``/``sources``. What an engine does on a given device (batch
and token limits that depend on its memory) is :meth:`EngineSpec.for_hardware`.
"""

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
    """All bundled engine profiles by id (one YAML file per engine)."""
    out: dict[str, EngineSpec] = {}
    folder = data_path("engines")
    for path in sorted(folder.glob("*.yaml")):
        raw = load_yaml(path)
        for entry in raw if isinstance(raw, list) else [raw]:
            if not isinstance(entry, dict):
                raise CatalogError(f"{path.name}: an engine profile must be a mapping")
            try:
                e = EngineSpec(**entry)
            except Exception as err:
                raise CatalogError(f"{path.name}: engine {entry.get('id')!r}: {err}") from err
            if e.id in out:
                raise CatalogError(f"{path.name}: engine '{e.id}' is defined twice")
            out[e.id] = e
    if not out:
        raise CatalogError(f"no engine profiles in {folder}")
    return out


@lru_cache(maxsize=1)
def _engine_index() -> dict[str, set[str]]:
    return build_alias_index({k: v.aliases for k, v in engine_catalog().items()})


def get_engine(name: str) -> EngineSpec:
    cat = engine_catalog()
    index = _engine_index()
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
        runs = ", ".join(engine.hardware_classes) + (
            f" ({'/'.join(engine.vendors)} only)" if engine.vendors else "")
        raise InputError(
            f"engine '{engine.id}' does not run on {hw.id} ({hw.vendor} {hw.hw_class}); it runs on "
            f"{runs}; default for {hw.id}: {default_engine(hw).id}"
        )
