"""Pydantic schemas of the catalog data files (hardware, precisions, engines).

Data lives in ``catalog/data/*.yaml``; this module only says what a valid entry is and derives
quantities (ridge point, usable capacity) in one place. All numbers are SI: bytes, bytes/s,
FLOP/s, watts, seconds, USD.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

HardwareClass = Literal["gpu", "asic", "wafer", "lpu", "tpu", "cpu", "npu", "soc"]
HARDWARE_CLASSES: tuple[HardwareClass, ...] = get_args(HardwareClass)  # the one list of classes
ComputeType = Literal["fp32", "bf16", "fp16", "fp8", "int8", "fp4"]
# Kernel compute paths that are not a catalog peak but derive from one:
#   int8_simd: int8 dot products on the vector units (dp4a on NVIDIA/AMD CUDA/stream cores,
#   VNNI / sdot on CPUs): 4 int8 MACs per 32-bit lane, i.e. 4 x the fp32 rate (CPUs: their
#   catalogued int8 rate). llama.cpp's quantized GEMM kernels (MMQ) run this way.
KernelCompute = Literal["fp32", "bf16", "fp16", "fp8", "int8", "fp4", "int8_simd"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Link(_Strict):
    """A data link between devices or to host memory (bandwidth per device, one direction)."""

    name: str
    bw_bytes_s: float = Field(gt=0, description="per device, per direction")
    latency_s: float = Field(ge=0, description="one message, software + wire")
    domain_devices: int = Field(default=1, ge=1, description="devices reachable at this bandwidth")
    ring_collectives: bool = Field(
        default=False, description="collectives step around a ring: a message's latency, then "
                                   "hop_latency_s for each further step (PCIe peers: no switch "
                                   "fabric for one-shot all-reduce)")
    hop_latency_s: float | None = Field(
        default=None, ge=0, description="latency of each further step of a ring collective "
                                        "after its first message (NCCL: the per-hop term beside "
                                        "a base latency); None: latency_s, every step a message")
    ring_ranks_per_device: int | None = Field(
        default=None, ge=1, description="ranks of a device that join the ring, when fewer than "
                                        "its tp_ranks (Neuron's KangaRing: one primary of each "
                                        "pair of LNC=2 ranks); None: every rank")
    source: str = ""


class Price(_Strict):
    usd_per_hour: float | None = Field(default=None, gt=0, description="per device, on demand")
    purchase_usd: float | None = Field(default=None, gt=0, description="per device")
    source: str = ""


class HardwareSpec(_Strict):
    """One device: the unit that `devices` counts (a GPU, a chip, a wafer system, a CPU socket)."""

    id: str
    name: str
    vendor: str
    hw_class: HardwareClass
    aliases: list[str] = []
    release_year: int | None = None
    architecture: str | None = Field(
        default=None, description="chip architecture (nvidia-hopper, amd-cdna3...): kernel "
                                  "libraries are written per architecture, so some factors are too")
    memory_bytes: float | None = Field(default=None, gt=0)
    memory_type: str = ""
    memory_bw_bytes_s: float = Field(gt=0, description="peak theoretical")
    memory_bw_reachable_bytes_s: float | None = Field(
        default=None, gt=0, description="measured ceiling reachable by this device's cores, if lower"
    )
    sram_bytes: float | None = Field(default=None, gt=0)
    sram_bw_bytes_s: float | None = Field(default=None, gt=0)
    sram_only: bool = Field(default=False, description="weights and KV live in on-chip SRAM")
    peak_flops: dict[ComputeType, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        default_factory=dict, description="dense peak ops/s per arithmetic type"
    )
    peak_flops_derived: bool = Field(
        default=False, description="peaks derived (cores x ops/cycle x clock), not vendor-stated"
    )
    vector_flops: float | None = Field(
        default=None, gt=0, description="vector/SIMD ops/s used for unpacking quantized weights"
    )
    fp16_acc16_flops: float | None = Field(
        default=None, gt=0, description="dense fp16 tensor ops/s with fp16 accumulation, where the "
                                        "device runs it faster than `peak_flops.fp16` (fp32 "
                                        "accumulation): GeForce cards, 2x")
    scale_up: Link | None = None
    node_link: Link | None = Field(
        default=None, description="links to the other devices of one server beyond the scale-up "
                                  "domain (PCIe peers of NVLink-bridged pairs)")
    scale_out: Link | None = None
    host_link: Link | None = None
    host_memory_bytes: float | None = Field(default=None, gt=0)
    tdp_w: float | None = Field(default=None, gt=0)
    idle_w: float | None = Field(default=None, ge=0)
    power_scope: Literal["chip", "system"] = Field(
        default="chip", description="what tdp_w and idle_w measure: the chip or board (TDP), or the "
                                    "whole computer at the wall (Apple's published maximum, SBCs)")
    active_power_w: float | None = Field(
        default=None, gt=0, description="measured power while it runs LLM inference (NPUs: the NPU's own rail), W")
    price: Price = Price()
    default_engine: str | None = None
    cores: int | None = Field(default=None, ge=1)
    tp_ranks: int = Field(
        default=1, ge=1, description="tensor-parallel ranks one device runs as under an engine that "
                                     "shards per core (AWS Neuron: one rank per NeuronCore, logical "
                                     "cores at LNC=2 on Trainium2); heads are padded per rank")
    matrix_unit_rows: int | None = Field(
        default=None, ge=1, description="side of the matrix unit's systolic array (TPU MXUs: 128 on "
                                         "v5e/v5p, 256 on v6e and later): a GEMM of fewer rows "
                                         "pays for the whole array (perf/step.py)")
    performance_cores: int | None = Field(
        default=None, ge=1, description="hybrid CPUs: cores of the fastest type (P-cores), which "
                                        "thread pools fill first")
    performance_peak_share: float | None = Field(
        default=None, gt=0, le=1, description="share of the catalogued peaks the performance "
                                              "cores give (1 when the peaks count only them)")
    spec_source: str
    field_sources: dict[str, str] = Field(
        default_factory=dict,
        description="field -> source or stated assumption, for values not taken from spec_source",
    )
    notes: str = ""
    overridden_by: str | None = Field(
        default=None, description="the user's hardware file that overrides this catalog entry "
                                  "(set by the loader, not written in files)")

    @property
    def usable_bw_bytes_s(self) -> float:
        """Peak bandwidth the device's cores can reach (reachable ceiling where sourced)."""
        if self.memory_bw_reachable_bytes_s:
            return min(self.memory_bw_reachable_bytes_s, self.memory_bw_bytes_s)
        return self.memory_bw_bytes_s

    def peak_for(self, preferences: list[str]) -> tuple[str, float]:
        """First compute type in `preferences` the device has a peak for: (type, ops/s)."""
        for t in preferences:
            if t == "int8_simd":
                if self.hw_class == "cpu" and "int8" in self.peak_flops:
                    # int8 dot products on the vector units (VNNI / SDOT / I8MM): at most 4x the
                    # fp32 vector rate; a Xeon's int8 entry is its AMX matrix rate (32x), which
                    # ggml's SIMD kernels do not reach (its AMX path, Q4_0/Q4_1 only, made prompts
                    # ~2x faster than VNNI: llama.cpp PR #8998 review, 2024-11; not modelled)
                    simd = 4 * self.vector_flops if self.vector_flops else self.peak_flops["int8"]
                    return t, min(self.peak_flops["int8"], simd)
                if self.hw_class == "gpu" and self.vendor in ("NVIDIA", "AMD") and "fp32" in self.peak_flops:
                    return t, 4 * self.peak_flops["fp32"]
                continue
            if t in self.peak_flops:
                return t, self.peak_flops[t]  # type: ignore[index]
        if self.peak_flops:
            t = max(self.peak_flops, key=lambda k: self.peak_flops[k])  # type: ignore[index]
            return t, self.peak_flops[t]  # type: ignore[index]
        return "none", float("nan")


