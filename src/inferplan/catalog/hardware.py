"""The hardware catalog: bundled devices plus the user's own, looked up by id or alias.

Lives here: loading and merging the hardware YAML files, name lookup ("did you mean"), listing.
Not here: what a valid entry is (``schema.HardwareSpec``), how the bundled files are made
(``tools/build_hardware_catalog.py`` from ``shared/reference/hardware.csv``; see
``docs/catalog.md``), or anything the performance model derives from the numbers.

Files are read in this order; a later entry with an existing id replaces the earlier one:

1. bundled: ``inferplan/catalog/data/hardware/*.yaml`` (generated, do not edit);
2. user: ``$INFERPLAN_HOME/hardware/*.yaml`` (and ``*.yml``), in file-name order;
3. ``extra_files`` passed by the caller (e.g. ``--hardware-file``), in the order given.

A file is a YAML list of entries. An entry is either a complete ``HardwareSpec`` (a new device,
or a full replacement of one with the same id), or a partial entry with ``override: true`` that
is merged onto the existing entry of that id. Mappings (``price``, ``peak_flops``, links) merge
key by key; lists (``aliases``) and scalars replace. All numbers are SI: bytes, bytes/s, ops/s,
seconds, watts, USD. Example ``~/.inferplan/hardware/mine.yaml``::

    - id: h100-sxm            # change one field of a bundled device
      override: true
      price: {usd_per_hour: 1.85, source: "our contract, 2026-06"}

    - id: my-4090-box          # add a device
      name: RTX 4090 workstation
      vendor: NVIDIA
      hw_class: gpu
      aliases: [box]
      memory_bytes: 24.0e+9
      memory_bw_bytes_s: 1.008e+12
      peak_flops: {fp32: 82.6e+12, bf16: 165.2e+12, fp16: 165.2e+12}
      spec_source: "NVIDIA Ada whitepaper"

Write exponents with a dot and a sign (``24.0e+9``) so YAML reads a number; plain ``24e9`` is a
string to YAML but is still accepted and converted. Invalid files raise ``CatalogError`` naming
the file and the entry.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inferplan.catalog._load import build_alias_index, data_path, load_yaml, resolve_id
from inferplan.catalog.schema import HardwareSpec
from inferplan.config import home_dir
from inferplan.errors import CatalogError, validation_summary

__all__ = ["get_hardware", "hardware_catalog", "hardware_files", "list_hardware"]



def hardware_files(extra_files: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Every file the catalog reads, in merge order: bundled, then user, then extra."""
    bundled = sorted(data_path("hardware").glob("*.yaml"))
    user_dir = home_dir() / "hardware"
    user = sorted([*user_dir.glob("*.yaml"), *user_dir.glob("*.yml")]) if user_dir.is_dir() else []
    return (*bundled, *user, *(Path(p) for p in extra_files))


def hardware_catalog(extra_files: tuple[Path, ...] = ()) -> dict[str, HardwareSpec]:
    """All devices by id (bundled, then ``$INFERPLAN_HOME/hardware``, then ``extra_files``).

    Cached on the files and their modification times, so an edited user file is picked up.
    """
    return dict(_catalog(_stamp(hardware_files(extra_files)))[0])


def get_hardware(name: str, extra_files: tuple[Path, ...] = ()) -> HardwareSpec:
    """One device by exact id, else by alias.

    Raises ``AmbiguousIdError`` when an alias names several devices (``h100``) and
    ``UnknownIdError`` with close matches otherwise.
    """
    catalog, index = _catalog(_stamp(hardware_files(extra_files)))
    return catalog[resolve_id("hardware", name, catalog.keys(), index)]


def list_hardware(
    hw_class: str | None = None,
    vendor: str | None = None,
    extra_files: tuple[Path, ...] = (),
) -> list[HardwareSpec]:
    """Devices sorted by id, optionally only one class (``gpu``, ``cpu``...) or vendor (any case)."""
    specs = hardware_catalog(extra_files).values()
    return sorted(
        (
            s
            for s in specs
            if (hw_class is None or s.hw_class == hw_class)
            and (vendor is None or s.vendor.lower() == vendor.lower())
        ),
        key=lambda s: s.id,
    )


# --- loading -----------------------------------------------------------------------------------

_Stamp = tuple[tuple[str, int], ...]


def _stamp(files: Iterable[Path]) -> _Stamp:
    out = []
    for p in files:
        try:
            out.append((str(p), p.stat().st_mtime_ns))
        except FileNotFoundError as e:
            raise CatalogError(f"hardware file not found: {p}") from e
    return tuple(out)


@lru_cache(maxsize=8)
def _catalog(stamp: _Stamp) -> tuple[dict[str, HardwareSpec], dict[str, set[str]]]:
    catalog: dict[str, HardwareSpec] = {}
    bundled_dir = data_path("hardware")
    user_dir = home_dir() / "hardware"
    for path_str, _mtime in stamp:
        path = Path(path_str)
        bundled = path.parent == bundled_dir
        if path.parent == user_dir:  # one broken user file must not block every command
            _merge_user_file(catalog, path)
            continue
        for raw in _entries(path):
            _merge_entry(catalog, dict(raw), path, bundled)
    index = build_alias_index({i: s.aliases for i, s in catalog.items()})
    return catalog, index


def _merge_user_file(catalog: dict[str, HardwareSpec], path: Path) -> None:
    """Merge a file of ``$INFERPLAN_HOME/hardware``; if any entry is invalid, skip the whole
    file with a warning naming it (entries given with ``--hardware-file`` stay errors)."""
    trial = dict(catalog)
    try:
        for raw in _entries(path):
            _merge_entry(trial, dict(raw), path, bundled=False)
    except CatalogError as e:
        warnings.warn(f"skipped the broken hardware file {path.name} ({e})", UserFileWarning,
                      stacklevel=2)
        return
    catalog.update(trial)


class UserFileWarning(UserWarning):
    """A broken file in ``$INFERPLAN_HOME`` was skipped."""


def _entries(path: Path) -> list[Mapping[str, Any]]:
    doc = load_yaml(path)
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise CatalogError(f"{path}: expected a YAML list of hardware entries")
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise CatalogError(f"{path}: entry #{i + 1} is not a mapping with a string 'id'")
    return doc


def _merge_entry(
    catalog: dict[str, HardwareSpec], raw: dict[str, Any], path: Path, bundled: bool
) -> None:
    id_ = raw["id"]
    raw.pop("overridden_by", None)  # the loader's to set, not a file's
    override = raw.pop("override", False)
    if override is not True and override is not False:
        raise CatalogError(f"{path}: hardware '{id_}': override must be true or false")
    if bundled and id_ in catalog:
        raise CatalogError(f"{path}: hardware '{id_}' is defined twice in the bundled catalog")
    if override:
        if id_ not in catalog:
            raise CatalogError(
                f"{path}: hardware '{id_}': override: true, but no earlier entry has this id "
                "(remove `override: true` to add a new device)"
            )
        raw = _deep_merge(catalog[id_].model_dump(), raw)
    if not bundled and id_ in catalog:  # replaced or overridden: say so where the corpus is cited
        raw["overridden_by"] = path.name
    try:
        catalog[id_] = HardwareSpec.model_validate(raw)
    except ValidationError as e:
        raise CatalogError(f"{path}: hardware '{id_}': {validation_summary(e)}") from None


def _deep_merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out

