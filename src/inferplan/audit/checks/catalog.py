"""Catalog facts: spec-sheet numbers and ratios against the hardware catalog.

Verdict rules: :mod:`inferplan.audit.checks` (docs/audit.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inferplan.audit.checks.verdict import dedup
from inferplan.audit.registry import AuditContext, CheckParams, CheckResult, register_check
from inferplan.audit.tolerance import (
    within,
)
from inferplan.catalog.hardware import get_hardware
from inferplan.units import TB, fmt_bytes, fmt_num

GIB_PER_GB = 2**30 / 1e9  # a binary "GB" (GiB) in bytes per decimal GB
CAPACITY_FIELDS = ("memory_bytes", "sram_bytes", "host_memory_bytes")
SpecField = Literal["memory_bytes", "memory_bw_bytes_s", "memory_type", "sram_bytes",
                    "sram_bw_bytes_s", "tdp_w", "host_memory_bytes"]


def _fmt_field(name: str, v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if name.endswith("bw_bytes_s"):
        return f"{v / TB:.3g} TB/s"
    if name.endswith("bytes"):
        return fmt_bytes(v)
    if name.endswith("_w"):
        return f"{v:.0f} W"
    return fmt_num(v)


class SpecItem(CheckParams):
    hardware: str
    field: SpecField
    value: float | str


class CatalogSpecParams(CheckParams):
    items: list[SpecItem] = Field(min_length=1)
    rel_tol: float = Field(default=0.02, ge=0, description="rounding of the document's figures")
    variants: dict[str, list[str]] = Field(
        default_factory=dict, description="hardware id -> other catalog ids the document's name could mean")


@register_check("catalog-spec", CatalogSpecParams)
def catalog_spec(p: CatalogSpecParams, ctx: AuditContext) -> CheckResult:
    """Spec-sheet numbers (capacity, bandwidth, memory type) against the hardware catalog."""
    computed: dict[str, float | str | None] = {}
    derivation, sources, conditions = [], [], []
    values: dict[str, list[str]] = {}
    flags = []
    for it in p.items:
        hw = get_hardware(it.hardware)
        have = getattr(hw, it.field)
        binary = False
        if isinstance(it.value, str):
            ok = isinstance(have, str) and it.value.lower() in have.lower()
        else:
            ok = have is not None and within(float(have), it.value, it.value, p.rel_tol)
            # memory is sold in binary sizes: a datasheet's "80 GB" is 80 GiB, which the catalog
            # keeps as real bytes (docs/catalog.md memory_bytes)
            if not ok and have is not None and it.field in CAPACITY_FIELDS:
                binary = ok = within(float(have), it.value * GIB_PER_GB, it.value * GIB_PER_GB, p.rel_tol)
        flags.append(ok)
        computed[f"{hw.id}.{it.field}"] = have
        derivation.append(f"{hw.id} {it.field}: catalog {_fmt_field(it.field, have)}, document "
                          f"{_fmt_field(it.field, it.value)}: {'matches' if ok else 'DIFFERS'}"
                          + (f" (the document's GB are GiB: {float(it.value) / 1e9:g} GiB = "
                             f"{_fmt_field(it.field, float(it.value) * GIB_PER_GB)})" if binary else ""))
        values.setdefault(hw.id, []).append(_fmt_field(it.field, have))
        sources.append(f"hardware {hw.id}: {hw.spec_source}")
    for hw_id, others in p.variants.items():
        fields = sorted({it.field for it in p.items if it.hardware == hw_id and it.field != "memory_type"})
        alts = []
        for o in others:
            ohw = get_hardware(o)
            alts.append(f"{o} " + ", ".join(_fmt_field(f, getattr(ohw, f)) for f in fields))
            sources.append(f"hardware {o}: {ohw.spec_source}")
        conditions.append(f"'{hw_id}' is the part meant: other variants differ ({'; '.join(alts)})")
    return CheckResult(check="catalog-spec", verdict="consistent" if all(flags) else "inconsistent",
                       value="; ".join(f"{h} {' '.join(v)}" for h, v in values.items()),
                       computed=computed, conditions=conditions,
                       derivation=derivation, sources=dedup(sources),
                       tolerance=f"spec-sheet rounding ±{p.rel_tol:.0%}")


class CatalogRatioParams(CheckParams):
    a: str
    b: str
    field: SpecField
    claimed_ratio: float = Field(gt=0)
    rel_tol: float = Field(default=0.03, ge=0)


@register_check("catalog-ratio", CatalogRatioParams)
def catalog_ratio(p: CatalogRatioParams, ctx: AuditContext) -> CheckResult:
    """A ratio of two catalog specs (e.g. '2.4x the memory')."""
    a, b = get_hardware(p.a), get_hardware(p.b)
    va, vb = getattr(a, p.field), getattr(b, p.field)
    ratio = float(va) / float(vb)
    ok = within(ratio, p.claimed_ratio, p.claimed_ratio, p.rel_tol)
    return CheckResult(
        check="catalog-ratio", verdict="consistent" if ok else "inconsistent", value=f"{ratio:.3g}x",
        computed={"ratio": ratio, f"{a.id}.{p.field}": va, f"{b.id}.{p.field}": vb},
        derivation=[f"{a.id} {_fmt_field(p.field, va)} / {b.id} {_fmt_field(p.field, vb)} = "
                    f"{ratio:.3g}x (claimed {p.claimed_ratio:g}x)"],
        sources=[f"hardware {a.id}: {a.spec_source}", f"hardware {b.id}: {b.spec_source}"],
        tolerance=f"rounding ±{p.rel_tol:.0%}",
    )
