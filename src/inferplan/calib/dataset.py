"""Measurement rows in the canonical CSV schema (shared/calibration/README.md) -> estimate plans.

Each row becomes exactly the :func:`~inferplan.perf.estimate.plan_estimate` call that
``inferplan estimate`` would make for its settings, so validation and calibration score the same
code path users run.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from inferplan.calib.spread import (
    DATASETS,
    dataset_of,
    length_spread_factor,
    prompts_sent,
    stated_requests,
)
from inferplan.errors import InferplanError, InputError, UnknownIdError
from inferplan.inputs import check_float, check_int
from inferplan.perf.efficiency import prior_efficiency
from inferplan.perf.estimate import EstimatePlan, evaluate_plan, plan_estimate
from inferplan.perf.step import Factors, request_overhead_s

if TYPE_CHECKING:
    from inferplan.catalog.schema import EngineSpec

COLUMNS = ("id", "source", "model_id", "hardware_id", "num_devices", "tp", "pp", "ep",
           "weight_precision", "kv_precision", "engine", "mode", "batch", "input_len",
           "output_len", "metric", "value", "reliability", "notes")

# metric id -> (estimate field, scale from SI to the metric's unit)
METRICS: dict[str, tuple[str, float]] = {
    "decode_tok_s_per_user": ("decode_tok_s_per_user", 1.0),
    "tpot_ms": ("tpot_s", 1e3),
    "ttft_ms": ("ttft_s", 1e3),
    "prefill_tok_s": ("prefill_tok_s", 1.0),
    "output_tok_s": ("output_tok_s", 1.0),
    "total_tok_s": ("total_tok_s", 1.0),
    "e2e_latency_s": ("e2e_latency_s", 1.0),
    "requests_per_s": ("requests_per_s", 1.0),
}
SPREAD_FIELDS = ("output_tok_s", "total_tok_s", "requests_per_s", "prefill_tok_s")
MODES = {"batch": "batch", "concurrency": "concurrency", "offline_max": "offline", "offline": "offline"}
# Hosted services do not disclose prompt or output lengths; the per-user decode speed they
# report depends little on them. Assumed when the row leaves them empty:
ASSUMED_INPUT_LEN = 512
ASSUMED_OUTPUT_LEN = 512


@dataclass
class Row:
    raw: dict[str, str]
    plan: EstimatePlan | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    origin: str = ""  # the CSV file the row came from
    burst_waves: float = 0.0  # benchmark sent num_prompts = waves x concurrency, all at t=0
    lockstep: bool = False  # its clients run in waves that start together (lockstep_metrics)
    burst_share: float = 1.0  # mean share of a burst's prefill done at a prompt's first token
    spread: float = 1.0  # offline throughput with the dataset's length spread / with mean lengths

    @property
    def id(self) -> str:
        return str(self.raw.get("id") or "")

    @property
    def metric(self) -> str:
        return str(self.raw.get("metric") or "")

    @property
    def measured(self) -> float:
        """The measured value; NaN when the row's value cannot be read (the row has an error)."""
        try:
            return check_float("value", self.raw.get("value"), 1e15)
        except InputError:
            return math.nan

    @property
    def source(self) -> str:
        return self.raw.get("source", "")

    def predict(self, f: Factors) -> float | None:
        if self.plan is None:
            return None
        return self.metric_from(self.plan, f)

    def metric_from(self, plan, f: Factors | None, queue_s: float | None = None) -> float | None:
        """The row's metric from a plan (or a stand-in whose works report fixed times);
        ``queue_s`` fixes a served prompt's queueing wait (evaluate_plan)."""
        fld, scale = METRICS[self.metric]
        if self.lockstep:
            out = lockstep_metrics(plan, f, self.burst_share)
        else:
            out = evaluate_plan(plan, f, queue_s)  # type: ignore[arg-type]
        v = out.get(fld)
        if v is None:
            return None
        if fld in SPREAD_FIELDS:
            v *= self.spread  # calib/spread.py: the run's tail of long requests
        if self.burst_waves and "burst" in plan.works and fld in ("ttft_s", "e2e_latency_s"):
            v += burst_excess_s(plan.works["burst"].total_time_s(f), out.get("ttft_s") or 0.0,
                                self.burst_share, self.burst_waves, request_overhead_s(f))
        return v * scale


