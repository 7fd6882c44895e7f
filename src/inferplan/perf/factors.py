"""Resolve the named efficiency factors that apply to one deployment."""

from __future__ import annotations

from inferplan.catalog.engines import engine_catalog
from inferplan.catalog.schema import Precision
from inferplan.perf.deployment import Deployment
from inferplan.perf.efficiency import (
    HW_SCOPE_PREFIX,
    REGIME_PRIORS,
    Efficiency,
    FactorValue,
    hw_family,
)
from inferplan.perf.step import LOW_PRECISION_TYPES, Factors

NATIVE_SOURCE = "native format, no unpack"  # source of the zero unpack cost of native formats


def engine_lineage(dep: Deployment) -> list[str]:
    """The engine's id, then the ids of the engines that superseded it (older release lines, up
    the chain to the current profile), then the engine it takes factors from
    (``factors_from``). A
    fork (ik_llama.cpp) uses its base engine's factors as its own: what differs is structural,
    in its profile (its tiled CPU kernels), not a separately fitted efficiency."""
    e = dep.engine
    if e.fork_of:
        return [e.base_id]
    out = [e.id]
    cat = engine_catalog()
    borrowed = e.factors_from  # bitnet.cpp: its own kernels in llama.cpp's ggml graph
    while e.successor and e.successor not in out:  # a chain of release lines, oldest first
        out.append(e.successor)
        e = cat.get(e.successor, e)
    return out + ([borrowed] if borrowed and borrowed not in out else [])


def engine_scopes(dep: Deployment, by_family: bool = False) -> list[str]:
    """Engine scopes, most specific first: ``engine@family`` (when `by_family`), ``engine@class``,
    ``engine``, then the same for the engine that superseded an older release line's profile
    (llama.cpp-2023 falls back to llama.cpp's factors where it has none of its own)."""
    cls, fam = dep.hw.hw_class, hw_family(dep.hw)
    out: list[str] = []
    for e in engine_lineage(dep):
        out += ([f"{e}@{fam}"] if by_family and fam != cls else []) + [f"{e}@{cls}", e]
    return out


def _by_architecture(dep: Deployment) -> list[str]:
    """``engine@architecture`` scopes (``tensorrt-llm@nvidia-hopper``), for factors set by kernel
    libraries that engines write per GPU architecture; none for devices without one."""
    arch = dep.hw.architecture
    return [f"{e}@{arch}" for e in engine_lineage(dep)] if arch else []


def factor_scopes(dep: Deployment) -> dict[str, list[str]]:
    """Lookup order of scopes for each factor (most specific first; 'default' is implied).

    The per-layer overhead also looks at ``engine@family``: the same engine launches kernels one
    by one on one vendor's GPUs and replays a graph on another's (llama.cpp: CUDA graphs on
    NVIDIA, none by default on HIP). Not with the routed experts on the host: the ggml scheduler
    then splits every token's graph at each MoE layer between the CUDA and CPU backends, the
    captured graph changes at every split and ggml-cuda stops replaying it after a few
    consecutive updates (its "too many consecutive updates" check), so ops are launched.

    The minimum duration of the small MLA/MoE kernels also looks at ``engine@architecture``:
    an engine's kernels for one GPU generation are not those for the next (TensorRT-LLM 0.21 ran
    DeepSeek-R1's batch-1 step on B200 in half the H200 time, where bytes and FLOPs explain a
    fraction of that; issue 5929)."""
    cls, fam = dep.hw.hw_class, hw_family(dep.hw)
    eng = engine_scopes(dep)
    scopes = {
        "bw_eff": [fam, cls],
        "compute_eff": _asic_generation(dep) + [fam, cls],
        "engine_bw": eng,
        "engine_compute": eng,
        "layer_overhead_s": engine_scopes(dep, by_family=not dep.expert_host),
        "step_overhead_s": eng,
        "dequant_w": _unpack_scopes(dep.weight_precision),
        "dequant_e": _unpack_scopes(dep.expert_precision),
        "comm_eff": [],
        "kv_bw": eng,
        "gemm_m_half_tokens": [fam, cls],
        "moe_m_half_tokens": [fam, cls],
        "lowp_w": [fam, cls],
        "lowp_e": [fam, cls],
        "seq_overhead_s": eng,
        "small_kernel_s": _by_architecture(dep) + eng,
        "prefill_layer_overhead_s": eng,
        "request_overhead_s": engine_lineage(dep),
        "moe_n_half": [fam, cls],
        "attn_compute": [fam, cls],
        "moe_eff": [],
        "link_latency": _ring_link_scope(dep),
    }
    # a profile calibrated on this very device (`calibrate --scope hardware`) comes first; the
    # link latency only where it is fitted at all (ring TP: _ring_link_scope)
    return {name: ([hardware_scope(dep, name)] if name != "link_latency" or lst else []) + lst
            for name, lst in scopes.items()}


# factors that differ by engine on one device (their hardware scope names the engine too)
ENGINE_FACTORS = ("engine_bw", "engine_compute", "layer_overhead_s", "step_overhead_s", "kv_bw",
                  "seq_overhead_s", "small_kernel_s", "prefill_layer_overhead_s", "request_overhead_s")


