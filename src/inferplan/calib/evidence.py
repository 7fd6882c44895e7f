"""The bundled measurements nearest to a configuration, with the tool's held-out error on each.

An estimate's 80% interval says how far off the tool is, on average, on rows like it; this
module shows the rows themselves: the published measurements of the bundled corpus
(``calib/data/corpus/``) closest to the configuration asked about, each with the value the
tool predicted for it while its whole source was held out of the fit (leave-one-source-out,
``calib/data/loso_predictions.json``, written by ``tools/calibrate_default.py`` with the
shipped profile's method). A user sees what was measured near their question, by whom, and how
far the tool was from it when it had not seen that source.

Nearness is a ranking, not a model: a row's distance is a sum of mismatch penalties
(:data:`PENALTY`, in arbitrary units) over hardware, model, engine, weight precision, regime,
device count, batch and context length. Rows of another hardware class are never shown (a CPU
measurement says nothing about an H100). The held-out predictions are those of the code and
corpus the file was written with (its ``method`` line); a row added later has none (``None``).
"""

from __future__ import annotations

import csv
import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, computed_field

if TYPE_CHECKING:
    from inferplan.models.spec import ModelSpec
    from inferplan.perf.estimate import Estimate

from inferplan.calib.corpus import bundled_csvs
from inferplan.calib.dataset import note_value
from inferplan.errors import InferplanError
from inferplan.perf.regimes import METRIC_FAMILY, TIME_METRICS, regime

HELDOUT_PATH = Path(__file__).resolve().parent / "data" / "loso_predictions.json"

PENALTY = {
    "architecture": 1.0,  # same architecture (e.g. nvidia-hopper), another device
    "vendor": 2.0,  # same class and vendor, another architecture
    "class": 3.0,  # same class, another vendor
    "model_per_doubling": 1.0,  # per factor 2 in active parameters (capped at MODEL_CAP)
    "model_other": 0.5,  # another model of about the same size
    "moe": 1.0,  # one MoE, the other dense
    "engine": 1.0,  # another engine (release lines of one engine count as one)
    "precision_bits": 0.5,  # another format of the same bits per weight
    "precision": 1.0,  # another number of bits per weight
    "regime": 1.5,  # another primary regime (batch-1 decode, prefill, batch, concurrency, offline)
    "per_doubling_devices": 0.5,  # per factor 2 in device count (capped at 1.5)
    "per_doubling_batch": 0.25,  # per factor 2 in batch or concurrency (capped at 1.0)
    "per_doubling_context": 0.25,  # per factor 2 in prompt + output tokens (capped at 1.0)
    "unknown": 0.5,  # a length or count the row does not state
}
MODEL_CAP = 3.0
# classes whose vendors build unrelated machines (Gaudi, Trainium and SN40L are all "asic"; a
# Qualcomm NPU says nothing of an Apple one): rows of another vendor there are not shown
OWN_DESIGN_CLASSES = frozenset({"asic", "npu", "lpu", "wafer"})


@dataclass(frozen=True)
class Query:
    """The configuration to find measurements near (an estimate's settings)."""

    model_id: str
    active_params: float  # parameters read per token (all of them for a dense model)
    moe: bool
    hardware_id: str
    hw_class: str
    vendor: str
    architecture: str | None
    engine_line: str  # engines.release_line of the engine
    weight_bits: float
    weight_precision: str
    mode: str  # batch | concurrency | offline
    batch: int
    input_len: int
    output_len: int
    devices: int


class Measurement(BaseModel):
    """One bundled corpus row near the query, with the tool's held-out prediction of it."""

    model_config = ConfigDict(frozen=True)

    source: str
    id: str
    date: str | None
    where: str | None  # the row's src= / url= note: repository path or page
    reliability: str
    model: str
    hardware: str
    devices: int | None
    engine: str
    weight_precision: str
    mode: str
    batch: int | None
    input_len: int | None
    output_len: int | None
    metric: str
    measured: float
    predicted_heldout: float | None  # same unit as measured; None: not in the saved file
    ratio: float | None  # predicted / measured
    distance: float  # sum of PENALTY mismatches (0: same configuration)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ape(self) -> float | None:
        """|predicted - measured| / measured of the held-out prediction."""
        return None if self.ratio is None else abs(self.ratio - 1.0)


