"""Build the bundled hardware catalog from the reference sheet plus a hand-written overlay.

    python tools/build_hardware_catalog.py [CSV] [--overlay FILE] [--out DIR]

Reads ``../shared/reference/hardware.csv`` (one row per device, every number cited) and
``tools/hardware_overlay.yaml`` (what the sheet has only in its notes or not at all: aliases,
derived CPU peaks, links, host memory, purchase prices, engines; each with a source or a stated
assumption), validates every entry against ``HardwareSpec`` and writes one YAML file per vendor or
class group into ``src/inferplan/catalog/data/hardware/``. The output is committed, so the package
works without ``shared/``; ``tests/catalog/test_hardware.py`` checks that regenerating reproduces it.

Unit conversions (the sheet's units are in its README): TB/s x 1e12 -> bytes/s, vendor GB x 1e9 ->
bytes (unless the overlay gives the device's real bytes), MB x 1e6 -> bytes, TFLOPS/TOPS x 1e12 -> ops/s, GB/s x 1e9 -> bytes/s.

Rules applied here rather than written out per entry (each recorded in the entry's
``field_sources``):
- GPUs: ``peak_flops.fp16`` = the bf16 tensor rate (both run on the tensor cores with FP32
  accumulate; the sheet's notes give the FP16-accumulate rate separately where it differs).
- GPUs, SoCs, CPUs: ``vector_flops`` = the fp32 peak (CUDA-core / SIMD rate) unless the overlay
  gives one.
- ``default_engine`` from the overlay's per-class defaults unless the entry names one.
- ``architecture`` from the overlay's ``defaults.architecture`` table (GPUs).
The overlay may only add to a row: a value the sheet already has is an error, except for links
(the overlay may replace a sheet's raw PCIe rate by an effective one), prices, and capacities:
the sheet's ``memory_gb`` is the vendor's marketing figure, and memory comes in binary sizes
(H100 SXM "80 GB" is 81,559 MiB = 85.5e9 bytes in nvidia-smi), so the overlay gives the real
bytes with a source (checked to be a GB -> GiB correction, not a different number).
"""

from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from inferplan.catalog.schema import HardwareSpec, Link  # noqa: E402

DEFAULT_CSV = REPO.parent / "shared" / "reference" / "hardware.csv"
DEFAULT_OVERLAY = REPO / "tools" / "hardware_overlay.yaml"
DEFAULT_OUT = REPO / "src" / "inferplan" / "catalog" / "data" / "hardware"

TB, GB, MB, TERA = Decimal("1e12"), Decimal("1e9"), Decimal("1e6"), Decimal("1e12")
PEAK_COLUMNS = {  # sheet column -> peak_flops key
    "fp32_tflops": "fp32",
    "bf16_tflops_dense": "bf16",
    "fp8_tflops_dense": "fp8",
    "int8_tops_dense": "int8",
    "fp4_tflops_dense": "fp4",
}
PEAK_ORDER = ("fp32", "fp16", "bf16", "fp8", "int8", "fp4")
# Overlay keys that must come with a ``sources`` entry (links and prices carry their own source).
CITED_KEYS = (
    "aliases",
    "memory_bytes",
    "memory_bw_reachable_bytes_s",
    "sram_only",
    "peak_flops",
    "peak_flops_derived",
    "vector_flops",
    "fp16_acc16_flops",
    "host_memory_bytes",
    "default_engine",
    "active_power_w",
    "tdp_w",
    "idle_w",
    "power_scope",
    "performance_cores",
    "performance_peak_share",
    "tp_ranks",
    "matrix_unit_rows",
)
LINK_KEYS = ("scale_up", "node_link", "scale_out", "host_link")
MOBILE_VENDORS = {"Qualcomm", "Google", "Raspberry Pi"}
DATAFLOW_VENDORS = {"Cerebras", "Groq", "SambaNova"}


class BuildError(Exception):
    """The sheet or the overlay is inconsistent; the message names the id and the field."""


