from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import plan_estimate
from inferplan.perf.factors import factor_scopes, resolve_factors


def _dep(hw, engine):
    return plan_estimate("llama-2-7b", hw, engine=engine, precision="q4_0", batch=1, input_len=0,
                         output_len=64).dep


def test_an_older_release_line_falls_back_to_its_successors_factors():
    sc = factor_scopes(_dep("rtx-4090", "llama.cpp-2023"))
    # a device's own calibrated scope first (calibrate --scope hardware), then the profile's
    assert sc["layer_overhead_s"] == ["hw:rtx-4090/llama.cpp-2023",
                                      "llama.cpp-2023@gpu-nvidia", "llama.cpp-2023@gpu", "llama.cpp-2023",
                                      "llama.cpp@gpu-nvidia", "llama.cpp@gpu", "llama.cpp"]
    assert sc["engine_bw"] == ["hw:rtx-4090/llama.cpp-2023", "llama.cpp-2023@gpu", "llama.cpp-2023",
                               "llama.cpp@gpu", "llama.cpp"]
    assert sc["bw_eff"][0] == "hw:rtx-4090"


def test_llama_cpp_replays_graphs_on_nvidia_and_launches_each_op_elsewhere():
    """The per-layer cost of llama.cpp decode: CUDA graph replay on NVIDIA GPUs (since 2024-05),
    one launch per op on AMD GPUs (HIP graphs are opt-in) and in the pre-graph builds."""
    eff = load_efficiency()
    lo = {k: resolve_factors(_dep(hw, e), eff)[1]["layer_overhead_s"]
          for k, (hw, e) in {"nv": ("rtx-4090", "llama.cpp"), "amd": ("rx-7900-xtx", "llama.cpp"),
                             "old": ("rtx-4090", "llama.cpp-2023")}.items()}
    assert lo["nv"].scope == "llama.cpp@gpu-nvidia" and lo["amd"].scope == "llama.cpp@gpu"
    assert lo["old"].scope == "llama.cpp-2023@gpu"
    assert lo["nv"].value < lo["amd"].value / 4 and lo["nv"].value < lo["old"].value / 4


def test_a_chain_of_release_lines_falls_back_to_the_current_profile():
    from inferplan.perf.estimate import plan_estimate
    from inferplan.perf.factors import engine_lineage

    dep = plan_estimate("llama-3.1-8b", "ryzen-9-7950x", engine="llama.cpp-2023-cpu", precision="q4_0").dep
    assert engine_lineage(dep) == ["llama.cpp-2023-cpu", "llama.cpp-2024-cpu", "llama.cpp"]


def test_bitnet_cpp_takes_llama_cpps_fitted_factors_but_not_its_server():
    plan = plan_estimate("bitnet-b1.58-2b-4t", "ryzen-9-7950x", engine="bitnet.cpp", precision="i2_s",
                         mode="concurrency", batch=4, input_len=128, output_len=64)
    used = resolve_factors(plan.dep, load_efficiency())[1]
    assert used["layer_overhead_s"].scope == "llama.cpp@cpu"  # fitted, not a bitnet.cpp prior
    assert factor_scopes(plan.dep)["engine_bw"][1:3] == ["bitnet.cpp@cpu", "bitnet.cpp"]  # its own first
    assert plan.dep.engine.max_num_seqs == 1 and "slots" not in plan.notes  # no llama-server slots


def test_a_devices_own_scope_comes_first_but_never_labels_a_prior():
    vllm_tp2 = plan_estimate("llama-3.1-8b", "rtx-4090", engine="vllm", tp=2, devices=2, batch=1,
                             input_len=128, output_len=16).dep
    row_split = plan_estimate("llama-3.1-8b", "rtx-4090", engine="llama.cpp", tp=2, devices=2,
                              precision="q4_k_m", batch=1, input_len=128, output_len=16).dep
    assert factor_scopes(vllm_tp2)["link_latency"][0] == "hw:rtx-4090"  # a ring link: fitted there
    assert factor_scopes(row_split)["link_latency"] == []  # no latency fit, no device scope either
    cpu = plan_estimate("llama-3.1-8b", "ryzen-9-7950x", precision="q5_k_m", batch=1, input_len=16,
                        output_len=16).dep
    used = resolve_factors(cpu, load_efficiency())[1]
    assert not used["dequant_w"].scope.startswith("hw:")  # a precisions.yaml prior, not a fit


def test_an_amd_apu_takes_the_amd_gpus_launch_cost_not_apple_metals():
    dep = plan_estimate("qwen3-30b-a3b", "ryzen-ai-max-395", engine="llama.cpp", precision="q4_k_m",
                        batch=1, input_len=128, output_len=16).dep
    apple = plan_estimate("qwen3-30b-a3b", "apple-m2-ultra-gpu", engine="llama.cpp", precision="q4_k_m",
                          batch=1, input_len=128, output_len=16).dep
    eff = load_efficiency()
    assert resolve_factors(dep, eff)[1]["layer_overhead_s"].scope == "llama.cpp@soc-amd"
    assert resolve_factors(apple, eff)[1]["layer_overhead_s"].scope == "llama.cpp@soc"
