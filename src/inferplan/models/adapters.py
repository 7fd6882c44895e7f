"""Hugging Face ``config.json`` -> ModelSpec: one small adapter per architecture family.

Each adapter reads the fields its family's transformers implementation reads and describes
every layer as (token mixer, FFN, norms); identical layers are then merged into LayerGroups.
Adapters are found through one registry (``register_adapter``), keyed by family name and
looked up by the config's ``architectures[0]`` first, then its ``model_type``; the built-ins
register through the same decorator a plugin would use.

What does not live here: parameter and KV arithmetic (``spec.py``), the bundled catalog and name
lookup (``registry.py``). Nothing here reads files or the network."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from inferplan.errors import UnsupportedModelError
from inferplan.models.quant import native_precision
from inferplan.models.spec import Ffn, LayerGroup, Mixer, ModelSpec

Config = Mapping[str, Any]
Adapter = Callable[[Config, str, str], ModelSpec]
Layer = tuple[Mixer, Ffn, int]  # (token mixer, FFN, RMSNorm vectors of hidden size)

ADAPTERS: dict[str, Adapter] = {}
_BY_ARCHITECTURE: dict[str, str] = {}
_BY_MODEL_TYPE: dict[str, str] = {}

# torch dtype names in config.json -> precision ids of catalog/data/precisions.yaml
def register_adapter(
    family: str, *, model_types: Iterable[str] = (), architectures: Iterable[str] = ()
) -> Callable[[Adapter], Adapter]:
    """Register ``fn(cfg, model_id, name) -> ModelSpec`` for these model_types/architectures."""

    def deco(fn: Adapter) -> Adapter:
        ADAPTERS[family] = fn
        for mt in model_types:
            _BY_MODEL_TYPE[mt] = family
        for arch in architectures:
            _BY_ARCHITECTURE[arch] = family
        return fn

    return deco


def supported_families() -> list[str]:
    return sorted(ADAPTERS)


def family_of(cfg: Config) -> str | None:
    """The registered family for a config: by ``architectures[0]``, then by ``model_type``."""
    archs = cfg.get("architectures") or []
    if archs and archs[0] in _BY_ARCHITECTURE:
        return _BY_ARCHITECTURE[archs[0]]
    return _BY_MODEL_TYPE.get(str(cfg.get("model_type", "")))


def spec_from_hf_config(cfg: Config, model_id: str, name: str = "") -> ModelSpec:
    """Build the ModelSpec of a Hugging Face ``config.json`` dict.

    Raises UnsupportedModelError naming the model_type (and the missing fields) when no adapter
    fits or a required field is absent.
    """
    from inferplan.inputs import check_config, check_spec

    check_config(cfg, model_id)  # finite, positive, bounded sizes (names the field and limit)
    try:
        family = family_of(cfg)
    except (TypeError, AttributeError) as e:
        raise UnsupportedModelError(f"model '{model_id}': malformed architectures/model_type: {e}") from None
    if family is None:
        raise UnsupportedModelError(
            f"model '{model_id}': unsupported architecture (model_type "
            f"'{cfg.get('model_type', '?')}', "
            f"architectures {list(cfg.get('architectures') or [])}); "
            f"supported families: {', '.join(supported_families())} "
            "(a new family registers with inferplan.models.adapters.register_adapter)"
        )
    try:
        spec = ADAPTERS[family](cfg, model_id, name or model_id)
    except UnsupportedModelError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError) as e:
        raise UnsupportedModelError(
            f"model '{model_id}' (model_type '{cfg.get('model_type', '?')}'): "
            f"missing or malformed config field: {type(e).__name__} {e}"
        ) from None
    check_spec(spec)
    return spec


# --- shared helpers -------------------------------------------------------------------------


def _require(cfg: Config, model_id: str, fields: Sequence[str], where: str = "") -> None:
    missing = [f for f in fields if cfg.get(f) is None]
    if missing:
        raise UnsupportedModelError(
            f"model '{model_id}' (model_type '{cfg.get('model_type', '?')}'): config.json{where} "
            f"lacks required field(s) {', '.join(missing)}; supported families: "
            f"{', '.join(supported_families())}"
        )


_ATTN_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")
_DENSE_FIELDS = (*_ATTN_FIELDS, "intermediate_size")


def _head_dim(cfg: Config) -> int:
    return int(cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"])


def _kv_heads(cfg: Config) -> int:
    return int(cfg.get("num_key_value_heads") or cfg["num_attention_heads"])


def _attention(cfg: Config, window: int | None = None, **kw: Any) -> Mixer:
    return Mixer(
        kind="attention",
        hidden_size=int(cfg["hidden_size"]),
        num_q_heads=int(cfg["num_attention_heads"]),
        num_kv_heads=_kv_heads(cfg),
        head_dim=_head_dim(cfg),
        window_tokens=int(window) if window else None,
        **kw,
    )


def _dense(cfg: Config, width: int | None = None, **kw: Any) -> Ffn:
    return Ffn(
        kind="dense",
        hidden_size=int(cfg["hidden_size"]),
        intermediate_size=int(width if width is not None else cfg["intermediate_size"]),
        **kw,
    )


def _moe(cfg: Config, width: int, num_experts: int, top_k: int, **kw: Any) -> Ffn:
    return Ffn(
        kind="moe",
        hidden_size=int(cfg["hidden_size"]),
        intermediate_size=int(width),
        num_experts=int(num_experts),
        top_k=int(top_k),
        **kw,
    )


def _groups(layers: Sequence[Layer]) -> tuple[LayerGroup, ...]:
    """Merge identical layers (wherever they sit in the stack) into groups, first-seen order."""
    counts: dict[Layer, int] = {}
    for layer in layers:
        counts[layer] = counts.get(layer, 0) + 1
    return tuple(
        LayerGroup(count=n, mixer=mixer, ffn=ffn, norms_per_layer=norms)
        for (mixer, ffn, norms), n in counts.items()
    )


def _layer_types(cfg: Config, model_id: str, n: int) -> list[str] | None:
    types = cfg.get("layer_types")
    if types is None:
        return None
    if len(types) != n:
        raise UnsupportedModelError(
            f"model '{model_id}': layer_types has {len(types)} entries for {n} layers"
        )
    return [str(t) for t in types]


def _spec(
    cfg: Config,
    model_id: str,
    name: str,
    layers: Sequence[Layer],
    top: Config | None = None,
    tie_default: bool = False,
    family: str = "",
) -> ModelSpec:
    """Assemble a ModelSpec; ``cfg`` is the text config, ``top`` the whole config.json."""
    top = top if top is not None else cfg
    archs = top.get("architectures") or [top.get("model_type", "")]
    tie = cfg.get("tie_word_embeddings", top.get("tie_word_embeddings"))
    if tie is None:
        tie = cfg.get("tie_embedding", tie_default)
    weights, experts = native_precision(cfg, top)
    return ModelSpec(
        id=model_id,
        name=name,
        architecture=str(archs[0]),
        hidden_size=int(cfg["hidden_size"]),
        vocab_size=int(cfg["vocab_size"]),
        tie_word_embeddings=bool(tie),
        groups=_groups(layers),
        max_context_tokens=int(cfg.get("max_position_embeddings") or 0),
        native_precision=weights,
        native_expert_precision=experts,
        extra={"family": family, "model_type": str(top.get("model_type", ""))},
    )


def _qwen_windows(cfg: Config, model_id: str, n: int) -> list[int | None]:
    """Per-layer sliding window of Qwen2/Qwen3: only with use_sliding_window, from
    max_window_layers on (transformers Qwen2Config); explicit layer_types win."""
    types = _layer_types(cfg, model_id, n)
    window = cfg.get("sliding_window")
    if types is not None:
        return [window if t == "sliding_attention" else None for t in types]
    if not cfg.get("use_sliding_window") or not window:
        return [None] * n
    first = int(cfg.get("max_window_layers") or 0)
    return [window if i >= first else None for i in range(n)]


# --- families -------------------------------------------------------------------------------


@register_adapter("llama", model_types=["llama"], architectures=["LlamaForCausalLM"])
def llama_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Llama 2/3/3.1/3.2/3.3: GQA (explicit ``head_dim`` when given), SwiGLU, RMSNorm."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    bias = bool(cfg.get("attention_bias", False))
    layer = (
        _attention(cfg, qkv_bias=bias, o_bias=bias),
        _dense(cfg, bias=bool(cfg.get("mlp_bias", False))),
        2,
    )
    return _spec(cfg, model_id, name, [layer] * int(cfg["num_hidden_layers"]), family="llama")


@register_adapter("mistral", model_types=["mistral"], architectures=["MistralForCausalLM"])
def mistral_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Mistral: Llama shapes with sliding-window attention on every layer (v0.1: 4096)."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    layer = (_attention(cfg, window=cfg.get("sliding_window")), _dense(cfg), 2)
    return _spec(cfg, model_id, name, [layer] * int(cfg["num_hidden_layers"]), family="mistral")


@register_adapter("qwen2", model_types=["qwen2"], architectures=["Qwen2ForCausalLM"])
def qwen2_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Qwen2/2.5: GQA with bias on q, k, v (not o), SwiGLU."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    n = int(cfg["num_hidden_layers"])
    ffn = _dense(cfg)
    layers = [
        (_attention(cfg, window=w, qkv_bias=True), ffn, 2) for w in _qwen_windows(cfg, model_id, n)
    ]
    return _spec(cfg, model_id, name, layers, family="qwen2")


@register_adapter("qwen3", model_types=["qwen3"], architectures=["Qwen3ForCausalLM"])
def qwen3_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Qwen3 dense: GQA with per-head RMSNorm on q and k, no QKV bias."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    n = int(cfg["num_hidden_layers"])
    bias = bool(cfg.get("attention_bias", False))
    ffn = _dense(cfg)
    layers = [
        (_attention(cfg, window=w, qkv_bias=bias, o_bias=bias, qk_norm=True), ffn, 2)
        for w in _qwen_windows(cfg, model_id, n)
    ]
    return _spec(cfg, model_id, name, layers, family="qwen3")


@register_adapter("qwen3_moe", model_types=["qwen3_moe"], architectures=["Qwen3MoeForCausalLM"])
def qwen3_moe_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Qwen3-MoE: Qwen3 attention; routed experts (no shared expert) on every
    ``decoder_sparse_step``-th layer not in ``mlp_only_layers``."""
    _require(
        cfg,
        model_id,
        (
            *_ATTN_FIELDS,
            "num_experts",
            "num_experts_per_tok",
            "moe_intermediate_size",
            "max_position_embeddings",
        ),
    )
    n = int(cfg["num_hidden_layers"])
    step = int(cfg.get("decoder_sparse_step") or 1)
    dense_only = set(cfg.get("mlp_only_layers") or [])
    moe = _moe(cfg, cfg["moe_intermediate_size"], cfg["num_experts"], cfg["num_experts_per_tok"])
    bias = bool(cfg.get("attention_bias", False))
    layers: list[Layer] = []
    for i, w in enumerate(_qwen_windows(cfg, model_id, n)):
        is_moe = i not in dense_only and int(cfg["num_experts"]) > 0 and (i + 1) % step == 0
        if not is_moe:
            _require(cfg, model_id, ("intermediate_size",))
        ffn = moe if is_moe else _dense(cfg)
        layers.append((_attention(cfg, window=w, qkv_bias=bias, o_bias=bias, qk_norm=True), ffn, 2))
    return _spec(cfg, model_id, name, layers, family="qwen3_moe")


