"""The web app: a JSON API mirroring the library, and a comparison page at ``/``.

Routes parse, call the library, return its pydantic models (the CLI's ``--json``):

- ``GET  /api/models``, ``/api/hardware``, ``/api/precisions``: catalog listings;
- ``POST /api/estimate`` -> ``Estimate``; ``/api/evidence`` -> ``Evidence`` (nearest measurements);
  ``/api/compare`` -> ``CompareResult``;
  ``/api/fit`` -> ``FitResult``;
- ``POST /api/report/view`` -> table, summary and plotly figures for the page;
  ``POST /api/report`` -> the self-contained HTML report as a download;
- ``POST /api/simulate``, ``/api/plan``, ``GET /api/audit`` when those packages import
  (``optional.py``);
- ``GET /`` and ``/static/*``: the page (plain HTML + JS, plotly.js from the installed plotly
  package, no CDN); ``/openapi.json``, ``/docs`` and ``/redoc``.

Safety: request bodies are capped (``Limits.max_body_bytes``), every numeric field is bounded
and finite (``schemas.py``: NaN and Infinity are a 422), no field names a server path (models
are catalog ids or pasted JSON), and library calls run in worker processes (at most
``Limits.workers`` at once, ``pool.py``) with a hard deadline: past ``Limits.timeout_s`` the
worker is killed (the work stops, its CPU is freed) and the client gets a 503; a full queue
gets a 503 too. Error bodies carry our messages only, never Python exception text.
``/docs`` and ``/redoc`` load Swagger UI and ReDoc from the installed ``fastapi-offline``
package (no CDN).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
import traceback
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError

from inferplan.calib.evidence import Evidence
from inferplan.compare import CompareResult, FitResult
from inferplan.errors import CatalogError, InferplanError, validation_summary
from inferplan.models.spec import ModelSpec
from inferplan.perf.estimate import Estimate
from inferplan.web.pool import Busy, Timeout, WorkerDied, WorkerPool
from inferplan.web.schemas import (
    CompareEngineRequest,
    CompareRequest,
    ErrorResponse,
    EstimateRequest,
    EvidenceRequest,
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
    timeout_s: float = 20.0  # per request, then 503 and the worker is killed
    workers: int = 4  # worker processes computing at once
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
        return spec_from_hf_config(choice.config, choice.config_name)
    assert choice.model is not None
    return get_model(model_info(choice.model).id)  # catalog only: model_info never opens paths


# the CLI flags our messages name -> the request fields that say the same (others, and an
# engine's own flags such as llama.cpp's --n-cpu-moe, are left as written)
API_FIELDS = {"--offload": "offload", "--host": "host", "--slots": "slots", "--devices": "devices",
              "--precision": "precision", "--kv-precision": "kv_precision", "--engine": "engine",
              "--engine-option": "engine_options", "--threads": "threads", "--batch": "batch",
              "--tp": "tp", "--pp": "pp", "--ep": "ep", "--hardware": "hardware", "--class": "hw_class",
              "--input-len": "input_len", "--output-len": "output_len", "--requests": "requests",
              "--usd-per-hour": "usd_per_hour", "--rate": "rate", "--replicas": "replicas",
              "--confidence": "confidence", "--objective": "objective", "--model": "model"}
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?: (auto|experts|none)\b)?(?![\w-])")
_OPTION = re.compile(r"(?<![\w-])-O ([a-z_]+)=(\S+?)(?=[),;]|$|\s)")


def api_words(message: str) -> str:
    """A library message as the web API's caller reads it: the CLI flags it names as request
    fields (``--offload experts`` -> ``offload="experts"``, ``-O n_gpu_layers=N`` ->
    ``engine_options {"n_gpu_layers": N}``)."""
    def flag(m: re.Match[str]) -> str:
        name = API_FIELDS.get(m.group(1))
        if name is None:
            return m.group(0)
        return f'{name}="{m.group(2)}"' if m.group(2) else name

    message = _OPTION.sub(lambda m: f'engine_options {{"{m.group(1)}": {m.group(2)}}}', message)
    return _FLAG.sub(flag, message)


def http_error(e: BaseException, untrusted: bool = False) -> tuple[int, str]:
    """(status, message) for an exception of a library call; our messages only, never
    Python's exception text. Anything unexpected is a bug: 500, traceback to the server log."""
    if isinstance(e, HTTPException):
        return e.status_code, str(e.detail)
    if isinstance(e, CatalogError):
        return 500, f"server catalog error: {e}"
    if isinstance(e, InferplanError):
        return 400, api_words(str(e))
    if isinstance(e, ValidationError):  # a library model rejected a value the request carried
        return 400, validation_summary(e, limit=4)
    if untrusted and isinstance(e, ArithmeticError | ValueError | TypeError | KeyError
                                | AttributeError | IndexError | RecursionError):
        return 400, "the pasted config.json gives values the model cannot use"
    traceback.print_exception(e, file=sys.stderr)
    return 500, "internal error; the server log has the details"


