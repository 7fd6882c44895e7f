"""config.json -> ModelSpec: every bundled model against its published numbers, and the
per-family rules (windows, MLA, conv state, MoE layouts, errors)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest

from inferplan.catalog._load import data_path, load_yaml
from inferplan.catalog.precisions import get_precision
from inferplan.errors import InputError, UnsupportedModelError
from inferplan.models import adapters
from inferplan.models.adapters import lfm2_ffn_width, register_adapter, spec_from_hf_config
from inferplan.models.registry import ModelInfo, get_model, list_model_ids, model_info
from inferplan.models.spec import ModelSpec
from tests.models.hybrid_configs import QWEN3_NEXT

IDS = list_model_ids()
MOE_IDS = [i for i in IDS if model_info(i).published_active_params is not None]


def _config(model_id: str) -> dict:
    return json.loads(data_path("models", f"{model_id}.json").read_text(encoding="utf-8"))


def _active_as_published(spec: ModelSpec, info: ModelInfo) -> int:
    """Derived active parameters in the publisher's convention (with or without the input
    embedding table; a tied table is read as the LM head either way)."""
    if info.active_counts_embedding or spec.tie_word_embeddings:
        return spec.active_params
    return spec.active_params - spec.embedding_params


def _windows(spec: ModelSpec) -> dict[int | None, int]:
    """Layer count per attention window (None: full attention)."""
    out: dict[int | None, int] = {}
    for g in spec.groups:
        if g.mixer.kind != "conv":
            out[g.mixer.window_tokens] = out.get(g.mixer.window_tokens, 0) + g.count
    return out


# --- published parameter counts -------------------------------------------------------------


@pytest.mark.parametrize("model_id", IDS)
def test_total_params_match_published(model_id: str) -> None:
    spec, info = get_model(model_id), model_info(model_id)
    assert spec.total_params == pytest.approx(
        info.published_total_params, rel=info.params_tolerance
    )


@pytest.mark.parametrize("model_id", MOE_IDS)
def test_active_params_match_published(model_id: str) -> None:
    spec, info = get_model(model_id), model_info(model_id)
    assert info.published_active_params is not None
    assert _active_as_published(spec, info) == pytest.approx(
        info.published_active_params, rel=info.params_tolerance
    )


@pytest.mark.parametrize("model_id", IDS)
def test_published_active_count_given_exactly_for_moe_models(model_id: str) -> None:
    assert get_model(model_id).is_moe == (model_info(model_id).published_active_params is not None)


@pytest.mark.parametrize("model_id", IDS)
def test_a_non_default_tolerance_says_why_in_notes(model_id: str) -> None:
    info = model_info(model_id)
    if info.params_tolerance != 0.01:
        assert "tolerance" in info.notes


@pytest.mark.parametrize("model_id", [i for i in IDS if not get_model(i).is_moe])
def test_dense_models_use_every_parameter(model_id: str) -> None:
    spec = get_model(model_id)
    assert spec.active_params == spec.total_params


@pytest.mark.parametrize("model_id", IDS)
def test_index_precision_matches_the_config(model_id: str) -> None:
    raw = spec_from_hf_config(_config(model_id), model_id)
    info = model_info(model_id)
    assert (raw.native_precision, raw.native_expert_precision) == (
        info.native_precision,
        info.native_expert_precision,
    )


def test_native_precisions_are_catalog_precision_ids() -> None:
    known = {p["id"] for p in load_yaml(data_path("precisions.yaml"))}
    for model_id in IDS:
        info = model_info(model_id)
        assert info.native_precision in known, model_id
        assert info.native_expert_precision in known | {None}, model_id


# --- KV cache -------------------------------------------------------------------------------


def test_llama_3_1_8b_caches_65536_elements_per_token() -> None:
    assert (
        get_model("llama-3.1-8b").kv_elems_per_token == 2 * 8 * 128 * 32
    )  # K,V x kv x dim x layers


def test_llama_2_7b_is_mha_and_caches_all_heads() -> None:
    assert get_model("llama-2-7b").kv_elems_per_token == 2 * 32 * 128 * 32


def test_deepseek_v3_mla_caches_latent_plus_rope_key_per_layer() -> None:
    spec = get_model("deepseek-v3")
    assert spec.kv_elems_per_token == (512 + 64) * 61
    assert {g.mixer.kind for g in spec.groups} == {"mla"}


def test_gemma_3_27b_has_head_dim_128_and_4b_uses_text_config_defaults() -> None:
    big, small = get_model("gemma-3-27b"), get_model("gemma-3-4b")
    assert {g.mixer.head_dim for g in big.groups} == {128}
    assert {
        (g.mixer.num_q_heads, g.mixer.num_kv_heads, g.mixer.head_dim) for g in small.groups
    } == {(8, 4, 256)}
    assert small.vocab_size == 262_208 and small.tie_word_embeddings


# --- sliding / chunked windows --------------------------------------------------------------


def test_mistral_v0_1_slides_a_4096_window_on_every_layer() -> None:
    assert _windows(get_model("mistral-7b-v0.1")) == {4096: 32}


def test_gpt_oss_alternates_128_token_windows_with_full_attention() -> None:
    spec = get_model("gpt-oss-20b")
    assert _windows(spec) == {128: 12, None: 12}
    assert all(g.mixer.sinks and g.mixer.qkv_bias and g.mixer.o_bias for g in spec.groups)
    assert all(g.ffn.bias and g.ffn.router_bias for g in spec.groups)
    assert spec.native_expert_precision == "mxfp4"


def test_gemma_3_has_five_local_layers_per_global_one() -> None:
    assert _windows(get_model("gemma-3-1b")) == {512: 22, None: 4}
    assert _windows(get_model("gemma-3-27b")) == {1024: 52, None: 10}
    assert {g.norms_per_layer for g in get_model("gemma-3-1b").groups} == {4}


def test_llama_4_chunks_three_of_four_layers_and_nope_layers_are_global() -> None:
    assert _windows(get_model("llama-4-scout")) == {8192: 36, None: 12}


def test_llama_4_explicit_no_rope_layers_and_layer_types_are_honoured() -> None:
    cfg = _config("llama-4-scout")
    all_rope = {**cfg, "text_config": {**cfg["text_config"], "no_rope_layers": [1] * 48}}
    assert _windows(spec_from_hf_config(all_rope, "s")) == {8192: 48}
    typed = {**cfg, "text_config": {**cfg["text_config"], "layer_types": ["full_attention"] * 48}}
    assert _windows(spec_from_hf_config(typed, "s")) == {None: 48}


def test_qwen2_sliding_window_field_is_ignored_unless_enabled() -> None:
    cfg = _config("qwen2.5-7b")
    assert _windows(spec_from_hf_config(cfg, "q")) == {None: 28}
    on = {**cfg, "use_sliding_window": True, "max_window_layers": 20, "sliding_window": 4096}
    assert _windows(spec_from_hf_config(on, "q")) == {None: 20, 4096: 8}


# --- family layouts -------------------------------------------------------------------------


def test_lfm2_conv_layers_cache_no_kv_but_keep_a_conv_state() -> None:
    spec = get_model("lfm2-350m")
    conv = [g for g in spec.groups if g.mixer.kind == "conv"]
    attn = [g for g in spec.groups if g.mixer.kind == "attention"]
    assert sum(g.count for g in conv) == 10 and sum(g.count for g in attn) == 6
    for g in conv:
        assert g.mixer.kv_elems_per_token == 0
        assert g.mixer.state_elems_per_seq == 1024 * (3 - 1)
    assert spec.kv_elems_per_token == 6 * 2 * 8 * 64
    assert all(g.mixer.qk_norm for g in attn)


def test_lfm2_ffn_width_follows_transformers_auto_adjust() -> None:
    assert lfm2_ffn_width({"block_ff_dim": 6656}) == 4608  # int(2*6656/3)=4437 -> multiple of 256
    assert lfm2_ffn_width({"block_ff_dim": 12288}) == 8192
    assert lfm2_ffn_width({"block_ff_dim": 6656, "block_auto_adjust_ff_dim": False}) == 6656
    # no multiplier: transformers skips the rounding too
    assert lfm2_ffn_width({"block_ff_dim": 6656, "block_ffn_dim_multiplier": None}) == 4437
    assert (
        lfm2_ffn_width(
            {"block_ff_dim": 6656, "block_ffn_dim_multiplier": 1.5, "block_multiple_of": 64}
        )
        == 6656
    )


def test_lfm2_layer_layout_from_full_attn_idxs_when_layer_types_absent() -> None:
    cfg = {k: v for k, v in _config("lfm2-350m").items() if k != "layer_types"}
    assert spec_from_hf_config(cfg, "x").groups == get_model("lfm2-350m").groups


def test_deepseek_v3_has_three_dense_layers_then_moe_with_a_shared_expert() -> None:
    spec = get_model("deepseek-v3")
    dense = [g for g in spec.groups if g.ffn.kind == "dense"]
    moe = [g for g in spec.groups if g.ffn.kind == "moe"]
    assert [g.count for g in dense] == [3] and [g.count for g in moe] == [58]
    ffn = moe[0].ffn
    assert (ffn.num_experts, ffn.top_k, ffn.intermediate_size) == (256, 8, 2048)
    assert ffn.shared_intermediate_size == 2048 and ffn.router_bias


def test_deepseek_r1_is_its_own_entry_with_v3_shapes() -> None:
    v3, r1 = get_model("deepseek-v3"), get_model("deepseek-r1")
    assert r1.id == "deepseek-r1" and r1.groups == v3.groups


def test_llama_4_maverick_interleaves_moe_and_dense_layers() -> None:
    spec = get_model("llama-4-maverick")
    moe = sum(g.count for g in spec.groups if g.ffn.kind == "moe")
    dense = [g for g in spec.groups if g.ffn.kind == "dense"]
    assert moe == 24 and sum(g.count for g in dense) == 24
    assert {g.ffn.intermediate_size for g in dense} == {16384}
    shared = {g.ffn.shared_intermediate_size for g in spec.groups if g.ffn.kind == "moe"}
    assert shared == {8192}


def test_qwen3_moe_mlp_only_layers_are_dense() -> None:
    cfg = {**_config("qwen3-30b-a3b"), "mlp_only_layers": [0, 1]}
    spec = spec_from_hf_config(cfg, "q")
    assert sum(g.count for g in spec.groups if g.ffn.kind == "dense") == 2
    assert {g.ffn.intermediate_size for g in spec.groups if g.ffn.kind == "dense"} == {6144}


def test_qwen2_has_qkv_bias_and_qwen3_has_qk_norm() -> None:
    assert all(g.mixer.qkv_bias and not g.mixer.o_bias for g in get_model("qwen2.5-3b").groups)
    assert all(g.mixer.qk_norm and not g.mixer.qkv_bias for g in get_model("qwen3-8b").groups)


def test_bitnet_1bitllm_class_dispatches_to_bitnet_before_its_llama_model_type() -> None:
    spec = get_model("bitnet-b1.58-3b")
    assert spec.extra["family"] == "bitnet" and spec.tie_word_embeddings


# --- errors and extension -------------------------------------------------------------------


def test_unknown_architecture_names_model_type_and_supported_families() -> None:
    with pytest.raises(UnsupportedModelError) as e:
        spec_from_hf_config({"model_type": "rwkv7", "architectures": ["Rwkv7ForCausalLM"]}, "m")
    msg = str(e.value)
    assert "rwkv7" in msg and "supported families" in msg and "llama" in msg
    assert isinstance(e.value, InputError)


def test_missing_required_fields_are_all_named() -> None:
    cfg = {
        k: v for k, v in _config("llama-3.1-8b").items() if k not in ("hidden_size", "vocab_size")
    }
    with pytest.raises(UnsupportedModelError) as e:
        spec_from_hf_config(cfg, "broken")
    msg = str(e.value)
    assert "hidden_size" in msg and "vocab_size" in msg and "'llama'" in msg and "broken" in msg


def test_missing_text_config_field_says_where() -> None:
    cfg = _config("llama-4-scout")
    cfg["text_config"] = {
        k: v for k, v in cfg["text_config"].items() if k != "intermediate_size_mlp"
    }
    with pytest.raises(
        UnsupportedModelError, match="text_config lacks required field.*intermediate_size_mlp"
    ):
        spec_from_hf_config(cfg, "scout")


def test_malformed_field_is_an_unsupported_model_error() -> None:
    with pytest.raises(UnsupportedModelError, match="hidden_size must be an integer"):
        spec_from_hf_config({**_config("llama-3.1-8b"), "hidden_size": "wide"}, "m")


def test_layer_types_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(UnsupportedModelError, match="layer_types"):
        spec_from_hf_config({**_config("gpt-oss-20b"), "layer_types": ["full_attention"]}, "m")


@pytest.fixture
def toy_family() -> Iterator[None]:
    saved = (
        dict(adapters.ADAPTERS),
        dict(adapters._BY_MODEL_TYPE),
        dict(adapters._BY_ARCHITECTURE),
    )
    yield
    for live, old in zip(
        (adapters.ADAPTERS, adapters._BY_MODEL_TYPE, adapters._BY_ARCHITECTURE), saved, strict=True
    ):
        live.clear()
        live.update(old)  # type: ignore[arg-type]


def test_a_plugin_family_registers_like_the_builtins(toy_family: None) -> None:
    @register_adapter("toy", model_types=["toy"])
    def toy(cfg, model_id, name):  # noqa: ANN001, ANN202
        return adapters.llama_spec({**cfg, "model_type": "llama"}, model_id, name)

    spec = spec_from_hf_config(
        {**_config("llama-3.2-1b"), "model_type": "toy", "architectures": []}, "t"
    )
    assert spec.total_params == get_model("llama-3.2-1b").total_params
    assert "toy" in adapters.supported_families()


def test_glm4_moe_has_dense_then_moe_layers_with_a_shared_expert() -> None:
    from inferplan.models.registry import get_model

    m = get_model("glm-4.7")
    moe = [g for g in m.groups if g.ffn.kind == "moe"]
    dense = [g for g in m.groups if g.ffn.kind == "dense"]
    assert sum(g.count for g in dense) == 3 and sum(g.count for g in moe) == 89
    assert moe[0].ffn.num_experts == 160 and moe[0].ffn.top_k == 8
    assert moe[0].ffn.shared_intermediate_size == 1536
    assert moe[0].mixer.qkv_bias and moe[0].mixer.qk_norm and moe[0].mixer.num_kv_heads == 8


def test_qwen3_next_is_three_gated_deltanet_layers_to_one_gated_attention_layer() -> None:
    spec = spec_from_hf_config(QWEN3_NEXT, "qwen3-next-80b-a3b")
    kinds = {g.mixer.kind: g.count for g in spec.groups}
    assert kinds == {"gdn": 36, "attention": 12}
    assert spec.total_params == pytest.approx(80e9, rel=0.01)
    gdn = next(g.mixer for g in spec.groups if g.mixer.kind == "gdn")
    attn = next(g.mixer for g in spec.groups if g.mixer.kind == "attention")
    # in_proj_qkvz 2048 x 12288, in_proj_ba 2048 x 64, conv 8192 x 4, A_log + dt_bias 64, norm 128,
    # out_proj 4096 x 2048
    assert gdn.params == 2048 * 12288 + 2048 * 64 + 8192 * 4 + 64 + 128 + 4096 * 2048
    assert attn.q_gate and attn.params == 2048 * 16 * 256 * 2 + 2 * 2048 * 2 * 256 + 16 * 256 * 2048 + 2 * 256
    # a constant state per sequence: 32 value heads x 128 x 128 plus the conv cache (3 x 8192);
    # KV only on the 12 attention layers
    assert gdn.state_elems_per_seq == 32 * 128 * 128 + 3 * 8192 and gdn.kv_elems_per_token == 0
    assert spec.kv_elems_per_token == 12 * 2 * 2 * 256


def test_qwen3_5_reads_its_language_model_from_text_config() -> None:
    text = {**QWEN3_NEXT, "model_type": "qwen3_5_moe_text", "num_hidden_layers": 8,
            "layer_types": ["linear_attention"] * 2 + ["full_attention"] * 6}
    top = {"architectures": ["Qwen3_5MoeForConditionalGeneration"], "model_type": "qwen3_5_moe",
           "text_config": text, "vision_config": {"depth": 27}}
    spec = spec_from_hf_config(top, "qwen3.5-toy")
    assert {g.mixer.kind: g.count for g in spec.groups} == {"gdn": 2, "attention": 6}
    del text["num_experts"]
    with pytest.raises(UnsupportedModelError, match="text_config lacks required field"):
        spec_from_hf_config(top, "qwen3.5-toy")


def test_qwen3_5_has_no_dense_mlp_layer_and_needs_no_intermediate_size() -> None:
    """transformers' Qwen3_5MoeTextConfig has no intermediate_size: every layer is MoE. A dense
    layer (mlp_only_layers) still needs it."""
    text = {k: v for k, v in QWEN3_NEXT.items() if k != "intermediate_size"}
    text.update(model_type="qwen3_5_moe_text", num_hidden_layers=8)
    top = {"model_type": "qwen3_5_moe", "text_config": text}
    spec = spec_from_hf_config(top, "qwen3.5-toy")
    assert all(g.ffn.kind == "moe" for g in spec.groups)
    text["mlp_only_layers"] = [0]
    with pytest.raises(UnsupportedModelError, match="intermediate_size"):
        spec_from_hf_config(top, "qwen3.5-toy")


def test_bundled_qwen3_5_397b_counts_the_published_text_decoder_exactly() -> None:
    """396,346,350,336 text-decoder parameters at the pinned revision (two public inventories),
    less the shared expert's 1-wide sigmoid gate (4096 weights in each of 60 layers) the tool
    does not count."""
    spec = get_model("qwen3.5-397b-a17b")
    assert spec.total_params == 396_346_350_336 - 60 * 4096
    assert {g.mixer.kind: g.count for g in spec.groups} == {"gdn": 45, "attention": 15}


def test_tensor_parallelism_must_divide_the_linear_attention_heads() -> None:
    from inferplan.errors import LayoutError
    from inferplan.perf.layout import Layout, check_layout

    spec = spec_from_hf_config({**QWEN3_NEXT, "linear_num_key_heads": 12, "linear_num_value_heads": 24},
                               "qwen3-next-odd")
    check_layout(spec, Layout(tp=4))
    with pytest.raises(LayoutError, match="12 key and 24 value heads"):
        check_layout(spec, Layout(tp=8))


@pytest.mark.parametrize(("method", "bits", "expected"), [
    ("gptq", 4, "gptq-int4"), ("awq", 4, "awq-int4"), ("gptq", 8, "gptq-int8"), ("awq", 8, "int8"),
    ("gptq", 3, "bf16"), ("fp8", 8, "fp8"),
])
def test_quantization_config_names_the_checkpoints_weight_format(method: str, bits: int,
                                                                 expected: str) -> None:
    """A GPTQ/AWQ checkpoint's config.json says quant_method and bits: 4-bit ones stream 4.16
    bits per weight (not the 5 of gpt-fast's int4), 8-bit GPTQ ones gptq-int8 (fp16 embedding and
    head); other widths fall back to torch_dtype (with a warning: tests/models/test_quant.py)."""
    cfg = {**_config("llama-3.1-8b"), "torch_dtype": "bfloat16",
           "quantization_config": {"quant_method": method, "bits": bits, "group_size": 128}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = spec_from_hf_config(cfg, "my-quantized-llama")
    assert spec.native_precision == expected
    assert get_precision(expected).id == expected  # a catalog precision, not a free string


@pytest.mark.parametrize(("group", "expected", "bits"), [
    (32, "gptq-int4-g32", 4.625), (64, "gptq-int4-g64", 4.3125), (-1, "gptq-int4-pc", 4.0),
    (None, "gptq-int4", 4.156), (256, "gptq-int4", 4.156),
])
def test_a_gptq_checkpoint_streams_the_bits_of_its_group_size(group, expected, bits) -> None:
    """Scales and zeros are per group: 20 bits per group of 32 weights add 0.625 bits per weight,
    per 128 only 0.156; a group size the catalog has no entry for reads as group 128."""
    q = {"quant_method": "gptq", "bits": 4, **({"group_size": group} if group else {})}
    spec = spec_from_hf_config({**_config("llama-3.1-8b"), "quantization_config": q}, "my-gptq")
    assert spec.native_precision == expected
    assert get_precision(expected).bits_per_weight == pytest.approx(bits, abs=1e-3)


def test_a_group_size_variant_unpacks_like_its_base_format() -> None:
    """gptq-int4-g32 has no corpus rows: it takes gptq-int4's calibrated unpack cost."""
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.factors import resolve_factors

    def unpack(prec: str) -> float:
        p = plan_estimate("llama-3.1-8b", "h100-sxm", precision=prec, batch=1, input_len=8, output_len=8)
        return resolve_factors(p.dep, load_efficiency())[0].dequant_ops_w

    assert unpack("gptq-int4-g32") == unpack("gptq-int4") != get_precision("gptq-int4").dequant_ops_per_weight
