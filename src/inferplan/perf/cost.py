"""Power and price of devices: the one place watts and dollars are worked out.

Used by ``estimate`` (one deployment at one operating point), the simulator's pools (power at
the simulated load) and the planner (price and peak power of a replica). Formulas in
``docs/metrics.md``:

- power of a device: ``idle + (TDP - idle) x utilization``; idle is the catalog's ``idle_w``
  or, where none is published, ``IDLE_FRACTION_OF_TDP x TDP``;
- $ per second: the hourly price (given, else the catalog's) per device, else the purchase
  price amortized over ``amortization_years`` plus energy at ``usd_per_kwh`` x PUE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from inferplan.catalog.schema import HardwareSpec
from inferplan.perf.deployment import Deployment
from inferplan.units import HOUR_S, KWH_J, YEAR_S

if TYPE_CHECKING:  # pragma: no cover
    from inferplan.perf.estimate import EstimatePlan
    from inferplan.perf.step import Factors

IDLE_FRACTION_OF_TDP = 0.2  # idle power where no measurement is published (assumed; GPUs idle ~10-20%)


class CostAssumptions(BaseModel):
    """How $ figures are computed when a device has no hourly price (all overridable)."""

    model_config = ConfigDict(extra="forbid")
    usd_per_hour: float | None = Field(default=None, gt=0)  # overrides the catalog price per device
    amortization_years: float = Field(default=3.0, gt=0)
    usd_per_kwh: float = Field(default=0.12, ge=0)
    pue: float = Field(default=1.3, ge=1.0)


def idle_power_w(hw: HardwareSpec) -> float | None:
    """Idle watts of one device (catalog ``idle_w``, else the assumed share of TDP); None
    without a TDP."""
    if not hw.tdp_w:
        return None
    return hw.idle_w if hw.idle_w is not None else IDLE_FRACTION_OF_TDP * hw.tdp_w


def device_power_w(hw: HardwareSpec, utilization: float) -> float | None:
    """Watts of one device at `utilization` (0..1, clipped): idle + (TDP - idle) x utilization.
    NPUs: their measured active power while serving, not the SoC's TDP (perf/npu.py)."""
    if hw.hw_class == "npu":
        from inferplan.perf.npu import npu_active_power_w

        return npu_active_power_w(hw)[0]
    idle = idle_power_w(hw)
    if idle is None or not hw.tdp_w:
        return None
    return idle + (hw.tdp_w - idle) * min(1.0, max(0.0, utilization))


def activity(compute_utilization: float, bandwidth_utilization: float, compute_eff: float) -> float:
    """The share of a device's dynamic power (TDP - idle) a step draws, 0..1: its compute
    utilization relative to the compute efficiency calibrated for it (``compute_eff``: the share
    of the datasheet FLOP/s its large GEMMs reach, where the datasheet's boost-clock peak is not
    sustainable within TDP, so a device computing at that share is saturated) plus its bandwidth
    utilization (fraction of peak bytes/s), at most 1. Both datapaths draw power at once: a
    large-batch decode step running its GEMMs at 20% of the peak FLOP/s while streaming at 50% of
    the peak bandwidth draws more than either alone, and a compute-bound prompt more than a
    memory-bound decode step (the maximum of the two raw utilizations made power fall as the
    batch grew). Named assumption: the bundled corpus has no measured power to calibrate it."""
    c = max(0.0, compute_utilization) / max(compute_eff, 1e-3)
    return min(1.0, c + max(0.0, bandwidth_utilization))


def chip_utilization(dep: Deployment, compute_u: float, bandwidth_u: float) -> tuple[float, float]:
    """Utilizations of a step (fractions of the peaks its ``threads`` reach) as fractions of the
    whole chip's: a CPU run on some of its cores uses that share of its compute and of its
    bandwidth (Deployment.core_share, memory_bw_bytes_s), which power is drawn against."""
    hw = dep.hw
    if hw.hw_class != "cpu" or not dep.threads:
        return compute_u, bandwidth_u
    bw_share = dep.memory_bw_bytes_s / hw.usable_bw_bytes_s if hw.usable_bw_bytes_s else 1.0
    return compute_u * dep.core_share, bandwidth_u * min(1.0, bw_share)


