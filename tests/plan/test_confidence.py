"""Planning at the pessimistic end of the intervals (plan/confidence.py)."""

from __future__ import annotations

import math

import pytest

from inferplan.perf.intervals import metric_interval
from inferplan.plan.confidence import option_intervals, pessimism
from inferplan.sim import SLO
from inferplan.sim.metrics import Dist


def test_the_slo_at_confidence_divides_each_bound_by_its_latencys_high_end_factor():
    pe = pessimism("gpu", "gpu", 0.8, 500, 100)
    for m, fld in (("ttft", "ttft_s"), ("tpot", "tpot_s"), ("e2e", "e2e_latency_s")):
        iv = metric_interval(1.0, fld, "gpu", "concurrency", 2, 500, 100, level=0.8)
        assert pe.latency[m] == pytest.approx(max(1.0, iv.high))
    slo = pe.sim_slo(SLO(p90_tpot_s=0.04, p99_ttft_s=2.0), 1.0, 1.0)  # steps at point speed
    assert slo.p90_tpot_s == pytest.approx(0.04 / pe.latency["tpot"])
    assert slo.p99_ttft_s == pytest.approx(2.0 / pe.latency["ttft"])
    assert slo.p90_e2e_s is None
    assert 0 < pe.throughput <= 1 and pe.energy >= 1


def test_a_higher_confidence_is_more_pessimistic():
    a, b = pessimism("gpu", "gpu", 0.8, 500, 100), pessimism("gpu", "gpu", 0.95, 500, 100)
    assert b.latency["tpot"] > a.latency["tpot"] and b.throughput < a.throughput


def test_factors_never_plan_on_better_than_the_point_estimate(monkeypatch):
    from inferplan.perf import intervals

    # the model is too slow on this group: the whole interval of a time lies below the estimate
    table = intervals.IntervalTable(level=0.8, min_rows=8, groups={"all": (-0.5, -0.2, 100)})
    monkeypatch.setattr(intervals, "load_intervals", lambda path=None: table)
    pe = pessimism("gpu", "gpu", 0.8, 500, 100)
    assert pe.latency == {"ttft": 1.0, "tpot": 1.0, "e2e": 1.0}
    assert pe.throughput == 1.0  # not the interval's low end, which is above the estimate


def test_disaggregated_ttft_reads_the_prefill_hardware_and_the_rest_the_decode_hardware():
    pe = pessimism("cpu", "gpu", 0.8, 500, 100)
    cpu, gpu = pessimism("cpu", "cpu", 0.8, 500, 100), pessimism("gpu", "gpu", 0.8, 500, 100)
    assert pe.latency["ttft"] == cpu.latency["ttft"]
    assert pe.latency["tpot"] == gpu.latency["tpot"] and pe.throughput == gpu.throughput


def test_option_intervals_cover_each_simulated_percentile_and_the_throughputs():
    d = Dist(p50=0.01, p90=0.02, p99=0.03)
    iv = option_intervals(d, d, d, {"max_rate_rps": 10.0, "capacity_rps_bound": None}, 0.5,
                          "gpu", "gpu", None, 500, 100)
    assert {"p50_tpot_s", "p90_tpot_s", "p99_tpot_s", "p90_ttft_s", "p90_e2e_s", "max_rate_rps",
            "joules_per_output_token"} <= set(iv)
    assert "capacity_rps_bound" not in iv
    tp = metric_interval(0.02, "tpot_s", "gpu", "concurrency", 2, 500, 100)
    assert iv["p90_tpot_s"] == pytest.approx([tp.low, tp.high])
    rate = metric_interval(10.0, "requests_per_s", "gpu", "concurrency", 2, 500, 100)
    assert iv["max_rate_rps"] == pytest.approx([rate.low, rate.high])
    # a throughput's interval is the reciprocal of a time's with the same residuals
    assert rate.low == pytest.approx(10.0 * math.exp(-rate.q_hi))


