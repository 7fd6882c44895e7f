"""Planning at the pessimistic end of the prediction intervals (``plan --confidence``).

The cost model's predictions carry intervals from cross-validated residuals
(:mod:`inferplan.perf.intervals`): per hardware class, metric family and regime. A plan at
confidence ``L`` checks each latency SLO against the *high* end of that latency's central ``L``
interval, and reads throughputs at their *low* end:

- every step of a candidate is simulated ``s`` times slower (:func:`slowed_factors`), ``s`` the
  larger of TPOT's factor and ``point / low end`` of throughput (:attr:`Pessimism.slowdown`), at
  the target rate: its batches and queues grow as they would on hardware that much slower (a
  review found point-speed simulations against tightened bounds passing clusters that miss the
  SLO once every step is slower); a simulated percentile ``v`` of TTFT (prefill family), TPOT
  (decode family) or E2E (latency family) then meets a bound ``b`` when ``v x max(1, f / s) <= b``,
  ``f = high end / point`` of its interval (:meth:`Pessimism.sim_slo`);
- the analytic capacity of a replica (its first replica guess and the floor the search and the
  whole-cluster check never go below, as the point plan's, with no slack) is that of steps
  ``s`` times slower, ``s`` the larger of TPOT's factor and ``point / low end`` of the throughput
  interval: the largest batch within each bound / max(its factor, s), over ``s`` (a review found
  the point capacity at the tightened bound times the throughput factor too high: a cluster
  sized so ran 1.5x the TPOT bound when its device was that much slower), so more replicas are
  tried: the higher
  $/token of a pessimistic throughput shows up as more replicas, since the $ of a plan at a
  fixed rate only depend on its replicas; the simulated maximum rate (whose latencies were
  already held at their high end) is reported as it is, capped at that pessimistic analytic
  capacity (``plan/explain.max_rate``): never below the target the plan claims, since the
  replicas cover it;
- ``f`` is never below 1 (nor a throughput factor above 1): where an interval lies wholly on the
  optimistic side of the point estimate, the point estimate is used.

The bundled interval table is for 80% (its level) and stores each group's 50%, 90% and 95%
quantiles too; other levels are interpolated between those, or scaled from the nearest one as if
the log residuals were normal beyond them (:func:`inferplan.perf.intervals.quantiles_at_level`).
The regime is ``concurrency``: the planner serves an open-loop request stream, batched
continuously. The groups are split by corpus support as `estimate`'s are: a pool's engine on its
hardware measured by some source of the bundled corpus or not (:func:`pool_support`). Unlike
`estimate`, nothing is clipped at the roofline: the roofline bounds only the optimistic ends (a
shorter latency, a higher rate), which a plan at confidence never reads, and an option's
reported intervals are of simulated percentiles, not of one step. Not here: the search itself
(``planner.py``, ``search.py``, ``evaluate.py``); :func:`pessimistic_candidates` runs its first
step, the candidate enumeration, at the pessimistic end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from inferplan.catalog.engines import get_engine, option_given
from inferplan.catalog.precisions import get_precision
from inferplan.catalog.schema import HardwareSpec, Link, Precision
from inferplan.models.spec import ModelSpec
from inferplan.perf.efficiency import Efficiency
from inferplan.perf.intervals import engine_support, metric_interval
from inferplan.perf.offload import engine_for
from inferplan.perf.step import Factors
from inferplan.plan.search import Candidate, enumerate_candidates
from inferplan.sim import SLO, Dist

if TYPE_CHECKING:
    from inferplan.perf.deployment import Deployment
    from inferplan.plan.planner import PlanRequest

SERVING_MODE, SERVING_BATCH = "concurrency", 2  # an open-loop stream: the concurrency regime
LATENCY_FIELDS = {"ttft": "ttft_s", "tpot": "tpot_s", "e2e": "e2e_latency_s"}


@dataclass(frozen=True)
class Pessimism:
    """Factors on a configuration's predicted values at the pessimistic end of a level."""

    level: float
    latency: dict[str, float]  # ttft / tpot / e2e -> factor >= 1 on a simulated latency
    throughput: float  # factor <= 1 on a throughput (capacity, max rate)
    energy: float  # factor >= 1 on joules per output token
    groups: dict[str, str] = field(default_factory=dict)  # metric -> interval table group used

    @property
    def slowdown(self) -> float:
        """How much slower every step runs at the pessimistic end: the larger of TPOT's factor
        and 1 / throughput's (a step s times slower is s times TPOT and 1/s times throughput)."""
        return max(1.0, self.latency.get("tpot", 1.0), 1.0 / max(self.throughput, 1e-9))

    def residual(self, metric: str, s_prefill: float, s_decode: float) -> float:
        """What remains of `metric`'s factor once its steps are simulated slowed (TTFT by the
        prefill pool's slowdown, TPOT and E2E by the decode pool's): never below 1."""
        return max(1.0, self.latency[metric] / (s_prefill if metric == "ttft" else s_decode))

    def sim_slo(self, slo: SLO, s_prefill: float, s_decode: float) -> SLO:
        """The bounds simulations of steps slowed by (s_prefill, s_decode) must meet: each
        bound / :meth:`residual`."""
        return SLO(**{f"p{pct}_{m}_s": bound / self.residual(m, s_prefill, s_decode)
                      for m, pct, bound in slo.bounds()})

    def capacity_slo(self, slo: SLO) -> SLO:
        """The bounds a candidate's analytic floors and TPOT-bound batch are read at, with point
        step times: each bound / the larger of its factor and :attr:`slowdown` (steps s times
        slower meet a bound b where point steps meet b / s)."""
        s = self.slowdown
        return SLO(**{f"p{pct}_{m}_s": bound / max(self.latency[m], s) for m, pct, bound in slo.bounds()})

    def describe(self) -> str:
        lat = ", ".join(f"{m.upper()} x{f:.3g}" for m, f in self.latency.items())
        return f"{lat}; capacity x{self.throughput:.3g}; steps x{self.slowdown:.3g} slower"


