"""Option types shared by several commands (typer only: importing this must stay cheap)."""

from __future__ import annotations

from typing import Annotated

import typer

PrecisionOpt = Annotated[str | None, typer.Option("--precision", help="Weight precision id (default: the model's)")]
KvPrecisionOpt = Annotated[str | None, typer.Option("--kv-precision", help="KV-cache precision id (default: the engine's)")]
BatchOpt = Annotated[int | None, typer.Option("--batch", help="Static batch size (default 1)")]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", help="Closed-loop clients")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Saturated throughput (largest batch that fits)")]
ClassOpt = Annotated[str | None, typer.Option("--class", help="Only this class (gpu, cpu, ...)")]
SortOpt = Annotated[str, typer.Option("--sort", help="cost | speed | throughput | energy | devices | ttft")]
InputLenOpt = Annotated[int, typer.Option("--input-len", help="Prompt tokens")]
OutputLenOpt = Annotated[int, typer.Option("--output-len", help="Generated tokens")]

# Systems beyond the datacenter GPU (perf/offload.py, perf/slots.py)
OffloadOpt = Annotated[str | None, typer.Option(
    "--offload", metavar="auto|experts",
    help="Host DRAM tier: 'auto' puts what does not fit in host DRAM (streamed over the host "
         "link); 'experts' keeps routed MoE experts in host DRAM, computed by the host CPU")]
HostOpt = Annotated[str | None, typer.Option(
    "--host", help="Host CPU (catalog id) that computes the routed experts with --offload experts")]
SlotsOpt = Annotated[int | None, typer.Option(
    "--slots", help="llama.cpp server slots (llama-server --parallel; default 4)")]