def hardware_scope(dep: Deployment, name: str) -> str:
    """The scope of factor `name` calibrated on this device alone: ``hw:ID``, with the engine
    (``hw:ID/llama.cpp``) for engine factors and the precision for unpack costs
    (``hw:ID/q4_0``). The bundled profile has none: they come from ``calibrate --scope
    hardware`` on a user's own measurements, so those change no other device's estimate."""
    base = f"{HW_SCOPE_PREFIX}{dep.hw.id}"
    if name in ENGINE_FACTORS:
        return f"{base}/{engine_lineage(dep)[0]}"
    if name in ("dequant_w", "dequant_e"):
        prec = dep.weight_precision if name == "dequant_w" else dep.expert_precision
        return f"{base}/{prec.id}"
    return base


def _ring_link_scope(dep: Deployment) -> list[str]:
    """The hardware id, where the link latency is fitted: a TP group on a ring link (Neuron,
    PCIe-only peers), whose all-reduce steps 2(n-1) times around the ring (perf/collectives.py
    ``collective_latency_s``). None elsewhere
    (switched fabrics, scale-out links, one device, and row-split TP, whose latency term is
    mostly host launches, ``perf/collectives.py row_split_latency_s``): the catalog's figure."""
    lay = dep.layout
    ring = lay.tp > 1 and dep.tp_link.ring_collectives and dep.engine.layout.row_split is None
    return [dep.hw.id] if ring else []


def _asic_generation(dep: Deployment) -> list[str]:
    """The architecture scope of an ASIC's compute efficiency (``aws-neuroncore-v3``,
    ``intel-gaudi3``): an ASIC family shares one vendor compiler across chip generations whose
    matrix engines it drives very differently (optimum-neuron's padded 4,096-token prefill runs at
    ~50% of a Trainium2 chip's peak and ~25% of four Inferentia2 chips'); GPUs keep one
    efficiency per vendor (their kernel libraries' differences sit in the engine factors)."""
    arch = dep.hw.architecture
    return [arch] if dep.hw.hw_class == "asic" and arch else []


def _unpack_scopes(prec: Precision) -> list[str]:
    """The precision's own unpack-cost scope, then that of the format whose kernel it shares
    (``unpack_like``: a GPTQ group-32 checkpoint unpacks as GPTQ's group-128 one)."""
    return [prec.id] + ([prec.unpack_like] if prec.unpack_like else [])


def low_precision_types(dep: Deployment) -> tuple[str, str]:
    """Tensor-core types the dense weights and the routed experts compute in."""
    return dep.linear_compute_type, dep.expert_compute_type


def _native(dep: Deployment, prec: Precision) -> bool:
    """True when the tensor cores consume the format directly (no unpack step)."""
    return prec.kind == "float" and bool(dep.hw.peak_for(list(prec.compute))[0] == prec.compute[0])


def resolve_factors(dep: Deployment, eff: Efficiency) -> tuple[Factors, dict[str, FactorValue]]:
    sc = factor_scopes(dep)
    used: dict[str, FactorValue] = {}
    for name in ("bw_eff", "compute_eff", "engine_bw", "engine_compute", "layer_overhead_s",
                 "step_overhead_s", "comm_eff"):
        used[name] = eff.lookup(name, sc[name])
    for name in ("kv_bw", "gemm_m_half_tokens", "moe_m_half_tokens", "seq_overhead_s",
                 "small_kernel_s", "prefill_layer_overhead_s", "request_overhead_s", "moe_n_half",
                 "attn_compute", "moe_eff", "link_latency"):
        prior, src = REGIME_PRIORS[name]
        used[name] = eff.lookup(name, sc[name], prior=prior, prior_source=src)
    for key, ctype in zip(("lowp_w", "lowp_e"), low_precision_types(dep), strict=True):
        if ctype in LOW_PRECISION_TYPES:
            prior, src = REGIME_PRIORS["lowp_eff"]
            used[key] = eff.lookup("lowp_eff", sc[key], prior=prior, prior_source=src)
        else:
            used[key] = FactorValue("lowp_eff", ctype, 1.0, f"{ctype} path: no low-precision term")
    for key, prec in (("dequant_w", dep.weight_precision), ("dequant_e", dep.expert_precision)):
        if _native(dep, prec):
            used[key] = FactorValue("dequant_ops_per_weight", prec.id, 0.0, NATIVE_SOURCE)
        else:
            used[key] = eff.lookup("dequant_ops_per_weight", sc[key], prior=prec.dequant_ops_per_weight,
                                   prior_source=f"precisions.yaml prior for {prec.id}")
    f = Factors(
        bw_eff=min(1.0, used["bw_eff"].value * used["engine_bw"].value),
        compute_eff=min(1.0, used["compute_eff"].value * used["engine_compute"].value),
        layer_overhead_s=used["layer_overhead_s"].value,
        step_overhead_s=used["step_overhead_s"].value,
        dequant_ops_w=used["dequant_w"].value,
        dequant_ops_e=used["dequant_e"].value,
        comm_eff=used["comm_eff"].value,
        kv_bw=used["kv_bw"].value,
        gemm_m_half_tokens=used["gemm_m_half_tokens"].value,
        moe_m_half_tokens=used["moe_m_half_tokens"].value,
        lowp_eff_w=used["lowp_w"].value,
        lowp_eff_e=used["lowp_e"].value,
        seq_overhead_s=used["seq_overhead_s"].value,
        small_kernel_s=used["small_kernel_s"].value,
        prefill_layer_overhead_s=used["prefill_layer_overhead_s"].value,
        request_overhead_s=used["request_overhead_s"].value,
        moe_n_half=used["moe_n_half"].value,
        attn_compute=used["attn_compute"].value,
        moe_eff=used["moe_eff"].value,
        link_latency=used["link_latency"].value,
    )
    return f, used
