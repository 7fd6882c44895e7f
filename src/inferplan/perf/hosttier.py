"""The host tier of one step: what crosses the host link, what the host CPU computes, and the
share of the layer ops left to the device (``--offload``: perf/offload.py, perf/hostlayers.py).

Kept apart from both so that ``perf.step`` reads the host tier through the deployment's own
objects (``ExpertHost.work``, ``HostLayers.parts``) without importing the modules that build
them (they resolve factors, which import ``perf.step``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.perf.deployment import Deployment
    from inferplan.perf.step import StepWork


def host_tier_s(dep: Deployment, tokens: np.ndarray, b: Any, c: Any, p: Any, s: Any, c0: Any,
                zero: np.ndarray) -> tuple[Any, Any, Any, Any]:
    """(offload s, host s, device share of the layer ops, device share of the LM head) of one
    step's host tier.

    Offloaded weights cross the host link every step (vLLM ``cpu_offload_gb``); offloaded KV
    crosses it for every token attended to (LMCache-style KV offload); routed experts on the
    host CPU take the host path of :func:`host_expert_work`; llama.cpp's host-resident layers
    (``-ngl``) take perf/hostlayers.py's paths and leave the device its share of the layers."""
    if dep.host_layers is not None:
        return dep.host_layers.parts(tokens, b, c, p, s, c0, dep.act_bytes, dep.model.hidden_size)
    lay = dep.layout
    offload_s = zero
    if dep.offload_weight_bytes or dep.offload_kv_fraction:
        kv_host = sum(g.layers * g.kv_elems_dev * dep.kv_bytes_per_elem for g in dep.groups) * (
            (b * c + s * c0) / lay.attn_dp) * dep.offload_kv_fraction
        offload_s = (dep.offload_weight_bytes * lay.pp + kv_host) / dep.host_link.bw_bytes_s + zero
    host_s = zero
    if dep.expert_host is not None:
        host_s = dep.expert_host.work(dep, tokens).time_s + zero
    return offload_s, host_s, 1.0, 1.0


def device_share(work: StepWork, share: Any, head: Any = 1.0) -> StepWork:
    """`work` with every layer op, and the per-layer launch and kernel counts, scaled to the
    device's `share` of the layers (llama.cpp -ngl: the host runs the rest), and the LM head to
    `head` (0 in the steps whose host part the host computes, the head with it; 1 in those that
    copy the host's weights to the device). Both have the step composition's shape."""
    layer = np.array([k != "head" for k in work.op_kinds]).reshape((-1,) + (1,) * np.ndim(share))
    rows = np.where(layer, share, head)
    return replace(work, t_compute=work.t_compute * rows, t_memory=work.t_memory * rows,
                   t_unpack_w=work.t_unpack_w * rows, t_unpack_e=work.t_unpack_e * rows,
                   layers=work.layers * share, small_kernels=work.small_kernels * share,
                   prefill_layers=work.prefill_layers * share)
