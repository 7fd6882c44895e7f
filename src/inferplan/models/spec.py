"""ModelSpec: the architecture facts the performance model needs, read from a HF config.json.

A model is a stack of *layer groups*: runs of identical layers (e.g. DeepSeek-V3 = 3 dense
layers + 58 MoE layers; gpt-oss = 18 sliding-window + 18 full-attention layers; LFM2 = 10
short-conv + 6 attention layers). Each group has one token mixer (attention of some kind, or a
short convolution) and one FFN (dense or mixture of experts). Parameter counts, bytes per
token of KV cache and FLOPs per token are derived here, in one place, from the shapes.

Counting conventions (match the published numbers):
- norms are counted (hidden-size vectors), rotary tables are not (they are not weights);
- the token embedding is counted once; the LM head again only if not tied;
- DeepSeek's multi-token-prediction module is not counted (671B excludes it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MixerKind = Literal["attention", "mla", "conv", "gdn"]


@dataclass(frozen=True)
class Mixer:
    """The token mixer of one layer: GQA/MHA/MQA attention, MLA attention, a short conv, or a
    gated DeltaNet linear attention (``gdn``: Qwen3-Next, Qwen3.5).

    Shapes in elements; `window_tokens` set for sliding-window / chunked-local attention,
    whose KV cache stops growing at the window.
    """

    kind: MixerKind
    hidden_size: int
    num_q_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    qkv_bias: bool = False
    o_bias: bool = False
    qk_norm: bool = False  # per-head RMSNorm on q and k (Qwen3, Gemma 3)
    window_tokens: int | None = None
    sinks: bool = False  # gpt-oss learned attention sinks: one scalar per q head
    q_gate: bool = False  # gated attention (Qwen3-Next): q_proj also emits a per-head output gate
    # MLA (DeepSeek-V2/V3)
    q_lora_rank: int = 0  # 0 = no low-rank q projection
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # Short convolution (LFM2): in_proj d -> 3d, depthwise conv of kernel L, out_proj d -> d
    conv_kernel: int = 0
    conv_bias: bool = False
    # Gated DeltaNet (transformers Qwen3NextGatedDeltaNet): key heads x key dim, value heads x
    # value dim; its short causal conv over q, k and v uses ``conv_kernel``
    lin_k_heads: int = 0
    lin_v_heads: int = 0
    lin_k_dim: int = 0
    lin_v_dim: int = 0

    @property
    def params(self) -> int:
        d = self.hidden_size
        if self.kind == "attention":
            q = d * self.num_q_heads * self.head_dim * (2 if self.q_gate else 1)
            kv = 2 * d * self.num_kv_heads * self.head_dim  # K and V
            o = self.num_q_heads * self.head_dim * d
            bias = (self.num_q_heads + 2 * self.num_kv_heads) * self.head_dim if self.qkv_bias else 0
            bias += d if self.o_bias else 0
            norm = 2 * self.head_dim if self.qk_norm else 0
            sinks = self.num_q_heads if self.sinks else 0
            return q + kv + o + bias + norm + sinks
        if self.kind == "mla":
            h = self.num_q_heads
            qk_head = self.qk_nope_head_dim + self.qk_rope_head_dim
            if self.q_lora_rank:
                q = d * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * h * qk_head
            else:
                q = d * h * qk_head
            kv_a = d * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank  # + norm
            kv_b = self.kv_lora_rank * h * (self.qk_nope_head_dim + self.v_head_dim)
            o = h * self.v_head_dim * d
            return q + kv_a + kv_b + o
        if self.kind == "gdn":
            # in_proj_qkvz (q, k: key_dim each; v, z: value_dim each), in_proj_ba (beta and
            # alpha per value head), depthwise conv over q, k, v, A_log and dt_bias per value
            # head, the gated RMSNorm over a value head, out_proj (value_dim -> d)
            key, value = self.lin_k_heads * self.lin_k_dim, self.lin_v_heads * self.lin_v_dim
            return (d * (2 * key + 2 * value) + d * 2 * self.lin_v_heads
                    + (2 * key + value) * self.conv_kernel + 2 * self.lin_v_heads + self.lin_v_dim
                    + value * d)
        # conv: in_proj (d -> 3d: B, C, x), depthwise conv weights (d x L), out_proj (d -> d)
        bias = (3 * d + d + d) if self.conv_bias else 0
        return 3 * d * d + d * self.conv_kernel + d * d + bias

    @property
    def kv_elems_per_token(self) -> int:
        """Elements cached per token of context in this layer (K and V, or MLA's latent)."""
        if self.kind == "attention":
            return 2 * self.num_kv_heads * self.head_dim  # K and V
        if self.kind == "mla":
            return self.kv_lora_rank + self.qk_rope_head_dim  # compressed latent + shared rope key
        return 0

    @property
    def state_elems_per_seq(self) -> int:
        """Constant-size recurrent state per sequence (conv cache: last L-1 inputs of B*x;
        gated DeltaNet: a key-dim x value-dim matrix per value head and its conv cache)."""
        if self.kind == "conv":
            return self.hidden_size * (self.conv_kernel - 1)
        if self.kind == "gdn":
            key, value = self.lin_k_heads * self.lin_k_dim, self.lin_v_heads * self.lin_v_dim
            return self.lin_v_heads * self.lin_k_dim * self.lin_v_dim + (2 * key + value) * (self.conv_kernel - 1)
        return 0

    @property
    def attn_flops_per_token_per_ctx(self) -> int:
        """FLOPs of score and value products per new token per cached token (decode path).

        GQA: 2*h*d_head (q.k) + 2*h*d_head (p.v). MLA decode uses the absorbed form over the
        latent: 2*h*(r_kv + d_rope) + 2*h*r_kv (DeepSeek-V2 paper, appendix on absorption).
        """
        if self.kind == "attention":
            return 4 * self.num_q_heads * self.head_dim
        if self.kind == "mla":
            h = self.num_q_heads
            return 2 * h * (self.kv_lora_rank + self.qk_rope_head_dim) + 2 * h * self.kv_lora_rank
        return 0

    @property
    def attn_prefill_flops_per_token_per_ctx(self) -> int:
        """FLOPs per (query, key) pair in prefill. MLA prefill decompresses K and V and runs
        ordinary multi-head attention: 2*h*(d_nope + d_rope) + 2*h*d_v (DeepSeek-V2 paper)."""
        if self.kind == "mla":
            h = self.num_q_heads
            return 2 * h * (self.qk_nope_head_dim + self.qk_rope_head_dim) + 2 * h * self.v_head_dim
        return self.attn_flops_per_token_per_ctx

    @property
    def conv_flops_per_token(self) -> int:
        """FLOPs per token of a recurrent mixer's own arithmetic (not its projections).

        Short conv: 2*d*L. Gated DeltaNet, per value head with state S (d_k x d_v), gated delta
        rule S <- a S + b k (v - a S^T k)^T and output S^T q (Yang, Kautz & Hatamizadeh 2024,
        "Gated Delta Networks", eq. 10): S^T k, the rank-1 update and S^T q are 2*d_k*d_v each,
        the decay a*S d_k*d_v more: 7*d_k*d_v, plus the conv over q, k and v (2*C*L). Prompt
        tokens run the chunked form, whose FLOPs per token are of the same order.
        """
        if self.kind == "conv":
            return 2 * self.hidden_size * self.conv_kernel
        if self.kind == "gdn":
            key, value = self.lin_k_heads * self.lin_k_dim, self.lin_v_heads * self.lin_v_dim
            return 7 * self.lin_v_heads * self.lin_k_dim * self.lin_v_dim + 2 * (2 * key + value) * self.conv_kernel
        return 0


@dataclass(frozen=True)
class Ffn:
    """Dense FFN, or a mixture of experts (routed experts + optional always-on shared path)."""

    kind: Literal["dense", "moe"]
    hidden_size: int
    intermediate_size: int  # dense: FFN width; moe: width of ONE routed expert
    gated: bool = True  # SwiGLU/GeGLU: gate, up, down (3 matrices); else up, down (2)
    bias: bool = False
    num_experts: int = 0
    top_k: int = 0
    shared_intermediate_size: int = 0  # total width of the shared expert(s), 0 if none
    router_bias: bool = False

    @property
    def _mats(self) -> int:
        return 3 if self.gated else 2

    def _mlp_params(self, width: int) -> int:
        bias = (width * (self._mats - 1) + self.hidden_size) if self.bias else 0
        return self._mats * self.hidden_size * width + bias

    @property
    def expert_params(self) -> int:
        """Weights of one routed expert (or the whole dense FFN)."""
        return self._mlp_params(self.intermediate_size)

    @property
    def shared_params(self) -> int:
        """Always-active weights: shared experts and the router."""
        if self.kind == "dense":
            return 0
        shared = self._mlp_params(self.shared_intermediate_size) if self.shared_intermediate_size else 0
        router = self.hidden_size * self.num_experts + (self.num_experts if self.router_bias else 0)
        return shared + router

    @property
    def params(self) -> int:
        if self.kind == "dense":
            return self.expert_params
        return self.num_experts * self.expert_params + self.shared_params

    @property
    def active_params(self) -> int:
        if self.kind == "dense":
            return self.expert_params
        return self.top_k * self.expert_params + self.shared_params


@dataclass(frozen=True)
class LayerGroup:
    count: int
    mixer: Mixer
    ffn: Ffn
    norms_per_layer: int = 2  # RMSNorm vectors of hidden size (Gemma 3 has 4)

    @property
    def params_per_layer(self) -> int:
        return self.mixer.params + self.ffn.params + self.norms_per_layer * self.mixer.hidden_size

    @property
    def active_params_per_layer(self) -> int:
        return self.mixer.params + self.ffn.active_params + self.norms_per_layer * self.mixer.hidden_size


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    architecture: str  # HF "architectures"[0] / model_type
    hidden_size: int
    vocab_size: int
    tie_word_embeddings: bool
    groups: tuple[LayerGroup, ...]
    max_context_tokens: int
    native_precision: str = "bf16"
    native_expert_precision: str | None = None  # gpt-oss: "mxfp4" for routed experts
    source: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def num_layers(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        """Weights read by the LM head each step (the embedding again, when tied)."""
        return self.vocab_size * self.hidden_size

    @property
    def layer_params(self) -> int:
        return sum(g.count * g.params_per_layer for g in self.groups)

    @property
    def total_params(self) -> int:
        final_norm = self.hidden_size
        head = 0 if self.tie_word_embeddings else self.lm_head_params
        return self.embedding_params + self.layer_params + final_norm + head

    @property
    def active_params(self) -> int:
        """Parameters touched per token: all but the unchosen routed experts."""
        final_norm = self.hidden_size
        head = 0 if self.tie_word_embeddings else self.lm_head_params
        active = sum(g.count * g.active_params_per_layer for g in self.groups)
        return self.embedding_params + active + final_norm + head

    @property
    def is_moe(self) -> bool:
        return any(g.ffn.kind == "moe" for g in self.groups)

    @property
    def kv_elems_per_token(self) -> int:
        """Cache elements per token summed over all layers, ignoring windows (upper bound)."""
        return sum(g.count * g.mixer.kv_elems_per_token for g in self.groups)
