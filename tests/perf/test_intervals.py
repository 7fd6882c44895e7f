"""Intervals at other levels, of one field and of a ratio (perf/intervals.py)."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from inferplan.errors import InputError
from inferplan.perf.intervals import (
    IntervalTable,
    MetricInterval,
    metric_interval,
    quantiles_at_level,
    ratio_interval,
)

TABLE = IntervalTable(level=0.8, min_rows=8, groups={
    "gpu|decode|decode-b1": (-0.2, 0.4, 50), "gpu|decode": (-0.3, 0.5, 80), "all": (-0.7, 1.2, 900)})


def test_the_tables_level_keeps_the_tables_quantiles():
    assert quantiles_at_level(-0.2, 0.4, 0.8, 0.8) == (-0.2, 0.4)


def test_other_levels_scale_the_log_width_by_the_normal_quantile_ratio():
    lo, hi = quantiles_at_level(-0.2, 0.4, 0.8, 0.95)
    k = NormalDist().inv_cdf(0.975) / NormalDist().inv_cdf(0.9)  # 1.96 / 1.28
    assert (lo + hi) / 2 == pytest.approx(0.1)  # same midpoint
    assert hi - lo == pytest.approx(0.6 * k)
    lo5, hi5 = quantiles_at_level(-0.2, 0.4, 0.8, 0.5)
    assert hi5 - lo5 < 0.6  # a lower level is narrower


def test_stored_levels_are_read_as_they_are_and_interpolated_between():
    stored = {0.5: (-0.1, 0.15), 0.9: (-0.35, 0.7), 0.95: (-0.5, 1.0)}
    assert quantiles_at_level(-0.2, 0.4, 0.8, 0.95, stored) == (-0.5, 1.0)
    assert quantiles_at_level(-0.2, 0.4, 0.8, 0.5, stored) == (-0.1, 0.15)
    z = NormalDist().inv_cdf
    lo, hi = quantiles_at_level(-0.2, 0.4, 0.8, 0.85, stored)  # between 0.8 and 0.9, linear in z
    w = (z(0.925) - z(0.9)) / (z(0.95) - z(0.9))
    assert (lo, hi) == pytest.approx((-0.2 + w * (-0.35 + 0.2), 0.4 + w * (0.7 - 0.4)))
    # ends move monotonically with the level across the stored ones
    ends = [quantiles_at_level(-0.2, 0.4, 0.8, lv, stored) for lv in (0.3, 0.5, 0.6, 0.8, 0.85, 0.9, 0.93, 0.95, 0.99)]
    assert all(a[0] > b[0] and a[1] < b[1] for a, b in zip(ends, ends[1:], strict=False))
    # beyond the stored range: the nearest level's midpoint, its width scaled by normal quantiles
    lo, hi = quantiles_at_level(-0.2, 0.4, 0.8, 0.99, stored)
    assert (lo + hi) / 2 == pytest.approx(0.25) and hi - lo == pytest.approx(1.5 * z(0.995) / z(0.975))


def test_a_table_built_with_extra_levels_stores_them_and_keeps_them_through_yaml():
    import numpy as np

    from inferplan.perf.intervals import build_table, table_from_dict, table_to_dict

    rng = np.random.default_rng(1)
    r = np.concatenate([b + 0.2 * rng.standard_t(3, 60) for b in (-0.2, 0.0, 0.1, 0.3)])
    srcs = [s for s in "abcd" for _ in range(60)]
    t = build_table(["gpu"] * 240, ["decode"] * 240, ["decode-b1"] * 240, r, sources=srcs,
                    extra_levels=(0.5, 0.9, 0.95), min_sources=2)
    lv = t.levels["gpu|decode|decode-b1"]
    lo8, hi8, _ = t.groups["gpu|decode|decode-b1"]
    assert lv[0.5][0] > lo8 > lv[0.9][0] > lv[0.95][0] and lv[0.5][1] < hi8 < lv[0.9][1] < lv[0.95][1]
    import yaml

    back = table_from_dict(yaml.safe_load(yaml.safe_dump(table_to_dict(t), sort_keys=False)))
    assert back.levels["gpu|decode|decode-b1"][0.95] == pytest.approx(lv[0.95], abs=1e-4)
    iv = metric_interval(0.02, "tpot_s", "gpu", "batch", 1, 1024, 256, table=back, level=0.95)
    assert (iv.q_lo, iv.q_hi) == pytest.approx(lv[0.95], abs=1e-4)


def test_stored_levels_hold_where_the_normal_scaling_of_heavy_tails_does_not():
    """Rows about their sources' biases with Student-t (2 d.o.f.) tails: the 95% interval read
    from the stored 95% quantiles covers about 95% of new sources' rows; the 80% quantiles
    scaled to 95% as if normal cover markedly less (the tails are longer than a normal's)."""
    import numpy as np

    from inferplan.perf.intervals import build_table

    rng = np.random.default_rng(5)

    def draw(sources: int, rows: int) -> tuple[np.ndarray, list[str]]:
        b = 0.05 * rng.standard_normal(sources)
        return (b[:, None] + 0.1 * rng.standard_t(2, (sources, rows))).ravel(), \
            [f"s{i}" for i in range(sources) for _ in range(rows)]

    r, srcs = draw(30, 60)
    n = len(r)
    t = build_table(["gpu"] * n, ["decode"] * n, ["decode-b1"] * n, r, sources=srcs, extra_levels=(0.95,))
    new, _ = draw(500, 10)
    lo, hi, _ = t.groups["all"]
    stored = quantiles_at_level(lo, hi, 0.8, 0.95, t.levels["all"])
    scaled = quantiles_at_level(lo, hi, 0.8, 0.95)
    cover = [float(np.mean((new >= a) & (new <= b))) for a, b in (stored, scaled)]
    assert 0.93 <= cover[0] <= 0.975 and cover[1] < 0.925


@pytest.mark.parametrize("level", [0.0, 1.0, -0.2, 1.5, math.nan])
def test_a_level_outside_zero_one_is_an_input_error(level):
    with pytest.raises(InputError, match="between 0 and 1"):
        quantiles_at_level(-0.2, 0.4, 0.8, level)


def test_metric_interval_reads_the_group_of_the_class_family_and_regime():
    iv = metric_interval(0.02, "tpot_s", "gpu", "batch", 1, 1024, 256, table=TABLE)
    assert iv is not None and iv.group == "gpu|decode|decode-b1" and iv.rows == 50
    # a time grows by exp(q) of the speed-oriented residual
    assert (iv.low, iv.high) == pytest.approx((0.02 * math.exp(-0.2), 0.02 * math.exp(0.4)))
    speed = metric_interval(50.0, "decode_tok_s_per_user", "gpu", "batch", 1, 1024, 256, table=TABLE)
    assert speed is not None and (speed.low, speed.high) == pytest.approx((50 * math.exp(-0.4), 50 * math.exp(0.2)))
    # a static batch of 8 is another regime: backs off to class x family
    assert metric_interval(0.02, "tpot_s", "gpu", "batch", 8, 1024, 256, table=TABLE).group == "gpu|decode"
    assert metric_interval(0.02, "not_a_metric", "gpu", "batch", 1, 1024, 256, table=TABLE) is None


def test_a_wider_level_widens_the_metric_interval():
    a = metric_interval(0.02, "tpot_s", "gpu", "batch", 1, 1024, 256, table=TABLE)
    b = metric_interval(0.02, "tpot_s", "gpu", "batch", 1, 1024, 256, table=TABLE, level=0.95)
    assert b.low < a.low and b.high > a.high and b.level == 0.95


def test_ratio_interval_subtracts_midpoints_and_adds_half_widths_in_quadrature():
    a = MetricInterval(0, 0, -0.1, 0.3, "a", 10, 0.8)  # midpoint 0.1, half-width 0.2
    b = MetricInterval(0, 0, -0.2, 0.0, "b", 10, 0.8)  # midpoint -0.1, half-width 0.1
    lo, hi = ratio_interval(2.0, True, a, b)
    half = math.hypot(0.2, 0.1)
    assert (lo, hi) == pytest.approx((2.0 * math.exp(0.2 - half), 2.0 * math.exp(0.2 + half)))
    # the same two predictions read as speeds: the reciprocal ratio's reciprocal interval
    slo, shi = ratio_interval(0.5, False, a, b)
    assert (slo, shi) == pytest.approx((1 / hi, 1 / lo))


def test_a_new_sources_interval_counts_the_scatter_between_sources():
    """Rows of one source share a bias: 3 sources at -1, 0, +1 with tight rows give an interval
    that reaches past both outer sources, not the rows' own tight spread."""
    import numpy as np

    from inferplan.perf.intervals import build_table, source_effect_quantiles

    rng = np.random.default_rng(0)
    r = np.concatenate([b + 0.01 * rng.standard_normal(50) for b in (-1.0, 0.0, 1.0)])
    srcs = [s for s in "abc" for _ in range(50)]
    lo, hi = source_effect_quantiles(r, srcs, 0.8)
    assert lo < -1.0 and hi > 1.0
    one_lo, one_hi = source_effect_quantiles(r[:50], srcs[:50], 0.8)  # one source: its rows
    assert -1.1 < one_lo < one_hi < -0.9
    pooled = build_table(["gpu"] * 150, ["throughput"] * 150, ["offline"] * 150, r)
    by_source = build_table(["gpu"] * 150, ["throughput"] * 150, ["offline"] * 150, r, sources=srcs)
    assert by_source.groups["all"][1] - by_source.groups["all"][0] > \
        pooled.groups["all"][1] - pooled.groups["all"][0]


def test_a_new_sources_interval_does_not_pair_one_sources_bias_with_anothers_outliers():
    """Five sources read 1.0 on every row; five read 0 with one row in four at 1.0. No row of
    any source is beyond 1.0, so neither is the high end of a new source's 90% interval (a b + e
    convolution would add the first five's bias to the others' outliers and reach 2.0)."""
    import numpy as np

    from inferplan.perf.intervals import source_effect_quantiles

    biased = [1.0] * 20
    outliers = [1.0 if i % 4 == 0 else 0.0 for i in range(20)]
    r = np.array(biased * 5 + outliers * 5) + np.linspace(-0.005, 0.005, 200)
    srcs = [f"a{k}" for k in range(5) for _ in range(20)] + [f"b{k}" for k in range(5) for _ in range(20)]
    lo, hi = source_effect_quantiles(r, srcs, 0.9)
    assert lo < 0.05 and 0.9 < hi < 1.2


def test_a_new_sources_interval_holds_its_level_when_errors_are_heavy_tailed():
    """Rows scattered about their source's bias with Student-t (2.5 d.o.f.) tails, like the
    corpus's log errors: the interval of a new source's row covers about 80% of new sources'
    rows, where a normal interval of the same variance (the table's rule before 2026-12-06)
    covers close to 90% (too wide for the bulk)."""
    import numpy as np
    from scipy.stats import t as student_t

    from inferplan.perf.intervals import source_effect_quantiles

    rng = np.random.default_rng(3)

    def draw(sources: int, rows: int) -> tuple[np.ndarray, list[str]]:
        b = 0.05 * rng.standard_normal(sources)
        e = 0.1 * rng.standard_t(2.5, (sources, rows))
        return (b[:, None] + e).ravel(), [f"s{i}" for i in range(sources) for _ in range(rows)]

    r, srcs = draw(20, 40)
    lo, hi = source_effect_quantiles(r, srcs, 0.8)
    new, _ = draw(400, 5)
    assert 0.74 <= float(np.mean((new >= lo) & (new <= hi))) <= 0.86
    half = float(student_t.ppf(0.9, df=19)) * float(np.std(r))  # a normal interval's half-width
    assert float(np.mean(np.abs(new - np.median(r)) <= half)) > 0.87


def test_a_group_of_one_source_backs_off_to_a_wider_group():
    """Eight tight rows of one source 3x off in one class: the class's own groups are dropped
    (one source says nothing of the next), so the lookup uses the groups of several sources
    and the interval holds the prediction, not only that source's bias."""
    import numpy as np

    from inferplan.perf.intervals import build_table, interval

    rng = np.random.default_rng(1)
    gpu = [b + 0.05 * rng.standard_normal(20) for b in (-0.2, 0.0, 0.2)]
    r = np.concatenate([*gpu, 1.1 + 0.05 * rng.standard_normal(8)])
    classes = ["gpu"] * 60 + ["asic"] * 8
    srcs = [s for s in "abc" for _ in range(20)] + ["glm"] * 8
    t = build_table(classes, ["decode"] * 68, ["concurrency"] * 68, r, sources=srcs, min_sources=2)
    assert not any(k.startswith("asic") for k in t.groups)
    q_lo, q_hi, key = t.lookup("asic", "decode", "concurrency")
    assert key == "all"
    lo, hi = interval(0.1, True, q_lo, q_hi)
    assert lo < 0.1 < hi


def test_a_group_of_few_sources_backs_off_and_its_tails_stay_bounded():
    """Two sources far apart in a group (one 3x fast, one 3x slow): with MIN_SOURCES the group
    is left out and the lookup reads the wider group of many sources; kept (two sources), the
    Student-t widening with one degree of freedom sets a 95% high end far past every row."""
    import numpy as np

    from inferplan.perf.intervals import MIN_SOURCES, build_table, quantiles_at_level

    rng = np.random.default_rng(4)
    many = [b + 0.05 * rng.standard_normal(10) for b in np.linspace(-0.3, 0.3, 8)]
    two = [np.full(10, -1.1), np.full(10, 1.1)]
    r = np.concatenate([*many, *two])
    classes = ["gpu"] * 80 + ["tpu"] * 20
    srcs = [f"g{k}" for k in range(8) for _ in range(10)] + ["t0"] * 10 + ["t1"] * 10
    args = (classes, ["decode"] * 100, ["concurrency"] * 100, r)
    t = build_table(*args, sources=srcs, extra_levels=(0.95,))
    assert MIN_SOURCES > 2 and not any(k.startswith("tpu") for k in t.groups)
    _, _, key = t.lookup("tpu", "decode", "concurrency")
    assert key == "all"
    loose = build_table(*args, sources=srcs, extra_levels=(0.95,), min_sources=2)
    lo, hi, _ = loose.groups["tpu|decode|concurrency"]
    assert quantiles_at_level(lo, hi, 0.8, 0.95, loose.levels["tpu|decode|concurrency"])[1] > 5.0
    all_lo, all_hi, _ = t.groups["all"]
    assert quantiles_at_level(all_lo, all_hi, 0.8, 0.95, t.levels["all"])[1] < 1.5


def test_support_tags_count_only_other_sources():
    from inferplan.perf.intervals import MEASURED, UNMEASURED, support_tags

    keys = ["vllm@h100-sxm", "vllm@h100-sxm", "vllm@h100-sxm", "sglang@mi300x", "sglang@mi300x"]
    srcs = ["a", "a", "b", "c", "c"]
    assert support_tags(keys, srcs) == [MEASURED, MEASURED, MEASURED, UNMEASURED, UNMEASURED]


def _support_table():
    """Three sources on vLLM/H100 agreeing within a few percent, three on engines only they
    measured scattered 2x either way: the measured group is narrow, the unmeasured one wide."""
    import numpy as np

    from inferplan.perf.intervals import build_table

    rng = np.random.default_rng(2)
    r = np.concatenate([b + 0.03 * rng.standard_normal(10) for b in (-0.05, 0.0, 0.05, -0.7, 0.1, 0.8)])
    srcs = [s for s in "abcdef" for _ in range(10)]
    keys = ["vllm@h100-sxm"] * 30 + [f"e{s}@h100-sxm" for s in "def" for _ in range(10)]
    return build_table(["gpu"] * 60, ["decode"] * 60, ["concurrency"] * 60, r, sources=srcs,
                       support=keys, min_sources=2)


def test_an_engine_measured_on_the_hardware_gets_the_measured_groups_narrower_interval():
    t = _support_table()
    lo_m, hi_m, key_m = t.lookup("gpu", "decode", "concurrency", "vllm@h100-sxm")
    lo_u, hi_u, key_u = t.lookup("gpu", "decode", "concurrency", "tensorrt-llm@h100-sxm")
    assert key_m == "measured|gpu|decode|concurrency"
    assert key_u == "unmeasured|gpu|decode|concurrency"
    assert hi_m - lo_m < (hi_u - lo_u) / 3
    # without a support key, or from a table without support data: the class groups as before
    assert t.lookup("gpu", "decode", "concurrency")[2] == "gpu|decode|concurrency"


def test_a_class_without_corpus_rows_reads_the_unmeasured_groups_of_every_class():
    """A TPU (no rows) with an engine nobody measured on it: the unmeasured rows of the other
    classes (an engine on hardware no source measured it on) say more of its error than all rows."""
    t = _support_table()
    lo_u, hi_u, key = t.lookup("tpu", "decode", "concurrency", "vllm@tpu7x")
    assert key == "unmeasured|decode|concurrency"
    lo_a, hi_a, _ = t.lookup("tpu", "decode", "concurrency")  # no support key: all rows
    assert hi_u - lo_u > hi_a - lo_a
    # a class with its own groups keeps them
    assert t.lookup("gpu", "decode", "concurrency", "e9@h100-sxm")[2] == "unmeasured|gpu|decode|concurrency"


def test_the_support_data_survives_the_yaml_round_trip_and_reaches_metric_interval():
    from inferplan.perf.intervals import table_from_dict, table_to_dict

    t = table_from_dict(table_to_dict(_support_table()))
    assert t.supported == {"vllm@h100-sxm": (30, 3), "ed@h100-sxm": (10, 1), "ee@h100-sxm": (10, 1),
                           "ef@h100-sxm": (10, 1)}
    iv = metric_interval(0.02, "tpot_s", "gpu", "concurrency", 16, 1000, 200, table=t,
                         support="vllm@h100-sxm")
    assert iv is not None and iv.group.startswith("measured|gpu|decode")
    assert iv.low < 0.02 < iv.high


def test_an_estimate_says_whether_the_corpus_measured_its_engine_on_its_hardware():
    from inferplan.perf.estimate import estimate

    seen = estimate("llama-3.1-8b", "h100-sxm", engine="vllm")
    assert seen.assumptions["corpus_support"].startswith("measured: ")
    assert "vllm on h100-sxm" in seen.assumptions["corpus_support"]
    novel = estimate("llama-3.1-70b", "gaudi3", devices=2, engine="tgi")
    assert novel.assumptions["corpus_support"].startswith("unmeasured: no rows of tgi on gaudi3")
    assert (seen.corpus_support, novel.corpus_support) == ("measured", "unmeasured")  # the JSON flag


def test_intervals_stay_on_the_possible_side_of_the_roofline():
    """LFM2.5-1.2B in q4_0 on a Ryzen 9 7950X reads ~0.7 GB a token from 83 GB/s of DDR5: no
    interval may promise more than that allows, whatever the statistical tail says."""
    import numpy as np

    from inferplan.perf.estimate import estimate, plan_estimate

    e = estimate("lfm2.5-1.2b", "ryzen-9-7950x", precision="q4_0", input_len=512, output_len=128)
    plan = plan_estimate("lfm2.5-1.2b", "ryzen-9-7950x", precision="q4_0", input_len=512, output_len=128)
    work = plan.works["decode"]
    roof_tok_s = 1 / max(float(np.sum(work.t_memory)), float(np.sum(work.t_compute)))
    assert 100 < roof_tok_s < 140  # 0.7 GB a token at 83 GB/s
    lo, hi = e.intervals["decode_tok_s_per_user"]
    assert lo < e.decode_tok_s_per_user < hi <= roof_tok_s * (1 + 1e-9)
    assert e.intervals["tpot_s"][0] >= 1 / roof_tok_s * (1 - 1e-9)
    # batch 1: the system's output rate cannot beat one user's decode speed either
    assert e.intervals["output_tok_s"][1] <= roof_tok_s


def test_weighted_quantiles_match_numpy_with_equal_weights_and_skip_weightless_values():
    import numpy as np

    from inferplan.perf.intervals import weighted_quantiles

    x = np.random.default_rng(6).standard_normal(101)
    qs = [0.05, 0.1, 0.5, 0.9, 0.95]
    assert weighted_quantiles(x, np.ones(101), qs) == pytest.approx(np.quantile(x, qs, method="hazen"))
    assert list(weighted_quantiles(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0, 0.0]),
                                   [0.1, 0.5, 0.9])) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("model,hw,kw", [
    ("llama-3.1-8b", "h100-sxm", dict(input_len=200_000, output_len=10)),
    ("llama-3.2-1b", "snapdragon-8-elite-npu", dict(mode="concurrency", batch=4, input_len=256, output_len=128)),
])
def test_end_to_end_interval_never_ends_below_the_ttft_interval(model, hw, kw):
    from inferplan.perf.estimate import estimate

    iv = estimate(model, hw, **kw).intervals
    assert iv["e2e_latency_s"][0] >= iv["ttft_s"][0] and iv["e2e_latency_s"][1] >= iv["ttft_s"][1]