def test_each_pools_corpus_support_picks_its_group(monkeypatch):
    """A pool whose engine some source measured on its hardware plans against the `measured`
    group; one nobody measured (vLLM on B200 in the bundled corpus) against the wider one."""
    from inferplan.perf import intervals

    table = intervals.IntervalTable(level=0.8, min_rows=8, supported={"vllm@h100-sxm": (30, 2)}, groups={
        "measured|gpu|decode": (-0.1, 0.2, 100), "unmeasured|gpu|decode": (-0.3, 0.9, 100),
        "gpu|decode": (-0.2, 0.5, 200), "all": (-0.5, 0.5, 1000)})
    monkeypatch.setattr(intervals, "load_intervals", lambda path=None: table)
    from inferplan.plan.confidence import pool_support

    measured, unmeasured = pool_support("vllm", "h100-sxm"), pool_support("vllm-2025", "b200")
    assert unmeasured == "vllm@b200"  # an older release line counts as the engine
    a = pessimism("gpu", "gpu", 0.8, 500, 100, measured, measured)
    b = pessimism("gpu", "gpu", 0.8, 500, 100, unmeasured, unmeasured)
    c = pessimism("gpu", "gpu", 0.8, 500, 100)
    assert a.latency["tpot"] == pytest.approx(math.exp(0.2)) and a.groups["tpot"] == "measured|gpu|decode"
    assert b.latency["tpot"] == pytest.approx(math.exp(0.9)) and b.groups["tpot"] == "unmeasured|gpu|decode"
    assert c.groups["tpot"] == "gpu|decode"  # no support given: the class group
    d = Dist(p50=0.01, p90=0.02, p99=0.03)
    iv = option_intervals(d, d, d, {}, None, "gpu", "gpu", None, 500, 100, measured, unmeasured)
    assert iv["p90_tpot_s"] == pytest.approx([0.02 * math.exp(-0.3), 0.02 * math.exp(0.9)])  # the decode pool's


