"""NPU power: measured active power of the NPU, not the SoC's TDP.

A phone or laptop NPU runs LLM decode at 1-2.5 W on its own rail (Ryzen AI XDNA 2 with
FastFlowLM: 1.17-1.57 W decoding Llama 3.x 1B-8B, 0.86-0.90 W prefilling; 2.05-2.50 W with AMD's
Ryzen AI Software; FastFlowLM docs/benchmarks/llama3_results.md), while the SoC TDP (15-54 W)
budgets the CPU and GPU at full load. The model: while the NPU serves, it draws its measured
``active_power_w`` (catalog, cited per device); the measurement already is a decode-time draw,
so it is not scaled by utilization. Where no measurement is published the class default below
is used and the assumptions say so.
"""

from __future__ import annotations

from inferplan.catalog.schema import HardwareSpec

# Assumed where nothing is measured: the middle of the published NPU-rail decode draws above
# (1.2-2.5 W); flagged as an assumption in every estimate that uses it.
NPU_DEFAULT_ACTIVE_W = 2.0


def npu_active_power_w(hw: HardwareSpec) -> tuple[float, str]:
    """(W per NPU while it runs inference, where the figure comes from)."""
    if hw.active_power_w is not None:
        src = hw.field_sources.get("active_power_w", "catalog")
        return hw.active_power_w, f"measured NPU active power {hw.active_power_w:g} W ({src.split(';')[0]})"
    return NPU_DEFAULT_ACTIVE_W, (f"assumed NPU active power {NPU_DEFAULT_ACTIVE_W:g} W (no measurement "
                                  f"published for {hw.id}; published NPU decode draws are 1.2-2.5 W), not the SoC TDP")