def test_roof_bounds_count_only_the_replicas_a_static_batch_keeps_busy():
    """Batch 1 on 8 data-parallel H100s: one replica works, so the throughput roof is one
    sequence's, not eight (EstimatePlan.replicas_busy)."""
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.roofline import roof_bounds

    kw = dict(devices=8, tp=1, input_len=512, output_len=128)
    one = plan_estimate("llama-3.1-8b", "h100-sxm", batch=1, **kw)
    eight = plan_estimate("llama-3.1-8b", "h100-sxm", batch=8, **kw)
    assert one.dep.layout.dp == 8 and one.replicas_busy == 1 and eight.replicas_busy == 8
    r1, r8 = roof_bounds(one), roof_bounds(eight)
    e2e = r1["e2e_latency_s"][0]
    assert r1["output_tok_s"][0] == pytest.approx(128 / e2e)
    assert r8["output_tok_s"][0] == pytest.approx(8 * r1["output_tok_s"][0], rel=1e-6)


def test_an_estimate_fitted_on_its_own_device_says_calibrated_not_unmeasured(tmp_path):
    import yaml

    from inferplan.compare import compare
    from inferplan.perf.efficiency import default_profile_path
    from inferplan.perf.estimate import estimate

    kw = dict(engine="llama.cpp", precision="q4_k_m", batch=1, input_len=256, output_len=64)
    base = estimate("llama-3.1-8b", "ryzen-9-7950x", **kw)
    raw = yaml.safe_load(default_profile_path().read_text())
    raw["factors"]["bw_eff"]["hw:ryzen-9-7950x"] = {"prior": 0.7, "source": "test", "value": 0.6}
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump(raw))
    cal = estimate("llama-3.1-8b", "ryzen-9-7950x", calibration=mine, **kw)
    assert base.corpus_support in ("measured", "unmeasured")
    assert cal.corpus_support == "calibrated" and cal.tpot_s != base.tpot_s
    assert "bw_eff" in cal.assumptions["corpus_support"] and "'mine'" in cal.assumptions["corpus_support"]
    assert cal.intervals  # still the corpus's intervals
    # another device under the same profile keeps the corpus's word
    assert estimate("llama-3.1-8b", "epyc-9755", calibration=mine, **kw).corpus_support != "calibrated"
    res = compare("llama-3.1-8b", hardware=["ryzen-9-7950x"], calibration=mine, precision="q4_k_m")
    assert res.rows[0].estimate.corpus_support == "calibrated"