def test_expert_offload_on_a_gpu_plans_against_llama_cpps_support():
    """--offload experts runs llama.cpp on a GPU (perf.offload.engine_for): the candidates are
    enumerated, and their capacities scaled, with that engine's group, the one checked later."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.plan.confidence import hardware_support, pessimistic_candidates, pool_support
    from inferplan.plan.planner import PlanRequest

    h100 = get_hardware("h100-sxm")
    assert hardware_support(h100) == "vllm@h100-sxm"
    assert hardware_support(h100, "experts") == "llama.cpp@h100-sxm"
    from inferplan.sim import Arrivals, LengthDist, Workload

    wl = Workload(name="small", arrivals=Arrivals(kind="poisson", rate=1.0),
                  input=LengthDist(kind="uniform", low=200, high=800), output=LengthDist(kind="uniform", low=32, high=160))
    req = PlanRequest(models=["qwen3-30b-a3b"], workload=wl, hardware=["h100-sxm"],
                      rate=1.0, slo=SLO(p90_tpot_s=10.0), confidence=0.8)
    from inferplan.models.registry import get_model
    from inferplan.plan.search import enumerate_candidates

    opts = {"offload": "experts", "host": None, "slots": None}
    m = get_model("qwen3-30b-a3b")
    cands, _ = pessimistic_candidates([m], [h100], [None], req, load_efficiency(), 0.8, opts)
    assert cands and {pool_support(c.engine, c.hardware) for c in cands} == {"llama.cpp@h100-sxm"}
    # capacities of llama.cpp's slowed steps, not vLLM's (the SLO is loose: the same batches)
    point, _ = enumerate_candidates([m], [h100], [None], wl, req.slo, req.scheduler, load_efficiency(),
                                    (), req.max_devices_per_replica, opts=opts)
    pe = pessimism("gpu", "gpu", 0.8, wl.mean_input(), wl.mean_output(), "llama.cpp@h100-sxm", "llama.cpp@h100-sxm")
    vllm = pessimism("gpu", "gpu", 0.8, wl.mean_input(), wl.mean_output(), "vllm@h100-sxm", "vllm@h100-sxm")
    assert pe.throughput != vllm.throughput
    by_key = {c.key: c for c in point}
    assert all(c.capacity_rps == pytest.approx(by_key[c.key].capacity_rps / pe.slowdown) for c in cands)


def test_the_pessimistic_capacity_is_that_of_steps_slowed_by_the_larger_factor():
    pe = pessimism("gpu", "gpu", 0.8, 1000, 300, "vllm@mi325x", "vllm@mi325x")
    s = pe.slowdown
    assert s == pytest.approx(max(pe.latency["tpot"], 1 / pe.throughput)) and s >= 1
    # each bound read at point step times: / the larger of its own factor and the slowdown
    slo = pe.capacity_slo(SLO(p90_tpot_s=0.05, p90_ttft_s=1.0))
    assert slo.p90_tpot_s == pytest.approx(0.05 / s)
    assert slo.p90_ttft_s == pytest.approx(1.0 / max(pe.latency["ttft"], s))
    assert slo.p90_tpot_s <= pe.sim_slo(SLO(p90_tpot_s=0.05), 1.0, 1.0).p90_tpot_s  # never looser than at point speed


def test_slowed_factors_make_every_step_that_many_times_slower():
    import numpy as np

    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.factors import resolve_factors
    from inferplan.perf.step import step_work
    from inferplan.plan.confidence import slowed_deployment, slowed_factors

    q4 = {"precision": "q4_k_m", "devices": 1, "engine": "llama.cpp"}
    for model, hw, kw in (("llama-3.1-70b", "h100-sxm", {"tp": 4}), ("qwen3-30b-a3b", "mi300x", {}),
                          ("llama-3.1-8b", "epyc-9755", {}),
                          # the host CPU's work too: llama.cpp's host layers, the experts' host
                          ("llama-3.1-70b", "rtx-4090", {**q4, "offload": "auto"}),
                          ("mixtral-8x7b", "rtx-4090", {**q4, "offload": "experts"})):
        dep = plan_estimate(model, hw, **kw).dep
        f, _ = resolve_factors(dep, load_efficiency())
        comp = dict(decode_seqs=np.array([1.0, 8.0, 64.0, 0.0]), decode_ctx=2048.0,
                    prefill_tokens=np.array([0.0, 512.0, 0.0, 600.0]), prefill_seqs=np.array([0.0, 1.0, 0.0, 1.0]))
        slow = step_work(slowed_deployment(dep, 1.4), **comp).time_s(slowed_factors(f, 1.4))
        assert np.allclose(slow, 1.4 * step_work(dep, **comp).time_s(f), rtol=1e-3), model


def test_a_confidence_plan_holds_where_every_step_is_that_much_slower():
    # a review: the point simulation with tightened bounds passed 7 MI325X pairs at 20 req/s
    # that miss the TPOT bound (60 ms) on a device 1/0.688 times slower
    from dataclasses import replace

    from inferplan.plan import PlanRequest, plan
    from inferplan.plan.confidence import slowed_factors
    from inferplan.sim import DeploymentSpec, build_pool, get_workload, simulate_pools
    from inferplan.sim.workload import with_overrides

    slo = SLO(p90_ttft_s=1.0, p90_tpot_s=0.05)
    res = plan(PlanRequest(models=["llama-3.1-70b"], workload=get_workload("chat"), rate=20.0, slo=slo,
                           hardware=["mi325x"], precisions=["fp8"], disaggregation=False, top=1,
                           confidence=0.8), executor="serial")
    win = res.options[0]
    s, p = win.confidence_factors["slowdown"], win.pools[0]
    assert s > 1.2
    pool = build_pool("llama-3.1-70b", DeploymentSpec(hardware="mi325x", tp=p.tp, pp=p.pp, precision="fp8"),
                      get_workload("chat"))
    slowed = replace(pool, factors=slowed_factors(pool.factors, s))
    out = simulate_pools(slowed, with_overrides(get_workload("chat"), rate=20.0), replicas=p.replicas,
                         requests=5000, slo=slo, warmup=0.2)  # the whole cluster, a long run
    assert out.slo_met, (win.id, out.metrics.tpot_s.p90)


def test_llama_cpps_options_plan_against_llama_cpps_support():
    from inferplan.catalog.hardware import get_hardware
    from inferplan.plan.confidence import hardware_support

    h100 = get_hardware("h100-sxm")
    assert hardware_support(h100, None, None, {"n_gpu_layers": 40}) == "llama.cpp@h100-sxm"
    assert hardware_support(h100, None, None, {"max_num_seqs": 8}) == "vllm@h100-sxm"
