"""Scenarios: the estimate a check runs (model x hardware x workload), and what it cites.

A :class:`Scenario` is a partial ``estimate`` call; checks merge a base scenario with per-case
overrides, run it through the library (:func:`run_scenario`) and read metrics off the result.
Models may be bundled ids or models the claims file constructs (:func:`resolve_model`).

``offload_experts_to_host`` (with ``host``) keeps routed MoE experts in host DRAM, computed by
the host CPU (``estimate(..., offload="experts")``, llama.cpp's --cpu-moe).
``offload_weights_to_host`` switches on the performance model's host-memory offload tier
(``estimate(..., offload=True)``, docs/model.md): what does not fit device memory lives in host
DRAM and crosses the host link every step, weights first if the weights alone overflow, else KV.
The audit only picks the layout (the one the engine would use if the model fit) and reports
what the estimate offloaded; the step times are the library's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, model_validator

from inferplan.audit.claims import ConstructedModel
from inferplan.audit.registry import AuditContext, CheckParams
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.schema import HardwareSpec
from inferplan.errors import CatalogError, InputError
from inferplan.models.spec import ModelSpec
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import Estimate, EstimatePlan, estimate_from_plan, plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.intervals import (
    MetricInterval,
    deployment_support,
    metric_interval,
    with_ends,
)
from inferplan.perf.roofline import roof_bounds, roof_clip
from inferplan.perf.step import Factors
from inferplan.units import fmt_bytes, fmt_layout, fmt_num, fmt_time_s

Metric = Literal[
    "ttft_s", "tpot_s", "e2e_latency_s", "decode_tok_s_per_user", "prefill_tok_s",
    "output_tok_s", "usd_per_1m_output_tokens", "usd_per_1m_input_tokens",
    "joules_per_output_token",
]
DEFAULT_INPUT_LEN = 1024
DEFAULT_OUTPUT_LEN = 256


class Scenario(CheckParams):
    """A partial estimate call; unset fields come from the base scenario or the defaults."""

    label: str | None = None
    model: str | None = None
    hardware: str | None = None
    devices: int | None = Field(default=None, ge=1)
    tp: int | None = Field(default=None, ge=1)
    pp: int | None = Field(default=None, ge=1)
    precision: str | None = None
    kv_precision: str | None = None
    engine: str | None = None
    mode: Literal["batch", "concurrency", "offline"] | None = None
    batch: int | None = Field(default=None, ge=1)
    input_len: int | None = Field(default=None, ge=0)
    output_len: int | None = Field(default=None, ge=0)
    threads: int | None = Field(default=None, ge=1)
    offload_weights_to_host: bool | None = None
    offload_experts_to_host: bool | None = None  # --offload experts: routed experts on the host CPU
    host: str | None = None  # the host CPU (catalog id) that computes them
    slots: int | None = Field(default=None, ge=1)  # llama-server slots

    @model_validator(mode="after")
    def _one_offload(self) -> Scenario:
        if self.offload_experts_to_host and self.offload_weights_to_host:
            raise ValueError("offload_experts_to_host and offload_weights_to_host are two different "
                             "offloads: give one")
        return self

    def over(self, *others: Scenario | None) -> Scenario:
        """This scenario with the fields set in `others` (later wins); InputError when the
        merged fields contradict each other (e.g. both offloads, one from the base)."""
        from pydantic import ValidationError

        from inferplan.errors import validation_summary

        merged = self.model_dump(exclude_none=True, exclude={"context"})
        for o in others:
            if o is not None:
                merged.update(o.model_dump(exclude_none=True, exclude={"context"}))
        try:
            return Scenario(**merged)
        except ValidationError as e:
            raise InputError(f"scenario {merged.get('label') or ''}: {validation_summary(e)}") from None


class ValueCase(Scenario):
    """A case of an estimate-value check: a scenario, optionally shown for comparison only."""

    context: bool | None = None  # shown beside the verdict, not counted in it


@dataclass
class Outcome:
    """One scenario run: the estimate (or why it does not fit) and the metrics checks read."""

    scenario: Scenario
    est: Estimate
    plan: EstimatePlan
    factors: Factors
    metrics: dict[str, float | None]

    @cached_property
    def _roof(self) -> dict[str, tuple[float, bool]]:
        """The plan's roofline bounds (perf.roofline.roof_bounds), once per outcome."""
        return roof_bounds(self.plan)

    @property
    def fits(self) -> bool:
        return self.est.fits

    @property
    def hw(self) -> HardwareSpec:
        return self.plan.dep.hw

    @property
    def offload(self) -> dict[str, float]:
        """What the estimate put in host DRAM, per device (empty when nothing was offloaded)."""
        dep = self.plan.dep
        if not (dep.offload_weight_bytes or dep.offload_kv_fraction):
            return {}
        return {"offloaded_weight_bytes_per_device": dep.offload_weight_bytes,
                "offloaded_kv_fraction": dep.offload_kv_fraction,
                "host_link_bytes_s": dep.host_link.bw_bytes_s}

    @property
    def offload_link(self) -> str:
        link = self.plan.dep.host_link
        return f"{link.name} ({link.bw_bytes_s / 1e9:.0f} GB/s)"

    @property
    def reason(self) -> str | None:
        """Why the estimate does not fit, with what offloading could not do."""
        note = self.est.assumptions.get("offload") if self.scenario.offload_weights_to_host else None
        if self.est.fits or not note or str(note) in (self.est.reason or ""):  # said once
            return self.est.reason
        return f"{self.est.reason}; offload: {note}"

    def metric(self, name: str) -> float | None:
        v = self.metrics.get(name)
        return None if v is None or not math.isfinite(v) else float(v)

    def interval(self, name: str) -> MetricInterval | None:
        """The tool's 80% prediction interval of metric `name` for this computation (its
        hardware class, metric family, regime and corpus support), kept on the possible side of
        the roofline as `estimate`'s are (perf.roofline.roof_clip); None without a value or an
        interval table."""
        v, p = self.metric(name), self.plan
        if v is None:
            return None
        iv = metric_interval(v, name, p.dep.hw.hw_class, p.mode, p.batch, p.input_len, p.output_len,
                             support=deployment_support(p.dep))
        if iv is None:
            return None
        low, high = roof_clip(p, name, iv.low, iv.high, bounds=self._roof)
        return with_ends(iv, v, name, low, high)  # quantiles follow the clip (ratio checks read them)

    def describe(self) -> str:
        e, s = self.est, self.scenario
        mode = {"batch": f"batch {e.batch}", "concurrency": f"concurrency {e.batch}",
                "offline": f"offline batch {e.batch}"}[e.mode]
        lay = fmt_layout(e.tp, e.pp, e.ep, e.dp)
        text = (f"{e.model} {e.weight_precision} on {e.devices}x {e.hardware} ({e.engine}, {lay}), "
                f"{mode}, {e.input_len} in / {e.output_len} out")
        if s.threads:
            text += f", {s.threads} threads"
        if e.expert_host:
            text += f"; routed experts in {e.expert_host} DRAM, computed by its cores"
        off = self.offload
        if self.plan.dep.host_layers is not None:  # llama.cpp -ngl: layers computed by the host
            text += f"; offload: {self.est.assumptions.get('offload')}"
        elif off.get("offloaded_weight_bytes_per_device"):
            text += (f"; {fmt_bytes(off['offloaded_weight_bytes_per_device'])} of weights per device "
                     f"in host DRAM, streamed over {self.offload_link} every step")
        elif off:
            text += f"; offload: {self.est.assumptions.get('offload')}"
        return text


