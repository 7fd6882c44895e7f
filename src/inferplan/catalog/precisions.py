"""Number formats for weights and KV cache: bits per weight, native compute, unpack cost."""

from __future__ import annotations

from functools import lru_cache

from inferplan.catalog._load import build_alias_index, data_path, load_yaml, resolve_id
from inferplan.catalog.schema import Precision
from inferplan.errors import CatalogError

_ALIASES = {
    "bf16": ["bfloat16"],
    "fp16": ["float16", "half"],
    "fp32": ["float32", "f32"],
    "fp8": ["fp8_e4m3", "e4m3", "float8"],
    "fp4": ["nvfp4"],
    "int4": ["w4a16"],
    "gptq-int4": ["gptq", "gptq-4bit"],
    "awq-int4": ["awq", "awq-4bit"],
    "int8": ["w8a16"],
    # a W8A8 checkpoint (SmoothQuant, llm-compressor) keeps its embedding and LM head in 16 bits
    "w8a8-int8": ["w8a8", "smoothquant"],
    "q4_0": ["q4"],
    "q8_0": ["q8"],
}


@lru_cache(maxsize=1)
def precision_catalog() -> dict[str, Precision]:
    raw = load_yaml(data_path("precisions.yaml"))
    out: dict[str, Precision] = {}
    for entry in raw:
        try:
            p = Precision(**entry)
        except Exception as e:  # pydantic.ValidationError: keep the message short
            raise CatalogError(f"precisions.yaml entry {entry.get('id')!r}: {e}") from e
        out[p.id] = p
    return out


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, set[str]]:
    return build_alias_index({k: _ALIASES.get(k, []) for k in precision_catalog()})


def get_precision(name: str) -> Precision:
    """Look up a precision id or alias (``unknown`` is handled by callers, not here)."""
    cat = precision_catalog()
    return cat[resolve_id("precision", name, cat, _alias_index())]


def check_precision_ids(*names: str | None) -> None:
    """Raise the unknown-id error for any named precision the catalog does not have (``None``,
    empty, ``unknown``, ``native`` and ``auto`` mean the default). For commands that loop over
    hardware: a misspelt precision is the user's error, not every device's "does not fit"."""
    for name in names:
        if name not in (None, "", "unknown", "native", "auto"):
            get_precision(name)


def checkpoint_precision(method: str, bits: int, group_size: int | None) -> str | None:
    """The precision id of a GPTQ/AWQ checkpoint (``quantization_config``: quant_method, bits,
    group_size): 4-bit ones by group size (128 when unset; -1 is per channel), 8-bit GPTQ ones
    gptq-int8 (fp16 embedding and head), other 8-bit ones int8;
    None for widths the catalog has no format for (the caller keeps the config's dtype)."""
    if bits == 8:
        return "gptq-int8" if method == "gptq" else "int8"
    if bits != 4:
        return None
    suffix = {32: "-g32", 64: "-g64", -1: "-pc"}.get(group_size or 128, "")
    pid = f"{method}-int4{suffix}"
    return pid if pid in precision_catalog() else f"{method}-int4"
