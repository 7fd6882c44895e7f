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
