"""Layouts engines actually run: TP in powers of two, pipeline only across nodes, llama.cpp's
layer split, uneven expert placement."""

from __future__ import annotations

import pytest

from inferplan.compare import compare
from inferplan.errors import LayoutError
from inferplan.models.registry import get_model
from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.layout import Layout, check_layout
from inferplan.perf.memory import weight_bytes_per_device


def test_70b_at_concurrency_16_on_h100_sxm_is_tensor_parallel_without_pipeline():
    res = compare("llama-3.1-70b", hardware=["h100-sxm"], mode="concurrency", batch=16,
                  input_len=1024, output_len=256)
    e = res.rows[0].estimate
    assert e is not None and e.fits
    assert e.pp == 1 and e.tp in (2, 4, 8) and e.devices == e.tp


def test_compare_keeps_the_automatic_layout_when_the_sort_key_is_unknown():
    # MI355X has no price in the catalog: sorted by cost, every layout's cost is unknown, so the
    # row shows the fewest devices that fit (one), not the fastest unpriceable layout (eight)
    res = compare("llama-3.1-70b", hardware=["mi355x"], mode="concurrency", batch=16,
                  input_len=1024, output_len=256)
    e = res.rows[0].estimate
    assert e is not None and e.usd_per_1m_output_tokens is None and e.devices == 1
    fast = compare("llama-3.1-70b", hardware=["mi355x"], mode="concurrency", batch=16,
                   input_len=1024, output_len=256, sort="speed").rows[0].estimate
    assert fast is not None and fast.devices > 1  # a known key still picks the larger layout


def test_compare_picks_attention_dp_with_expert_parallel_for_deepseek_at_high_concurrency():
    # SGLang's DeepSeek recipe (--enable-dp-attention --ep-size 8): at 512 users attention-DP
    # stops replicating MLA's latent KV on every rank, so it serves more per device than TP8
    hi = compare("deepseek-r1", hardware=["b200"], mode="concurrency", batch=512,
                 input_len=1024, output_len=1024).rows[0].estimate
    assert hi is not None and hi.fits and (hi.tp, hi.ep) == (1, 8)
    tp8 = estimate("deepseek-r1", "b200", devices=8, tp=8, mode="concurrency", batch=512,
                   input_len=1024, output_len=1024)
    assert tp8.tp == 8 and hi.output_tok_s > tp8.output_tok_s
    # estimate on 8 devices ranks the layouts there and lands on the same placement
    ranked = estimate("deepseek-r1", "b200", devices=8, mode="concurrency", batch=512,
                      input_len=1024, output_len=1024)
    assert (ranked.tp, ranked.ep) == (1, 8)
    # one user: latency wins, the attention stays tensor parallel (no attention-DP); experts may
    # be placed whole inside the TP group (ep <= tp costs no all-to-all, TRT-LLM issue 5929)
    lo = compare("deepseek-r1", hardware=["b200"], mode="concurrency", batch=1,
                 input_len=1024, output_len=1024).rows[0].estimate
    assert lo is not None and lo.tp >= 4 and lo.ep <= lo.tp


def test_deepseek_single_stream_on_8_h200_is_slowed_by_its_many_small_kernels():
    e = estimate("deepseek-r1", "h200-sxm", devices=8, batch=1, input_len=1024, output_len=256)
    assert e.tp == 8 and e.pp == 1
    assert e.decode_tok_s_per_user < 130  # the weights alone would stream at ~230 tok/s
    kernels = e.assumptions["small_kernel_s"]
    assert kernels["value"] > 0 and kernels["scope"] == "vllm@nvidia-hopper"


@pytest.mark.parametrize("model,hw", [("llama-3.1-70b", "h100-sxm"), ("llama-3.1-70b", "a100-sxm-80g"),
                                      ("qwen3-32b", "l40s"), ("llama-3.1-405b", "h200-sxm")])
def test_auto_layout_never_pipelines_inside_one_node(model, hw):
    e = estimate(model, hw, mode="concurrency", batch=8, input_len=1024, output_len=128)
    assert e.fits and e.pp == 1 and e.tp & (e.tp - 1) == 0


def test_pipeline_stages_only_when_one_node_cannot_hold_the_model():
    # 405B in bf16 (~810 GB) exceeds one 8 x H100 node: vLLM's recipe is TP8 x PP2 (two nodes)
    e = estimate("llama-3.1-405b", "h100-sxm", input_len=1024, output_len=128)
    assert (e.tp, e.pp, e.devices) == (8, 2, 16)


def test_deepseek_r1_at_batch_1_runs_tp8_on_one_h200_node():
    e = estimate("deepseek-r1", "h200-sxm", input_len=1024, output_len=128)
    assert (e.devices, e.tp, e.pp) == (8, 8, 1)


