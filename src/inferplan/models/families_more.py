"""More architecture families for ``models.adapters``: GPT-J, Gemma 2, GLM-4.x MoE, Phi-3 and BLOOM
(added for the calibration corpus), the Qwen3-Next / Qwen3.5 hybrids (gated DeltaNet), and
families that reuse another's shapes: DeepSeek-V2 (DeepSeek-V3's MLA + MoE), Qwen2.5-VL and
Mistral 3 (the text model of a multimodal config; the vision tower is not counted). They register through the same ``register_adapter``
decorator a plugin would use; ``inferplan.models`` imports this module so the registry always
holds them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from inferplan.models.adapters import (
    _ATTN_FIELDS,
    _DENSE_FIELDS,
    Config,
    _attention,
    _dense,
    _layer_types,
    _moe,
    _require,
    _spec,
    deepseek_v3_spec,
    mistral_spec,
    qwen2_spec,
    register_adapter,
)
from inferplan.models.spec import Mixer, ModelSpec


@register_adapter("gptj", model_types=["gptj"], architectures=["GPTJForCausalLM"])
def gptj_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """GPT-J (transformers GPTJConfig names: n_embd, n_head, n_layer, n_positions, n_inner):
    MHA without biases, one LayerNorm (weight + bias = 2 vectors) feeding attention and a
    biased, ungated GELU MLP in parallel; untied LM head. ``n_inner`` null means 4 x n_embd.
    No ``torch_dtype`` in the config means float32 weights (transformers' default)."""
    _require(cfg, model_id, ("n_embd", "n_head", "n_layer", "n_positions", "vocab_size"))
    d = int(cfg["n_embd"])
    text = {
        "hidden_size": d,
        "num_attention_heads": int(cfg["n_head"]),
        "num_hidden_layers": int(cfg["n_layer"]),
        "vocab_size": int(cfg["vocab_size"]),
        "intermediate_size": int(cfg.get("n_inner") or 4 * d),
        "max_position_embeddings": int(cfg["n_positions"]),
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "torch_dtype": cfg.get("torch_dtype") or "float32",
    }
    layer = (_attention(text), _dense(text, gated=False, bias=True), 2)
    top = {**cfg, "torch_dtype": text["torch_dtype"]}
    return _spec(text, model_id, name, [layer] * int(cfg["n_layer"]), top=top, family="gptj")


@register_adapter("gemma2", model_types=["gemma2"], architectures=["Gemma2ForCausalLM"])
def gemma2_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Gemma 2: sliding-window (``sliding_window``, default 4096) and global attention
    alternating, the first layer local (transformers Gemma2: ``layer_idx % 2 == 0`` slides);
    4 RMSNorms per layer, GeGLU FFN, tied embeddings; no qk-norm (logit soft-capping has no
    weights)."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    n = int(cfg["num_hidden_layers"])
    window = int(cfg.get("sliding_window") or 4096)
    types = _layer_types(cfg, model_id, n) or [
        "sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n)
    ]
    bias = bool(cfg.get("attention_bias", False))
    ffn = _dense(cfg)
    layers = [
        (
            _attention(cfg, window=window if t == "sliding_attention" else None, qkv_bias=bias,
                       o_bias=bias),
            ffn,
            4,  # input, post-attention, pre-FFN and post-FFN RMSNorms
        )
        for t in types
    ]
    return _spec(cfg, model_id, name, layers, tie_default=True, family="gemma2")


@register_adapter("glm4_moe", model_types=["glm4_moe"], architectures=["Glm4MoeForCausalLM"])
def glm4_moe_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """GLM-4.5 / 4.6 / 4.7 (transformers Glm4MoeConfig): GQA with bias on q, k, v (not o) and,
    with ``use_qk_norm``, per-head RMSNorm on q and k; ``first_k_dense_replace`` dense SwiGLU
    layers, then MoE with ``n_routed_experts`` routed + ``n_shared_experts`` shared experts of
    width ``moe_intermediate_size`` and a sigmoid router with a score-correction bias. The
    multi-token-prediction layers (``num_nextn_predict_layers``) are not part of the main
    model and are not counted, as for DeepSeek-V3."""
    _require(
        cfg,
        model_id,
        (
            *_DENSE_FIELDS,
            "n_routed_experts",
            "num_experts_per_tok",
            "moe_intermediate_size",
            "max_position_embeddings",
        ),
    )
    bias = bool(cfg.get("attention_bias", False))
    attention = _attention(cfg, qkv_bias=bias, qk_norm=bool(cfg.get("use_qk_norm", False)))
    width = int(cfg["moe_intermediate_size"])
    moe = _moe(
        cfg,
        width,
        cfg["n_routed_experts"],
        cfg["num_experts_per_tok"],
        shared_intermediate_size=int(cfg.get("n_shared_experts") or 0) * width,
        router_bias=True,  # e_score_correction_bias of the noaux_tc router
    )
    dense = _dense(cfg)
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    layers = [
        (attention, moe if i >= first_dense else dense, 2)
        for i in range(int(cfg["num_hidden_layers"]))
    ]
    return _spec(cfg, model_id, name, layers, family="glm4_moe")


@register_adapter("phi3", model_types=["phi3"], architectures=["Phi3ForCausalLM"])
def phi3_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Phi-3 / Phi-3.5 / Phi-4-mini (transformers Phi3): Llama shapes with fused qkv_proj and
    gate_up_proj (same weight counts), no biases, sliding window on every layer when
    ``sliding_window`` is below the context (Phi-3-mini-4k: 2047; Phi-3.5: 262144, inactive)."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    window = cfg.get("sliding_window")
    if window and int(window) >= int(cfg["max_position_embeddings"]):
        window = None
    layer = (_attention(cfg, window=window), _dense(cfg), 2)
    return _spec(cfg, model_id, name, [layer] * int(cfg["num_hidden_layers"]), family="phi3")


@register_adapter("qwen3_next", model_types=["qwen3_next", "qwen3_5_moe", "qwen3_5_moe_text"],
                  architectures=["Qwen3NextForCausalLM", "Qwen3_5MoeForConditionalGeneration",
                                 "Qwen3_5MoeForCausalLM"])
def qwen3_next_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Qwen3-Next and Qwen3.5 MoE (transformers Qwen3NextConfig / Qwen3_5MoeTextConfig; the
    multimodal checkpoints keep the language model in ``text_config``, the vision tower is not
    counted): ``layer_types`` (default: every ``full_attention_interval``-th layer, 4, is full
    attention) of gated DeltaNet linear attention (``linear_num_key_heads`` x
    ``linear_key_head_dim``, ``linear_num_value_heads`` x ``linear_value_head_dim``, causal conv
    of ``linear_conv_kernel_dim``) and gated GQA (q_proj doubled for the per-head output gate,
    qk-norm, head_dim 256); MoE layers (``decoder_sparse_step``, ``mlp_only_layers``) of
    ``num_experts`` routed experts of ``moe_intermediate_size`` plus one shared expert of
    ``shared_expert_intermediate_size`` (its 1-wide sigmoid gate, d weights a layer, is not
    counted); dense MLP layers (``intermediate_size``) only where a layer is not sparse (Qwen3.5
    has none, and no such field). Defaults as transformers' Qwen3NextConfig, the
    Qwen3-Next-80B-A3B values."""
    text = cfg.get("text_config") or cfg
    where = " text_config" if "text_config" in cfg else ""
    _require(text, model_id, (*_ATTN_FIELDS, "num_experts", "num_experts_per_tok",
                              "moe_intermediate_size", "max_position_embeddings"), where)
    n = int(text["num_hidden_layers"])
    every = int(text.get("full_attention_interval") or 4)
    types = _layer_types(text, model_id, n) or [
        "linear_attention" if (i + 1) % every else "full_attention" for i in range(n)]
    gdn = Mixer(
        kind="gdn",
        hidden_size=int(text["hidden_size"]),
        conv_kernel=int(text.get("linear_conv_kernel_dim") or 4),
        lin_k_heads=int(text.get("linear_num_key_heads") or 16),
        lin_v_heads=int(text.get("linear_num_value_heads") or 32),
        lin_k_dim=int(text.get("linear_key_head_dim") or 128),
        lin_v_dim=int(text.get("linear_value_head_dim") or 128),
    )
    attention = _attention({**text, "head_dim": text.get("head_dim") or 256}, qk_norm=True,
                           q_gate=bool(text.get("attn_output_gate", True)))
    moe = _moe(text, int(text["moe_intermediate_size"]), text["num_experts"], text["num_experts_per_tok"],
               shared_intermediate_size=int(text.get("shared_expert_intermediate_size") or 0))
    step = int(text.get("decoder_sparse_step") or 1)
    mlp_only = set(text.get("mlp_only_layers") or ())
    sparse = [i not in mlp_only and int(text["num_experts"]) > 0 and (i + 1) % step == 0 for i in range(n)]
    if not all(sparse):  # Qwen3.5's configs have no dense MLP layer and no intermediate_size
        _require(text, model_id, _DENSE_FIELDS, where)
    dense = moe if all(sparse) else _dense(text)
    layers = [(gdn if t == "linear_attention" else attention, moe if s else dense, 2)
              for t, s in zip(types, sparse, strict=True)]
    return _spec(text, model_id, name, layers, top=cfg, family="qwen3_next")


@register_adapter("bloom", model_types=["bloom"], architectures=["BloomForCausalLM"])
def bloom_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """BLOOM / BLOOMZ (transformers BloomConfig; its configs spell the width ``hidden_size`` or
    the legacy ``n_embed``, the heads ``n_head`` or ``num_attention_heads``, the layers
    ``n_layer``): MHA with a fused, biased query_key_value and a biased output dense, ALiBi
    position biases (no rotary, no position table), two LayerNorms per block (weight + bias
    each: 4 vectors) and a biased, ungated GELU MLP of 4 x hidden (dense_h_to_4h, dense_4h_to_h);
    embeddings tied to the LM head (BloomForCausalLM ties lm_head). The configs carry no context
    length: BLOOM was trained on 2,048-token sequences (BLOOM paper, arXiv 2211.05100, Table 3),
    which is also what vLLM assumes for a config without one. No ``torch_dtype``: the published
    checkpoints hold bfloat16 weights (the paper trains in bfloat16)."""
    spelled: dict[str, Any] = {
        "hidden_size": cfg.get("hidden_size") or cfg.get("n_embed"),
        "num_attention_heads": cfg.get("n_head") or cfg.get("num_attention_heads"),
        "num_hidden_layers": cfg.get("n_layer") or cfg.get("num_hidden_layers"),
        "vocab_size": cfg.get("vocab_size"),
    }
    _require({**spelled, "model_type": "bloom"}, model_id, _ATTN_FIELDS,
             " (hidden_size/n_embed, n_head/num_attention_heads, n_layer)")
    text: dict[str, Any] = {k: int(v) for k, v in spelled.items()}
    d, layers = text["hidden_size"], text["num_hidden_layers"]
    text.update(intermediate_size=4 * d, max_position_embeddings=int(cfg.get("seq_length") or 2048),
                tie_word_embeddings=True, torch_dtype=cfg.get("torch_dtype") or "bfloat16")
    layer = (_attention(text, qkv_bias=True, o_bias=True), _dense(text, gated=False, bias=True), 4)
    top = {**cfg, "torch_dtype": text["torch_dtype"]}
    return _spec(text, model_id, name, [layer] * layers, top=top, family="bloom")


def _relabel(spec: ModelSpec, family: str) -> ModelSpec:
    return dataclasses.replace(spec, extra={**spec.extra, "family": family})


def _text(cfg: Config) -> dict[str, Any]:
    """A multimodal config's text model: its ``text_config`` over the top level (older
    Qwen2.5-VL configs keep the text fields at the top), with the top's architectures, dtype
    and quantization."""
    return {**cfg, **(cfg.get("text_config") or {}), "model_type": cfg.get("model_type")}


@register_adapter("deepseek_v2", model_types=["deepseek_v2"], architectures=["DeepseekV2ForCausalLM"])
def deepseek_v2_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """DeepSeek-V2 / V2.5 / V2-Lite: the fields and shapes of DeepSeek-V3 (MLA, a few dense
    layers, then routed + shared experts); V2-Lite has no query LoRA (q_lora_rank null)."""
    return _relabel(deepseek_v3_spec(cfg, model_id, name), "deepseek_v2")


@register_adapter("qwen2_5_vl", model_types=["qwen2_5_vl", "qwen2_vl"],
                  architectures=["Qwen2_5_VLForConditionalGeneration", "Qwen2VLForConditionalGeneration"])
def qwen2_5_vl_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Qwen2-VL / Qwen2.5-VL: the Qwen2 text model (vision tower not counted)."""
    return _relabel(qwen2_spec(_text(cfg), model_id, name), "qwen2_5_vl")


@register_adapter("mistral3", model_types=["mistral3"], architectures=["Mistral3ForConditionalGeneration"])
def mistral3_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Mistral Small 3.1 / 3.2 (multimodal): the Mistral text model (vision tower not counted)."""
    return _relabel(mistral_spec(_text(cfg), model_id, name), "mistral3")
