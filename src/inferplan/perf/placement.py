"""Placement: which of an engine's layouts a deployment uses (docs/model.md, section 3).

What lives here: the scale-up domain of a device, the layouts an engine's policy allows
(:func:`engine_layouts`), and the choice among them (:func:`choose_layout`: the fewest devices
that fit, or the given devices used the way the engine's docs recommend). The layout type and
its validity rules are in :mod:`inferplan.perf.layout`; memory in :mod:`inferplan.perf.memory`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from inferplan.catalog.schema import EngineSpec, HardwareSpec
from inferplan.errors import InputError, LayoutError
from inferplan.models.spec import ModelSpec
from inferplan.perf.deployment import Deployment
from inferplan.perf.layout import Layout, valid_tps
from inferplan.perf.memory import (
    MemoryBreakdown,
    memory_breakdown,
    weight_bytes_per_device,
    weight_room_bytes,
)
from inferplan.units import fmt_bytes

# Classes that serve one model across a scale-out network (several nodes / systems).
MULTI_NODE_CLASSES = ("gpu", "tpu", "asic", "wafer", "lpu")


def scale_up_domain(hw: HardwareSpec) -> int:
    """Devices one tensor-parallel group may span on `hw`."""
    if hw.hw_class == "wafer":
        return 1  # Cerebras pipelines whole layers across wafers; no tensor parallelism
    if hw.sram_only:
        return 16  # SRAM chips shard each layer over one or two GroqNodes (8 chips each)
    return hw.scale_up.domain_devices if hw.scale_up else 1


def check_replica_devices(engine: EngineSpec, replica_devices: int) -> None:
    """LayoutError when one replica would span more devices than the engine runs on."""
    top = engine.layout.max_devices
    if top is not None and replica_devices > top:
        raise LayoutError(f"{engine.id} runs a model on at most {top} device{'s' if top > 1 else ''} "
                          f"({engine.layout.source or 'engine layout policy'}); a replica of "
                          f"{replica_devices} is not possible (more devices serve as replicas: dp)")


def engine_tps(model: ModelSpec, hw: HardwareSpec, engine: EngineSpec) -> list[int]:
    """Tensor-parallel degrees `engine` can run `model` at on `hw`: :func:`valid_tps` inside the
    scale-up domain, capped by the engine's ``layout.max_tp``, with its head padding."""
    domain = scale_up_domain(hw)
    return valid_tps(model, min(domain, engine.layout.max_tp or domain), engine.pads_attention_heads)