class Precision(_Strict):
    id: str
    description: str
    bits_per_weight: float = Field(gt=0)
    code_bits: int | None = Field(default=None, ge=1, le=8, description="bits of each weight's "
                                  "integer code, scales excluded (formats a lookup kernel takes)")
    kind: Literal["float", "int", "ternary"]
    compute: list[KernelCompute]
    dequant_ops_per_weight: float = Field(ge=0)
    unpack_like: str | None = Field(
        default=None, description="a precision whose unpack kernel this one shares (same code bits, "
                                  "another group size): its calibrated unpack cost is used when "
                                  "this id has none of its own")
    head_bits: float = Field(gt=0)
    engines: list[str] = Field(
        default_factory=list, description="the engines whose loaders read this file format "
                                          "(engine ids, any release line of them; 'engine@class': on "
                                          "that device class only); empty: any engine")
    hardware_classes: list[HardwareClass] = Field(
        default_factory=list, description="device classes whose engines have kernels for the format "
                                          "(GGUF: gpu, cpu, soc; vLLM's GGUF loader is for GPUs); empty: any")
    exclude_hardware: list[str] = Field(
        default_factory=list, description="'class@vendor' pairs inside hardware_classes whose "
                                          "backends have no kernel for it (soc@NVIDIA: CUDA, not Metal)")
    theoretical: bool = Field(default=False, description="a bound, not a format any engine loads "
                              "(ideal ternary packing): estimates with it warn")
    source: str

    @property
    def bytes_per_element(self) -> float:
        return self.bits_per_weight / 8

    @property
    def head_bytes_per_element(self) -> float:
        """Bytes per embedding / LM-head weight (kept at higher precision by most formats)."""
        return self.head_bits / 8