def burst_excess_s(burst_prefill_s: float, steady_ttft_s: float, first_token_share: float,
                   waves: float, request_s: float = 0.0) -> float:
    """Extra mean TTFT of a concurrency benchmark that starts all its clients at once.

    Serving benchmarks (vLLM ``benchmark_serving --request-rate inf --max-concurrency C``,
    InferenceX: ``num_prompts = 10 x C``) send the first C requests together: they are prefilled
    back to back in the engine's chunks, each getting its first token when the step holding its
    last chunk ends, ``first_token_share`` of the whole burst's prefill on average
    (perf/chunks.first_token_share). One request in ``waves`` belongs to that
    first wave; the others arrive one at a time into a running batch (the steady-state TTFT).
    Mean over all requests: steady + (burst_mean - steady) / waves; the first wave pays the
    server's per-request time ``request_s`` too. Seconds.
    """
    burst_mean = burst_prefill_s * first_token_share + request_s
    return (burst_mean - steady_ttft_s) / waves  # linear in the times (fastpred relies on it)


def lockstep_metrics(plan: EstimatePlan, f: Factors | None,
                     first_token_share: float) -> dict[str, float | None]:
    """Metrics of a benchmark whose clients run in lockstep waves (``Row.lockstep``).

    A prefill-first engine (``EngineSpec.prefill_first``) that receives its n clients' requests
    at once runs all n prompts (``burst``: burst_s, in its chunks) before any decode step; a
    prompt's first token comes when the step holding its last chunk ends, a share s
    (``first_token_share``, perf/chunks.first_token_share) of the burst on average. The
    n sequences then decode together, O - 1 steps of decode_s each, and -- all of one output
    length -- finish on the same step, so the clients send the next n requests at once and every
    wave repeats the first. Per request, with the server's own time r (request_overhead_s):
    TTFT = burst_s s + r; end to end e2e = burst_s + (O-1) decode_s + r; TPOT = (e2e -
    TTFT)/(O-1), the decode step plus the rest of the burst after its first token. Each replica
    serves n requests per e2e. Seconds and per-second rates; linear in the times (fastpred).
    """
    # f is None only when fastpred probes with stand-in works that report fixed times
    burst_s = plan.works["burst"].total_time_s(f)  # type: ignore[arg-type]
    decode_s = plan.works["decode"].total_time_s(f)  # type: ignore[arg-type]
    n, O, I = plan.seqs_per_replica, plan.output_len, plan.input_len
    rps = n * plan.replicas_busy
    r = request_overhead_s(f)
    ttft = burst_s * first_token_share + r
    e2e = burst_s + (O - 1) * decode_s + r
    tpot = (e2e - ttft) / (O - 1)
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_latency_s": e2e, "decode_tok_s_per_user": 1 / tpot,
            "requests_per_s": rps / e2e, "output_tok_s": rps * O / e2e,
            "prefill_tok_s": rps * I / e2e, "total_tok_s": rps * (I + O) / e2e}


def _lockstep(raw: dict[str, str], plan: EstimatePlan) -> bool:
    """Whether a concurrency row's clients run in lockstep waves: all start at once (its notes
    give ``num_prompts``), every request has one output length (``lengths=fixed`` in its notes:
    the client fixed the lengths and ignored end-of-sequence tokens), the engine runs waiting
    prompts before decodes (``prefill_first``), each request decodes more than one token, and
    every client holds an engine slot (no admission queue)."""
    notes = raw.get("notes") or ""
    return (plan.mode == "concurrency" and plan.output_len > 1 and plan.input_len > 0
            and "lengths=fixed" in notes and _burst_waves(notes, plan.batch) > 0
            and plan.dep.engine.prefill_first and plan.queue_factor <= 1
            and plan.admission_steps == 0 and "decode" in plan.works)


def _burst_waves(notes: str, clients: int) -> float:
    """num_prompts / concurrency when the row's notes state it (``num_prompts=10x`` or ``=N``).
    0 for a median (``statistic=median``): with several waves the first is a minority of the
    requests and leaves the median a steady-state request's."""
    import re

    if "statistic=median" in notes:
        return 0.0

    m = re.search(r"num_prompts\s*=\s*(\d+(?:\.\d+)?)\s*x", notes)
    if m:
        return float(m.group(1))
    m = re.search(r"num_prompts\s*=\s*(\d+)", notes)
    if m and clients > 0:
        return max(1.0, float(m.group(1)) / clients)
    return 0.0