def resolve_model(ref: str, ctx: AuditContext) -> ModelSpec:
    """A model the claims file constructs, else a bundled id/alias or a config.json path."""
    from inferplan.models.registry import get_model

    cache = ctx.cache.setdefault("models", {})
    if ref in cache:
        return cache[ref]
    made = {m.id: m for m in ctx.doc.models}
    spec = construct_model(made[ref]) if ref in made else get_model(ref)
    cache[ref] = spec
    return spec


def construct_model(m: ConstructedModel) -> ModelSpec:
    """Build a constructed model: a config given inline, or a bundled model's layer shape with
    the number of layers scaled so that total parameters reach ``total_params``."""
    from inferplan.catalog._load import data_path
    from inferplan.models.adapters import spec_from_hf_config
    from inferplan.models.registry import load_config, model_info

    if m.config is not None:
        spec = spec_from_hf_config(m.config, m.id)
        how = f"constructed from an inline config.json ({m.why})"
    else:
        assert m.base is not None and m.total_params is not None
        info = model_info(m.base)
        cfg, _ = load_config(data_path("models", f"{info.id}.json"))
        base = spec_from_hf_config(cfg, info.id)
        if len(base.groups) != 1:
            raise CatalogError(f"constructed model '{m.id}': base '{m.base}' has {len(base.groups)} "
                               "kinds of layers; scale a uniform model (a Llama or Qwen dense model)")
        per_layer = base.layer_params / base.num_layers
        fixed = base.total_params - base.layer_params
        layers = max(1, round((m.total_params - fixed) / per_layer))
        spec = spec_from_hf_config({**cfg, "num_hidden_layers": layers}, m.id)
        how = (f"constructed: {info.id} layer shape (d={base.hidden_size}) x {layers} layers "
               f"= {spec.total_params / 1e9:.1f}B params ({m.why})")
    return dataclasses.replace(spec, native_precision=m.native_precision or spec.native_precision,
                               source=how)


