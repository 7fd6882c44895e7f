"""Phone/laptop NPUs: catalog entries, NPU power from measured active power, NPU precisions."""

from __future__ import annotations

import pytest

from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.precisions import get_precision
from inferplan.perf.estimate import estimate
from inferplan.perf.npu import NPU_DEFAULT_ACTIVE_W

PHONE_NPUS = ("snapdragon-8-elite-npu", "apple-ane-a18-pro", "apple-ane-a19-pro", "dimensity-9400-npu")


@pytest.mark.parametrize("hw_id", PHONE_NPUS)
def test_phone_npus_share_the_socs_memory_and_cite_their_source(hw_id):
    hw = get_hardware(hw_id)
    assert hw.hw_class == "npu" and hw.default_engine == "npu-runtime"
    assert hw.spec_source and "shared with SoC" in hw.memory_type
    assert 50e9 <= hw.memory_bw_bytes_s <= 90e9  # 64-bit LPDDR5X phone memory
    assert hw.tdp_w is None  # no SoC TDP to mistake for the NPU's draw


def test_a18_pro_bandwidth_matches_apples_17_percent_over_a17_pro():
    a17_pro_bw = 6400e6 * 8  # LPDDR5-6400 x 64-bit
    assert get_hardware("apple-ane-a18-pro").memory_bw_bytes_s == pytest.approx(1.17 * a17_pro_bw, rel=0.01)


def test_npu_power_is_the_measured_active_power_not_the_soc_tdp():
    e = estimate("llama-3.2-1b", "ryzen-ai-300-npu", precision="w4a16", input_len=256, output_len=128)
    hw = get_hardware("ryzen-ai-300-npu")
    assert hw.tdp_w == 28.0 and hw.active_power_w == 1.6  # SoC default TDP vs FastFlowLM NPU rail
    assert e.power_w == pytest.approx(1.6)
    assert e.joules_per_output_token == pytest.approx(1.6 / e.output_tok_s)
    assert "measured NPU active power" in e.assumptions["power"]


def test_unmeasured_npus_use_the_flagged_class_default():
    e = estimate("lfm2.5-1.2b", "snapdragon-8-elite-npu", precision="w4a16", input_len=256, output_len=256)
    assert e.power_w == pytest.approx(NPU_DEFAULT_ACTIVE_W) and 1.0 <= NPU_DEFAULT_ACTIVE_W <= 5.0
    assert "assumed" in e.assumptions["power"] and "not the SoC TDP" in e.assumptions["power"]
    # decode reads every weight from the phone's shared LPDDR5X: bandwidth bound
    assert e.bound["decode"] == "memory"


def test_npu_precisions_store_4_and_8_bit_weights():
    assert get_precision("w4a16").bits_per_weight == pytest.approx(4.25)
    assert get_precision("w8a16").bits_per_weight == 8.0
    assert get_precision("w4a8").compute[0] == "int8"
    w4 = estimate("llama-3.2-1b", "apple-ane-a18-pro", precision="w4a16", input_len=64, output_len=64)
    w8 = estimate("llama-3.2-1b", "apple-ane-a18-pro", precision="w8a16", input_len=64, output_len=64)
    assert w4.memory.weights_bytes < 0.7 * w8.memory.weights_bytes  # tied 8-bit embedding in both
    assert w4.tpot_s < w8.tpot_s


def test_unpublished_npu_peaks_are_flagged_as_assumed():
    hw = get_hardware("dimensity-9400-npu")
    assert hw.peak_flops_derived and "assumed" in hw.field_sources["peak_flops"]
    assert "no TOPS" in hw.notes or "no TOPS" in hw.field_sources["peak_flops"]


def test_npu_efficiency_families_are_per_vendor():
    # each vendor's NPU runtime is its own software stack (QNN, FastFlowLM, OpenVINO, Core ML):
    # Qualcomm's and AMD's data pulled one shared factor in opposite directions
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.efficiency import hw_family

    fams = {hw_family(get_hardware(h)) for h in ("snapdragon-8-elite-npu", "snapdragon-x-elite-npu")}
    assert fams == {"npu-qualcomm"}
    assert hw_family(get_hardware("ryzen-ai-7-350-npu")) == "npu-amd"
    assert hw_family(get_hardware("h100-sxm")) == "gpu-nvidia"


def test_fastflowlm_prefills_in_bf16_at_half_the_xdna2_int8_rate():
    """FastFlowLM runs int4 (Q4NX) weights with bf16 activations; an XDNA 2 tile's native bf16
    matrix step is half its int8 one, so a prompt costs twice the int8 rate's time."""
    from inferplan.perf.estimate import plan_estimate

    p = plan_estimate(model="llama-3.2-1b", hardware="ryzen-ai-7-350-npu", precision="q4nx",
                      engine="fastflowlm", batch=1, input_len=1024, output_len=16)
    assert p.dep.engine.id == "npu-runtime" and p.dep.linear_compute_type == "bf16"
    assert p.dep.hw.peak_flops["bf16"] == p.dep.hw.peak_flops["int8"] / 2


def test_an_npu_runtime_runs_one_device_and_one_sequence():
    # a 70B model "fitted" across 8 phones over an assumed PCIe link; a static batch of 8 on a
    # runtime that decodes one user at a time
    from inferplan.errors import InputError, LayoutError

    e = estimate("llama-3.1-70b", "snapdragon-8-elite-npu", precision="w4a16", devices=8)
    assert not e.fits and e.pp == 1 and "at most 1 device" in e.reason
    with pytest.raises(LayoutError, match="at most 1 device"):
        estimate("llama-3.1-70b", "snapdragon-8-elite-npu", precision="w4a16", pp=8)
    with pytest.raises(InputError, match="decodes at most 1 sequence"):
        estimate("llama-3.2-1b", "snapdragon-8-elite-npu", precision="w4a16", batch=8)
    two = estimate("llama-3.2-1b", "snapdragon-8-elite-npu", precision="w4a16", devices=2)
    assert two.fits and two.dp == 2 and two.pp == 1  # more phones serve as replicas


@pytest.mark.parametrize(("precision", "hw"), [("w4a16", "ryzen-9-7950x"), ("w4a16", "h100-sxm"),
                                               ("q4nx", "rtx-4090"), ("tq1_0", "rtx-4090"),
                                               ("tq1_0", "apple-m2-ultra-gpu"), ("tq2_0", "rtx-4090"),
                                               ("tq2_0", "dgx-spark")])
def test_formats_are_refused_where_no_kernel_reads_them(precision, hw):
    from inferplan.errors import InputError

    with pytest.raises(InputError, match="cannot load"):
        estimate("llama-3.2-1b" if precision[0] != "t" else "bitnet-b1.58-2b-4t", hw, precision=precision)


def test_the_ideal_ternary_size_is_estimated_with_a_warning():
    e = estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", precision="ternary")
    assert e.fits and any("bound, not a format" in w for w in e.warnings)