PipelinePolicy = Literal["across_nodes", "layer_split", "native"]
MoePlacement = Literal["tp", "ep", "attention_dp_ep"]


class RowSplit(_Strict):
    """Tensor parallelism done as a row split of each weight matrix with the partial outputs
    copied back to one main device after every mat-mul (llama.cpp ``--split-mode row``).

    The host thread drives the devices in turn: per split mat-mul and device it issues
    ``launches_per_device`` runtime calls (set device, quantize the activations, mat-vec,
    copy back) at ``launch_s`` each, so the latency of one split mat-mul grows with the
    number of devices instead of with log2 of it as a collective's does.
    """

    matmuls_per_layer: int = Field(ge=1, description="weight mat-muls split per decoder layer")
    launches_per_device: int = Field(ge=1, description="host runtime calls per device per mat-mul")
    launch_s: float = Field(gt=0, description="seconds of host time per runtime call")
    source: str = ""


class LayoutPolicy(_Strict):
    """How an engine places a model on several devices (what its docs recommend by default)."""

    tp_power_of_two: bool = Field(
        default=True, description="tensor-parallel degrees are powers of two (and divide the heads)")
    max_tp: int | None = Field(default=None, ge=1, description="largest TP the engine runs; None: "
                               "the scale-up domain")
    max_devices: int | None = Field(default=None, ge=1, description="most devices one replica may "
                                    "span (1: a single-device runtime); None: no limit but the layouts'")
    pipeline: PipelinePolicy = Field(
        default="across_nodes",
        description="across_nodes: TP inside a scale-up domain, pipeline stages only across domains "
                    "(nodes) or when asked; layer_split: each device holds a contiguous share of the "
                    "layers and runs them in turn, one micro-batch in flight (llama.cpp "
                    "--split-mode layer); native: the machine pipelines layers by design (wafers, LPUs)")
    pipeline_in_domain: bool = Field(
        default=False, description="runs pipeline stages inside one scale-up domain at a lower TP "
                                   "(vLLM >= 0.5.1, SGLang, TensorRT-LLM): the fewest devices may "
                                   "split the layers' KV cache that way where TP would replicate it")
    moe: MoePlacement = Field(
        default="tp", description="default placement of routed experts: sharded by TP, expert "
                                  "parallel, or attention data-parallel + expert parallel")
    moe_options: list[MoePlacement] = Field(
        default_factory=lambda: list[MoePlacement](["tp"]), description="MoE placements the engine supports")
    attention_dp_budget: Literal["per_rank", "replica"] = Field(
        default="per_rank", description="with attention-DP, the step token budget counts per rank "
                                        "(each rank schedules its own steps) or for the whole replica")
    row_split: RowSplit | None = Field(
        default=None, description="tensor parallelism is a row split whose partial results each "
                                  "mat-mul gathers on a main device (llama.cpp --split-mode row); "
                                  "None: collective all-reduces")
    source: str = ""


