"""The precisions an estimate runs at when the user names none: the weights' (the model's own,
or the format its engine ships models in), the KV cache's (the engine's default) and the
activations' float type (what the device computes in).
"""

from __future__ import annotations

from typing import Any

from inferplan.catalog.engines import check_kv_format
from inferplan.catalog.precisions import get_precision
from inferplan.catalog.schema import EngineSpec, HardwareSpec, Precision
from inferplan.models.spec import ModelSpec

# the GGUF type a ggml engine converts a checkpoint it cannot read into, by the checkpoint's bits:
# Q8_0 for 8 bits and more (convert_hf_to_gguf.py --outtype q8_0, the converter's 8-bit type),
# Q4_K_M below (the usual 4-bit GGUF of llama.cpp's quantize)
GGUF_CONVERSION = ((8.0, "q8_0"), (0.0, "q4_k_m"))


def converted_default(engine: EngineSpec, stored: Precision, hw: HardwareSpec) -> Precision | None:
    """The format ``engine`` runs a checkpoint in when it cannot read the checkpoint's own
    (``stored``, asked for by no --precision): a ggml engine converts an FP8 model to GGUF
    (GGUF_CONVERSION); None when the engine reads ``stored`` or converts nothing."""
    from inferplan.catalog.engines import NO_GGUF_TYPE, is_ggml, reads_format

    if stored.id not in NO_GGUF_TYPE or not is_ggml(engine) or reads_format(engine, stored, hw):
        return None
    to = next(pid for bits, pid in GGUF_CONVERSION if stored.bits_per_weight >= bits)
    p = get_precision(to)
    return p if reads_format(engine, p, hw) else None


def resolve_precisions(model: ModelSpec, engine: EngineSpec, hw: HardwareSpec,
                       precision: str | None, kv_precision: str | None,
                       ) -> tuple[Precision, Precision, Precision, str, dict[str, Any]]:
    """(weights, experts, kv, activation type, notes) with the defaults the engine would use."""
    notes = {}
    if precision in (None, "", "unknown"):
        w = get_precision(model.native_precision)
        e = get_precision(model.native_expert_precision or model.native_precision)
        notes["weight_precision"] = f"model native ({w.id}" + (f", experts {e.id})" if e.id != w.id else ")")
        if w.id == "fp32":  # vLLM/SGLang --dtype auto and llama.cpp's converter serve fp32 checkpoints in 16 bits
            llama = engine.base_id == "llama.cpp" or engine.id in ("ik_llama.cpp", "bitnet.cpp", "t-mac")
            half = get_precision("fp16" if llama or "fp16" in hw.peak_flops or "bf16" not in hw.peak_flops else "bf16")
            w, e = half, (half if e.id == "fp32" else e)
            notes["weight_precision"] = (f"model native fp32, served in {half.id} (engines' --dtype auto; "
                                         "--precision fp32 keeps it)")
        shipped = engine.default_weight_precision
        if shipped and w.kind == "float" and w.bits_per_weight >= 16 and e.bits_per_weight >= 16:
            w = e = get_precision(shipped)
            notes["weight_precision"] = (f"engine default ({engine.id} ships {w.id} weights; "
                                         f"--precision {model.native_precision} for the model's own)")
    else:
        w = e = get_precision(precision)
    act = next((t for t in ("bf16", "fp16") if t in hw.peak_flops), "fp32")
    if hw.hw_class == "cpu" or (hw.hw_class == "soc" and engine.base_id == "llama.cpp"):
        act = "fp32" if hw.hw_class == "cpu" else "fp16"
    if kv_precision in (None, "", "unknown"):
        kv_id = engine.default_kv_precision
        if engine.fp8_kv_with_fp8_weights and w.id in ("fp8", "fp4") and "fp8" in hw.peak_flops:
            kv_id = "fp8"
        elif kv_id == "auto":
            kv_id = "bf16" if act == "bf16" else "fp16"
        kv = get_precision(kv_id)
        notes["kv_precision"] = f"engine default ({engine.id}: {engine.default_kv_precision} -> {kv.id})"
    else:
        kv = get_precision(kv_precision)
        check_kv_format(engine, kv)
    return w, e, kv, act, notes
