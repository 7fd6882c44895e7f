import pytest

from inferplan.perf.estimate import plan_estimate
from inferplan.perf.memory import (
    activation_bytes_per_device,
    capacity_bytes,
    kv_room_bytes,
    max_sequences,
    weight_bytes_per_device,
    weight_room_bytes,
)


def _dep(engine: str, **kw):
    return plan_estimate("llama-2-70b", "h100-sxm", devices=1, precision="fp8", kv_precision="fp8",
                         engine=engine, mode="offline", input_len=222, output_len=292, **kw).dep


def test_tensorrt_llm_sizes_its_kv_pool_from_the_memory_left_free_after_loading():
    dep = _dep("tensorrt-llm")
    cap, w = capacity_bytes(dep), weight_bytes_per_device(dep)
    act = activation_bytes_per_device(dep, 512, 1)
    assert dep.engine.memory_share_of == "free"
    assert kv_room_bytes(dep, act) == pytest.approx(0.9 * (cap - w - act))
    assert weight_room_bytes(dep) == cap  # the weights may take all of the device


def test_vllm_share_is_of_the_whole_device():
    dep = _dep("vllm")
    cap, w = capacity_bytes(dep), weight_bytes_per_device(dep)
    act = activation_bytes_per_device(dep, 512, 1)
    assert dep.engine.memory_share_of == "device"
    assert kv_room_bytes(dep, act) == pytest.approx(0.9 * cap - w - act)
    assert weight_room_bytes(dep) == pytest.approx(0.9 * cap)


def test_a_70b_in_fp8_on_one_h100_holds_twice_the_sequences_under_tensorrt_llm():
    # 69.5 GB of weights on 85.5 GB: vLLM keeps 0.9 x 85.5 - 69.5 ~ 7.5 GB for KV and buffers,
    # TensorRT-LLM 0.9 x (85.5 - 69.5 - buffers) ~ 12.6 GB
    trt, vllm = _dep("tensorrt-llm"), _dep("vllm")
    assert max_sequences(trt, 514, 222) > 1.6 * max_sequences(vllm, 514, 222)


def test_the_free_share_is_a_launch_option_under_tensorrt_llms_own_name():
    dep = _dep("tensorrt-llm", engine_options={"free_gpu_memory_fraction": 0.5})
    assert dep.engine.memory_utilization == 0.5
    cap, w = capacity_bytes(dep), weight_bytes_per_device(dep)
    assert kv_room_bytes(dep, 0.0) == pytest.approx(0.5 * (cap - w))
