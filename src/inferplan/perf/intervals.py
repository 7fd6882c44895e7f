"""80% prediction intervals from cross-validated residuals of comparable measurements.

The table (``calib/data/intervals.yaml``, written by ``tools/calibrate_default.py`` from the
leave-one-source-out run) holds, per group of comparable rows, the 10th and 90th percentiles of
the cross-validated log error in *speed orientation*, ``r = log(predicted speed / measured
speed)`` (for a latency metric, ``r = -log(predicted / measured)``). A group is hardware class x
metric family x regime (:mod:`inferplan.perf.regimes`); where a group has fewer than
``min_rows`` rows, or fewer than :data:`MIN_SOURCES` sources, the lookup backs off to class x
family, then class, then all rows. Each group is also split by corpus support: ``measured`` rows
are those whose engine on that hardware was measured by another source (for an estimate: the
bundled corpus has rows of its engine on its hardware), ``unmeasured`` the rest, which held out
by source are predicted markedly worse (README, accuracy by corpus support); the lookup tries
the support groups first, then the groups above. A group's quantiles are a new source's
(:func:`source_effect_quantiles`: each source weighing the same, widened by Student t for few
sources); a table built without sources takes its rows' quantiles at the split-conformal levels
``(1 +- level) / 2 * (1 + 1/n)`` (:func:`conformal_quantiles`).

If the true speed is ``predicted * exp(-r)``, an interval of a speed ``v`` is
``[v exp(-q_hi), v exp(-q_lo)]`` and of a time ``t`` is ``[t exp(q_lo), t exp(q_hi)]``.
:func:`interval` is that arithmetic; :func:`estimate_intervals` applies it to the fields of an
estimate.

Other levels than the table's (``plan --confidence``): the table also stores each group's
quantiles at :data:`EXTRA_LEVELS` (50%, 90%, 95%), drawn the same way;
:func:`quantiles_at_level` reads a stored level as it is, interpolates between the two stored
levels around any other (each end linear in ``z((1 + level) / 2)``), and beyond the stored range
scales the nearest level's log-width about its midpoint by the ratio of normal quantiles. Log
errors are heavy-tailed, so the normal scaling alone (what a table without extra levels falls
back to) is too wide at 50% and too narrow at 90-95%: held out by source (2026-12-06) it covered
58.5% / 88.6% / 93.1% of the rows at 50% / 90% / 95%, the stored quantiles 50.0% / 90.9% /
95.1%. :func:`metric_interval` is one value's interval with the group it came from;
:func:`ratio_interval` is the interval of a ratio of two predictions.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from inferplan.errors import InputError
from inferplan.perf.regimes import regime
from inferplan.perf.roofline import roof_bounds, roof_clip

if TYPE_CHECKING:
    from inferplan.catalog.schema import EngineSpec
    from inferplan.perf.deployment import Deployment
    from inferplan.perf.estimate import EstimatePlan

INTERVAL_LEVEL = 0.8
EXTRA_LEVELS = (0.5, 0.9, 0.95)  # further central levels stored per group (plan --confidence)
MIN_ROWS = 8
# Sources a group needs for its own quantiles (fewer: the lookup backs off to a wider group).
# With S sources each weighs 1/S, so below five a 10% tail is one or two sources' rows, and the
# Student-t widening for few sources (df = S - 1) runs away: two sources widen a 95% interval
# 6.5x about its median, and groups of two or three sources gave 80% intervals up to 176x wide
# and 95% ones past 10^6x. Held out by source (2026-12-06), the minimum of sources read: 2 ->
# coverage 46.7 / 82.0 / 92.3 / 95.8% at 50 / 80 / 90 / 95%, widest 80% interval 176x; 3 -> 50.8
# / 80.8 / 91.2 / 95.2%, 10x; 4 -> 50.8 / 82.2 / 91.2 / 94.9%, 8x; 5 -> 50.0 / 81.6 / 90.9 /
# 95.1%, 8x (95%: 34x); 6 -> 48.3 / 79.7 / 89.8 / 94.6%; 10 -> 50.5 / 81.0 / 89.2 / 94.0%, with
# the rows-weighted error of the per-group coverage at 80% growing from 7.6 points (2) to 8.0
# (5) and 10.0 (10) as more groups back off. Five: chosen on those held-out figures.
MIN_SOURCES = 5
ALL = "all"
MEASURED, UNMEASURED = "measured", "unmeasured"  # corpus support of an engine on a hardware
CALIBRATED = "calibrated"  # an estimate whose factors a profile fitted on that very device

# estimate field -> (metric family, True if the field is a time: grows when the system is slower)
FIELD_FAMILY: dict[str, tuple[str, bool]] = {
    "ttft_s": ("prefill", True), "prefill_tok_s": ("prefill", False),
    "tpot_s": ("decode", True), "decode_tok_s_per_user": ("decode", False),
    "e2e_latency_s": ("latency", True),
    "output_tok_s": ("throughput", False), "total_tok_s": ("throughput", False),
    "requests_per_s": ("throughput", False),
    # cost and energy per token scale with the time a token takes
    "usd_per_1m_output_tokens": ("throughput", True), "usd_per_1m_input_tokens": ("prefill", True),
    "joules_per_output_token": ("throughput", True),
}


@dataclass(frozen=True)
class IntervalTable:
    level: float
    min_rows: int
    groups: dict[str, tuple[float, float, int]]  # key -> (q_lo, q_hi, rows)
    provenance: dict[str, Any] = field(default_factory=dict)
    # support_key() of each engine measured on a hardware -> (rows, sources) in the corpus
    supported: dict[str, tuple[int, int]] = field(default_factory=dict)
    # key -> {central level: (q_lo, q_hi)} at EXTRA_LEVELS (tables without them: {})
    levels: dict[str, dict[float, tuple[float, float]]] = field(default_factory=dict)
    # support_key() -> median held-out log(predicted speed / measured speed) of its rows
    support_bias: dict[str, float] = field(default_factory=dict)

    def support_tag(self, support: str | None) -> str | None:
        """``measured`` if the corpus behind the table has rows of ``support`` (a
        :func:`support_key`), ``unmeasured`` if not, None without a key or support data."""
        if support is None or not self.supported:
            return None
        return MEASURED if support in self.supported else UNMEASURED

    def lookup(self, hw_class: str, family: str, reg: str,
               support: str | None = None) -> tuple[float, float, str]:
        """(q_lo, q_hi, group used): the first of :func:`group_keys` (``support``: a
        :func:`support_key`) with ``min_rows`` rows (the table holds only groups of
        :data:`MIN_SOURCES` sources or more)."""
        for key in group_keys(hw_class, family, reg, self.support_tag(support)):
            g = self.groups.get(key)
            if g is not None and g[2] >= self.min_rows:
                return g[0], g[1], key
        g = self.groups.get(ALL, (-math.log(2), math.log(2), 0))
        return g[0], g[1], ALL


def group_key(*parts: str | None) -> str:
    return "|".join(p for p in parts if p)


def group_keys(hw_class: str, family: str, reg: str, tag: str | None) -> tuple[str, ...]:
    """The groups a row falls in, narrowest first (the lookup's back-off order): corpus support
    x class x family x regime, support x class x family, support x class; class x family x
    regime, class x family, class; then, for a class the corpus has too few sources of
    (Cerebras, Groq: one each), support x family x regime, support x family, support (an engine
    nobody measured on that hardware, on any class), and all rows."""
    tagged = (group_key(tag, hw_class, family, reg), group_key(tag, hw_class, family),
              group_key(tag, hw_class)) if tag else ()
    across = (group_key(tag, family, reg), group_key(tag, family), group_key(tag)) if tag else ()
    return (*tagged, group_key(hw_class, family, reg), group_key(hw_class, family), group_key(hw_class),
            *across, ALL)


def support_key(engine_id: str, hw_id: str) -> str:
    """What corpus support is counted by: one engine on one hardware id."""
    return f"{engine_id}@{hw_id}"


def engine_support(engine: EngineSpec, hw_id: str) -> str:
    """The :func:`support_key` of running `engine` on `hw_id`: the engine's release line
    (catalog.engines.release_line) on that hardware."""
    from inferplan.catalog.engines import release_line

    return support_key(release_line(engine), hw_id)


def deployment_support(dep: Deployment) -> str:
    """The :func:`engine_support` of a deployment."""
    return engine_support(dep.engine, dep.hw.id)


def _sources_by_key(keys: list[str], sources: list[str]) -> dict[str, set[str]]:
    """The distinct sources of each :func:`support_key`."""
    seen: dict[str, set[str]] = {}
    for k, s in zip(keys, sources, strict=True):
        seen.setdefault(k, set()).add(s)
    return seen


def support_counts(keys: list[str], sources: list[str]) -> dict[str, tuple[int, int]]:
    """(rows, distinct sources) of each :func:`support_key`."""
    rows, srcs = Counter(keys), _sources_by_key(keys, sources)
    return {k: (rows[k], len(srcs[k])) for k in sorted(srcs)}


def support_status(dep: Deployment, table: IntervalTable | None = None) -> str | None:
    """``measured`` if the bundled corpus has rows of the deployment's engine (release line) on
    its hardware, else ``unmeasured``; None without a table or support data."""
    table = table or load_intervals()
    return table.support_tag(deployment_support(dep)) if table is not None else None


def support_note(dep: Deployment, table: IntervalTable | None = None) -> str | None:
    """What the interval table's corpus holds of the deployment's engine on its hardware, for an
    estimate's assumptions; None without a table or support data."""
    table = table or load_intervals()
    key = deployment_support(dep)
    status = table.support_tag(key) if table is not None else None
    if table is None or status is None:
        return None
    from inferplan.catalog.engines import release_line

    engine, hw = release_line(dep.engine), dep.hw.id
    if status == MEASURED:
        rows, srcs = table.supported[key]
        mine = (f" (the catalog's {hw}, measured with the catalog's figures; your "
                f"{dep.hw.overridden_by} overrides this entry)" if dep.hw.overridden_by else "")
        return (f"{MEASURED}: {rows} rows of {engine} on {hw} from {srcs} source(s) in the bundled "
                f"corpus; the fitted factors have seen this engine on this hardware{mine}"
                + held_out_note(table.support_bias.get(key)))
    return (f"{UNMEASURED}: no rows of {engine} on {hw} in the bundled corpus; its factors come from "
            f"other engines and hardware, and its 80% intervals from configurations like that (wider)")


def held_out_note(log_bias: float | None) -> str:
    """'; held out, ...': how far the tool was on an engine@hardware's corpus rows with their
    source left out (median, speed-oriented: a time too short reads 'too fast')."""
    if log_bias is None or not math.isfinite(log_bias):
        return ""
    ratio = math.exp(log_bias)
    way = "too fast" if ratio > 1 else "too slow"
    far = max(ratio, 1 / ratio)
    size = f"{far:.2g}x" if far >= 1.5 else f"{(far - 1) * 100:.0f}%"
    return ("; held out, those rows were predicted within 1% (median)" if far < 1.01
            else f"; held out, those rows were predicted {size} {way} (median)")


def calibrated_support(dep: Deployment, scopes: dict[str, str], profile: str) -> tuple[str, str] | None:
    """(``calibrated``, its note) when the estimate used factors a profile fitted on this very
    device (``calibrate --scope hardware``: ``hw:ID`` scopes; `scopes`: factor -> scope used),
    else None (the corpus's support applies). The intervals stay the corpus's (a new source's
    error), wider than a profile fitted on this machine's own runs will be."""
    from inferplan.perf.efficiency import HW_SCOPE_PREFIX

    own = sorted(k for k, s in scopes.items() if s.startswith(f"{HW_SCOPE_PREFIX}{dep.hw.id}"))
    if not own:
        return None
    return CALIBRATED, (f"{CALIBRATED}: profile '{profile}' fitted {', '.join(own)} on measurements of "
                        f"{dep.hw.id} itself; the 80% intervals are still the bundled corpus's (a new "
                        f"source's error), wider than such a fit's")


def estimate_support(dep: Deployment, scopes: dict[str, str], profile: str) -> tuple[str | None, str | None]:
    """(status, note) of an estimate: :func:`calibrated_support`, else the bundled corpus's
    (:func:`support_status`, :func:`support_note`)."""
    return calibrated_support(dep, scopes, profile) or (support_status(dep), support_note(dep))


def support_tags(keys: list[str], sources: list[str]) -> list[str]:
    """Per row, ``measured`` if a source other than the row's own has rows of the row's
    :func:`support_key`, else ``unmeasured`` (the row held out by source, as a new source's)."""
    seen = _sources_by_key(keys, sources)
    return [MEASURED if seen[k] - {s} else UNMEASURED for k, s in zip(keys, sources, strict=True)]


def conformal_quantiles(r: np.ndarray, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """Lower and upper empirical quantiles of ``r`` for a central ``level`` interval, at the
    split-conformal levels (wider for few values)."""
    r = np.asarray(r, dtype=float)
    n = len(r)
    hi_q = min(1.0, (1 + level) / 2 * (1 + 1 / n))
    lo_q = max(0.0, 1 - hi_q)
    return float(np.quantile(r, lo_q)), float(np.quantile(r, hi_q))


def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: list[float]) -> np.ndarray:
    """Quantiles ``qs`` of values ``x`` carrying weights ``w``: the weighted empirical CDF at
    each sorted value's midpoint (``(cumulative weight - w / 2) / total``), interpolated
    linearly; with equal weights, numpy's ``hazen`` quantile."""
    keep = np.asarray(w, float) > 0  # a weightless value is no part of the distribution
    order = np.argsort(np.asarray(x, float)[keep])
    xs, ws = np.asarray(x, float)[keep][order], np.asarray(w, float)[keep][order]
    cdf = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.asarray(np.interp(qs, cdf, xs), dtype=float)


def source_effect_quantiles(r: np.ndarray, sources: list[str], level: float) -> tuple[float, float]:
    """Central ``level`` interval of the residual of a row from a source not in ``r``.

    The residuals are cross-validated by source: each is already the error of a row from a
    source its model never saw. Rows cluster by source (one engine build and harness each), so
    each source is weighted equally (a row of a source with n rows weighs 1/n) and the interval
    is the weighted empirical ``(1 -+ level) / 2`` quantiles: a new source is one draw of a
    source, bias and rows together. Few sources estimate that spread poorly: the quantiles are
    widened about the weighted median by Student t with (sources - 1) degrees of freedom over the
    normal's quantile, ``t((1 + level) / 2) / z((1 + level) / 2)`` (1.08 at 10 sources, 1.01 at
    48). One source: the rows' own conformal quantiles.

    Held out by source (2026-12-06, the same predictions; groups of :data:`MIN_SOURCES` sources or
    more), at 50% / 80% / 90% / 95% these cover 50.0% / 81.6% / 90.9% / 95.1% of the rows at median
    widths 1.41x / 2.59x / 4.23x / 5.35x. The rule before, with groups of two sources or more
    (the quantiles of every source's median plus every row's distance to its own source's
    median, b + e over all pairs), covered 55.2% / 84.7% / 92.5% / 96.5% at 1.48x / 2.71x
    / 5.29x / 10.8x: log errors are heavy-tailed, and pairing one source's bias with another
    source's outlying row made tails no source showed (a TTFT under concurrency on a GPU read 19x
    its estimate at the 90% high end). A normal interval of var(b) + var(e) covered 89.5% at 80%.
    """
    names = sorted(set(sources))
    if len(names) < 2:
        return conformal_quantiles(r, level)
    count = Counter(sources)
    w = np.array([1.0 / count[s_] for s_ in sources])
    q_lo, mid, q_hi = weighted_quantiles(np.asarray(r, float), w, [(1 - level) / 2, 0.5, (1 + level) / 2])
    from scipy.stats import t as student_t  # scipy: a core dependency (the calibration's fit)

    widen = float(student_t.ppf((1 + level) / 2, df=len(names) - 1)) / NormalDist().inv_cdf((1 + level) / 2)
    return float(mid + widen * (q_lo - mid)), float(mid + widen * (q_hi - mid))


def build_table(classes: list[str], families: list[str], regimes: list[str], r_speed: np.ndarray,
                level: float = INTERVAL_LEVEL, min_rows: int = MIN_ROWS,
                provenance: dict[str, Any] | None = None,
                sources: list[str] | None = None,
                support: list[str] | None = None,
                extra_levels: tuple[float, ...] = (), min_sources: int = MIN_SOURCES) -> IntervalTable:
    """Quantiles of the speed-oriented log residuals ``r_speed`` for every group with data
    (at ``level``, and at each of ``extra_levels`` in :attr:`IntervalTable.levels`).

    With ``sources``, each group's interval is a new source's (source_effect_quantiles): a
    source's rows share one bias (its engine build, its harness), so the interval is set by how
    far sources scatter as well as by the rows around them, not by the largest source's rows.
    A group of fewer than ``min_sources`` sources (:data:`MIN_SOURCES`) is left out (the lookup
    backs off to a wider group): one source says nothing of how far the next will be (GLM-4.7
    on Gaudi3, 3x slower than predicted, made every Gaudi3 estimate's interval 2.8-4.3x its
    value, the value itself outside), and a few put a tail on one source's rows and widen it by
    Student t with almost no degrees of freedom (:data:`MIN_SOURCES`). The all-rows group is
    always kept. Without ``sources``, the rows' own conformal quantiles.

    With ``support`` (each row's :func:`support_key`, and ``sources``), rows are also grouped
    by :func:`support_tags` and the table records the keys as measured."""
    r_speed = np.asarray(r_speed, dtype=float)
    ok = np.isfinite(r_speed)
    src = sources or [str(i) for i in range(len(r_speed))]
    tags: list[str | None] = list(support_tags(support, src)) if support else [None] * len(src)
    buckets: dict[str, list[tuple[float, str]]] = {}
    for c, f, g, r, good, sr, t in zip(classes, families, regimes, r_speed, ok, src, tags, strict=True):
        if not good:
            continue
        for key in group_keys(c, f, g, t):
            buckets.setdefault(key, []).append((float(r), sr))
    groups, levels = {}, {}
    for key, vals in buckets.items():
        r = np.array([v for v, _ in vals])
        if sources is not None and key != ALL and len({s_ for _, s_ in vals}) < min_sources:
            continue
        q = {lvl: (conformal_quantiles(r, lvl) if sources is None
                   else source_effect_quantiles(r, [s_ for _, s_ in vals], lvl))
             for lvl in (level, *extra_levels)}
        groups[key] = (*q.pop(level), len(vals))
        if q:
            levels[key] = q
    counts = support_counts(support, src) if support else {}
    by_key: dict[str, list[float]] = {}
    for k, r, good in zip(support or [], r_speed, ok, strict=False):
        if good:
            by_key.setdefault(k, []).append(float(r))
    bias = {k: float(np.median(v)) for k, v in by_key.items()}
    return IntervalTable(level, min_rows, groups, provenance or {}, counts, levels, bias)


def interval(value: float, is_time: bool, q_lo: float, q_hi: float) -> tuple[float, float]:
    """The interval of a predicted value given speed-oriented residual quantiles (see module)."""
    if is_time:
        return value * math.exp(q_lo), value * math.exp(q_hi)
    return value * math.exp(-q_hi), value * math.exp(-q_lo)


def check_level(level: float) -> float:
    """A central interval level in (0, 1), else an InputError naming it."""
    if not (isinstance(level, int | float) and math.isfinite(level) and 0 < level < 1):
        raise InputError(f"confidence level {level!r} is not between 0 and 1 (exclusive): "
                         "give e.g. 0.8 for an 80% interval")
    return float(level)


def quantiles_at_level(q_lo: float, q_hi: float, table_level: float, level: float,
                       stored: dict[float, tuple[float, float]] | None = None) -> tuple[float, float]:
    """Residual quantiles of a central ``level`` interval from those stored for a group: the
    table's level (``q_lo``, ``q_hi``) and the ``stored`` further levels (:data:`EXTRA_LEVELS`).

    A stored level's quantiles as they are. Between two stored levels, each end is interpolated
    linearly in ``z((1 + level) / 2)`` (the normal quantile: exact if the residuals were normal
    between those levels, and the ends still move monotonically otherwise). Beyond the stored
    range, the nearest stored level's midpoint is kept and its log-width scaled by the ratio of
    normal quantiles (log-normal tails: at 0.8 -> 0.9 the width grows by 1.645 / 1.282 = 1.28x),
    which is all a table without extra levels has.
    """
    level = check_level(level)
    known = dict(stored or {})
    known[table_level] = (q_lo, q_hi)
    for lv, q in known.items():
        if math.isclose(level, lv):
            return q
    z = NormalDist().inv_cdf
    zl = z((1 + level) / 2)
    below = [lv for lv in known if lv < level]
    above = [lv for lv in known if lv > level]
    if below and above:
        a, b = max(below), min(above)
        za, zb = z((1 + a) / 2), z((1 + b) / 2)
        w = (zl - za) / (zb - za)
        (lo_a, hi_a), (lo_b, hi_b) = known[a], known[b]
        return lo_a + w * (lo_b - lo_a), hi_a + w * (hi_b - hi_a)
    near = max(below) if below else min(above)
    lo, hi = known[near]
    k = zl / z((1 + near) / 2)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    return mid - k * half, mid + k * half


@dataclass(frozen=True)
class MetricInterval:
    """One predicted value's interval and what it was read from."""

    low: float
    high: float
    q_lo: float  # speed-oriented log-residual quantiles used (at `level`)
    q_hi: float
    group: str  # table group after backing off (class|family|regime, ..., all)
    rows: int  # cross-validated residuals in that group
    level: float

    def text(self, fmt: Callable[[float], str] = "{:.3g}".format) -> str:
        """'80% interval 12.1-19.4 (gpu|decode|decode-b1, 164 rows)'."""
        return (f"{self.level:.0%} interval {fmt(self.low)} - {fmt(self.high)} "
                f"({self.group}, {self.rows} rows)")


def metric_interval(value: float, fld: str, hw_class: str, mode: str, batch: int, input_len: int,
                    output_len: int, *, level: float | None = None,
                    table: IntervalTable | None = None, support: str | None = None) -> MetricInterval | None:
    """The interval of one estimate field ``fld`` (a :data:`FIELD_FAMILY` key) predicted as
    ``value`` for a computation of this class and regime (and corpus ``support``, a
    :func:`support_key`); None without a table, a family or a finite value."""
    table = table or load_intervals()
    if table is None or fld not in FIELD_FAMILY or not math.isfinite(value):
        return None
    fam, is_time = FIELD_FAMILY[fld]
    if fld == "prefill_tok_s" and mode in ("concurrency", "offline"):
        fam = "throughput"  # requests/s x prompt tokens there: a system throughput, not a TTFT
    q_lo, q_hi, key = table.lookup(hw_class, fam, regime(mode, batch, fam, input_len, output_len), support)
    lvl = table.level if level is None else check_level(level)
    q_lo, q_hi = quantiles_at_level(q_lo, q_hi, table.level, lvl, table.levels.get(key))
    lo, hi = interval(float(value), is_time, q_lo, q_hi)
    return MetricInterval(lo, hi, q_lo, q_hi, key, table.groups.get(key, (0, 0, 0))[2], lvl)


def with_ends(iv: MetricInterval, value: float, fld: str, low: float, high: float) -> MetricInterval:
    """`iv` of a value predicted as `value` with new ends (a roofline clip), its residual
    quantiles moved to match, so that what reads the quantiles (:func:`ratio_interval`) sees the
    clip too."""
    if (low, high) == (iv.low, iv.high) or not (value > 0 and low > 0 and high > 0):
        return iv
    lo, hi = math.log(low / value), math.log(high / value)
    q_lo, q_hi = (lo, hi) if FIELD_FAMILY[fld][1] else (-hi, -lo)
    return replace(iv, low=low, high=high, q_lo=q_lo, q_hi=q_hi)


def ratio_interval(ratio: float, is_time: bool, a: MetricInterval, b: MetricInterval) -> tuple[float, float]:
    """Interval of a ratio of two predictions ``value_a / value_b`` of one metric.

    The log error of the ratio is the difference of the two log errors: its midpoint is the
    difference of the midpoints and, the two taken as independent, its half-width the root sum
    of squares of the half-widths. Errors the two share (same class and regime) cancel in a
    ratio, so this is wider than the truth when they do: a ratio is called outside only when it
    is outside under that generous reading.
    """
    mid = (a.q_lo + a.q_hi) / 2 - (b.q_lo + b.q_hi) / 2
    half = math.hypot((a.q_hi - a.q_lo) / 2, (b.q_hi - b.q_lo) / 2)
    return interval(ratio, is_time, mid - half, mid + half)


def speed_residual(predicted: float, measured: float, metric_is_time: bool) -> float:
    """Speed-oriented log error of one row: log(predicted/measured), negated for a latency."""
    r = math.log(predicted / measured)
    return -r if metric_is_time else r


def estimate_intervals(values: dict[str, float | None], hw_class: str, mode: str, batch: int,
                       input_len: int, output_len: int,
                       table: IntervalTable | None = None,
                       level: float | None = None, support: str | None = None) -> dict[str, list[float]]:
    """``{field: [low, high]}`` for every interval-bearing field of an estimate that has a value
    (at the table's level, or ``level``: see :func:`quantiles_at_level`)."""
    table = table or load_intervals()
    if table is None:
        return {}
    out: dict[str, list[float]] = {}
    for fld in FIELD_FAMILY:
        v = values.get(fld)
        if v is None:
            continue
        iv = metric_interval(float(v), fld, hw_class, mode, batch, input_len, output_len,
                             level=level, table=table, support=support)
        if iv is not None:
            out[fld] = [iv.low, iv.high]
    return out


def plan_intervals(plan: EstimatePlan, met: dict[str, float | None], usd_in: float | None, usd_out: float | None,
                   jpt: float | None) -> dict[str, list[float]]:
    """Intervals of an estimate's metrics ``met`` and cost/energy figures for its plan, each
    kept on the possible side of the roofline (:func:`roof_clip`)."""
    values = {**met, "usd_per_1m_input_tokens": usd_in, "usd_per_1m_output_tokens": usd_out,
              "joules_per_output_token": jpt}
    out = estimate_intervals(values, plan.dep.hw.hw_class, plan.mode, plan.batch,
                             plan.input_len, plan.output_len,
                             support=deployment_support(plan.dep))
    bounds = roof_bounds(plan)
    res = {k: list(roof_clip(plan, k, v[0], v[1], bounds=bounds)) for k, v in out.items()}
    if "ttft_s" in res and "e2e_latency_s" in res:
        # the end-to-end time is the TTFT and O - 1 token times (the TTFT alone for one token):
        # each end no shorter than its TTFT end plus O - 1 tokens at TPOT's low end (the
        # intervals come from different groups of residuals; a 128k prompt's high TTFT end
        # still decodes its tokens)
        t, e = res["ttft_s"], res["e2e_latency_s"]
        rest = (plan.output_len - 1) * res["tpot_s"][0] if "tpot_s" in res and plan.output_len > 1 else 0.0
        res["e2e_latency_s"] = (list(t) if plan.output_len <= 1
                                else [max(e[0], t[0] + rest), max(e[1], t[1] + rest)])
    return res


@lru_cache(maxsize=1)
def default_intervals_path() -> Path:
    return Path(__file__).resolve().parent.parent / "calib" / "data" / "intervals.yaml"


def table_from_dict(raw: dict[str, Any]) -> IntervalTable:
    raw_groups = raw.get("groups") or {}
    groups = {k: (float(v["low"]), float(v["high"]), int(v["rows"])) for k, v in raw_groups.items()}
    levels = {k: {float(lv): (float(q["low"]), float(q["high"])) for lv, q in v["levels"].items()}
              for k, v in raw_groups.items() if v.get("levels")}
    sup = raw.get("supported") or {}
    supported = ({str(k): (int(v["rows"]), int(v["sources"])) for k, v in sup.items()}
                 if isinstance(sup, dict) else {str(k): (0, 0) for k in sup})
    bias = ({str(k): float(v["held_out_log_speed_bias"]) for k, v in sup.items()
             if "held_out_log_speed_bias" in v} if isinstance(sup, dict) else {})
    return IntervalTable(float(raw.get("level", INTERVAL_LEVEL)), int(raw.get("min_rows", MIN_ROWS)),
                         groups, raw.get("provenance") or {}, supported, levels, bias)


def _group_dict(t: IntervalTable, key: str) -> dict[str, Any]:
    lo, hi, n = t.groups[key]
    out: dict[str, Any] = {"low": round(lo, 4), "high": round(hi, 4), "rows": n}
    if t.levels.get(key):
        out["levels"] = {str(lv): {"low": round(q[0], 4), "high": round(q[1], 4)}
                         for lv, q in sorted(t.levels[key].items())}
    return out


def table_to_dict(t: IntervalTable) -> dict[str, Any]:
    return {"level": t.level, "min_rows": t.min_rows,
            "orientation": "quantiles of log(predicted speed / measured speed), cross-validated",
            "provenance": t.provenance,
            "supported": {k: {"rows": r, "sources": n, **({"held_out_log_speed_bias": round(t.support_bias[k], 4)}
                                                         if k in t.support_bias else {})}
                          for k, (r, n) in sorted(t.supported.items())},
            "groups": {k: _group_dict(t, k) for k in sorted(t.groups)}}


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> IntervalTable:
    from inferplan.catalog._load import load_yaml

    return table_from_dict(load_yaml(Path(path)) or {})


def load_intervals(path: Path | None = None) -> IntervalTable | None:
    """The bundled interval table (None if absent)."""
    p = path.resolve() if path is not None else default_intervals_path()
    try:
        mtime = p.stat().st_mtime
    except FileNotFoundError:
        return None
    return _load(str(p), mtime)
