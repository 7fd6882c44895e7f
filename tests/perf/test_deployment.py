"""perf/deployment.py: the peak rates a deployment's GEMMs run at."""

import pytest

from inferplan.catalog.hardware import get_hardware
from inferplan.perf.estimate import plan_estimate


def _dep(hw, engine, precision):
    return plan_estimate("llama-2-7b", hw, engine=engine, precision=precision, batch=1,
                         input_len=512, output_len=16).dep


def test_llama_cpp_fp16_gemms_run_at_the_geforce_fp16_accumulate_rate():
    # ggml-cuda multiplies f16 weights with CUBLAS_COMPUTE_16F; GeForce runs fp32 accumulation at
    # half rate, so its fp16 GEMMs run twice as fast as vLLM's (fp32 accumulation)
    g = get_hardware("rtx-4090")
    assert g.fp16_acc16_flops == pytest.approx(2 * g.peak_flops["fp16"], rel=0.01)
    for engine in ("llama.cpp", "llama.cpp-2023", "ik_llama.cpp"):
        assert _dep("rtx-4090", engine, "f16").peak_linear_flops == pytest.approx(g.fp16_acc16_flops)
    assert _dep("rtx-4090", "vllm", "fp16").peak_linear_flops == pytest.approx(g.peak_flops["fp16"])


def test_the_fp16_accumulate_rate_applies_only_where_it_differs_and_only_to_fp16_gemms():
    h100 = get_hardware("h100-sxm")  # datacenter: fp16 and fp32 accumulation at the same rate
    assert h100.fp16_acc16_flops is None
    assert _dep("h100-sxm", "llama.cpp", "f16").peak_linear_flops == pytest.approx(h100.peak_flops["fp16"])
    q4 = _dep("rtx-4090", "llama.cpp", "q4_0")  # quantized: int8 dot products, not cuBLAS fp16
    assert q4.linear_compute_type == "int8_simd" and q4.peak_linear_flops != get_hardware("rtx-4090").fp16_acc16_flops
