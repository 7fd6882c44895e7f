"""The one cost function: time of one engine step for a given batch composition.

A step processes ``decode_seqs`` sequences generating one token each (each with ``decode_ctx``
tokens already cached) plus ``prefill_tokens`` prompt tokens belonging to ``prefill_seqs``
sequences (chunked prefill mixes both, as vLLM and TensorRT-LLM do). Inputs may be numpy
arrays (broadcast together): the same code evaluates one step or a whole sweep of batch sizes.

The cost is built in two stages so that calibration stays cheap:

1. :func:`step_work` turns the composition into *work at peak*: for each operator the seconds it
   would take at the device's peak FLOP/s (``t_compute``), peak memory bandwidth (``t_memory``)
   and peak vector rate for unpacking quantized weights (``t_unpack_*``), plus link seconds and
   counts of fixed overheads. Pure physics, no efficiency factors.
2. :meth:`StepWork.time_s` applies the named efficiency factors (:class:`Factors`): each operator
   takes the larger of ``(t_compute + dq * t_unpack) / compute_eff`` and ``t_memory / bw_eff``
   (a roofline per operator, smoothed near the ridge: see ROOFLINE_P), operators run back to
   back, then communication and overheads are added.

All times are per device of a stage; a step traverses all layers of the replica (pipeline
stages in sequence), which is the latency one token sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inferplan.catalog.schema import HardwareSpec
from inferplan.perf.collectives import communication_s
from inferplan.perf.compiled import bucketed_tokens, compiled_step_shape
from inferplan.perf.deployment import Deployment
from inferplan.perf.hosttier import device_share, host_tier_s

ArrayLike = float | np.ndarray  # a count or context: one value or an array of them

# Compute and memory traffic of one kernel overlap imperfectly near the ridge point. A p-norm
# of the two times is the smooth roofline used for that: p -> inf is the ideal max(); p = 4
# costs 19% when both are equal and <1% when one is twice the other. It also keeps the model
# differentiable for calibration (a hard max has flat regions that stall the fit).
ROOFLINE_P = 4.0
DEQUANT_TILE_TOKENS = 128  # tokens sharing one unpack of a weight tile in a GEMM (typical M tile)
# A CPU's tiled quantized GEMM unpacks a weight block into registers and uses it for the few token
# columns of its register tile, not for a shared-memory M tile: ggml's Arm repack GEMMs
# (ggml_gemm_q4_0_4x8_q8_0 and kin) take activations 4 rows at a time, llamafile's tinyBLAS
# (gemm4xN) reuses 4 unpacked weight rows for RN <= 4 token columns (RN = 2 with AVX2's 16
# registers, 4 with AVX-512's 32).
CPU_DEQUANT_TILE_TOKENS = 4


# Kernels one layer launches per step, counted in vLLM/SGLang decode traces (CUDA graphs replay
# the same kernels; eager mode launches each from Python). Mixer: norm, QKV GEMM, RoPE + KV
# write, attention, O GEMM = 5; MLA adds the q_a/kv_a down-projections, their norms and the two
# absorbed batched GEMMs = 9; LFM2's short conv: in_proj, conv, gating, out_proj = 4; a gated
# DeltaNet (vLLM Qwen3-Next): in_proj_qkvz, in_proj_ba, causal conv1d, gating, the recurrent (or
# chunked) delta-rule kernel, gated RMSNorm, out_proj = 7. FFN: norm,
# gate-up GEMM, activation, down GEMM = 4; a routed MoE (vLLM fused_moe / SGLang EP-MoE): norm,
# router GEMM, top-k softmax, token alignment/sort, two grouped GEMMs, activation, combine, plus
# the shared expert's GEMMs = 9. A dense GQA layer (5 + 4 = 9) is the unit of
# ``layer_overhead_s``; the per-kernel launch cost is layer_overhead_s / 9.
KERNELS_PER_MIXER = {"attention": 5, "mla": 9, "conv": 4, "gdn": 7}
KERNELS_PER_FFN = {"dense": 4, "moe": 9}
KERNELS_DENSE_LAYER = KERNELS_PER_MIXER["attention"] + KERNELS_PER_FFN["dense"]
# Kernels of MLA and routed-MoE layers that the coarse counts above leave out, counted in SGLang
# and vLLM DeepSeek-V3 decode paths (deepseek_v2.py, fused_moe): the per-token-group FP8
# activation quantization before each block-scaled GEMM (MLA: q_a/kv_a, q_b, o = 3 + the
# absorbed k/v batched GEMMs' split = 4; MoE: shared gate-up, shared down, routed = 3), and the
# small glue kernels (MLA: rope, KV-cache set, attention metadata = 3; MoE: grouped top-k with
# bias, block alignment, expert-sum reduce, shared-expert add, gating cast = 5). Together with
# the coarse counts an MLA mixer launches 16 kernels and a routed MoE FFN 17. Their per-device
# work is tiny (an expert's 2048-wide FFN is 256 wide per GPU under TP8), so they run at a
# minimum duration (launch gap + ramp + tail) that the roofline does not price: every kernel
# of these layers pays ``small_kernel_s`` (a fitted factor) on top of ``layer_overhead_s``.
SMALL_KERNELS_EXTRA = {"mla": 7, "moe": 8}
LOW_PRECISION_TYPES = ("fp8", "fp4", "int4", "int8")  # tensor-core types that reach a lower share of peak
X86_VENDORS = ("Intel", "AMD")  # CPU vendors whose cores run x86 SIMD (AVX2/AVX-512)
SIMD_DOT_TYPES = ("int8_simd",)  # compute types run as SIMD dot products (catalog peak "int8_simd")
# The GEMM-size term's half point (``gemm_m_half_tokens``) is fitted per family; where a class's
# matrix units differ in size between generations, it is that of the generation the corpus
# measured, and a GEMM on another counts its rows in those units (:func:`matrix_tile_rows_scale`).
# TPUs: v6e's and TPU7x's MXUs are 256x256, v5e's and v5p's 128x128 (HardwareSpec.matrix_unit_rows).
MATRIX_UNIT_REFERENCE_ROWS = {"tpu": 256}


@dataclass(frozen=True)
class Factors:
    """Resolved efficiency factors for one deployment (dimensionless unless named _s/_tokens).

    The newer regime terms default to "off" (1.0 multipliers, zero half-points and zero
    per-sequence cost) so a Factors built from the first five fields keeps the old model.
    """

    bw_eff: float
    compute_eff: float
    layer_overhead_s: float
    step_overhead_s: float
    dequant_ops_w: float  # unpack ops per weight element, dense/attention/head weights
    dequant_ops_e: float  # unpack ops per weight element, routed experts
    comm_eff: float
    kv_bw: float = 1.0  # multiplier on bw_eff for attention over the KV cache (paged reads)
    gemm_m_half_tokens: float = 0.0  # GEMM rows at which a dense GEMM reaches half its efficiency
    moe_m_half_tokens: float = 0.0  # same for grouped expert GEMMs, in tokens per expert
    lowp_eff_w: float = 1.0  # share of the FP8/FP4 peak reached relative to bf16 (dense weights)
    lowp_eff_e: float = 1.0  # same for the routed experts' GEMMs
    seq_overhead_s: float = 0.0  # per sequence per step: sampling, detokenizing, scheduling
    small_kernel_s: float = 0.0  # minimum duration of each kernel of MLA/MoE layers (s)
    prefill_layer_overhead_s: float = 0.0  # per layer unit per step with prompt tokens (eager) (s)
    request_overhead_s: float = 0.0  # per served request, added to TTFT and e2e (API server) (s)
    moe_n_half: float = 0.0  # expert-slice width per device at which grouped GEMMs run at half speed
    attn_compute: float = 1.0  # multiplier on compute_eff for attention's QK^T and PV products
    moe_eff: float = 1.0  # share of the dense kernels' efficiency the routed-expert kernels reach
    link_latency: float = 1.0  # multiplier on the catalog's per-message link latency (collectives)


def request_overhead_s(f: Factors | None) -> float:
    """Seconds a served request spends in the API server before its first token (0 without
    factors: the calibration probes the times of the works alone)."""
    return float(getattr(f, "request_overhead_s", 0.0) or 0.0)


def cpu_untiled(dep: Deployment, precision: str) -> bool:
    """True when the engine runs a CPU prompt mat-mul in `precision` as one dot product per
    (weight row, token): no tiled kernel for it (``EngineSpec.cpu_tiled_gemm`` /
    ``cpu_untiled_formats``), so every token unpacks (and reloads) the weights again where a tiled
    GEMM unpacks a weight tile once per ``CPU_DEQUANT_TILE_TOKENS`` tokens (an accelerator's once
    per ``DEQUANT_TILE_TOKENS``). Accelerators: False."""
    if dep.hw.hw_class != "cpu":
        return False
    eng = dep.engine
    untiled = eng.cpu_untiled_formats + (
        [] if dep.hw.vendor in X86_VENDORS else eng.cpu_untiled_formats_non_x86)
    return not eng.cpu_tiled_gemm or precision in untiled


def gemm_efficiency(m_tokens: ArrayLike, m_half_tokens: ArrayLike) -> np.ndarray:
    """Share of a GEMM's large-M efficiency reached with M = ``m_tokens`` rows (dimensionless).

    A GEMM of M rows runs in tiles of ``tile_m`` rows; each tile pays a fixed cost (prologue,
    epilogue, the pipeline filling from memory) equivalent to ``m_half`` rows of work, so the time
    is ``(M + m_half) / peak`` per row-unit and the efficiency ``M / (M + m_half)``: half at
    ``M = m_half``, -> 1 for large prompts (a saturating form fitted per hardware family). Ops
    without a GEMM (attention, M = 0) get 1. With ``m_half = 0`` the term is off.
    """
    m = np.asarray(m_tokens, dtype=float)
    h = np.asarray(m_half_tokens, dtype=float)
    out: np.ndarray = np.where(m > 0, m / np.maximum(m + h, 1e-30), 1.0)
    return out


def roofline_s(compute_s: ArrayLike, memory_s: ArrayLike) -> np.ndarray:
    """Smooth roofline of one operator: p-norm of its compute and memory seconds (ROOFLINE_P)."""
    compute_s = np.asarray(compute_s, dtype=float)
    memory_s = np.asarray(memory_s, dtype=float)
    hi = np.maximum(compute_s, memory_s)
    safe = np.where(hi > 0, hi, 1.0)
    return hi * ((compute_s / safe) ** ROOFLINE_P + (memory_s / safe) ** ROOFLINE_P) ** (1 / ROOFLINE_P)


@dataclass
class StepWork:
    """Work of one step at peak rates; arrays have the broadcast shape of the composition."""

    t_compute: np.ndarray  # (n_ops, ...) seconds at peak FLOP/s
    t_memory: np.ndarray  # (n_ops, ...) seconds at peak bandwidth
    t_unpack_w: np.ndarray  # (n_ops, ...) seconds at peak vector rate per unpack op/weight
    t_unpack_e: np.ndarray
    t_link: np.ndarray  # (...) seconds of link transfer at peak link bandwidth
    t_link_latency: np.ndarray  # (...) seconds of message latency
    t_offload: np.ndarray  # (...) seconds streaming offloaded weights/KV over the host link
    layers: float  # layers traversed per step, in dense-layer kernel units (KERNELS_PER_*)
    op_names: tuple[str, ...]
    # (...) seconds of routed experts on the host CPU (--offload experts, perf/offload.py),
    # already at the host's efficiency; runs between the device's layers, so it adds
    t_host: np.ndarray | float = 0.0
    op_kinds: tuple[str, ...] = ()  # linear | experts | attention | head, one per op
    gemm_m: np.ndarray | None = None  # (n_ops, ...) GEMM rows (tokens; per expert for experts),
    # in the reference matrix unit's rows (matrix_tile_rows_scale: x2 on a TPU v5e)
    rows: np.ndarray | float = 0.0  # (...) sequences emitting a token per scheduler this step
    small_kernels: np.ndarray | float = 0.0  # (...) kernels of MLA/MoE layers in decode-only steps
    prefill_layers: np.ndarray | float = 0.0  # (...) layer units of steps that carry prompt tokens
    expert_width: np.ndarray | None = None  # (n_ops,) columns of an expert's slice per device (0: not experts)
    # (n_ops,) the op's GEMM peak over the device's vector (CUDA-core/SIMD) rate, >= 1: a GEMM
    # of a few rows runs as a mat-vec on the vector units rather than on padded matrix tiles
    gemv_ratio: np.ndarray | None = None
    # the engine prepares the next step on the host while the device runs this one
    # (EngineSpec.overlap_scheduler): host costs overlap device time instead of adding to it
    host_overlap: bool = False

    def _per_op(self, f: Factors) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-op (bandwidth efficiency, low-precision share, GEMM half-M, routed-expert share
        ``moe_eff``), shaped to broadcast against the work's arrays, and a 1-D mask of the
        attention ops (their FLOPs are the score and value products and a short-conv layer's
        convolution)."""
        kinds = self.op_kinds or tuple("linear" for _ in self.op_names)
        shape = (len(kinds),) + (1,) * (np.ndim(self.t_compute) - 1)
        be = np.array([f.bw_eff * (f.kv_bw if k == "attention" else 1.0) for k in kinds])
        # Narrow expert slices: fused-MoE kernels tile each expert's slice in N tiles of 64-128
        # columns (vLLM fused_moe BLOCK_SIZE_N, DeepGEMM grouped GEMMs); a slice a few tiles wide
        # (DeepSeek-V3's 2048-wide experts are 256 wide per GPU under TP8) computes poorly. The
        # same saturating form as the GEMM-size term, w / (w + n_half) (1 where w = 0: not
        # experts); compute only (applied to weight streaming it lost on held-out decode rows).
        widths = self.expert_width if self.expert_width is not None else np.zeros(len(kinds))
        width_eff = gemm_efficiency(widths, f.moe_n_half)
        lowp = np.array([f.lowp_eff_e * w if k == "experts" else f.lowp_eff_w
                         if k in ("linear", "head") else 1.0 for k, w in zip(kinds, width_eff, strict=True)])
        half = np.array([f.moe_m_half_tokens if k == "experts" else
                         f.gemm_m_half_tokens if k in ("linear", "head") else 0.0 for k in kinds])
        attn = np.array([k == "attention" for k in kinds])
        moe = np.array([f.moe_eff if k == "experts" else 1.0 for k in kinds])
        return (np.minimum(be, 1.0).reshape(shape), lowp.reshape(shape), half.reshape(shape),
                moe.reshape(shape), attn)

    def effective_parts(self, f: Factors) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(compute s per op, memory s per op, links + the device's fixed overheads s, offload s)
        after the factors. The last op row is the per-sequence host cost (sampling, scheduling):
        its compute seconds are ``seq_overhead_s * rows``; with the step's own host overhead
        (``step_overhead_s``, not in these parts) it is the host side of :meth:`time_s`. The
        simulator tabulates exactly these parts."""
        be, lowp, half, moe, attn = self._per_op(f)
        m = self.gemm_m if self.gemm_m is not None else 0 * self.t_compute
        eff = gemm_efficiency(m, half) * lowp
        if self.gemv_ratio is not None:  # never slower than the mat-vec path
            ratio = self.gemv_ratio.reshape((-1,) + (1,) * (np.ndim(eff) - 1))
            eff = np.maximum(eff, 1 / ratio)
        eff = np.where(attn.reshape((-1,) + (1,) * (np.ndim(eff) - 1)), f.attn_compute, eff)
        compute = (self.t_compute / eff + f.dequant_ops_w * self.t_unpack_w
                   + f.dequant_ops_e * self.t_unpack_e) / f.compute_eff
        memory = self.t_memory / be
        compute, memory = compute / moe, memory / moe  # routed experts at moe_eff (Factors.moe_eff)
        zero = 0 * compute[0]
        seq = f.seq_overhead_s * np.asarray(self.rows, dtype=float) + zero
        compute, memory = np.concatenate([compute, seq[None]]), np.concatenate([memory, zero[None]])
        extra = self.comm_s(f) + self.device_overhead_s(f) + self.t_host + zero  # host experts: tokens only
        offload = self.t_offload / f.comm_eff + zero
        return compute, memory, extra, offload

    def comm_s(self, f: Factors) -> Any:
        """Seconds of TP/EP/PP traffic per step: bytes / (bandwidth comm_eff) + latency link_latency."""
        return self.t_link / f.comm_eff + self.t_link_latency * f.link_latency

    def device_overhead_s(self, f: Factors) -> np.ndarray:
        """Seconds of fixed device costs per step: kernel launches of every layer (graph replay),
        the minimum durations of the small MLA/MoE kernels and the eager dispatch of
        prompt-carrying steps (engines replay CUDA graphs for decode batches only)."""
        out: np.ndarray = (self.layers * f.layer_overhead_s
                           + np.asarray(self.small_kernels, dtype=float) * f.small_kernel_s
                           + np.asarray(self.prefill_layers, dtype=float) * f.prefill_layer_overhead_s)
        return out

    def fixed_overhead_s(self, f: Factors) -> np.ndarray:
        """Seconds of fixed costs per step: the device's (:meth:`device_overhead_s`) and the
        step's own host overhead."""
        out: np.ndarray = self.device_overhead_s(f) + f.step_overhead_s
        return out

    def op_times_s(self, f: Factors) -> np.ndarray:
        """Seconds of each op (and the per-sequence cost as the last row) after the factors."""
        compute, memory, _, _ = self.effective_parts(f)
        return roofline_s(compute, memory)

    def time_s(self, f: Factors) -> np.ndarray:
        """Wall time of the step in seconds: device time plus the host's own (the step overhead
        and the per-sequence row), or the longer of the two under an overlap scheduler."""
        # offloaded transfers are prefetched layer by layer, overlapping the device's own work
        compute, memory, extra, offload = self.effective_parts(f)
        ops = roofline_s(compute, memory)
        host = ops[-1] + f.step_overhead_s
        device = ops[:-1].sum(axis=0) + extra
        both = np.maximum(device, host) if self.host_overlap else device + host
        out: np.ndarray = np.maximum(both, offload)
        return out

    def bound(self, f: Factors) -> np.ndarray:
        """What bounds the step: 'compute', 'memory', 'communication', 'overhead' or 'offload'."""
        compute_ops, memory_ops, _, offload = self.effective_parts(f)
        compute = compute_ops[:-1].sum(axis=0)
        memory = memory_ops.sum(axis=0)
        comm = self.comm_s(f)
        overhead = self.fixed_overhead_s(f) + compute_ops[-1]
        host = self.t_host + 0 * compute
        parts = np.stack(np.broadcast_arrays(compute, memory, comm, overhead, offload, host))
        # routed experts computed by the host CPU bound the step as an offload (the contract's name)
        names = np.array(["compute", "memory", "communication", "overhead", "offload", "offload"])
        out: np.ndarray = names[np.argmax(parts, axis=0)]
        return out

    def total_time_s(self, f: Factors) -> float:
        """Seconds of all the steps the arrays describe, run one after another (e.g. the chunks
        of a chunked prefill)."""
        return float(np.sum(self.time_s(f)))

    def total_bound(self, f: Factors) -> str:
        """What bounds a sequence of steps as a whole (parts summed over all the steps)."""
        compute_ops, memory_ops, _, offload = self.effective_parts(f)
        parts = {
            "compute": np.sum(compute_ops[:-1]),
            "memory": np.sum(memory_ops),
            "communication": np.sum(self.comm_s(f)),
            "overhead": np.sum(self.fixed_overhead_s(f) + compute_ops[-1]),  # per step, summed
            "offload": max(np.sum(offload), np.sum(self.t_host)),  # host-computed experts too
        }
        return max(parts, key=lambda k: float(parts[k]))

    def total_utilization(self, f: Factors) -> tuple[float, float]:
        """(compute, bandwidth) utilization over all the steps together, 0..1."""
        t = self.total_time_s(f)
        return float(np.sum(self.t_compute)) / t, float(np.sum(self.t_memory)) / t

    def utilization(self, f: Factors) -> tuple[np.ndarray, np.ndarray]:
        """(compute, bandwidth) utilization of the device's peaks over the step, 0..1."""
        t = self.time_s(f)
        return self.t_compute.sum(axis=0) / t, self.t_memory.sum(axis=0) / t


def layer_kernel_units(dep: Deployment) -> float:
    """Layers of the replica weighted by the kernels each launches, in dense-layer units."""
    units = 0.0
    for g in dep.groups:
        mixer = KERNELS_PER_MIXER.get(g.mixer_kind, KERNELS_PER_MIXER["attention"])
        ffn = KERNELS_PER_FFN["moe" if g.expert_elems_dev else "dense"]
        units += g.layers * (mixer + ffn) / KERNELS_DENSE_LAYER
    return units


def eager_kernel_units(dep: Deployment) -> float:
    """Layers of the replica weighted by the kernels an eager (prompt) step launches, in
    dense-layer units: ``layer_kernel_units`` plus the small MLA/MoE kernels the coarse counts
    leave out (``SMALL_KERNELS_EXTRA``). Launched one by one from Python, each costs its host-side
    dispatch whatever its size: a DeepSeek-V3 layer (16 + 17 kernels) weighs 33/9 dense layers."""
    mla, moe = _mla_moe_layers(dep)
    extra = mla * SMALL_KERNELS_EXTRA["mla"] + moe * SMALL_KERNELS_EXTRA["moe"]
    return layer_kernel_units(dep) + extra / KERNELS_DENSE_LAYER


def small_kernel_count(dep: Deployment) -> float:
    """Kernels of the replica's MLA mixers and routed-MoE FFNs launched per step (each pays
    ``small_kernel_s``); 0 for dense models."""
    mla, moe = _mla_moe_layers(dep)
    return (mla * (KERNELS_PER_MIXER["mla"] + SMALL_KERNELS_EXTRA["mla"])
            + moe * (KERNELS_PER_FFN["moe"] + SMALL_KERNELS_EXTRA["moe"]))


def _mla_moe_layers(dep: Deployment) -> tuple[float, float]:
    """Layers of the replica with an MLA mixer, and with routed experts on the device
    (host-computed experts launch no device kernels)."""
    mla = sum(g.layers for g in dep.groups if g.mixer_kind == "mla")
    moe = sum(g.layers * dep.experts_on_device for g in dep.groups if g.expert_elems_dev)
    return float(mla), float(moe)


def eager_prompt_step(dep: Deployment, prefill_tokens: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """True for steps that carry prompt tokens and run eagerly: engines replay graphs for decode
    steps only (SGLang), or for steps of up to ``graph_max_batch`` tokens (vLLM V1 piecewise
    graphs, ``graph_prompt_steps``)."""
    prompt = np.asarray(prefill_tokens) > 0
    out: np.ndarray = prompt & (np.asarray(tokens) > graphed_prompt_tokens(dep))
    return out


def graphed_prompt_tokens(dep: Deployment) -> int:
    """Largest step (in tokens) carrying prompt tokens that the engine replays as a graph: its
    ``graph_max_batch`` when it graphs prompt steps (vLLM V1 piecewise graphs), else 0."""
    eng = dep.engine
    return (eng.graph_max_batch or 0) if eng.graph_prompt_steps else 0


def causal_pairs(tokens: np.ndarray, window: float) -> np.ndarray:
    """Query-key pairs of causal self-attention over a fresh chunk of `tokens`, capped by a window.

    Full attention: t^2/2. Sliding window w: each query sees at most w keys, so
    w*t - w^2/2 once t > w.
    """
    t = np.asarray(tokens, dtype=float)
    if not np.isfinite(window):
        half: np.ndarray = t * t / 2
        return half
    out: np.ndarray = np.where(t <= window, t * t / 2, window * t - window * window / 2)
    return out


def matrix_tile_rows_scale(hw: HardwareSpec) -> float:
    """Multiplier on a GEMM's rows before the GEMM-size term: the reference array's side over
    this device's (1 where the class has no reference or the device states no size).

    A weight-stationary systolic array of side D loads a D x D weight tile in ~D cycles and
    streams M rows through it in M more, so its efficiency is ~M / (M + D) and the half point
    scales with D: v5e's 128-row MXUs reach a given share of their peak at half the rows that
    v6e's 256-row MXUs need (Jouppi et al. 2017, TPU v1's weight-stationary MXU; Cloud TPU
    system architecture). Without it a batch-1 decode on a v5e was priced with v6e's half
    point and read as compute-bound at ~2% of its peak.
    """
    ref = MATRIX_UNIT_REFERENCE_ROWS.get(hw.hw_class)
    return ref / hw.matrix_unit_rows if ref and hw.matrix_unit_rows else 1.0


def step_work(dep: Deployment, decode_seqs: ArrayLike = 0.0, decode_ctx: ArrayLike = 0.0,
              prefill_tokens: ArrayLike = 0.0, prefill_seqs: ArrayLike = 0.0,
              prefill_ctx: ArrayLike = 0.0) -> StepWork:
    """Work of one step of one replica (see module docstring). Counts are per replica.

    decode_seqs: sequences generating one token; decode_ctx: tokens each has cached (mean).
    prefill_tokens: prompt tokens processed this step, over prefill_seqs sequences that had
    prefill_ctx tokens cached before the chunk (0 for a fresh prompt).
    """
    b = np.asarray(decode_seqs, dtype=float)
    c = np.asarray(decode_ctx, dtype=float)
    p = np.asarray(prefill_tokens, dtype=float)
    s = np.asarray(prefill_seqs, dtype=float)
    c0 = np.asarray(prefill_ctx, dtype=float)
    b, c, p, s, c0 = compiled_step_shape(dep, b, c, p, s, c0)  # perf/compiled.py
    lay = dep.layout
    tokens = bucketed_tokens(dep, b + p)  # tokens through the replica's weights this step
    tokens_dev = tokens / lay.attn_dp  # tokens one device's attention/dense weights see
    zero = 0 * (tokens + c + s + c0)

    peak_lin = dep.peak_linear_flops
    peak_exp = dep.peak_expert_flops
    peak_attn = dep.peak_attention_flops
    bw = dep.memory_bw_bytes_s
    vec = dep.vector_ops_s
    # CPU prompt mat-muls without a tiled kernel (cpu_untiled) run one dot product per (weight
    # row, token): every token unpacks the weights again (SIMD dot products pad no row tile, so
    # the GEMM-size term is unchanged)
    untiled_w, untiled_e = (cpu_untiled(dep, prec) for prec in (dep.weight_precision.id,
                                                                 dep.expert_precision.id))
    tile = CPU_DEQUANT_TILE_TOKENS if dep.hw.hw_class == "cpu" else DEQUANT_TILE_TOKENS
    tile_w = 1.0 if untiled_w else tile  # tokens sharing one unpack of a weight block
    tile_e = 1.0 if untiled_e else tile  # the same for a routed expert's GEMM
    unpack_tiles = np.maximum(1.0, tokens_dev / tile_w)

    tc, tm, tuw, tue, names, kinds, gm = [], [], [], [], [], [], []
    # A CPU's int8 kernels are SIMD dot products (ggml vec_dot: AVX2 maddubs, VNNI, NEON sdot):
    # its mat-vec is the same code as its GEMM, no row tile is padded, so neither the GEMM-size
    # term nor a slower mat-vec path applies (accelerators keep both: matrix units, tiles)
    cpu = dep.hw.hw_class == "cpu"
    lin_simd = cpu and dep.linear_compute_type in SIMD_DOT_TYPES
    simd_dot = {"linear": lin_simd, "head": lin_simd, "attention": False,
                "experts": cpu and dep.expert_compute_type in SIMD_DOT_TYPES}
    peaks: list[float] = []  # the GEMM peak each op runs at (FLOP/s)
    widths: list[float] = []  # columns of one expert's slice per device (expert ops)
    # table-lookup kernels: lut lane ops per weight at half the MAC-counted peak, no unpacking
    lut = dep.lut_ops_per_weight
    peak_dense = dep.lut_peak_ops if lut else peak_lin
    for g in dep.groups:
        n = g.layers  # layers of this group in the whole replica
        # Dense linear weights (attention projections, dense FFN, shared experts, router).
        tc.append(n * 2 * g.dense_elems_dev * tokens_dev * (lut or 1.0) / peak_dense)
        tm.append(n * g.dense_elems_dev * dep.weight_bytes_per_elem / bw + zero)
        tuw.append(zero if lut else n * g.dense_elems_dev * unpack_tiles / vec)
        tue.append(zero)
        names.append(f"{g.name}.linear")
        kinds.append("linear")
        widths.append(0.0)
        peaks.append(peak_dense)
        gm.append(tokens_dev + zero)
        ne = g.layers * dep.experts_on_device  # MoE layers whose experts the devices hold
        if g.expert_elems_dev and ne:
            # Routed experts: a batch of T tokens touches E*(1-(1-k/E)^T) distinct experts. A
            # static (dense) MoE path (Gaudi's small steps, Neuron's: Deployment.static_moe) runs
            # every local expert on every token: all expert weights read, E/k times the FLOPs.
            static = dep.static_moe(tokens, p, g.num_experts, g.top_k)
            touched = np.where(static, 1.0, 1 - (1 - g.top_k / g.num_experts) ** np.maximum(tokens, 1.0))
            dense_x = np.where(static, g.num_experts / g.top_k, 1.0)
            tc.append(ne * 2 * g.active_expert_elems * dense_x * tokens / lay.expert_shards / peak_exp)
            tm.append(ne * g.expert_elems_dev * touched * dep.expert_bytes_per_elem / bw + zero)
            tuw.append(zero)
            # GEMM rows of one expert: the tokens routed to it, over the experts touched (static:
            # every token); its weights are unpacked once per tile of those rows (an untiled
            # kernel: once per row)
            expert_rows = np.maximum(tokens, 1.0) * np.where(static, 1.0, g.top_k / (g.num_experts * touched))
            tue.append(ne * g.expert_elems_dev * touched / vec * np.maximum(1.0, expert_rows / tile_e))
            names.append(f"{g.name}.experts")
            kinds.append("experts")
            widths.append(g.expert_width_dev)
            peaks.append(peak_exp)
            gm.append(expert_rows + zero)
        if g.kv_elems_dev or g.state_elems_dev or g.attn_flops_pair_dev:
            w = g.window_tokens
            cached = np.minimum(c, w)
            decode_pairs = b * cached / lay.attn_dp
            prefill_pairs = (p * np.minimum(c0, w)
                             + s * causal_pairs(p / np.maximum(s, 1e-9), w)) / lay.attn_dp
            kv_read = (b * cached + s * np.minimum(c0, w)) / lay.attn_dp
            kv_bytes = g.kv_elems_dev * dep.kv_bytes_per_elem * (kv_read + tokens_dev)
            state_bytes = 2 * g.state_elems_dev * dep.act_bytes * (b + s) / lay.attn_dp
            attn_flops = (g.attn_flops_pair_dev * decode_pairs
                          + g.attn_prefill_flops_pair_dev * prefill_pairs)
            tc.append(n * (attn_flops + g.conv_flops_dev * tokens_dev) / peak_attn)
            tm.append(n * (kv_bytes + state_bytes) / bw)
            tuw.append(zero)
            tue.append(zero)
            names.append(f"{g.name}.{g.mixer_kind}")
            kinds.append("attention")
            widths.append(0.0)
            peaks.append(peak_attn)
            gm.append(zero)
    # LM head: one logits row per sequence that emits a token this step.
    rows = (b + s) / lay.attn_dp
    tc.append(2 * dep.head_elems_dev * rows / peak_lin)
    tm.append(dep.head_elems_dev * dep.head_bytes_per_elem / bw + zero)
    tuw.append(dep.head_elems_dev * np.maximum(1.0, rows / tile_w) / vec)
    tue.append(zero)
    names.append("lm_head")
    kinds.append("head")
    widths.append(0.0)
    peaks.append(peak_lin)
    gm.append(rows + zero)

    link_s, lat_s = communication_s(dep, tokens_dev, zero)
    units = layer_kernel_units(dep)
    # host tier (perf/hosttier.py): streamed weights/KV, host-computed experts or layers
    offload_s, host_s, share, head = host_tier_s(dep, tokens, b, c, p, s, c0, zero)
    work = StepWork(
        t_compute=np.stack(np.broadcast_arrays(*tc)),
        t_memory=np.stack(np.broadcast_arrays(*tm)),
        t_unpack_w=np.stack(np.broadcast_arrays(*tuw)),
        t_unpack_e=np.stack(np.broadcast_arrays(*tue)),
        t_link=link_s,
        t_link_latency=lat_s,
        t_offload=offload_s,
        layers=units,
        # small kernels run at their minimum duration in decode steps; prompt steps' kernels are big
        small_kernels=np.where(p > 0, 0.0, small_kernel_count(dep)) + zero,
        expert_width=np.array(widths),
        # a lookup mat-vec runs at its lane rate whatever the rows (no GEMM-size term), and so
        # does a CPU's SIMD dot product
        gemv_ratio=np.array([1.0 if k == "attention" or (lut and k == "linear") or simd_dot[k]
                             else max(1.0, pk / dep.simd_flops_s)
                             for k, pk in zip(kinds, peaks, strict=True)]),
        prefill_layers=np.where(eager_prompt_step(dep, p, tokens), eager_kernel_units(dep), 0.0) + zero,
        host_overlap=dep.engine.overlap_scheduler,
        op_names=tuple(names),
        op_kinds=tuple(kinds),
        gemm_m=np.stack(np.broadcast_arrays(*gm)) * matrix_tile_rows_scale(dep.hw),
        rows=rows + zero,
        t_host=host_s,
    )
    # llama.cpp -ngl: the device runs only its share of the layers (the rest on the host)
    return work if dep.host_layers is None else device_share(work, share, head)
