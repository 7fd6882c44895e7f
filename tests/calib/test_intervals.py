"""Prediction intervals: quantiles of cross-validated residuals, backed off where data is thin."""

import math

import numpy as np
import pytest

from inferplan.perf.intervals import (
    build_table,
    conformal_quantiles,
    estimate_intervals,
    interval,
    speed_residual,
)


def test_interval_of_a_speed_and_of_a_time_are_consistent():
    # the model predicts 20% too fast on these rows: r = log(1.2)
    q = (math.log(1.1), math.log(1.3))
    lo, hi = interval(120.0, False, *q)  # a speed: truth = 120 / 1.2 = 100
    assert lo < 100 < hi
    tlo, thi = interval(1 / 120.0, True, *q)  # the same as a time per token
    assert tlo == pytest.approx(1 / hi) and thi == pytest.approx(1 / lo)


def test_speed_residual_sign_flips_for_latencies():
    assert speed_residual(2.0, 1.0, False) == pytest.approx(math.log(2))
    assert speed_residual(2.0, 1.0, True) == pytest.approx(-math.log(2))


def test_conformal_quantiles_cover_the_level_and_widen_for_few_values():
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.3, 2000)
    lo, hi = conformal_quantiles(r, 0.8)
    assert np.mean((r >= lo) & (r <= hi)) == pytest.approx(0.8, abs=0.02)
    few = r[:9]
    flo, fhi = conformal_quantiles(few, 0.8)
    assert flo == few.min() and fhi == few.max()  # 9 values: the full range


def test_thin_groups_back_off_to_wider_groups():
    classes = ["gpu"] * 30 + ["cpu"] * 3
    fams = ["decode"] * 33
    regs = ["decode-b1"] * 20 + ["batch"] * 10 + ["decode-b1"] * 3
    r = np.concatenate([np.full(20, 0.1), np.full(10, -0.5), np.full(3, 1.0)])
    t = build_table(classes, fams, regs, r, min_rows=8)
    assert t.lookup("gpu", "decode", "decode-b1")[2] == "gpu|decode|decode-b1"
    assert t.lookup("cpu", "decode", "decode-b1")[2] == "all"  # 3 cpu rows: too few
    assert t.lookup("tpu", "prefill", "prefill")[2] == "all"


def test_estimate_intervals_bracket_the_value():
    t = build_table(["gpu"] * 10, ["decode"] * 10, ["decode-b1"] * 10, np.linspace(-0.2, 0.3, 10))
    iv = estimate_intervals({"tpot_s": 0.01, "decode_tok_s_per_user": 100.0, "ttft_s": None},
                            "gpu", "batch", 1, 1024, 128, table=t)
    assert iv["tpot_s"][0] < 0.01 < iv["tpot_s"][1]
    assert iv["decode_tok_s_per_user"][0] < 100 < iv["decode_tok_s_per_user"][1]
    assert "ttft_s" not in iv
