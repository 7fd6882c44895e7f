from inferplan.perf.estimate import plan_estimate


def test_an_npu_runtime_runs_a_16_bit_model_at_its_shipped_4_bit_format():
    """No NPU runtime ships 16-bit LLM weights (QNN/Genie: w4a16): with no --precision, a bf16
    checkpoint on an NPU is estimated as the runtime runs it, and says so; --precision bf16
    still gives the 16-bit weights, and a GPU keeps the model's own."""
    npu = plan_estimate("llama-3.2-3b", "snapdragon-x-elite-npu", input_len=128, output_len=128)
    assert npu.dep.weight_precision.id == "w4a16"
    assert "ships w4a16" in npu.notes["weight_precision"]
    bf16 = plan_estimate("llama-3.2-3b", "snapdragon-x-elite-npu", precision="bf16", input_len=128,
                         output_len=128)
    assert bf16.dep.weight_precision.id == "bf16"
    assert npu.dep.weight_precision.bits_per_weight < bf16.dep.weight_precision.bits_per_weight / 3
    gpu = plan_estimate("llama-3.2-3b", "h100-sxm", input_len=128, output_len=128)
    assert gpu.dep.weight_precision.id == "bf16"


def test_a_model_already_quantized_keeps_its_own_format_on_an_npu():
    """The shipped format replaces 16- and 32-bit float weights only: gpt-oss's MXFP4
    checkpoint is not re-quantized to w4a16."""
    plan = plan_estimate("gpt-oss-20b", "snapdragon-x-elite-npu", input_len=128, output_len=128)
    assert plan.dep.expert_precision.id == "mxfp4"
