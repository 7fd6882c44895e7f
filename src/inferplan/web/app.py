"""The web app: a JSON API mirroring the library, and a comparison page at ``/``.

Routes parse, call the library, return its pydantic models (the CLI's ``--json``):

- ``GET  /api/models``, ``/api/hardware``, ``/api/precisions``: catalog listings;
- ``POST /api/estimate`` -> ``Estimate``; ``/api/compare`` -> ``CompareResult``;
  ``/api/fit`` -> ``FitResult``;
- ``POST /api/report/view`` -> table, summary and plotly figures for the page;
  ``POST /api/report`` -> the self-contained HTML report as a download;
- ``POST /api/simulate``, ``/api/plan``, ``GET /api/audit`` when those packages import
  (``optional.py``);
- ``GET /`` and ``/static/*``: the page (plain HTML + JS, plotly.js from the installed plotly
  package, no CDN); ``/openapi.json`` and ``/docs`` (FastAPI's, which loads Swagger UI from a CDN).

Safety: request bodies are capped (``Limits.max_body_bytes``), every numeric field is bounded
(``schemas.py``), no field names a server path (models are catalog ids or pasted JSON), and
library calls run in worker threads (at most ``Limits.workers`` at once) with a deadline:
past ``Limits.timeout_s`` the client gets a 503, a full queue gets a 503 too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from inferplan.compare import CompareResult, FitResult
from inferplan.errors import CatalogError, InferplanError, InputError
from inferplan.models.spec import ModelSpec
from inferplan.perf.estimate import Estimate
from inferplan.web.schemas import (
    CompareRequest,
    ErrorResponse,
    EstimateRequest,
    FitRequest,
    HardwareList,
    HwClass,
    ModelChoice,
    ModelList,
    ModelRow,
    PrecisionList,
    ReportRequest,
    ReportView,
)

__all__ = ["Limits", "create_app"]


@dataclass(frozen=True)
class Limits:
    """What one server accepts. Defaults suit a laptop or a small shared VM."""

    max_body_bytes: int = 512 * 1024  # a config.json is ~1-10 KB
    timeout_s: float = 20.0  # per request, then 503
    workers: int = 4  # library calls computing at once
    max_waiting: int = 256  # queued calls beyond which new requests get 503


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "bad input (unknown id with suggestions, impossible layout)"},
    413: {"model": ErrorResponse, "description": "request body too large"},
    503: {"model": ErrorResponse, "description": "busy, or the computation ran past the time limit"},
}


# the report route answers text/html; its errors are still JSON (ErrorResponse)
ERRORS_JSON: dict[int | str, dict[str, Any]] = {
    code: {"description": v["description"], "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for code, v in ERRORS.items()}


class _BodyLimit:
    """ASGI middleware: 413 for a body larger than ``limit`` bytes (by Content-Length)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.limit):
                resp = JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)
                await resp(scope, receive, send)
                return
            total = 0

            async def limited():
                nonlocal total
                msg = await receive()
                total += len(msg.get("body", b""))
                if total > self.limit:
                    raise HTTPException(413, f"request body over {self.limit} bytes")
                return msg

            await self.app(scope, limited, send)
            return
        await self.app(scope, receive, send)


def _static_dir() -> Path:
    return Path(str(resources.files("inferplan.web").joinpath("static")))


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def resolve_model(choice: ModelChoice) -> ModelSpec:
    """The model of a request: a catalog id/alias, or a pasted config.json (never a file)."""
    from inferplan.models.adapters import spec_from_hf_config
    from inferplan.models.registry import get_model, model_info

    if choice.config is not None:
        try:
            return spec_from_hf_config(choice.config, choice.config_name)
        except InferplanError:
            raise
        except Exception as e:  # noqa: BLE001 - pasted JSON is untrusted input, not our bug
            raise InputError(f"pasted config.json cannot be read: {type(e).__name__}: {e}") from None
    assert choice.model is not None
    return get_model(model_info(choice.model).id)  # catalog only: model_info never opens paths


