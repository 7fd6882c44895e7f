"""Wafer-scale (Cerebras CS-3) and SRAM-chip (Groq LPU) machines as layer pipelines.

Weights live in on-chip SRAM, so a model is split by layers over as many wafers (44 GB each) or
LPU chips (230 MB each; Groq also shards a layer over up to 16 chips) as its bytes need. A token
of one user visits every stage in turn:

    per-token time = sum over stages (layers in stage x SRAM sweep time + compute)
                     + (stages - 1) x (activation bytes / link bandwidth + link latency)
                     + per-token serving overhead

**SRAM sweep.** Weights are packed densely into the cores' local SRAM; a layer is computed by
the cores that hold it, each streaming its whole local SRAM once. A layer therefore takes
``SRAM per core / SRAM bandwidth per core = SRAM capacity / SRAM bandwidth`` whatever its size:
44 GB / 21 PB/s = 2.1 us on a WSE-3, 230 MB / 80 TB/s = 2.9 us on a Groq chip. In the step cost
(perf/step.py: memory time = bytes / bandwidth) this is the bandwidth the layer's cores reach,
``bandwidth x layer bytes on the device / SRAM capacity`` (:func:`sram_stream_bw_bytes_s`).
A batch of users in flight shares each sweep (the weights are read once per step).

The stage-by-stage view, the wafers or chips the model needs and the system's price and power
are in :func:`pipeline_report`; the numbers come from the same StepWork as the estimate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from inferplan.perf.sram import layer_bytes_per_device, sram_stream_bw_bytes_s  # noqa: F401 - public here too

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.perf.estimate import EstimatePlan
    from inferplan.perf.step import Factors

# Vendor per-user decode speeds quoted in issue 12 (Cerebras Inference, Llama 3.1, 16-bit
# weights). Only the 8B and 405B figures are rows of shared/calibration/published.csv (p164,
# p166); the 70B figure is the Oct-2024 update (the Aug-2024 launch quoted 450 tok/s).
CEREBRAS_VENDOR_TOK_S = {"llama-3.1-8b": 1800.0, "llama-3.1-70b": 2100.0, "llama-3.1-405b": 969.0}


class PipelineReport(BaseModel):
    """One replica of an SRAM machine as a pipeline of stages (per-user view, seconds)."""

    device_kind: str = Field(description="wafer (CS-3) or chip (LPU)")
    devices: int = Field(description="devices in the replica (stages x devices per stage)")
    devices_for_weights: int = Field(description="fewest devices whose usable SRAM holds the weights")
    stages: int
    devices_per_stage: int
    layers_per_stage: float
    sram_sweep_per_layer_s: float = Field(description="SRAM capacity / SRAM bandwidth, after bw_eff")
    stage_time_s: float = Field(description="one stage: its layers' sweeps, compute and per-layer costs")
    hop_time_s: float = Field(description="one inter-stage hop: activation / link bandwidth + latency")
    hops: int
    token_overhead_s: float = Field(description="per-token serving cost (sampling, token I/O)")
    per_token_s: float
    per_user_tok_s: float
    link: str
    system_power_w: float | None = Field(description="devices x TDP (catalog), null if unpublished")
    system_price_usd: float | None = Field(description="devices x purchase price, null if unpublished")
    sources: dict[str, str] = {}


def pipeline_report(plan: EstimatePlan, f: Factors) -> PipelineReport | None:
    """The decode step of `plan` as a pipeline, or None for devices that are not SRAM-only."""
    dep = plan.dep
    hw = dep.hw
    if not hw.sram_only:
        return None
    work = plan.works.get("decode") or plan.works.get("prefill")
    if work is None:
        return None
    lay = dep.layout
    per_token = float(np.sum(work.time_s(f)))
    hops = lay.pp - 1
    pp_link = dep.pp_link
    act = dep.model.hidden_size * dep.act_bytes * max(plan.seqs_per_replica / max(plan.microbatches, 1), 1.0)
    hop = act / pp_link.bw_bytes_s / f.comm_eff + pp_link.latency_s * f.link_latency if hops else 0.0
    overhead = f.step_overhead_s
    from dataclasses import replace

    from inferplan.perf.layout import Layout
    from inferplan.perf.memory import capacity_bytes, weight_bytes_per_device, weight_room_bytes

    cap, usable = capacity_bytes(dep), weight_room_bytes(dep)  # SRAM on an SRAM-only device

    weights_total = weight_bytes_per_device(replace(dep, layout=Layout()))  # the whole model
    sweep = cap / hw.memory_bw_bytes_s / f.bw_eff
    stage = (per_token - overhead - hops * hop) / max(lay.pp, 1)
    n = lay.replica_devices
    price = hw.price.purchase_usd
    kind = "wafer" if hw.hw_class == "wafer" else "chip"
    return PipelineReport(
        device_kind=kind, devices=n,
        devices_for_weights=max(1, math.ceil(weights_total / usable)) if usable > 0 else n,
        stages=lay.pp, devices_per_stage=lay.stage_devices,
        layers_per_stage=dep.model.num_layers / lay.pp, sram_sweep_per_layer_s=sweep,
        stage_time_s=stage, hop_time_s=hop, hops=hops, token_overhead_s=overhead,
        per_token_s=per_token, per_user_tok_s=1 / per_token if per_token > 0 else math.inf,
        link=pp_link.name,
        system_power_w=n * hw.tdp_w if hw.tdp_w else None,
        system_price_usd=n * price if price else None,
        sources={"power": "TDP per device (catalog)" if hw.tdp_w else "no published power",
                 "price": hw.price.source or "no published price"},
    )


def explain_pipeline(p: PipelineReport, prompts_between: bool = False) -> str:
    """One line: where a token's time goes in the pipeline (``prompts_between``: other clients'
    prompts run between the decode steps, so the TPOT is slower than the step)."""
    us = 1e6
    hops = f" + {p.hops} hops x {p.hop_time_s * us:.3g} us ({p.link})" if p.hops else ""
    return (f"pipeline of {p.stages} stage(s) x {p.devices_per_stage} {p.device_kind}(s): per token "
            f"{p.stages} x {p.stage_time_s * us:.3g} us (layers x {p.sram_sweep_per_layer_s * us:.2g} us "
            f"SRAM sweep + compute){hops} + {p.token_overhead_s * us:.3g} us serving overhead "
            f"= {p.per_token_s * us:.4g} us a decode step -> {p.per_user_tok_s:.4g} tok/s per user"
            + (" while no prompt runs (the other clients' prompts between steps slow the TPOT)"
               if prompts_between else ""))
