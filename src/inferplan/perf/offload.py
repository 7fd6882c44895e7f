"""Hybrid CPU+GPU MoE: routed experts in host DRAM, computed by the host CPU.

What ktransformers and llama.cpp (``--override-tensor exps=CPU``, ``--cpu-moe`` /
``--n-cpu-moe N``, ggml-org/llama.cpp PR #15077) do with DeepSeek-class models on one or two
consumer GPUs: attention, shared experts, dense layers and the KV cache stay on the
accelerator; the routed experts (most of the parameters, few of them active per token) live in
the host's DRAM and are computed by the host CPU. Per MoE layer the activations cross the
host link twice (to the host and back).

Per step of T tokens (per replica; one host serves the whole replica):

- host path: a batch of T tokens touches ``E(1 - (1 - k/E)^T)`` distinct experts per layer
  (uniform routing), each read once from host DRAM:
  ``t_mem = layers x touched x expert_params x bytes/param / (host bw x bw_eff)``;
  ``t_compute = 2 x k x expert_params x T x layers / (host peak x compute_eff)`` (+ unpacking of
  quantized weights at the host's vector rate); one smooth roofline of the two
  (:data:`inferplan.perf.step.ROOFLINE_P`); plus ``2 x layers x (T x d x act bytes / link bw +
  link latency)`` for the activations, plus the host's fixed cost per layer (thread-pool
  barriers: llama.cpp@cpu ``layer_overhead_s``). Decode (T small) is bound by the host's bandwidth.
- stream path (large batches, i.e. prefill chunks): the engine copies every routed expert to
  the accelerator over the host link and computes there, once per physical batch:
  ``ceil(T / ubatch) x max(all expert bytes / link bw, device expert FLOPs / device peak)``.
  llama.cpp does this for every op whose batch is >= 32 tokens (``GGML_OP_OFFLOAD_MIN_BATCH``,
  ggml/src/ggml-cuda/ggml-cuda.cu; ``--no-op-offload`` turns it off) in physical batches of
  ``n_ubatch`` = 512 tokens (common/common.h), so its prompt processing is link-bound per chunk.

llama.cpp's rule picks the path; other engines are given the faster one (``min``). The
explanation says which one bounds.
Host time is added to the accelerator's time (``step = device + host``): each layer's experts
wait for its attention and the next layer's attention waits for the experts.

The host's efficiency factors are the bundled profile's CPU factors for ``llama.cpp@cpu``
(resolved when the plan is built), so a calibrated accelerator profile does not change them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from inferplan.catalog.schema import EngineSpec, HardwareSpec, Link
from inferplan.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.catalog.schema import Precision
    from inferplan.models.spec import ModelSpec
    from inferplan.perf.deployment import Deployment
    from inferplan.perf.efficiency import Efficiency
    from inferplan.perf.layout import Layout
    from inferplan.perf.step import Factors, StepWork

# A GPU's default host CPU, by the host memory the catalog gives the device: desktop and
# workstation cards (<= 128 GB of host DRAM per card in the catalog) sit in a desktop
# (dual-channel DDR5, 128 GB); datacenter cards in a 12-channel DDR5 server socket.
DESKTOP_HOST_CPU = "ryzen-9-7950x"
SERVER_HOST_CPU = "epyc-9755"
DESKTOP_HOST_MAX_BYTES = 128e9
HOST_ENGINE = "llama.cpp"  # the engine whose CPU factors time the host's expert kernels
HOST_MEMORY_UTILIZATION = 0.95  # share of the host's DRAM the experts may take (OS + buffers)
OFFLOAD_MODES = ("none", "auto", "experts")
# llama.cpp (ggml-cuda.cu, common/common.h): ops on host weights with batch >= 32 tokens run on
# the GPU after copying the weights, in physical batches of n_ubatch = 512 tokens.
LLAMA_CPP_OP_OFFLOAD_MIN_BATCH = 32
LLAMA_CPP_UBATCH_TOKENS = 512


@dataclass(frozen=True)
class ExpertHost:
    """The host CPU that holds and computes the routed experts, and the link to it."""

    cpu: HardwareSpec
    link: Link
    bw_bytes_s: float  # peak DRAM bandwidth the host reaches (catalog)
    bw_eff: float  # fraction of it llama.cpp's CPU kernels stream (bundled profile)
    peak_flops: float  # host peak for the experts' compute type
    compute_type: str
    compute_eff: float
    vector_ops_s: float  # unpack rate of quantized weights
    dequant_ops: float  # unpack ops per weight (bundled profile, expert precision)
    layer_overhead_s: float  # host thread-pool barriers per MoE layer (llama.cpp@cpu, bundled profile)
    source: str  # why this host: '--host X' or the default rule
    stream_min_tokens: float | None = None  # engine streams experts from this batch on (None: faster path)
    ubatch_tokens: float = float("inf")  # tokens per weight copy when streaming
    share: float = 1.0  # of the MoE layers whose experts live on the host (--n-cpu-moe N / MoE layers)

    def work(self, dep: Deployment, tokens: np.ndarray) -> HostExpertWork:
        """:func:`host_expert_work` (a method, so that ``perf.step`` needs no import of this
        module, which builds deployments and resolves factors: no import cycle)."""
        return host_expert_work(dep, tokens)


def normalize_offload(offload: bool | str | None) -> str:
    """'none', 'auto' (weights or KV that do not fit, streamed) or 'experts'."""
    if offload in (None, False, "", "none", "off"):
        return "none"
    if offload is True or offload in ("auto", "weights", "kv", "on"):
        return "auto"
    if offload == "experts":
        return "experts"
    raise InputError(f"unknown --offload mode {offload!r} (known: auto, experts)")


def offload_on(hw: HardwareSpec, offload: bool | str | None) -> str | None:
    """A comparison's --offload as it applies to one device (None: none): 'auto' (host DRAM
    next to an accelerator) means nothing on a CPU, which holds the whole model in its own
    memory (estimate refuses it there: perf/hostlayers.check_host_layers); 'experts' stays
    (refused on a CPU with its own reason)."""
    mode = normalize_offload(offload)
    return None if mode == "none" or (hw.hw_class == "cpu" and mode == "auto") else mode


def engine_for(hw: HardwareSpec, offload: bool | str | None = None,
               stored: Precision | None = None) -> EngineSpec:
    """The engine an estimate runs when none is named: llama.cpp for a GPU whose routed experts
    live on the host (--cpu-moe / --override-tensor exps=CPU, as ktransformers does), else the
    hardware's default engine -- unless the weights are stored in a format with its own
    runtimes (``Precision.engines``: GGUF's llama.cpp, EXL2's ExLlamaV2, bitnet.cpp's I2_S):
    then the first of those that runs on the device, the format's usual one (a GGUF file on a
    desktop card runs in llama.cpp; a datacenter GPU keeps vLLM where vLLM's GGUF loader reads
    it; the default engine when none does: the caller refuses it)."""
    from inferplan.catalog.engines import (
        default_engine,
        engine_for_format,
        get_engine,
        reads_format,
    )

    eng = get_engine("llama.cpp") if normalize_offload(offload) == "experts" and hw.hw_class == "gpu" \
        else default_engine(hw)
    if stored is None or not stored.engines:
        return eng
    # a format with its own runtimes (GGUF, EXL2, MLX): on a desktop card the format's runtime
    # (GGUF: llama.cpp, as those users run it); a datacenter GPU keeps its serving engine when
    # that reads the format (vLLM's GGUF loader: tensor parallel, continuous batching)
    if not reads_format(eng, stored, hw) or hw.hw_class != "gpu" or desktop_card(hw):
        return engine_for_format(stored, hw) or eng
    return eng


def desktop_card(hw: HardwareSpec) -> bool:
    """A desktop or workstation card: the catalog gives it <= DESKTOP_HOST_MAX_BYTES of host DRAM."""
    return bool(hw.host_memory_bytes) and (hw.host_memory_bytes or 0.0) <= DESKTOP_HOST_MAX_BYTES


def default_host_cpu_id(hw: HardwareSpec) -> tuple[str, str]:
    """(catalog CPU id, why) of the host a device usually sits in (see DESKTOP_HOST_CPU)."""
    if desktop_card(hw):
        return DESKTOP_HOST_CPU, (f"default host of {hw.id}, a desktop card (<= "
                                  f"{DESKTOP_HOST_MAX_BYTES / 1e9:.0f} GB of host DRAM per card in "
                                  f"the catalog); set --host")
    return SERVER_HOST_CPU, f"default server host of {hw.id} (one 12-channel DDR5 socket); set --host"


def host_cpu_deployment(hw: HardwareSpec, host: str | HardwareSpec | None, model: ModelSpec,
                        w: Precision, e: Precision, kv: Precision,
                        hardware_files: tuple[Path, ...] = (),
                        eff: Efficiency | None = None) -> tuple[Deployment, Factors, str]:
    """The model on the host CPU of `hw` (``--host``, else :func:`default_host_cpu_id`) under
    llama.cpp's CPU factors from `eff` (the estimate's profile; None: the bundled one), and why
    that host: what computes the routed experts (--offload experts) and llama.cpp's host layers
    (perf/hostlayers.py)."""
    from inferplan.catalog.engines import get_engine
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.deployment import Deployment
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.factors import resolve_factors
    from inferplan.perf.layout import Layout

    if isinstance(host, HardwareSpec):
        cpu, why = host, f"--host {host.id}"
    elif host:
        cpu, why = get_hardware(host, hardware_files), f"--host {host}"
    else:
        cpu_id, why = default_host_cpu_id(hw)
        cpu = get_hardware(cpu_id, hardware_files)
    if cpu.hw_class != "cpu":
        raise InputError(f"--host must be a CPU; {cpu.id} is a {cpu.hw_class}")
    host_dep = Deployment(model=model, hw=cpu, engine=get_engine(HOST_ENGINE), layout=Layout(),
                          weight_precision=w, expert_precision=e, kv_precision=kv,
                          act_precision="fp32")
    f, _ = resolve_factors(host_dep, eff or load_efficiency(None))
    return host_dep, f, why


def resolve_expert_host(hw: HardwareSpec, host: str | HardwareSpec | None, model: ModelSpec,
                        w: Precision, e: Precision, kv: Precision,
                        hardware_files: tuple[Path, ...] = (), engine: str = "llama.cpp",
                        cpu_moe_layers: int | None = None, eff: Efficiency | None = None) -> ExpertHost:
    """The host CPU for ``--offload experts`` with its factors from `eff` (None: bundled);
    `cpu_moe_layers`: the experts of that many MoE layers on the host (llama.cpp --n-cpu-moe;
    None: all of them)."""
    from inferplan.perf.deployment import FALLBACK_LINK

    if hw.hw_class != "gpu":
        raise InputError(f"--offload experts runs routed experts on the host CPU of a GPU "
                         f"(ktransformers, llama.cpp --cpu-moe); {hw.id} is a {hw.hw_class}")
    if not model.is_moe:
        raise InputError(f"--offload experts needs a mixture-of-experts model; {model.id} is dense")
    host_dep, f, why = host_cpu_deployment(hw, host, model, w, e, kv, hardware_files, eff)
    cpu = host_dep.hw
    ctype = host_dep.hw.peak_for(list(e.compute))[0]
    # llama.cpp's --n-cpu-moe N takes the experts of layers 0..N-1 (dense ones have none); the
    # groups do not keep the layers' order, so MoE layers are taken as spread evenly (exact for
    # all-MoE and interleaved models; DeepSeek's 3 leading dense layers make it ~3 layers off)
    n_layers = sum(g.count for g in model.groups)
    share = 1.0 if cpu_moe_layers is None else min(cpu_moe_layers, n_layers) / max(n_layers, 1)
    return ExpertHost(cpu=cpu, link=hw.host_link or FALLBACK_LINK,
                      bw_bytes_s=host_dep.memory_bw_bytes_s, bw_eff=f.bw_eff,
                      peak_flops=host_dep.peak_expert_flops, compute_type=ctype,
                      compute_eff=f.compute_eff, vector_ops_s=host_dep.vector_ops_s,
                      dequant_ops=f.dequant_ops_e, layer_overhead_s=f.layer_overhead_s, source=why,
                      share=share, **_stream_rule(engine))


def _stream_rule(engine: str) -> dict[str, float]:
    """When the engine streams experts to the GPU instead of computing them on the host."""
    if engine == "llama.cpp":
        return {"stream_min_tokens": float(LLAMA_CPP_OP_OFFLOAD_MIN_BATCH),
                "ubatch_tokens": float(LLAMA_CPP_UBATCH_TOKENS)}
    return {}


def host_expert_bytes(dep: Deployment) -> float:
    """Bytes of the routed experts the host holds (what its DRAM must hold)."""
    share = dep.expert_host.share if dep.expert_host is not None else 1.0
    return share * sum(g.layers * g.num_experts * g.active_expert_elems / max(g.top_k, 1)
                       for g in dep.groups if g.top_k) * dep.expert_bytes_per_elem


def _roofline(compute_s: np.ndarray, memory_s: np.ndarray) -> np.ndarray:
    from inferplan.perf.step import ROOFLINE_P

    hi = np.maximum(compute_s, memory_s)
    safe = np.where(hi > 0, hi, 1.0)
    out: np.ndarray = hi * ((compute_s / safe) ** ROOFLINE_P + (memory_s / safe) ** ROOFLINE_P) ** (1 / ROOFLINE_P)
    return out


@dataclass
class HostExpertWork:
    """Seconds of the routed experts of one step, both paths (arrays over the composition)."""

    host_compute_s: np.ndarray
    host_memory_s: np.ndarray
    act_link_s: np.ndarray  # activations to the host and back, all MoE layers
    overhead_s: float  # host per-layer fixed costs, all MoE layers
    stream_s: np.ndarray  # all experts over the link (or their device compute, if longer)
    tokens: np.ndarray
    stream_min_tokens: float | None  # the engine's rule (None: the faster path)

    @property
    def host_path_s(self) -> np.ndarray:
        out: np.ndarray = _roofline(self.host_compute_s, self.host_memory_s) + self.act_link_s + self.overhead_s
        return out

    @property
    def streamed(self) -> np.ndarray:
        if self.stream_min_tokens is not None:
            return self.tokens >= self.stream_min_tokens
        return self.stream_s < self.host_path_s

    @property
    def time_s(self) -> np.ndarray:
        """Seconds of the path the engine takes per step."""
        return np.where(self.streamed, self.stream_s, self.host_path_s)


def host_expert_work(dep: Deployment, tokens: np.ndarray) -> HostExpertWork:
    """Routed-expert seconds of a step carrying `tokens` tokens (see module docstring)."""
    h = dep.expert_host
    assert h is not None
    t = np.maximum(np.asarray(tokens, dtype=float), 1.0)
    zero = 0 * t
    elems_read = zero.copy()
    flops = zero.copy()
    all_elems = 0.0
    moe_layers = 0.0
    for g in dep.groups:
        if not g.top_k:
            continue
        expert_elems = g.active_expert_elems / g.top_k  # one expert's weights
        touched = g.num_experts * (1 - (1 - g.top_k / g.num_experts) ** t)
        layers = g.layers * h.share  # the MoE layers whose experts the host holds
        elems_read = elems_read + layers * touched * expert_elems
        flops = flops + layers * 2 * g.active_expert_elems * t
        all_elems += layers * g.num_experts * expert_elems
        moe_layers += layers
    unpack_tiles = np.maximum(1.0, t / 128)  # one unpack per 128-token tile (as perf.step)
    compute = (flops / h.peak_flops
               + h.dequant_ops * elems_read * unpack_tiles / h.vector_ops_s) / h.compute_eff
    memory = elems_read * dep.expert_bytes_per_elem / (h.bw_bytes_s * h.bw_eff)
    act = t * dep.model.hidden_size * dep.act_bytes
    link = 2 * moe_layers * (act / h.link.bw_bytes_s + h.link.latency_s)
    stream_bytes = all_elems * dep.expert_bytes_per_elem
    device_compute = flops / dep.peak_expert_flops
    copies = np.ceil(t / h.ubatch_tokens) if np.isfinite(h.ubatch_tokens) else 1.0 + zero
    stream = np.maximum(copies * stream_bytes / h.link.bw_bytes_s, device_compute) + link
    return HostExpertWork(compute, memory, link, moe_layers * h.layer_overhead_s, stream, t,
                          h.stream_min_tokens)


def describe_offload(dep: Deployment) -> str:
    """One line for the assumptions: where the experts live and what reads them."""
    h = dep.expert_host
    assert h is not None
    gb = host_expert_bytes(dep) / 1e9
    moe = sum(g.layers for g in dep.groups if g.top_k)
    which = "routed experts" if h.share >= 1 else (
        f"the routed experts of ~{h.share * moe:.0f} of {moe} MoE layers (llama.cpp --n-cpu-moe "
        f"{round(h.share * dep.model.num_layers)}; the others' on {dep.hw.id})")
    return (f"{which} ({gb:.0f} GB at {dep.expert_precision.id}) in host DRAM of "
            f"{h.cpu.id} ({h.bw_bytes_s / 1e9:.0f} GB/s peak x bw_eff {h.bw_eff:.2f}, {h.source}), "
            f"computed by its cores in {h.compute_type}; attention, shared experts and KV on "
            f"{dep.hw.id}; activations cross {h.link.name} twice per MoE layer; "
            + (f"batches of >= {h.stream_min_tokens:.0f} tokens copy all experts to the GPU per "
               f"{h.ubatch_tokens:.0f}-token ubatch (llama.cpp op offload): prefill is link-bound"
               if h.stream_min_tokens is not None else
               "prompt chunks stream the experts over the link when that is faster"))


def host_power_w(dep: Deployment, work: StepWork, f: Factors, load: float = 1.0) -> tuple[float, str]:
    """Power of the host CPU while it computes the experts or layers: idle + (TDP - idle) x the
    share of the step it is busy x `load` (the share of time the replica runs steps; idle
    assumed 20% of TDP where the catalog has none), W."""
    h = dep.expert_host or dep.host_layers
    assert h is not None
    tdp = h.cpu.tdp_w or 0.0
    idle = h.cpu.idle_w if h.cpu.idle_w is not None else 0.2 * tdp
    total = work.total_time_s(f)
    busy = min(1.0, float(np.sum(work.t_host)) / total if total > 0 else 0.0) * min(1.0, load)
    return idle + (tdp - idle) * busy, f"host {h.cpu.id} TDP {tdp:.0f} W x busy share {busy:.0%}"


def single_host_layout(layout: Layout, how: str, host: ExpertHost | None,
                       num_layers: int) -> tuple[Layout, str]:
    """One host CPU serves one replica: with experts on the host, the devices a layout would
    replicate over form one replica instead, split by layers (llama.cpp's default
    ``--split-mode layer``). Returns (layout, how)."""
    from inferplan.perf.layout import Layout

    if host is None or layout.dp == 1 or layout.pp * layout.dp > num_layers:
        return layout, how
    one = Layout(tp=layout.tp, pp=layout.pp * layout.dp, ep=layout.ep, dp=1)
    return one, (f"{how} -> instead one replica of {one.replica_devices} devices split by layers "
                 f"(tp={one.tp}, pp={one.pp}, dp=1): one host CPU holds the experts of one replica")
