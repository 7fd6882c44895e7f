"""GPT-J and Gemma 2 adapters (added for the calibration corpus): shapes read from config.json."""

from __future__ import annotations

from inferplan.models.adapters import spec_from_hf_config
from inferplan.models.registry import get_model


def test_gptj_reads_its_own_field_names_and_defaults_the_ffn_to_4x() -> None:
    spec = get_model("gpt-j-6b")
    (group,) = spec.groups
    assert (group.count, group.mixer.num_q_heads, group.mixer.num_kv_heads) == (28, 16, 16)
    assert group.mixer.head_dim == 256
    assert group.ffn.intermediate_size == 4 * 4096 and not group.ffn.gated and group.ffn.bias
    assert not spec.tie_word_embeddings and spec.native_precision == "fp32"
    # n_inner given explicitly wins over the 4x default
    cfg = {"model_type": "gptj", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 128,
           "vocab_size": 100, "n_inner": 96, "torch_dtype": "float16"}
    small = spec_from_hf_config(cfg, "tiny-gptj")
    assert small.groups[0].ffn.intermediate_size == 96 and small.native_precision == "fp16"


def test_gemma2_alternates_local_and_global_layers_starting_local() -> None:
    spec = get_model("gemma-2-2b")
    windows = {g.mixer.window_tokens: g.count for g in spec.groups}
    assert windows == {4096: 13, None: 13}
    assert spec.groups[0].mixer.window_tokens == 4096  # layer 0 slides (layer_idx % 2 == 0)
    assert all(g.norms_per_layer == 4 for g in spec.groups) and spec.tie_word_embeddings
    assert spec.total_params == 2_614_341_888  # the safetensors count, exactly
