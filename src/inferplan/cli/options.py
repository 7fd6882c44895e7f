"""Every option shared by several commands, defined once (typer only: importing stays cheap).

Numbers are checked while parsing, by :mod:`inferplan.inputs` (finite, in range, the limit
named): a bad value is a usage error, exit 2, before any work. Durations take units
(``50ms``, ``1.5s``, ``2m``); a bare number is seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from inferplan.inputs import LIMITS


def _lim(key: str) -> int:
    return int(LIMITS[key])


def number(name: str, hi: float | str, *, lo: float = 0.0, lo_open: bool = True,
           unit: str = "") -> Callable[[str], float]:
    """A typer parser: a finite float in (lo, hi] (or [lo, hi]) with the limit in the message."""

    def parse(text: str) -> float:
        from inferplan.errors import InputError
        from inferplan.inputs import check_float

        if isinstance(text, float):  # the default value
            return text
        try:
            return check_float(name, text, hi, lo=lo, lo_open=lo_open, unit=unit)
        except InputError as e:
            raise typer.BadParameter(str(e)) from None

    parse.__name__ = "number"
    return parse


def duration(name: str, zero: bool = False) -> Callable[[str], float]:
    """A typer parser: ``50ms``, ``1.5s``, ``2m`` -> seconds (`zero`: 0 allowed); warns about
    implausible SLOs."""

    def parse(text: str) -> float:
        from inferplan.errors import InputError
        from inferplan.inputs import parse_duration_s, slo_warning

        if isinstance(text, float):
            return text
        try:
            seconds = parse_duration_s(text, name, zero)
        except InputError as e:
            raise typer.BadParameter(str(e)) from None
        warning = slo_warning(name, seconds)
        if warning:
            typer.echo(f"Warning: {warning}", err=True)
        return seconds

    parse.__name__ = "duration"
    return parse


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


# --- output ------------------------------------------------------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object to stdout (= --format json)")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, json (one object) or csv (one row per line)")]

# --- what to model -----------------------------------------------------------------------------
ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="Catalog model id/alias, ORG/NAME from the Hugging Face cache, or a config.json path or folder")]
HardwareOpt = Annotated[str, typer.Option("--hardware", "-H", help="Catalog hardware id or alias")]
HwFileOpt = Annotated[list[Path] | None, typer.Option(
    "--hardware-file", help="YAML with extra or overriding hardware (repeatable)",
    exists=True, dir_okay=False)]
def _profile_path(value: Path | None) -> Path | None:
    """--calibration: a profile file, or the name of one in INFERPLAN_HOME/profiles."""
    if value is None:
        return None
    from inferplan.errors import InputError
    from inferplan.profiles import resolve_profile

    try:
        return resolve_profile(str(value))
    except InputError as e:
        raise typer.BadParameter(str(e)) from None


CalibOpt = Annotated[Path | None, typer.Option(
    "--calibration", help="Calibration profile: a YAML file or the name of one in "
    "INFERPLAN_HOME/profiles (default: bundled)", callback=_profile_path)]
PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="Weight precision id (default: the model's; on NPUs the 4-bit format their runtimes ship, w4a16)")]
KvPrecisionOpt = Annotated[str | None, typer.Option("--kv-precision", help="KV-cache precision id (default: the engine's)")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="Serving engine (default: the usual one for the hardware)")]
ClassOpt = Annotated[str | None, typer.Option("--class", help="Only this class (gpu, cpu, ...)")]
SortOpt = Annotated[str, typer.Option(
    "--sort", help="cost | speed | throughput | energy | devices | ttft: the ranking and, per device, "
                   "which layout is kept (compare tries larger TP and expert placements: --sort speed "
                   "may use 8 GPUs where cost uses 1; the devices column says how many; "
                   "`estimate --devices N` fixes a count)")]

# --- layout ------------------------------------------------------------------------------------
TpOpt = Annotated[int | None, typer.Option("--tp", min=1, max=_lim("parallel"), help="Tensor-parallel degree")]
PpOpt = Annotated[int | None, typer.Option("--pp", min=1, max=_lim("parallel"), help="Pipeline-parallel degree")]
EpOpt = Annotated[int | None, typer.Option("--ep", min=1, max=_lim("parallel"), help="Expert-parallel degree")]
DevicesOpt = Annotated[int | None, typer.Option("--devices", min=1, max=_lim("devices"), help="Devices per replica (default: fewest that fit)")]
# Systems beyond the datacenter GPU (perf/offload.py, perf/slots.py)
OffloadOpt = Annotated[str | None, typer.Option(
    "--offload", metavar="auto|experts",
    help="Host DRAM tier: 'auto' puts what does not fit in host DRAM (streamed over the host "
         "link; under llama.cpp whole layers, computed by the host CPU as -ngl does); 'experts' "
         "keeps routed MoE experts in host DRAM, computed by the host CPU")]
HostOpt = Annotated[str | None, typer.Option(
    "--host", help="Host CPU (catalog id) that computes the routed experts (--offload experts) "
                   "or llama.cpp's host layers (--offload auto)")]
SlotsOpt = Annotated[int | None, typer.Option(
    "--slots", min=1, max=_lim("batch"), help="llama.cpp server slots (llama-server --parallel; default 4)")]
EngineOptionOpt = Annotated[list[str] | None, typer.Option(
    "--engine-option", "-O", metavar="KEY=VALUE",
    help="Engine launch option, repeatable: max_num_seqs, max_num_batched_tokens, "
         "memory_utilization, scheduler_recv_interval, num_continuous_decode_steps, "
         "adp_timeout_iters, batch_wait_timeout_iters, batch_wait_max_tokens_ratio, async_scheduling=on|off, "
         "prefill_first=on|off, max_model_len (longest sequence; the compiled length of "
         "optimum-neuron), scheduler_policy=guaranteed_no_evict|max_utilization (TensorRT-LLM), "
         "n_gpu_layers=N (llama.cpp -ngl: N layers on the GPU, the rest on the host CPU; -1: as "
         "many as fit), n_cpu_moe=N (llama.cpp --n-cpu-moe: N MoE layers' experts on the host CPU) "
         "(or the engine's own spelling, e.g. max_running_requests, "
         "max_num_tokens, sequence_length; SGLang's enable_mixed_chunk=on is prefill_first=off)")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", min=1, max=_lim("threads"), help="CPU threads (CPUs only)")]

# --- workload ----------------------------------------------------------------------------------
BatchOpt = Annotated[int | None, typer.Option("--batch", min=1, max=_lim("batch"), help="Static batch size (default 1)")]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", min=1, max=_lim("batch"), help="Closed-loop clients")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Saturated throughput (largest batch that fits)")]
RequestsOpt = Annotated[int | None, typer.Option(
    "--requests", min=1, max=_lim("requests"),
    help="With --offline: the prompts of the run (no replica batches more than its share; "
         "the estimate says how long the run takes and what it costs)")]
InputLenOpt = Annotated[int, typer.Option("--input-len", min=0, max=_lim("tokens"), help="Prompt tokens")]
OutputLenOpt = Annotated[int, typer.Option("--output-len", min=0, max=_lim("tokens"), help="Generated tokens")]
InOpt = Annotated[int | None, typer.Option("--input-len", min=0, max=_lim("tokens"), help="Fixed prompt tokens (overrides the workload's)")]
OutOpt = Annotated[int | None, typer.Option("--output-len", min=0, max=_lim("tokens"), help="Fixed output tokens (overrides the workload's)")]
WorkloadOpt = Annotated[str, typer.Option("--workload", "-w", help="Preset (chat, rag, code, summarization, agentic), a workload YAML/JSON, or a trace .csv/.jsonl")]
RateOpt = Annotated[float | None, typer.Option("--rate", parser=number("--rate", "rate", unit="req/s"), help="Arrival rate, requests/s (Poisson; gamma with --cv)")]
CvOpt = Annotated[float | None, typer.Option("--cv", parser=number("--cv", 100.0), help="Coefficient of variation of inter-arrival gaps (1 = Poisson)")]
UsersOpt = Annotated[int | None, typer.Option("--users", min=1, max=_lim("batch"), help="Closed loop: concurrent users instead of a rate")]
ThinkOpt = Annotated[float | None, typer.Option("--think-time", parser=duration("--think-time", zero=True), help="Closed loop: mean think time (50ms, 2s, 1m)")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1, help="Random seed (same seed, same result)")]


def slo(metric: str, pct: int):
    """``--p90-tpot 50ms``: an SLO bound with a unit (a bare number is seconds)."""
    flag = f"--p{pct}-{metric}"
    return Annotated[float | None, typer.Option(flag, parser=duration(flag),
                                                help=f"SLO: p{pct} {metric.upper()} bound (50ms, 1.5s, 2m)")]


P50Ttft, P90Ttft, P99Ttft = slo("ttft", 50), slo("ttft", 90), slo("ttft", 99)
P50Tpot, P90Tpot, P99Tpot = slo("tpot", 50), slo("tpot", 90), slo("tpot", 99)
P50E2e, P90E2e, P99E2e = slo("e2e", 50), slo("e2e", 90), slo("e2e", 99)


def output_format(json_out: bool, fmt: Format | str | None = None) -> str:
    """``--json`` wins; else ``--format`` (default table)."""
    if json_out:
        return "json"
    return fmt.value if isinstance(fmt, Format) else (fmt or "table")
