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


def test_sram_chips_split_the_vocabulary_tables_over_the_whole_replica():
    # Llama 3's 128k-entry embedding and LM head: 131 MB each per chip at 16-way TP, more than a
    # 230 MB Groq chip has left beside one layer's 107 MB share; split over all tp x pp chips
    plan = plan_estimate("llama-3.1-70b", "groq-lpu-v1", batch=1, input_len=512, output_len=64)
    assert plan.fits and plan.dep.layout.devices == 768  # 16 chips x 48 stages
    dep = plan.dep
    lay, m = dep.layout, dep.model
    tables = (m.embedding_params + m.lm_head_params) * dep.head_bytes_per_elem
    layers = sum(g.layers * g.dense_elems_dev * dep.weight_bytes_per_elem for g in dep.groups) / lay.pp
    assert weight_bytes_per_device(dep) == pytest.approx(layers + tables / (lay.tp * lay.pp))
    one_layer = layers * lay.pp / m.num_layers
    # an end stage holding one layer and the whole 16-way table share would not fit
    assert m.embedding_params * dep.head_bytes_per_elem / lay.tp > capacity_bytes(dep) - one_layer
    gpu = plan_estimate("llama-3.1-70b", "h100-sxm", devices=4, tp=2, pp=2, batch=1, input_len=512,
                        output_len=64).dep  # GPUs keep each table whole on its end stage
    gm = gpu.model
    g_layers = sum(g.layers * g.dense_elems_dev * gpu.weight_bytes_per_elem for g in gpu.groups) / 2
    assert weight_bytes_per_device(gpu) == pytest.approx(g_layers + gm.embedding_params / 2 * gpu.head_bytes_per_elem)


def test_tensor_parallelism_beyond_the_expert_count_splits_every_expert_evenly():
    # Mixtral's 8 experts over 16 chips without expert parallelism: each chip holds 1/16 of every
    # expert (fused-MoE TP), not one whole expert duplicated on two chips
    dep = plan_estimate("mixtral-8x7b", "groq-lpu-v1", batch=1, input_len=512, output_len=64).dep
    assert dep.layout.tp == 16 and dep.layout.ep == 1
    f = dep.model.groups[0].ffn
    assert dep.groups[0].expert_elems_dev == pytest.approx(f.num_experts * f.expert_params / 16)
    ep = plan_estimate("deepseek-r1", "h200-sxm", devices=8, ep=8, batch=1, input_len=512, output_len=64).dep
    f2 = ep.model.groups[-1].ffn
    assert ep.groups[-1].expert_elems_dev == pytest.approx(-(-f2.num_experts // 8) * f2.expert_params)
