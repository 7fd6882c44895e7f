"""compare.py: one engine or a thread count across a class (the rows it cannot run are unfit)."""

from __future__ import annotations

import pytest

from inferplan.compare import compare
from inferplan.errors import UnknownIdError


def test_an_engine_across_a_class_runs_where_it_can_and_lists_the_rest_as_unfit():
    res = compare("bitnet-b1.58-2b-4t", hardware=["ryzen-9-7950x", "h100-sxm"], engine="bitnet.cpp")
    by = {r.hardware: r for r in res.rows}
    assert by["ryzen-9-7950x"].fits and by["ryzen-9-7950x"].estimate.engine == "bitnet.cpp"
    assert not by["h100-sxm"].fits and "does not run on h100-sxm" in by["h100-sxm"].reason
    with pytest.raises(UnknownIdError, match="did you mean"):
        compare("bitnet-b1.58-2b-4t", hw_class="cpu", engine="bitnet.cx")


def test_threads_apply_to_the_cpu_rows_only():
    few = compare("llama-3.2-1b", hardware=["ryzen-9-7950x", "l4"], threads=2)
    full = compare("llama-3.2-1b", hardware=["ryzen-9-7950x", "l4"])
    f, a = ({r.hardware: r.estimate for r in x.rows} for x in (few, full))
    assert f["ryzen-9-7950x"].tpot_s > a["ryzen-9-7950x"].tpot_s  # 2 of 16 cores
    assert f["l4"].tpot_s == a["l4"].tpot_s  # a GPU row ignores --threads


def test_fit_on_a_one_sequence_runtime_says_one_and_refuses_more():
    from inferplan.compare import fit

    one = {r.hardware: r for r in fit("llama-3.2-1b", hw_class="npu").rows}
    assert all(r.max_batch_at_context == 1 for r in one.values() if r.fits)
    two = fit("llama-3.2-1b", hw_class="npu", batch=2)
    assert not any(r.fits for r in two.rows)
    assert all("holds at most 1 sequence" in (r.reason or "") for r in two.rows if r.devices)


def test_compare_passes_engine_options_to_every_device():
    res = compare("llama-3.1-70b", hardware=["rtx-4090", "rtx-3090"], precision="q4_k_m",
                  input_len=512, output_len=128, engine_options={"n_gpu_layers": 40})
    assert all(r.fits and r.estimate.engine == "llama.cpp" and r.estimate.host_layers["gpu_layers"] == 40
               for r in res.rows)
    cpus = compare("llama-3.1-8b", hw_class="cpu", precision="q4_k_m", engine_options={"ngl": 10})
    assert not any(r.fits for r in cpus.rows) and "llama.cpp -ngl" in cpus.rows[0].reason


def test_compare_takes_a_device_count_for_every_device():
    res = compare("llama-3.1-70b", hardware=["rtx-3090", "rtx-5090"], precision="q4_k_m",
                  offload="auto", devices=1)
    assert all(r.fits and r.estimate.devices == 1 and r.estimate.host_layers for r in res.rows)


def test_slots_reach_the_rows_whose_format_runs_in_llama_cpp():
    res = compare("llama-3.1-8b", hardware=["rtx-4090", "h100-sxm"], precision="q4_k_m",
                  mode="concurrency", batch=16, slots=16)
    by = {r.hardware: r.estimate for r in res.rows}
    assert by["rtx-4090"].engine == "llama.cpp" and "16 server slots" in by["rtx-4090"].assumptions["slots"]
    assert by["h100-sxm"].engine == "vllm" and "slots" not in by["h100-sxm"].assumptions


def test_fit_takes_named_hardware_and_an_engine():
    from inferplan.compare import fit

    res = fit("llama-3.1-70b", precision="q4_k_m", hardware=["rtx-3090", "h100-sxm"], engine="llama.cpp")
    assert sorted(r.hardware for r in res.rows) == ["h100-sxm", "rtx-3090"]
    by = {r.hardware: r for r in res.rows}
    assert by["rtx-3090"].devices == 2 and by["h100-sxm"].devices == 1
    with pytest.raises(UnknownIdError):
        fit("llama-3.1-70b", engine="lamacpp")


@pytest.mark.parametrize("model,context,batch,hw,devices,layout", [
    # MLA's latent KV is whole on every TP rank: data-parallel attention ranks split it
    ("deepseek-r1", 32768, 32, "h200-sxm", 8, (1, 1, 8)),
    # 4 KV heads: TP8 replicates them; two pipeline stages of TP4 split the layers' KV
    ("qwen3-235b-a22b", 8192, 64, "h100-sxm", 8, (4, 2, 1)),
    # where TP holds it, TP as before (not fewer devices in an odd pipeline)
    ("llama-3.1-405b", 4096, 1, "h100-sxm", 8, (8, 1, 1)),
])
def test_fit_tries_expert_and_pipeline_layouts_where_the_kv_cache_outgrows_tp(model, context, batch, hw,
                                                                              devices, layout):
    from inferplan.compare import fit

    row = fit(model, context=context, batch=batch, hardware=[hw],
              precision="fp8" if "405b" in model else None).rows[0]
    assert row.fits and row.devices == devices and (row.tp, row.pp, row.ep) == layout


def test_engines_without_pipelines_in_a_domain_keep_their_tp_layouts():
    from inferplan.compare import fit

    tgi = fit("qwen3-235b-a22b", context=8192, batch=64, hardware=["h100-sxm"], engine="tgi").rows[0]
    assert (tgi.pp or 1) == 1 or tgi.devices > 8  # no tp4 pp2 on 8 H100s for TGI


def test_fit_carries_the_macos_wired_memory_warning():
    from inferplan.compare import fit

    rows = {r.hardware: r for r in fit("qwen3-235b-a22b", precision="q3_k_m",
                                       hardware=["apple-m4-max-gpu", "apple-m3-ultra-gpu"]).rows}
    assert rows["apple-m4-max-gpu"].fits and any("wire" in w for w in rows["apple-m4-max-gpu"].warnings)
    assert rows["apple-m3-ultra-gpu"].warnings == []
