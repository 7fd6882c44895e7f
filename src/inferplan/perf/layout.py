"""Parallel layouts: tensor (tp), pipeline (pp), expert (ep) and data (dp) parallelism.

A *replica* is one copy of the model: ``pp`` stages, each of ``max(tp, ep)`` devices. Attention
and dense weights are split ``tp`` ways; routed experts are split over all ``max(tp, ep)`` devices
of a stage. When ``ep > tp`` the attention runs data-parallel inside the stage
(``attn_dp = ep / tp``; "attention-DP + EP", as DeepSeek and TensorRT-LLM serve MoE models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from inferplan.errors import LayoutError
from inferplan.models.spec import ModelSpec

_Seqs = TypeVar("_Seqs", int, float, np.ndarray)


def micro_batches(seqs: _Seqs, stages: int) -> _Seqs:
    """Micro-batches a step of `seqs` sequences is split into on `stages` pipeline stages:
    ``min(seqs, stages)``; the largest micro-batch (``seqs / micro_batches``, rounded up where
    sequences are whole) sets the step time. The one place this rule lives (estimate, the
    simulator, the planner's bounds and the report's curves use it). Scalar or array."""
    out: _Seqs = np.minimum(seqs, stages) if isinstance(seqs, np.ndarray) else min(seqs, stages)
    return out


@dataclass(frozen=True)
class Layout:
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int = 1

    @property
    def stage_devices(self) -> int:
        return max(self.tp, self.ep)

    @property
    def replica_devices(self) -> int:
        return self.pp * self.stage_devices

    @property
    def devices(self) -> int:
        return self.dp * self.replica_devices

    @property
    def attn_dp(self) -> int:
        return self.stage_devices // self.tp

    @property
    def expert_shards(self) -> int:
        return self.stage_devices

    def experts_per_device(self, num_experts: int) -> int:
        """Routed experts on the most loaded device: ceil(E / shards) (uneven placement)."""
        return -(-num_experts // self.expert_shards)


def padded_heads_per_device(heads: int, tp: int, ranks_per_device: int = 1) -> int:
    """Heads a device holds when an engine pads the head count up to a multiple of its TP ranks
    (neuronx-distributed ``get_number_of_extra_heads``: ranks - heads % ranks extra, zero-weight
    heads) or replicates heads when the ranks exceed them (KV heads): each of the
    ``tp x ranks_per_device`` ranks holds ceil(heads / ranks), at least 1 (AWS Neuron shards per
    NeuronCore: Llama-2-7B's 32 heads on 24 cores are 48, 4 on each 2-core Inferentia2 chip)."""
    return max(1, -(-heads // (tp * ranks_per_device))) * ranks_per_device


def check_layout(model: ModelSpec, layout: Layout, pads_heads: bool = False) -> None:
    """Raise LayoutError for layouts no engine can run, saying why and what would work.
    ``pads_heads``: the engine pads attention heads to a multiple of tp
    (EngineSpec.pads_attention_heads), so tp need not divide the heads of standard attention (MLA and linear-attention heads still
    must: the padding is not modelled for them)."""
    for name in ("tp", "pp", "ep", "dp"):
        if getattr(layout, name) < 1:
            raise LayoutError(f"{name} must be >= 1")
    mixers = [g.mixer for g in model.groups if g.mixer.kind in ("attention", "mla")]
    tp = layout.tp
    for m in (x for x in mixers if not (pads_heads and x.kind == "attention")):
        if m.num_q_heads % tp:
            ok = [d for d in range(1, m.num_q_heads + 1) if m.num_q_heads % d == 0 and d <= 64]
            raise LayoutError(
                f"tp={tp} must divide the {m.num_q_heads} attention heads of {model.id} "
                f"(valid tp: {', '.join(map(str, ok))})"
            )
        if m.kind == "attention" and m.num_kv_heads % tp and tp % m.num_kv_heads:
            raise LayoutError(
                f"tp={tp} must divide the {m.num_kv_heads} KV heads of {model.id} or be a "
                f"multiple of it (KV heads are then replicated)"
            )
    for m in (g.mixer for g in model.groups if g.mixer.kind == "gdn"):
        if m.lin_k_heads % tp or m.lin_v_heads % tp:
            raise LayoutError(f"tp={tp} must divide the {m.lin_k_heads} key and {m.lin_v_heads} value "
                              f"heads of {model.id}'s linear-attention layers")
    if layout.pp > model.num_layers:
        raise LayoutError(f"pp={layout.pp} exceeds the {model.num_layers} layers of {model.id}")
    if layout.ep > 1:
        moe = [g.ffn for g in model.groups if g.ffn.kind == "moe"]
        if not moe:
            raise LayoutError(f"ep={layout.ep} needs a mixture-of-experts model; {model.id} is dense")
        n_exp = moe[0].num_experts
        if layout.ep > n_exp:
            raise LayoutError(f"ep={layout.ep} exceeds the {n_exp} experts of {model.id}")
        # ep need not divide the experts: engines place them unevenly or replicate the hot ones
        # (EP48 / EP72 over 256 experts); each device holds ceil(experts / ep) of them.
        if layout.ep % layout.tp and layout.tp % layout.ep:
            raise LayoutError(f"ep={layout.ep} and tp={tp} must divide one another")


def valid_tps(model: ModelSpec, limit: int, pads_heads: bool = False) -> list[int]:
    """Tensor-parallel degrees (powers of two up to `limit`) that `model` admits: what vLLM,
    SGLang and TensorRT-LLM deploy (they must divide the attention heads; the KV heads are
    split or replicated). An engine that pads heads (``pads_heads``: AWS Neuron) also runs TP
    over the whole domain when it is not a power of two (an inf2.48xlarge's 12 chips)."""
    tps = [1 << k for k in range(max(1, limit).bit_length())]  # powers of two up to limit
    if pads_heads and limit not in tps:
        tps.append(limit)
    out = []
    for t in tps:
        try:
            check_layout(model, Layout(tp=t), pads_heads)
            out.append(t)
        except LayoutError:
            pass
    return out or [1]