def group_of(row: dict[str, str]) -> str:
    """Output file (without .yaml) for a sheet row: by class first, then by vendor."""
    cls, vendor, id_ = row["class"], row["vendor"], row["catalog_id"]
    if cls == "npu":
        return "npu"
    if cls == "tpu":
        return "tpu"
    if vendor == "AWS":
        return "aws"
    if vendor in DATAFLOW_VENDORS:
        return "dataflow"
    if cls == "cpu" and (vendor in MOBILE_VENDORS or id_ == "apple-a19-pro-cpu"):
        return "mobile"
    if vendor == "Apple":
        return "apple"
    if cls == "cpu":
        return "cpu"
    if cls == "soc":
        return "soc"
    if cls == "gpu" and vendor in ("NVIDIA", "AMD"):
        return vendor.lower()
    if vendor == "Intel":
        return "intel"
    raise BuildError(f"{id_}: no output group for class {cls!r}, vendor {vendor!r}")


def _num(cell: str, scale: Decimal) -> float | None:
    """Sheet cell times a unit scale, exact in decimal (0.23 GB -> 230000000.0 bytes)."""
    cell = cell.strip()
    return float(Decimal(cell) * scale) if cell else None


def _int(cell: str) -> int | None:
    cell = cell.strip()
    return int(cell) if cell else None


def _csv_link(row: dict[str, str]) -> dict[str, Any]:
    """Scale-up link fields the sheet gives (name, per-direction bandwidth, domain size)."""
    link: dict[str, Any] = {}
    name = row["scale_up_interconnect"].strip()
    if name and not name.lower().startswith("none"):
        link["name"] = name
    bw = _num(row["scale_up_bw_gb_s_per_device_unidirectional"], GB)
    if bw:
        link["bw_bytes_s"] = bw
    domain = _int(row["max_scale_up_devices"])
    if domain:
        link["domain_devices"] = domain
    return link


def _link(id_: str, field: str, sheet: dict[str, Any], given: Any) -> dict[str, Any] | None:
    """Merge the overlay's link onto what the sheet says; the source names what came from where."""
    if given is None:
        return None
    given = copy.deepcopy(given)
    if not isinstance(given, dict) or not given.get("source"):
        raise BuildError(f"{id_}: overlay {field} must be a mapping with a non-empty source")
    from_sheet = [
        k for k in ("name", "bw_bytes_s", "domain_devices") if k in sheet and k not in given
    ]
    merged = {**sheet, **given}
    if from_sheet:
        merged["source"] = f"hardware.csv: {', '.join(from_sheet)}; {given['source']}"
    try:
        Link.model_validate(merged, strict=True)
    except Exception as e:  # pydantic.ValidationError; keep the message short
        raise BuildError(f"{id_}: {field}: {e}") from e
    return merged


