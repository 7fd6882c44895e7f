"""All rows of a corpus predicted at once, for any efficiency factors (the calibration's engine).

A row's deployment, step compositions and work at peak rates do not depend on the efficiency
factors (``plan_estimate`` -> :class:`~inferplan.perf.step.StepWork`); only the factors change
between fits. This module flattens the work of every row once into arrays (one entry per
operator of every step of every row) and evaluates ``StepWork.time_s`` for all of them with a
handful of numpy operations, so a fit of ~50 factors on ~500 rows costs well under a second.

The metric of a row is ``K * L ** s`` with ``L = sum_w a_w * T_w`` linear in the total times
``T_w`` of its works (prefill, decode, mixed steps) and ``s = +1`` for a latency, ``-1`` for a
rate: every metric of ``evaluate_plan`` has this form (e.g. output tok/s = B*O / (T_prefill +
(O-1) T_decode)). The coefficients are read off ``evaluate_plan`` itself by probing it with
constant work times and checked on a random probe; a row whose metric is not of that form is
evaluated through ``evaluate_plan`` directly (slow path), so the two can never disagree.
A served row (concurrency mode) adds its prompt's queueing wait ``W(P, B, n)``
(perf/queueing.py), a fixed function of two more linear forms of the work times (the cycle's
prompt time ``P`` and busy time ``B``): ``L = sum_w a_w T_w + c R + q W``.
``tests/calib/test_fastpred.py`` checks the whole evaluator against ``Row.predict``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from inferplan.calib.dataset import Row
from inferplan.perf.efficiency import FACTORS, HW_SCOPE_PREFIX, Efficiency, FactorValue
from inferplan.perf.factors import (
    NATIVE_SOURCE,
    engine_lineage,
    factor_scopes,
    hardware_scope,
    resolve_factors,
)
from inferplan.perf.queueing import cycle_shape, prefill_queue_s, served_cycle_s
from inferplan.perf.regimes import TIME_METRICS
from inferplan.perf.step import Factors, StepWork, gemm_efficiency, roofline_s

MIN_POSITIVE = {"layer_overhead_s": 1e-7, "dequant_ops_per_weight": 0.05,
                "gemm_m_half_tokens": 0.05, "moe_m_half_tokens": 0.05, "seq_overhead_s": 1e-7,
                "small_kernel_s": 1e-8, "prefill_layer_overhead_s": 1e-8, "request_overhead_s": 1e-5,
                "moe_n_half": 0.05}


def log_bounds(model: CorpusModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log prior, lower, upper) of every parameter of the model."""
    names = [n for n, _ in model.params]
    prior = np.array([max(v, MIN_POSITIVE.get(n, 1e-6)) for n, v in zip(names, model.prior, strict=True)])
    lo = np.array([math.log(max(FACTORS[n][0], MIN_POSITIVE.get(n, 1e-6))) for n in names])
    hi = np.array([math.log(FACTORS[n][1]) for n in names])
    return np.clip(np.log(prior), lo + 1e-9, hi - 1e-9), lo, hi


KIND_CODE = {"linear": 0, "experts": 1, "attention": 2, "head": 3}

# slot -> (Factors field it feeds); bw/ce are products of a family factor and an engine factor
SLOTS = ("bw", "engine_bw", "ce", "engine_ce", "lo", "so", "dqw", "dqe", "comm", "kv_bw",
         "m_half", "moe_half", "lowp_w", "lowp_e", "seq", "sk", "plo", "req", "moe_n", "attn", "moe_e", "lat")
# which resolved factor (``resolve_factors``' ``used`` key) each slot reads
SLOT_USED = {"bw": "bw_eff", "engine_bw": "engine_bw", "ce": "compute_eff",
             "engine_ce": "engine_compute", "lo": "layer_overhead_s", "so": "step_overhead_s",
             "dqw": "dequant_w", "dqe": "dequant_e", "comm": "comm_eff", "kv_bw": "kv_bw",
             "m_half": "gemm_m_half_tokens", "moe_half": "moe_m_half_tokens",
             "lowp_w": "lowp_w", "lowp_e": "lowp_e", "seq": "seq_overhead_s",
             "sk": "small_kernel_s", "plo": "prefill_layer_overhead_s", "req": "request_overhead_s",
             "moe_n": "moe_n_half", "attn": "attn_compute", "moe_e": "moe_eff", "lat": "link_latency"}
