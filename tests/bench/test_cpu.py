"""CPU bench: detection, measured numbers, catalog mapping and the generated hardware entry."""

from __future__ import annotations

import pytest

from inferplan.bench import cpu as cpub
from inferplan.bench.cpu import CpuInfo, derived_peaks, match_catalog, parse_cpuinfo
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.schema import HardwareSpec

CPUINFO_SMT = "".join(
    f"processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
    f"model name\t: Intel(R) Core(TM) i7-13700H\ncpu MHz\t\t: 2400.000\nphysical id\t: 0\n"
    f"core id\t\t: {i // 2}\nflags\t\t: fpu sse4_2 avx avx2 fma f16c avx_vnni\n\n"
    for i in range(4))


def test_parse_cpuinfo_counts_physical_cores_not_hyperthreads():
    info = parse_cpuinfo(CPUINFO_SMT)
    assert info["physical_cores"] == 2 and info["sockets"] == 1
    assert info["model_name"] == "Intel(R) Core(TM) i7-13700H"
    assert {"avx2", "avx_vnni"} <= info["flags"] and info["mhz"] == 2400.0


def test_quick_bench_measures_positive_numbers_and_writes_a_loadable_entry(monkeypatch):
    monkeypatch.setattr(cpub, "QUICK_ARRAY_BYTES", 64 * cpub.MIB)
    r = cpub.run_cpu_bench(quick=True)
    assert r.cpu.cores >= 1 and r.cpu.threads >= 1 and r.duration_s < 30
    assert [p.threads for p in r.bandwidth] == cpub.thread_counts(r.cpu.threads)
    assert all(p.read_bytes_s > 1e8 and p.copy_bytes_s > 1e8 for p in r.bandwidth)
    assert {(g.kind, g.dtype) for g in r.gemm} >= {("gemm", "fp32"), ("gemv", "fp32")}
    assert all(g.flops_s > 1e6 for g in r.gemm)
    if r.matched_catalog:
        pytest.skip(f"this CPU is catalog hardware {r.hardware_id}: no entry generated")
    hw = get_hardware("this-machine")
    assert hw.hw_class == "cpu" and hw.cores == r.cpu.cores * r.cpu.sockets
    assert hw.memory_bw_reachable_bytes_s == pytest.approx(r.best_read_bytes_s, rel=1e-3)
    assert hw.field_sources["memory_bw_reachable_bytes_s"].startswith(f"inferplan bench {r.date}")
    assert hw.peak_flops["fp32"] > 0 and "int8" in hw.peak_flops
    from inferplan.perf.estimate import estimate

    est = estimate("llama-3.2-1b", "this-machine", precision="q4_0", input_len=128, output_len=32)
    assert est.fits and est.decode_tok_s_per_user > 0


def _cpu(name, vendor, cores, **kw):
    return CpuInfo(model_name=name, vendor=vendor, arch="x86_64", cores=cores, threads=cores, **kw)


@pytest.mark.parametrize("cpu,expected", [
    (_cpu("AMD Ryzen 9 7950X 16-Core Processor", "AMD", 16), "ryzen-9-7950x"),
    (_cpu("Intel(R) Xeon(R) 6980P", "Intel", 128), "xeon-6980p"),
    (_cpu("AMD EPYC 9965 192-Core Processor", "AMD", 8), None),  # a VM slice is not the socket
    (_cpu("AMD EPYC", "AMD", 2), None),
    (_cpu("Intel(R) Core(TM) i9-7950X", "Intel", 16), None),  # model number, wrong vendor
])
def test_catalog_match_needs_model_number_vendor_and_core_count(cpu, expected):
    assert match_catalog(cpu) == expected


def test_dot_product_instructions_raise_int8_and_bf16_peaks():
    vnni = _cpu("x", "AMD", 8, family=25, clock_hz=3e9, simd=["avx2", "fma", "avx512_vnni", "avx512_bf16"])
    plain = _cpu("x", "AMD", 8, family=25, clock_hz=3e9, simd=["avx2", "fma"])
    pv, how = derived_peaks(vnni)
    pp, _ = derived_peaks(plain)
    assert pv["fp32"] == pp["fp32"] == 8 * 32 * 3e9
    assert pv["int8"] == 4 * pv["fp32"] and pv["bf16"] == 2 * pv["fp32"]
    assert pp["int8"] == 2 * pp["fp32"] and "bf16" not in pp
    assert "VNNI" in how
    # a measured SGEMM above the derived peak means the clock guess was low
    assert derived_peaks(plain, measured_sgemm_flops_s=1e12)[0]["fp32"] == pytest.approx(1e12 / 0.9)


def test_generated_entry_validates_and_cites_its_measurements(this_machine):
    hw = get_hardware(this_machine)
    assert isinstance(hw, HardwareSpec) and hw.memory_bw_reachable_bytes_s == 32e9
    assert "inferplan bench 2026-01-01" in hw.field_sources["memory_bw_reachable_bytes_s"]
    assert hw.peak_flops["int8"] == 4 * hw.peak_flops["fp32"]  # avx512_vnni


@pytest.mark.parametrize("bad,needle", [("h100-sxm", "bundled catalog device"), ("My Box", "lower-case")])
def test_machine_id_must_be_a_new_lowercase_id(bad, needle):
    from inferplan.errors import InputError

    with pytest.raises(InputError, match=needle):
        cpub.run_cpu_bench(quick=True, machine_id=bad)
