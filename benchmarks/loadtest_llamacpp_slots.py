"""Simulation vs a real `llama-server -np 4` (4 slots, continuous batching) at 1/2/4/8 clients.

    python benchmarks/loadtest_llamacpp_slots.py   # builds llama-server once (minutes), then ~5 min

Builds ``llama-server`` (CPU) from the llama.cpp sources that the llama-cpp-python sdist ships
(the installed version's sdist, fetched with ``pip download --no-binary``), with cmake under
``nice`` into ``$INFERPLAN_LLAMA_BUILD`` (default /work/llama-build if it exists, else
/tmp/inferplan-llama-build; outside the repo). Serves a synthetic GGUF with Llama-3.2-1B's shapes
(random weights, Q4_0; ``bench/gguf_synth.py``) with ``-np 4`` on 127.0.0.1, replays closed-loop
workloads with ``inferplan.loadtest`` and simulates exactly the requests sent, on this machine
measured now as a hardware entry, with ``slots=4`` (``perf/slots.py``: the engine's continuous
batching with max_num_seqs = 4). Nothing is fitted to these measurements. Not part of CI.
Writes benchmarks/results/loadtest_llamacpp_slots.md.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from loadtest_llamacpp import absolute_table, growth_table, others_busy_cores, pct, wait_for_quiet  # noqa: E402

from inferplan.bench.gguf_synth import synthetic_model, write_synthetic_gguf  # noqa: E402
from inferplan.loadtest import loadtest  # noqa: E402
from inferplan.loadtest.compare import error_summary, local_hardware  # noqa: E402
from inferplan.models.registry import get_model  # noqa: E402
from inferplan.netutil import free_port  # noqa: E402
from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload  # noqa: E402

OUT = Path(__file__).parent / "results" / "loadtest_llamacpp_slots.md"
BASE, QTYPE, LAYERS = "llama-3.2-1b", "q4_0", None  # full depth: 1.2B parameters
INPUT, OUTPUT = 128, 32
THREADS = int(os.environ.get("INFERPLAN_LOADTEST_THREADS", "2"))  # 1 avoids spin-waiting barriers on a busy machine
SLOTS = 4
CTX = 4096  # unified KV cache shared by the slots (-c)
CLIENTS = (1, 2, 4, 8)
QUIET_WAIT_S = float(os.environ.get("INFERPLAN_QUIET_WAIT_S", "300"))  # per level, then run anyway
GGUF = Path(os.environ.get("INFERPLAN_LOADTEST_GGUF", "/tmp/inferplan-loadtest/llama-3.2-1b-q4_0.gguf"))
_DEFAULT_BUILD = Path("/work/llama-build") if Path("/work/llama-build").is_dir() else Path("/tmp/inferplan-llama-build")
BUILD = Path(os.environ.get("INFERPLAN_LLAMA_BUILD", str(_DEFAULT_BUILD)))


def llama_cpp_sources(build: Path) -> Path:
    """The llama.cpp tree vendored in the llama-cpp-python sdist (downloaded once)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("llama_cpp_python")
    except PackageNotFoundError:
        ver = ""
    build.mkdir(parents=True, exist_ok=True)
    sdists = sorted(build.glob(f"llama_cpp_python-{ver or '*'}.tar.gz"))
    if not sdists:
        spec = f"llama-cpp-python=={ver}" if ver else "llama-cpp-python"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        "-d", str(build), spec], check=True)
        sdists = sorted(build.glob("llama_cpp_python-*.tar.gz"))
    sdist = sdists[-1]
    root = build / sdist.name.removesuffix(".tar.gz")
    if not root.is_dir():
        with tarfile.open(sdist) as t:
            t.extractall(build, filter="data")
    return root / "vendor" / "llama.cpp"


def build_llama_server(build: Path) -> tuple[Path, str]:
    """cmake + build of the llama-server target (CPU, Release, static); (binary, llama.cpp commit)."""
    src = llama_cpp_sources(build)
    out = build / "build"
    binary = out / "bin" / "llama-server"
    if not binary.exists():
        subprocess.run(["nice", "-n", "19", "cmake", "-S", str(src), "-B", str(out), "-DCMAKE_BUILD_TYPE=Release",
                        "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
                        "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON",
                        "-DGGML_NATIVE=ON"], check=True)
        subprocess.run(["nice", "-n", "19", "cmake", "--build", str(out), "--target", "llama-server",
                        "-j", str(os.cpu_count() or 2)], check=True)
    commit = ""
    head = src / ".git" / "HEAD"
    if head.exists():
        commit = head.read_text().strip()[:12]
    else:
        cache = (out / "CMakeCache.txt").read_text(errors="replace") if (out / "CMakeCache.txt").exists() else ""
        commit = next((ln.split("=", 1)[1] for ln in cache.splitlines() if ln.startswith("LLAMA_BUILD_COMMIT")), "")
    return binary, commit


