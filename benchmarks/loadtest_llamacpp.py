"""Simulation vs measurement on a real local llama.cpp server at 1, 2, 4, 8 concurrent clients.

    python benchmarks/loadtest_llamacpp.py     # writes benchmarks/results/loadtest.md (~3 min)

Starts ``python -m llama_cpp.server`` on 127.0.0.1 with a synthetic GGUF of Llama-3.2-1B's shapes
(random weights, Q4_0; ``bench/gguf_synth.py``), replays closed-loop workloads with
``inferplan.loadtest`` and simulates exactly the requests sent on this machine as a hardware
entry measured now (``loadtest.compare.local_hardware``: DRAM read bandwidth with all cores,
SGEMM, SIMD-derived peaks) with the bundled calibration profile. Nothing is fitted to these
measurements.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from inferplan.bench.gguf_synth import synthetic_model, write_synthetic_gguf
from inferplan.bench.llamacpp_server import start_llamacpp_server
from inferplan.loadtest import loadtest
from inferplan.loadtest.compare import error_summary, local_hardware
from inferplan.models.registry import get_model
from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload

OUT = Path(__file__).parent / "results" / "loadtest.md"
BASE, QTYPE, LAYERS = "llama-3.2-1b", "q4_0", None  # full depth: 1.2B parameters
INPUT, OUTPUT = 128, 32
THREADS = 2
CLIENTS = (1, 2, 4, 8)
GGUF = Path(os.environ.get("INFERPLAN_LOADTEST_GGUF", "/tmp/inferplan-loadtest/llama-3.2-1b-q4_0.gguf"))


def _cpu_ticks(exclude: set[int]) -> int:
    """utime + stime of every process but `exclude` (clock ticks), from /proc."""
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in exclude:
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def others_busy_cores(exclude: set[int], seconds: float = 3.0) -> float:
    """CPU cores other processes kept busy over `seconds` (0 = the machine is ours)."""
    a = _cpu_ticks(exclude)
    time.sleep(seconds)
    b = _cpu_ticks(exclude)
    return max(0, b - a) / os.sysconf("SC_CLK_TCK") / seconds



def growth_table(results: dict, one, label: str, value) -> list[str]:
    """Markdown lines of E2E and one other metric (``value`` of a run's metrics, named ``label``)
    relative to the 1-client run ``one``, measured and simulated (one row a client count); shared
    with loadtest_llamacpp_slots.py."""
    m1, s1 = one.measured, one.simulated.metrics
    lines = [f"| clients | E2E / E2E(1) measured | simulated | {label} measured | simulated |",
             "|---|---|---|---|---|"]
    for n, res in results.items():
        m, s = res.measured, res.simulated.metrics
        lines.append(f"| {n} | {m.e2e_s.mean / m1.e2e_s.mean:.2f} | {s.e2e_s.mean / s1.e2e_s.mean:.2f} | "
                     f"{value(m) / value(m1):.2f} | {value(s) / value(s1):.2f} |")
    return lines


def absolute_table(results: dict, loads: dict) -> list[str]:
    """Markdown lines of the measured-vs-simulated table (one row a client count), shared with
    loadtest_llamacpp_slots.py."""
    lines = [
        "## Absolute: measured vs simulated (ms)",
        "",
        "| clients | TTFT p50 meas / sim | TTFT p90 meas / sim | TPOT mean meas / sim | E2E mean meas / sim | E2E error | req/s meas / sim | others' cores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, res in results.items():
        m, s = res.measured, res.simulated.metrics
        rows = {r.metric: r for r in res.comparison}
        lines.append(
            f"| {n} | {ms(m.ttft_s.p50)} / {ms(s.ttft_s.p50)} | {ms(m.ttft_s.p90)} / {ms(s.ttft_s.p90)} | "
            f"{ms(m.tpot_s.mean)} / {ms(s.tpot_s.mean)} | {ms(m.e2e_s.mean)} / {ms(s.e2e_s.mean)} | "
            f"{pct(rows['E2E mean'].error)} | {m.requests_per_s:.2f} / {s.requests_per_s:.2f} | "
            f"{loads[n][0]:.1f} / {loads[n][1]:.1f} |")
    return lines

def wait_for_quiet(exclude: set[int], limit: float = 0.15, max_wait_s: float = 1800.0) -> float:
    """Wait (up to max_wait_s) until other processes use under `limit` cores; return their use.
    The machine is shared: another job's CPU use would be measured as server slowness."""
    t = time.time()
    busy = others_busy_cores(exclude)
    while busy >= limit and time.time() - t < max_wait_s:
        time.sleep(10)
        busy = others_busy_cores(exclude)
    return busy


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0%}"


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.0f}"