@register_adapter("mixtral", model_types=["mixtral"], architectures=["MixtralForCausalLM"])
def mixtral_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Mixtral: Mistral attention, every FFN a top-k of ``num_local_experts`` SwiGLU experts."""
    _require(
        cfg,
        model_id,
        (*_DENSE_FIELDS, "num_local_experts", "num_experts_per_tok", "max_position_embeddings"),
    )
    ffn = _moe(cfg, cfg["intermediate_size"], cfg["num_local_experts"], cfg["num_experts_per_tok"])
    layer = (_attention(cfg, window=cfg.get("sliding_window")), ffn, 2)
    return _spec(cfg, model_id, name, [layer] * int(cfg["num_hidden_layers"]), family="mixtral")


@register_adapter(
    "deepseek_v3", model_types=["deepseek_v3"], architectures=["DeepseekV3ForCausalLM"]
)
def deepseek_v3_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """DeepSeek-V3/R1: MLA attention; ``first_k_dense_replace`` dense layers, then MoE with
    routed + shared experts. The multi-token-prediction layers (num_nextn_predict_layers) are
    not part of the main model and are not counted."""
    _require(
        cfg,
        model_id,
        (
            *_DENSE_FIELDS,
            "kv_lora_rank",
            "qk_nope_head_dim",
            "qk_rope_head_dim",
            "v_head_dim",
            "n_routed_experts",
            "num_experts_per_tok",
            "moe_intermediate_size",
            "max_position_embeddings",
        ),
    )
    mla = Mixer(
        kind="mla",
        hidden_size=int(cfg["hidden_size"]),
        num_q_heads=int(cfg["num_attention_heads"]),
        q_lora_rank=int(cfg.get("q_lora_rank") or 0),
        kv_lora_rank=int(cfg["kv_lora_rank"]),
        qk_nope_head_dim=int(cfg["qk_nope_head_dim"]),
        qk_rope_head_dim=int(cfg["qk_rope_head_dim"]),
        v_head_dim=int(cfg["v_head_dim"]),
    )
    width = int(cfg["moe_intermediate_size"])
    moe = _moe(
        cfg,
        width,
        cfg["n_routed_experts"],
        cfg["num_experts_per_tok"],
        shared_intermediate_size=int(cfg.get("n_shared_experts") or 0) * width,
        # noaux_tc routing keeps a per-expert score-correction bias in the checkpoint
        router_bias=cfg.get("topk_method") == "noaux_tc",
    )
    dense = _dense(cfg)
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    freq = int(cfg.get("moe_layer_freq") or 1)
    layers = [
        (mla, moe if i >= first_dense and i % freq == 0 else dense, 2)
        for i in range(int(cfg["num_hidden_layers"]))
    ]
    return _spec(cfg, model_id, name, layers, family="deepseek_v3")


@register_adapter("glm4_moe", model_types=["glm4_moe"], architectures=["Glm4MoeForCausalLM"])
def glm4_moe_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """GLM-4.5/4.6/4.7: GQA attention with q/k/v biases and per-head q/k norms; the first
    ``first_k_dense_replace`` layers dense, then routed + shared experts with a per-expert
    score-correction bias (as DeepSeek-V3). MTP layers (num_nextn_predict_layers) not counted."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "n_routed_experts", "num_experts_per_tok",
                             "moe_intermediate_size", "max_position_embeddings"))
    width = int(cfg["moe_intermediate_size"])
    moe = _moe(cfg, width, cfg["n_routed_experts"], cfg["num_experts_per_tok"],
               shared_intermediate_size=int(cfg.get("n_shared_experts") or 0) * width,
               router_bias=True)
    attn = _attention(cfg, qkv_bias=bool(cfg.get("attention_bias", False)),
                      qk_norm=bool(cfg.get("use_qk_norm", False)))
    first_dense = int(cfg.get("first_k_dense_replace") or 0)
    layers = [(attn, moe if i >= first_dense else _dense(cfg), 2)
              for i in range(int(cfg["num_hidden_layers"]))]
    return _spec(cfg, model_id, name, layers, family="glm4_moe")