def start_server(binary: Path, path: Path) -> tuple[subprocess.Popen, str, bool]:
    """llama-server on a free port, ready once it answers a one-token completion; if it dies from
    a signal first (ggml's AMX kernels crash on some Intel CPUs, llama.cpp #20824), once more
    with ``--no-repack``. (process, url, weight repacking on)."""
    for repack in (True, False):
        port = free_port()
        proc = subprocess.Popen(
            [str(binary), "-m", str(path), "--host", "127.0.0.1", "--port", str(port), "-np", str(SLOTS),
             "-c", str(CTX), "-t", str(THREADS), "-tb", str(THREADS), "--no-warmup",
             *([] if repack else ["--no-repack"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            if proc.poll() is not None:
                break
            try:
                r = httpx.post(url + "/v1/completions", json={"prompt": "a", "max_tokens": 1},
                               timeout=30, trust_env=False)
                if r.status_code == 200:
                    return proc, url, repack
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        code = proc.poll()
        if code is None:
            proc.kill()
            raise SystemExit("llama-server did not start")
        if code >= 0:
            raise SystemExit(f"llama-server exited with code {code}")
    raise SystemExit("llama-server crashed with and without weight repacking")


def main() -> None:
    binary, commit = build_llama_server(BUILD)
    base = get_model(BASE)
    if not GGUF.exists():
        print(f"writing {GGUF} ...", file=sys.stderr)
        write_synthetic_gguf(base, GGUF, QTYPE, layers=LAYERS)
    model = synthetic_model(base, layers=LAYERS)
    hw, note = local_hardware(quick=False, threads=THREADS)
    dep = DeploymentSpec(hardware=hw.id, precision=QTYPE, engine="llama.cpp", threads=THREADS, slots=SLOTS)
    proc, url, repack = start_server(binary, GGUF)
    results = {}
    loads: dict[int, tuple[float, float]] = {}
    try:
        loadtest(url, Workload(arrivals=Arrivals(kind="closed", users=1), input=LengthDist(value=INPUT),
                               output=LengthDist(value=4)), requests=2, local_only=True)  # warm-up
        for n in CLIENTS:
            before = wait_for_quiet({os.getpid(), proc.pid}, max_wait_s=QUIET_WAIT_S)
            w = Workload(name=f"closed-{n}", arrivals=Arrivals(kind="closed", users=n),
                         input=LengthDist(value=INPUT), output=LengthDist(value=OUTPUT))
            res = loadtest(url, w, requests=max(8, 3 * n), max_duration_s=900, local_only=True,
                           sim_model=model, sim_deployment=dep, sim_hw=hw, hardware_note=note)
            results[n] = res
            loads[n] = (before, others_busy_cores({os.getpid(), proc.pid}))
            print(f"{n} clients: median |error| {error_summary(res.comparison)}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    one = results[CLIENTS[0]]
    lines = [
        "# Load test: simulation vs a real llama-server with 4 slots",
        "",
        f"Server: `llama-server -np {SLOTS} -c {CTX} -t {THREADS} -tb {THREADS}"
        f"{'' if repack else ' --no-repack'}` built from the llama.cpp "
        f"sources vendored in the llama-cpp-python sdist (commit {commit or 'unknown'}; CPU build, "
        f"Release) on 127.0.0.1, {platform.machine()} with {os.cpu_count()} CPUs (a machine other jobs share). "
        f"{SLOTS} slots batch their decode tokens and prompt chunks into one llama_decode per step "
        f"over a unified KV cache.",
        f"Model: synthetic GGUF with {BASE}'s shapes ({model.num_layers} layers, random weights, "
        f"{QTYPE.upper()}). Workload: closed loop, N clients, {INPUT}-token prompts, {OUTPUT} output "
        f"tokens each, max(8, 3N) requests; each level starts when other processes use < 0.15 core "
        f"(last column: cores other processes used just before / just after the level).",
        f"Simulation: `--slots {SLOTS}` (continuous batching, max_num_seqs={SLOTS}, llama.cpp step costs) on "
        f"this machine as a hardware entry {note}; bundled calibration profile, nothing fitted to "
        "these runs. Generated by `python benchmarks/loadtest_llamacpp_slots.py`.",
        "",
    ]
    lines += absolute_table(results, loads)
    lines += [
        "",
        "## Batching across slots: growth with clients, relative to 1 client",
        "",
        "With 4 slots, up to 4 clients are served together (E2E grows only by the cost of batching);",
        "beyond 4 they queue for a slot.",
        "",
    ]
    lines += growth_table(results, one, "req/s / req/s(1)", lambda x: x.requests_per_s)
    e2e = {n: {r.metric: r for r in res.comparison}["E2E mean"].error for n, res in results.items()}
    within = [n for n, v in e2e.items() if v is not None and abs(v) <= 0.15]
    lines += [
        "",
        "Simulated vs measured mean E2E: " + ", ".join(f"{n} client{'s' if n > 1 else ''} {pct(v)}"
                                                     for n, v in e2e.items())
        + f" ({len(within)} of {len(e2e)} levels within 15%).",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
