"""Families that reuse another's shapes (models/families_more.py): DeepSeek-V2 (MLA + MoE of
DeepSeek-V3), Qwen2.5-VL and Mistral 3 (the text model of a multimodal config)."""

from __future__ import annotations

import pytest

from inferplan.models.adapters import spec_from_hf_config
from tests.models.reuse_configs import DEEPSEEK_V2_LITE, MISTRAL_SMALL_3_1, QWEN2_5_VL_7B


def test_deepseek_v2_lite_is_mla_and_moe_with_15_7b_parameters() -> None:
    spec = spec_from_hf_config(DEEPSEEK_V2_LITE, "dsv2-lite")
    assert spec.extra["family"] == "deepseek_v2" and spec.is_moe
    assert spec.total_params == pytest.approx(15.7e9, rel=0.01)  # published: 15.7B ("16B")
    # published 2.4B activated, without the 0.21B input embedding
    assert spec.active_params - spec.embedding_params == pytest.approx(2.4e9, rel=0.08)
    assert spec.kv_elems_per_token == 27 * (512 + 64)  # latent + rope key per layer, no q LoRA


def test_qwen2_5_vl_is_its_qwen2_text_model() -> None:
    spec = spec_from_hf_config(QWEN2_5_VL_7B, "qwen2.5-vl-7b")
    assert spec.extra["family"] == "qwen2_5_vl"
    assert spec.total_params == pytest.approx(7.62e9, rel=0.01)  # the LLM of the 8.3B model
    assert spec.kv_elems_per_token == 28 * 4 * 128 * 2 and spec.max_context_tokens == 128000


def test_mistral_small_3_1_reads_its_text_config() -> None:
    spec = spec_from_hf_config(MISTRAL_SMALL_3_1, "mistral-small-3.1")
    assert spec.extra == {"family": "mistral3", "model_type": "mistral3"}
    assert spec.total_params == pytest.approx(23.6e9, rel=0.01)  # 24B with its 0.4B vision tower
    assert spec.kv_elems_per_token == 40 * 8 * 128 * 2 and spec.vocab_size == 131072
