"""What inferplan read from a model: ``inferplan models show MODEL`` (a bundled id or any
``config.json``), so a user can check the shapes every estimate rests on before trusting one.

Counts in elements and bytes: weights at the checkpoint's own precision (catalog bits per weight;
embedding and LM head at the format's ``head_bits``, routed experts at the expert precision);
the KV cache per sequence at a 16-bit cache (2 bytes per element; an fp8 cache halves it), each
sliding-window layer capped at its window, linear-attention and conv layers a constant state.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from inferplan.catalog.precisions import get_precision
from inferplan.models.spec import ModelSpec

KV_BYTES_PER_ELEM = 2.0  # a 16-bit cache (the engines' default for 16-bit models)
CONTEXTS = (1024, 8192, 32768, 131072)  # tokens, where the model's window allows


class LayerKind(BaseModel):
    layers: int
    mixer: str = Field(description="attention, mla, conv or gdn (gated DeltaNet)")
    window_tokens: int | None = Field(default=None, description="sliding window or chunk; None: full")
    ffn: str = Field(description="dense or moe")
    experts: int = 0
    experts_per_token: int = 0


class ModelCard(BaseModel):
    id: str
    name: str
    architecture: str
    family: str
    source: str
    total_params: int
    active_params: int = Field(description="per token: all but the unchosen routed experts, "
                               "embedding and LM head included")
    embedding_params: int
    layers: int
    hidden_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_context_tokens: int
    native_precision: str
    native_expert_precision: str | None
    weights_bytes: float = Field(description="at the native precision(s)")
    kv_elems_per_token: int = Field(description="summed over the layers that cache every token")
    state_elems_per_seq: int = Field(description="constant recurrent/conv state per sequence")
    kv_bytes_per_seq: dict[int, float] = Field(description="16-bit KV + state of one sequence, by context")
    layer_kinds: list[LayerKind]
    notes: str = ""


def weights_bytes(spec: ModelSpec) -> float:
    """Bytes of the checkpoint's weights at its native precision(s) (module docstring)."""
    w = get_precision(spec.native_precision)
    e = get_precision(spec.native_expert_precision or spec.native_precision)
    layers = 0.0
    for g in spec.groups:
        routed = g.ffn.num_experts * g.ffn.expert_params if g.ffn.kind == "moe" else 0
        layers += g.count * ((g.params_per_layer - routed) * w.bits_per_weight + routed * e.bits_per_weight) / 8
    ends = spec.embedding_params + (0 if spec.tie_word_embeddings else spec.lm_head_params)
    return layers + (ends + spec.hidden_size) * w.head_bits / 8


def kv_bytes_per_seq(spec: ModelSpec, ctx_tokens: int) -> float:
    """16-bit KV cache + state of one sequence of ``ctx_tokens`` tokens (module docstring)."""
    total = 0.0
    for g in spec.groups:
        cached = min(ctx_tokens, g.mixer.window_tokens or ctx_tokens)
        total += g.count * (g.mixer.kv_elems_per_token * cached + g.mixer.state_elems_per_seq)
    return total * KV_BYTES_PER_ELEM


def describe_model(spec: ModelSpec) -> ModelCard:
    kinds: dict[tuple, int] = {}
    for g in spec.groups:
        key = (g.mixer.kind, g.mixer.window_tokens, g.ffn.kind, g.ffn.num_experts, g.ffn.top_k)
        kinds[key] = kinds.get(key, 0) + g.count
    ctxs = [c for c in CONTEXTS if not spec.max_context_tokens or c <= spec.max_context_tokens]
    if spec.max_context_tokens and spec.max_context_tokens not in ctxs:
        ctxs.append(spec.max_context_tokens)
    full = sum(g.count * g.mixer.kv_elems_per_token for g in spec.groups if not g.mixer.window_tokens)
    return ModelCard(
        id=spec.id, name=spec.name, architecture=spec.architecture,
        family=str(spec.extra.get("family", "")), source=spec.source,
        total_params=spec.total_params, active_params=spec.active_params,
        embedding_params=spec.embedding_params, layers=spec.num_layers,
        hidden_size=spec.hidden_size, vocab_size=spec.vocab_size,
        tie_word_embeddings=spec.tie_word_embeddings, max_context_tokens=spec.max_context_tokens,
        native_precision=spec.native_precision, native_expert_precision=spec.native_expert_precision,
        weights_bytes=weights_bytes(spec), kv_elems_per_token=full,
        state_elems_per_seq=sum(g.count * g.mixer.state_elems_per_seq for g in spec.groups),
        kv_bytes_per_seq={c: kv_bytes_per_seq(spec, c) for c in ctxs},
        layer_kinds=[LayerKind(layers=n, mixer=k[0], window_tokens=k[1], ffn=k[2], experts=k[3],
                               experts_per_token=k[4]) for k, n in kinds.items()],
        notes=spec.notes)