def build_entry(row: dict[str, str], overlay: dict[str, Any], defaults: dict[str, Any]) -> dict:
    """One catalog entry (plain dict, schema field order) from a sheet row and its overlay."""
    id_ = row["catalog_id"]
    ov = copy.deepcopy(overlay.get(id_) or {})
    sources: dict[str, str] = dict(ov.pop("sources", None) or {})
    for key in CITED_KEYS:
        if key in ov and not sources.get(key):
            raise BuildError(f"{id_}: overlay sets {key} without a sources.{key} entry")

    cls = row["class"]
    peaks: dict[str, float] = {}
    for col, key in PEAK_COLUMNS.items():
        value = _num(row[col], TERA)
        if value is not None:
            peaks[key] = value
    for key, value in (ov.pop("peak_flops", None) or {}).items():
        if key in peaks:
            raise BuildError(f"{id_}: overlay peak_flops.{key} would replace the sheet's value")
        peaks[key] = value
    if cls == "gpu" and "bf16" in peaks and "fp16" not in peaks:
        peaks["fp16"] = peaks["bf16"]
        sources["peak_flops.fp16"] = (
            "= bf16 tensor rate (FP16 and BF16 run at the same rate with FP32 accumulate on "
            "tensor-core GPUs; the sheet's notes give any FP16-accumulate rate separately)"
        )
    peaks = {k: peaks[k] for k in PEAK_ORDER if k in peaks}
    vector = ov.pop("vector_flops", None)
    if vector is None and cls in ("gpu", "soc", "cpu") and "fp32" in peaks:
        vector = peaks["fp32"]
        sources["vector_flops"] = "= fp32 peak (CUDA-core / SIMD rate)"

    sheet_values: dict[str, Any] = {
        "memory_bytes": _num(row["memory_gb"], GB),
        "sram_bytes": _num(row["onchip_sram_mb"], MB),
        "sram_bw_bytes_s": _num(row["onchip_sram_bw_tb_s"], TB),
    }
    for key, value in sheet_values.items():
        if key in ov and value is not None:
            if key != "memory_bytes":
                raise BuildError(f"{id_}: overlay {key} would replace the sheet's value")
            # The sheet's capacity is the vendor's marketing figure read as 1e9 bytes; HBM,
            # GDDR and DRAM come in binary sizes, so the overlay gives the real bytes (driver
            # total or GiB). Accept only a unit correction: within GB .. GiB (x1.074) +- 5%.
            real = float(ov["memory_bytes"])
            if not 0.95 * value <= real <= 1.13 * value:
                raise BuildError(f"{id_}: overlay memory_bytes {real:.4g} is not a GB->GiB "
                                 f"correction of the sheet's {value:.4g}")
            sheet_values[key] = None
            sources["memory_bytes"] = f"{sources['memory_bytes']} (sheet: {row['memory_gb']} GB)"

    arch = next((a for a, ids in defaults.get("architecture", {}).items() if id_ in ids), None)
    if arch is not None:
        sources["architecture"] = defaults["architecture_source"]

    engine = ov.pop("default_engine", None)
    if engine is None:
        engine = defaults["default_engine"][cls]
        sources["default_engine"] = defaults["default_engine_source"]

    price: dict[str, Any] = {}
    usd_h = _num(row["typical_cloud_usd_per_hour"], Decimal(1))
    if usd_h is not None:
        price["usd_per_hour"] = usd_h
    price_src = row["price_source_and_date"].strip()
    ov_price = ov.pop("price", None) or {}
    if ov_price:
        if not ov_price.get("source") or "purchase_usd" not in ov_price:
            raise BuildError(f"{id_}: overlay price needs purchase_usd and source")
        price["purchase_usd"] = ov_price["purchase_usd"]
        purchase_src = f"purchase: {ov_price['source']}"
        price_src = f"cloud: {price_src}; {purchase_src}" if price_src else purchase_src
    if price_src:
        price["source"] = price_src

    links = {}
    sheet_up = _csv_link(row)
    if "scale_up" in ov:
        links["scale_up"] = _link(id_, "scale_up", sheet_up, ov.pop("scale_up"))
    elif sheet_up:
        raise BuildError(f"{id_}: the sheet names a scale-up link; the overlay must complete it")
    for field in ("node_link", "scale_out", "host_link"):
        if field in ov:
            links[field] = _link(id_, field, {}, ov.pop(field))

    power: dict[str, Any] = {}
    for key in ("tdp_w", "idle_w"):  # the overlay fills a power cell the sheet leaves empty
        sheet = _num(row[key], Decimal(1))
        if key in ov and sheet is not None:
            raise BuildError(f"{id_}: overlay {key} would replace the sheet's value")
        power[key] = sheet if sheet is not None else ov.pop(key, None)

    entry: dict[str, Any] = {
        "id": id_,
        "name": row["name"],
        "vendor": row["vendor"],
        "hw_class": cls,
        "aliases": ov.pop("aliases", []),
        "release_year": _int(row["release_year"]),
        "architecture": arch,
        "memory_bytes": sheet_values["memory_bytes"] or ov.pop("memory_bytes", None),
        "memory_type": row["memory_type"],
        "memory_bw_bytes_s": _num(row["memory_bw_tb_s"], TB),
        "memory_bw_reachable_bytes_s": ov.pop("memory_bw_reachable_bytes_s", None),
        "sram_bytes": sheet_values["sram_bytes"],
        "sram_bw_bytes_s": sheet_values["sram_bw_bytes_s"],
        "sram_only": ov.pop("sram_only", False),
        "peak_flops": peaks,
        "peak_flops_derived": ov.pop("peak_flops_derived", False),
        "vector_flops": vector,
        "fp16_acc16_flops": ov.pop("fp16_acc16_flops", None),
        **links,
        "host_memory_bytes": ov.pop("host_memory_bytes", None),
        "tdp_w": power["tdp_w"],
        "idle_w": power["idle_w"],
        "active_power_w": ov.pop("active_power_w", None),
        "power_scope": ov.pop("power_scope", "chip"),
        "price": price,
        "default_engine": engine,
        "cores": _int(row["cores"]),
        "performance_cores": ov.pop("performance_cores", None),
        "performance_peak_share": ov.pop("performance_peak_share", None),
        "tp_ranks": ov.pop("tp_ranks", 1),
        "matrix_unit_rows": ov.pop("matrix_unit_rows", None),
        "spec_source": row["spec_source"],
        "field_sources": dict(sorted(sources.items())),
        "notes": row["notes"],
    }
    if ov:
        raise BuildError(f"{id_}: unknown overlay keys {sorted(ov)}")
    try:
        spec = HardwareSpec.model_validate(entry, strict=True)
    except Exception as e:  # pydantic.ValidationError
        raise BuildError(f"{id_}: {e}") from e
    # Schema order, defaults left out so each file lists only what is known.
    return spec.model_dump(exclude_defaults=True)


