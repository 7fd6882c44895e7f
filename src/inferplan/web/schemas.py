"""Request and response bodies of the HTTP API.

Responses are the library's own models (``Estimate``, ``CompareResult``, ``FitResult``,
``HardwareSpec``, ``ReportData``): the JSON the CLI prints with ``--json``. Requests are the
library's keyword arguments with bounds, so one request cannot ask for unbounded work, and
with no field that names a server path: a model is a catalog id or a pasted ``config.json``
object, hardware are catalog ids, calibration is the bundled profile.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inferplan.catalog.schema import HardwareClass, HardwareSpec, Precision
from inferplan.report.build import ReportData

MAX_TOKENS = 1 << 20  # prompt or output tokens per request (1M)
MAX_BATCH = 16384  # sequences in a batch / concurrent clients
MAX_REQUESTS = 10**7  # prompts of an offline run (a cap on the batch: no work grows with it)
MAX_DEVICES = 4096
MAX_HARDWARE = 256  # entries in one comparison (the whole bundled catalog: 90 in 2026-12)
MAX_DETAIL = 16  # hardware with roofline/throughput charts in one report
MAX_CONFIG_KEYS = 500  # keys per JSON object of a pasted config
MAX_CONFIG_DEPTH = 6  # nesting (text_config, rope_scaling, quantization_config)
MAX_CONFIG_LIST = 4096  # list entries (layer_types of a 1000-layer model fit)
MAX_CONFIG_INT = 1 << 31  # any integer field
MAX_CONFIG_STR = 4096  # characters of one string value
MAX_LAYERS = 1000  # num_hidden_layers and friends: the step cost is linear in it
LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_experts",
              "n_routed_experts", "num_local_experts")

ID = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"  # catalog ids and aliases; no '/', so never a path
# model ids and aliases, ORG/NAME ones included (resolved through the catalog only: model_info)
MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)?$"
HwId = Annotated[str, Field(pattern=ID, min_length=1, max_length=64)]
Mode = Literal["batch", "concurrency", "offline"]
Sort = Literal["cost", "speed", "throughput", "energy", "devices", "ttft"]
HwClass = HardwareClass  # the catalog's one list of classes


class ModelChoice(BaseModel):
    """A bundled model by id/alias, or the content of a Hugging Face config.json."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str | None = Field(default=None, pattern=MODEL_ID, min_length=1, max_length=128,
                              description="catalog model id or alias (GET /api/models)",
                              examples=["llama-3.1-8b"])
    config: dict[str, Any] | None = Field(
        default=None, description="pasted config.json content (a JSON object, never a path)")
    config_name: str = Field(default="custom", pattern=ID, max_length=64,
                             description="id to show for a pasted config")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.model is None) == (self.config is None):
            raise ValueError("give exactly one of 'model' (catalog id) or 'config' (config.json object)")
        if self.config is not None:
            check_config_bounds(self.config)
        return self


def check_config_bounds(obj: Any, path: str = "config", depth: int = 0) -> None:
    """Reject a pasted config.json whose sizes would make one request unbounded work."""
    if depth > MAX_CONFIG_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_CONFIG_DEPTH} levels")
    if isinstance(obj, dict):
        if len(obj) > MAX_CONFIG_KEYS:
            raise ValueError(f"{path}: more than {MAX_CONFIG_KEYS} keys")
        for k, v in obj.items():
            if k in LAYER_KEYS and isinstance(v, int | float) and not 0 <= v <= MAX_LAYERS:
                raise ValueError(f"{path}.{k} = {v}: must be between 0 and {MAX_LAYERS}")
            check_config_bounds(v, f"{path}.{k}", depth + 1)
    elif isinstance(obj, list):
        if len(obj) > MAX_CONFIG_LIST:
            raise ValueError(f"{path}: more than {MAX_CONFIG_LIST} entries")
        for i, v in enumerate(obj):
            check_config_bounds(v, f"{path}[{i}]", depth + 1)
    elif isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"{path}: NaN and Infinity are not numbers a config may hold")
    elif isinstance(obj, int | float) and not isinstance(obj, bool) and abs(obj) > MAX_CONFIG_INT:
        raise ValueError(f"{path} = {obj:g}: larger than {MAX_CONFIG_INT}")
    elif isinstance(obj, str) and len(obj) > MAX_CONFIG_STR:
        raise ValueError(f"{path}: a string longer than {MAX_CONFIG_STR} characters")


class Workload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    mode: Mode = "batch"
    batch: int = Field(default=1, ge=1, le=MAX_BATCH,
                       description="batch size (batch), clients (concurrency); ignored offline")
    requests: int | None = Field(
        default=None, ge=1, le=MAX_REQUESTS,
        description="offline only: the prompts of the run (no replica batches more than its share)")

    @model_validator(mode="after")
    def _requests_offline(self):
        if self.requests is not None and self.mode != "offline":
            raise ValueError("'requests' (the prompts of an offline run) applies to mode 'offline' only")
        return self
    input_len: int = Field(default=1024, ge=0, le=MAX_TOKENS, description="prompt tokens")
    output_len: int = Field(default=256, ge=0, le=MAX_TOKENS, description="generated tokens")
    precision: str | None = Field(default=None, pattern=ID, max_length=32,
                                  description="weight precision id (default: model native)")
    kv_precision: str | None = Field(default=None, pattern=ID, max_length=32)


