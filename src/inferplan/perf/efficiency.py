"""Named efficiency factors: what fraction of a peak real engines reach, and fixed overheads.

Values come from a YAML profile (bundled ``calib/data/default.yaml`` or one written by
``inferplan calibrate``). Each factor is keyed by a *scope* (a hardware family, an engine, an
engine on a hardware class, a precision); lookups try the most specific scope first and fall back
to ``default``. Every lookup returns where the value came from, so estimates can state it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from inferplan.catalog._load import load_yaml
from inferplan.catalog.schema import HardwareSpec
from inferplan.errors import CatalogError

# scopes of a profile calibrated on one device (`calibrate --scope hardware`, perf/factors.py
# hardware_scope): ``hw:ID``, ``hw:ID/ENGINE``, ``hw:ID/PRECISION``
HW_SCOPE_PREFIX = "hw:"

FACTORS: dict[str, tuple[float, float, str]] = {
    # name: (lower bound, upper bound, unit)
    "bw_eff": (0.02, 1.0, "fraction of usable peak memory bandwidth"),
    "compute_eff": (0.01, 1.0, "fraction of dense peak FLOP/s"),
    "engine_bw": (0.1, 2.0, "multiplier on bw_eff"),
    "engine_compute": (0.1, 2.0, "multiplier on compute_eff"),
    "layer_overhead_s": (0.0, 5e-3, "seconds per layer per step"),
    "step_overhead_s": (0.0, 0.1, "seconds per step"),
    "dequant_ops_per_weight": (0.0, 200.0, "vector ops per weight element unpacked"),
    "comm_eff": (0.05, 1.0, "fraction of link bandwidth"),
    "kv_bw": (0.1, 2.0, "multiplier on bw_eff for attention reading the KV cache"),
    "gemm_m_half_tokens": (0.0, 4096.0, "GEMM rows (tokens) at which a dense GEMM is at half efficiency"),
    "moe_m_half_tokens": (0.0, 4096.0, "tokens per expert at which a grouped expert GEMM is at half efficiency"),
    "lowp_eff": (0.2, 1.5, "share of the FP8/FP4/INT peak reached, relative to the bf16 share"),
    "seq_overhead_s": (0.0, 1e-2, "seconds per sequence per step (sampling, scheduling)"),
    "small_kernel_s": (0.0, 1e-4, "seconds per kernel of an MLA/MoE layer per step (minimum duration)"),
    "prefill_layer_overhead_s": (0.0, 5e-3, "seconds per layer per step carrying prompt tokens (eager dispatch)"),
    "request_overhead_s": (0.0, 1.0, "seconds per served request before its first token (API server)"),
    "moe_n_half": (0.0, 8192.0, "expert-slice columns per device at which a grouped expert GEMM is at half speed"),
    "attn_compute": (0.1, 1.5, "multiplier on compute_eff for attention's score and value products"),
    "moe_eff": (0.2, 1.5, "share of the dense kernels' efficiency reached by routed-expert kernels"),
    "link_latency": (0.2, 5.0, "multiplier on the catalog's per-message link latency in collectives"),
}

# Priors of the regime terms for profiles written before they existed (the bundled profile
# states its own; see calib/data/default.yaml for the sources).
REGIME_PRIORS: dict[str, tuple[float, str]] = {
    "kv_bw": (1.0, "no separate KV-read efficiency (profile predates the term)"),
    "gemm_m_half_tokens": (0.0, "no GEMM-size term (profile predates it)"),
    "moe_m_half_tokens": (0.0, "no grouped-GEMM term (profile predates it)"),
    "lowp_eff": (1.0, "no low-precision term (profile predates it)"),
    "seq_overhead_s": (0.0, "no per-sequence overhead (profile predates it)"),
    "small_kernel_s": (0.0, "no small-kernel term (profile predates it)"),
    "prefill_layer_overhead_s": (0.0, "no eager-prefill term (profile predates it)"),
    "request_overhead_s": (0.0, "no per-request server overhead (profile predates it)"),
    "moe_n_half": (0.0, "no expert-slice-width term (profile predates it)"),
    "attn_compute": (1.0, "attention at the GEMMs' efficiency (profile predates the term)"),
    "moe_eff": (1.0, "routed experts at the dense kernels' efficiency (profile predates the term)"),
    "link_latency": (1.0, "the catalog's link latency per message (profile predates the term)"),
}


def hw_family(hw: HardwareSpec) -> str:
    """Family used to share efficiency factors: ``gpu-nvidia``, ``soc-apple``, ``npu-qualcomm``,
    or the class. NPUs are told apart by vendor because each vendor's runtime (QNN, FastFlowLM
    on XDNA, OpenVINO, Core ML) is its own software stack: one shared factor was pulled in
    opposite directions by Qualcomm's and AMD's data."""
    if hw.hw_class in ("gpu", "soc", "npu"):
        return f"{hw.hw_class}-{hw.vendor.lower().split()[0]}"
    return hw.hw_class


@dataclass(frozen=True)
class FactorValue:
    name: str
    scope: str
    value: float
    source: str


@dataclass
class Efficiency:
    """A set of factor values: ``table[name][scope] = (value, source)``."""

    table: dict[str, dict[str, tuple[float, str]]]
    profile: str = "default"
    provenance: dict[str, Any] = field(default_factory=dict)

    def lookup(self, name: str, scopes: list[str], prior: float | None = None,
               prior_source: str = "") -> FactorValue:
        entries = self.table.get(name, {})
        for s in [*scopes, "default"]:
            if s in entries:
                v, src = entries[s]
                return FactorValue(name, s, v, src)
        if prior is not None:  # labelled with the profile-wide scope (a device's own is a fit)
            wide = [x for x in scopes if not x.startswith(HW_SCOPE_PREFIX)]
            return FactorValue(name, wide[0] if wide else "default", prior, prior_source)
        raise CatalogError(f"efficiency profile '{self.profile}' has no value for {name}")

    def with_values(self, values: dict[tuple[str, str], float], source: str) -> Efficiency:
        """A copy with some (name, scope) values replaced (used by calibration)."""
        table = {k: dict(v) for k, v in self.table.items()}
        for (name, scope), v in values.items():
            table.setdefault(name, {})[scope] = (float(v), source)
        return Efficiency(table, self.profile, dict(self.provenance))


def _factor_value(profile: str, name: str, scope: str, value: object) -> float:
    """A factor value from a profile: a finite number within the factor's bounds."""
    lo, hi, unit = FACTORS[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"{profile}: {name}[{scope}] = {value!r}: expected a number ({unit})")
    try:
        x = float(value)
    except ValueError:
        raise CatalogError(f"{profile}: {name}[{scope}] = {value!r}: expected a number ({unit})") from None
    if not lo <= x <= hi:  # also rejects NaN and infinities
        raise CatalogError(f"{profile}: {name}[{scope}] = {value!r} outside [{lo}, {hi}] ({unit})")
    return x