class EngineLimits(_Strict):
    """Batch and token limits of one engine on one kind of device (first matching rule wins)."""

    min_memory_bytes: float | None = Field(default=None, description="applies to devices with at "
                                           "least this much memory")
    hw_classes: list[HardwareClass] = Field(default=[], description="applies to these classes only")
    exclude_hardware: list[str] = Field(default=[], description="hardware ids it never applies to")
    max_num_seqs: int = Field(ge=1, description="sequences per step, online serving")
    max_num_batched_tokens: int = Field(ge=1, description="tokens per step, online serving")
    offline_max_num_seqs: int | None = Field(default=None, ge=1, description="offline/benchmark")
    offline_max_num_batched_tokens: int | None = Field(default=None, ge=1)
    source: str = ""

    def applies_to(self, hw: HardwareSpec) -> bool:
        if self.hw_classes and hw.hw_class not in self.hw_classes:
            return False
        if hw.id in self.exclude_hardware:
            return False
        return self.min_memory_bytes is None or (hw.memory_bytes or 0.0) >= self.min_memory_bytes


class Admission(_Strict):
    """When a newly arrived request gets its first scheduling chance (all defaults: next step).

    Each knob makes a request wait a number of decode steps before its prompt is scheduled;
    :func:`inferplan.perf.admission.admission_wait_steps` turns them into a mean wait.
    """

    recv_interval_steps: int = Field(
        default=1, ge=1, description="the scheduler polls for new requests every this many decode "
                                     "steps (SGLang --scheduler-recv-interval)")
    continuous_decode_steps: int = Field(
        default=1, ge=1, description="decode steps run back to back without scheduling "
                                     "(SGLang --num-continuous-decode-steps)")
    adp_balance_timeout_steps: int = Field(
        default=0, ge=0, description="attention-DP balance: prompts wait until every rank has one "
                                     "or this many steps pass (TensorRT-LLM attention_dp_config "
                                     "enable_balance + timeout_iters); 0: off")
    batch_wait_timeout_steps: int = Field(
        default=0, ge=0, description="prompts wait to batch until this many steps pass or "
                                     "batch_wait_max_tokens_ratio of the token budget is queued "
                                     "(TensorRT-LLM batch_wait_timeout_iters); 0: off")
    batch_wait_max_tokens_ratio: float = Field(default=0.0, ge=0, le=1)
    source: str = ""