def test_the_end_to_end_interval_holds_the_ttft_interval_and_the_decode_after_it():
    """A 128k prompt's TTFT interval reaches further than the end-to-end interval's own group:
    each end-to-end end is still its TTFT end plus the O - 1 tokens at TPOT's low end."""
    from inferplan.perf.estimate import estimate

    est = estimate("llama-3.1-8b", "h100-sxm", input_len=131072, output_len=1024)
    t, p, e = (est.intervals[k] for k in ("ttft_s", "tpot_s", "e2e_latency_s"))
    assert e[1] >= t[1] + 1023 * p[0] - 1e-9 and e[0] >= t[0] + 1023 * p[0] - 1e-9
    assert e[0] <= est.e2e_latency_s <= e[1]


def test_a_user_override_of_a_catalog_device_is_named_where_the_corpus_is_cited(tmp_path):
    """The corpus's rows were measured on the catalog's figures: an estimate on a device a
    user's --hardware-file overrides says so next to its support note."""
    from inferplan.perf.estimate import estimate

    f = tmp_path / "mine.yaml"
    f.write_text("- id: h100-sxm\n  override: true\n  memory_bw_bytes_s: 30.0e12\n", encoding="utf-8")
    mine = estimate("llama-3.1-8b", "h100-sxm", hardware_files=(f,))
    assert "mine.yaml overrides this entry" in mine.assumptions["corpus_support"]
    assert "overrides" not in estimate("llama-3.1-8b", "h100-sxm").assumptions["corpus_support"]