# model terms that can be switched off (fixed at their neutral value) to measure what they add
TERM_SLOTS = {"kv_bw": ("kv_bw",), "gemm_m": ("m_half",), "moe_m": ("moe_half",),
              "lowp": ("lowp_w", "lowp_e"), "seq_overhead": ("seq",), "small_kernels": ("sk",),
              "prefill_eager": ("plo",), "request_overhead": ("req",), "moe_width": ("moe_n",),
              "attn_compute": ("attn",), "moe_eff": ("moe_e",), "link_latency": ("lat",)}
NEUTRAL = {"kv_bw": 1.0, "m_half": 0.0, "moe_half": 0.0, "lowp_w": 1.0, "lowp_e": 1.0, "seq": 0.0,
           "sk": 0.0, "plo": 0.0, "req": 0.0, "moe_n": 0.0, "attn": 1.0, "moe_e": 1.0, "lat": 1.0}


def _profile_scope(found: str, own: str) -> str:
    """Where the profile holds a factor (the scope it was found at), else the engine's own: a
    device's scope (``hw:``) and the implied default are not profile-wide places to fit."""
    return found if found != "default" and not found.startswith(HW_SCOPE_PREFIX) else own


def fitted_keys(dep, used: dict[str, FactorValue], per_hardware: bool = False) -> dict[str, tuple[str, str]]:
    """The (factor, scope) each tunable slot of a row maps to; with `per_hardware`, the row's
    device's own scope for every slot (``factors.hardware_scope``: a user's calibration that
    changes no other device).

    Family and engine multipliers, GEMM half-points and the low-precision share are fitted at
    the most specific scope of their lookup (``factor_scopes``); overheads and the KV-read
    multiplier where the profile holds them, else per engine; unpack costs per non-native
    precision; the link latency per hardware id where TP runs on a ring link (``factor_scopes``).
    Step overheads and link efficiency stay at their priors (not separable from the per-layer
    overheads and TP traffic with these data).
    """
    if per_hardware:
        keys = fitted_keys(dep, used)
        return {slot: (name, hardware_scope(dep, SLOT_USED[slot]))
                for slot, (name, _) in keys.items()}
    # the profile-wide scopes: a device's own scope (calibrate --scope hardware) left out
    sc = {k: [x for x in v if not x.startswith(HW_SCOPE_PREFIX)] for k, v in factor_scopes(dep).items()}
    own = engine_lineage(dep)[0]  # the engine whose factors these are (a fork uses its base's)
    keys = {"bw": ("bw_eff", sc["bw_eff"][0]), "engine_bw": ("engine_bw", sc["engine_bw"][0]),
            "ce": ("compute_eff", sc["compute_eff"][0]),
            "engine_ce": ("engine_compute", sc["engine_compute"][0]),
            "m_half": ("gemm_m_half_tokens", sc["gemm_m_half_tokens"][0]),
            "attn": ("attn_compute", sc["attn_compute"][0])}
    # The eager-prefill and per-request server terms are fitted per engine too. (They were held at
    # their priors while InferenceX's TTFTs were means, which a cold first wave of requests pulls
    # up; on its medians, fitting them lowers the leave-one-source-out error: 21.1% -> 20.7%
    # median, 9.2% -> 8.8% off by > 2x, 2026-12-04.)
    for slot, name in (("lo", "layer_overhead_s"), ("seq", "seq_overhead_s"), ("kv_bw", "kv_bw"),
                       ("req", "request_overhead_s"), ("plo", "prefill_layer_overhead_s")):
        keys[slot] = (name, _profile_scope(used[name].scope, own))
    if dep.model.is_moe or any(g.mixer_kind == "mla" for g in dep.groups):
        keys["sk"] = ("small_kernel_s", _profile_scope(used["small_kernel_s"].scope, own))
    if dep.model.is_moe:
        keys["moe_half"] = ("moe_m_half_tokens", sc["moe_m_half_tokens"][0])
        keys["moe_n"] = ("moe_n_half", sc["moe_n_half"][0])
        keys["moe_e"] = ("moe_eff", (sc["moe_eff"] or ["default"])[0])
    # the link latency is fitted where an all-reduce steps 2(n-1) times around a ring (factors.py
    # _ring_link_scope); switched fabrics keep their catalog latency (fitted on every link, width
    # 2, 2026-12-06: 17.4% / p90 57.3%; on ring links 17.2% / 57.0%)
    if sc["link_latency"]:
        keys["lat"] = ("link_latency", sc["link_latency"][0])
    for slot, key in (("lowp_w", "lowp_w"), ("lowp_e", "lowp_e")):
        if not used[key].source.endswith("no low-precision term"):
            keys[slot] = ("lowp_eff", sc[key][0])
    for slot in ("dqw", "dqe"):
        u = used["dequant_w" if slot == "dqw" else "dequant_e"]
        if u.source != NATIVE_SOURCE:
            keys[slot] = ("dequant_ops_per_weight", sc["dequant_w" if slot == "dqw" else "dequant_e"][0])
    return keys