class EngineSpec(_Strict):
    """A serving engine and the defaults that shape its performance.

    ``max_num_seqs`` and ``prefill_chunk_tokens`` are the engine-wide defaults; ``limits`` may
    refine them per device (vLLM picks larger budgets on >= 70 GiB GPUs). Use
    :meth:`for_hardware` to get the values a deployment runs with.
    """

    id: str
    description: str
    aliases: list[str] = []
    versions: str = Field(default="", description="engine versions these defaults describe")
    successor: str | None = Field(
        default=None, description="for a profile of an older release line: the engine id that "
                                  "superseded it")
    until: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}$",
        description="YYYY-MM the successor's behaviour landed; measurements dated earlier ran this")
    until_version: str | None = Field(
        default=None, pattern=r"^\d+(\.\d+)*$",
        description="first release of the successor with its behaviour: a measurement that names "
                    "its engine version is placed by the version, not by its date")
    fork_of: str | None = Field(
        default=None, description="the engine this one is a fork of: its factors and server "
                                  "behaviour apply where this profile has none of its own")
    factors_from: str | None = Field(
        default=None, description="an engine whose fitted efficiency factors apply where this "
                                  "profile has none of its own (the same graph runtime around "
                                  "other kernels), its server behaviour not")
    hardware_classes: list[HardwareClass]
    vendors: list[str] = Field(default=[], description="empty: any vendor of those classes")
    graph_capture: bool = Field(description="decode step replayed as one graph (CUDA graphs)")
    fp16_accumulate: bool = Field(
        default=False, description="GEMMs on fp16 weights accumulate in fp16 on NVIDIA GPUs (cuBLAS "
                                   "CUBLAS_COMPUTE_16F): they run at `fp16_acc16_flops` where the "
                                   "device has it")
    pads_attention_heads: bool = Field(
        default=False, description="tensor parallelism pads the attention heads with zero-weight "
                                   "heads up to a multiple of tp (AWS Neuron), so tp need not "
                                   "divide them; each rank then holds ceil(heads / tp)")
    moe_all_experts: bool = Field(
        default=False, description="MoE layers run every expert on every token of a prompt step, "
                                   "and of a decode step once tokens x top_k >= experts (NxD "
                                   "ExpertMLPs without a capacity factor: Deployment.static_moe)")
    pow2_token_buckets: list[HardwareClass] = Field(
        default=[], description="on these device classes each step's tokens are padded to the "
                                "next power of two, the shapes it precompiled (XLA: vLLM's TPU "
                                "backend, SGLang-JAX; perf/compiled.py bucketed_tokens)")
    compiled_shapes: bool = Field(
        default=False, description="graphs compiled ahead of time for one batch and one sequence "
                                   "length (optimum-neuron): every decode step computes "
                                   "max_num_seqs slots over max_model_len positions, each prompt "
                                   "is encoded alone padded to max_model_len (perf/compiled.py)")
    max_model_len: int | None = Field(
        default=None, ge=1, description="longest sequence (prompt + output) served (vLLM "
                                        "--max-model-len); a compiled-shape engine pads every "
                                        "sequence to it; None: no bound (compiled for the workload)")
    overlap_scheduler: bool = Field(
        default=False, description="the host schedules and prepares step n+1 while the device runs "
                                   "step n: the per-step and per-sequence host costs hide behind "
                                   "device time (a step takes the longer of the two, not the sum)")
    cpu_tiled_gemm: bool = Field(
        default=True, description="prompt mat-muls on CPUs run as tiled GEMMs (a weight tile unpacked "
                                  "and loaded once for many tokens); false: one dot product per "
                                  "(weight row, token), as ggml before llamafile's sgemm")
    cpu_static_split: bool = Field(
        default=False, description="each op's rows are split evenly over the threads, no work "
                                   "stealing: on a hybrid CPU every thread runs at its slowest "
                                   "(efficiency) core's rate, as ggml before dynamic scheduling")
    cpu_untiled_formats: list[str] = Field(
        default=[], description="weight formats without a tiled CPU prompt kernel: their mat-muls "
                                "run one dot product per (weight row, token)")
    cpu_untiled_formats_non_x86: list[str] = Field(
        default=[], description="formats untiled on non-x86 CPUs only (tiled on Intel/AMD)")
    host_layers: bool = Field(
        default=False, description="weights that do not fit the devices run as whole layers on "
                                   "the host CPU (llama.cpp -ngl N, perf/hostlayers.py); "
                                   "otherwise --offload auto streams them over the host link")
    gpu_layers: int | None = Field(
        default=None, ge=-1, description="layers on the GPUs when asked for (llama.cpp -ngl N; -1: "
                                         "as many as fit); the others run on the host CPU "
                                         "(host_layers engines)")
    cpu_moe_layers: int | None = Field(
        default=None, ge=0, description="the first N layers, whose routed experts the host CPU "
                                        "holds and computes (llama.cpp --n-cpu-moe N; 0: none); "
                                        "None: every layer's under --offload experts")
    inert_options: list[str] = Field(
        default=[], description="launch options (catalog.engines.ENGINE_OPTIONS names) this release "
                                "line accepts but never reads: an estimate ignores them and says so")
    continuous_batching: bool = True
    prefill_first: bool = Field(
        default=False, description="a step that can take waiting prompts runs them alone: "
                                   "decodes pause until no prompt waits (SGLang without "
                                   "--enable-mixed-chunk, vLLM V0); otherwise prompts ride in "
                                   "the decode steps' token budget")
    max_num_seqs: int = Field(ge=1)
    max_static_batch: int | None = Field(default=None, ge=1, description="most sequences a static "
                                         "batch (--batch) may hold: a runtime that decodes one "
                                         "sequence at a time (1); None: no limit but memory")
    memory_utilization: float = Field(gt=0, le=1, description="share of memory it may use")
    memory_share_of: Literal["device", "free"] = Field(
        default="device", description="what memory_utilization is a share of: the whole device "
                                      "(weights + KV + activations within it) or the memory left "
                                      "free once weights and runtime buffers are loaded (the KV "
                                      "pool alone)")
    default_kv_precision: str = Field(description="'auto' = the weights' activation float type")
    default_weight_precision: str | None = Field(
        default=None, description="format the engine's models ship in where the model's own is a "
                                  "16- or 32-bit float (NPU runtimes run 4-bit weights); None: the "
                                  "model's own")
    fp8_kv_with_fp8_weights: bool = Field(
        default=False, description="checkpoints quantized to fp8/fp4 also carry an fp8 KV cache")
    prefill_chunk_tokens: int = Field(default=8192, ge=1, description="max prompt tokens per step")
    kv_reservation: Literal["on_demand", "full_sequence"] = Field(
        default="on_demand", description="KV blocks allocated as tokens arrive, or for I+O up front")
    kv_block_tokens: int = Field(default=16, ge=1, description="tokens per KV-cache block/page")
    graph_max_batch: int | None = Field(
        default=None, ge=1, description="largest decode batch replayed as a captured graph")
    graph_prompt_steps: bool = Field(
        default=False, description="steps carrying prompt tokens are replayed as (piecewise) graphs "
                                   "too, up to graph_max_batch tokens; otherwise they run eagerly")
    lut_group_weights: int | None = Field(
        default=None, ge=1, description="low-bit weights multiplied by table lookup (T-MAC): "
                                        "activations grouped by this many weights; None: "
                                        "multiply-accumulate kernels")
    layout: LayoutPolicy = LayoutPolicy()
    admission: Admission = Admission()
    limits: list[EngineLimits] = Field(default=[], description="per-device batch/token limits")
    overheads: str = Field(default="", description="what the engine launches per layer and per "
                           "sequence (source text for the calibrated overhead factors)")
    source: str
    sources: dict[str, str] = Field(default_factory=dict, description="field -> citation")

    @property
    def base_id(self) -> str:
        """The engine whose server and fitted factors this profile uses: its own id, or the
        engine it forks (ik_llama.cpp -> llama.cpp)."""
        return self.fork_of or self.id

    def limits_for(self, hw: HardwareSpec) -> EngineLimits | None:
        return next((lim for lim in self.limits if lim.applies_to(hw)), None)

    def for_hardware(self, hw: HardwareSpec, offline: bool = False) -> EngineSpec:
        """This engine with the batch and token limits it uses on `hw` (offline: the limits of
        its offline/benchmark entry point, e.g. vLLM's ``LLM`` class)."""
        lim = self.limits_for(hw)
        if lim is None:
            return self
        seqs = (lim.offline_max_num_seqs or lim.max_num_seqs) if offline else lim.max_num_seqs
        tokens = ((lim.offline_max_num_batched_tokens or lim.max_num_batched_tokens) if offline
                  else lim.max_num_batched_tokens)
        if seqs == self.max_num_seqs and tokens == self.prefill_chunk_tokens:
            return self
        return self.model_copy(update={"max_num_seqs": seqs, "prefill_chunk_tokens": tokens})