def system_power_w(dep: Deployment, replicas_busy: float, busy_activity: float) -> tuple[float | None, str]:
    """Watts of all ``dep.layout.devices``: the busy replicas' devices at ``busy_activity``
    (:func:`activity`, time-weighted over the request's phases), the idle replicas' at idle
    (docs/metrics.md), and the source of the idle figure. None without a power figure."""
    dev, idle = device_power_w(dep.hw, busy_activity), device_power_w(dep.hw, 0.0)
    if dev is None:
        return None, power_source(dep.hw)
    per_replica = dep.layout.replica_devices
    return (replicas_busy * dev + (dep.layout.dp - replicas_busy) * (idle or 0.0)) * per_replica, power_source(dep.hw)


def plan_power_w(plan: EstimatePlan, f: Factors, decode_time_share: float | None) -> tuple[float | None, str]:
    """Watts of an estimate's system and the source of the figure: the busy devices at the
    :func:`activity` of its phases (times the share of a step each pipeline stage works)
    weighted by the time each takes (``decode_time_share`` of
    the device's busy time decoding, the rest on prompts; a one-token request is all prompt),
    plus the host CPU's when it computes routed experts or layers (perf/offload.py, hostlayers.py)."""
    from inferplan.perf.offload import host_power_w

    # a pipeline stage works on its own layers only while a micro-batch is in it: with m
    # micro-batches on pp stages each device is busy min(1, m / pp) of a step (prompts and
    # decode steps alike: perf/layout.micro_batches), idle otherwise
    stage_busy = min(1.0, plan.microbatches / plan.dep.layout.pp)
    act = {k: activity(*chip_utilization(plan.dep, *w.total_utilization(f)), f.compute_eff) * stage_busy
           for k, w in plan.works.items() if k in ("prefill", "decode")}
    share = 0.0 if plan.prompt_only or "decode" not in act else decode_time_share or 0.0
    busy = share * act.get("decode", 0.0) + (1 - share) * act.get("prefill", act.get("decode", 0.0))
    power, src = system_power_w(plan.dep, plan.replicas_busy, busy)
    if (plan.dep.expert_host or plan.dep.host_layers) is not None and power is not None:
        main = plan.works["prefill"] if plan.prompt_only else (plan.works.get("decode") or plan.works["prefill"])
        hp, hsrc = host_power_w(plan.dep, main, f)
        power, src = power + hp, f"{src}; + {hsrc}"
    return power, src


def power_source(hw: HardwareSpec) -> str:
    """Where the idle figure of :func:`device_power_w` comes from."""
    if hw.hw_class == "npu":
        from inferplan.perf.npu import npu_active_power_w

        return npu_active_power_w(hw)[1]
    if not hw.tdp_w:
        return "no TDP in the catalog"
    idle = "catalog idle_w" if hw.idle_w is not None else f"assumed idle = {IDLE_FRACTION_OF_TDP:.0%} of TDP"
    if hw.power_scope == "system":  # Apple's published maximum, single-board computers
        return (f"{idle}; TDP and idle are the whole computer's at the wall ({hw.tdp_w:.0f} W: "
                f"its maximum under full load, published or measured: an upper bound)")
    return idle


def usd_per_device_hour(hw: HardwareSpec, device_power_w: float | None,
                        cost: CostAssumptions) -> tuple[float | None, str]:
    """$ per hour of one device (given price, else the catalog's hourly price, else purchase
    amortized + energy at `device_power_w` x PUE) and where the figure comes from; None when
    the hardware has no price."""
    price = hw.price
    if cost.usd_per_hour is not None:
        return cost.usd_per_hour, f"given ${cost.usd_per_hour}/h per device"
    if price.usd_per_hour is not None:
        return price.usd_per_hour, f"catalog ${price.usd_per_hour}/h per device ({price.source})"
    if price.purchase_usd is not None:
        capex_s = price.purchase_usd / (cost.amortization_years * YEAR_S)
        energy_s = (device_power_w or 0) * cost.pue * cost.usd_per_kwh / KWH_J
        return (capex_s + energy_s) * HOUR_S, (
            f"purchase ${price.purchase_usd:,.0f} over {cost.amortization_years:g} years + power x PUE "
            f"{cost.pue} x ${cost.usd_per_kwh}/kWh ({price.source})")
    return None, ("no price for this hardware (estimate --usd-per-hour, or a price in a --hardware-file "
                  "entry with override: true for every command)")


def usd_per_second(dep: Deployment, power_w: float | None,
                   cost: CostAssumptions) -> tuple[float | None, str]:
    """$ per second of all ``dep.layout.devices`` devices drawing `power_w` watts in all, and
    where the figure comes from (:func:`usd_per_device_hour`); None without a price."""
    n = dep.layout.devices
    usd_h, src = usd_per_device_hour(dep.hw, power_w / n if power_w is not None else None, cost)
    return (n * usd_h / HOUR_S if usd_h is not None else None), src