class _ConstWork:
    """Stand-in for a StepWork with a given total time (used to probe evaluate_plan); every
    other attribute (step counts, shapes) is the real work's."""

    def __init__(self, work, t: float) -> None:
        self._work, self.t = work, t

    def __getattr__(self, name: str):
        return getattr(self._work, name)

    def total_time_s(self, f) -> float:
        return self.t


def _stub(plan, times: dict[str, float]):
    """The plan with its works reporting fixed times (and any other StepWork field, e.g. the
    riders of a prefill group, reporting 0 s: the metrics checked in build_corpus_model)."""
    extra = {f.name: _ConstWork(getattr(plan, f.name), 0.0) for f in dataclasses.fields(plan)
             if f.name != "works" and isinstance(getattr(plan, f.name), StepWork)}
    return dataclasses.replace(plan, works={k: _ConstWork(plan.works[k], t)  # type: ignore[misc]
                                            for k, t in times.items()}, **extra)


def _request_only(request_overhead_s: float) -> Factors:
    """Factors for probing a stubbed plan: only the per-request server time matters (the stub's
    works report fixed times whatever the factors)."""
    return Factors(bw_eff=1.0, compute_eff=1.0, layer_overhead_s=0.0, step_overhead_s=0.0,
                   dequant_ops_w=0.0, dequant_ops_e=0.0, comm_eff=1.0,
                   request_overhead_s=request_overhead_s)


@dataclass
class _Form:
    """metric = K * (sum a_w T_w + c R + q W(P, B, n)) ** s (module docstring)."""

    names: list[str]
    coef: np.ndarray
    K: float
    s: int
    c_req: float
    q: float = 0.0  # coefficient of the served prompt's queueing wait W
    p: np.ndarray | None = None  # P = p . T (the cycle's marginal prompt seconds)
    b: np.ndarray | None = None  # B = b . T (the cycle's busy seconds)
    n: float = 1.0  # prompt groups per cycle (the queue's arriving units)


