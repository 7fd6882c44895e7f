"""Input validation: the one place that says what a number from outside may be.

Every input (CLI flags, a ``config.json``, a measurement CSV, a calibration or hardware YAML,
an HTTP body) goes through these checks: finite, in range, with the limit named in the
message, raising :class:`~inferplan.errors.InputError` (CLI exit 2, HTTP 4xx). The limits are
far beyond any real model or deployment and small enough that one request cannot ask for
unbounded work (a 10^12-layer model would loop for minutes, then run out of memory).

Also here: durations with units (``50ms``, ``1.5s``, ``2m``) and the warnings for implausible
SLOs; an output file's path (writable before the work starts). Not here: what a valid catalog entry is (``catalog/schema.py``, pydantic).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from inferplan.errors import InputError, validation_summary

__all__ = ["LIMITS", "check_int", "check_float", "parse_duration_s", "slo_warning",
           "check_config", "check_spec", "build"]

# name -> largest accepted value (smallest is 1 unless a check says otherwise)
LIMITS: dict[str, float] = {
    "layers": 1_000,  # the deepest published LLMs have ~130
    "requests": 10**7,  # simulated requests (a 10^6-request run takes minutes)
    "tokens": 2**24,  # prompt or output tokens of one sequence (longest contexts: 10M = 10 x 2^20, Llama 4 Scout)
    "batch": 10**6,  # sequences decoded together, clients, KV blocks
    "devices": 100_000,
    "parallel": 4_096,  # tp, pp, ep
    "threads": 4_096,
    "replicas": 100_000,
    "hidden": 1_000_000,  # hidden size, FFN width, head dims, LoRA ranks
    "heads": 100_000,
    "vocab": 10**7,
    "experts": 100_000,
    "rate": 10**6,  # requests per second
    "usd_per_hour": 10**6,
    "seconds": 10**7,  # any duration (~116 days)
}

_T = TypeVar("_T")


def check_int(name: str, value: Any, limit: str | int, *, lo: int = 1) -> int:
    """``value`` as an int in [lo, limit]; ``limit`` is a key of :data:`LIMITS` or a number."""
    hi = int(LIMITS[limit] if isinstance(limit, str) else limit)
    if isinstance(value, bool) or value is None:
        raise InputError(f"{name} must be an integer, not {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"{name} must be an integer, not {value!r}")
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InputError(f"{name} must be an integer, not {value!r}") from None
    if not isinstance(value, int):
        raise InputError(f"{name} must be an integer, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise InputError(f"{name} = {value:,} is out of range: must be between {lo:,} and {hi:,}")
    return value


def check_float(name: str, value: Any, hi: float | str, *, lo: float = 0.0,
                lo_open: bool = True, unit: str = "") -> float:
    """``value`` as a finite float in (lo, hi] (``lo_open``) or [lo, hi]."""
    top = float(LIMITS[hi] if isinstance(hi, str) else hi)
    if isinstance(value, bool) or value is None:
        raise InputError(f"{name} must be a number, not {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(x):
        raise InputError(f"{name} must be a finite number, not {value!r}")
    u = f" {unit}" if unit else ""
    if (x <= lo if lo_open else x < lo) or x > top:
        rel = ">" if lo_open else ">="
        raise InputError(f"{name} = {x:g}{u} is out of range: must be {rel} {lo:g} and <= {top:g}{u}")
    return x


# --- durations -------------------------------------------------------------------------------

_UNITS_S = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
            "h": 3600.0, "hr": 3600.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def check_writable_out(path: Path, flag: str = "--out") -> None:
    """InputError unless a file can be written at `path` (its folder exists and is writable, and
    an existing file is): what would fail only after minutes of work is refused before it."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{flag} {path}: cannot write there (the folder {parent} is missing or read-only)")