def pool_support(engine_id: str, hw_id: str) -> str:
    """The corpus-support key of a pool (:func:`inferplan.perf.intervals.engine_support`): its
    engine's release line on its hardware."""
    return engine_support(get_engine(engine_id), hw_id)


def hardware_support(hw: HardwareSpec, offload: bool | str | None = None,
                     stored: Precision | None = None,
                     engine_options: dict[str, str | float] | None = None) -> str:
    """:func:`pool_support` of serving on `hw` with the engine the planner runs there (the
    hardware's default; llama.cpp for a GPU with --offload experts, or with -O n_gpu_layers /
    n_cpu_moe, llama.cpp's options, as estimates pick it; an engine that reads the weights'
    format when the default cannot: perf.offload.engine_for)."""
    if hw.hw_class == "gpu" and any(option_given(engine_options, k) for k in ("n_gpu_layers", "n_cpu_moe")):
        return engine_support(get_engine("llama.cpp"), hw.id)
    return engine_support(engine_for(hw, offload, stored), hw.id)


def pessimism(prefill_class: str, decode_class: str, level: float, input_len: float,
              output_len: float, prefill_support: str | None = None,
              decode_support: str | None = None) -> Pessimism:
    """Factors of a configuration whose prompts run on `prefill_class` hardware and whose
    decode steps on `decode_class` (the same for a colocated one): TTFT from the prefill
    hardware's interval, the rest from the decode hardware's (each pool's corpus support, a
    :func:`pool_support`, where given)."""
    i, o = max(1, round(input_len)), max(1, round(output_len))

    def at(fld: str, hw_class: str, sup: str | None) -> tuple[float, float, str]:
        iv = metric_interval(1.0, fld, hw_class, SERVING_MODE, SERVING_BATCH, i, o, level=level, support=sup)
        return (iv.low, iv.high, iv.group) if iv else (1.0, 1.0, "-")

    latency, groups = {}, {}
    for m, fld in LATENCY_FIELDS.items():
        _, hi, g = (at(fld, prefill_class, prefill_support) if m == "ttft"
                    else at(fld, decode_class, decode_support))
        latency[m], groups[m] = max(1.0, hi), g
    thr_lo, _, groups["throughput"] = at("output_tok_s", decode_class, decode_support)
    _, j_hi, _ = at("joules_per_output_token", decode_class, decode_support)
    return Pessimism(level=level, latency=latency, throughput=min(1.0, thr_lo), energy=max(1.0, j_hi),
                     groups=groups)


def option_intervals(ttft: Dist, tpot: Dist, e2e: Dist, throughputs: dict[str, float | None],
                     joules_per_output_token: float | None, prefill_class: str, decode_class: str,
                     level: float | None, input_len: float, output_len: float,
                     prefill_support: str | None = None, decode_support: str | None = None) -> dict[str, list[float]]:
    """``{name: [low, high]}`` of a plan option's simulated latencies (``p90_tpot_s``, ...; at
    each percentile simulated), its throughputs (``max_rate_rps``, ...) and energy per token,
    at `level` (None: the table's 80%); TTFT from the prefill pool's group, the rest from the
    decode pool's."""
    i, o = max(1, round(input_len)), max(1, round(output_len))
    out: dict[str, list[float]] = {}

    def put(name: str, v: float | None, fld: str, prefill: bool = False) -> None:
        if v is None or not math.isfinite(v):
            return
        cls, sup = (prefill_class, prefill_support) if prefill else (decode_class, decode_support)
        iv = metric_interval(v, fld, cls, SERVING_MODE, SERVING_BATCH, i, o, level=level, support=sup)
        if iv is not None:
            out[name] = [iv.low, iv.high]

    for m, d in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        for pct in (50, 90, 99):
            put(f"p{pct}_{m}_s", d.at(pct), LATENCY_FIELDS[m], prefill=m == "ttft")
    for name, v in throughputs.items():
        put(name, v, "requests_per_s")
    put("joules_per_output_token", joules_per_output_token, "joules_per_output_token")
    return out


