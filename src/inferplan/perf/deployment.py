"""A deployment: model x hardware x engine x precisions x layout, with per-device constants.

Everything here is fixed for a deployment and independent of the batch and of efficiency
factors: element counts per device, bytes per element, peak rates the operators run at, and
the links collectives use. :mod:`inferplan.perf.step` turns these into step times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from inferplan.catalog.schema import EngineSpec, HardwareSpec, Link, Precision
from inferplan.errors import InputError
from inferplan.models.spec import Mixer, ModelSpec
from inferplan.perf.layout import Layout, padded_heads_per_device
from inferplan.perf.sram import sram_stream_bw_bytes_s

if TYPE_CHECKING:  # perf.offload builds deployments: a type only here, no import cycle
    from inferplan.perf.hostlayers import HostLayers
    from inferplan.perf.offload import ExpertHost

# Bandwidth one CPU core can pull from DRAM (limited by its outstanding cache misses):
# ~100 GB/s for an Apple P-core (AnandTech, M1 Max review, 2021), ~30 GB/s for x86 and other
# Arm cores (chipsandcheese single-core DRAM bandwidth, Zen 4 / Golden Cove, 2023).
SINGLE_CORE_BW_BYTES_S = {"Apple": 100e9, "default": 30e9}

# A stand-in link for devices without a scale-up or scale-out entry: PCIe Gen4 x16 through host.
FALLBACK_LINK = Link(name="PCIe Gen4 x16 via host (assumed)", bw_bytes_s=25e9, latency_s=15e-6,
                     source="PCIe 4.0 x16: 32 GB/s raw per direction, ~25 GB/s achieved")


# Intel Gaudi's MoE paths (architecture -> (max tokens of a step, min local experts)). HabanaAI's
# vLLM fork runs a *static* MoE, one matmul over all local experts' stacked weights for every
# token, masked by the routing weights (vllm-hpu-extension ops.py, VllmMixtureOfExpertsOp: the
# path taken when the step has <= VLLM_DYNAMIC_MOE_MIN_TOKENS tokens), unless a card holds fewer
# than VLLM_DYNAMIC_MOE_MIN_EXPERTS_SINGLEHPU experts; defaults 256 and 32, "since [dynamic MoE's]
# performance is better than static MoE in this case" (HabanaAI/vllm-fork README of the qwen3
# branch, section "Others"). Static shapes are what HPU graphs compile; the rule is applied to
# every engine on Gaudi (vllm-gaudi, optimum-habana, TGI), whose fused op is closed.
STATIC_MOE: dict[str, tuple[int, int]] = {"intel-gaudi2": (256, 32), "intel-gaudi3": (256, 32)}


@dataclass(frozen=True)
class GroupConsts:
    """Per-layer element counts on one device, for one layer group."""

    name: str
    layers: int  # layers of this group in the replica
    mixer_kind: str
    dense_elems_dev: float  # attention/conv projections + dense FFN + shared experts + router
    expert_elems_dev: float  # routed expert weights held by one device
    active_expert_elems: float  # top_k * one expert's weights (per token, whole replica)
    num_experts: int
    top_k: int
    kv_elems_dev: float  # cached elements per token on one device
    state_elems_dev: float  # constant recurrent state elements per sequence on one device
    attn_flops_pair_dev: float  # FLOPs per (query, key) pair on one device, decode path
    attn_prefill_flops_pair_dev: float  # same for prompt tokens (MLA: non-absorbed form)
    conv_flops_dev: float  # short-conv FLOPs per token on one device
    window_tokens: float  # inf for full attention
    expert_width_dev: float = 0.0  # columns of one routed expert's FFN slice on one device


def _padded_attention(m: Mixer, tp: int, ranks: int, dense: float) -> tuple[float, float, float]:
    """(padded / real query heads, padded / real KV heads, a layer's dense elements with the
    padding) when an engine pads heads to a multiple of its TP ranks (EngineSpec
    .pads_attention_heads; ``ranks`` per device, HardwareSpec.tp_ranks): each device holds
    ``padded_heads_per_device`` query and KV heads, the Q (+ gate) and O projections grow with the
    query heads and K/V with the KV heads. Zero-weight heads are streamed and multiplied like real
    ones, so they cost bytes and FLOPs. Elements."""
    q_per_head = m.hidden_size * m.head_dim * ((2 if m.q_gate else 1) + 1)  # Q (+ gate) and O
    kv_per_head = 2 * m.hidden_size * m.head_dim
    pad = padded_heads_per_device(m.num_q_heads, tp, ranks) * tp / m.num_q_heads
    kv_pad = padded_heads_per_device(m.num_kv_heads, tp, ranks) * tp / m.num_kv_heads
    extra = (pad - 1) * m.num_q_heads * q_per_head + (kv_pad - 1) * m.num_kv_heads * kv_per_head
    return pad, kv_pad, dense + extra


@dataclass(frozen=True)
class Deployment:
    model: ModelSpec
    hw: HardwareSpec
    engine: EngineSpec
    layout: Layout
    weight_precision: Precision
    expert_precision: Precision
    kv_precision: Precision
    act_precision: str  # compute float type of activations: bf16, fp16 or fp32
    threads: int | None = None  # CPU threads the engine uses (None: all cores)
    # Host-memory offload tier: weight bytes per device kept in host DRAM and streamed over the
    # host link every step, and the share of each sequence's KV cache kept in host DRAM.
    offload_weight_bytes: float = 0.0
    offload_kv_fraction: float = 0.0
    # Hybrid MoE (--offload experts): routed experts in host DRAM, computed by this host CPU
    # (perf/offload.py); None: experts on the accelerator.
    expert_host: ExpertHost | None = None
    # llama.cpp's partial offload (-ngl): a share of the layers in host DRAM, computed by this
    # host CPU (perf/hostlayers.py); None: every layer on the devices.
    host_layers: HostLayers | None = None

    @property
    def host_link(self) -> Link:
        return self.hw.host_link or FALLBACK_LINK

    @property
    def experts_on_device(self) -> float:
        """Share of the MoE layers whose routed experts the devices hold (--offload experts: the
        rest, llama.cpp --n-cpu-moe N's first N layers, are the host CPU's)."""
        return 1.0 - self.expert_host.share if self.expert_host is not None else 1.0

    @property
    def max_running_seqs(self) -> int:
        """The engine's cap on running sequences for one replica: ``max_num_seqs`` per
        attention-DP rank. With attention-DP each rank runs its own scheduler and batch:
        TensorRT-LLM's ``max_batch_size`` and vLLM's ``max_num_seqs`` are per rank (TRT-LLM's
        DeepSeek-R1 recipes run concurrency 7,168 on 8 B200 at max_batch_size 896), and SGLang's
        per-worker request limit comes from each worker's KV pool when max_running_requests is
        unset (an explicit value is divided by dp_size)."""
        return self.engine.max_num_seqs * self.layout.attn_dp

    @property
    def step_token_budget(self) -> int:
        """Tokens one step of a replica may carry (decode tokens + prompt chunk): the engine's
        budget, per attention-DP rank where its ranks schedule on their own (TensorRT-LLM
        ``max_num_tokens``, vLLM ``max_num_batched_tokens`` per DP engine); SGLang divides
        ``chunked_prefill_size`` among its DP-attention ranks (server_args: chunked_prefill_size
        // dp_size), so there the budget is the replica's."""
        per_rank = self.engine.layout.attention_dp_budget == "per_rank"
        return self.engine.prefill_chunk_tokens * (self.layout.attn_dp if per_rank else 1)

    @property
    def lut_ops_per_weight(self) -> float | None:
        """8-bit lane operations per weight of a table-lookup mat-vec (T-MAC; Wei et al. 2024,
        arXiv:2407.00088), or None for multiply-accumulate kernels. A b-bit weight is b one-bit
        planes; each plane of a group of g weights indexes a 2^g-entry table of the group's
        activation sums (built once per token, shared by every output row): one lookup and one
        add per plane and group, 2b/g operations per weight with no unpacking. Formats that state
        their code bits b (precisions.yaml ``code_bits``) are looked up, at most 4 bits."""
        g, b = self.engine.lut_group_weights, self.weight_precision.code_bits
        if not g or not b or b > 4:
            return None
        return 2 * b / g

    @cached_property
    def lut_peak_ops(self) -> float:
        """Rate of a lookup kernel's 8-bit lanes, counted like a MAC peak (2 ops per lane per
        cycle, so lut_ops_per_weight x 2 ops per weight): the int8 SIMD peak."""
        return self._peak(["int8_simd", "int8", "fp16", "fp32"])

    @property
    def core_share(self) -> float:
        """Share of the CPU's peaks that `threads` threads reach (1 for accelerators or when
        threads is unset). Hybrid CPUs: threads fill the performance cores first, each giving
        ``performance_peak_share / performance_cores`` of the peak, then the other cores share
        the rest (an M2 Max's peaks count its 8 P-cores only: 8 threads reach all of them). An
        engine that splits each op's rows evenly over its threads (``cpu_static_split``) waits
        for the slowest: past the P-cores every thread counts at an efficiency core's share,
        ``t (1 - performance_peak_share) / (cores - performance_cores)`` (a 13900K's 16 threads
        reach 0.44 of its peak, not 0.78: less than its 8 P-cores alone)."""
        hw = self.hw
        if hw.hw_class != "cpu" or not self.threads or not hw.cores:
            return 1.0
        t = min(self.threads, hw.cores)
        p, ps = hw.performance_cores, hw.performance_peak_share
        if p is None or ps is None or p >= hw.cores:
            return t / hw.cores
        if t <= p:
            return t / p * ps
        if self.engine.cpu_static_split:
            return t * (1 - ps) / (hw.cores - p)
        return min(1.0, ps + (t - p) / (hw.cores - p) * (1 - ps))

    # ---- bytes per element -------------------------------------------------------------
    @property
    def weight_bytes_per_elem(self) -> float:
        return self.weight_precision.bytes_per_element

    @property
    def expert_bytes_per_elem(self) -> float:
        return self.expert_precision.bytes_per_element

    @property
    def head_bytes_per_elem(self) -> float:
        return self.weight_precision.head_bytes_per_element

    @property
    def kv_bytes_per_elem(self) -> float:
        return self.kv_precision.bytes_per_element

    @property
    def act_bytes(self) -> float:
        return 4.0 if self.act_precision == "fp32" else 2.0

    def static_moe(self, tokens: np.ndarray, prompt_tokens: np.ndarray, num_experts: int,
                   top_k: int) -> np.ndarray:
        """Whether a step of `tokens` (`prompt_tokens` of them prompt tokens) runs its MoE layers
        on the static, dense path: every local expert computes every token, all expert weights
        read (E/k times the routed FLOPs). Gaudi: small steps (:meth:`static_moe_tokens`). AWS
        Neuron's NxD ``ExpertMLPs`` without a capacity factor (``EngineSpec.moe_all_experts``):
        context encoding runs ``forward_all_experts``, and token generation does too once
        ``tokens * top_k / experts >= 1`` (its SELECTIVE_LOADING_THRESHOLD), below which it
        loads only the chosen experts (aws-neuron/neuronx-distributed
        modules/moe/expert_mlps.py@083d3ea, ``ExpertMLPs.forward``)."""
        live = tokens > 0
        if self.engine.moe_all_experts:
            return live & ((prompt_tokens > 0) | (tokens * top_k >= num_experts))
        out: np.ndarray = live & (tokens <= self.static_moe_tokens(num_experts))
        return out

    def static_moe_tokens(self, num_experts: int) -> int:
        """Largest step (tokens) whose MoE layers of `num_experts` routed experts run the static,
        dense path on this device (0: never): every local expert computes every token, so each
        step reads all of its expert weights (:data:`STATIC_MOE`)."""
        rule = STATIC_MOE.get(self.hw.architecture or "")
        local = -(-num_experts // max(1, self.layout.ep))  # TP slices every expert; EP splits them (ceil)
        return rule[0] if rule and local >= rule[1] else 0

    # ---- peak rates ----------------------------------------------------------------------
    @cached_property
    def linear_compute_type(self) -> str:
        return self.hw.peak_for(list(self.weight_precision.compute))[0]

    @cached_property
    def expert_compute_type(self) -> str:
        return self.hw.peak_for(list(self.expert_precision.compute))[0]

    @cached_property
    def peak_linear_flops(self) -> float:
        return self._gemm_peak(list(self.weight_precision.compute))

    @cached_property
    def peak_expert_flops(self) -> float:
        return self._gemm_peak(list(self.expert_precision.compute))

    def _gemm_peak(self, prefs: list[str]) -> float:
        """A weight GEMM's peak: an engine that accumulates fp16 GEMMs in fp16 on NVIDIA
        (llama.cpp's cuBLAS path) runs them at the device's fp16-accumulate rate, twice the
        fp32-accumulate one on GeForce cards (``HardwareSpec.fp16_acc16_flops``)."""
        hw = self.hw
        if (self.engine.fp16_accumulate and hw.vendor == "NVIDIA" and hw.fp16_acc16_flops
                and hw.peak_for(prefs)[0] == "fp16"):
            return hw.fp16_acc16_flops * self.core_share
        return self._peak(prefs)

    @cached_property
    def peak_attention_flops(self) -> float:
        return self._peak([self.act_precision, "bf16", "fp16", "fp32"])

    def _peak(self, prefs: list[str]) -> float:
        t, v = self.hw.peak_for(prefs)
        if not math.isfinite(v):
            raise InputError(f"{self.hw.id} has no peak FLOP/s in the catalog; add peak_flops "
                             f"with --hardware-file to estimate on it")
        return v * self.core_share

    @property
    def vector_ops_s(self) -> float:
        """Vector/SIMD rate used to unpack quantized weights.

        CPUs unpack in 8-bit SIMD lanes (4x the fp32 lane count), so their int8 rate is used;
        GPUs unpack in 32-bit registers at their fp32 (CUDA-core) rate; bf16 peak / 16 if unknown.
        """
        if self.hw.hw_class == "cpu" and "int8" in self.hw.peak_flops:
            return self.hw.peak_flops["int8"] * self.core_share
        return self.simd_flops_s

    @property
    def simd_flops_s(self) -> float:
        """Floating-point rate of the vector units (CUDA cores, SIMD lanes) in FLOP/s: the rate a
        GEMM of a few rows reaches as a mat-vec without the matrix units."""
        if self.hw.vector_flops:
            return self.hw.vector_flops * self.core_share
        if "fp32" in self.hw.peak_flops:
            return self.hw.peak_flops["fp32"] * self.core_share
        return self.peak_attention_flops / 16

    @property
    def memory_bw_bytes_s(self) -> float:
        """Peak bandwidth reachable: the device's, or what `threads` CPU cores can pull."""
        bw = self.hw.usable_bw_bytes_s
        if self.hw.sram_only:  # a layer is read by the cores that hold it (perf/wafer.py)
            return sram_stream_bw_bytes_s(self, bw)
        if self.core_share < 1.0 and self.threads:
            per_core = SINGLE_CORE_BW_BYTES_S.get(self.hw.vendor, SINGLE_CORE_BW_BYTES_S["default"])
            bw = min(bw, self.threads * per_core)
        return bw

    # ---- links -----------------------------------------------------------------------------
    @property
    def tp_link(self) -> Link:
        """Link for TP/EP collectives: the narrowest of scale-up, the server's peer link (PCIe
        past an NVLink-bridged pair) and scale-out whose domain holds the stage."""
        return self._link_for(self.layout.stage_devices)

    @property
    def ranks_per_device(self) -> int:
        """TP ranks one device runs as: ``HardwareSpec.tp_ranks`` under an engine that shards
        per core and pads heads (``pads_attention_heads``: AWS Neuron), else 1."""
        return self.hw.tp_ranks if self.engine.pads_attention_heads else 1

    @property
    def collective_ranks(self) -> int:
        """Ranks one TP collective spans: ``tp`` devices times :attr:`ranks_per_device` (one
        rank per core under an engine that pads heads: AWS Neuron, 24 ranks on
        12 Inferentia2 chips), or only the ranks that join the ring (``Link.ring_ranks_per_device``:
        Trainium2's KangaRing, 2 of 4). A ring all-reduce steps through every member, so over
        ring links the count sets its latency (:func:`inferplan.perf.collectives.collective_latency_s`)."""
        ranks, members = self.ranks_per_device, self.tp_link.ring_ranks_per_device
        return self.layout.tp * (min(ranks, members) if members else ranks)

    @property
    def pp_link(self) -> Link:
        return self._link_for(self.layout.replica_devices)

    def _link_for(self, devices: int) -> Link:
        up, node = self.hw.scale_up, self.hw.node_link
        if up and devices <= up.domain_devices:
            return up
        if node and devices <= node.domain_devices:
            return node
        return self.hw.scale_out or up or FALLBACK_LINK

    # ---- per-device element counts -------------------------------------------------------
    @cached_property
    def groups(self) -> tuple[GroupConsts, ...]:
        lay = self.layout
        out = []
        for i, g in enumerate(self.model.groups):
            m, f = g.mixer, g.ffn
            norms = g.norms_per_layer * m.hidden_size
            dense: float = m.params + norms + (f.params if f.kind == "dense" else f.shared_params)
            pad = 1.0  # padded / real query heads (engines that pad heads per TP rank)
            if m.kind == "attention":
                kv_dev = m.kv_elems_per_token / min(lay.tp, m.num_kv_heads)
                if self.engine.pads_attention_heads:
                    pad, kv_pad, dense = _padded_attention(m, lay.tp, self.ranks_per_device, dense)
                    kv_dev = m.kv_elems_per_token * kv_pad / lay.tp
            else:  # MLA's latent is replicated on every TP rank; conv has no KV
                kv_dev = m.kv_elems_per_token
            # routed experts on the most loaded device: ceil(E / shards) when expert parallelism
            # places whole experts and the shards do not divide them (EP48 over 256: 6 on some
            # devices, 5 on others); tensor parallelism alone splits every expert evenly
            # (ep < tp: each of the ep groups holds ceil(E / ep) experts, each split over its
            # tp / ep devices)
            placed = -(-f.num_experts // lay.ep) * lay.ep if lay.ep > 1 else f.num_experts
            experts = placed * f.expert_params if f.kind == "moe" else 0
            name = f"g{i}" if len(self.model.groups) > 1 else "layer"
            out.append(GroupConsts(
                name=name,
                layers=g.count,
                mixer_kind=m.kind,
                dense_elems_dev=dense / lay.tp,
                expert_elems_dev=experts / lay.expert_shards,
                # TP without EP splits every expert's FFN across the stage's devices (vLLM/SGLang
                # fused MoE); with EP each device holds whole experts
                expert_width_dev=(f.intermediate_size / max(1, lay.stage_devices // lay.ep)
                                  if f.kind == "moe" else 0.0),
                active_expert_elems=f.top_k * f.expert_params if f.kind == "moe" else 0,
                num_experts=max(f.num_experts, 1),
                top_k=f.top_k,
                kv_elems_dev=kv_dev,
                state_elems_dev=m.state_elems_per_seq / lay.tp,
                attn_flops_pair_dev=m.attn_flops_per_token_per_ctx * pad / lay.tp,
                attn_prefill_flops_pair_dev=m.attn_prefill_flops_per_token_per_ctx * pad / lay.tp,
                conv_flops_dev=m.conv_flops_per_token / lay.tp,
                window_tokens=float(m.window_tokens) if m.window_tokens else math.inf,
            ))
        return tuple(out)

    @property
    def head_elems_dev(self) -> float:
        return self.model.lm_head_params / self.layout.tp