def engine_layouts(model: ModelSpec, hw: HardwareSpec, engine: EngineSpec, pp_min: dict[int, int],
                   devices: int | None = None) -> list[Layout]:
    """The layouts `engine` would run `model` on, per its layout policy (docs/model.md, 3).

    ``pp_min[tp]`` is the fewest pipeline stages whose weights fit at that TP. Policies:

    - ``across_nodes`` (vLLM, SGLang, TensorRT-LLM): TP in powers of two inside the scale-up
      domain, no pipeline (MoE models: also expert parallelism on those devices, with TP or
      with data-parallel attention, where the engine has them); then pipeline stages inside the
      domain at a lower TP (where the KV cache, not the weights, outgrows TP); pipeline stages
      across domains only when the model does not fit one at the largest TP (one per node).
    - ``layer_split`` (llama.cpp ``--split-mode layer``, transformers ``device_map``): no TP; each
      device holds a contiguous share of the layers, used one after another (``pp`` stages, one
      micro-batch in flight) inside one machine.
    - ``native`` (wafers, LPUs): TP inside the domain and as many pipeline stages as needed.
    """
    pol = engine.layout
    domain = scale_up_domain(hw)
    tps = engine_tps(model, hw, engine)
    multi_node = hw.hw_class in MULTI_NODE_CLASSES
    limit = devices or (10**6 if multi_node else domain)
    out: list[Layout] = []
    if pol.pipeline == "layer_split":
        for pp in range(max(1, pp_min.get(1, 1)), min(model.num_layers, domain, limit) + 1):
            out.append(Layout(tp=1, pp=pp))
        return out
    if pol.pipeline == "native":
        extra = 8 if hw.sram_only else 4
        for tp in tps:
            lo = pp_min.get(tp, 1)
            out += [Layout(tp=tp, pp=pp) for pp in range(lo, min(model.num_layers, lo + extra) + 1)
                    if tp * pp <= limit]
        return out
    for tp in tps:
        if pp_min.get(tp, 1) == 1 and tp <= limit:
            out.append(Layout(tp=tp))
    # an MoE model's expert-parallel layouts on as many devices, after the TP one: where the KV
    # cache is what does not fit (MLA's latent KV is whole on every TP rank; few KV heads are
    # replicated past their count), attention data-parallel ranks each hold their own sequences'
    if model.is_moe:
        for tp in (t for t in tps if 2 <= t <= limit):
            out += ([Layout(tp=tp, ep=tp)] if "ep" in pol.moe_options else []) + (
                [Layout(tp=1, ep=tp)] if "attention_dp_ep" in pol.moe_options else [])
    # the devices of a TP layout whose weights fit, as pipeline stages at a lower TP (after the
    # TP and EP layouts): the layers' KV split, where TP would replicate few KV heads or MLA's
    # latent KV; for engines that run such pipelines (LayoutPolicy.pipeline_in_domain), not on
    # TPUs (vLLM's TPU backend has no pipeline)
    sizes = ([t for t in tps if pp_min.get(t, 1) == 1 and t <= limit]
             if hw.hw_class == "gpu" and pol.pipeline_in_domain else [])
    out += [Layout(tp=tp, pp=n // tp) for n in sizes for tp in reversed(tps)
            if tp < n and n % tp == 0 and pp_min.get(tp, 1) <= n // tp <= model.num_layers]
    top = tps[-1]
    lo = pp_min.get(top, 1)
    if multi_node and lo <= model.num_layers:
        out += [Layout(tp=top, pp=pp) for pp in range(max(2, lo), min(model.num_layers, max(2, lo) + 3) + 1)
                if top * pp <= limit]
    return out


def why_not_fits(dep: Deployment, mem: MemoryBreakdown, seqs: float, ctx: float) -> str:
    """Why a deployment does not fit its memory: the weights alone, or the whole breakdown."""
    cap = mem.capacity_bytes
    if mem.weights_bytes > weight_room_bytes(dep):
        lay = dep.layout
        widest = lay.pp >= dep.model.num_layers and lay.tp >= engine_tps(dep.model, dep.hw, dep.engine)[-1]
        # a wider expert spread whose whole experts per chip fit: the layout can still grow
        wider = _expert_spreads(dep.model, lay.stage_devices + 1, dep.expert_bytes_per_elem,
                                weight_room_bytes(dep))
        if widest and dep.hw.sram_only and wider:
            advice = ("spread the experts over more chips per stage (a larger --ep, or leave "
                      "--devices out to let the layout be chosen) or use a smaller precision")
        elif widest:
            advice = (f"even one layer per stage at the widest tensor parallelism {dep.engine.id} "
                      f"uses does not fit: use a smaller precision")
        elif dep.engine.layout.max_devices is not None and lay.replica_devices >= dep.engine.layout.max_devices:
            n = dep.engine.layout.max_devices
            advice = (f"{dep.engine.id} runs a model on at most {n} device{'s' if n > 1 else ''}: use a "
                      "smaller precision or a smaller model")
        else:
            advice = "use more devices or a smaller precision"
        return (f"weights need {fmt_bytes(mem.weights_bytes)} per device but {dep.hw.id} has "
                f"{fmt_bytes(cap)} ({weight_room_bytes(dep) / cap:.0%} usable by {dep.engine.id}) "
                f"with tp={lay.tp}, pp={lay.pp}; {advice}")
    return (f"weights {fmt_bytes(mem.weights_bytes)} + KV cache {fmt_bytes(mem.kv_cache_bytes)} "
            f"({seqs:g} sequences x {ctx:.0f} tokens) + activations {fmt_bytes(mem.activation_bytes)} "
            f"+ reserve {fmt_bytes(mem.reserved_bytes)} exceed {fmt_bytes(cap)} per device")


def needs_memory(dep: Deployment, mode: str, seqs_rep: float, ctx: float,
                 input_len: int) -> MemoryBreakdown:
    """Memory for the mode; offline needs room for at least one sequence."""
    if mode == "offline":
        mem = memory_breakdown(dep, 1, ctx, input_len)
    else:
        mem = memory_breakdown(dep, seqs_rep, ctx, seqs_rep * input_len)
    return mem


def _candidates(model: ModelSpec, hw: HardwareSpec, mode: str, devices: int | None,
                make_dep: Callable[[Layout], Deployment], engine: EngineSpec | None,
                requests: int | None) -> tuple[list[Layout], EngineSpec, float, int]:
    """The engine's layouts in the order :func:`choose_layout` tries them, with the engine, the
    weight room of a device and the engine's largest replica."""
    cap = (hw.sram_bytes if hw.sram_only else hw.memory_bytes) or 0.0
    if cap <= 0:
        raise InputError(f"{hw.id} has no memory capacity in the catalog; set memory_bytes with --hardware-file")
    dep1 = make_dep(Layout())
    eng = engine or dep1.engine
    # lower bound on pp for each tp from the weights alone
    end_bytes = dep1.model.embedding_params * dep1.head_bytes_per_elem
    layer_bytes = weight_bytes_per_device(dep1) - end_bytes * (1 if model.tie_word_embeddings else 2)
    usable = weight_room_bytes(dep1)  # make_dep builds with the engine `eng`
    pp_min: dict[int, int] = {}
    ends_bytes = end_bytes * (1 if model.tie_word_embeddings else 2)
    for tp in valid_tps(model, max(1, scale_up_domain(hw)), eng.pads_attention_heads):
        if hw.sram_only:  # the tables are split over every chip (perf/memory.py)
            pp_min[tp] = max(1, math.ceil((layer_bytes + ends_bytes) / tp / usable))
            continue
        room = usable - end_bytes / tp  # embedding (first stage) or LM head (last stage)
        pp_min[tp] = max(1, math.ceil(layer_bytes / tp / room)) if room > 0 else model.num_layers + 1
    top = eng.layout.max_devices or 10**9
    cands = [c for c in engine_layouts(model, hw, eng, pp_min, devices) if c.replica_devices <= top]
    if devices is not None:
        cands = [c for c in cands if devices % c.replica_devices == 0]
        if mode == "offline":  # throughput: small replicas, no more than the run can fill
            cands.sort(key=lambda c: (bool(requests) and devices // c.replica_devices > (requests or 0),
                                      c.replica_devices, c.pp))
        else:
            cands.sort(key=lambda c: (-c.tp, c.pp))
    else:
        cands.sort(key=lambda c: (c.replica_devices, c.pp))
    return cands, eng, usable, top


def offline_layouts(model: ModelSpec, hw: HardwareSpec, devices: int,
                    make_dep: Callable[[Layout], Deployment], ctx: float, input_len: int,
                    engine: EngineSpec | None = None, requests: int | None = None) -> list[Layout]:
    """Every layout of the engine's policy on exactly `devices` devices whose replica holds one
    sequence of `ctx` tokens, with its replica count, in :func:`choose_layout`'s order (smallest
    replicas first, none with more replicas than a run of `requests` keeps busy before those
    that have): the choices an offline run on given devices ranks by throughput."""
    cands, _, _, _ = _candidates(model, hw, "offline", devices, make_dep, engine, requests)
    out = []
    for c in cands:
        lay = Layout(tp=c.tp, pp=c.pp, ep=c.ep, dp=devices // c.replica_devices)
        try:
            if needs_memory(make_dep(lay), "offline", 1, ctx, input_len).fits:
                out.append(lay)
        except LayoutError:
            continue
    return out


def choose_layout(model: ModelSpec, hw: HardwareSpec, mode: str, devices: int | None,
                  make_dep: Callable[[Layout], Deployment], seqs: int, ctx: float, input_len: int,
                  engine: EngineSpec | None = None, requests: int | None = None) -> tuple[Layout, str]:
    """The layout the engine's docs recommend (see docs/model.md, 'Layout').

    devices=None: the fewest devices that fit among the engine's layouts (TP in powers of two
    inside the scale-up domain; pipeline stages only across domains, or layer split for
    llama.cpp). devices=N: batch/concurrency maximize TP (latency), offline uses the smallest
    model group that fits and replicates it (throughput), but no more replicas than a run of
    ``requests`` keeps busy (one request on 8 GPUs runs at TP8, not on one of 4 TP2 replicas);
    :func:`offline_layouts` lists every such layout, which the estimate ranks by throughput;
    when no such layout fits, all N devices form one replica (pipelined if TP cannot use them all).
    """
    cands, eng, usable, top = _candidates(model, hw, mode, devices, make_dep, engine, requests)
    policy = eng.layout.pipeline
    for lay in cands:
        dp = devices // lay.replica_devices if devices else 1
        lay = Layout(tp=lay.tp, pp=lay.pp, ep=lay.ep, dp=dp)
        if needs_memory(make_dep(lay), mode, seqs / dp, ctx, input_len).fits:
            how = "fewest devices that fit" if devices is None else f"{devices} devices given"
            ep = (f", ep={lay.ep}" + (" with data-parallel attention" if lay.attn_dp > 1 else "")
                  if lay.ep > 1 else "")
            return lay, f"auto ({how}, {eng.id} {policy} layout: tp={lay.tp}, pp={lay.pp}{ep}, dp={lay.dp})"
    if hw.sram_only and model.is_moe:
        found = _sram_expert_layout(model, hw, eng, make_dep, usable, mode, seqs, ctx, input_len, devices)
        if found is not None:
            dp = devices // found.replica_devices if devices else 1
            how = "fewest devices that fit" if devices is None else f"{devices} devices given"
            return Layout(tp=found.tp, ep=found.ep, pp=found.pp, dp=dp), (
                f"auto ({how}, {eng.id} {policy} layout with expert parallelism: tp={found.tp}, "
                f"ep={found.ep}, pp={found.pp}, dp={dp})")
    # nothing the engine recommends fits: put every given device into one replica (pipelined
    # if TP cannot use them all: the most memory one copy can get; also where offload starts)
    if devices and devices <= top:
        tps = [t for t in engine_tps(model, hw, eng) if devices % t == 0] or [1]
        whole = [Layout(tp=t, pp=devices // t) for t in sorted(tps, reverse=True)
                 if devices // t <= model.num_layers]
        for lay in whole:  # the most TP that fits, pipelining the rest of the given devices
            if needs_memory(make_dep(lay), mode, seqs, ctx, input_len).fits:
                return lay, (f"auto (all {devices} devices in one replica: tp={lay.tp}, pp={lay.pp}; "
                             f"no {policy} layout of {eng.id} fits)")
        if whole:
            lay = whole[0]
            return lay, (f"auto (nothing fits; all {devices} devices in one replica: tp={lay.tp}, "
                         f"pp={lay.pp})")
    if cands:
        lay = max(cands, key=lambda c: (c.replica_devices, c.tp))
    elif policy == "native":  # not even one layer per stage fits: show that layout
        lay = Layout(tp=engine_tps(model, hw, eng)[-1], pp=model.num_layers)
    else:
        lay = Layout()
    dp = max(1, devices // lay.replica_devices) if devices else 1
    return Layout(tp=lay.tp, pp=lay.pp, dp=dp), "auto (nothing fits; largest layout tried)"


def _sram_expert_layout(model: ModelSpec, hw: HardwareSpec, eng: EngineSpec,
                        make_dep: Callable[[Layout], Deployment], usable: float, mode: str,
                        seqs: int, ctx: float, input_len: int, devices: int | None = None) -> Layout | None:
    """An expert-parallel layout of SRAM chips for a mixture-of-experts model whose layers do not
    fit even one per stage at the widest tensor parallelism: each stage spreads its routed experts
    over ``ep`` chips (whole experts per chip, attention data-parallel over ``ep / tp`` groups,
    perf/layout.py), ``ep`` a power of two from twice the widest TP up to the expert count, never
    so few chips that one chip's whole experts outgrow it. Expert parallelism is the usual way to
    spread a MoE layer wider than its tensor parallelism (GShard, Lepikhin et al. 2020); for SRAM
    machines it is an assumption (no vendor documents its MoE placement).

    devices=None: the fewest chips. devices=N: a replica size dividing N, the fewest stages
    first (a token crosses fewer hops), then the fewest chips. None when no such layout fits."""
    tps = engine_tps(model, hw, eng)
    top = tps[-1] if tps else 1

    def rank(lay: Layout) -> tuple[int, int]:
        return (lay.pp, lay.replica_devices) if devices else (lay.replica_devices, lay.pp)

    best: Layout | None = None
    for ep in _expert_spreads(model, 2 * top, make_dep(Layout()).expert_bytes_per_elem, usable):
        try:
            whole = weight_bytes_per_device(make_dep(Layout(tp=top, ep=ep)))  # every layer, one stage
        except LayoutError:
            continue
        lo = max(1, math.ceil(whole / usable))
        for pp in range(lo, model.num_layers + 1 if devices else min(model.num_layers, lo + 8) + 1):
            lay = Layout(tp=top, ep=ep, pp=pp)
            if devices is not None and devices % lay.replica_devices:
                continue
            if best is not None and rank(lay) >= rank(best):
                break
            try:
                fits = needs_memory(make_dep(lay), mode, seqs / (devices // lay.replica_devices if devices else 1),
                                    ctx, input_len).fits
            except LayoutError:
                break
            if fits:
                best = lay
                break
    return best


def _expert_spreads(model: ModelSpec, first: int, expert_bytes_per_elem: float, room: float) -> list[int]:
    """Expert-parallel degrees worth trying on SRAM chips: the powers of two from `first` (at
    least) up to the model's expert count whose whole experts per chip (ceil(E / ep) of the
    largest) fit in `room` bytes. Empty for a dense model."""
    moe = [g.ffn for g in model.groups if g.ffn.kind == "moe"]
    experts = max((f.num_experts for f in moe), default=0)
    expert_bytes = max((f.expert_params for f in moe), default=0) * expert_bytes_per_elem
    out, ep = [], 2
    while ep < first:
        ep *= 2
    while ep <= experts:
        if -(-experts // ep) * expert_bytes < room:
            out.append(ep)
        ep *= 2
    return out