class EdgeOptions(BaseModel):
    """Host-memory tier and llama.cpp slots (perf/offload.py, perf/slots.py)."""

    model_config = ConfigDict(extra="forbid")
    offload: Literal["none", "auto", "experts"] | None = Field(
        default=None, description="auto: what does not fit goes to host DRAM; experts: routed MoE "
                                  "experts held and computed by the host CPU")
    host: str | None = Field(default=None, pattern=ID, max_length=64,
                             description="host CPU id for offload=experts or llama.cpp's host layers "
                                         "(default: the device's usual host)")
    slots: int | None = Field(default=None, ge=1, le=4096,
                              description="llama.cpp server slots (llama-server --parallel; default 4)")


# engine launch options (``--engine-option KEY=VALUE``; catalog.engines.ENGINE_OPTIONS): the
# option's name in ours or the engine's own spelling, a finite number or a word
# (scheduler_policy=max_utilization, async_scheduling=on)
OptionName = Annotated[str, Field(pattern=r"^-{0,2}[A-Za-z][A-Za-z0-9_\-]{0,47}$")]
OptionValue = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,48}$")]
EngineOptions = Annotated[dict[OptionName, float | OptionValue], Field(
    default_factory=dict, max_length=16,
    description="engine launch options, e.g. {\"max_num_seqs\": 256, \"scheduler_policy\": "
                "\"max_utilization\"}",
    examples=[{"max_num_seqs": 256}])]


class EstimateRequest(ModelChoice, Workload, EdgeOptions):
    hardware: str = Field(pattern=ID, min_length=1, max_length=64, examples=["h100-sxm"])
    engine_options: EngineOptions
    devices: int | None = Field(default=None, ge=1, le=MAX_DEVICES, description="null: fewest that fit")
    tp: int | None = Field(default=None, ge=1, le=1024)
    pp: int | None = Field(default=None, ge=1, le=1024)
    ep: int | None = Field(default=None, ge=1, le=1024)
    engine: str | None = Field(default=None, pattern=ID, max_length=32)
    threads: int | None = Field(default=None, ge=1, le=4096, description="CPU threads (CPUs only)")
    usd_per_hour: float | None = Field(default=None, gt=0, le=1e6, description="price per device")


class EvidenceRequest(EstimateRequest):
    """/api/evidence: an estimate's settings and how many measurements to show."""

    k: int = Field(default=5, ge=1, le=50, description="how many nearest measurements")


class CompareRequest(ModelChoice, Workload, EdgeOptions):
    hardware: list[HwId] | None = Field(
        default=None, max_length=MAX_HARDWARE,
        description="catalog ids (null: the whole catalog or hw_class)",
        examples=[["h100-sxm", "mi300x", "b200"]])
    hw_class: HwClass | None = None
    sort: Sort = "cost"


class CompareEngineRequest(CompareRequest):
    """/api/compare: also the engine, its launch options and a device count for every row
    (``inferplan compare --engine/-O/--devices/--threads``)."""

    engine: str | None = Field(default=None, pattern=ID, max_length=32,
                               description="on every device it runs on (the others are unfit rows)")
    engine_options: EngineOptions
    devices: int | None = Field(default=None, ge=1, le=MAX_DEVICES,
                                description="that many of each device (null: the fewest that fit)")
    threads: int | None = Field(default=None, ge=1, le=4096, description="CPU threads (CPU rows only)")


class ReportRequest(CompareRequest):
    detail: int = Field(default=8, ge=0, le=MAX_DETAIL,
                        description="best-ranked hardware that get roofline/throughput charts")


class FitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    model: str = Field(pattern=MODEL_ID, min_length=1, max_length=128, examples=["llama-3.1-70b"])
    context: int = Field(default=4096, ge=1, le=MAX_TOKENS, description="tokens per sequence")
    batch: int = Field(default=1, ge=1, le=MAX_BATCH, description="sequences held at once")
    precision: str | None = Field(default=None, pattern=ID, max_length=32)
    kv_precision: str | None = Field(default=None, pattern=ID, max_length=32)
    hw_class: HwClass | None = None


class ModelRow(BaseModel):
    """One bundled model (``inferplan models --json``)."""

    id: str
    name: str
    architecture: str
    total_params: float
    active_params: float
    layers: int
    native_precision: str
    aliases: list[str]


class ModelList(BaseModel):
    models: list[ModelRow]


class HardwareList(BaseModel):
    hardware: list[HardwareSpec]


class PrecisionList(BaseModel):
    precisions: list[Precision]


class ReportView(BaseModel):
    """What the web page draws: the data, the table and summary as HTML, plotly figures."""

    data: ReportData
    summary_html: str
    table_html: str
    figures: dict[str, dict[str, Any]] = Field(description="name -> plotly figure JSON (data, layout)")


class ErrorResponse(BaseModel):
    detail: str
