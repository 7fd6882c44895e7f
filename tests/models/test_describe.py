"""models/describe.py and `inferplan models show`: what is read from a model, checked by hand."""

from __future__ import annotations

import json

import pytest

from inferplan.models.describe import describe_model, kv_bytes_per_seq, weights_bytes
from inferplan.models.registry import get_model
from tests.cli import run


def test_llama_3_1_8b_card_matches_a_hand_count() -> None:
    c = describe_model(get_model("llama-3.1-8b"))
    assert c.total_params == 8_030_261_248 and c.layers == 32 and c.max_context_tokens == 131072
    assert c.kv_elems_per_token == 32 * 2 * 8 * 128  # K and V, 8 KV heads of 128, 32 layers
    assert c.kv_bytes_per_seq[8192] == 32 * 2 * 8 * 128 * 8192 * 2
    assert c.weights_bytes == pytest.approx(8_030_261_248 * 2)  # bf16 everywhere


def test_sliding_windows_cap_the_kv_and_experts_keep_their_format() -> None:
    spec = get_model("gpt-oss-120b")
    # 18 full layers grow with the context, 18 stop at their 128-token window
    per_layer = 2 * 8 * 64
    assert kv_bytes_per_seq(spec, 8192) == (18 * 8192 + 18 * 128) * per_layer * 2
    assert weights_bytes(spec) == pytest.approx(65.2e9, rel=0.02)  # MXFP4 experts: the ~65 GB checkpoint
    c = describe_model(spec)
    assert c.native_expert_precision == "mxfp4" and {k.window_tokens for k in c.layer_kinds} == {128, None}


def test_models_show_speaks_text_and_json_and_suggests_on_a_typo() -> None:
    code, out, _ = run("models", "show", "qwen3-30b-a3b", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["total_params"] > doc["active_params"] and doc["layer_kinds"][0]["experts"] == 128
    code, out, _ = run("models", "show", "qwen3-30b-a3b")
    assert code == 0 and "128 experts, 8 per token" in out and "per sequence" in out
    code, _, err = run("models", "show", "llama-3.1-8x")
    assert code == 2 and "did you mean" in err
    code, out, _ = run("models", "--json")  # the listing is unchanged
    assert code == 0 and len(json.loads(out)["models"]) > 40