class Evidence(BaseModel):
    """The nearest measurements (``estimate --evidence N``, ``POST /api/evidence``)."""

    rows: list[Measurement]
    method: str  # how the held-out predictions were made (the saved file's method line)
    median_ape: float | None  # of the shown rows' held-out predictions
    speed_bias: float | None  # median of predicted/measured speed (time metrics inverted): > 1 too fast
    hardware: str  # the device asked about
    on_hardware: int  # shown rows measured on it
    on_vendor: int  # shown rows measured on its vendor's devices (on_hardware included)


@functools.lru_cache(maxsize=1)
def heldout_predictions() -> tuple[str, dict[str, float | None]]:
    """(method, {"file|source|id": prediction}) of the saved leave-one-source-out run."""
    try:
        saved = json.loads(HELDOUT_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InferplanError(f"cannot read the saved held-out predictions {HELDOUT_PATH}: {e}") from None
    return str(saved["method"]), dict(saved["pred"])


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def _doublings(a: float | None, b: float | None, per: float, cap: float) -> float:
    if not a or not b or a <= 0 or b <= 0:
        return PENALTY["unknown"]
    return min(cap, per * abs(math.log2(a / b)))


@functools.lru_cache(maxsize=512)
def _hardware(hw_id: str) -> tuple[str, str, str | None] | None:
    from inferplan.catalog.hardware import get_hardware

    try:
        hw = get_hardware(hw_id)
    except InferplanError:
        return None
    return hw.hw_class, hw.vendor, hw.architecture


@functools.lru_cache(maxsize=512)
def _model(model_id: str) -> tuple[float, bool] | None:
    from inferplan.models.registry import get_model

    try:
        m = get_model(model_id)
    except (InferplanError, OSError):
        return None
    return float(m.active_params), m.active_params < m.total_params


@functools.lru_cache(maxsize=128)
def _engine_line(engine_id: str) -> str:
    from inferplan.catalog.engines import get_engine, release_line

    try:
        return release_line(get_engine(engine_id))
    except InferplanError:
        return engine_id


@functools.lru_cache(maxsize=128)
def _bits(precision_id: str) -> float | None:
    from inferplan.catalog.precisions import get_precision

    try:
        return get_precision(precision_id).bits_per_weight
    except InferplanError:
        return None


def _hardware_distance(q: Query, hw_id: str) -> float | None:
    """None: another class, or another vendor's chip in a class whose vendors share no design
    (:data:`OWN_DESIGN_CLASSES`): never shown."""
    if hw_id == q.hardware_id:
        return 0.0
    spec = _hardware(hw_id)
    if spec is None or spec[0] != q.hw_class:
        return None
    cls, vendor, arch = spec
    if cls in OWN_DESIGN_CLASSES and vendor != q.vendor:
        return None
    if q.architecture and arch == q.architecture:
        return PENALTY["architecture"]
    return PENALTY["vendor"] if vendor == q.vendor else PENALTY["class"]


def _model_distance(q: Query, model_id: str) -> float:
    if model_id == q.model_id:
        return 0.0
    spec = _model(model_id)
    if spec is None:
        return MODEL_CAP + PENALTY["moe"]
    active, moe = spec
    d = max(PENALTY["model_other"], _doublings(active, q.active_params, PENALTY["model_per_doubling"], MODEL_CAP))
    return d + (PENALTY["moe"] if moe != q.moe else 0.0)


def _regime_distance(q: Query, raw: dict[str, str]) -> float:
    mode = "offline" if raw["mode"] == "offline_max" else raw["mode"]
    fam = METRIC_FAMILY.get(raw["metric"], "throughput")
    row = regime(mode, _int(raw["batch"]), fam, _int(raw["input_len"]) or 0, _int(raw["output_len"]) or 2)
    mine = {regime(q.mode, q.batch, f, q.input_len, q.output_len) for f in ("decode", "prefill")}
    return 0.0 if row in mine else PENALTY["regime"]


def row_distance(q: Query, raw: dict[str, str]) -> float | None:
    """Distance of one corpus row (its CSV fields) from the query; None: not comparable."""
    hw = _hardware_distance(q, raw["hardware_id"])
    if hw is None:
        return None
    d = hw + _model_distance(q, raw["model_id"]) + _regime_distance(q, raw)
    if _engine_line(raw["engine"]) != q.engine_line:
        d += PENALTY["engine"]
    if raw["weight_precision"] != q.weight_precision:
        bits = _bits(raw["weight_precision"])
        d += PENALTY["precision_bits"] if bits == q.weight_bits else PENALTY["precision"]
    d += _doublings(_int(raw["num_devices"]), q.devices, PENALTY["per_doubling_devices"], 1.5)
    if q.mode != "offline" and raw["mode"] != "offline_max":
        d += _doublings(_int(raw["batch"]), q.batch, PENALTY["per_doubling_batch"], 1.0)
    i, o = _int(raw["input_len"]), _int(raw["output_len"])
    ctx = (i or 0) + (o or 0) if i is not None or o is not None else None
    d += _doublings(ctx, q.input_len + q.output_len, PENALTY["per_doubling_context"], 1.0)
    return d


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[tuple[str, dict[str, str]], ...]:
    """(file name, CSV fields) of every bundled corpus row (read once per process)."""
    out = []
    for p in bundled_csvs():
        with p.open(newline="", encoding="utf-8") as f:
            out += [(p.name, r) for r in csv.DictReader(f)]
    return tuple(out)


def nearest(q: Query, k: int = 5) -> Evidence:
    """The ``k`` bundled measurements nearest to ``q`` (ties: better reliability grade, then the
    newer date, then the id), with their held-out predictions and those predictions' error."""
    method, pred = heldout_predictions()
    scored = []
    for origin, raw in _corpus():
        d = row_distance(q, raw)
        if d is None:
            continue
        date = note_value(raw["notes"], "date") or ""
        scored.append((d, raw.get("reliability") or "C", _neg_date(date), raw["id"], origin, raw))
    scored.sort(key=lambda t: t[:4])
    rows = [_measurement(origin, raw, d, pred) for d, _, _, _, origin, raw in scored[:max(k, 0)]]
    ratios = [m.ratio for m in rows if m.ratio is not None]
    speed = [1 / m.ratio if m.metric in TIME_METRICS else m.ratio for m in rows if m.ratio]
    vendor = sum(1 for m in rows if (_hardware(m.hardware) or ("", "", None))[1] == q.vendor
                 or m.hardware == q.hardware_id)
    return Evidence(rows=rows, method=method,
                    median_ape=median([abs(r - 1) for r in ratios]) if ratios else None,
                    speed_bias=median(speed) if speed else None, hardware=q.hardware_id,
                    on_hardware=sum(m.hardware == q.hardware_id for m in rows), on_vendor=vendor)


def _neg_date(date: str) -> str:
    """A key that sorts newer dates first (YYYY-MM[-DD] text)."""
    return "".join(chr(0x10FFFF - ord(c)) for c in date) if date else "\U0010ffff"


def _measurement(origin: str, raw: dict[str, str], distance: float,
                 pred: dict[str, float | None]) -> Measurement:
    measured = float(raw["value"])
    p = pred.get(f"{origin}|{raw['source']}|{raw['id']}")
    notes = raw.get("notes") or ""
    return Measurement(
        source=raw["source"], id=raw["id"], date=note_value(notes, "date") or None,
        where=note_value(notes, "url") or note_value(notes, "src") or None,
        reliability=raw.get("reliability") or "", model=raw["model_id"],
        hardware=raw["hardware_id"], devices=_int(raw["num_devices"]), engine=raw["engine"],
        weight_precision=raw["weight_precision"], mode=raw["mode"], batch=_int(raw["batch"]),
        input_len=_int(raw["input_len"]), output_len=_int(raw["output_len"]), metric=raw["metric"],
        measured=measured, predicted_heldout=p,
        ratio=None if p is None or measured <= 0 else p / measured, distance=round(distance, 3))


def query_for(est: Estimate, model: str | Path | ModelSpec | None = None,
              hardware_files: tuple[Path, ...] = ()) -> Query:
    """The query of an :class:`~inferplan.perf.estimate.Estimate`; ``model``: the name or config
    path it was asked with (default ``est.model``), resolved again for its parameter counts,
    or its ModelSpec."""
    from inferplan.catalog.engines import get_engine, release_line
    from inferplan.catalog.hardware import get_hardware
    from inferplan.catalog.precisions import get_precision
    from inferplan.models.registry import get_model
    from inferplan.models.spec import ModelSpec as Spec

    m = model if isinstance(model, Spec) else get_model(model if model is not None else est.model)
    hw = get_hardware(est.hardware, hardware_files)
    return Query(
        model_id=m.id, active_params=float(m.active_params), moe=m.active_params < m.total_params,
        hardware_id=hw.id, hw_class=hw.hw_class, vendor=hw.vendor, architecture=hw.architecture,
        engine_line=release_line(get_engine(est.engine)), weight_precision=est.weight_precision,
        weight_bits=get_precision(est.weight_precision).bits_per_weight, mode=est.mode,
        batch=est.batch, input_len=est.input_len, output_len=est.output_len, devices=est.devices)
