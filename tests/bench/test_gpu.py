"""GPU bench on a fake device: the real code path, roofline timings from tests/bench/fake_torch."""

from __future__ import annotations

import sys

import pytest

from inferplan.bench.gpu import GpuInfo, load_torch, match_gpu, run_gpu_bench
from inferplan.bench.rows import write_rows
from inferplan.calib.validate import validate_csv
from inferplan.catalog.hardware import get_hardware
from inferplan.errors import InputError

from .fake_torch import FakeDevice, make_fake_torch


def test_fake_h100_gives_rows_that_validate_predicts(tmp_path):
    dev = FakeDevice()
    r = run_gpu_bench("llama-3.2-1b", torch=make_fake_torch(dev), quick=True, write_entry=False)
    assert r.hardware_id == "h100-sxm" and r.matched_catalog and r.layers == 16
    assert r.d2d_bytes_s == pytest.approx(dev.bw, rel=0.05)
    assert {g.dtype for g in r.gemm} == {"bf16", "fp8"}
    bf16 = next(g for g in r.gemm if g.dtype == "bf16")
    assert bf16.flops_s == pytest.approx(dev.peaks["bfloat16"], rel=0.05)
    metrics = sorted((row["metric"], row["batch"]) for row in r.rows)
    assert metrics == [("decode_tok_s_per_user", "1"), ("decode_tok_s_per_user", "8"), ("prefill_tok_s", "1")]
    assert all(row["engine"] == "pytorch-cudagraph" and float(row["value"]) > 0 for row in r.rows)
    path = write_rows(r.rows, tmp_path / "gpu.csv", r.configs)
    rep = validate_csv(path)
    assert all(v.status in ("ok", "over_2x") for v in rep.rows), [v.error for v in rep.rows]  # predicted


def test_cuda_graph_removes_launch_overhead_from_the_decode_step():
    def step(engine):
        r = run_gpu_bench("llama-3.2-1b", torch=make_fake_torch(FakeDevice()), engine=engine,
                          quick=True, write_entry=False)
        return next(s for s in r.steps if s.phase == "decode" and s.batch == 1)

    graph, eager = step("pytorch-cudagraph"), step("pytorch-eager")
    assert graph.graph and not eager.graph
    # 16 layers x ~12 kernels x 5 us of launches
    assert eager.seconds - graph.seconds == pytest.approx(16 * 12 * 5e-6, rel=0.35)


def test_batches_that_do_not_fit_are_skipped_and_said():
    r = run_gpu_bench("llama-3.2-1b", torch=make_fake_torch(FakeDevice(total_bytes=8e9, free_bytes=3.3e9)),
                      batches=(1, 64), write_entry=False)
    assert [s.batch for s in r.steps if s.phase == "decode"] == [1]
    assert any("decode batch 64" in s and "KV cache" in s for s in r.skipped)


def test_weights_that_do_not_fit_run_fewer_layers_and_rows_reference_the_config(tmp_path):
    dev = FakeDevice(total_bytes=24e9, free_bytes=10e9, name="NVIDIA GeForce RTX 4090")
    r = run_gpu_bench("llama-3.1-8b", torch=make_fake_torch(dev), quick=True, write_entry=False)
    assert r.hardware_id == "rtx-4090" and 1 <= r.layers < 32
    assert any("do not fit" in s for s in r.skipped)
    name = f"llama-3.1-8b-{r.layers}l.json"
    assert set(r.configs) == {name} and {row["model_id"] for row in r.rows} == {name}
    rep = validate_csv(write_rows(r.rows, tmp_path / "gpu.csv", r.configs))
    assert all(v.status in ("ok", "over_2x") for v in rep.rows), [v.error for v in rep.rows]


def test_unknown_gpu_gets_a_generated_entry_and_fp8_skip_is_explained():
    dev = FakeDevice(name="NVIDIA Hypothetical X1", total_bytes=48e9, free_bytes=47e9, fp8=False)
    r = run_gpu_bench("llama-3.2-1b", torch=make_fake_torch(dev), quick=True)
    assert r.hardware_id == "this-gpu" and not r.matched_catalog and r.hardware_file
    hw = get_hardware("this-gpu")
    assert hw.hw_class == "gpu" and hw.memory_bw_bytes_s == pytest.approx(r.d2d_bytes_s, rel=1e-3)
    assert [g.dtype for g in r.gemm] == ["bf16"]
    assert any(s.startswith("fp8 GEMM: not supported") for s in r.skipped)


@pytest.mark.parametrize("name,mem,vendor,expected", [
    ("NVIDIA H100 80GB HBM3", 80e9, "NVIDIA", "h100-sxm"),
    ("NVIDIA H100 PCIe", 80e9, "NVIDIA", "h100-pcie"),
    ("NVIDIA H100 NVL", 94e9, "NVIDIA", "h100-nvl"),
    ("NVIDIA H200", 141e9, "NVIDIA", "h200-sxm"),
    ("NVIDIA A100-SXM4-80GB", 80e9, "NVIDIA", "a100-sxm-80g"),
    ("NVIDIA A100 80GB PCIe", 80e9, "NVIDIA", "a100-pcie-80g"),
    ("AMD Instinct MI300X", 192e9, "AMD", "mi300x"),
    ("NVIDIA GeForce RTX 4090", 24e9, "NVIDIA", "rtx-4090"),
    ("NVIDIA GeForce RTX 3060", 12e9, "NVIDIA", None),
])
def test_device_names_map_to_catalog_ids(name, mem, vendor, expected):
    gpu = GpuInfo(name=name, vendor=vendor, backend="cuda", memory_bytes=mem, free_bytes=mem,
                  torch_version="x")
    assert match_gpu(gpu) == expected


def test_without_torch_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(InputError, match=r"inferplan\[gpu\]"):
        load_torch()


def test_moe_models_are_refused_with_alternatives():
    with pytest.raises(InputError, match="dense FFN"):
        run_gpu_bench("qwen3-30b-a3b", torch=make_fake_torch(), write_entry=False)
