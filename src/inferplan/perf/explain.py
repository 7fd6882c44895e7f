"""The one-line ``why`` of an estimate: what limits it on this hardware, with the numbers
behind it (bytes per step, link, launch overheads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from inferplan.units import fmt_layout

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.perf.estimate import EstimatePlan


def explain(plan: EstimatePlan, bound: dict[str, str | None]) -> str:
    """One line saying what limits decode on this hardware, with the numbers behind it.

    Bytes are per device: a step's traffic summed over the replica's layers is shared by its
    ``pp`` stages (each device reads its stage's layers, the stages run one after another for
    a token) and already split ``tp`` ways inside a stage."""
    dep, lay = plan.dep, plan.dep.layout
    bound = {"prefill": bound.get("prefill")} if plan.prompt_only else bound
    d = bound.get("decode") or bound.get("prefill")
    par = fmt_layout(lay.tp, lay.pp, lay.ep) + (f" x{lay.dp} replicas" if lay.dp > 1 else "")
    if lay.pp > 1:
        mb = plan.microbatches
        par += (f": {lay.pp} pipeline stages of {lay.stage_devices} device"
                f"{'s' if lay.stage_devices > 1 else ''}, "
                + ("one micro-batch in flight" if mb <= 1 else f"{mb} micro-batches in flight"))
    work = plan.works.get("decode") if bound.get("decode") else plan.works.get("prefill")
    t_reads = float(work.t_memory.sum()) if work is not None else 0.0  # the step's reads at peak
    gb_step = t_reads * dep.memory_bw_bytes_s / 1e9
    gb_dev = gb_step / lay.pp  # each device reads only its stage's share
    if d == "memory":
        bw, step = dep.memory_bw_bytes_s / 1e12, ("decode" if bound.get("decode") else "prompt")
        where = "per device" if lay.pp == 1 else f"per device ({gb_step:.3g} GB over the {lay.pp} stages)"
        return (f"memory-bound: each {step} step reads {gb_dev:.3g} GB {where} at "
                f"{bw:.3g} TB/s peak ({par})")
    if d == "compute":
        what = (f"the prompt's {plan.input_len:,} tokens per sequence" if bound.get("decode") is None
                else f"batch {plan.batch} decode GEMMs outlast the weight reads (calibrated GEMM efficiency)")
        t_flops = float(work.t_compute.sum()) if work is not None else 0.0
        if work is not None and bound.get("decode") and t_flops < t_reads:
            # at the peaks the reads would bound it: the calibrated compute efficiency does (the
            # small-M GEMM term on TPU MXUs, compute_eff and unpacking on CPUs)
            what = (f"batch {plan.batch} decode GEMMs at their calibrated efficiency (at peak FLOP/s "
                    f"they would take {t_flops * 1e3:.3g} ms, the step's reads at "
                    f"peak bandwidth {t_reads * 1e3:.3g} ms)")
        return f"compute-bound: {what} ({dep.linear_compute_type}, {par})"
    if d == "communication":
        return f"communication-bound: TP/EP/PP traffic over {dep.tp_link.name} ({par})"
    if d == "offload" and dep.expert_host is not None:  # routed experts on the host CPU
        from inferplan.perf.offload import host_expert_work

        h = dep.expert_host
        b = max(plan.seqs_per_replica / max(plan.microbatches, 1), 1.0)
        gb_host = float(host_expert_work(dep, np.array(b)).host_memory_s) * h.bw_bytes_s * h.bw_eff / 1e9
        return (f"host-memory-bound: each decode step reads {gb_host:.3g} GB of active routed experts "
                f"from {h.cpu.id} DRAM at {h.bw_bytes_s / 1e9:.0f} GB/s peak (x{h.bw_eff:.2f} reached); "
                f"attention, shared experts{' and the other layers experts' if h.share < 1 else ''} "
                f"on {dep.hw.id} ({par})")
    if d == "offload" and dep.host_layers is not None:  # llama.cpp -ngl: layers on the host CPU
        from inferplan.perf.step import step_work

        hl = dep.host_layers
        b = max(plan.seqs_per_replica / max(plan.microbatches, 1), 1.0)
        if bool(hl.streamed(b)):
            return (f"offload-bound: a decode batch of {b:.0f} (>= {hl.stream_min_tokens:.0f} tokens) "
                    f"copies the {hl.host_weight_bytes / 1e9:.3g} GB of host-resident layers to "
                    f"{dep.hw.id} over {hl.link.name} every step (llama.cpp op offload; {par})")
        ctx = plan.input_len + plan.output_len / 2
        host_read = float(np.sum(step_work(hl.dep, b, ctx).t_memory)) * hl.dep.memory_bw_bytes_s * hl.share
        return (f"host-memory-bound: each decode step reads {host_read / 1e9:.3g} GB of the "
                f"{hl.layers} host-resident layers (weights touched and KV) from {hl.cpu.id} DRAM at "
                f"{hl.dep.memory_bw_bytes_s / 1e9:.0f} GB/s peak (x{hl.f.bw_eff:.2f} reached), the "
                f"other layers on {dep.hw.id} ({par})")
    if d == "offload":
        return f"offload-bound: streams host-resident bytes over {dep.host_link.name} every step ({par})"
    if d == "overhead":
        return (f"overhead-bound: {dep.model.num_layers} layers x {dep.engine.id} per-layer launch/"
                f"sync cost exceed the {gb_dev:.3g} GB/step read time per device ({par})")
    return par