def create_app(limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    app = FastAPI(
        title="inferplan",
        summary="Which hardware should serve this LLM, how fast, at what cost.",
        description="JSON API of the inferplan library. Every response is the model the CLI "
                    "prints with --json; units are SI (seconds, bytes, FLOP/s, watts, USD).",
        version=_version(),
    )
    limiter = anyio.CapacityLimiter(limits.workers)

    async def compute(fn, *args, untrusted: bool = False, **kwargs):
        """Run a library call in a worker thread with the deadline; errors become 4xx/503."""
        if limiter.statistics().tasks_waiting >= limits.max_waiting:
            raise HTTPException(503, "server busy: too many requests queued, retry shortly")
        call = functools.partial(fn, *args, **kwargs)
        try:
            with anyio.fail_after(limits.timeout_s):
                return await anyio.to_thread.run_sync(call, limiter=limiter, abandon_on_cancel=True)
        except TimeoutError:
            raise HTTPException(503, f"computation took longer than {limits.timeout_s:g} s; "
                                "ask for less (fewer hardware, smaller detail)") from None
        except CatalogError as e:
            raise HTTPException(500, f"server catalog error: {e}") from None
        except InferplanError as e:
            raise HTTPException(400, str(e)) from None
        except ValidationError as e:  # a library model rejected a value the request carried
            raise HTTPException(400, _validation_text(e)) from None
        except (ArithmeticError, ValueError, TypeError, KeyError, AttributeError) as e:
            if not untrusted:
                raise
            raise HTTPException(400, f"the pasted config.json gives values the model cannot use: "
                                f"{type(e).__name__}: {e}") from None

    @app.exception_handler(InferplanError)
    async def _inferplan_error(request: Request, exc: InferplanError):
        code = 500 if isinstance(exc, CatalogError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=code)

    # ---- catalog ------------------------------------------------------------------------------
    @app.get("/api/models", response_model=ModelList, tags=["catalog"])
    def models() -> ModelList:
        """The bundled models (``inferplan models --json``)."""
        return _model_list()

    @app.get("/api/hardware", response_model=HardwareList, tags=["catalog"], responses=ERRORS)
    def hardware(hw_class: HwClass | None = None) -> HardwareList:
        """The hardware catalog, optionally one class (``inferplan hardware --json``)."""
        from inferplan.compare import select_hardware

        return HardwareList(hardware=select_hardware(None, hw_class, ()))

    @app.get("/api/precisions", response_model=PrecisionList, tags=["catalog"])
    def precisions() -> PrecisionList:
        """Weight/KV precisions (``inferplan precisions --json``)."""
        from inferplan.catalog.precisions import precision_catalog

        return PrecisionList(precisions=list(precision_catalog().values()))

    # ---- estimates ----------------------------------------------------------------------------
    @app.post("/api/estimate", response_model=Estimate, tags=["estimate"], responses=ERRORS)
    async def estimate(req: EstimateRequest) -> Estimate:
        """One workload on one hardware (``inferplan estimate --json``)."""
        from inferplan.perf.estimate import CostAssumptions
        from inferplan.perf.estimate import estimate as run

        def call() -> Estimate:
            return run(resolve_model(req), req.hardware,
                       cost=CostAssumptions(usd_per_hour=req.usd_per_hour), devices=req.devices,
                       tp=req.tp, pp=req.pp, ep=req.ep, precision=req.precision,
                       kv_precision=req.kv_precision, engine=req.engine, mode=req.mode,
                       batch=req.batch, input_len=req.input_len, output_len=req.output_len,
                       threads=req.threads, offload=req.offload, host=req.host, slots=req.slots)

        return await compute(call, untrusted=req.config is not None)

    @app.post("/api/compare", response_model=CompareResult, tags=["estimate"], responses=ERRORS)
    async def compare(req: CompareRequest) -> CompareResult:
        """One workload across hardware, ranked (``inferplan compare --json``)."""
        from inferplan.perf.efficiency import load_efficiency
        from inferplan.report.build import compare_model

        def call() -> CompareResult:
            res, _ = compare_model(resolve_model(req), eff=load_efficiency(), **_workload(req))
            return res

        return await compute(call, untrusted=req.config is not None)

    @app.post("/api/fit", response_model=FitResult, tags=["estimate"], responses=ERRORS)
    async def fit(req: FitRequest) -> FitResult:
        """Fewest devices of each hardware that hold the model (``inferplan fit --json``)."""
        from inferplan.compare import fit as run
        from inferplan.models.registry import model_info

        def call() -> FitResult:
            return run(model_info(req.model).id, context=req.context, batch=req.batch,
                       precision=req.precision, kv_precision=req.kv_precision, hw_class=req.hw_class)

        return await compute(call)

    # ---- reports ------------------------------------------------------------------------------
    def _build(req: ReportRequest):
        from inferplan.report.build import build_report

        return build_report(resolve_model(req), detail=req.detail, **_workload(req))

    @app.post("/api/report/view", response_model=ReportView, tags=["report"], responses=ERRORS)
    async def report_view(req: ReportRequest) -> ReportView:
        """The comparison as the page shows it: summary and table HTML, plotly figure JSON."""

        def call() -> ReportView:
            from inferplan.report import html
            from inferplan.report.figures import figure_json, figures

            data = _build(req)
            return ReportView(data=data, summary_html=html.summary(data),
                              table_html=html.comparison_table(data, why_column=False),
                              figures={k: figure_json(f) for k, f in figures(data).items()})

        return await compute(call, untrusted=req.config is not None)

    @app.post("/api/report", response_class=HTMLResponse, tags=["report"],
              responses={200: {"content": {"text/html": {}}, "description": "the HTML report"},
                         **ERRORS_JSON})
    async def report(req: ReportRequest) -> Response:
        """The self-contained HTML report (``inferplan report``) as a file download."""

        def call() -> tuple[str, str]:
            from inferplan.report.html import render_html

            data = _build(req)
            return render_html(data), data.workload.model

        text, model = await compute(call, untrusted=req.config is not None)
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)[:80]
        return HTMLResponse(text, headers={
            "Content-Disposition": f'attachment; filename="inferplan-report-{safe}.html"'})

    from inferplan.web.optional import register_optional_routes

    register_optional_routes(app, compute, ERRORS)

    # ---- the page -----------------------------------------------------------------------------
    static = _static_dir()

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html", media_type="text/html")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=static), name="static")
    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)
    return app


def _validation_text(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors())


def _workload(req: CompareRequest) -> dict[str, Any]:
    return dict(hardware=req.hardware, hw_class=req.hw_class, mode=req.mode, batch=req.batch,
                input_len=req.input_len, output_len=req.output_len, precision=req.precision,
                kv_precision=req.kv_precision, sort=req.sort, offload=req.offload, host=req.host,
                slots=req.slots)


@functools.lru_cache(maxsize=1)
def _model_list() -> ModelList:
    from inferplan.models.registry import get_model, list_model_ids, model_info

    rows = []
    for mid in list_model_ids():
        spec, info = get_model(mid), model_info(mid)
        rows.append(ModelRow(id=mid, name=info.name, architecture=spec.architecture,
                             total_params=spec.total_params, active_params=spec.active_params,
                             layers=spec.num_layers, native_precision=spec.native_precision,
                             aliases=list(info.aliases)))
    return ModelList(models=rows)


def _version() -> str:
    from inferplan.report.build import _version as v

    return v()
