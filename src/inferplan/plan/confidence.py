"""Planning at the pessimistic end of the prediction intervals (``plan --confidence``).

The cost model's predictions carry intervals from cross-validated residuals
(:mod:`inferplan.perf.intervals`): per hardware class, metric family and regime. A plan at
confidence ``L`` checks each latency SLO against the *high* end of that latency's central ``L``
interval, and reads throughputs at their *low* end:

- a simulated percentile ``v`` of TTFT (prefill family), TPOT (decode family) or E2E (latency
  family) meets a bound ``b`` when ``v x f <= b``, ``f = high end / point`` of its interval; the
  search enforces this by giving the simulator the bound ``b / f``. The intervals were measured
  on the end metrics of real servers under load, so they apply to the simulated latencies as
  they are;
- the analytic capacity of a replica (its first replica guess and the floor the search never
  goes below) is read at ``low end / point`` of the throughput interval, so more replicas are
  tried: the higher $/token of a pessimistic throughput shows up as more replicas, since the $
  of a plan at a fixed rate only depend on its replicas;
- ``f`` is never below 1 (nor a throughput factor above 1): where an interval lies wholly on the
  optimistic side of the point estimate, the point estimate is used.

The bundled interval table is for 80% (its level); other levels scale the log-width of the same
residual quantiles as if the log residuals were normal, ``z((1 + L) / 2) / z(0.9)``
(:func:`inferplan.perf.intervals.quantiles_at_level`). The regime is ``concurrency``: the planner
serves an open-loop request stream, batched continuously. Not here: the search itself
(``planner.py``, ``search.py``, ``evaluate.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from inferplan.perf.intervals import metric_interval
from inferplan.sim import SLO, Dist

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

    def slo(self, slo: SLO) -> SLO:
        """The bounds the simulated (point) latencies must meet: each bound / its factor."""
        return SLO(**{f"p{pct}_{m}_s": bound / self.latency[m] for m, pct, bound in slo.bounds()})

    def describe(self) -> str:
        lat = ", ".join(f"{m.upper()} x{f:.3g}" for m, f in self.latency.items())
        return f"{lat}; capacity x{self.throughput:.3g}"


def pessimism(prefill_class: str, decode_class: str, level: float, input_len: float,
              output_len: float) -> Pessimism:
    """Factors of a configuration whose prompts run on `prefill_class` hardware and whose
    decode steps on `decode_class` (the same for a colocated one): TTFT from the prefill
    hardware's interval, the rest from the decode hardware's."""
    i, o = max(1, round(input_len)), max(1, round(output_len))

    def at(fld: str, hw_class: str) -> tuple[float, float, str]:
        iv = metric_interval(1.0, fld, hw_class, SERVING_MODE, SERVING_BATCH, i, o, level=level)
        return (iv.low, iv.high, iv.group) if iv else (1.0, 1.0, "-")

    latency, groups = {}, {}
    for m, fld in LATENCY_FIELDS.items():
        _, hi, g = at(fld, prefill_class if m == "ttft" else decode_class)
        latency[m], groups[m] = max(1.0, hi), g
    thr_lo, _, groups["throughput"] = at("output_tok_s", decode_class)
    _, j_hi, _ = at("joules_per_output_token", decode_class)
    return Pessimism(level=level, latency=latency, throughput=min(1.0, thr_lo), energy=max(1.0, j_hi),
                     groups=groups)


def option_intervals(ttft: Dist, tpot: Dist, e2e: Dist, throughputs: dict[str, float | None],
                     joules_per_output_token: float | None, prefill_class: str, decode_class: str,
                     level: float | None, input_len: float, output_len: float) -> dict[str, list[float]]:
    """``{name: [low, high]}`` of a plan option's simulated latencies (``p90_tpot_s``, ...; at
    each percentile simulated), its throughputs (``max_rate_rps``, ...) and energy per token,
    at `level` (None: the table's 80%)."""
    i, o = max(1, round(input_len)), max(1, round(output_len))
    out: dict[str, list[float]] = {}

    def put(name: str, v: float | None, fld: str, hw_class: str) -> None:
        if v is None or not math.isfinite(v):
            return
        iv = metric_interval(v, fld, hw_class, SERVING_MODE, SERVING_BATCH, i, o, level=level)
        if iv is not None:
            out[name] = [iv.low, iv.high]

    for m, d in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e)):
        for pct in (50, 90, 99):
            put(f"p{pct}_{m}_s", d.at(pct), LATENCY_FIELDS[m], prefill_class if m == "ttft" else decode_class)
    for name, v in throughputs.items():
        put(name, v, "requests_per_s", decode_class)
    put("joules_per_output_token", joules_per_output_token, "joules_per_output_token", decode_class)
    return out