# --- YAML output -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _float_repr(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    """Floats as people write them: 3.35e+12, not 3350000000000.0 (YAML 1.1-safe: dot and sign)."""
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        text = repr(value)
    else:
        mantissa, exp = f"{Decimal(repr(value)).normalize():e}".split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{int(exp):+d}"
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(float, _float_repr)


def render(entries: list[dict], group: str, csv_name: str, csv_sha256: str) -> str:
    header = (
        f"# Hardware catalog: {group}. GENERATED by tools/build_hardware_catalog.py - do not edit.\n"
        f"# From {csv_name} (sha256 {csv_sha256[:16]}) and tools/hardware_overlay.yaml.\n"
        "# Units: bytes, bytes/s, ops/s (dense peak), W, USD. field_sources cites every value\n"
        "# not taken from spec_source. Edit the sheet or the overlay and regenerate.\n"
    )
    body = yaml.dump(
        entries, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    return header + body


def extra_rows(given: list[dict[str, Any]], columns: list[str]) -> list[dict[str, str]]:
    """Devices the sheet lacks, written in the overlay's ``rows`` in the sheet's own columns
    (same units, each with its spec_source), as strings like csv cells; missing columns empty."""
    out = []
    for r in given:
        unknown = sorted(set(r) - set(columns))
        if unknown:
            raise BuildError(f"overlay row {r.get('catalog_id')}: unknown columns {unknown}")
        for key in ("catalog_id", "name", "vendor", "class", "spec_source"):
            if not r.get(key):
                raise BuildError(f"overlay row {r.get('catalog_id')}: {key} is required")
        out.append({c: "" if r.get(c) is None else str(r[c]) for c in columns})
    return out


def build(csv_path: Path, overlay_path: Path) -> dict[str, str]:
    """File name -> YAML text for every group; raises BuildError on any inconsistency."""
    raw = csv_path.read_bytes()
    rows = list(csv.DictReader(raw.decode("utf-8").splitlines()))
    with open(overlay_path, encoding="utf-8") as f:
        overlay_doc = yaml.safe_load(f)
    overlay = overlay_doc["entries"]
    defaults = overlay_doc["defaults"]
    rows += extra_rows(overlay_doc.get("rows") or [], list(rows[0]) if rows else [])
    ids = [r["catalog_id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise BuildError("duplicate catalog_id in the sheet")
    stale = sorted(set(overlay) - set(ids))
    if stale:
        raise BuildError(f"overlay entries with no sheet row: {stale}")
    arch_ids = [i for a in (defaults.get("architecture") or {}).values() for i in a]
    unknown = sorted(set(arch_ids) - set(ids))
    if unknown or len(set(arch_ids)) != len(arch_ids):
        raise BuildError(f"defaults.architecture: unknown or repeated ids {unknown or arch_ids}")

    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(group_of(row), []).append(build_entry(row, overlay, defaults))
    sha = hashlib.sha256(raw).hexdigest()
    return {
        f"{g}.yaml": render(entries, g, csv_path.name, sha) for g, entries in sorted(groups.items())
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--overlay", type=Path, default=DEFAULT_OVERLAY)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        files = build(args.csv, args.overlay)
    except (BuildError, OSError, KeyError) as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    stale = sorted(p.name for p in args.out.glob("*.yaml") if p.name not in files)
    for name in stale:
        print(f"warning: {args.out / name} is not generated by this tool", file=sys.stderr)
    print(f"wrote {len(files)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