@register_adapter("gpt_oss", model_types=["gpt_oss"], architectures=["GptOssForCausalLM"])
def gpt_oss_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """gpt-oss: alternating sliding-window (128) / full GQA attention with biases and learned
    sinks; every FFN a biased SwiGLU MoE with a biased router; experts natively MXFP4."""
    _require(
        cfg,
        model_id,
        (*_DENSE_FIELDS, "num_local_experts", "max_position_embeddings", "layer_types"),
    )
    n = int(cfg["num_hidden_layers"])
    top_k = cfg.get("num_experts_per_tok") or cfg.get("experts_per_token")
    if top_k is None:
        _require(cfg, model_id, ("num_experts_per_tok",))
    bias = bool(cfg.get("attention_bias", True))
    ffn = _moe(
        cfg, cfg["intermediate_size"], cfg["num_local_experts"], int(top_k or 0), bias=True, router_bias=True
    )
    layers = [
        (
            _attention(
                cfg,
                window=cfg.get("sliding_window") if t == "sliding_attention" else None,
                qkv_bias=bias,
                o_bias=bias,
                sinks=True,
            ),
            ffn,
            2,
        )
        for t in _layer_types(cfg, model_id, n) or []
    ]
    return _spec(cfg, model_id, name, layers, family="gpt_oss")


