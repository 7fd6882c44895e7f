"""Memory per device: weights, KV cache, activations, engine reservation; what fits.

All quantities are bytes on the most loaded device of a replica. Sliding-window layers stop
growing at their window; short-conv layers keep a constant state per sequence; MLA caches its
compressed latent (replicated on every TP rank).

The embedding table and LM head sit on the first and last pipeline stage (vLLM, TensorRT-LLM),
except on SRAM-only machines (Groq LPU, Cerebras wafers): there they are split along the
vocabulary over every device of the replica, each device holding ``1 / (tp x pp)`` of both
(vocabulary-parallel embedding and output layer, Shoeybi et al. 2019, Megatron-LM, section 3).
A Groq chip's 230 MB cannot hold one Llama 3 layer's 16-way share (107 MB at 16 bits) next to
its share of a 128k-entry table (131 MB); the Groq compiler schedules where every tensor lives
across the chips (Abts et al., ISCA 2022), so the tables are taken to go where the layers leave
room (an assumption: the placement is not published).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferplan.perf.deployment import Deployment

LOGIT_BYTES = 4  # logits are materialized in fp32 for sampling


@dataclass(frozen=True)
class MemoryBreakdown:
    weights_bytes: float
    kv_cache_bytes: float
    activation_bytes: float
    reserved_bytes: float
    capacity_bytes: float

    @property
    def used_bytes(self) -> float:
        return self.weights_bytes + self.kv_cache_bytes + self.activation_bytes + self.reserved_bytes

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.capacity_bytes


def weight_bytes_per_device(dep: Deployment) -> float:
    """Weights on the most loaded device: its share of the layers plus embedding/LM head, less
    what ``--offload auto`` keeps in host DRAM (``Deployment.offload_weight_bytes``). The
    layers are spread evenly over the pipeline stages (a fractional share per stage): on SRAM
    machines the compiler may cut a layer between chips (an assumption, not published); a GPU
    pipeline of a few whole-layer stages differs from it by under one layer."""
    lay = dep.layout
    on_device = dep.experts_on_device  # --offload experts: routed experts in host DRAM
    layer_bytes = sum(
        g.layers * (g.dense_elems_dev * dep.weight_bytes_per_elem
                    + on_device * g.expert_elems_dev * dep.expert_bytes_per_elem)
        for g in dep.groups
    ) / lay.pp
    return layer_bytes + end_bytes_per_device(dep) - dep.offload_weight_bytes  # --offload auto: in host DRAM


def end_table_bytes(dep: Deployment) -> tuple[float, float]:
    """(embedding table, LM head) bytes of the whole model (a tied head: no bytes of its own)."""
    m = dep.model
    return (m.embedding_params * dep.head_bytes_per_elem,
            0.0 if m.tie_word_embeddings else m.lm_head_params * dep.head_bytes_per_elem)


def end_bytes_per_device(dep: Deployment) -> float:
    """The embedding table and LM head bytes on the most loaded device (both on one device
    without a pipeline, the larger on an end stage with one; spread over every chip of an
    SRAM machine)."""
    lay = dep.layout
    emb, head = (x / lay.tp for x in end_table_bytes(dep))
    if dep.hw.sram_only:  # vocabulary-parallel over every chip of the replica (module docstring)
        return (emb + head) / lay.pp
    return emb + head if lay.pp == 1 else max(emb, head)


def kv_bytes_per_sequence_device(dep: Deployment, ctx_tokens: float) -> float:
    """KV cache + recurrent state of one sequence of `ctx_tokens` tokens on one device (less
    the host layers' share under llama.cpp -ngl: their KV lives in host DRAM)."""
    lay = dep.layout
    total = 0.0
    for g in dep.groups:
        cached = min(ctx_tokens, g.window_tokens)
        total += g.layers * (g.kv_elems_dev * dep.kv_bytes_per_elem * cached
                             + g.state_elems_dev * dep.act_bytes)
    on_device = 1.0 - dep.host_layers.share if dep.host_layers is not None else 1.0
    return total / lay.pp * on_device


def activation_bytes_per_device(dep: Deployment, prefill_tokens: float, seqs: float) -> float:
    """Peak transient activations of the largest step: the prefill chunk's hidden states and FFN
    intermediates (~4*d + 3*ffn_width per token, fused kernels) plus fp32 logits per sequence."""
    m, lay = dep.model, dep.layout
    chunk = min(prefill_tokens, dep.step_token_budget) / lay.attn_dp
    widths = []
    for g in m.groups:
        f = g.ffn
        w = f.intermediate_size * (f.top_k if f.kind == "moe" else 1) + f.shared_intermediate_size
        widths.append(w / lay.tp)
    per_token = (4 * m.hidden_size + 3 * max(widths)) * dep.act_bytes
    logits = seqs / lay.attn_dp * m.vocab_size / lay.tp * LOGIT_BYTES
    return chunk * per_token + logits


def capacity_bytes(dep: Deployment) -> float:
    hw = dep.hw
    if hw.sram_only and hw.sram_bytes:
        return hw.sram_bytes
    return hw.memory_bytes or 0.0


def weight_room_bytes(dep: Deployment) -> float:
    """Bytes per device the weights may take: the engine's share of the device where that share
    is of the whole device (vLLM ``gpu_memory_utilization``, SGLang ``mem_fraction_static``),
    the whole device where the share applies to what the loaded model leaves free (TensorRT-LLM
    ``free_gpu_memory_fraction``)."""
    cap = capacity_bytes(dep)
    if dep.engine.memory_share_of == "free":
        return cap
    return cap * dep.engine.memory_utilization


def kv_room_bytes(dep: Deployment, activation_bytes: float) -> float:
    """Bytes per device left for the KV cache once weights and `activation_bytes` are resident.

    share of the device u (vLLM, SGLang): ``u * capacity - weights - activations``;
    share of the free memory u (TensorRT-LLM sizes its pool after loading the weights and its
    runtime buffers): ``u * (capacity - weights - activations)``. Negative when nothing is left.
    """
    cap, u = capacity_bytes(dep), dep.engine.memory_utilization
    rest = weight_bytes_per_device(dep) + activation_bytes
    if dep.engine.memory_share_of == "free":
        return u * (cap - rest)
    return cap * u - rest


def memory_breakdown(dep: Deployment, seqs_per_replica: float, ctx_tokens: float,
                     prefill_tokens: float) -> MemoryBreakdown:
    cap = capacity_bytes(dep)
    seqs_dev = seqs_per_replica / dep.layout.attn_dp
    weights = weight_bytes_per_device(dep)
    act = activation_bytes_per_device(dep, prefill_tokens, seqs_per_replica)
    return MemoryBreakdown(
        weights_bytes=weights,
        kv_cache_bytes=seqs_dev * kv_bytes_per_sequence_device(dep, ctx_tokens),
        activation_bytes=act,
        reserved_bytes=cap - weights - act - kv_room_bytes(dep, act),
        capacity_bytes=cap,
    )


def max_sequences(dep: Deployment, ctx_tokens: float, prefill_tokens_per_seq: float) -> int:
    """Largest number of sequences of `ctx_tokens` a replica can hold (0 if weights alone overflow)."""
    lay = dep.layout
    logits = dep.model.vocab_size / lay.tp * LOGIT_BYTES  # one fp32 logits row per sequence
    per_seq = kv_bytes_per_sequence_device(dep, ctx_tokens) + logits
    if kv_room_bytes(dep, 0.0) <= 0:
        return 0
    if per_seq <= 0:
        return dep.max_running_seqs
    # Activations grow with the batch only through logits and the prefill chunk, which holds
    # min(chunk, n x prompt) tokens: bound n with one prompt's activations, then recount with
    # the chunk that many prompts fill (consistent with memory_breakdown for n sequences).
    chunk = dep.step_token_budget
    one = max(prefill_tokens_per_seq, 1.0)

    def count(prefill_tokens: float) -> int:
        act = activation_bytes_per_device(dep, min(chunk, prefill_tokens), 0)
        return max(0, math.floor(kv_room_bytes(dep, act) / per_seq * lay.attn_dp))

    upper = count(one)
    n = count(upper * one)
    return n if n >= 1 else min(upper, 1)
