"""Fit the named efficiency factors to measured rows (robust, in log space, with priors).

Model: for row i, ``log(predicted_i(theta) / measured_i)`` should be 0. Each fitted factor has a
log-normal prior around its documented prior value (``calib/data/default.yaml``), so a factor
that the data cannot identify stays at its prior instead of drifting. The loss is soft-L1
(Huber-like) so one odd source cannot drag every factor. Reliability grades weight the rows
(A 1.0, B 0.8, C 0.5), and a source's rows share its weight (``SOURCE_WEIGHT_POWER``).

Which factors are fitted: for each row, the scopes it resolves to
(:func:`inferplan.calib.fastpred.fitted_keys`). Step overheads and link efficiency stay at their
priors: with these data they are not separable from the per-layer overhead and TP traffic.
All rows are predicted at once by :class:`~inferplan.calib.fastpred.CorpusModel`; a fit on a
subset of its rows (cross-validation) reuses the flattened work.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from inferplan.calib.dataset import Row
from inferplan.calib.fastpred import (  # noqa: F401 - log_bounds, MIN_POSITIVE re-exported
    MIN_POSITIVE,
    SLOTS,
    CorpusModel,
    build_corpus_model,
    log_bounds,
)
from inferplan.perf.efficiency import Efficiency

PRIOR_LOG_SIGMA = {  # how far (in log units) a factor may move from its prior before it costs
    "bw_eff": 0.25,
    "compute_eff": 0.4,
    # Engines on one hardware family stream weights within ~25% of each other and reach GEMM
    # efficiencies within ~35%; a tighter engine prior makes the shared family factors carry what
    # engines have in common, which is what transfers to an engine the data has not seen. The
    # overall width is scaled by `prior_scale`, averaged over a fixed grid of widths
    # (calib/nested.py), never tuned on the rows it is scored on.
    "engine_bw": 0.25,
    "engine_compute": 0.35,
    "layer_overhead_s": 1.5,
    "dequant_ops_per_weight": 1.0,
    "kv_bw": 0.3,  # paged attention reads reach 60-100% of a dense stream (FlashInfer/vLLM notes)
    "gemm_m_half_tokens": 1.0,  # half-points from 16 to 256 rows seen across GEMM libraries
    "moe_m_half_tokens": 1.0,
    "lowp_eff": 0.25,
    "seq_overhead_s": 1.5,
    "small_kernel_s": 1.0,  # 0.7-5 us per small kernel across GPUs and engines
    "prefill_layer_overhead_s": 1.5,  # eager vs graph-captured prompt steps differ 10x across engines
    "request_overhead_s": 1.0,  # 3-50 ms per request across servers
    "moe_n_half": 1.0,  # N tiles of 64-256 columns across fused-MoE kernels
    "attn_compute": 0.5,  # FlashAttention-2/3 kernels reach 0.45-0.95 of a GEMM's share of peak
    "moe_eff": 0.5,  # routed-expert kernels at 0.5-1.0 of a dense kernel's efficiency (default.yaml)
    "link_latency": 0.5,  # per-hop latency "about 1-2 us (HBM load dependent)" on Neuron rings
}
RELIABILITY_WEIGHT = {"A": 1.0, "B": 0.8, "C": 0.5}
# Rows of one source share its bias (engine build, harness, how the numbers were read), so its n
# rows say less than n independent ones: each row's residual is scaled by n ** -0.25, and a
# source weighs sqrt(n) rows in the squared loss, halfway (in the exponent) between counting rows
# (every source by its size) and counting sources (each the same). Measured held out, width 2, on
# 1,243 rows (2026-12-05): exponent 0 19.5% / p90 60.5% / 7.9% over 2x, 0.25 19.1% / 60.0% /
# 7.0%, 0.5 18.5% / 61.1% / 7.5%; the middle one is used (a choice seen on those rows, not nested).
SOURCE_WEIGHT_POWER = 0.25
FAILED_ROW_RESIDUAL = 3.0  # log-residual charged to a row the factors make undefined


@dataclass
class FitResult:
    values: dict[tuple[str, str], float]  # (factor, scope) -> fitted value
    priors: dict[tuple[str, str], float]
    rows_used: int
    success: bool
    message: str
    x: np.ndarray | None = None  # log-values of all the model's parameters (fixed ones at prior)


def fit_model(model: CorpusModel, subset: np.ndarray | None = None, prior_strength: float = 1.0,
              prior_scale: float = 1.0, disabled: tuple[str, ...] = (), max_nfev: int = 100) -> FitResult:
    """Fit the parameters the rows in ``subset`` (bool mask, default all) use.

    ``prior_strength`` scales the pull toward the priors (1 = the documented sigmas; small
    values let noise-free synthetic data speak); ``prior_scale`` multiplies every sigma (the
    hyperparameter ``calib.nested`` averages over); ``disabled`` terms stay neutral.
    """
    from scipy.optimize import least_squares

    n = model.n_rows
    mask = np.ones(n, bool) if subset is None else np.asarray(subset, bool)
    x_prior, lo, hi = log_bounds(model)
    from inferplan.calib.fastpred import TERM_SLOTS
    off = {s for t in disabled for s in TERM_SLOTS[t]}
    used = np.zeros(len(model.params), bool)
    for slot in SLOTS:
        if slot in off:
            continue
        idx = model.slot_idx[slot][mask]
        used[idx[idx >= 0]] = True
    free = np.flatnonzero(used)
    rows = np.flatnonzero(mask)
    meas = np.array([model.rows[i].measured for i in rows])
    weight = source_weights(model, rows)
    sigma = np.array([PRIOR_LOG_SIGMA[model.params[j][0]] for j in free]) * prior_scale
    priors = {model.params[j]: float(math.exp(x_prior[j])) for j in free}
    if not len(rows):
        return FitResult({}, {}, 0, False, "no predictable rows", x_prior)
    sub = _subset_view(model, rows)

    def full_x(z: np.ndarray) -> np.ndarray:
        x = x_prior.copy()
        x[free] = z
        return x

    def residuals(z: np.ndarray) -> np.ndarray:
        pred = sub.predict(full_x(z), disabled)
        ok = np.isfinite(pred) & (pred > 0)
        r = np.where(ok, np.log(np.where(ok, pred, 1.0) / meas), FAILED_ROW_RESIDUAL)
        return np.concatenate([r * weight, prior_strength * (z - x_prior[free]) / sigma])

    if not len(free):
        return FitResult({}, {}, len(rows), True, "nothing to fit", x_prior)
    users = _param_users(sub, free, off)
    groups = _color_columns(users, len(rows))
    prior_diag = prior_strength / sigma

    def jac(z: np.ndarray) -> np.ndarray:
        """Forward differences, perturbing at once every parameter of a group of parameters
        no row shares (a handful of evaluations instead of one per parameter)."""
        r0 = residuals(z)[: len(rows)]
        J = np.zeros((len(rows) + len(free), len(free)))
        for group in groups:
            zz = z.copy()
            zz[group] += JAC_STEP
            d = (residuals(zz)[: len(rows)] - r0) / JAC_STEP
            for c in group:
                J[users[c], c] = d[users[c]]
        J[len(rows) + np.arange(len(free)), np.arange(len(free))] = prior_diag
        return J

    z0 = x_prior[free]
    sol = least_squares(residuals, z0, jac=jac, bounds=(lo[free] - JAC_STEP, hi[free] + JAC_STEP),
                        loss="soft_l1", f_scale=0.3, max_nfev=max_nfev, x_scale=1.0,
                        method="trf", tr_solver="exact")
    x = full_x(sol.x)
    fitted = {model.params[j]: float(math.exp(x[j])) for j in free}
    return FitResult(fitted, priors, len(rows), bool(sol.success), str(sol.message), x)


JAC_STEP = 1e-6  # log-space step of the finite-difference Jacobian


def source_weights(model: CorpusModel, rows: np.ndarray) -> np.ndarray:
    """Residual weight of each row: its reliability grade times n_s ** -SOURCE_WEIGHT_POWER for
    a source with n_s rows among `rows`, scaled so the weights sum to the grades' sum (the data's
    total pull against the priors is unchanged)."""
    grade = np.array([RELIABILITY_WEIGHT.get(model.rows[i].raw.get("reliability", "B"), 0.8)
                      for i in rows])
    sources = [model.rows[i].source for i in rows]
    count = Counter(sources)
    share = np.array([count[s] ** -SOURCE_WEIGHT_POWER for s in sources])
    w = grade * share
    return w * (grade.sum() / w.sum()) if w.sum() > 0 else w


def _param_users(model: CorpusModel, free: np.ndarray, off: set[str]) -> list[np.ndarray]:
    """For each free parameter, the rows (of ``model``) whose prediction uses it."""
    col = {int(j): c for c, j in enumerate(free)}
    users: list[list[int]] = [[] for _ in free]
    for slot in SLOTS:
        if slot in off:
            continue
        for r_i, j in enumerate(model.slot_idx[slot]):
            c = col.get(int(j))
            if c is not None:
                users[c].append(r_i)
    return [np.unique(np.array(u, dtype=int)) for u in users]


def _color_columns(users: list[np.ndarray], n_rows: int) -> list[np.ndarray]:
    """Greedy grouping of parameters such that no row uses two of one group."""
    groups: list[list[int]] = []
    taken: list[np.ndarray] = []
    for c in sorted(range(len(users)), key=lambda c: -len(users[c])):
        for g, t in zip(groups, taken, strict=True):
            if not t[users[c]].any():
                g.append(c)
                t[users[c]] = True
                break
        else:
            t = np.zeros(n_rows, bool)
            t[users[c]] = True
            groups.append([c])
            taken.append(t)
    return [np.array(g, dtype=int) for g in groups]


def _subset_view(model: CorpusModel, rows: np.ndarray) -> CorpusModel:
    """A CorpusModel of some of the rows (arrays re-indexed; parameters unchanged)."""
    if len(rows) == model.n_rows:
        return model
    keep_row = np.zeros(model.n_rows, bool)
    keep_row[rows] = True
    new_row = -np.ones(model.n_rows, int)
    new_row[rows] = np.arange(len(rows))
    op_keep = keep_row[model.op_row]
    st_keep = keep_row[model.st_row]
    wk_keep = keep_row[model.wk_row]
    new_step = -np.ones(len(model.st_row), int)
    new_step[st_keep] = np.arange(st_keep.sum())
    new_work = -np.ones(len(model.wk_row), int)
    new_work[wk_keep] = np.arange(wk_keep.sum())
    slow = [int(new_row[i]) for i in model.slow if keep_row[i]]
    slow_works = {int(new_row[i]): [(nm, int(new_work[w])) for nm, w in ws]
                  for i, ws in model.slow_works.items() if keep_row[i]}
    return CorpusModel(
        rows=[model.rows[i] for i in rows], params=model.params, prior=model.prior,
        slot_idx={k: v[rows] for k, v in model.slot_idx.items()},
        slot_fixed={k: v[rows] for k, v in model.slot_fixed.items()},
        op_tc=model.op_tc[op_keep], op_tm=model.op_tm[op_keep], op_tuw=model.op_tuw[op_keep],
        op_tue=model.op_tue[op_keep], op_m=model.op_m[op_keep], op_kind=model.op_kind[op_keep],
        op_row=new_row[model.op_row[op_keep]], op_step=new_step[model.op_step[op_keep]],
        op_gemv=model.op_gemv[op_keep], op_width=model.op_width[op_keep],
        st_link=model.st_link[st_keep], st_lat=model.st_lat[st_keep], st_layers=model.st_layers[st_keep],
        st_rows=model.st_rows[st_keep], st_offload=model.st_offload[st_keep],
        st_work=new_work[model.st_work[st_keep]], st_row=new_row[model.st_row[st_keep]],
        st_host=model.st_host[st_keep], st_small=model.st_small[st_keep],
        st_prefill_layers=model.st_prefill_layers[st_keep], st_overlap=model.st_overlap[st_keep],
        wk_row=new_row[model.wk_row[wk_keep]], wk_coef=model.wk_coef[wk_keep],
        wk_p=model.wk_p[wk_keep], wk_b=model.wk_b[wk_keep],
        row_k=model.row_k[rows], row_s=model.row_s[rows], row_req=model.row_req[rows],
        row_q=model.row_q[rows], row_n=model.row_n[rows],
        slow=slow, slow_works=slow_works,
    )


def fit_factors(rows: list[Row], eff: Efficiency, max_nfev: int = 100,
                prior_strength: float = 1.0, prior_scale: float = 1.0,
                per_hardware: bool = False) -> FitResult:
    """Fit the factors the rows use (see :func:`fit_model`; `per_hardware`: each device's own
    scopes, :func:`inferplan.calib.fastpred.fitted_keys`)."""
    rows = [r for r in rows if r.plan is not None]
    if not rows:
        return FitResult({}, {}, 0, False, "no predictable rows")
    model = build_corpus_model(rows, eff, per_hardware)
    return fit_model(model, prior_strength=prior_strength, prior_scale=prior_scale, max_nfev=max_nfev)
