"""inferplan: which hardware should serve this LLM, how fast, and at what cost.

The public API, one import away (``import inferplan`` stays cheap: each name loads its module
on first use)::

    import inferplan

    est = inferplan.estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=256)
    ranked = inferplan.compare_hardware("llama-3.1-70b", hw_class="gpu")
    run = inferplan.simulate("llama-3.1-8b", "h100-sxm", inferplan.get_workload("chat"))
    best = inferplan.plan_serving(inferplan.PlanRequest(...))

(``compare_hardware`` and ``plan_serving`` are ``inferplan.compare.compare`` and
``inferplan.plan.plan``: a package attribute cannot be both a function and its subpackage.)

Packages (README "Architecture"): ``catalog`` (hardware, engines, precisions as data),
``models`` (model specs), ``perf`` (the analytic cost model), ``calib`` (fitting and
validation), ``sim`` (serving simulator), ``plan`` (SLO planner), ``report``, ``audit``,
``bench``, ``loadtest``, ``web`` and ``cli`` (thin layers over these functions).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from inferplan.errors import (
    CatalogError,
    DoesNotFitError,
    InferplanError,
    InputError,
    UnknownIdError,
)

# public name -> (module that defines it, its name there), imported on first access
_RENAMED = {"compare_hardware": ("inferplan.compare", "compare"),
            "plan_serving": ("inferplan.plan", "plan")}
_LAZY = {
    # the analytic model
    "estimate": "inferplan.perf.estimate",
    "Estimate": "inferplan.perf.estimate",
    "CostAssumptions": "inferplan.perf.cost",
    "CompareResult": "inferplan.compare",
    # catalogs
    "get_model": "inferplan.models.registry",
    "get_hardware": "inferplan.catalog.hardware",
    "hardware_catalog": "inferplan.catalog.hardware",
    # calibration and validation
    "validate_csv": "inferplan.calib.validate",
    "calibrate": "inferplan.calib.calibrate",
    # simulator
    "simulate": "inferplan.sim",
    "SimResult": "inferplan.sim",
    "DeploymentSpec": "inferplan.sim",
    "SchedulerConfig": "inferplan.sim",
    "Workload": "inferplan.sim",
    "get_workload": "inferplan.sim",
    "SLO": "inferplan.sim",
    # planner
    "PlanRequest": "inferplan.plan",
    "PlanResult": "inferplan.plan",
    # reports and audit
    "build_report": "inferplan.report",
    "write_report": "inferplan.report",
    "run_audit": "inferplan.audit",
}

__all__ = ["CatalogError", "CompareResult", "CostAssumptions", "DeploymentSpec", "DoesNotFitError",
           "Estimate", "InferplanError", "InputError", "PlanRequest", "PlanResult", "SLO",
           "SchedulerConfig", "SimResult", "UnknownIdError", "Workload", "build_report",
           "calibrate", "compare_hardware", "estimate", "get_hardware", "get_model",
           "get_workload", "hardware_catalog", "plan_serving", "run_audit", "simulate",
           "validate_csv", "write_report"]


def __getattr__(name: str) -> Any:
    module, attr = _RENAMED.get(name) or (_LAZY.get(name), name)
    if module is None:
        raise AttributeError(f"module 'inferplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and IDEs see
    from inferplan.audit import run_audit
    from inferplan.calib.calibrate import calibrate
    from inferplan.calib.validate import validate_csv
    from inferplan.catalog.hardware import get_hardware, hardware_catalog
    from inferplan.compare import CompareResult
    from inferplan.compare import compare as compare_hardware
    from inferplan.models.registry import get_model
    from inferplan.perf.cost import CostAssumptions
    from inferplan.perf.estimate import Estimate, estimate
    from inferplan.plan import PlanRequest, PlanResult
    from inferplan.plan import plan as plan_serving
    from inferplan.report import build_report, write_report
    from inferplan.sim import (
        SLO,
        DeploymentSpec,
        SchedulerConfig,
        SimResult,
        Workload,
        get_workload,
        simulate,
    )