def run_scenario(s: Scenario, ctx: AuditContext) -> Outcome:
    """Run one scenario through the library (cached per audit run)."""
    key = s.model_dump_json(exclude_none=True)
    cache = ctx.cache.setdefault("scenarios", {})
    if key not in cache:
        cache[key] = _run(s, ctx)
    return cache[key]


def _run(s: Scenario, ctx: AuditContext) -> Outcome:
    if not s.model or not s.hardware:
        raise InputError(f"scenario {s.label or ''} needs a model and a hardware")
    model = resolve_model(s.model, ctx)
    hw = get_hardware(s.hardware)
    offload: bool | str = "experts" if s.offload_experts_to_host else bool(s.offload_weights_to_host)
    mode = s.mode or "batch"
    kw: dict[str, Any] = dict(precision=s.precision, kv_precision=s.kv_precision, engine=s.engine, mode=mode,
              batch=s.batch or 1, input_len=DEFAULT_INPUT_LEN if s.input_len is None else s.input_len,
              output_len=DEFAULT_OUTPUT_LEN if s.output_len is None else s.output_len,
              threads=s.threads, host=s.host, slots=s.slots)
    devices, tp, pp = s.devices, s.tp, s.pp
    if offload is True:
        if mode == "offline":
            raise InputError("offload_weights_to_host applies to batch and concurrency modes, "
                             "not offline (whose batch is what fits device memory)")
        devices = devices or 1  # the core puts all given devices in one replica when offloading
    plan = plan_estimate(model, hw, devices=devices, tp=tp, pp=pp, offload=offload, **kw)
    eff = load_efficiency(ctx.calibration)
    est = estimate_from_plan(plan, eff)
    f, _ = resolve_factors(plan.dep, eff)
    metrics: dict[str, float | None] = {k: getattr(est, k) for k in Metric.__args__}  # type: ignore[attr-defined]
    return Outcome(scenario=s, est=est, plan=plan, factors=f, metrics=metrics)


# --- citing and printing ------------------------------------------------------------------------


def sources_of(o: Outcome, *, cost: bool = False) -> list[str]:
    """Catalog and profile sources an outcome used (hardware spec, model, price, factors)."""
    from inferplan.models.registry import model_info

    dep, e = o.plan.dep, o.est
    out = [f"hardware {dep.hw.id}: {dep.hw.spec_source}"]
    if cost:
        out.append(f"price {dep.hw.id}: {dep.hw.price.source or 'none in the catalog'}")
    try:
        info = model_info(dep.model.id)
        out.append(f"model {info.id}: {dep.model.source}; params: {info.params_source}")
    except InputError:
        out.append(f"model {dep.model.id}: {dep.model.source}")
    a = e.assumptions
    facs = ", ".join(f"{k}={a[k]['value']:.3g} [{a[k]['scope']}]" for k in
                     ("bw_eff", "engine_bw", "compute_eff", "engine_compute") if k in a)
    out.append(f"efficiency profile '{a.get('efficiency_profile')}': {facs}")
    return out


def fmt_metric(name: str, v: float | None) -> str:
    """A metric value with its unit, for derivations."""
    if v is None or not math.isfinite(v):
        return "-"
    if name.startswith("usd"):
        return f"${v:.3g}/1M"
    if name.startswith("joules"):
        return f"{v:.3g} J/token"
    if name.endswith("tok_s") or name.endswith("tok_s_per_user"):
        return f"{v:,.0f} tok/s" if v >= 100 else f"{v:.3g} tok/s"
    if name.endswith("_s"):
        return fmt_time_s(v)
    if name.endswith("bytes"):
        return fmt_bytes(v)
    return fmt_num(v)
