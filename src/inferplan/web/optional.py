"""API routes for the simulator, planner and audit, added when those packages are installed.

Their library requests carry file paths (workload traces, calibration, hardware files), so
the web requests here are narrower: catalog ids, workload *presets*, bounded sizes. The
result models are the libraries' own (``SimResult``, ``PlanResult``, ``AuditReport``).
Each family is skipped if its package cannot be imported (not built, or an extra missing).
"""

# No `from __future__ import annotations`: the request models are defined inside functions
# (their packages are optional) and FastAPI must see the real classes, not forward refs.
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from inferplan.web.schemas import ID, MAX_HARDWARE, MODEL_ID, EngineOptions, HwClass, HwId

MAX_SIM_REQUESTS = 5000  # requests per simulation (a 1,000-request run takes ~0.1 s)
MAX_REPLICAS = 32
MAX_PLAN_HARDWARE = 16  # each candidate costs several simulations
MAX_PLAN_MODELS = 4
ModelId = Annotated[str, Field(pattern=MODEL_ID, min_length=1, max_length=128)]


def register_optional_routes(app: FastAPI, compute, errors: dict, register) -> list[str]:
    """Add the routes whose packages import; returns the families added.

    ``register(name, fn)`` makes ``fn`` a job of the app's worker pool, ``compute(name, *args)``
    runs it there. The request classes here are local, so jobs receive ``model_dump()`` dicts."""
    added = []
    for name, fn in (("simulate", _simulate_routes), ("plan", _plan_routes), ("audit", _audit_routes)):
        try:
            fn(app, compute, errors, register)
        except ImportError:
            continue
        added.append(name)
    return added


def _simulate_routes(app: FastAPI, compute, errors: dict, register) -> None:
    from inferplan.sim import SLO, DeploymentSpec, SimResult, get_workload, simulate
    from inferplan.sim.workload import with_overrides

    class SimulateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        model: ModelId = Field(examples=["llama-3.1-8b"])
        hardware: HwId = Field(examples=["h100-sxm"])
        devices: int | None = Field(default=None, ge=1, le=1024, description="per replica; null: fewest that fit")
        precision: str | None = Field(default=None, pattern=ID, max_length=32)
        kv_precision: str | None = Field(default=None, pattern=ID, max_length=32)
        engine: str | None = Field(default=None, pattern=ID, max_length=32)
        offload: Literal["none", "auto", "experts"] | None = None
        host: str | None = Field(default=None, pattern=ID, max_length=64, description="host CPU for offload=experts, or for llama.cpp's host layers (offload=auto, n_gpu_layers)")
        slots: int | None = Field(default=None, ge=1, le=4096, description="llama.cpp server slots (default 4)")
        engine_options: EngineOptions
        workload: str = Field(default="chat", pattern=ID, max_length=32,
                              description="workload preset (chat, rag, code, summarization, agentic)")
        rate: float | None = Field(default=None, ge=1e-3, le=10000, description="requests/s (preset's if null)")
        requests: int = Field(default=1000, ge=1, le=MAX_SIM_REQUESTS)
        replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
        seed: int = Field(default=0, ge=0, le=2**31 - 1)
        slo: SLO | None = None

    def _simulate(body: dict) -> SimResult:
        from inferplan.models.registry import model_info

        req = SimulateRequest.model_validate(body)
        w = get_workload(req.workload)
        if req.rate is not None:
            w = with_overrides(w, rate=req.rate)
        dep = DeploymentSpec(hardware=req.hardware, devices=req.devices, precision=req.precision,
                             kv_precision=req.kv_precision, engine=req.engine,
                             offload=req.offload, host=req.host, slots=req.slots,
                             engine_options=dict(req.engine_options))
        return simulate(model_info(req.model).id, dep, w, requests=req.requests,
                        replicas=req.replicas, seed=req.seed, slo=req.slo)

    register("simulate", _simulate)

    @app.post("/api/simulate", response_model=SimResult, tags=["simulate"], responses=errors)
    async def simulate_route(req: SimulateRequest) -> SimResult:
        """Discrete-event simulation of a workload preset on one deployment (``inferplan simulate``)."""
        return await compute("simulate", req.model_dump())


