"""GPT-J, Gemma 2, GLM-4.x, BLOOM adapters (added for the calibration corpus): shapes read from config.json."""

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


def test_glm4_moe_matches_the_published_355b_total_and_32b_active() -> None:
    # the layer structure is checked in test_adapters (test_glm4_moe_has_dense_then_moe_layers...)
    spec = get_model("glm-4.7")
    # GLM-4.5 report: 355B total, 32B active (the MTP layer is not counted here: -0.6%)
    assert abs(spec.total_params / 355e9 - 1) < 0.01
    # 32B is rounded and leaves the input embedding out (as DeepSeek's 37B does)
    assert abs((spec.active_params - spec.embedding_params) / 32e9 - 1) < 0.04
    assert not spec.groups[-1].mixer.o_bias  # biases on q, k, v only


def test_phi3_counts_fused_projections_like_llama_and_ignores_an_inactive_window() -> None:
    # microsoft/Phi-3.5-mini-instruct shape fields (a transformers re-serialization of its
    # config.json is vendored in public repos; the hub file itself was not found verbatim)
    cfg = {"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072,
           "intermediate_size": 8192, "max_position_embeddings": 131072,
           "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
           "sliding_window": 262144, "tie_word_embeddings": False, "vocab_size": 32064,
           "torch_dtype": "bfloat16"}
    spec = spec_from_hf_config(cfg, "phi-3.5-mini")
    assert spec.total_params == 3_821_079_552  # the model card's 3.82B, exactly
    assert spec.groups[0].mixer.window_tokens is None
    short = spec_from_hf_config({**cfg, "max_position_embeddings": 4096,
                                 "sliding_window": 2047}, "phi-3-mini-4k")
    assert short.groups[0].mixer.window_tokens == 2047


def test_bloom_reads_both_spellings_of_its_fields_with_biases_and_tied_head() -> None:
    big, small = get_model("bloomz-176b"), get_model("bloomz-7b1")  # n_embed vs hidden_size spellings
    for spec, (layers, d, heads) in ((big, (70, 14336, 112)), (small, (30, 4096, 32))):
        (group,) = spec.groups
        assert (group.count, spec.hidden_size, group.mixer.num_q_heads, group.mixer.num_kv_heads) == (
            layers, d, heads, heads)
        assert group.mixer.qkv_bias and group.mixer.o_bias and group.norms_per_layer == 4
        assert group.ffn.intermediate_size == 4 * d and not group.ffn.gated and group.ffn.bias
        assert spec.tie_word_embeddings and spec.native_precision == "bf16"
        assert spec.max_context_tokens == 2048  # no length in the config: its training length
    # the model cards' counts, less the embedding and final LayerNorms (4 x d vectors)
    assert abs(big.total_params - 176_247_271_424) < 4 * 14336 + 1
    assert abs(small.total_params - 7_069_016_064) < 4 * 4096 + 1
    cfg = {"model_type": "bloom", "hidden_size": 64, "n_head": 4, "n_layer": 2, "vocab_size": 100,
           "torch_dtype": "float16"}
    assert spec_from_hf_config(cfg, "tiny-bloom").native_precision == "fp16"