def priors_only(raw: dict[str, Any]) -> dict[str, Any]:
    """The profile with every fitted value removed (fits always start from the priors)."""
    import copy

    raw = copy.deepcopy(raw)
    for scopes in (raw.get("factors") or {}).values():
        for entry in (scopes or {}).values():
            entry.pop("value", None)
            entry.pop("fit_source", None)
    return raw


def efficiency_from_dict(raw: dict[str, Any], profile: str) -> Efficiency:
    """Validate a profile's ``factors`` mapping (names, scopes, finite bounded values)."""
    table: dict[str, dict[str, tuple[float, str]]] = {}
    factors = raw.get("factors") or {}
    if not isinstance(factors, dict):
        raise CatalogError(f"{profile}: 'factors' must be a mapping of factor -> scope -> entry")
    for name, scopes in factors.items():
        if name not in FACTORS:
            raise CatalogError(f"{profile}: unknown efficiency factor '{name}' (known: {', '.join(FACTORS)})")
        if not isinstance(scopes or {}, dict):
            raise CatalogError(f"{profile}: {name} must be a mapping of scope -> entry")
        for scope, entry in (scopes or {}).items():
            if not isinstance(entry, dict):
                raise CatalogError(f"{profile}: {name}[{scope}] must be a mapping with 'value' or "
                                   f"'prior', not {entry!r}")
            value = _factor_value(profile, name, str(scope), entry.get("value", entry.get("prior")))
            src = entry.get("fit_source") if "value" in entry else entry.get("source", "")
            table.setdefault(name, {})[str(scope)] = (value, str(src or entry.get("source", "")))
    prov = raw.get("provenance") or {}
    return Efficiency(table, profile, prov if isinstance(prov, dict) else {"note": str(prov)})


def default_profile_path() -> Path:
    return Path(__file__).resolve().parent.parent / "calib" / "data" / "default.yaml"


@lru_cache(maxsize=8)
def _load_profile(path: str, mtime: float) -> Efficiency:
    raw = load_yaml(Path(path))
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: not an efficiency profile")
    return efficiency_from_dict(raw, Path(path).stem)


@lru_cache(maxsize=1)
def prior_efficiency() -> Efficiency:
    """The bundled profile's priors, every fitted value removed: for what a held-out evaluation
    must compute without any factor fitted on the rows it scores (calib/dataset._spread_row)."""
    return efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")


def load_efficiency(path: Path | None = None) -> Efficiency:
    p = (path or default_profile_path()).resolve()
    if not p.exists():
        raise CatalogError(f"calibration profile not found: {p}")
    if p.is_dir():
        raise CatalogError(f"calibration profile {p} is a folder; expected a YAML file")
    return _load_profile(str(p), p.stat().st_mtime)