def _plan_routes(app: FastAPI, compute, errors: dict, register) -> None:
    from inferplan.plan.planner import PlanRequest, PlanResult, plan
    from inferplan.sim import SLO, get_workload
    from inferplan.sim.workload import with_overrides

    class WebPlanRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
        models: list[ModelId] = Field(min_length=1, max_length=MAX_PLAN_MODELS, examples=[["llama-3.1-8b"]])
        workload: str = Field(default="chat", pattern=ID, max_length=32, description="workload preset")
        rate: float = Field(ge=1e-3, le=1000, description="requests/s the system must serve")
        slo: SLO
        objective: Literal["cost", "devices", "energy", "latency"] = "cost"
        hardware: list[HwId] | None = Field(default=None, max_length=MAX_PLAN_HARDWARE)
        classes: list[HwClass] | None = Field(default=None, max_length=8)
        precisions: list[Annotated[str, Field(pattern=ID, max_length=32)]] | None = Field(default=None, max_length=4)
        requests: int = Field(default=400, ge=50, le=1000, description="requests per search simulation")
        top: int = Field(default=5, ge=1, le=5)  # the CLI's --top default
        disaggregation: bool = True
        seed: int = Field(default=0, ge=0, le=2**31 - 1)
        offload: Literal["none", "auto", "experts"] | None = None
        host: str | None = Field(default=None, pattern=ID, max_length=64, description="host CPU for offload=experts, or for llama.cpp's host layers (offload=auto, n_gpu_layers)")
        slots: int | None = Field(default=None, ge=1, le=4096, description="llama.cpp server slots (default 4)")
        engine_options: EngineOptions
        confidence: float | None = Field(default=None, gt=0, lt=1, description=(
            "plan at the pessimistic end of each metric's interval at this level (0.8); default: point estimates"))

    def _plan(body: dict) -> PlanResult:
        from inferplan.compare import select_hardware

        req = WebPlanRequest.model_validate(body)
        hws = req.hardware or [h.id for h in select_hardware(None, None, ()) if h.hw_class in (req.classes or [])]
        if len(hws) > MAX_PLAN_HARDWARE:
            raise HTTPException(400, f"{len(hws)} hardware in those classes; name at most "
                                f"{MAX_PLAN_HARDWARE} with 'hardware'")
        w = with_overrides(get_workload(req.workload), rate=req.rate)
        from inferplan.models.registry import model_info

        models = [model_info(m).id for m in req.models]  # catalog only: never a path on the server
        pr = PlanRequest(models=models, workload=w, rate=req.rate, slo=req.slo,
                         objective=req.objective, hardware=hws, precisions=req.precisions,
                         requests=req.requests, top=req.top, disaggregation=req.disaggregation,
                         seed=req.seed, offload=req.offload, host=req.host, slots=req.slots,
                         engine_options=dict(req.engine_options) or None, confidence=req.confidence)
        return plan(pr, executor="serial")

    register("plan", _plan)

    @app.post("/api/plan", response_model=PlanResult, tags=["plan"], responses=errors)
    async def plan_route(req: WebPlanRequest) -> PlanResult:
        """Search deployments meeting an SLO at a rate, cheapest first (``inferplan plan``)."""
        if not req.hardware and not req.classes:
            raise HTTPException(400, f"name the hardware (at most {MAX_PLAN_HARDWARE}) or classes to plan over")
        return await compute("plan", req.model_dump())


def _audit_routes(app: FastAPI, compute, errors: dict, register) -> None:
    from inferplan.audit.run import AuditReport, run_audit

    register("audit", lambda only: run_audit(None, only=only))

    @app.get("/api/audit", response_model=AuditReport, tags=["audit"], responses=errors)
    async def audit_route(
            only: Annotated[list[Annotated[str, Field(pattern=ID, max_length=64)]] | None,
                            Query(max_length=64, description="claim ids or unique prefixes")] = None,
    ) -> Any:
        """Check the bundled article's claims against the model (``inferplan audit``)."""
        return await compute("audit", only)


__all__ = ["MAX_HARDWARE", "register_optional_routes"]