def main() -> None:
    base = get_model(BASE)
    if not GGUF.exists():
        print(f"writing {GGUF} ...", file=sys.stderr)
        write_synthetic_gguf(base, GGUF, QTYPE, layers=LAYERS)
    model = synthetic_model(base, layers=LAYERS)
    hw, note = local_hardware(quick=False, threads=THREADS)
    # llama-cpp-python's server has one slot (llama-server's own default is 4: --slots)
    dep = DeploymentSpec(hardware=hw.id, precision=QTYPE, engine="llama.cpp", threads=THREADS, slots=1)
    server = start_llamacpp_server(GGUF, threads=THREADS, timeout_s=120)
    proc, url = server.proc, server.url
    results = {}
    loads: dict[int, tuple[float, float]] = {}
    try:
        # warm-up: page the model in, build the graphs
        loadtest(url, Workload(arrivals=Arrivals(kind="closed", users=1), input=LengthDist(value=INPUT),
                               output=LengthDist(value=4)), requests=2, local_only=True)
        for n in CLIENTS:
            before = wait_for_quiet({os.getpid(), proc.pid})
            w = Workload(name=f"closed-{n}", arrivals=Arrivals(kind="closed", users=n),
                         input=LengthDist(value=INPUT), output=LengthDist(value=OUTPUT))
            res = loadtest(url, w, requests=max(6, 2 * n), max_duration_s=600, local_only=True,
                           sim_model=model, sim_deployment=dep, sim_hw=hw, hardware_note=note)
            results[n] = res
            loads[n] = (before, others_busy_cores({os.getpid(), proc.pid}))
            print(f"{n} clients: median |error| {error_summary(res.comparison)}", file=sys.stderr)
    finally:
        server.stop()
    one = results[CLIENTS[0]]
    lines = [
        "# Load test: simulation vs a real llama.cpp server",
        "",
        f"Server: `python -m llama_cpp.server` (llama-cpp-python, one request at a time, "
        f"`--interrupt_requests False --logits_all False`, {THREADS} threads"
        f"{'' if server.weight_repacking else ', weight repacking off: llama.cpp crashed with it on this CPU'}) on 127.0.0.1, "
        f"{platform.machine()} with {os.cpu_count()} CPUs (a machine other jobs share).",
        f"Model: synthetic GGUF with {BASE}'s shapes ({model.num_layers} layers, random weights, "
        f"{QTYPE.upper()}). Workload: closed loop, N clients, {INPUT}-token prompts (built from words, "
        f"server-counted lengths replayed in the simulation), {OUTPUT} output tokens each, "
        f"max(6, 2N) requests; each level starts when other processes use < 0.15 core "
        f"(last column: cores other processes used just before / just after the level).",
        f"Simulation: `serial` scheduler (llama.cpp), engine llama.cpp on this machine as a hardware "
        f"entry {note}; bundled calibration profile, nothing fitted to these runs. Generated by "
        "`python benchmarks/loadtest_llamacpp.py`.",
        "",
    ]
    lines += absolute_table(results, loads)
    lines += [
        "",
        "## Queueing: growth with clients, relative to 1 client",
        "",
        "The absolute error above is the step-time model's (CPU decode and prefill on this machine);",
        "this table divides it out: how E2E and TTFT grow with the number of clients on a server",
        "that serves one request at a time.",
        "",
    ]
    lines += growth_table(results, one, "TTFT / TTFT(1)", lambda x: x.ttft_s.mean)
    med = {n: error_summary(res.comparison) for n, res in results.items()}
    lines += [
        "",
        "Median |error| over the TTFT/TPOT/E2E rows: "
        + ", ".join(f"{n} client{'s' if n > 1 else ''} {v:.0%}" for n, v in med.items() if v is not None) + ".",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
