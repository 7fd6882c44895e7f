"""models/quant.py: the weight format a config.json declares, for the quantization formats
checkpoints ship in (compressed-tensors, ModelOpt, FBGEMM FP8, bitsandbytes, float8 dtypes),
and a warning, not a silent bf16, for one the catalog has no format for."""

from __future__ import annotations

import json
import warnings

import pytest

from inferplan.catalog._load import data_path
from inferplan.models.adapters import spec_from_hf_config
from inferplan.perf.estimate import estimate


def _llama(**top) -> dict:
    cfg = json.loads(data_path("models", "llama-3.1-8b.json").read_text(encoding="utf-8"))
    return {**cfg, "torch_dtype": "bfloat16", **top}


def _ct(num_bits: int, kind: str, act: dict | None = None, **weights) -> dict:
    return {"quant_method": "compressed-tensors", "format": "float-quantized",
            "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": act, "weights": {
                "num_bits": num_bits, "type": kind, **weights}}}}


@pytest.mark.parametrize(("q", "expected"), [
    ({"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}, "fp8"),  # Llama 3.1 405B FP8
    (_ct(8, "float", strategy="channel"), "fp8"),  # RedHatAI ...-FP8-dynamic
    (_ct(8, "int", {"num_bits": 8, "type": "int", "dynamic": True}, strategy="channel"), "w8a8-int8"),
    (_ct(8, "int", strategy="group", group_size=128), "gptq-int8"),  # W8A16
    (_ct(4, "int", strategy="group", group_size=128), "gptq-int4"),  # W4A16
    (_ct(4, "int", strategy="channel"), "gptq-int4-pc"),
    (_ct(4, "float", strategy="tensor_group", group_size=16), "fp4"),  # NVFP4
    ({"quant_method": "modelopt", "quant_algo": "FP8"}, "fp8"),
    ({"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16}, "fp4"),
    ({"quant_method": "modelopt", "quantization": {"quant_algo": "FP8"}}, "fp8"),  # hf_quant_config layout
    ({"quant_method": "modelopt", "quant_algo": "FP8_PB_WO"}, "fp8"),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "w8a8-int8"),
    ({"quant_method": "awq", "bits": "4", "group_size": None, "q_group_size": 64}, "awq-int4-g64"),
])
def test_shipping_quantization_formats_map_to_catalog_precisions(q, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a format the catalog has: no warning
        spec = spec_from_hf_config(_llama(quantization_config=q), "q")
    assert spec.native_precision == expected


def test_bitsandbytes_4bit_is_modelled_at_its_size_and_says_so() -> None:
    q = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    with pytest.warns(UserWarning, match="bitsandbytes 4-bit"):
        spec = spec_from_hf_config(_llama(quantization_config=q), "q")
    assert spec.native_precision == "gptq-int4"


@pytest.mark.parametrize("q", [{"quant_method": "hqq", "nbits": 4},
                               {"quant_method": "gptq", "bits": 3, "group_size": 128},
                               _ct(2, "int")])
def test_a_format_the_catalog_lacks_keeps_the_dtype_with_a_warning(q) -> None:
    with pytest.warns(UserWarning, match="no format in the catalog.*--precision"):
        spec = spec_from_hf_config(_llama(quantization_config=q), "q")
    assert spec.native_precision == "bf16"


def test_a_float8_dtype_without_quantization_config_is_fp8() -> None:
    assert spec_from_hf_config(_llama(torch_dtype="float8_e4m3fn"), "q").native_precision == "fp8"


def test_an_fp8_405b_checkpoint_fits_eight_h100s_as_fp8(tmp_path) -> None:
    cfg = json.loads(data_path("models", "llama-3.1-405b.json").read_text(encoding="utf-8"))
    cfg["quantization_config"] = {"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    e = estimate(str(path), "h100-sxm")
    assert e.weight_precision == "fp8" and e.devices == 8


def test_gptq_int8_keeps_its_embedding_and_head_in_16_bits() -> None:
    from inferplan.catalog.precisions import get_precision

    q = {"quant_method": "gptq", "bits": 8, "group_size": 128}
    spec = spec_from_hf_config(_llama(quantization_config=q), "q")
    p = get_precision(spec.native_precision)
    assert p.id == "gptq-int8" and p.head_bits == 16 and p.bits_per_weight > 8


def test_compressed_tensors_groups_without_weights_and_groups_that_differ() -> None:
    kv_only = {"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": None}},
               "kv_cache_scheme": {"num_bits": 8, "type": "float"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spec_from_hf_config(_llama(quantization_config=kv_only), "q").native_precision == "bf16"
    mixed = _ct(4, "int", strategy="group", group_size=128)
    mixed["config_groups"]["group_1"] = {"targets": ["re:.*self_attn.*"],
                                         "weights": {"num_bits": 8, "type": "float"}}
    with pytest.warns(UserWarning, match="differently.*widest"):
        spec = spec_from_hf_config(_llama(quantization_config=mixed), "q")
    assert spec.native_precision == "fp8"
    second = _ct(8, "float")
    second["config_groups"] = {"a": {"weights": None}, **second["config_groups"]}
    assert spec_from_hf_config(_llama(quantization_config=second), "q").native_precision == "fp8"