# transformers Gemma3TextConfig defaults: the multimodal checkpoints' text_config lists only
# the fields that differ from these (e.g. gemma-3-4b gives no head counts or vocab_size).
GEMMA3_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 262_208,
    "hidden_size": 2304,
    "intermediate_size": 9216,
    "num_hidden_layers": 26,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "max_position_embeddings": 131_072,
    "sliding_window": 4096,
    "sliding_window_pattern": 6,
    "tie_word_embeddings": True,
    "attention_bias": False,
}


@register_adapter(
    "gemma3",
    model_types=["gemma3", "gemma3_text"],
    architectures=["Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"],
)
def gemma3_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Gemma 3 (text part): 5 local sliding-window layers per global one, qk-norm, 4 RMSNorms
    per layer, GeGLU FFN, tied embeddings. Vision tower of the multimodal configs not counted."""
    top = cfg
    if cfg.get("model_type") == "gemma3" or "text_config" in cfg:
        _require(cfg, model_id, ("text_config",))
    text = {**GEMMA3_TEXT_DEFAULTS, **(cfg.get("text_config") or cfg)}
    n = int(text["num_hidden_layers"])
    types = _layer_types(text, model_id, n)
    if types is None:
        pattern = int(text["sliding_window_pattern"])
        types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n)]
    bias = bool(text["attention_bias"])
    ffn = _dense(text)
    layers = [
        (
            _attention(
                text,
                window=text["sliding_window"] if t == "sliding_attention" else None,
                qkv_bias=bias,
                o_bias=bias,
                qk_norm=True,
            ),
            ffn,
            4,  # input, post-attention, pre-FFN and post-FFN RMSNorms
        )
        for t in types
    ]
    return _spec(text, model_id, name, layers, top=top, tie_default=True, family="gemma3")


@register_adapter(
    "llama4",
    model_types=["llama4", "llama4_text"],
    architectures=["Llama4ForConditionalGeneration", "Llama4ForCausalLM"],
)
def llama4_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """Llama 4 (text part): MoE on every ``interleave_moe_layer_step``-th layer (routed experts
    of width ``intermediate_size`` + one shared expert of the same width), dense layers of width
    ``intermediate_size_mlp``; chunked local attention (``attention_chunk_size``) on the RoPE
    layers, global attention on the NoPE layers (every 4th). The qk L2-norm has no weights."""
    top = cfg
    if "text_config" in cfg:
        text = cfg["text_config"]
        where = " text_config"
    else:
        text, where = cfg, ""
    _require(
        text,
        model_id,
        (*_DENSE_FIELDS, "intermediate_size_mlp", "num_local_experts", "max_position_embeddings"),
        where,
    )
    n = int(text["num_hidden_layers"])
    step = int(text.get("interleave_moe_layer_step") or 1)
    moe_layers = text.get("moe_layers")
    moe_set = set(moe_layers if moe_layers is not None else range(step - 1, n, step))
    chunk = text.get("attention_chunk_size", 8192)
    types = _layer_types(text, model_id, n)
    if types is None:
        no_rope = text.get("no_rope_layers") or [int((i + 1) % 4 != 0) for i in range(n)]
        types = [
            "chunked_attention" if uses_rope and chunk else "full_attention"
            for uses_rope in no_rope
        ]
    bias = bool(text.get("attention_bias", False))
    width = int(text["intermediate_size"])
    moe = _moe(
        text,
        width,
        text["num_local_experts"],
        text.get("num_experts_per_tok") or 1,
        shared_intermediate_size=width,
    )
    dense = _dense(text, width=int(text["intermediate_size_mlp"]))
    layers = [
        (
            _attention(
                text, window=chunk if t == "chunked_attention" else None, qkv_bias=bias, o_bias=bias
            ),
            moe if i in moe_set else dense,
            2,
        )
        for i, t in enumerate(types)
    ]
    return _spec(text, model_id, name, layers, top=top, family="llama4")


@register_adapter(
    "bitnet", model_types=["bitnet"], architectures=["BitNetForCausalLM", "BitnetForCausalLM"]
)
def bitnet_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """BitNet b1.58 (Microsoft ``BitNetForCausalLM`` and 1bitLLM's ``BitnetForCausalLM``):
    Llama shapes with ternary linear layers; gated FFN (squared ReLU for ``relu2``, SwiGLU for
    1bitLLM), an extra RMSNorm before o_proj. The FFN sub-norm (intermediate width,
    < 0.01% of the weights) has no place in Ffn and is not counted."""
    _require(cfg, model_id, (*_DENSE_FIELDS, "max_position_embeddings"))
    bias = bool(cfg.get("attention_bias", False))
    layer = (_attention(cfg, qkv_bias=bias, o_bias=bias), _dense(cfg), 3)
    return _spec(cfg, model_id, name, [layer] * int(cfg["num_hidden_layers"]), family="bitnet")


def lfm2_ffn_width(cfg: Config) -> int:
    """LFM2 FFN width as transformers' Lfm2MLP computes it.

    With ``block_auto_adjust_ff_dim``: int(2 * ff / 3), then (when ``block_ffn_dim_multiplier``
    is set) times the multiplier, rounded up to a multiple of ``block_multiple_of``.
    LFM2-350M: ff 6656 -> 4437 -> 4608; LFM2-1.2B: 12288 -> 8192.
    """
    width = int(cfg.get("block_ff_dim") or cfg["intermediate_size"])
    if cfg.get("block_auto_adjust_ff_dim", True):
        width = int(2 * width / 3)
        mult = cfg.get("block_ffn_dim_multiplier", 1.0)
        if mult is not None:
            multiple = int(cfg.get("block_multiple_of") or 256)
            width = int(mult * width)
            width = multiple * ((width + multiple - 1) // multiple)
    return width


@register_adapter("lfm2", model_types=["lfm2"], architectures=["Lfm2ForCausalLM"])
def lfm2_spec(cfg: Config, model_id: str, name: str) -> ModelSpec:
    """LFM2 / LFM2.5: gated short-convolution blocks (kernel ``conv_L_cache``) and GQA blocks
    with qk-norm, per ``layer_types`` (or ``full_attn_idxs``); SwiGLU FFN; tied embeddings."""
    _require(cfg, model_id, (*_ATTN_FIELDS, "conv_L_cache", "max_position_embeddings"))
    if cfg.get("block_ff_dim") is None and cfg.get("intermediate_size") is None:
        _require(cfg, model_id, ("block_ff_dim",))
    n = int(cfg["num_hidden_layers"])
    types = _layer_types(cfg, model_id, n)
    if types is None:
        _require(cfg, model_id, ("full_attn_idxs",))
        attn = set(cfg["full_attn_idxs"])
        types = ["full_attention" if i in attn else "conv" for i in range(n)]
    conv = Mixer(
        kind="conv",
        hidden_size=int(cfg["hidden_size"]),
        conv_kernel=int(cfg["conv_L_cache"]),
        conv_bias=bool(cfg.get("conv_bias", False)),
    )
    attention = _attention(cfg, qk_norm=True)
    ffn = _dense(cfg, width=lfm2_ffn_width(cfg))
    layers = [(conv if t == "conv" else attention, ffn, 2) for t in types]
    return _spec(cfg, model_id, name, layers, tie_default=True, family="lfm2")