def test_prefill_throughput_under_load_takes_a_throughputs_interval():
    """Under concurrency (and offline) prefill_tok_s is requests/s x prompt tokens, a system
    throughput: its interval is the throughput family's (as output_tok_s), not the TTFT's."""
    from inferplan.perf.estimate import estimate

    e = estimate("llama-3.1-8b", "h100-sxm", mode="concurrency", batch=32, input_len=1000, output_len=1000)
    pf, out = e.intervals["prefill_tok_s"], e.intervals["output_tok_s"]
    assert pf[1] / pf[0] == pytest.approx(out[1] / out[0], rel=1e-6)


def test_the_support_note_says_how_far_the_tool_was_on_those_rows_held_out():
    """An engine measured on a device: the note carries the median held-out miss on its corpus
    rows (Groq's one row: 2.5x too fast), kept through the table's YAML form."""
    from inferplan.perf.estimate import estimate
    from inferplan.perf.intervals import (
        held_out_note,
        load_intervals,
        table_from_dict,
        table_to_dict,
    )

    assert held_out_note(math.log(2.49)) == "; held out, those rows were predicted 2.5x too fast (median)"
    assert held_out_note(math.log(0.9)) == "; held out, those rows were predicted 11% too slow (median)"
    assert held_out_note(None) == ""
    t = load_intervals()
    assert t is not None and table_from_dict(table_to_dict(t)).support_bias == pytest.approx(
        {k: round(v, 4) for k, v in t.support_bias.items()})
    groq = estimate("llama-2-70b", "groq-lpu-v1")
    assert "2.5x too fast" in groq.assumptions["corpus_support"]