def _cycle_forms(plan, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of the cycle's prompt and busy seconds over the works (perf/queueing.py)."""
    p, b = np.zeros(len(names)), np.zeros(len(names))
    groups, steps = cycle_shape(plan)
    for i, name in enumerate(names):
        if name in ("prefill", "decode"):
            unit = (1.0, 0.0) if name == "prefill" else (0.0, 1.0)
            b[i], p[i] = served_cycle_s(*unit, groups, steps, plan.output_len)
    return p, b


def _metric_form(row: Row) -> _Form | None:
    """The row's metric as a :class:`_Form`, or None (then it takes the slow path)."""
    plan = row.plan
    assert plan is not None
    names = list(plan.works)
    s = 1 if row.metric in TIME_METRICS else -1

    def g(times, req: float = 0.0, queue: float = 0.0) -> float | None:
        stub = _stub(plan, {k: float(t) for k, t in zip(names, times, strict=True)})
        v = row.metric_from(stub, _request_only(req) if req else None, queue_s=queue)
        if v is None or not np.isfinite(v) or v <= 0:
            return None
        return v ** s  # linear in the times, the request time and the wait (queue fixed)

    ones = np.ones(len(names))
    g0 = g(ones)
    if g0 is None:
        return None
    coef = np.zeros(len(names))
    for i in range(len(names)):
        t = ones.copy()
        t[i] = 2.0
        gi = g(t)
        if gi is None:
            return None
        coef[i] = gi - g0
    g_req, g_q = g(ones, 1.0), g(ones, 0.0, 1.0)
    if g_req is None or g_q is None:
        return None
    c_req, q = g_req - g0, g_q - g0
    probe = np.array([0.37, 1.9, 0.011, 5.3, 0.7][: len(names)] + [1.0] * max(0, len(names) - 5))
    gp = g(probe, 0.013, 0.007)
    if gp is None or not math.isclose(gp, float(coef @ probe) + 0.013 * c_req + 0.007 * q,
                                      rel_tol=1e-9, abs_tol=1e-15):
        return None
    form = _Form(names, coef, 1.0, s, c_req)
    if plan.mode == "concurrency" and abs(q) > 0:
        form.q = q
        form.p, form.b = _cycle_forms(plan, names)
        form.n = float(cycle_shape(plan)[0])  # arriving units: the cycle's prompt groups
    return form


@dataclass
class CorpusModel:
    """The work of every predictable row, flattened; :meth:`predict` times all of it."""

    rows: list[Row]
    params: list[tuple[str, str]]  # fitted (factor, scope) keys, in parameter order
    prior: np.ndarray  # prior value of each parameter
    slot_idx: dict[str, np.ndarray]  # per row: parameter index, -1 = fixed
    slot_fixed: dict[str, np.ndarray]  # per row: value when fixed
    # ops
    op_tc: np.ndarray
    op_tm: np.ndarray
    op_tuw: np.ndarray
    op_tue: np.ndarray
    op_m: np.ndarray
    op_kind: np.ndarray
    op_row: np.ndarray
    op_step: np.ndarray
    op_gemv: np.ndarray  # GEMM peak over vector rate of each op (StepWork.gemv_ratio)
    op_width: np.ndarray  # expert-slice width per device of expert ops (0 elsewhere)
    # steps
    st_link: np.ndarray
    st_lat: np.ndarray
    st_layers: np.ndarray
    st_rows: np.ndarray
    st_offload: np.ndarray
    st_work: np.ndarray
    st_row: np.ndarray
    st_host: np.ndarray  # seconds of host-computed experts (already at the host's efficiency)
    st_small: np.ndarray  # kernels of MLA/MoE layers per step (small_kernel_s each)
    st_prefill_layers: np.ndarray  # layer units of prompt-carrying steps (prefill_layer_overhead_s)
    st_overlap: np.ndarray  # bool: the engine overlaps host and device work (StepWork.host_overlap)
    # works and rows
    wk_row: np.ndarray
    wk_coef: np.ndarray
    row_k: np.ndarray
    row_s: np.ndarray
    row_req: np.ndarray  # coefficient of the per-request server time in L
    wk_p: np.ndarray  # per work: coefficient in the cycle's prompt seconds P (served rows)
    wk_b: np.ndarray  # per work: coefficient in the cycle's busy seconds B (served rows)
    row_q: np.ndarray  # coefficient of the prompt's queueing wait W(P, B, n) in L
    row_n: np.ndarray  # prompt groups per cycle, the arriving units (served rows; 1 elsewhere)
    slow: list[int]  # rows evaluated through evaluate_plan
    slow_works: dict[int, list[tuple[str, int]]]  # row -> (work name, work index)

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    def slot_values(self, x: np.ndarray, disabled: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
        """Per-row value of every slot for log-parameters ``x`` (disabled terms at neutral)."""
        theta = np.exp(np.asarray(x, dtype=float))
        out = {}
        off = {s for t in disabled for s in TERM_SLOTS[t]}
        for slot in SLOTS:
            idx = self.slot_idx[slot]
            v = np.where(idx >= 0, theta[np.maximum(idx, 0)] if len(theta) else 0.0, self.slot_fixed[slot])
            if slot in off:
                v = np.full(self.n_rows, NEUTRAL[slot])
            out[slot] = v
        return out

    def predict(self, x: np.ndarray, disabled: tuple[str, ...] = ()) -> np.ndarray:
        """Predicted metric of every row (its unit) for log-parameters ``x``; nan if undefined."""
        v = self.slot_values(x, disabled)
        bw = np.minimum(1.0, v["bw"] * v["engine_bw"])
        ce = np.minimum(1.0, v["ce"] * v["engine_ce"])
        r, k = self.op_row, self.op_kind
        attn = k == KIND_CODE["attention"]
        experts = k == KIND_CODE["experts"]
        be_op = np.minimum(1.0, bw[r] * np.where(attn, v["kv_bw"][r], 1.0))
        width_eff = gemm_efficiency(self.op_width, v["moe_n"][r])  # narrow expert slices
        lowp = np.where(experts, v["lowp_e"][r] * width_eff, np.where(attn, 1.0, v["lowp_w"][r]))
        half = np.where(experts, v["moe_half"][r], np.where(attn, 0.0, v["m_half"][r]))
        eff = np.maximum(gemm_efficiency(self.op_m, half) * lowp, 1 / self.op_gemv)
        eff = np.where(attn, v["attn"][r], eff)  # StepWork.effective_parts
        compute = (self.op_tc / eff
                   + v["dqw"][r] * self.op_tuw + v["dqe"][r] * self.op_tue) / ce[r]
        moe = np.where(experts, v["moe_e"][r], 1.0)
        t_op = roofline_s(compute / moe, self.op_tm / be_op / moe)
        n_steps = len(self.st_work)
        sr = self.st_row
        device = (np.bincount(self.op_step, weights=t_op, minlength=n_steps)
                  + self.st_link / v["comm"][sr] + self.st_lat * v["lat"][sr] + self.st_layers * v["lo"][sr]
                  + self.st_host + self.st_small * v["sk"][sr]
                  + self.st_prefill_layers * v["plo"][sr])
        host = v["so"][sr] + v["seq"][sr] * self.st_rows  # StepWork.time_s: added or overlapped
        dev = np.where(self.st_overlap, np.maximum(device, host), device + host)
        st_t = np.maximum(dev, self.st_offload / v["comm"][sr])
        wk_t = np.bincount(self.st_work, weights=st_t, minlength=len(self.wk_row))
        L = (np.bincount(self.wk_row, weights=self.wk_coef * wk_t, minlength=self.n_rows)
             + self.row_req * v["req"])
        if self.row_q.any():  # served rows: the prompt's wait behind the others' (perf/queueing.py)
            P = np.bincount(self.wk_row, weights=self.wk_p * wk_t, minlength=self.n_rows)
            B = np.bincount(self.wk_row, weights=self.wk_b * wk_t, minlength=self.n_rows)
            L = L + self.row_q * prefill_queue_s(P, B, self.row_n)
        with np.errstate(divide="ignore", invalid="ignore"):
            pred = self.row_k * np.where(L > 0, L, np.nan) ** self.row_s
        for i in self.slow:  # rows whose metric is not K * L**s: their own estimate
            f = Factors(bw_eff=float(bw[i]), compute_eff=float(ce[i]), layer_overhead_s=float(v["lo"][i]),
                        step_overhead_s=float(v["so"][i]), dequant_ops_w=float(v["dqw"][i]),
                        dequant_ops_e=float(v["dqe"][i]), comm_eff=float(v["comm"][i]),
                        kv_bw=float(v["kv_bw"][i]), gemm_m_half_tokens=float(v["m_half"][i]),
                        moe_m_half_tokens=float(v["moe_half"][i]), lowp_eff_w=float(v["lowp_w"][i]),
                        lowp_eff_e=float(v["lowp_e"][i]), seq_overhead_s=float(v["seq"][i]),
                        small_kernel_s=float(v["sk"][i]), prefill_layer_overhead_s=float(v["plo"][i]),
                        request_overhead_s=float(v["req"][i]), moe_n_half=float(v["moe_n"][i]),
                        attn_compute=float(v["attn"][i]), moe_eff=float(v["moe_e"][i]),
                        link_latency=float(v["lat"][i]))
            val = self.rows[i].predict(f)
            pred[i] = np.nan if val is None else val
        return pred


def build_corpus_model(rows: list[Row], eff: Efficiency, per_hardware: bool = False) -> CorpusModel:
    """Flatten the predictable ``rows`` under the (prior) profile ``eff`` (`per_hardware`: the
    fitted parameters are the rows' devices' own, :func:`fitted_keys`)."""
    rows = [r for r in rows if r.plan is not None]
    per_row = []
    params: dict[tuple[str, str], float] = {}
    for r in rows:
        f0, used = resolve_factors(r.plan.dep, eff)  # type: ignore[union-attr]
        keys = fitted_keys(r.plan.dep, used, per_hardware)  # type: ignore[union-attr]
        fixed = {slot: (f0_value(f0, used, slot)) for slot in SLOTS}
        for slot, key in keys.items():
            params.setdefault(key, fixed[slot])
        per_row.append((keys, fixed))
    plist = sorted(params)
    pindex = {k: i for i, k in enumerate(plist)}
    slot_idx = {s: np.array([pindex[k[s]] if s in k else -1 for k, _ in per_row], dtype=int) for s in SLOTS}
    slot_fixed = {s: np.array([fx[s] for _, fx in per_row], dtype=float) for s in SLOTS}

    ops: dict[str, list] = {k: [] for k in ("tc", "tm", "tuw", "tue", "m", "kind", "row", "step", "gemv",
                                            "width")}
    st: dict[str, list] = {k: [] for k in ("link", "lat", "layers", "rows", "offload", "work", "row", "host",
                                           "small", "plo", "overlap")}
    wk_row: list[int] = []
    wk_coef: list[float] = []
    wk_p: list[float] = []
    wk_b: list[float] = []
    row_k, row_s, row_req, row_q, row_n, slow = [], [], [], [], [], []
    slow_works: dict[int, list[tuple[str, int]]] = {}
    n_steps = 0
    for i, r in enumerate(rows):
        form = _metric_form(r)
        names = list(r.plan.works)  # type: ignore[union-attr]
        if form is None:
            slow.append(i)
            form = _Form(names, np.zeros(len(names)), 1.0, 1, 0.0)
        names = form.names
        row_k.append(form.K)
        row_s.append(form.s)
        row_req.append(form.c_req)
        row_q.append(form.q)
        row_n.append(form.n)
        zero = np.zeros(len(names))
        work_ids = []
        for wname, a, pw, bw in zip(names, form.coef, zero if form.p is None else form.p,
                                    zero if form.b is None else form.b, strict=True):
            w = r.plan.works[wname]  # type: ignore[union-attr]
            widx = len(wk_row)
            work_ids.append((wname, widx))
            wk_row.append(i)
            wk_coef.append(float(a))
            wk_p.append(float(pw))
            wk_b.append(float(bw))
            tc = np.asarray(w.t_compute, dtype=float)
            n_ops = tc.shape[0]
            tc = tc.reshape(n_ops, -1)
            ns = tc.shape[1]
            shape = (n_ops, ns)

            def flat(a2, shape=shape):
                return np.broadcast_to(np.asarray(a2, dtype=float).reshape(shape[0], -1), shape).ravel()

            def flat_step(a1, ns=ns):
                return np.broadcast_to(np.asarray(a1, dtype=float).ravel(), (ns,)) if np.size(a1) in (1, ns) else np.asarray(a1, dtype=float).ravel()

            kinds = w.op_kinds or tuple("linear" for _ in w.op_names)
            ops["tc"].append(tc.ravel())
            ops["tm"].append(flat(w.t_memory))
            ops["tuw"].append(flat(w.t_unpack_w))
            ops["tue"].append(flat(w.t_unpack_e))
            gm = w.gemm_m if w.gemm_m is not None else np.zeros(shape)
            ops["m"].append(flat(gm))
            ops["kind"].append(np.repeat([KIND_CODE[k] for k in kinds], ns))
            gv = w.gemv_ratio if w.gemv_ratio is not None else np.ones(n_ops)
            ops["gemv"].append(np.repeat(np.asarray(gv, dtype=float), ns))
            wd = w.expert_width if w.expert_width is not None else np.zeros(n_ops)
            ops["width"].append(np.repeat(np.asarray(wd, dtype=float), ns))
            ops["row"].append(np.full(n_ops * ns, i))
            ops["step"].append(np.tile(np.arange(ns) + n_steps, n_ops))
            st["link"].append(flat_step(w.t_link))
            st["lat"].append(flat_step(w.t_link_latency))
            st["layers"].append(np.full(ns, float(w.layers)))
            st["rows"].append(flat_step(w.rows))
            st["offload"].append(flat_step(w.t_offload))
            st["work"].append(np.full(ns, widx))
            st["row"].append(np.full(ns, i))
            st["host"].append(flat_step(getattr(w, "t_host", 0.0)))
            st["small"].append(flat_step(w.small_kernels))
            st["plo"].append(flat_step(w.prefill_layers))
            st["overlap"].append(np.full(ns, bool(w.host_overlap)))
            n_steps += ns
        if form is None:
            slow_works[i] = work_ids

    def cat(xs, dtype=float):
        return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype=dtype)

    model = CorpusModel(
        rows=rows, params=plist, prior=np.array([params[k] for k in plist]),
        slot_idx=slot_idx, slot_fixed=slot_fixed,
        op_tc=cat(ops["tc"]), op_tm=cat(ops["tm"]), op_tuw=cat(ops["tuw"]), op_tue=cat(ops["tue"]),
        op_m=cat(ops["m"]), op_kind=cat(ops["kind"], int), op_row=cat(ops["row"], int),
        op_step=cat(ops["step"], int), op_gemv=cat(ops["gemv"]), op_width=cat(ops["width"]),
        st_link=cat(st["link"]), st_lat=cat(st["lat"]), st_layers=cat(st["layers"]),
        st_rows=cat(st["rows"]), st_offload=cat(st["offload"]), st_work=cat(st["work"], int),
        st_row=cat(st["row"], int), st_host=cat(st["host"]),
        st_small=cat(st["small"]), st_prefill_layers=cat(st["plo"]),
        st_overlap=cat(st["overlap"], bool),
        wk_row=np.array(wk_row, dtype=int), wk_coef=np.array(wk_coef, dtype=float),
        wk_p=np.array(wk_p, dtype=float), wk_b=np.array(wk_b, dtype=float),
        row_q=np.array(row_q, dtype=float), row_n=np.array(row_n, dtype=float),
        row_k=np.array(row_k, dtype=float), row_s=np.array(row_s, dtype=float),
        row_req=np.array(row_req, dtype=float),
        slow=slow, slow_works=slow_works,
    )
    _check_fast_rows(model)
    return model


def _check_fast_rows(model: CorpusModel) -> None:
    """Move to the slow path every row whose fast prediction differs from its own estimate at
    the prior factors (guards the linear form against changes in evaluate_plan)."""
    if not model.n_rows:
        return
    x0, _, _ = log_bounds(model)
    fast = model.predict(x0)
    model.slow = list(range(model.n_rows))
    slow = model.predict(x0)
    model.slow = [i for i in range(model.n_rows)
                  if not (np.isclose(fast[i], slow[i], rtol=1e-9) or (np.isnan(fast[i]) and np.isnan(slow[i])))]
    for i in model.slow:
        model.slow_works.setdefault(i, [])


def f0_value(f0, used: dict[str, FactorValue], slot: str) -> float:
    """Value of a slot in the resolved factors (family and engine parts kept apart)."""
    name = SLOT_USED[slot]
    if slot in ("bw", "engine_bw", "ce", "engine_ce"):
        return used[name].value
    return {"lo": f0.layer_overhead_s, "so": f0.step_overhead_s, "dqw": f0.dequant_ops_w,
            "dqe": f0.dequant_ops_e, "comm": f0.comm_eff, "kv_bw": f0.kv_bw,
            "m_half": f0.gemm_m_half_tokens, "moe_half": f0.moe_m_half_tokens,
            "lowp_w": f0.lowp_eff_w, "lowp_e": f0.lowp_eff_e, "seq": f0.seq_overhead_s,
            "sk": f0.small_kernel_s, "plo": f0.prefill_layer_overhead_s, "req": f0.request_overhead_s,
            "moe_n": f0.moe_n_half, "attn": f0.attn_compute, "moe_e": f0.moe_eff,
            "lat": f0.link_latency}[slot]
