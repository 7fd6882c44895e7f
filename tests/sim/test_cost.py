"""The simulator's step-time tables reproduce perf.step.step_work exactly."""

from __future__ import annotations

import numpy as np
import pytest

from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.sim.cost import StepCost, run_sum_s, steps_before

CASES = [
    ("llama-3.1-8b", "h100-sxm", {}),
    ("llama-3.1-8b", "h100-sxm", {"engine": "sglang"}),  # overlap scheduler: host costs overlap
    ("gpt-oss-120b", "h100-sxm", {}),  # sliding windows, MXFP4 experts
    ("deepseek-v3", "h200-sxm", {"tp": 4, "ep": 8, "devices": 8}),  # MLA, attention-DP + EP
    ("lfm2-1.2b", "ryzen-9-7950x", {}),  # short-conv state
    ("gemma-3-27b", "l40s", {"devices": 2}),
    ("llama-3.1-405b", "h100-sxm", {"tp": 8, "pp": 2}),
]


def _cost(model, hw, kw, max_tokens=8192 + 256):
    plan = plan_estimate(model, hw, input_len=1000, output_len=200, **kw)
    f, _ = resolve_factors(plan.dep, load_efficiency())
    return StepCost(plan.dep, f, max_tokens)


@pytest.mark.parametrize("model,hw,kw", CASES, ids=[f"{c[0]}-{c[2].get('engine', '')}" for c in CASES])
def test_tables_equal_step_work_on_random_compositions(model, hw, kw):
    sc = _cost(model, hw, kw)
    assert not sc.exact  # the tables are used, not the slow path
    rng = np.random.default_rng(1)
    for _ in range(200):
        s = int(rng.integers(0, 4))
        p = int(rng.integers(s, 6000)) if s else 0
        b = int(rng.integers(0 if p else 1, 256))
        comp = dict(decode_seqs=b, decode_ctx=float(rng.uniform(0, 30000)), prefill_tokens=p,
                    prefill_seqs=s, prefill_ctx=float(rng.uniform(0, 9000)) if s else 0.0)
        assert sc.time_s(**comp) == pytest.approx(sc.exact_time_s(**comp), rel=1e-9)


def test_window_of_sliding_layers_is_found():
    sc = _cost("gpt-oss-120b", "h100-sxm", {})
    assert 128.0 in [op.window for op in sc.ops]


def test_steps_beyond_the_table_fall_back_to_step_work():
    sc = _cost("llama-3.1-8b", "h100-sxm", {}, max_tokens=64)
    want = sc.exact_time_s(decode_seqs=10, decode_ctx=500.0, prefill_tokens=1000, prefill_seqs=1)
    assert sc.time_s(10, 500.0, 1000, 1) == pytest.approx(want, rel=1e-12)


def test_decode_run_quadratic_matches_the_sum_of_exact_steps():
    sc = _cost("llama-3.1-8b", "h100-sxm", {})
    b, ctx, k = 64, 300.0, 2000
    t0, a, c = sc.decode_run_s(b, ctx, k)
    exact = sum(sc.time_s(b, ctx + j) for j in range(k))
    assert run_sum_s(t0, a, c, k) == pytest.approx(exact, rel=1e-4)


def test_steps_before_counts_steps_starting_before_the_budget():
    # constant 1 s steps: steps start at 0, 1, 2, ...
    assert steps_before(1.0, 0.0, 0.0, 10, 2.5) == 3
    assert steps_before(1.0, 0.0, 0.0, 10, 3.0) == 3
    assert steps_before(1.0, 0.0, 0.0, 10, 100.0) == 10
    assert steps_before(1.0, 0.0, 0.0, 10, 1e-9) == 1
