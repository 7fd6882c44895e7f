"""The weight precision a Hugging Face ``config.json`` declares: its ``torch_dtype`` and its
``quantization_config`` (GPTQ, AWQ, FP8, FBGEMM FP8, compressed-tensors, ModelOpt, bitsandbytes,
MXFP4, BitNet), as catalog precision ids. A quantization the catalog has no format for keeps the
dtype's precision, with a warning (``--precision`` sets the format)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from inferplan.catalog.precisions import checkpoint_precision

Config = Mapping[str, Any]
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def native_precision(cfg: Config, top: Config | None = None) -> tuple[str, str | None]:
    """(weights, routed experts) precision ids from torch_dtype and quantization_config.

    A quantization the catalog has no format for keeps the dtype's precision, with a warning
    (``--precision`` sets the format)."""
    top = top if top is not None else cfg
    q = top.get("quantization_config") or cfg.get("quantization_config") or {}
    method = str(q.get("quant_method", "")).lower()
    dtype = str(top.get("torch_dtype") or top.get("dtype") or cfg.get("torch_dtype") or "bfloat16")
    base = "fp8" if dtype.startswith("float8") else _DTYPES.get(dtype, "bf16")
    if not method:
        return base, None
    if method in ("fp8", "fbgemm_fp8"):  # fbgemm_fp8: Meta's FP8 rowwise (Llama 3.1 405B FP8)
        return "fp8", None
    if method == "mxfp4":  # gpt-oss: routed experts in MXFP4, everything else in torch_dtype
        return base, "mxfp4"
    if method == "bitnet":
        return "i2_s", None  # ternary weights packed 4 per byte (2 bits/weight)
    found: str | None
    if method in ("gptq", "awq"):
        group, bits = q.get("group_size") or q.get("q_group_size"), int(q.get("bits") or q.get("w_bit") or 4)
        found = checkpoint_precision(method, bits, int(group) if group else None)
        what = f"{method} {bits}-bit"
    elif method == "compressed-tensors":
        found, what = _compressed_tensors(q, base)
    elif method == "modelopt":
        # quant_algo at the top of quantization_config, or under "quantization" (the layout of
        # ModelOpt's hf_quant_config.json, which vLLM also reads from config.json)
        algo = str(q.get("quant_algo") or (q.get("quantization") or {}).get("quant_algo") or "").upper()
        found = (base if not algo else  # KV-cache quantization only: the weights keep the dtype
                 "fp8" if algo.startswith("FP8") or algo == "MXFP8" else
                 {"NVFP4": "fp4", "MXFP4": "mxfp4", "W4A16_AWQ": "awq-int4", "INT4_AWQ": "awq-int4",
                  "W4A8_AWQ": "awq-int4", "INT8_SQ": "w8a8-int8"}.get(algo))
        what = f"modelopt {algo or '(no quant_algo)'}"
    elif method == "bitsandbytes":
        # LLM.int8: 8-bit weights (outlier columns in fp16); NF4/FP4: 4 bits + a fp32 absmax per
        # 64 weights, double-quantized to 8 bits (4 + 8/64 + 32/(64 x 256) = 4.127 bits/weight):
        # the size of a group-128 GPTQ format (4.156); bnb's dequantizing kernels run slower
        four = bool(q.get("load_in_4bit")) or str(q.get("_load_in_4bit", "")).lower() == "true"
        eight = bool(q.get("load_in_8bit")) or str(q.get("_load_in_8bit", "")).lower() == "true"
        found = "gptq-int4" if four else "w8a8-int8" if eight else None
        what = "bitsandbytes " + ("4-bit" if four else "8-bit")
        if found == "gptq-int4":
            _warn("bitsandbytes 4-bit weights are modelled as gptq-int4 (the same 4.1 bits/weight; "
                  "bitsandbytes' dequantizing kernels are slower than GPTQ's, so speed reads optimistic)")
    else:
        found, what = None, f"quant_method '{method}'"
    if found is None:
        _warn(f"config.json's quantization ({what}) has no format in the catalog: its weights are "
              f"estimated as {base} (the config's dtype); pass --precision with the checkpoint's "
              "format (`inferplan precisions` lists them)")
        return base, None
    return found, None


def _compressed_tensors(q: Config, base: str) -> tuple[str | None, str]:
    """The precision of a compressed-tensors checkpoint (llm-compressor: RedHatAI/neuralmagic
    FP8, W8A8, W8A16, W4A16, NVFP4) from its config groups' weight schemes: groups without
    weights (activations or the KV cache only) leave the weights at the dtype (``base``); groups
    that differ: the widest (most bytes: the estimate errs large), with a warning."""
    groups = [g for g in (q.get("config_groups") or {}).values()
              if isinstance(g, dict) and isinstance(g.get("weights"), dict)]
    if not groups:
        return base, "compressed-tensors without weight quantization"
    found = [_ct_scheme(g["weights"], g.get("input_activations")) for g in groups]
    ids = list(dict.fromkeys(f for f, _ in found))  # in the config's group order
    if None in ids:
        return None, next(w for f, w in found if f is None)
    if len(ids) > 1:
        from inferplan.catalog.precisions import get_precision

        # the widest; on a tie the larger head, then the first group (max keeps the first)
        pid = max(ids, key=lambda i: (get_precision(str(i)).bits_per_weight, get_precision(str(i)).head_bits))
        _warn(f"config.json's compressed-tensors groups quantize layers differently ({', '.join(map(str, ids))}): "
              f"estimated as {pid}, the widest (pass --precision for another)")
        return pid, found[0][1]
    return found[0]


def _ct_scheme(w: Config, act: Any) -> tuple[str | None, str]:
    bits, kind = int(w.get("num_bits") or 0), str(w.get("type", "")).lower()
    group = w.get("group_size")
    what = f"compressed-tensors {kind or '?'} {bits or '?'}-bit"
    if kind == "float" and bits == 8:
        return "fp8", what
    if kind == "float" and bits == 4:
        return ("fp4" if group in (None, 16) else "mxfp4"), what
    if kind == "int" and bits == 8:  # W8A8 (int8 activations) or W8A16; lm_head stays 16-bit
        return ("w8a8-int8" if isinstance(act, dict) else "gptq-int8"), what
    if kind == "int" and bits == 4:  # W4A16: GPTQ-style packing, fp16 embedding and head
        strategy = str(w.get("strategy", "")).lower()
        return checkpoint_precision("gptq", 4, -1 if strategy == "channel" else
                                    (int(group) if group else None)), what
    return None, what


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)