def _int(s: str | None, name: str = "value", limit: str = "batch", lo: int = 1) -> int | None:
    """An optional positive integer cell (``8`` or ``8.0``), within the limit of ``inputs``."""
    s = (s or "").strip()
    if not s:
        return None
    try:
        x = float(s)
    except ValueError:
        raise InputError(f"column {name}: not a number: {s[:40]!r}") from None
    return check_int(f"column {name}", x, limit, lo=lo)


class SchemaWarning(UserWarning):
    """A measurement CSV lacks columns of the canonical schema (their defaults are used)."""


def read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM is not part of 'id'
            reader = csv.DictReader(f)
            missing = [c for c in ("id", "model_id", "hardware_id", "metric", "value")
                       if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: missing columns {', '.join(missing)} "
                                 f"(expected the schema of shared/calibration/published.csv)")
            absent = [c for c in COLUMNS if c not in (reader.fieldnames or [])
                      and c not in ("source", "reliability", "notes")]
            if absent:  # each falls back to a default that changes the prediction
                warnings.warn(f"{path.name}: no {', '.join(absent)} column"
                              f"{'s' if len(absent) > 1 else ''}: every row takes the tool's "
                              f"default there (e.g. the model's native precision, the hardware's "
                              f"default engine), which may not be what was measured",
                              SchemaWarning, stacklevel=2)
            rows = list(reader)
            if not rows:
                raise InputError(f"{path}: no data rows (a header only): nothing to predict")
            return rows
    except FileNotFoundError:
        raise InputError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; expected a CSV file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 CSV file") from None
    except csv.Error as e:
        raise InputError(f"{path}: not a readable CSV file: {e}") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None


def plan_row(raw: dict[str, str], base: Path, hardware_files: tuple[Path, ...] = ()) -> Row:
    row = Row(raw)
    try:
        short = [c for c in ("id", "model_id", "hardware_id", "metric", "value") if not isinstance(raw.get(c), str)]
        if short:  # csv.DictReader gives None for the columns a short row lacks
            raise InputError(f"short row: no {', '.join(short)} (fewer fields than the header)")
        if raw["metric"] not in METRICS:
            raise InputError(f"unknown metric '{raw['metric']}' (known: {', '.join(METRICS)})")
        check_float("column value", raw["value"].strip(), 1e15)  # finite, > 0 (an APE divides by it)
        model = raw["model_id"].strip()
        if model.endswith(".json") or "/" in model:
            p = (base / model)
            model = str(p if p.exists() else Path(raw["model_id"]))
        mode = MODES.get((raw.get("mode") or "batch").strip())
        if mode is None:
            raise InputError(f"unknown mode '{raw.get('mode')}'")
        I, O = (_int(raw.get(k), k, "tokens", lo=0) for k in ("input_len", "output_len"))
        if I is None:
            I = ASSUMED_INPUT_LEN
            row.notes.append(f"input_len not stated: assumed {I}")
        if O is None:
            O = ASSUMED_OUTPUT_LEN
            row.notes.append(f"output_len not stated: assumed {O}")
        tp, pp, ep = (_int(raw.get(k), k, "parallel") for k in ("tp", "pp", "ep"))
        n = _int(raw.get("num_devices"), "num_devices", "devices")
        if n is not None and tp is None and pp is None and mode != "offline":
            tp, pp = n, 1  # a server shards across all stated devices by default
        # offline runs with no layout stated (MLPerf Offline: each submitter picks its own)
        # get the tool's offline layout on those devices (the most requests/s under the priors)
        threads = None
        for part in (raw.get("notes") or "").replace(";", " ").split():
            if part.startswith("threads="):
                threads = _int(part.split("=", 1)[1], "notes threads=", "threads")
        engine = _engine_or_fallback(raw, row, hardware_files)
        kwargs = dict(
            engine_options=_engine_options(raw.get("notes") or ""),
            devices=n, tp=tp, pp=pp, ep=ep,
            precision=(raw.get("weight_precision") or "").strip() or None,
            kv_precision=_kv_for(raw, engine, row, hardware_files),
            engine=engine, mode=mode,
            batch=_int(raw.get("batch"), "batch", "batch") or 1, input_len=I, output_len=O,
            threads=threads,
            hardware_files=hardware_files,
            # an offline run of N prompts never batches more than N (perf/batching.py)
            requests=stated_requests(raw.get("notes") or "") if mode == "offline" else None,
        )
        row.plan = plan_estimate(model, raw["hardware_id"].strip(), **kwargs)  # type: ignore[arg-type]
        if not row.plan.fits and mode != "offline":
            row.plan = _admit_capped(model, raw["hardware_id"].strip(), kwargs, row) or row.plan
        if not row.plan.fits:
            row.error = f"does not fit: {row.plan.reason}"
            row.plan = None
        elif mode == "offline" and (dataset := dataset_of(raw.get("notes") or "")):
            _spread_row(row, dataset, raw.get("notes") or "")
        elif _lockstep(raw, row.plan):
            _add_burst(row)
            row.lockstep = True
            row.notes.append(f"{row.plan.batch} clients in lockstep waves (fixed lengths, "
                             f"prefill-first engine): every wave prefills all its prompts first")
        elif mode == "concurrency" and raw["metric"] in ("ttft_ms", "e2e_latency_s"):
            waves = _burst_waves(raw.get("notes") or "", row.plan.batch)
            if waves and row.plan.input_len > 0:
                _add_burst(row)
                row.burst_waves = waves
                row.notes.append(f"benchmark starts {row.plan.batch} clients at once, "
                                 f"{waves:g} waves: first-wave prefill queue added to the mean")
    except InferplanError as e:
        row.error = str(e)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        row.error = f"bad row: {type(e).__name__} {e}"
    return row


