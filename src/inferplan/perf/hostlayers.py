"""llama.cpp's partial layer offload (``-ngl N``): the layers that do not fit run on the host CPU.

llama.cpp places whole layers (weights and KV cache) on its devices: with ``-ngl N`` the last N
repeating layers live in GPU memory and the others in host DRAM, where the CPU backend computes
them (ggml's backend scheduler splits the graph at the device boundary). A token passes through
the host's layers and then the GPU's, one after the other. The token embedding table always
stays in host memory (a row lookup) and so does the output layer (LM head) unless ``-ngl``
exceeds the repeating layers (llama-model.cpp: the output layer is layer ``n_layer`` of the
same placement rule). With ``phi`` the share of the repeating layers kept on the host, a step of
T tokens (T below the op-offload threshold: decode) takes

    step = device time of the GPU's (1 - phi) share of every layer op      (perf/step.py)
         + phi x (host step time of the layers) + host time of the LM head (host path)
         + 2 x (T x d x activation bytes / host link bandwidth + link latency)

The host times are the same step cost (perf/step.py) of the model on the host CPU under
llama.cpp's CPU factors (as the routed experts of perf/offload.py): its layers' weights and KV
cache read at the host's DRAM bandwidth times ``bw_eff``, its compute, its per-layer thread-pool
barriers; the engine loop's own per-step and per-sequence costs are paid once, on the device
side. The GPU's per-layer launch costs shrink with its share of the layers.

Prompt batches of at least 32 tokens take the other path: ggml-cuda copies each host-resident
weight to the GPU and runs the op there (``GGML_OP_OFFLOAD_MIN_BATCH`` = 32,
ggml/src/ggml-cuda/ggml-cuda.cu; ``--no-op-offload`` turns it off), once per physical batch of
``n_ubatch`` = 512 tokens. The device then computes every layer and the copies overlap it, as
the experts' stream path of perf/offload.py:

    stream = ceil(T / 512) x host layer bytes / host link bandwidth;  step = max(device, stream)

(the embedding and LM head are not copied: the lookup and the one-row logits of a prompt run on
the host; the device side's head stands for them in these steps).

:func:`offload_to_host` is where an estimate decides what goes to host DRAM under ``--offload
auto`` (weights as host layers here, else streamed weights or KV: perf/hosttier.py times them),
and :func:`check_host_layers` refuses the requests that cannot run.

The layers take their KV cache along (the device keeps 1 - phi of it). One host CPU serves one
replica (data-parallel replicas are refused: they would share its DRAM bandwidth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from inferplan.errors import InputError
from inferplan.perf.offload import (
    HOST_MEMORY_UTILIZATION,
    LLAMA_CPP_OP_OFFLOAD_MIN_BATCH,
    LLAMA_CPP_UBATCH_TOKENS,
    host_cpu_deployment,
)

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from inferplan.catalog.schema import EngineSpec, HardwareSpec, Link
    from inferplan.models.spec import ModelSpec
    from inferplan.perf.deployment import Deployment
    from inferplan.perf.efficiency import Efficiency
    from inferplan.perf.memory import MemoryBreakdown
    from inferplan.perf.step import Factors


@dataclass(frozen=True)
class HostLayers:
    """The host CPU that holds and computes the layers that do not fit, and the link to it."""

    cpu: HardwareSpec
    link: Link
    dep: Deployment  # the whole model on the host CPU (llama.cpp's CPU backend, all cores)
    f: Factors  # its factors (bundled profile: llama.cpp on this CPU class)
    share: float  # phi: share of the repeating layers (their weights and KV) on the host
    weight_bytes: float  # weight bytes per device moved to the host: phi of its layers + its end tables
    layer_bytes: float  # of which the layers' (copied to the GPU by prompt batches)
    devices: int  # devices of the replica (tp x pp): each keeps phi of its layers on the host
    layers: int  # layers on the host (llama.cpp -ngl = the model's layers - this)
    source: str  # why this host: '--host X' or the default rule
    end_bytes: float = 0.0  # the replica's embedding table and LM head, once, in host DRAM
    stream_min_tokens: float = float(LLAMA_CPP_OP_OFFLOAD_MIN_BATCH)
    ubatch_tokens: float = float(LLAMA_CPP_UBATCH_TOKENS)

    @property
    def host_weight_bytes(self) -> float:
        """Weight bytes of the replica in host DRAM: every device's share of the layers, and the
        embedding table and LM head once (a pipeline's stages each hold one of them)."""
        return self.layer_bytes * self.devices + self.end_bytes

    def host_step_s(self, b: Any, c: Any, p: Any = 0.0, s: Any = 0.0, c0: Any = 0.0) -> np.ndarray:
        """Seconds the host CPU spends in a step of this composition: phi x its step over the
        layers, plus the whole LM head (without the per-step and per-sequence host costs, which
        the engine loop pays once on the device side)."""
        from inferplan.perf.step import roofline_s, step_work

        w = step_work(self.dep, b, c, p, s, c0)
        compute, memory, extra, _ = w.effective_parts(self.f)
        ops = roofline_s(compute, memory)[:-1]  # the last row: per-sequence host costs
        head = np.array([k == "head" for k in w.op_kinds or ("linear",) * len(ops)])
        out: np.ndarray = self.share * (ops[~head].sum(axis=0) + extra) + ops[head].sum(axis=0)
        return out

    def streamed(self, tokens: Any) -> np.ndarray:
        """True where the step's batch copies the host layers to the GPU (op offload)."""
        out: np.ndarray = np.asarray(tokens, dtype=float) >= self.stream_min_tokens
        return out

    def parts(self, tokens: np.ndarray, b: Any, c: Any, p: Any, s: Any, c0: Any,
              act_bytes: float, hidden: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(offload s, host s, device share of the layer ops, of the LM head) of a step (module
        docstring): the head is the host's where the host computes its layers (and at -ngl
        equal to the layers, where it holds none of them but the output layer).

        llama.cpp splits a step into physical batches (ubatches) of 512 tokens and decides per
        ubatch: full ubatches and a last one of >= 32 tokens copy the host layers; a last one of
        fewer tokens runs them on the host CPU (timed as that many decode rows)."""
        t = np.maximum(np.asarray(tokens, dtype=float), 1.0)
        ub, lo = self.ubatch_tokens, self.stream_min_tokens
        small = t < lo  # the whole step on the host path
        full = np.floor(t / ub)
        rest = t - full * ub
        copies = full + (rest >= lo)
        rest_host = (~small) & (rest > 0) & (rest < lo)
        on_host = np.where(small, t, np.where(rest_host, rest, 0.0))  # tokens the host computes
        crossings = np.where(on_host > 0, 2 * (on_host * hidden * act_bytes / self.link.bw_bytes_s
                                               + self.link.latency_s), 0.0)
        host = np.where(small, self.host_step_s(b, c, p, s, c0), 0.0) + crossings
        if np.any(rest_host):  # a short last ubatch: its rows on the host, as decode rows
            host = host + np.where(rest_host, self.host_step_s(rest, np.maximum(c, c0)), 0.0)
        stream = copies * self.layer_bytes * self.devices / self.link.bw_bytes_s
        zero = 0 * t
        return (stream + zero, host + zero, np.where(small, 1.0 - self.share, 1.0) + zero,
                np.where(small, 0.0, 1.0) + zero)

    def describe(self, num_layers: int) -> str:
        """One line for the assumptions: what lives on the host and what computes it."""
        h = self.dep
        return (f"{self.layers} of {num_layers} layers and the output layer ({self.host_weight_bytes / 1e9:.1f} "
                f"GB of weights with the embeddings, and their KV cache) in host DRAM of {self.cpu.id} "
                f"({h.memory_bw_bytes_s / 1e9:.0f} GB/s peak x bw_eff {self.f.bw_eff:.2f}, "
                f"{self.source}), computed by its cores for batches under "
                f"{self.stream_min_tokens:.0f} tokens (llama.cpp -ngl {num_layers - self.layers}); "
                f"larger batches copy those layers to the GPU per {self.ubatch_tokens:.0f}-token "
                f"ubatch over {self.link.name} (op offload)")


def resolve_host_layers(dep: Deployment, host: str | HardwareSpec | None, weight_bytes: float,
                        layers: int, hardware_files: tuple[Any, ...] = (),
                        eff: Efficiency | None = None, layer_bytes: float | None = None,
                        end_bytes: float = 0.0) -> HostLayers:
    """The host CPU of `dep`'s devices holding `layers` of the layers (`weight_bytes` per
    device in all, `layer_bytes` of them the layers': default all), with llama.cpp's CPU
    factors from `eff` (None: the bundled profile; perf/offload.py's default host rule when
    `host` is None)."""
    from inferplan.perf.deployment import FALLBACK_LINK

    host_dep, f, why = host_cpu_deployment(dep.hw, host, dep.model, dep.weight_precision,
                                           dep.expert_precision, dep.kv_precision, hardware_files, eff)
    lay = dep.layout
    return HostLayers(cpu=host_dep.hw, link=dep.hw.host_link or FALLBACK_LINK, dep=host_dep, f=f,
                      share=layers / dep.model.num_layers, weight_bytes=weight_bytes,
                      layer_bytes=weight_bytes if layer_bytes is None else layer_bytes, end_bytes=end_bytes,
                      devices=lay.tp * lay.pp, layers=layers, source=why)


def gpu_layers_given(eng: EngineSpec, model: ModelSpec) -> int | None:
    """The layers the engine is told to keep on the GPUs, when not every layer and the output
    layer (llama.cpp -ngl N: N up to the model's layers keeps the output layer on the host, N
    above them offloads it too); None: all of them, or -1 (llama.cpp's 'as many as fit':
    --offload auto)."""
    ngl = eng.gpu_layers
    return ngl if ngl is not None and 0 <= ngl <= model.num_layers else None


def check_host_layers(eng: EngineSpec, hw: HardwareSpec, model: ModelSpec, mode: str,
                      off_mode: str, host: object) -> bool:
    """True when the engine is asked to keep only some layers on the GPUs (llama.cpp -ngl N,
    ``EngineSpec.gpu_layers`` below the model's layers); refuses what cannot run so."""
    runs = eng.host_layers and hw.hw_class == "gpu"
    ngl = eng.gpu_layers
    if ngl is not None and not runs:
        raise InputError(f"n_gpu_layers splits layers between a GPU and its host CPU (llama.cpp "
                         f"-ngl); {eng.id} on {hw.id} does not")
    if off_mode == "auto" and hw.hw_class == "cpu":  # (experts: resolve_expert_host says so)
        raise InputError(f"--offload puts weights in host memory next to an accelerator; on a CPU "
                         f"({hw.id}) the whole model already lives in its memory")
    forced = gpu_layers_given(eng, model) is not None
    if forced and off_mode == "experts":
        raise InputError("n_gpu_layers and --offload experts are two ways to put weights on the "
                         "host CPU; pick one (llama.cpp --n-cpu-moe is --offload experts)")
    if forced and mode == "offline":
        raise InputError("n_gpu_layers applies to --batch and --concurrency runs (an offline run "
                         "sizes its batch to the device's own memory)")
    if host is not None and off_mode == "auto" and not runs:
        raise InputError(f"--host with --offload auto names the CPU that computes the layers that "
                         f"do not fit (llama.cpp -ngl on a GPU); {eng.id} on {hw.id} streams what "
                         f"does not fit over the host link instead")
    if host is not None and off_mode == "none" and ngl is None:
        raise InputError("--host applies to --offload experts (the CPU that computes the routed "
                         "experts) and to llama.cpp's host layers (--offload auto, -O n_gpu_layers=N)")
    return forced


def offload_to_host(dep: Deployment, mem: MemoryBreakdown, notes: dict[str, Any],
                    host: str | HardwareSpec | None = None,
                    hardware_files: tuple[Path, ...] = (),
                    eff: Efficiency | None = None) -> tuple[Deployment, MemoryBreakdown]:
    """Move what does not fit to host DRAM (host CPU factors from `eff`; None: bundled). Under an engine that computes offloaded layers on
    the host (llama.cpp -ngl) whole layers move, with their KV cache (:func:`_host_layers`);
    otherwise weights if they alone overflow, streamed over the host link every step, else the
    oldest share of the KV cache, read over it."""
    from dataclasses import replace

    from inferplan.perf.memory import MemoryBreakdown

    hw = dep.hw
    if dep.engine.host_layers and hw.hw_class == "gpu":  # the host CPU's own DRAM holds them
        return _host_layers(dep, mem, notes, host, hardware_files, eff)
    if not hw.host_link or not hw.host_memory_bytes:
        notes["offload"] = f"{hw.id} has no host link/host memory in the catalog; nothing offloaded"
        return dep, mem
    room = mem.capacity_bytes - mem.reserved_bytes - mem.activation_bytes
    excess = mem.used_bytes - mem.capacity_bytes
    if mem.weights_bytes + 0.0 > room * 0.9:  # keep ~10% of the device for KV
        w_off = min(mem.weights_bytes, excess + 0.1 * room)
        new = MemoryBreakdown(mem.weights_bytes - w_off, mem.kv_cache_bytes, mem.activation_bytes,
                              mem.reserved_bytes, mem.capacity_bytes)
        dep = replace(dep, offload_weight_bytes=w_off)
        notes["offload"] = (f"{w_off / 1e9:.1f} GB of weights per device in host DRAM, streamed "
                            f"over {dep.host_link.name} each step")
        host_bytes = w_off
    else:
        # the excess and a MiB more: moving exactly the excess leaves used == capacity, which
        # float rounding then reads as not fitting half the time
        frac = min(1.0, (excess + 2**20) / mem.kv_cache_bytes) if mem.kv_cache_bytes else 0.0
        dep = replace(dep, offload_kv_fraction=frac)
        new = MemoryBreakdown(mem.weights_bytes, mem.kv_cache_bytes * (1 - frac), mem.activation_bytes,
                              mem.reserved_bytes, mem.capacity_bytes)
        host_bytes = mem.kv_cache_bytes * frac
        notes["offload"] = (f"{frac:.0%} of the KV cache ({host_bytes / 1e9:.1f} GB per device) in "
                            f"host DRAM, read over {dep.host_link.name}")
    if _short_of_host_memory(notes, host_bytes, hw.host_memory_bytes, "per device"):
        return dep, mem
    return dep, new


def _host_layers(dep: Deployment, mem: MemoryBreakdown, notes: dict[str, Any],
                 host: str | HardwareSpec | None,
                 hardware_files: tuple[Path, ...],
                 eff: Efficiency | None = None) -> tuple[Deployment, MemoryBreakdown]:
    """llama.cpp's split: -O n_gpu_layers=N keeps N layers on the GPUs; else the fewest whole
    layers leave (each with its weights and KV cache) for the rest to fit, beside the embedding
    table and LM head, which stay in host memory under any partial split."""
    from dataclasses import replace

    from inferplan.perf.memory import MemoryBreakdown, end_bytes_per_device, end_table_bytes

    n_layers = dep.model.num_layers
    if dep.layout.dp > 1:
        notes["offload"] = (f"llama.cpp's host layers need one replica per host CPU; this layout "
                            f"has {dep.layout.dp} (split the devices by layers: --pp, or fewer "
                            f"--devices)")
        return dep, mem
    ngl = gpu_layers_given(dep.engine, dep.model)
    ends = min(end_bytes_per_device(dep), mem.weights_bytes)
    layer_dev = mem.weights_bytes - ends  # the repeating layers' bytes on the device
    if ngl is not None:
        n_host = n_layers - ngl
    else:  # the embedding and head leave first; then whole layers, at least one
        excess = mem.used_bytes - ends - mem.capacity_bytes + 2**20  # a MiB more: float rounding
        movable = layer_dev + mem.kv_cache_bytes
        n_host = (min(n_layers, max(1, math.ceil(excess / movable * n_layers))) if movable > 0
                  else n_layers)
    share = n_host / n_layers
    w_off = layer_dev * share + ends
    layers = resolve_host_layers(dep, host, w_off, n_host, hardware_files, eff, layer_dev * share,
                                 sum(end_table_bytes(dep)))  # the replica's end tables, once
    dep = replace(dep, offload_weight_bytes=w_off, host_layers=layers)
    new = MemoryBreakdown(mem.weights_bytes - w_off, mem.kv_cache_bytes * (1 - share),
                          mem.activation_bytes, mem.reserved_bytes, mem.capacity_bytes)
    notes["offload"] = layers.describe(n_layers)
    need = layers.host_weight_bytes + mem.kv_cache_bytes * share * layers.devices
    if _short_of_host_memory(notes, need, layers.cpu.memory_bytes or 0.0,
                             f"of {layers.cpu.id}; --host picks another CPU"):
        return dep, mem
    return dep, new


def _short_of_host_memory(notes: dict[str, Any], need_bytes: float, memory_bytes: float,
                          whose: str) -> bool:
    """True, with the reason added to the offload note, when `need_bytes` exceed the share of
    the host's `memory_bytes` an offload may take (HOST_MEMORY_UTILIZATION: the OS and buffers
    keep the rest); `whose`: what the memory is (per device, or the CPU's, and what to do)."""
    cap = memory_bytes * HOST_MEMORY_UTILIZATION
    if need_bytes <= cap:
        return False
    notes["offload"] += (f"; but host memory is too small: {need_bytes / 1e9:.0f} GB needed, "
                         f"{cap / 1e9:.0f} GB usable ({HOST_MEMORY_UTILIZATION:.0%} of "
                         f"{memory_bytes / 1e9:.0f} GB {whose})")
    return True


def host_layers_json(dep: Deployment) -> dict[str, Any] | None:
    """An estimate's ``host_layers``: the host CPU, layers on it and on the GPUs, its weights."""
    hl = dep.host_layers
    return None if hl is None else {
        "cpu": hl.cpu.id, "layers_on_host": hl.layers, "gpu_layers": dep.model.num_layers - hl.layers,
        "host_weight_bytes": hl.host_weight_bytes}