def parse_duration_s(text: str | float, name: str = "duration", zero: bool = False) -> float:
    """``50ms``, ``1.5s``, ``2m``, ``1h``, ``250us`` -> seconds; a bare number is seconds (`zero`:
    0 allowed, as a think time is; not a bound or a run length)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return check_float(name, text, "seconds", lo=0.0, lo_open=not zero, unit="s")
    m = _DURATION.match(str(text))
    if not m or m.group(2) not in ("", *_UNITS_S):
        raise InputError(f"{name}: cannot read {text!r} as a duration "
                         "(examples: 50ms, 1.5s, 2m, 1h; a bare number is seconds)")
    seconds = float(m.group(1)) * _UNITS_S.get(m.group(2) or "s", 1.0)
    return check_float(name, seconds, "seconds", lo=0.0, lo_open=not zero, unit="s")


# metric -> (seconds above which a bound is implausible, why)
_PLAUSIBLE_S = {"tpot": (10.0, "a TPOT above 10 s is slower than anyone reads; did you mean ms?"),
                "itl": (10.0, "an inter-token gap above 10 s is implausible; did you mean ms?"),
                "ttft": (3600.0, "a TTFT above an hour is implausible; check the unit")}


def slo_warning(flag: str, seconds: float) -> str | None:
    """A warning for an implausible SLO bound (``--p90-tpot 50`` meant as 50 ms), else None."""
    for metric, (top, why) in _PLAUSIBLE_S.items():
        if metric in flag and seconds > top:
            return f"{flag} {seconds:g} s: {why}"
    return None


# --- pydantic models built from user input ----------------------------------------------------


def build(cls: type[_T], *, flags: bool = True, **kw: Any) -> _T:
    """``cls(**kw)`` for a pydantic model, its validation errors turned into InputError."""
    try:
        return cls(**kw)
    except ValidationError as e:
        raise InputError(validation_summary(e, flags=flags, limit=4)) from None


# --- config.json -------------------------------------------------------------------------------

# field -> limit key; every one, where present, must be a finite integer within its limit
CONFIG_INTS: dict[str, str] = {
    "num_hidden_layers": "layers", "num_layers": "layers", "n_layer": "layers",
    "hidden_size": "hidden", "intermediate_size": "hidden", "moe_intermediate_size": "hidden",
    "intermediate_size_mlp": "hidden", "block_ff_dim": "hidden", "head_dim": "hidden",
    "kv_lora_rank": "hidden", "q_lora_rank": "hidden", "qk_nope_head_dim": "hidden",
    "qk_rope_head_dim": "hidden", "v_head_dim": "hidden", "conv_L_cache": "hidden",
    "num_attention_heads": "heads", "num_key_value_heads": "heads",
    "vocab_size": "vocab", "max_position_embeddings": "tokens",
    "sliding_window": "tokens", "attention_chunk_size": "tokens",
    "num_experts": "experts", "n_routed_experts": "experts", "num_local_experts": "experts",
    "num_experts_per_tok": "experts", "experts_per_token": "experts",
    "n_shared_experts": "experts", "first_k_dense_replace": "layers", "moe_layer_freq": "layers",
    "decoder_sparse_step": "layers", "interleave_moe_layer_step": "layers",
    "sliding_window_pattern": "layers", "max_window_layers": "layers",
    "block_multiple_of": "hidden",
}
# fields that may be 0 (meaning "none"); the others must be >= 1
CONFIG_ZERO_OK = {"q_lora_rank", "n_shared_experts", "first_k_dense_replace", "max_window_layers",
                  "num_experts", "sliding_window", "attention_chunk_size", "head_dim",
                  "max_position_embeddings", "num_key_value_heads", "intermediate_size",
                  "moe_intermediate_size", "decoder_sparse_step", "moe_layer_freq"}
CONFIG_LISTS = ("layer_types", "mlp_only_layers", "full_attn_idxs", "no_rope_layers", "moe_layers",
                "architectures")


def check_config(cfg: Any, model_id: str, where: str = "config.json") -> None:
    """Reject a config.json whose sizes are not finite positive integers within bounds."""
    from inferplan.errors import UnsupportedModelError

    if not isinstance(cfg, Mapping):
        raise UnsupportedModelError(f"model '{model_id}': {where} must be a JSON object")
    for key, limit in CONFIG_INTS.items():
        v = cfg.get(key)
        if v is None:
            continue
        lo = 0 if key in CONFIG_ZERO_OK else 1
        try:
            check_int(f"{where} field {key}", v, limit, lo=lo)
        except InputError as e:
            raise UnsupportedModelError(f"model '{model_id}': {e}") from None
    for key in CONFIG_LISTS:
        v = cfg.get(key)
        if v is not None and (not isinstance(v, list) or len(v) > LIMITS["layers"]):
            raise UnsupportedModelError(f"model '{model_id}': {where} field {key} must be a list "
                                        f"of at most {int(LIMITS['layers']):,} entries")
    for key in ("text_config", "quantization_config", "rope_scaling"):
        v = cfg.get(key)
        if v is not None and not isinstance(v, Mapping):
            raise UnsupportedModelError(f"model '{model_id}': {where} field {key} must be an object")
    if isinstance(cfg.get("text_config"), Mapping):
        check_config(cfg["text_config"], model_id, f"{where} text_config")


def check_spec(spec: Any) -> None:
    """After an adapter built a ModelSpec: every shape positive, the depth within bounds."""
    from inferplan.errors import UnsupportedModelError

    layers = sum(g.count for g in spec.groups)
    if not 1 <= layers <= LIMITS["layers"]:
        raise UnsupportedModelError(f"model '{spec.id}': {layers:,} layers; must be between 1 and "
                                    f"{int(LIMITS['layers']):,}")
    if spec.hidden_size < 1 or spec.vocab_size < 1:
        raise UnsupportedModelError(f"model '{spec.id}': hidden_size and vocab_size must be >= 1")
    for g in spec.groups:
        m, f = g.mixer, g.ffn
        if m.kind == "attention" and min(m.num_q_heads, m.num_kv_heads, m.head_dim) < 1:
            raise UnsupportedModelError(
                f"model '{spec.id}': attention needs >= 1 query head, KV head and head_dim "
                f"(got {m.num_q_heads}, {m.num_kv_heads}, {m.head_dim})")
        if m.kind == "attention" and m.num_q_heads % m.num_kv_heads:
            raise UnsupportedModelError(
                f"model '{spec.id}': {m.num_q_heads} query heads are not a multiple of "
                f"{m.num_kv_heads} KV heads")
        if m.kind == "mla" and min(m.num_q_heads, m.kv_lora_rank) < 1:
            raise UnsupportedModelError(f"model '{spec.id}': MLA needs >= 1 head and kv_lora_rank")
        if f.intermediate_size < 1:
            raise UnsupportedModelError(f"model '{spec.id}': FFN width must be >= 1")
        if f.kind == "moe" and not 1 <= f.top_k <= f.num_experts:
            raise UnsupportedModelError(f"model '{spec.id}': experts per token ({f.top_k}) must be "
                                        f"between 1 and the number of experts ({f.num_experts})")


def first_line(text: str, limit: int = 300) -> str:
    """One line of an error message, capped (for messages built from untrusted text)."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
