"""Measure this machine's CPU: what it is, how much DRAM bandwidth its cores reach, GEMM/GEMV.

- :func:`detect_cpu` reads ``/proc/cpuinfo``, ``/proc/meminfo`` and ``/sys`` (Linux; other
  systems give what ``platform``/``os`` know): model, vendor, cores, SIMD features, L3, memory.
- :func:`measure_bandwidth` streams a large numpy array from 1..all threads (numpy releases the
  GIL in reductions and copies, so a thread pool loads every core): read = max-reduce, copy =
  ``np.copyto`` counted as read + write (STREAM convention). Best of several passes.
- :func:`measure_gemm` times BLAS GEMM (fp32, fp64; bf16 when ``ml_dtypes`` is installed) and
  GEMV through numpy with the BLAS's own threads.
- :func:`hardware_entry` turns the measurement into a catalog entry (``HardwareSpec`` YAML) for
  ``$INFERPLAN_HOME/hardware/this-machine.yaml`` when the CPU is not in the catalog, so
  ``--hardware this-machine`` works afterwards; :func:`match_catalog` maps it to a catalog id
  when it is.

These microbenchmarks are not LLM metrics: they go into the bench JSON, the generated hardware
entry (measured read bandwidth -> ``memory_bw_reachable_bytes_s``) and the history database,
never into the calibration CSV. Not here: the llama.cpp engine run (``bench/llamacpp.py``).
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.bench.rows import today

__all__ = [
    "THIS_MACHINE", "CpuInfo", "CpuBenchResult", "detect_cpu", "measure_bandwidth",
    "measure_gemm", "match_catalog", "hardware_entry", "write_hardware_entry", "run_cpu_bench",
]

THIS_MACHINE = "this-machine"  # hardware id of the generated entry
Progress = Callable[[str], None]  # called with a short label before each measurement step

MIB = 2**20
FULL_ARRAY_BYTES = 512 * MIB  # >> any L3 of a client CPU; servers get 4 x L3 (see _array_bytes)
QUICK_ARRAY_BYTES = 256 * MIB
SIMD_FLAGS = (  # the features that decide which kernels llama.cpp / BLAS can use
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",  # x86
    "asimd", "asimddp", "i8mm", "bf16", "sve", "sve2", "sme",  # Arm (/proc/cpuinfo Features)
)


class CpuInfo(BaseModel):
    model_name: str
    vendor: str
    arch: str
    family: int | None = None  # x86 cpu family (AMD: 23 Zen/Zen2, 25 Zen3/Zen4, 26 Zen5)
    cores: int  # physical cores usable by this process
    threads: int  # logical CPUs usable by this process
    sockets: int = 1
    clock_hz: float | None = None  # max clock if the kernel exposes it, else the reported clock
    clock_source: str = ""
    simd: list[str] = []
    l3_bytes: float | None = None
    memory_bytes: float | None = None
    board: str = ""  # /proc/device-tree/model on Arm boards (e.g. "Raspberry Pi 5 Model B")


class BandwidthPoint(BaseModel):
    threads: int
    read_bytes_s: float
    copy_bytes_s: float


class GemmPoint(BaseModel):
    kind: str  # gemm | gemv
    dtype: str
    n: int  # square GEMM n x n x n; GEMV n x n matrix times a vector
    threads: str  # "blas default" (the BLAS's own thread pool)
    seconds: float
    flops_s: float
    bytes_s: float | None = None  # GEMV: matrix bytes per second (bandwidth bound)


class CpuBenchResult(BaseModel):
    date: str
    quick: bool
    cpu: CpuInfo
    array_bytes: int
    bandwidth: list[BandwidthPoint]
    gemm: list[GemmPoint]
    skipped: list[str]
    peak_flops: dict[str, float]  # derived, see hardware_entry's field_sources
    peak_flops_how: str
    background_cpu: float | None = None  # other processes' CPU share during the bandwidth runs
    hardware_id: str
    matched_catalog: bool
    hardware_file: str | None = None
    duration_s: float

    @property
    def best_read_bytes_s(self) -> float:
        return max(p.read_bytes_s for p in self.bandwidth)


# --- detection ---------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _size(text: str) -> float | None:
    m = re.match(r"\s*(\d+)\s*([KMG]?)", text)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]


def parse_cpuinfo(text: str) -> dict:
    """Fields of ``/proc/cpuinfo`` that matter here (first processor, plus topology counts)."""
    procs: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                procs.append(cur)
                cur = {}
            continue
        k, _, v = line.partition(":")
        cur[k.strip()] = v.strip()
    if cur:
        procs.append(cur)
    first = next((p for p in procs if "processor" in p), procs[0] if procs else {})
    flags = set((first.get("flags") or first.get("Features") or "").split())
    phys = {(p.get("physical id", "0"), p.get("core id", p.get("processor", "")))
            for p in procs if "processor" in p}
    # Arm kernels print no "model name" per core on many boards; "Hardware" or "CPU part" remain
    name = first.get("model name") or first.get("Hardware") or next(
        (p.get("Hardware", "") for p in procs if p.get("Hardware")), "")
    return {
        "model_name": name,
        "vendor_id": first.get("vendor_id") or first.get("CPU implementer", ""),
        "family": int(first["cpu family"]) if first.get("cpu family", "").isdigit() else None,
        "mhz": float(first["cpu MHz"]) if re.fullmatch(r"[\d.]+", first.get("cpu MHz", "")) else None,
        "flags": flags,
        "physical_cores": len(phys) if any("core id" in p for p in procs) else None,
        "sockets": len({p.get("physical id", "0") for p in procs if "processor" in p}) or 1,
    }


_VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel", "0x41": "Arm", "0x61": "Apple",
            "0x51": "Qualcomm", "0x48": "HiSilicon", "0xc0": "Ampere"}


def detect_cpu() -> CpuInfo:
    """What this process can run on: model, vendor, usable cores, SIMD, L3, memory."""
    info = parse_cpuinfo(_read("/proc/cpuinfo"))
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    logical = os.cpu_count() or usable
    phys = info["physical_cores"] or logical
    smt = max(1, round(logical / phys))
    cores = max(1, usable // smt)
    clock, how = None, ""
    khz = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").strip()
    if khz.isdigit():
        clock, how = float(khz) * 1e3, "cpufreq cpuinfo_max_freq"
    elif info["mhz"]:
        clock, how = info["mhz"] * 1e6, "/proc/cpuinfo 'cpu MHz' (current clock; no cpufreq exposed)"
    l3 = None
    for idx in range(5):
        base = f"/sys/devices/system/cpu/cpu0/cache/index{idx}/"
        if _read(base + "level").strip() == "3":
            l3 = _size(_read(base + "size"))
    mem = None
    m = re.search(r"MemTotal:\s+(\d+)\s*kB", _read("/proc/meminfo"))
    if m:
        mem = float(m.group(1)) * 1024
    elif hasattr(os, "sysconf"):
        try:
            mem = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError):
            mem = None
    vendor = _VENDORS.get(info["vendor_id"], info["vendor_id"] or platform.system())
    board = _read("/proc/device-tree/model").strip("\x00\n ")
    return CpuInfo(
        model_name=info["model_name"] or board or platform.processor() or "unknown CPU",
        vendor=vendor or "unknown", arch=platform.machine(), family=info["family"],
        cores=cores, threads=usable, sockets=info["sockets"], clock_hz=clock, clock_source=how,
        simd=[f for f in SIMD_FLAGS if f in info["flags"]], l3_bytes=l3, memory_bytes=mem,
        board=board,
    )


# --- measurement ---------------------------------------------------------------------------------


class BackgroundLoad:
    """Share of this machine's CPU time used by *other* processes while the block ran.

    ``with BackgroundLoad() as load: ...`` then ``load.share`` (0..1, None where /proc/stat is
    missing): (busy jiffies of all CPUs - this process's CPU time) / total jiffies. A benchmark
    sharing its cores with other work is slower than the machine; the rows say how much.
    """

    share: float | None = None

    @staticmethod
    def _stat() -> tuple[float, float] | None:
        line = _read("/proc/stat").split("\n", 1)[0].split()
        if not line or line[0] != "cpu":
            return None
        v = [float(x) for x in line[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return sum(v[:8]) - idle, sum(v[:8])  # (busy, total) in clock ticks

    def __enter__(self) -> BackgroundLoad:
        self._t0, self._self0 = self._stat(), _self_cpu_s()
        return self

    def __exit__(self, *exc) -> None:
        t1 = self._stat()
        if self._t0 is None or t1 is None:
            return
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        busy, total = t1[0] - self._t0[0], t1[1] - self._t0[1]
        own = (_self_cpu_s() - self._self0) * hz
        self.share = max(0.0, (busy - own) / total) if total > 0 else None


def _self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def thread_counts(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself."""
    out, t = [], 1
    while t < n:
        out.append(t)
        t *= 2
    return out + [n]


def _array_bytes(cpu: CpuInfo, quick: bool) -> int:
    """Large enough to defeat the caches (>= 4 x L3), small enough to leave memory free."""
    want = max(QUICK_ARRAY_BYTES if quick else FULL_ARRAY_BYTES, 4 * (cpu.l3_bytes or 0))
    if cpu.memory_bytes:
        want = min(want, cpu.memory_bytes / 8)  # two arrays (copy) at most a quarter of RAM
    return int(want) // MIB * MIB


def measure_bandwidth(threads: list[int], array_bytes: int, reps: int = 5,
                      progress: Progress | None = None) -> list[BandwidthPoint]:
    """Best-of-``reps`` read and copy bandwidth (bytes/s) of ``array_bytes`` per thread count."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    n = array_bytes // 4
    src = np.ones(n, dtype=np.float32)  # touched: pages are mapped before timing
    dst = np.zeros(n, dtype=np.float32)
    out = []
    for t in threads:
        if progress:
            progress(f"memory bandwidth, {t} thread{'s' if t > 1 else ''}")
        a_parts, b_parts = np.array_split(src, t), np.array_split(dst, t)
        with ThreadPoolExecutor(max_workers=t) as pool:
            r = _best_pass(pool, lambda i, a=a_parts: np.maximum.reduce(a[i]), t, reps)
            c = _best_pass(pool, lambda i, a=a_parts, b=b_parts: np.copyto(b[i], a[i]), t, reps)
        out.append(BandwidthPoint(threads=t, read_bytes_s=src.nbytes / r,
                                  copy_bytes_s=2 * src.nbytes / c))  # read + write
    return out


def _best_pass(pool, fn: Callable[..., object], parts: int, reps: int) -> float:
    """Fastest of ``reps`` passes of ``fn(i)`` over parts 0..parts-1 on the pool (after a warm-up)."""
    list(pool.map(fn, range(parts)))  # warm-up: thread start, page faults
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        list(pool.map(fn, range(parts)))
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_gemm(quick: bool = False, progress: Progress | None = None) -> tuple[list[GemmPoint], list[str]]:
    """BLAS GEMM and GEMV throughput through numpy; (points, what was skipped and why)."""
    import numpy as np

    n_gemm = 1024 if quick else 2048
    n_gemv = 4096 if quick else 8192
    reps = 2 if quick else 3
    points, skipped = [], []
    rng = np.random.default_rng(0)
    dtypes: list[tuple[str, Any]] = [("fp32", np.float32), ("fp64", np.float64)]
    try:
        import ml_dtypes  # type: ignore[import-not-found]

        dtypes.append(("bf16", ml_dtypes.bfloat16))
    except ImportError:
        skipped.append("bf16 GEMM: numpy has no bfloat16 type (install ml_dtypes to time it; "
                       "numpy then runs it without BLAS)")
    skipped.append("fp16/int8 GEMM: numpy has no BLAS kernels for them (llama.cpp's own kernels "
                   "are measured by `bench --llamacpp`)")

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    for name, dt_ in dtypes:
        if progress:
            progress(f"GEMM {name} {n_gemm}^3")
        n = n_gemm if name != "bf16" else 256  # no BLAS for bf16: keep it short
        a = rng.standard_normal((n, n), dtype=np.float32).astype(dt_)
        b = rng.standard_normal((n, n), dtype=np.float32).astype(dt_)
        s = best(lambda a=a, b=b: a @ b)
        points.append(GemmPoint(kind="gemm", dtype=name, n=n, threads="blas default", seconds=s,
                                flops_s=2 * n**3 / s))
    for name, dt_ in dtypes[:2]:
        if progress:
            progress(f"GEMV {name} {n_gemv}x{n_gemv}")
        m = rng.standard_normal((n_gemv, n_gemv), dtype=np.float32).astype(dt_)
        v = rng.standard_normal(n_gemv, dtype=np.float32).astype(dt_)
        s = best(lambda m=m, v=v: m @ v)
        points.append(GemmPoint(kind="gemv", dtype=name, n=n_gemv, threads="blas default",
                                seconds=s, flops_s=2 * n_gemv**2 / s, bytes_s=m.nbytes / s))
    return points, skipped


# --- peaks and the catalog ------------------------------------------------------------------------


def fp32_flops_per_cycle(cpu: CpuInfo) -> tuple[int, str]:
    """FP32 FLOP per cycle per core from the SIMD width and FMA units (x86 by vendor/family).

    Sources: AMD Zen 2-4 have two 256-bit FMA pipes (Zen 4 runs AVX-512 on them) = 32; Zen 5 has
    512-bit pipes = 64 (AMD Zen 5 ISSCC/Hot Chips 2024); Intel server cores with AVX-512 two
    512-bit FMA ports = 64, AVX2 cores two 256-bit ports = 32 (Intel optimization manual);
    Arm Neoverse V1/V2, Apple: 4 x 128-bit FMA = 32, other Arm cores 2 x 128-bit = 16.
    """
    s = set(cpu.simd)
    if cpu.vendor == "AMD":
        if cpu.family is not None and cpu.family >= 26 and "avx512f" in s:
            return 64, "AMD Zen 5: two 512-bit FMA pipes"
        if "avx2" in s and "fma" in s:
            return 32, "AMD Zen 2-4: two 256-bit FMA pipes (AVX-512 double-pumped on Zen 4)"
        return 16, "AMD: two 128-bit FMA pipes assumed"
    if cpu.vendor == "Intel":
        if "avx512f" in s and ("xeon" in cpu.model_name.lower() or "amx_tile" in s):
            return 64, "Intel server core: two 512-bit FMA ports"
        if "avx2" in s and "fma" in s:
            return 32, "Intel: two 256-bit FMA ports"
        return 16, "Intel: SSE/AVX without FMA assumed"
    if cpu.arch in ("aarch64", "arm64"):
        if cpu.vendor == "Apple" or "sve" in s:
            return 32, "Arm: four 128-bit FMA pipes (Apple, Neoverse V)"
        return 16, "Arm: two 128-bit FMA pipes assumed"
    if "avx2" in s and "fma" in s:
        return 32, "AVX2 + FMA: two 256-bit FMA pipes assumed"
    return 16, "unknown core: 16 FLOP/cycle assumed"


def derived_peaks(cpu: CpuInfo, measured_sgemm_flops_s: float | None = None) -> tuple[dict[str, float], str]:
    """Peak ops/s per type: cores x FLOP/cycle x clock (fp32); bf16 2x and int8 4x with the
    dot-product instructions (AVX512_BF16/AMX, VNNI/sdot), int8 2x otherwise — the convention of
    the bundled CPU entries (tools/hardware_overlay.yaml)."""
    per_cycle, why = fp32_flops_per_cycle(cpu)
    clock = cpu.clock_hz or 2.0e9
    fp32 = cpu.cores * per_cycle * clock
    how = (f"fp32 = {cpu.cores} cores x {per_cycle} FLOP/cycle ({why}) x {clock / 1e9:.2f} GHz "
           f"({cpu.clock_source or 'clock unknown: 2 GHz assumed'})")
    if measured_sgemm_flops_s and measured_sgemm_flops_s > fp32:
        fp32 = measured_sgemm_flops_s / 0.9
        how += f"; raised to measured SGEMM / 0.9 ({measured_sgemm_flops_s / 1e9:.0f} GFLOP/s measured)"
    s = set(cpu.simd)
    peaks = {"fp32": fp32}
    if s & {"avx512_bf16", "amx_bf16", "bf16"}:
        peaks["bf16"] = 2 * fp32
        how += "; bf16 = 2x (bf16 dot-product instructions)"
    if s & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}:
        peaks["int8"] = 4 * fp32
        how += "; int8 = 4x (VNNI / sdot int8 dot products)"
    else:
        peaks["int8"] = 2 * fp32
        how += "; int8 = 2x (no int8 dot-product instruction: pmaddubsw/pmaddwd pairs)"
    return peaks, how


def _tokens(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def match_catalog(cpu: CpuInfo, catalog: dict | None = None) -> str | None:
    """The catalog CPU entry this machine is: same model-number tokens and vendor, same cores.

    A VM slice of a server CPU (fewer cores than the catalog's whole socket) is not the catalog
    device: its bandwidth and peaks differ, so it gets a generated entry instead.
    """
    if catalog is None:
        from inferplan.catalog.hardware import hardware_catalog

        catalog = hardware_catalog()
    name = _tokens(f"{cpu.model_name} {cpu.board}")
    for hid, spec in catalog.items():
        if spec.hw_class != "cpu" or hid == THIS_MACHINE:
            continue
        keys = {t for t in hid.split("-") if any(c.isdigit() for c in t) and len(t) >= 4}
        if keys and keys <= name and spec.vendor.lower() == cpu.vendor.lower() \
                and (spec.cores is None or spec.cores == cpu.cores * cpu.sockets):
            return hid
        if cpu.board and _tokens(spec.name) <= _tokens(cpu.board):  # e.g. "Raspberry Pi 5"
            return hid
    return None


def hardware_entry(cpu: CpuInfo, bandwidth: list[BandwidthPoint], gemm: list[GemmPoint],
                   date: str, array_bytes: int, machine_id: str = THIS_MACHINE) -> dict:
    """A ``HardwareSpec``-valid dict for this machine, each number citing how it was obtained."""
    best = max(bandwidth, key=lambda p: p.read_bytes_s)
    sgemm = next((g.flops_s for g in gemm if g.kind == "gemm" and g.dtype == "fp32"), None)
    peaks, how = derived_peaks(cpu, sgemm)
    src = f"inferplan bench {date}"
    bw_table = ", ".join(f"{p.threads}T read {p.read_bytes_s / 1e9:.1f} / copy {p.copy_bytes_s / 1e9:.1f} GB/s"
                         for p in bandwidth)
    gemm_txt = ", ".join(f"{g.kind} {g.dtype} n={g.n}: {g.flops_s / 1e9:.1f} GFLOP/s" for g in gemm)
    entry: dict = {
        "id": machine_id,
        "name": f"{cpu.model_name} ({cpu.cores} cores, measured)",
        "vendor": cpu.vendor,
        "hw_class": "cpu",
        "memory_bw_bytes_s": float(f"{best.read_bytes_s:.4g}"),
        "memory_bw_reachable_bytes_s": float(f"{best.read_bytes_s:.4g}"),
        "peak_flops": {k: float(f"{v:.4g}") for k, v in peaks.items()},
        "peak_flops_derived": True,
        "vector_flops": float(f"{peaks['fp32']:.4g}"),
        "default_engine": "llama.cpp",
        "cores": cpu.cores * cpu.sockets,
        "spec_source": f"{src} on this machine (/proc/cpuinfo, /proc/meminfo, sysfs caches, "
                       f"numpy bandwidth and BLAS runs)",
        "field_sources": {
            "memory_bw_reachable_bytes_s": (
                f"{src}: best read bandwidth, max-reduce over {array_bytes // MIB} MiB with "
                f"{best.threads} threads (numpy), best of several passes"),
            "memory_bw_bytes_s": ("peak DRAM bandwidth is not visible from user space (DIMM "
                                  "population unknown): set to the measured read bandwidth; "
                                  "override with --hardware-file if you know the peak"),
            "peak_flops": f"derived: {how}",
            "peak_flops_derived": "derived, not vendor-stated",
            "vector_flops": "= fp32 peak (SIMD rate)",
            "cores": f"physical cores usable by the benchmark process ({cpu.threads} logical CPUs)",
            "default_engine": "class default for CPUs",
        },
        "notes": f"Measured {date}: bandwidth {bw_table}. BLAS: {gemm_txt}. SIMD: {' '.join(cpu.simd)}.",
    }
    if cpu.memory_bytes:
        entry["memory_bytes"] = float(f"{cpu.memory_bytes:.6g}")
        entry["field_sources"]["memory_bytes"] = "/proc/meminfo MemTotal"
    if cpu.l3_bytes:
        entry["sram_bytes"] = float(cpu.l3_bytes)
        entry["field_sources"]["sram_bytes"] = "L3 size of cpu0 (sysfs cache index3)"
    return entry


def write_hardware_entry(entry: dict, path: Path | None = None) -> Path:
    """Validate ``entry`` as a HardwareSpec and write it as a one-entry YAML list (atomically).

    Default path: ``$INFERPLAN_HOME/hardware/this-machine.yaml``, which the catalog reads.
    """
    import yaml

    from inferplan.catalog.schema import HardwareSpec
    from inferplan.config import home_dir

    HardwareSpec.model_validate(entry)
    path = path or home_dir() / "hardware" / f"{entry['id']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ("# Written by `inferplan bench` from measurements on this machine; rerun it to refresh.\n"
            "# Units: bytes, bytes/s, ops/s. See inferplan/catalog/hardware.py for the format.\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(head + yaml.safe_dump([entry], sort_keys=False, width=100), encoding="utf-8")
    tmp.replace(path)
    return path


def home_dir_hint() -> str:
    from inferplan.config import home_dir

    return f"{home_dir() / 'hardware'} cannot be written; set INFERPLAN_HOME to a writable folder"


def _check_machine_id(machine_id: str) -> None:
    from inferplan.catalog._load import data_path
    from inferplan.catalog.hardware import hardware_catalog, hardware_files
    from inferplan.errors import InputError

    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", machine_id):
        raise InputError(f"machine id {machine_id!r}: use lower-case letters, digits, '.', '_', '-'")
    bundled = {p for p in hardware_files() if p.parent == data_path("hardware")}
    if machine_id in hardware_catalog() and machine_id not in _ids_in(set(hardware_files()) - bundled):
        raise InputError(f"machine id '{machine_id}' is a bundled catalog device; choose another "
                         f"(e.g. my-{machine_id})")


def _ids_in(files: set[Path]) -> set[str]:
    from inferplan.catalog._load import load_yaml

    return {str(e["id"]) for f in files for e in (load_yaml(f) or []) if isinstance(e, dict) and "id" in e}


def run_cpu_bench(quick: bool = False, *, write_entry: bool = True, machine_id: str = THIS_MACHINE,
                  progress: Progress | None = None) -> CpuBenchResult:
    """Detect, measure bandwidth and BLAS, map to the catalog or write an entry.

    The generated entry's id is ``machine_id`` (default ``this-machine``), written to
    ``$INFERPLAN_HOME/hardware/<machine_id>.yaml``; a named id keeps measurements of several
    machines apart.
    """
    _check_machine_id(machine_id)
    t0 = time.perf_counter()
    cpu = detect_cpu()
    size = _array_bytes(cpu, quick)
    with BackgroundLoad() as load:
        bw = measure_bandwidth(thread_counts(cpu.threads), size, reps=3 if quick else 7, progress=progress)
    gemm, skipped = measure_gemm(quick, progress=progress)
    sgemm = next((g.flops_s for g in gemm if g.kind == "gemm" and g.dtype == "fp32"), None)
    peaks, how = derived_peaks(cpu, sgemm)
    date = today()
    hid = match_catalog(cpu) if machine_id == THIS_MACHINE else None
    file = None
    if hid is None:
        hid = machine_id
        if write_entry:
            entry = hardware_entry(cpu, bw, gemm, date, size, machine_id)
            if load.share is not None:
                entry["notes"] += f" Other processes used {load.share:.0%} of the CPU meanwhile."
            try:
                file = str(write_hardware_entry(entry))
            except OSError as e:  # a read-only home: the measurements are still reported
                skipped.append(f"hardware entry not written ({e.strerror or e}): "
                               f"{home_dir_hint()}")
        else:
            skipped.append("hardware entry not written (write_entry=False)")
    return CpuBenchResult(
        date=date, quick=quick, cpu=cpu, array_bytes=size, bandwidth=bw, gemm=gemm,
        skipped=skipped, peak_flops=peaks, peak_flops_how=how, background_cpu=load.share, hardware_id=hid,
        matched_catalog=hid != machine_id, hardware_file=file,
        duration_s=time.perf_counter() - t0,
    )