def test_llama_cpp_on_two_gpus_splits_layers_and_runs_them_in_turn():
    kw = dict(devices=2, engine="llama.cpp", precision="q4_k_m", input_len=512, output_len=128)
    plan = plan_estimate("llama-3-70b", "rtx-4090", **kw)
    assert (plan.dep.layout.tp, plan.dep.layout.pp, plan.microbatches) == (1, 2, 1)
    split = estimate("llama-3-70b", "rtx-4090", **kw)
    row = estimate("llama-3-70b", "rtx-4090", tp=2, **kw)  # --split-mode row, asked for
    # one GPU at a time: at least twice the time of both GPUs streaming their halves together
    both_s = weight_bytes_per_device(plan.dep) / plan.dep.hw.memory_bw_bytes_s
    assert split.tpot_s > 1.9 * both_s
    # the row split streams in parallel but gathers all 7 mat-muls of every layer on the main
    # GPU (host launches on both GPUs): it wins back much less than the factor of two
    assert row.tpot_s > 0.75 * split.tpot_s
    assert "2 pipeline stages" in split.why and "one micro-batch" in split.why


def test_three_given_devices_pipeline_only_because_tp3_is_impossible():
    e = estimate("llama-3.1-70b", "h200-sxm", devices=3, input_len=1024, output_len=128)
    assert (e.tp, e.pp) == (1, 3) and "all 3 devices in one replica" in e.assumptions["layout"]


def test_ep48_over_256_experts_is_accepted_with_ceil_experts_per_device():
    m = get_model("deepseek-v3")
    check_layout(m, Layout(ep=48))  # no error: uneven / redundant placement
    p48 = plan_estimate(m, "h200-sxm", devices=48, ep=48, input_len=1024, output_len=128)
    p64 = plan_estimate(m, "h200-sxm", devices=64, ep=64, input_len=1024, output_len=128)
    g48 = next(g for g in p48.dep.groups if g.expert_elems_dev)
    g64 = next(g for g in p64.dep.groups if g.expert_elems_dev)
    assert g48.expert_elems_dev / g64.expert_elems_dev == pytest.approx(6 / 4)  # ceil(256/48) / 256/64
    assert p48.fits
    check_layout(m, Layout(ep=72))


def test_ep_larger_than_the_experts_is_rejected():
    with pytest.raises(LayoutError, match="exceeds the 256 experts"):
        check_layout(get_model("deepseek-v3"), Layout(ep=512))


def test_pipeline_explanation_names_each_devices_share_not_the_whole_model():
    e = estimate("llama-3.1-70b", "h200-sxm", devices=3, pp=3, input_len=1024, output_len=128)
    plan = plan_estimate("llama-3.1-70b", "h200-sxm", devices=3, pp=3, input_len=1024,
                         output_len=128)
    per_dev_gb = plan.mem.weights_bytes / 1e9
    assert "3 pipeline stages of 1 device" in e.why
    shown = float(e.why.split("reads ")[1].split(" GB")[0])
    assert shown == pytest.approx(per_dev_gb, rel=0.1)  # its stage's share, ~47 GB, not 141 GB


def test_neuron_pads_heads_so_tp12_runs_llama_2_7b_and_pays_for_the_padding():
    """transformers-neuronx runs Llama-2-7B's 32 heads over 24 NeuronCores (12 Inferentia2 chips,
    2 cores each) by adding zero-weight heads: 48 heads, 4 per chip; engines that do not pad
    still need tp to divide the heads, and MLA heads are never padded."""
    from inferplan.perf.layout import padded_heads_per_device

    spec = get_model("llama-2-7b")
    with pytest.raises(LayoutError, match="must divide the 32 attention heads"):
        check_layout(spec, Layout(tp=12))
    check_layout(spec, Layout(tp=12), pads_heads=True)
    with pytest.raises(LayoutError, match="attention heads"):
        check_layout(get_model("deepseek-v3"), Layout(tp=24), pads_heads=True)
    assert padded_heads_per_device(32, 12, 2) == 4 and padded_heads_per_device(8, 12, 2) == 2
    assert padded_heads_per_device(32, 12) == 3 and padded_heads_per_device(8, 24) == 1
    kw = dict(engine="neuron", batch=1, input_len=128, output_len=128)
    pad = plan_estimate("llama-2-7b", "inferentia2", devices=12, tp=12, **kw)
    even = plan_estimate("llama-2-7b", "inferentia2", devices=8, tp=8, **kw)  # 16 cores: 2 heads each
    m = spec.groups[0].mixer
    attn = m.params * spec.num_layers * 2  # fp16 bytes of all attention projections (MHA)
    extra = attn * (48 / 32 - 1) / 12  # 48 of 32 heads' Q, K, V and O over 12 chips
    assert pad.mem.weights_bytes == pytest.approx(even.mem.weights_bytes * 8 / 12 + extra, rel=1e-9)
    # GQA: Llama-3-8B's 8 KV heads replicated to 24 cores, 2 per chip (not 8/12)
    gqa = plan_estimate("llama-3-8b", "inferentia2", devices=12, tp=12, **kw)
    per_token = gqa.dep.groups[0].kv_elems_dev
    assert per_token == pytest.approx(get_model("llama-3-8b").groups[0].mixer.kv_elems_per_token * 2 / 8)


