"""Link time of one step: tensor-, expert- and pipeline-parallel messages (bytes and latency).

Small collectives pay message latencies (recursive doubling on switched fabrics, a ring's steps
over PCIe peers and Neuron rings); large ones pay bytes over the link's bandwidth. Seconds at
peak link bandwidth and catalog latencies: the step's factors (``comm_eff``, ``link_latency``)
apply in :meth:`inferplan.perf.step.StepWork.time_s`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from inferplan.catalog.schema import Link, RowSplit
from inferplan.perf.deployment import Deployment

ALLREDUCES_PER_LAYER = 2  # after attention and after the FFN (Megatron-style TP)


def collective_steps(link: Link, n: int, kind: str) -> int:
    """Link latencies one small collective over `n` ranks pays (messages in sequence).

    Switched fabrics (NVSwitch, xGMI meshes, ICI): recursive doubling, ceil(log2 n) (Thakur,
    Rabenseifner & Gropp 2005). Ring links (PCIe peers, AWS Neuron's Ring and KangaRing;
    ``Link.ring_collectives``): NCCL's and Neuron's ring all-reduce take 2(n-1) steps
    (reduce-scatter + all-gather, Patarasuk & Yuan 2009) and an all-to-all n-1 sends in turn.
    """
    if n <= 1:
        return 0
    if not link.ring_collectives:
        return math.ceil(math.log2(n))
    return 2 * (n - 1) if kind == "all_reduce" else n - 1


def collective_latency_s(link: Link, n: int, kind: str) -> float:
    """Seconds of message latency of one small collective over `n` ranks.

    Switched fabrics: :func:`collective_steps` messages of ``latency_s`` each. Ring links: one
    message's ``latency_s`` (launch, protocol, first hop) and ``hop_latency_s`` for each further
    step of the ring, NCCL's cost model (nccl src/graph/tuning.cc: a base latency plus
    ``nsteps * hwLat``, hwLat 1.0 us per PCIe step of a ring all-reduce under the LL protocol,
    small messages); a link without ``hop_latency_s`` pays a full message per step (Neuron's
    rings, whose catalog latency is the per-hop figure AWS documents).
    """
    steps = collective_steps(link, n, kind)
    if steps == 0:
        return 0.0
    if not link.ring_collectives or link.hop_latency_s is None:
        return steps * link.latency_s
    return link.latency_s + (steps - 1) * link.hop_latency_s


def row_split_latency_s(split: RowSplit, layers: int, tp: int, link: Link) -> float:
    """Seconds per step that a row-split TP spends gathering every mat-mul on the main device.

    Per split mat-mul the host issues ``launches_per_device`` runtime calls on each of the `tp`
    devices in turn (``launch_s`` each) and the tp-1 output slices cross the link to the main
    device (one link latency each): tp * launches * launch_s + (tp - 1) * latency, for
    ``matmuls_per_layer`` mat-muls in each of `layers` layers. Unlike a collective's
    ceil(log2 tp) latencies this grows linearly with tp (llama.cpp --split-mode row).
    """
    per_matmul_s = tp * split.launches_per_device * split.launch_s + (tp - 1) * link.latency_s
    return layers * split.matmuls_per_layer * per_matmul_s


def communication_s(dep: Deployment, tokens_dev: np.ndarray, zero: np.ndarray) -> tuple[Any, Any]:
    """Link seconds (at peak link bandwidth) and message latency of one step.

    TP: two all-reduces per layer of tokens*d activations. Bandwidth term of a ring: each device
    sends and receives 2*(tp-1)/tp of the buffer (Patarasuk & Yuan 2009); latency term of
    recursive doubling, the small-message algorithm decode steps use: ceil(log2 tp) link
    latencies (Thakur, Rabenseifner & Gropp 2005); over ring links, 2(n-1) steps for the n ranks
    of ``Deployment.collective_ranks`` (a ring passes every rank, not only every device), priced
    by :func:`collective_latency_s`. EP
    with attention data-parallel (ep > tp): all-to-all dispatch and combine of tokens*top_k*d
    activations, (ep-1)/ep of them leaving the device. EP inside a tensor-parallel stage
    (ep <= tp) sends nothing more: the attention's all-reduce leaves every token on every
    device, each device runs its own experts on all of them and the MoE output's all-reduce (one
    of the two per layer) sums the experts' shares, as for tensor-parallel experts (vLLM without
    data parallelism, TensorRT-LLM and SGLang without attention-DP use no all-to-all kernels).
    PP: one activation send per stage boundary. Engines whose TP is a row split (``layout.row_split``) pay
    :func:`row_split_latency_s` instead of the collectives' latency.
    """
    lay, m = dep.layout, dep.model
    act = tokens_dev * m.hidden_size * dep.act_bytes  # bytes of one activation tensor
    link_s = zero.copy()
    lat_s = zero.copy()
    if lay.tp > 1:
        link = dep.tp_link
        per_ar = 2 * (lay.tp - 1) / lay.tp * act / link.bw_bytes_s
        n_ar = ALLREDUCES_PER_LAYER * m.num_layers
        link_s = link_s + n_ar * per_ar
        split = dep.engine.layout.row_split
        if split is None:
            # a ring passes through every member rank (Deployment.collective_ranks: one per
            # NeuronCore on Neuron); recursive doubling's log2 steps are counted between devices
            ranks = dep.collective_ranks if link.ring_collectives else lay.tp
            lat_s = lat_s + n_ar * collective_latency_s(link, ranks, "all_reduce")
        else:
            lat_s = lat_s + row_split_latency_s(split, m.num_layers, lay.tp, link)
    if lay.attn_dp > 1:  # ep > tp: tokens live on their attention rank, experts elsewhere
        link = dep.tp_link
        moe_layers = sum(g.layers for g in dep.groups if g.expert_elems_dev)
        k = max((g.top_k for g in dep.groups), default=1)
        a2a = act * k * (lay.ep - 1) / lay.ep / link.bw_bytes_s
        link_s = link_s + 2 * moe_layers * a2a  # dispatch + combine
        lat_s = lat_s + 2 * moe_layers * collective_latency_s(link, lay.ep, "all_to_all")
    if lay.pp > 1:
        link = dep.pp_link
        link_s = link_s + (lay.pp - 1) * act / link.bw_bytes_s
        lat_s = lat_s + (lay.pp - 1) * link.latency_s
    return link_s, lat_s
