"""SLO-driven capacity planner: the cheapest configuration (hardware x layout x precision x
replicas, or a disaggregated prefill/decode pair) that serves a request rate within latency
SLOs. Candidates and analytic bounds: ``search.py``; simulation tasks: ``evaluate.py``; where
they run (process pool, Ray): ``executor.py``; ranking and explanation: ``planner.py``.
"""

from inferplan.plan.planner import PlanOption, PlanRequest, PlanResult, plan

__all__ = ["PlanOption", "PlanRequest", "PlanResult", "plan"]
