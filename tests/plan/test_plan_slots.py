"""The planner with llama.cpp server slots (and the options a comparison passes per device)."""

from __future__ import annotations

from inferplan.plan import PlanRequest, plan
from inferplan.sim import SLO, Arrivals, LengthDist, Workload

W = Workload(name="tiny", arrivals=Arrivals(kind="poisson", rate=0.3), input=LengthDist(value=128),
             output=LengthDist(value=32))


def _plan(slots):
    req = PlanRequest(models=["llama-3.2-1b"], workload=W, rate=0.3, slo=SLO(p90_ttft_s=30.0),
                      hardware=["ryzen-9-7950x", "h100-sxm"], disaggregation=False, requests=50,
                      top=1, slots=slots)
    return plan(req, executor="serial")


def test_slots_reach_the_llama_cpp_candidates_only():
    four, one = _plan(4), _plan(1)
    cpu4 = [o for o in four.options if o.pools[0].hardware == "ryzen-9-7950x"]
    cpu1 = [o for o in one.options if o.pools[0].hardware == "ryzen-9-7950x"]
    assert cpu4 and cpu1
    assert cpu4[0].pools[0].policy == "continuous" and cpu4[0].pools[0].max_num_seqs == 4
    assert cpu1[0].pools[0].policy == "serial"
    # the GPU (vLLM) is planned as usual (an option or pruned on cost), not refused for --slots
    assert four.counts["unfit"] == 0
    assert not any("slots" in r.reason for r in four.rejected)
    assert cpu4[0].ttft_s.p90 <= cpu1[0].ttft_s.p90 * 1.05


def _plan_70b(**kw):
    chat = Workload(name="short", arrivals=Arrivals(kind="poisson", rate=0.02),
                    input=LengthDist(value=512), output=LengthDist(value=64))
    req = PlanRequest(models=["llama-3.1-70b"], workload=chat, rate=0.02, slo=SLO(p90_tpot_s=2.0),
                      hardware=["rtx-4090"], precisions=["q4_k_m"], max_devices_per_replica=1,
                      disaggregation=False, requests=50, top=1, **kw)
    return plan(req, executor="serial")


def test_engine_options_reach_every_candidate_and_a_refused_one_says_why():
    auto = _plan_70b(offload="auto")
    ngl = _plan_70b(engine_options={"n_gpu_layers": 30})
    assert auto.options and ngl.options
    # 30 layers on the GPU keep 50 on the host: slower than the split sized to fit
    assert ngl.options[0].tpot_s.p50 > 1.2 * auto.options[0].tpot_s.p50
    bad = _plan_70b(engine_options={"n_cpu_moe": 2})
    assert not bad.options and any("is dense" in r.reason for r in bad.rejected)


def test_a_candidate_that_does_not_fit_says_why():
    # -ngl 46 holds one 576-token sequence on a 4090, not its four slots
    res = _plan_70b(offload="auto", engine_options={"n_gpu_layers": 46})
    assert not res.options
    why = " ".join(r.reason for r in res.rejected)
    assert "4 sequences" in why and "exceed" in why and "n_gpu_layers" in why
