"""Serving engines: profiles as data, lookup, aliases, and the default engine for a device.

Each engine is one YAML file under ``catalog/data/engines/`` (a mapping, or a list of mappings
when one engine's behaviour differs between version ranges), validated by
:class:`~inferplan.catalog.schema.EngineSpec` (``extra="forbid"``). Every value cites the
engine's docs or code in ``source``/``sources``. What an engine does on a given device (batch
and token limits that depend on its memory) is :meth:`EngineSpec.for_hardware`.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from inferplan.catalog._load import build_alias_index, data_path, load_yaml, resolve_id
from inferplan.catalog.schema import Admission, EngineSpec, HardwareSpec, Precision
from inferplan.errors import (
    CatalogError,
    InputError,
    UnknownIdError,
    UnsupportedFormatError,
    validation_summary,
)

_DEFAULT_BY_CLASS = {
    "gpu": "vllm", "tpu": "vllm", "asic": "vllm", "wafer": "cerebras", "lpu": "groq",
    "cpu": "llama.cpp", "soc": "llama.cpp", "npu": "npu-runtime",
}


# what a profile written `based_on` another does not take from it: who it is and when it ran
_OWN_FIELDS = ("id", "aliases", "description", "versions", "successor", "until", "until_version",
               "fork_of", "factors_from", "sources")


def _based_on(entry: dict[str, Any], raws: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """`entry` with the fields it does not set taken from the profile it is ``based_on`` (a
    release line that differs from its successor in a few fields states only those)."""
    base_id = entry.get("based_on")
    if base_id is None:
        return entry
    if base_id not in raws or base_id == entry.get("id"):
        raise CatalogError(f"engine {entry.get('id')!r}: based_on '{base_id}' is not another engine")
    base = _based_on(raws[base_id][1], raws)
    own = {k: v for k, v in entry.items() if k != "based_on"}
    return {**{k: v for k, v in base.items() if k not in _OWN_FIELDS}, **own}


@lru_cache(maxsize=1)
def engine_catalog() -> dict[str, EngineSpec]:
    """All bundled engine profiles by id (one YAML file per engine)."""
    raws: dict[str, tuple[str, dict[str, Any]]] = {}
    folder = data_path("engines")
    for path in sorted(folder.glob("*.yaml")):
        raw = load_yaml(path)
        for entry in raw if isinstance(raw, list) else [raw]:
            if not isinstance(entry, dict):
                raise CatalogError(f"{path.name}: an engine profile must be a mapping")
            name = str(entry.get("id") or path.stem)
            if name in raws:
                raise CatalogError(f"{path.name}: engine '{name}' is defined twice")
            raws[name] = (path.name, entry)
    out: dict[str, EngineSpec] = {}
    for name, (file, entry) in raws.items():
        try:
            out[name] = EngineSpec(**_based_on(entry, raws))
        except CatalogError:
            raise
        except Exception as err:
            raise CatalogError(f"{file}: engine {name!r}: {err}") from err
    if not out:
        raise CatalogError(f"no engine profiles in {folder}")
    for e in out.values():
        if (e.successor is None) != (e.until is None):
            raise CatalogError(f"engine '{e.id}': successor and until go together")
        if e.successor is not None and e.successor not in out:
            raise CatalogError(f"engine '{e.id}': successor '{e.successor}' is not an engine")
        if e.fork_of is not None and (e.fork_of not in out or e.fork_of == e.id):
            raise CatalogError(f"engine '{e.id}': fork_of '{e.fork_of}' is not another engine")
        if e.factors_from is not None and (e.factors_from not in out or e.factors_from == e.id):
            raise CatalogError(f"engine '{e.id}': factors_from '{e.factors_from}' is not another engine")
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


def engine_as_of(engine: EngineSpec, date: str, hw: HardwareSpec,
                 version: tuple[int, ...] | None = None) -> EngineSpec:
    """The profile of `engine` that a measurement dated `date` (``YYYY`` or ``YYYY-MM``) ran.

    Older release lines are profiles with ``successor`` (the engine that superseded them) and
    ``until`` (the month the successor's behaviour landed). A date is taken at its latest
    possible month (``2024`` is read as 2024-12), so only measurements surely older than the
    change get the older profile; one that does not run on `hw` is skipped. A measurement that
    names its engine ``version`` is placed by it on lines that give ``until_version`` (a page
    dated after a release may report a run of an older one).
    """
    parts = date.strip().split("-")
    month = None
    if parts[0].isdigit() and len(parts[0]) == 4:
        month = f"{parts[0]}-{parts[1] if len(parts) > 1 and parts[1].isdigit() else '12'}"

    def older_than(e: EngineSpec) -> bool:
        if version is not None and e.until_version is not None:
            return version < tuple(int(x) for x in e.until_version.split("."))
        return month is not None and e.until is not None and month < e.until

    older = sorted((e for e in engine_catalog().values()
                    if e.successor == engine.id and older_than(e) and runs_on(e, hw)),
                   key=lambda e: e.until or "")
    return engine_as_of(older[0], date, hw, version) if older else engine


def version_in(text: str) -> tuple[int, ...] | None:
    """The release number right after the engine's name in an engine-version note (``vLLM
    v0.11.0`` -> (0, 11, 0), ``SGLang 0.5.9 (docker ...)`` -> (0, 5, 9)), or None (a commit or
    build number, a docker tag, a repository path whose first number may be another product's:
    ``rocm/vllm 6.3.1``; no version)."""
    m = re.match(r"\s*[A-Za-z][\w.+-]*\s+v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(g) for g in m.groups() if g is not None) if m else None


# Engine launch options the model reads: name -> (field, type or {spelling: value} for a choice,
# aliases as the engines spell them).
ENGINE_OPTIONS: dict[str, tuple[str, type | dict[str, str], tuple[str, ...]]] = {
    "max_num_seqs": ("max_num_seqs", int, ("max_running_requests", "max_batch_size", "max_running")),
    "max_num_batched_tokens": ("prefill_chunk_tokens", int,
                               ("max_num_tokens", "chunked_prefill_size", "chunked_prefill")),
    "memory_utilization": ("memory_utilization", float,
                           ("gpu_memory_utilization", "mem_fraction_static", "free_gpu_memory_fraction",
                            "kv_cache_free_gpu_mem_fraction")),
    "scheduler_recv_interval": ("recv_interval_steps", int, ("recv_interval",)),
    "num_continuous_decode_steps": ("continuous_decode_steps", int, ("continuous_decode_steps",)),
    "adp_timeout_iters": ("adp_balance_timeout_steps", int, ("attention_dp_timeout_iters",)),
    "batch_wait_timeout_iters": ("batch_wait_timeout_steps", int, ()),
    "batch_wait_max_tokens_ratio": ("batch_wait_max_tokens_ratio", float, ()),
    # vLLM --async-scheduling (opt-in from 0.10, default from 0.14): the host schedules step n+1
    # while the device runs step n (EngineSpec.overlap_scheduler); 1/true on, 0/false off
    "async_scheduling": ("overlap_scheduler", bool, ("enable_async_scheduling", "overlap_scheduler")),
    # waiting prompts run in steps of their own (EngineSpec.prefill_first); SGLang's
    # --enable-mixed-chunk is its negation (prompt chunks ride in the decode steps)
    "prefill_first": ("prefill_first", bool, ()),
    # the longest sequence (prompt + output) served: vLLM --max-model-len; the length a
    # compiled-shape engine was exported with (optimum-neuron sequence_length, TGI neuron
    # MAX_TOTAL_TOKENS), which it pads every sequence to (perf/compiled.py)
    "max_model_len": ("max_model_len", int, ("sequence_length", "max_total_tokens", "max_seq_len")),
    # TensorRT-LLM's capacity scheduler (EngineSpec.kv_reservation): GUARANTEED_NO_EVICT (its
    # default) reserves every admitted request's prompt + output; MAX_UTILIZATION admits while
    # the pages in use fit and pauses requests when they run out (trtllm-bench
    # --scheduler_policy, Triton's and MLPerf's batch_scheduler_policy max_util)
    "scheduler_policy": ("kv_reservation", {"guaranteed_no_evict": "full_sequence",
                                            "max_utilization": "on_demand", "max_util": "on_demand"},
                         ("batch_scheduler_policy", "capacity_scheduler_policy")),
    # llama.cpp -ngl / --n-gpu-layers N: N layers on the GPUs, the others on the host CPU
    # (EngineSpec.host_layers engines on GPUs only; perf/hostlayers.py)
    "n_gpu_layers": ("gpu_layers", int, ("ngl", "gpu_layers")),
    # llama.cpp --n-cpu-moe N: the routed experts of the first N MoE layers in host DRAM,
    # computed by the host CPU (--offload experts with N; perf/offload.py ExpertHost.share)
    "n_cpu_moe": ("cpu_moe_layers", int, ("cpu_moe", "ncmoe")),
}
NEGATED_OPTIONS = {"enable_mixed_chunk": "prefill_first"}  # spelling -> the option it switches off
# options one engine's launcher has (its release lines and forks included); the others are
# knobs every serving engine has in some spelling. Another engine refuses them: an SGLang
# polling interval on vLLM would change a vLLM estimate by a knob vLLM does not have.
OPTION_ENGINES: dict[str, tuple[str, ...]] = {
    "scheduler_recv_interval": ("sglang", "sglang-jax"),
    "num_continuous_decode_steps": ("sglang", "sglang-jax"),
    "prefill_first": ("sglang", "sglang-jax", "vllm"),  # vLLM V0: --enable-chunked-prefill False
    "adp_timeout_iters": ("tensorrt-llm",),
    "batch_wait_timeout_iters": ("tensorrt-llm",),
    "batch_wait_max_tokens_ratio": ("tensorrt-llm",),
    "scheduler_policy": ("tensorrt-llm",),
}  # n_gpu_layers and n_cpu_moe: llama.cpp's, refused with their own reasons (perf/hostlayers.py)
_BOOLEAN_WORDS = {"true": 1.0, "on": 1.0, "yes": 1.0, "false": 0.0, "off": 0.0, "no": 0.0}
_ADMISSION_FIELDS = set(Admission.model_fields) - {"source"}


# every spelling of an engine option -> its ENGINE_OPTIONS name
_OPTION_NAMES = {alias: name for name, (_, _, aliases) in ENGINE_OPTIONS.items() for alias in (name, *aliases)}


def _spelled(key: str) -> str:
    """An option key as the table spells it (``--max-num-seqs`` -> ``max_num_seqs``)."""
    return key.strip().lstrip("-").replace("-", "_")


def option_value(options: dict[str, str | float] | None, name: str) -> str | float | None:
    """The value `options` gives the ENGINE_OPTIONS option `name` under any of its spellings."""
    return next((v for k, v in (options or {}).items() if _OPTION_NAMES.get(_spelled(k)) == name), None)


def option_given(options: dict[str, str | float] | None, name: str) -> bool:
    """True when `options` sets the ENGINE_OPTIONS option `name` under any of its spellings."""
    return option_value(options, name) is not None


def inert_given(engine: EngineSpec, options: dict[str, str | float] | None) -> list[str]:
    """The given launch options that `engine` accepts but never reads (``inert_options``), as
    the user spelled them."""
    return [k for k in options or {} if _OPTION_NAMES.get(_spelled(k)) in engine.inert_options]


def parse_engine_options(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` strings (the CLI's ``--engine-option``) as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"engine option '{item}': expected KEY=VALUE (e.g. max_num_seqs=256)")
        out[key.strip()] = value.strip()
    return out


def with_engine_options(engine: EngineSpec, options: dict[str, str | float] | None) -> EngineSpec:
    """`engine` launched with these options (``max_num_seqs``, ``scheduler_recv_interval``...,
    or the engines' own spellings: ``max_running_requests``, ``max_num_tokens``...)."""
    if not options:
        return engine
    top: dict[str, float | bool | str] = {}
    adm: dict[str, float | bool] = {}
    for key, raw in options.items():
        spelled = _spelled(key)
        negated = spelled in NEGATED_OPTIONS
        name = NEGATED_OPTIONS[spelled] if negated else _OPTION_NAMES.get(spelled)
        if name is None:
            from difflib import get_close_matches

            near = get_close_matches(key, [*_OPTION_NAMES, *NEGATED_OPTIONS], n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise InputError(f"unknown engine option '{key}'{hint} (known: {', '.join(ENGINE_OPTIONS)})")
        owners = OPTION_ENGINES.get(name, ())
        if owners and not {release_line(engine), engine.base_id} & set(owners):
            raise InputError(f"engine option {key} is {' and '.join(owners)}'s; {engine.id} has no "
                             f"such option")
        if name in engine.inert_options:  # accepted by the engine, read by nothing in it
            continue
        field, kind, _ = ENGINE_OPTIONS[name]
        if isinstance(kind, dict):  # a choice among spellings
            choice = kind.get(str(raw).strip().lower())
            if choice is None:
                raise InputError(f"engine option {key}: '{raw}' is not one of {', '.join(kind)}")
            top[field] = choice
            continue
        word = _BOOLEAN_WORDS.get(str(raw).strip().lower()) if kind is bool else None
        try:
            value = word if word is not None else float(raw)
        except (TypeError, ValueError):
            what = "on/off (1, 0, true, false)" if kind is bool else "a number"
            raise InputError(f"engine option {key}: '{raw}' is not {what}") from None
        if not math.isfinite(value):
            raise InputError(f"engine option {key}: '{raw}' is not a finite number")
        if kind is bool:
            if value not in (0.0, 1.0):
                raise InputError(f"engine option {key}: '{raw}' is not on/off (1, 0, true, false)")
            value = bool(value) != negated
        elif kind is int:
            if not value.is_integer():
                raise InputError(f"engine option {key}: '{raw}' is not a whole number")
            value = int(value)
        (adm if field in _ADMISSION_FIELDS else top)[field] = value
    try:
        update: dict[str, object] = dict(top)
        if adm:
            update["admission"] = Admission(**{**engine.admission.model_dump(), **adm})
        return type(engine)(**{**engine.model_dump(), **update})
    except ValidationError as e:  # the new values out of their ranges, named as the user did
        text = validation_summary(e)
        for name, (field, _, _) in ENGINE_OPTIONS.items():
            text = re.sub(rf"\b(admission\.)?{field}\b", name, text)
        given = ", ".join(f"{k}={v}" for k, v in options.items())
        raise InputError(f"engine option {text} (given: {given})") from None


def default_engine(hw: HardwareSpec) -> EngineSpec:
    return get_engine(hw.default_engine or _DEFAULT_BY_CLASS[hw.hw_class])


def release_line(engine: EngineSpec) -> str:
    """The id of the engine an older release line was superseded by, followed to the newest
    (vllm-2024 -> vllm-2025 -> vllm): one engine, whatever its era. Forks stay themselves."""
    seen = {engine.id}
    while engine.successor is not None and engine.successor not in seen:
        engine = get_engine(engine.successor)
        seen.add(engine.id)
    return engine.id


def reads_format(engine: EngineSpec, precision: Precision, hw: HardwareSpec | None = None) -> bool:
    """Whether the engine's loader reads weights stored in `precision` (``Precision.engines``,
    matched on the engine's release line: llama.cpp-2023 reads what llama.cpp reads) on `hw`'s
    class of device (``Precision.hardware_classes``: vLLM reads GGUF on GPUs, not on TPUs)."""
    if hw is not None and precision.hardware_classes and hw.hw_class not in precision.hardware_classes:
        return False
    if hw is not None and f"{hw.hw_class}@{hw.vendor}" in precision.exclude_hardware:
        return False
    if precision.id in NO_GGUF_TYPE and is_ggml(engine):
        return False
    if not precision.engines:
        return True
    names = {release_line(engine), engine.id}
    return any(name in names and (not cls or hw is None or hw.hw_class == cls)
               for name, cls in format_readers(precision))


def format_readers(precision: Precision) -> list[tuple[str, str]]:
    """(engine id, device class or "") of each ``Precision.engines`` entry: "engine" reads the
    format on any class it runs on, "engine@class" on that class only (vLLM reads GGUF on GPUs)."""
    return [(name, cls) for name, _, cls in (e.partition("@") for e in precision.engines)]


def engine_for_format(precision: Precision, hw: HardwareSpec) -> EngineSpec | None:
    """The first engine that reads `precision` and runs on `hw` (None: no such engine)."""
    for name, _ in format_readers(precision):
        eng = get_engine(name)
        if runs_on(eng, hw) and reads_format(eng, precision, hw):
            return eng
    return None


def check_engine_reads(engine: EngineSpec, precision: Precision, hw: HardwareSpec) -> None:
    """Refuse an engine that cannot load the weight format (llama.cpp and bitnet.cpp's I2_S)."""
    if reads_format(engine, precision, hw):
        return
    if precision.id in NO_GGUF_TYPE and is_ggml(engine) and (
            not precision.hardware_classes or hw.hw_class in precision.hardware_classes):
        raise UnsupportedFormatError(
            f"engine '{engine.id}' cannot load {precision.id} weights: GGUF has no {precision.id} "
            "tensor type (llama.cpp runs such a checkpoint converted: --precision q8_0 or q4_k_m, "
            "or leave --precision out)")
    default = default_engine(hw)
    other = default if reads_format(default, precision, hw) else engine_for_format(precision, hw)
    article = "an" if hw.hw_class[0] in "aeiou" else "a"
    hint = (f"; use --engine {other.id}" if other is not None
            else f"; none reads it on {hw.id} ({article} {hw.hw_class}): choose another --precision")
    allowed = precision.hardware_classes
    readers = ", ".join(
        f"{name} (on {cls or '/'.join(c for c in get_engine(name).hardware_classes if not allowed or c in allowed)})"
        for name, cls in format_readers(precision))
    excluded = [x for x in precision.exclude_hardware if x.split("@")[0] == hw.hw_class]
    where = (f"engines that read it: {readers}" if readers else
             f"it is a format of {'/'.join(allowed)} devices only" + (
                 f", not {hw.vendor}'s" if f"{hw.hw_class}@{hw.vendor}" in excluded else ""))
    raise UnsupportedFormatError(f"engine '{engine.id}' cannot load {precision.id} weights ({precision.description}); "
                                 f"{where}{hint}")


# KV-cache types by engine family. The ggml servers take --cache-type-k/-v f32, f16, bf16, q8_0,
# q4_0, q4_1, iq4_nl, q5_0, q5_1 (llama.cpp common/arg.cpp kv_cache_types; ik_llama.cpp, bitnet.cpp
# and T-MAC run llama.cpp's KV cache); the tensor engines keep 16-bit, FP8 (vLLM/SGLang
# --kv-cache-dtype fp8*, TensorRT-LLM), INT8 (TensorRT-LLM), NVFP4 (TensorRT-LLM on Blackwell) or
# 4/8-bit integer caches (exllamav2 Q4/Q8, MLX kv_bits). None stores a KV cache in a weight-only
# format (GPTQ/AWQ groups, k-quants, ternary, W4A16).
GGML_ENGINES = frozenset({"llama.cpp", "ik_llama.cpp", "bitnet.cpp", "t-mac"})
GGML_KV_FORMATS = frozenset({"f16", "fp16", "bf16", "fp32", "q8_0", "q4_0", "q5_0", "q5_1"})
TENSOR_KV_FORMATS = frozenset({"bf16", "fp16", "f16", "fp32", "fp8", "int8", "int4", "fp4"})


# float formats GGUF has no tensor type for (ggml.h ggml_type: F32/F16/BF16, the Q*/IQ*/TQ*
# blocks and MXFP4; no FP8 E4M3): a ggml engine runs such a checkpoint converted
# (convert_hf_to_gguf.py dequantizes FP8 weights, then writes the --outtype asked for)
NO_GGUF_TYPE = frozenset({"fp8"})


def is_ggml(engine: EngineSpec) -> bool:
    """llama.cpp and the engines built on its ggml tensors and GGUF files."""
    return engine.base_id in GGML_ENGINES or release_line(engine) in GGML_ENGINES


FLOAT_KV = frozenset({"bf16", "fp16", "f16", "fp32"})
# engines whose cache types are documented narrower or wider than the tensor engines' union:
# vLLM --kv-cache-dtype auto/fp8/fp8_e4m3/fp8_e5m2 and SGLang fp8_e4m3/fp8_e5m2 (no int8 cache);
# ik_llama.cpp adds its Q6_0 cache type to llama.cpp's
ENGINE_KV_FORMATS = {
    "vllm": FLOAT_KV | {"fp8"},
    "sglang": FLOAT_KV | {"fp8"},
    "ik_llama.cpp": GGML_KV_FORMATS | {"q6_0"},
}


def kv_formats(engine: EngineSpec) -> frozenset[str]:
    """The precision ids an engine's KV cache can be stored in (module constants above)."""
    own = ENGINE_KV_FORMATS.get(release_line(engine))
    if own is not None:
        return frozenset(own)
    return GGML_KV_FORMATS if is_ggml(engine) else TENSOR_KV_FORMATS


def check_kv_format(engine: EngineSpec, kv: Precision) -> None:
    """Refuse a KV-cache precision the engine has no cache type for (a ternary or GPTQ cache)."""
    allowed = kv_formats(engine)
    if kv.id not in allowed:
        raise UnsupportedFormatError(
            f"engine '{engine.id}' has no {kv.id} KV cache ({kv.description}); its KV cache types: "
            f"{', '.join(sorted(allowed))}")


def runs_on(engine: EngineSpec, hw: HardwareSpec) -> bool:
    """Whether the engine runs on this class of device from this vendor."""
    return hw.hw_class in engine.hardware_classes and (not engine.vendors or hw.vendor in engine.vendors)


def check_engine_runs_on(engine: EngineSpec, hw: HardwareSpec) -> None:
    """Refuse pairs that cannot exist (TensorRT-LLM on an AMD GPU, Groq's stack on a CPU)."""
    if not runs_on(engine, hw):
        runs = ", ".join(engine.hardware_classes) + (
            f" ({'/'.join(engine.vendors)} only)" if engine.vendors else "")
        # a port of the engine to this hardware (sglang -> sglang-jax on TPUs)
        ports = [e.id for e in engine_catalog().values() if e.id.startswith(f"{engine.id}-")
                 and e.successor is None and runs_on(e, hw)]
        hint = f"; its port to {hw.hw_class}s: {', '.join(ports)}" if ports else ""
        raise InputError(
            f"engine '{engine.id}' does not run on {hw.id} ({hw.vendor} {hw.hw_class}); it runs on "
            f"{runs}{hint}; default for {hw.id}: {default_engine(hw).id}"
        )