def _add_burst(row: Row) -> None:
    """The work of prefilling every client's prompt of one replica back to back (``burst``) and
    the mean share of it done when a prompt's first token comes out."""
    from inferplan.perf.chunks import first_token_share, prefill_chunks

    plan = row.plan
    assert plan is not None
    n, prompt = plan.seqs_per_replica, plan.input_len
    plan.works["burst"] = prefill_chunks(plan.dep, n, prompt)
    row.burst_share = first_token_share(n, prompt, plan.dep.step_token_budget)


def _spread_row(row: Row, dataset: str, notes: str) -> None:
    """An offline row whose benchmark drew lengths from a wide dataset: its throughput is the
    estimate's times the run's length-spread factor (calib/spread.py), with a note."""
    plan = row.plan
    assert plan is not None
    n = prompts_sent(notes)
    try:  # at the priors: no factor fitted on the corpus (held-out rows included) enters a row
        row.spread = length_spread_factor(plan.dep, plan.input_len, plan.output_len,
                                          DATASETS[dataset], requests=n, eff=prior_efficiency())
    except InferplanError as e:  # the simulator cannot run this deployment: the mean request
        row.notes.append(f"{dataset} lengths: not replayed ({e}); predicted at the mean lengths")
        return
    row.notes.append(f"{dataset} lengths: {n} requests with spread-out lengths run at "
                     f"{row.spread:.2f}x the throughput of the mean request (a tail of long ones)")


def stated_engine(raw: dict[str, str]) -> EngineSpec | None:
    """The catalog engine a row names (an alias resolved), None where the catalog lacks it."""
    from inferplan.catalog.engines import get_engine

    try:
        return get_engine((raw.get("engine") or "").strip())
    except InferplanError:
        return None


def _kv_for(raw: dict[str, str], engine: str | None, row: Row, hardware_files: tuple[Path, ...]) -> str | None:
    """The row's KV precision; where its engine was replaced (unknown to the catalog, or not
    running on the row's hardware: ``engine`` None) by one without that cache type, the
    replacement's type of the nearest bits, with a note."""
    from inferplan.catalog.engines import default_engine, get_engine, kv_formats
    from inferplan.catalog.hardware import get_hardware
    from inferplan.catalog.precisions import get_precision

    kv = (raw.get("kv_precision") or "").strip() or None
    if kv in (None, "unknown"):
        return kv
    if engine is not None and stated_engine(raw) is not None:
        return kv  # the row's own engine (a release of it): estimate's check applies
    try:
        eng = get_engine(engine) if engine else default_engine(get_hardware(raw["hardware_id"].strip(), hardware_files))
        asked = get_precision(kv)
    except InferplanError:
        return kv
    allowed = kv_formats(eng)
    if asked.id in allowed:
        return kv
    near = min(sorted(allowed), key=lambda p: abs(get_precision(p).bits_per_weight - asked.bits_per_weight))
    row.notes.append(f"KV {asked.id}: {eng.id} has no such cache type, read as {near}")
    return near


