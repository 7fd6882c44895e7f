"""The bandwidth a layer's cores reach on an SRAM-only device (wafer-scale, LPU): the SRAM
sweep of :mod:`inferplan.perf.wafer`, kept apart so that ``deployment.py`` can use it without
importing the wafer pipeline model (which builds on the memory model, which needs deployments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.perf.deployment import Deployment


def layer_bytes_per_device(dep: Deployment) -> float:
    """Mean bytes of one layer's weights on one device (its tensor-parallel share)."""
    total = sum(g.layers * (g.dense_elems_dev * dep.weight_bytes_per_elem
                            + g.expert_elems_dev * dep.expert_bytes_per_elem) for g in dep.groups)
    return total / max(dep.model.num_layers, 1)


def sram_stream_bw_bytes_s(dep: Deployment, bw_bytes_s: float) -> float:
    """Bandwidth a layer's cores reach on an SRAM-only device (see module docstring), bytes/s:
    the device's SRAM bandwidth times the share of its SRAM one layer occupies (<= 1)."""
    cap = dep.hw.sram_bytes or dep.hw.memory_bytes or 0.0
    if cap <= 0:
        return bw_bytes_s
    return bw_bytes_s * min(1.0, layer_bytes_per_device(dep) / cap)