def _job(fn, untrusted: bool = False):
    """Wrap a library call as a pool job: ``("ok", value)`` or ``("error", status, detail)``."""

    def job(*args):
        try:
            return ("ok", fn(*args))
        except Exception as e:  # noqa: BLE001 - mapped to a status by http_error
            return ("error", *http_error(e, untrusted))

    return job


def create_app(limits: Limits | None = None) -> FastAPI:
    limits = limits or Limits()
    pool = WorkerPool(size=limits.workers, max_waiting=limits.max_waiting)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        _warm_caches()  # once here, so every worker forked later inherits them warm
        yield
        pool.close()  # workers end with the server

    app = FastAPI(
        lifespan=lifespan,
        title="inferplan",
        summary="Which hardware should serve this LLM, how fast, at what cost.",
        description="JSON API of the inferplan library. Every response is the model the CLI "
                    "prints with --json; units are SI (seconds, bytes, FLOP/s, watts, USD).",
        version=_version(),
        docs_url=None, redoc_url=None,  # served below from local assets
    )
    app.state.pool = pool

    def job(name: str, untrusted: bool = False):
        """Register the decorated function as pool job ``name`` (``name!`` when untrusted)."""

        def deco(fn):
            pool.register(name, _job(fn, untrusted))
            return fn

        return deco

    async def compute(name: str, *args):
        """Run job ``name`` in a worker process with the deadline; errors become 4xx/503."""
        try:
            answer = await pool.run(name, *args, timeout_s=limits.timeout_s)
        except Busy:
            raise HTTPException(503, "server busy: too many requests queued, retry shortly") from None
        except Timeout:
            raise HTTPException(503, f"computation took longer than {limits.timeout_s:g} s and was "
                                "stopped; ask for less (fewer hardware, smaller detail)") from None
        except WorkerDied:
            raise HTTPException(503, "the computation ended without an answer (out of memory?); "
                                "ask for less") from None
        if answer[0] == "ok":
            return answer[1]
        raise HTTPException(answer[1], answer[2])

    @app.exception_handler(InferplanError)
    async def _inferplan_error(request: Request, exc: InferplanError):
        code = 500 if isinstance(exc, CatalogError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # FastAPI's shape without the echoed input: it may hold NaN, which JSON cannot carry
        detail = [{"type": e.get("type", ""), "loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                  for e in exc.errors()[:20]]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        status, detail = http_error(exc)
        return JSONResponse({"detail": detail}, status_code=status)

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
    @job("estimate")
    def _estimate(req: EstimateRequest) -> Estimate:
        from inferplan.perf.cost import CostAssumptions
        from inferplan.perf.estimate import estimate as run

        return run(resolve_model(req), req.hardware,
                   cost=CostAssumptions(usd_per_hour=req.usd_per_hour), devices=req.devices,
                   tp=req.tp, pp=req.pp, ep=req.ep, precision=req.precision,
                   kv_precision=req.kv_precision, engine=req.engine, mode=req.mode,
                   batch=req.batch, input_len=req.input_len, output_len=req.output_len,
                   threads=req.threads, offload=req.offload, host=req.host, slots=req.slots,
                   engine_options=dict(req.engine_options) or None, requests=req.requests)

    pool.register("estimate!", _job(_estimate, untrusted=True))

    @app.post("/api/estimate", response_model=Estimate, tags=["estimate"], responses=ERRORS)
    async def estimate(req: EstimateRequest) -> Estimate:
        """One workload on one hardware (``inferplan estimate --json``)."""
        return await compute("estimate!" if req.config is not None else "estimate", req)

    def _evidence(req: EvidenceRequest) -> Evidence:
        from inferplan.calib.evidence import nearest, query_for

        return nearest(query_for(_estimate(req), resolve_model(req)), req.k)

    pool.register("evidence", _job(_evidence))
    pool.register("evidence!", _job(_evidence, untrusted=True))

    @app.post("/api/evidence", response_model=Evidence, tags=["estimate"], responses=ERRORS)
    async def evidence(req: EvidenceRequest) -> Evidence:
        """The k bundled published measurements nearest to one estimate's configuration, each
        with the tool's held-out prediction of it (the ``evidence`` object of ``inferplan
        estimate --evidence K --json``; the estimate itself is ``/api/estimate``)."""
        return await compute("evidence!" if req.config is not None else "evidence", req)

    def _compare(req: CompareEngineRequest) -> CompareResult:
        from inferplan.perf.efficiency import load_efficiency
        from inferplan.report.build import compare_model

        res, _ = compare_model(resolve_model(req), eff=load_efficiency(), **_workload(req),
                               engine=req.engine, engine_options=dict(req.engine_options) or None,
                               devices=req.devices, threads=req.threads)
        return res

    pool.register("compare", _job(_compare))
    pool.register("compare!", _job(_compare, untrusted=True))

    @app.post("/api/compare", response_model=CompareResult, tags=["estimate"], responses=ERRORS)
    async def compare(req: CompareEngineRequest) -> CompareResult:
        """One workload across hardware, ranked (``inferplan compare --json``)."""
        return await compute("compare!" if req.config is not None else "compare", req)

    @job("fit")
    def _fit(req: FitRequest) -> FitResult:
        from inferplan.compare import fit as run
        from inferplan.models.registry import model_info

        return run(model_info(req.model).id, context=req.context, batch=req.batch,
                   precision=req.precision, kv_precision=req.kv_precision, hw_class=req.hw_class)

    @app.post("/api/fit", response_model=FitResult, tags=["estimate"], responses=ERRORS)
    async def fit(req: FitRequest) -> FitResult:
        """Fewest devices of each hardware that hold the model (``inferplan fit --json``)."""
        return await compute("fit", req)

    # ---- reports ------------------------------------------------------------------------------
    def _build(req: ReportRequest):
        from inferplan.report.build import build_report

        return build_report(resolve_model(req), detail=req.detail, **_workload(req))

    def _report_view(req: ReportRequest) -> ReportView:
        from inferplan.report import html
        from inferplan.report.figures import figure_json, figures

        data = _build(req)
        return ReportView(data=data, summary_html=html.summary(data),
                          table_html=html.comparison_table(data, why_column=False),
                          figures={k: figure_json(f) for k, f in figures(data).items()})

    def _report(req: ReportRequest) -> tuple[str, str]:
        from inferplan.report.html import render_html

        data = _build(req)
        return render_html(data), data.workload.model

    for name, fn in (("report_view", _report_view), ("report", _report)):
        pool.register(name, _job(fn))
        pool.register(name + "!", _job(fn, untrusted=True))

    @app.post("/api/report/view", response_model=ReportView, tags=["report"], responses=ERRORS)
    async def report_view(req: ReportRequest) -> ReportView:
        """The comparison as the page shows it: summary and table HTML, plotly figure JSON."""
        return await compute("report_view!" if req.config is not None else "report_view", req)

    @app.post("/api/report", response_class=HTMLResponse, tags=["report"],
              responses={200: {"content": {"text/html": {}}, "description": "the HTML report"},
                         **ERRORS_JSON})
    async def report(req: ReportRequest) -> Response:
        """The self-contained HTML report (``inferplan report``) as a file download."""
        text, model = await compute("report!" if req.config is not None else "report", req)
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in model)[:80]
        return HTMLResponse(text, headers={
            "Content-Disposition": f'attachment; filename="inferplan-report-{safe}.html"'})

    from inferplan.web.optional import register_optional_routes

    register_optional_routes(app, compute, ERRORS, lambda name, fn: pool.register(name, _job(fn)))

    # ---- API docs from local assets -----------------------------------------------------------
    assets = _docs_assets()
    if assets is not None:
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        def swagger() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/openapi.json", title="inferplan API",
                swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                swagger_css_url="/docs-assets/swagger-ui.css",
                swagger_favicon_url="/docs-assets/favicon.png")

        @app.get("/redoc", include_in_schema=False)
        def redoc() -> HTMLResponse:
            return get_redoc_html(openapi_url="/openapi.json", title="inferplan API",
                                  redoc_js_url="/docs-assets/redoc.standalone.js",
                                  redoc_favicon_url="/docs-assets/favicon.png",
                                  with_google_fonts=False)

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


def _warm_caches() -> None:
    """Parse the catalogs and the default profile in the server process (cached per process)."""
    from inferplan.catalog.hardware import hardware_catalog
    from inferplan.models.registry import list_model_ids
    from inferplan.perf.efficiency import load_efficiency

    try:
        hardware_catalog()
        list_model_ids()
        load_efficiency()
    except InferplanError:  # a broken catalog is reported by the requests that need it
        pass


def _docs_assets() -> Path | None:
    """Swagger UI and ReDoc files of the installed ``fastapi-offline`` package (None: not
    installed, then /docs and /redoc are absent rather than loading from a CDN)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    d = Path(fastapi_offline.__file__).parent / "static"
    return d if (d / "swagger-ui-bundle.js").exists() else None


def _workload(req: CompareRequest) -> dict[str, Any]:
    return dict(hardware=req.hardware, hw_class=req.hw_class, mode=req.mode, batch=req.batch,
                input_len=req.input_len, output_len=req.output_len, precision=req.precision,
                kv_precision=req.kv_precision, sort=req.sort, offload=req.offload, host=req.host,
                slots=req.slots, requests=req.requests)


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