def _engine_or_fallback(raw: dict[str, str], row: Row, hardware_files: tuple[Path, ...]) -> str | None:
    """The row's engine id, or None (the hardware's default engine) with a note when the engine
    is unknown or does not run on the row's hardware. ``inferplan estimate`` stays strict; a
    measurement CSV from elsewhere names engines the catalog does not know (exllamav2, MLC...)."""
    from inferplan.catalog.engines import (
        check_engine_runs_on,
        default_engine,
        engine_as_of,
        get_engine,
        version_in,
    )
    from inferplan.catalog.hardware import get_hardware

    name = (raw.get("engine") or "").strip()
    if not name or name == "unknown":
        return None
    notes = raw.get("notes") or ""
    date = note_value(notes, "date")
    try:
        eng = get_engine(name)
    except UnknownIdError:
        try:  # the default engine as it ran at the row's date
            hw = get_hardware(raw["hardware_id"].strip(), hardware_files)
            fallback = engine_as_of(default_engine(hw), date or "", hw).id
        except InferplanError:
            row.notes.append(f"unknown engine '{name}': predicted with the hardware's default engine")
            return None
        row.notes.append(f"unknown engine '{name}': predicted with {fallback}")
        return fallback
    try:
        hw = get_hardware(raw["hardware_id"].strip(), hardware_files)
    except InferplanError:
        return eng.id  # unknown hardware: plan_estimate reports it
    try:
        check_engine_runs_on(eng, hw)
    except InputError as e:
        row.notes.append(f"{e}: predicted with the default engine")
        return None
    version = version_in(note_value(notes, "engine_version") or "")
    then = engine_as_of(eng, date or "", hw, version)
    if then.id != eng.id:
        when = ".".join(map(str, version)) if version and then.until_version else date
        row.notes.append(f"{eng.id} as of {when}: predicted with the {then.id} profile ({then.versions})")
    return then.id


def _engine_options(notes: str) -> dict[str, str]:
    """The launch options a row's notes record as ``engine_options=key:value,key:value``, and a
    ``max_num_seqs=N`` note of its own (shared/calibration's AMD rows state the launch's
    ``--max-num-seqs`` that way)."""
    raw = note_value(notes, "engine_options")
    out: dict[str, str] = {}
    for item in raw.split(",") if raw else ():
        key, sep, value = item.partition(":")
        if not sep:
            raise InputError(f"notes engine_options: '{item}' is not key:value")
        out[key.strip()] = value.strip()
    seqs = note_value(notes, "max_num_seqs")
    if seqs and "max_num_seqs" not in out:
        out["max_num_seqs"] = seqs
    return out


def note_value(notes: str, key: str) -> str | None:
    """The value of ``key=value`` in a row's notes (``;``-separated), or None."""
    for part in notes.split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k.strip() == key:
            return v.strip()
    return None


def _admit_capped(model, hardware: str, kwargs: dict, row: Row) -> EstimatePlan | None:
    """A measured batch larger than the modelled KV cache holds, run as the engine would: as
    many sequences as fit run together and the rest queue (closed-loop clients)."""
    from inferplan.perf.memory import max_sequences

    plan = plan_estimate(model, hardware, **{**kwargs, "batch": 1})
    if not plan.fits:
        return None  # even one sequence does not fit: the weights do not
    dep = plan.dep
    I, O = kwargs["input_len"], kwargs["output_len"]
    per_rep = min(dep.max_running_seqs, max_sequences(dep, I + O, I))
    want = kwargs["batch"]
    cap = per_rep * dep.layout.dp
    if cap < 1 or cap >= want:
        return None
    capped = plan_estimate(model, hardware, **{**kwargs, "mode": "concurrency", "batch": cap})
    if not capped.fits:
        return None
    capped.queue_factor *= want / cap
    capped.notes["admission"] = (f"{want} sequences do not fit the KV cache: {cap} run together, "
                                 f"the others queue")
    row.notes.append(f"batch {want} exceeds the KV cache ({cap} sequences fit): capped and queued")
    return capped


def load_dataset(path: Path, hardware_files: tuple[Path, ...] = ()) -> list[Row]:
    base = path.resolve().parent
    return [plan_row(r, base, hardware_files) for r in read_rows(path)]