def slowed_factors(f: Factors, s: float) -> Factors:
    """`f` with every step `s` times slower: each efficiency / s, each fixed cost x s (the smooth
    roofline of compute and memory seconds both x s is x s; a host CPU's expert or layer times,
    already in the step's work, are not slowed)."""
    if s == 1.0:
        return f
    return replace(f, bw_eff=f.bw_eff / s, compute_eff=f.compute_eff / s, comm_eff=f.comm_eff / s,
                   layer_overhead_s=f.layer_overhead_s * s, step_overhead_s=f.step_overhead_s * s,
                   seq_overhead_s=f.seq_overhead_s * s, small_kernel_s=f.small_kernel_s * s,
                   prefill_layer_overhead_s=f.prefill_layer_overhead_s * s,
                   request_overhead_s=f.request_overhead_s * s, link_latency=f.link_latency * s)


def slowed_deployment(dep: Deployment, s: float) -> Deployment:
    """`dep` with its host CPU's work `s` times slower too (llama.cpp's host layers, the routed
    experts' host): :func:`slowed_factors` slows only the devices' factors, and a step bound by
    the host would barely slow while the bounds relax by the whole `s`."""
    if s == 1.0:
        return dep
    hl, eh = dep.host_layers, dep.expert_host

    def link(x: Link) -> Link:  # the experts' copies to the device (in the host's time; the host
        # layers' copies are offload time, which the device factors' comm_eff already slows)
        return x.model_copy(update={"bw_bytes_s": x.bw_bytes_s / s, "latency_s": x.latency_s * s})

    return replace(
        dep, host_layers=None if hl is None else replace(hl, f=slowed_factors(hl.f, s)),
        expert_host=None if eh is None else replace(
            eh, bw_eff=eh.bw_eff / s, compute_eff=eh.compute_eff / s, vector_ops_s=eh.vector_ops_s / s,
            layer_overhead_s=eh.layer_overhead_s * s, link=link(eh.link)))


def scaled_dist(d: Dist, k: float) -> Dist:
    """A latency distribution with every value x `k`."""
    return d.model_copy(update={n: getattr(d, n) * k for n in ("mean", "p50", "p90", "p99", "max")
                                if getattr(d, n) is not None})


def pessimistic_candidates(models: list[ModelSpec], hws: list[HardwareSpec], precisions: list[str | None],
                           req: PlanRequest, eff: Efficiency, level: float,
                           opts: dict[str, Any]) -> tuple[list[Candidate], list[dict[str, str]]]:
    """The planner's candidates at confidence `level`: enumerate_candidates group by group
    (class x corpus support of the hardware's default engine), each with the SLO at its
    pessimistic end (floors and the TPOT-bound batch), capacities at the low end of throughput;
    in the usual order."""
    cands: list[Candidate] = []
    unfit: list[dict[str, str]] = []
    mean_in, mean_out = req.workload.mean_input(), req.workload.mean_output()
    off = opts.get("offload")
    groups: dict[tuple[str, str], list[HardwareSpec]] = {}  # (class, support) -> hardware, in order
    first = precisions[0] if precisions else None
    stored = get_precision(first or models[0].native_precision) if models else None
    for h in hws:
        groups.setdefault((h.hw_class, hardware_support(h, off, stored, opts.get("engine_options"))), []).append(h)
    for (cls, sup), group in groups.items():
        pe = pessimism(cls, cls, level, mean_in, mean_out, sup, sup)
        cc, uu = enumerate_candidates(models, group, precisions, req.workload, pe.capacity_slo(req.slo),
                                      req.scheduler, eff, tuple(req.hardware_files),
                                      req.max_devices_per_replica, opts=opts)
        for c in cc:  # the capacity of steps slowed by s: the batch within the bound, over s
            c.capacity_rps /= pe.slowdown
            c.decode_capacity_rps /= pe.slowdown
            c.prefill_tok_s /= pe.slowdown
            c.slowdown = pe.slowdown  # and its simulations run those slowed steps
            c.reasons = [f"{r} [at {level:.0%} confidence: each SLO bound / the larger of its "
                         f"latency factor and the steps' slowdown, {pe.describe()}]" for r in c.reasons]
        cands += cc
        unfit += uu
    hw_order = {h.id: i for i, h in enumerate(hws)}
    m_order = {m.id: i for i, m in enumerate(models)}
    cands.sort(key=lambda c: (m_order.get(c.model, 0), hw_order.get(c.hardware, 0)))
    return cands, unfit