def test_a_padding_engine_also_runs_tp_over_a_whole_domain_that_is_not_a_power_of_two():
    """Neuron's recipes run TP over all of an inf2.48xlarge's 12 chips (24 NeuronCores); engines
    that need tp to divide the heads keep powers of two."""
    from inferplan.perf.layout import valid_tps

    spec = get_model("llama-2-7b")
    assert valid_tps(spec, 12) == [1, 2, 4, 8]
    assert valid_tps(spec, 12, pads_heads=True) == [1, 2, 4, 8, 12]
    plan = plan_estimate("llama-2-7b", "inferentia2", engine="neuron", devices=12, batch=1,
                         input_len=128, output_len=128)
    assert (plan.dep.layout.tp, plan.dep.layout.pp, plan.dep.layout.dp) == (12, 1, 1)


def test_sram_chips_hold_a_moe_model_by_spreading_its_experts_over_more_chips_per_stage():
    # Qwen3-235B's layer does not fit 16 Groq chips (230 MB each) even one per stage; the
    # experts then spread over ep > tp chips per stage, and no smaller layout of that kind fits
    plan = plan_estimate("qwen3-235b-a22b", "groq-lpu-v1", batch=1, input_len=512, output_len=64)
    lay = plan.dep.layout
    assert plan.fits and lay.tp == 16 and lay.ep >= 2 * lay.tp and lay.ep & (lay.ep - 1) == 0
    assert "expert parallelism" in plan.notes["layout"]
    assert plan.mem.used_bytes <= plan.mem.capacity_bytes
    # one stage fewer does not fit, nor does plain TP at one layer per stage (why EP is needed)
    for smaller in (Layout(tp=16, ep=lay.ep, pp=lay.pp - 1), Layout(tp=16, pp=94)):
        tight = plan_estimate("qwen3-235b-a22b", "groq-lpu-v1", batch=1, input_len=512, output_len=64,
                              tp=smaller.tp, ep=smaller.ep, pp=smaller.pp)
        assert not tight.fits
    # the same layout when the chips are given; too few chips are told to spread the experts
    given = plan_estimate("qwen3-235b-a22b", "groq-lpu-v1", devices=lay.replica_devices, batch=1,
                          input_len=512, output_len=64)
    assert given.fits and (given.dep.layout.ep, given.dep.layout.pp) == (lay.ep, lay.pp)
    few = estimate("qwen3-235b-a22b", "groq-lpu-v1", devices=16 * 94, batch=1, input_len=512, output_len=64)
    assert not few.fits and "a larger --ep" in few.reason
    # an expert bigger than a chip (Mixtral 8x22B at 16 bits: 604 MB) still does not fit
    big = estimate("mixtral-8x22b", "groq-lpu-v1", batch=1, input_len=512, output_len=64)
    assert not big.fits and "smaller precision" in big.reason and "a larger --ep" not in big.reason
    # Maverick's 126M-parameter experts: 252 MB at 16 bits outgrow a chip, 126 MB at 8 bits do not
    assert not estimate("llama-4-maverick", "groq-lpu-v1", batch=1, input_len=512, output_len=64).fits
    mav = plan_estimate("llama-4-maverick", "groq-lpu-v1", precision="int8", batch=1, input_len=512,
                        output_len=64)
    assert mav.fits and mav.dep.layout.ep == 128
    # DeepSeek-R1's dense first layers do not count as experts
    dsr1 = plan_estimate("deepseek-r1", "groq-lpu-v1", batch=1, input_len=512, output_len=64)
    assert dsr1.fits and dsr1.dep.layout.ep > dsr1.dep.layout.tp
    # a given chip count takes an expert-parallel layout whose replica divides it
    wide = plan_estimate("qwen3-235b-a22b", "groq-lpu-v1", devices=2560, batch=1, input_len=512,
                         output_len=64)
    assert wide.fits and wide.dep.layout.devices == 2560 and 2560 % wide.dep.layout.replica_devices == 0
    # GPUs keep their layouts (the expert fallback is for SRAM chips)
    assert plan_estimate("qwen3-235b-a22b", "h100-sxm", batch=1, input_len=512, output_len=64).dep.layout.ep == 1


def test_a_layer_split_engine_never_gets_a_cross_machine_pipeline_when_nothing_fits():
    # llama.cpp splits layers inside one machine: 405B at 16 bits on 24 GB cards does not fit
    e = estimate("llama-3.1-405b", "rtx-4090", engine="llama.cpp", input_len=128, output_len=16)
    assert not e.fits and e.devices == 1


def test_expert_parallel_groups_smaller_than_tp_split_their_experts_over_the_rest():
    # Mixtral over 16 GPUs, experts in 2 groups: each group's 4 experts split over 8 devices
    dep = plan_estimate("mixtral-8x7b", "h100-sxm", devices=16, tp=16, ep=2, batch=1, input_len=128,
                        output_len=16).dep
    f = dep.model.groups[0].ffn
    assert dep.groups[0].expert_elems_dev == pytest.approx(f.num_experts * f.expert_params / 16)
