"""GGUF file mixes in the precision catalog: sizes as llama-quantize reports them."""

from __future__ import annotations

import pytest

from inferplan.catalog.precisions import get_precision
from inferplan.perf.estimate import plan_estimate

GIB = 2**30


# llama-quantize's QUANT_OPTIONS (tools/quantize/quantize.cpp) on Llama-3-8B, a table the
# catalog's bits were not read from (they come from its LLaMA-v1-7B column)
@pytest.mark.parametrize("qtype, gib", [("q3_k_s", 3.41), ("q3_k_m", 3.74), ("q3_k_l", 4.03),
                                        ("q4_k_s", 4.37), ("q4_k_m", 4.58), ("q5_k_s", 5.21),
                                        ("q5_k_m", 5.33)])
def test_file_mix_sizes_match_the_quantize_table_on_another_model(qtype, gib):
    plan = plan_estimate("llama-3-8b", "rtx-4090", engine="llama.cpp", precision=qtype, batch=1,
                         input_len=128, output_len=16)
    # the file average of a 32k-vocabulary 7B is applied to the layers and the embedding/head
    # are counted at Q6_K: on the 128k-vocabulary 8B the estimate is 3-7% above the table
    # (conservative: never below it)
    assert gib <= plan.mem.weights_bytes / GIB <= 1.08 * gib


def test_k_quant_mixes_order_by_size_and_the_iq4_xs_blocks_are_4_25_bits():
    bits = [get_precision(q).bits_per_weight for q in ("q3_k_s", "q3_k_m", "iq4_xs", "q3_k_l",
                                                       "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")]
    assert bits == sorted(bits) and get_precision("iq4_xs").bits_per_weight == 4.25


def test_w8a8_names_the_checkpoint_format_with_a_16_bit_head():
    assert get_precision("w8a8").id == get_precision("W8A8").id == "w8a8-int8"
    assert get_precision("w8a8").head_bits == 16 and get_precision("int8").head_bits == 8


@pytest.mark.parametrize("hw", ["tpu-v6e", "gaudi3", "mi300x", "mi355x", "epyc-9755", "apple-m3-max-gpu"])
def test_nvfp4_is_refused_where_no_engine_has_a_kernel_for_it(hw):
    from inferplan.errors import UnsupportedFormatError
    from inferplan.perf.estimate import plan_estimate

    with pytest.raises(UnsupportedFormatError, match="gpu/soc devices only"):
        plan_estimate("llama-3.1-8b", hw, precision="nvfp4")


def test_nvfp4_runs_on_nvidia_gpus_and_mxfp4_on_amd():
    from inferplan.perf.estimate import plan_estimate

    assert plan_estimate("llama-3.1-8b", "b200", precision="nvfp4").fits
    assert plan_estimate("llama-3.1-8b", "h100-sxm", precision="nvfp4").fits  # vLLM's FP4 Marlin
    assert plan_estimate("llama-3.1-8b", "mi355x", precision="mxfp4").fits
    assert plan_estimate("llama-3.1-8b", "dgx-spark", precision="nvfp4").fits  # an NVIDIA SoC (GB10)
