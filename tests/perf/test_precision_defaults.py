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


def test_an_fp8_checkpoint_on_llama_cpp_runs_as_its_gguf_conversion():
    """GGUF has no FP8 type: DeepSeek-R1's FP8 checkpoint on a CPU (llama.cpp) is estimated as
    the Q8_0 file convert_hf_to_gguf writes, and says so; --precision fp8 there is refused with
    the way out; vLLM on a GPU keeps FP8."""
    import pytest

    from inferplan.errors import UnsupportedFormatError

    cpu = plan_estimate("deepseek-r1", "epyc-9755", input_len=128, output_len=16)
    assert cpu.dep.engine.id == "llama.cpp" and cpu.dep.weight_precision.id == "q8_0"
    assert "cannot load" in cpu.notes["weight_precision"]
    with pytest.raises(UnsupportedFormatError, match="GGUF has no fp8"):
        plan_estimate("llama-3.1-8b", "epyc-9755", precision="fp8", input_len=128, output_len=16)
    gpu = plan_estimate("deepseek-r1", "h200-sxm", input_len=128, output_len=16)
    assert gpu.dep.weight_precision.id == "fp8"


def test_a_kv_cache_only_in_types_the_engine_has():
    """A ternary or GPTQ KV cache exists in no engine; llama.cpp's cache types are ggml's
    (q8_0 yes, fp8 no); vLLM's FP8 cache is accepted."""
    import pytest

    from inferplan.errors import UnsupportedFormatError

    for kv in ("ternary", "w4a16", "q4_k_m", "gptq-int4"):
        with pytest.raises(UnsupportedFormatError, match="KV cache"):
            plan_estimate("llama-3.1-8b", "h100-sxm", kv_precision=kv, input_len=128, output_len=16)
    with pytest.raises(UnsupportedFormatError, match="no fp8 KV cache"):
        plan_estimate("llama-3.1-8b", "epyc-9755", kv_precision="fp8", input_len=128, output_len=16)
    assert plan_estimate("llama-3.1-8b", "epyc-9755", kv_precision="q8_0", input_len=128,
                         output_len=16).dep.kv_precision.id == "q8_0"
    assert plan_estimate("llama-3.1-8b", "h100-sxm", kv_precision="fp8", input_len=128,
                         output_len=16).dep.kv_precision.id == "fp8"


def test_engines_with_narrower_or_wider_kv_types_than_their_family():
    """vLLM's cache is 16-bit or FP8 (no int8, which TensorRT-LLM has); ik_llama.cpp adds Q6_0."""
    import pytest

    from inferplan.errors import UnsupportedFormatError

    with pytest.raises(UnsupportedFormatError, match="no int8 KV cache"):
        plan_estimate("llama-3.1-8b", "h100-sxm", kv_precision="int8", input_len=128, output_len=16)
    assert plan_estimate("llama-3.1-8b", "h100-sxm", engine="tensorrt-llm", kv_precision="int8",
                         input_len=128, output_len=16).dep.kv_precision.id == "int8"
    assert plan_estimate("llama-3.1-8b", "epyc-9755", engine="ik_llama.cpp", kv_precision="q6_0",
                         input_len=128, output_len=16).dep.kv_precision.id == "q6_0"
