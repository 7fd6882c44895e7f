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

from pydantic import BaseModel, ConfigDict, Field

from inferplan.catalog.schema import HardwareSpec
from inferplan.perf.deployment import Deployment
from inferplan.units import HOUR_S, KWH_J, YEAR_S

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


def system_power_w(dep: Deployment, replicas_busy: float,
                   utilization: tuple[float, float]) -> tuple[float | None, str]:
    """Watts of all ``dep.layout.devices``: the busy replicas' devices at the step's (compute,
    bandwidth) utilization, the idle replicas' at idle (docs/metrics.md), and the source of the
    idle figure. None without a power figure for the device."""
    dev, idle = device_power_w(dep.hw, max(utilization)), device_power_w(dep.hw, 0.0)
    if dev is None:
        return None, power_source(dep.hw)
    per_replica = dep.layout.replica_devices
    return (replicas_busy * dev + (dep.layout.dp - replicas_busy) * (idle or 0.0)) * per_replica, power_source(dep.hw)


def power_source(hw: HardwareSpec) -> str:
    """Where the idle figure of :func:`device_power_w` comes from."""
    if hw.hw_class == "npu":
        from inferplan.perf.npu import npu_active_power_w

        return npu_active_power_w(hw)[1]
    if not hw.tdp_w:
        return "no TDP in the catalog"
    return "catalog idle_w" if hw.idle_w is not None else f"assumed idle = {IDLE_FRACTION_OF_TDP:.0%} of TDP"


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
    return None, "no price for this hardware (set --usd-per-hour)"


def usd_per_second(dep: Deployment, power_w: float | None,
                   cost: CostAssumptions) -> tuple[float | None, str]:
    """$ per second of all ``dep.layout.devices`` devices drawing `power_w` watts in all, and
    where the figure comes from (:func:`usd_per_device_hour`); None without a price."""
    n = dep.layout.devices
    usd_h, src = usd_per_device_hour(dep.hw, power_w / n if power_w is not None else None, cost)
    return (n * usd_h / HOUR_S if usd_h is not None else None), src
