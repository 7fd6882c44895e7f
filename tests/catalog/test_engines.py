"""Engine profiles as data: schema, citations, lookup, and each engine's defaults on a device."""

from __future__ import annotations

import pytest

from inferplan.catalog._load import data_path, load_yaml
from inferplan.catalog.engines import check_engine_runs_on, engine_catalog, get_engine
from inferplan.catalog.hardware import get_hardware
from inferplan.catalog.schema import EngineSpec
from inferplan.errors import CatalogError, InputError


def test_every_engine_is_one_yaml_file_named_after_it():
    files = sorted(p.stem for p in data_path("engines").glob("*.yaml"))
    assert files == sorted(engine_catalog())
    for stem in files:
        raw = load_yaml(data_path("engines", f"{stem}.yaml"))
        assert raw["id"] == stem


def test_every_engine_cites_a_source_and_its_layout_policy():
    for e in engine_catalog().values():
        assert e.source, e.id
        assert e.layout.pipeline in ("across_nodes", "layer_split", "native"), e.id
        if e.layout.pipeline != "across_nodes" or e.layout.max_tp:
            assert e.layout.source, e.id  # a non-default policy says where it comes from
        for lim in e.limits:
            assert lim.source, e.id


def test_unknown_fields_are_rejected():
    raw = dict(load_yaml(data_path("engines", "vllm.yaml")))
    raw["max_num_seq"] = 5  # a typo must not pass silently
    with pytest.raises(Exception, match="max_num_seq"):
        EngineSpec(**raw)


def _on(engine: str, hw: str, offline: bool = False) -> EngineSpec:
    return get_engine(engine).for_hardware(get_hardware(hw), offline=offline)


# --- one test per engine default ----------------------------------------------------------------


def test_vllm_defaults_on_70_gib_gpus_other_than_a100():
    # EngineArgs.get_batch_defaults: >= 70 GiB and not A100 -> 1024 seqs, 8192 (server) / 16384 (LLM)
    serve, offline = _on("vllm", "h100-sxm"), _on("vllm", "h100-sxm", offline=True)
    assert (serve.max_num_seqs, serve.prefill_chunk_tokens) == (1024, 8192)
    assert (offline.max_num_seqs, offline.prefill_chunk_tokens) == (1024, 16384)
    assert serve.memory_utilization == 0.9 and serve.kv_block_tokens == 16


def test_vllm_defaults_on_a100_and_smaller_gpus():
    for hw in ("a100-sxm-80g", "l40s", "rtx-4090"):
        serve, offline = _on("vllm", hw), _on("vllm", hw, offline=True)
        assert (serve.max_num_seqs, serve.prefill_chunk_tokens) == (256, 2048), hw
        assert offline.prefill_chunk_tokens == 8192, hw


def test_vllm_tpu_budgets_by_chip():
    assert _on("vllm", "tpu-v6e").prefill_chunk_tokens == 1024
    assert _on("vllm", "tpu-v5e", offline=True).prefill_chunk_tokens == 1024
    assert _on("vllm", "tpu-v5p").prefill_chunk_tokens == 256


def test_vllm_runs_on_cpus_tpus_and_gaudi():
    for hw in ("xeon-6980p", "tpu-v6e", "gaudi3", "mi300x"):
        check_engine_runs_on(get_engine("vllm"), get_hardware(hw))
    assert get_engine("vllm-gaudi").id == get_engine("vllm-tpu").id == "vllm"


def test_sglang_chunked_prefill_size_follows_gpu_memory():
    assert _on("sglang", "rtx-4090").prefill_chunk_tokens == 2048
    assert _on("sglang", "h100-sxm").prefill_chunk_tokens == 8192
    assert _on("sglang", "h200-sxm").prefill_chunk_tokens == 8192
    assert _on("sglang", "b200").prefill_chunk_tokens == 16384
    assert get_engine("sglang").memory_utilization == 0.88
    check_engine_runs_on(get_engine("sglang"), get_hardware("xeon-6980p"))  # CPU backend


def test_tensorrt_llm_defaults_and_nvidia_only():
    e = _on("tensorrt-llm", "h100-sxm")
    assert (e.max_num_seqs, e.prefill_chunk_tokens) == (2048, 8192)  # max_batch_size, max_num_tokens
    assert e.kv_reservation == "full_sequence" and e.kv_block_tokens == 32
    assert get_engine("nim").id == "tensorrt-llm"
    with pytest.raises(InputError, match="NVIDIA only"):
        check_engine_runs_on(e, get_hardware("mi300x"))


def test_llama_cpp_splits_layers_with_one_slot_and_f16_kv():
    e = get_engine("llama.cpp")
    assert e.layout.pipeline == "layer_split" and e.layout.max_tp == 1
    assert (e.max_num_seqs, e.prefill_chunk_tokens, e.default_kv_precision) == (1, 2048, "f16")
    for hw in ("rtx-4090", "xeon-6980p", "apple-m4-max-gpu"):
        check_engine_runs_on(e, get_hardware(hw))  # llama.cpp runs everywhere


@pytest.mark.parametrize("engine,hw,ok", [
    ("optimum-habana", "gaudi3", True), ("optimum-habana", "h100-sxm", False),
    ("jetstream", "tpu-v6e", True), ("jetstream", "h100-sxm", False),
    ("mlx", "apple-m4-max-gpu", True), ("mlx", "dgx-spark", False),
    ("tgi", "h100-sxm", True), ("exllamav2", "rtx-4090", True), ("deepspeed-mii", "mi300x", False),
    ("mlc-llm", "apple-m4-max-gpu", True), ("cerebras", "cerebras-cs3", True),
    ("groq", "groq-lpu-v1", True), ("neuron", "trainium2", True), ("neuron", "gaudi3", False),
    ("sglang-jax", "tpu-v6e", True), ("sglang-jax", "h100-sxm", False),
])
def test_each_engine_runs_only_on_its_hardware(engine, hw, ok):
    if ok:
        check_engine_runs_on(get_engine(engine), get_hardware(hw))
    else:
        with pytest.raises(InputError, match="does not run on"):
            check_engine_runs_on(get_engine(engine), get_hardware(hw))


def test_an_engine_asked_for_on_hardware_of_its_port_names_the_port():
    """SGLang runs on TPUs as SGLang-JAX, a profile of its own (its own kernels and factors)."""
    with pytest.raises(InputError, match="its port to tpus: sglang-jax"):
        check_engine_runs_on(get_engine("sglang"), get_hardware("tpu-v6e"))
    jax = get_engine("sglang-jax")
    assert jax.prefill_first and jax.prefill_chunk_tokens == 4096 and not jax.limits


def test_single_user_engines_default_to_one_sequence_and_layer_split():
    for name in ("exllamav2", "bitnet.cpp", "mlx", "cactus"):
        e = get_engine(name)
        assert e.max_num_seqs == 1 and e.layout.pipeline == "layer_split", name


def test_serving_engines_tensor_parallel_in_powers_of_two_and_pipeline_across_nodes():
    for name in ("vllm", "sglang", "tensorrt-llm", "tgi"):
        pol = get_engine(name).layout
        assert pol.tp_power_of_two and pol.pipeline == "across_nodes", name
    for name in ("vllm", "sglang", "tensorrt-llm"):
        assert "attention_dp_ep" in get_engine(name).layout.moe_options, name


def test_measurements_older_than_a_release_line_get_its_profile():
    """llama.cpp on a GPU before CUDA graphs (PR #6766, 2024-05) is the llama.cpp-2023 profile;
    a date is read at its latest month; CPUs have their own line (tiled prompt GEMMs, 2024-04)."""
    from inferplan.catalog.engines import engine_as_of

    cpp, gpu, cpu = get_engine("llama.cpp"), get_hardware("rtx-4090"), get_hardware("ryzen-9-7950x")
    assert engine_as_of(cpp, "2023-10", gpu).id == "llama.cpp-2023"
    assert engine_as_of(cpp, "2024-04", gpu).id == "llama.cpp-2023"
    assert engine_as_of(cpp, "2024-05", gpu).id == "llama.cpp"
    assert engine_as_of(cpp, "2024", gpu).id == "llama.cpp"  # maybe after May: not surely older
    assert engine_as_of(cpp, "2023", gpu).id == "llama.cpp-2023"
    assert engine_as_of(cpp, "2023-10", cpu).id == "llama.cpp-2023-cpu"  # before llamafile's sgemm
    assert engine_as_of(cpp, "2024-04", cpu).id == "llama.cpp-2024-cpu"  # sgemm, no K-quant repacks
    assert engine_as_of(cpp, "2025-03", cpu).id == "llama.cpp"  # Q4_K repack, PR #12332
    assert engine_as_of(cpp, "not a date", gpu).id == "llama.cpp"
    old = get_engine("llama.cpp-2023")
    assert old.successor == "llama.cpp" and not old.graph_capture
    # vLLM decoded eagerly until CUDA graphs landed (PR #1926, 2023-12-17)
    vllm = get_engine("vllm")
    assert engine_as_of(vllm, "2023-10", gpu).id == "vllm-2023"
    assert engine_as_of(vllm, "2023-12", gpu).id == "vllm-2024"  # graphs, V0 (prompts first)
    assert engine_as_of(vllm, "2025-03", gpu).id == "vllm-2025"  # V1 (0.8), not yet async
    assert not get_engine("vllm-2023").graph_capture
    # SGLang's overlap scheduler became the default in v0.4 (2024-12)
    sglang = get_engine("sglang")
    assert sglang.overlap_scheduler and engine_as_of(sglang, "2024-09", gpu).id == "sglang-2024"
    assert engine_as_of(sglang, "2024-12", gpu).id == "sglang"
    assert not get_engine("sglang-2024").overlap_scheduler
    # vLLM's async scheduling: default from v0.14; a named version wins over the date
    assert engine_as_of(vllm, "2025-11", gpu).id == "vllm-2025" and vllm.overlap_scheduler
    assert engine_as_of(vllm, "2026-03", gpu, version=(0, 11, 0)).id == "vllm-2025"
    assert engine_as_of(vllm, "", gpu, version=(0, 14, 1)).id == "vllm"
    assert engine_as_of(sglang, "2025-01", gpu, version=(0, 3, 0)).id == "sglang-2024"


def test_an_engine_version_note_reads_the_release_number_after_the_name():
    from inferplan.catalog.engines import version_in

    assert version_in("vLLM v0.11.0") == (0, 11, 0)
    assert version_in("SGLang 0.5.9 (docker lmsysorg/sglang:v0.5.9-cu129)") == (0, 5, 9)
    assert version_in("vLLM 0.17.1rc1.dev127+gf296a1966 + vllm-gaudi") == (0, 17, 1)
    assert version_in("vLLM (ROCm, AMD MLPerf v5.0 harness)") is None  # not vLLM's number
    assert version_in("vLLM acbed3ef (2023-10-06)") is None
    assert version_in("rocm/vllm 6.3.1 (vLLM 0.6.4)") is None  # a path's number may be ROCm's


def test_an_older_release_line_names_a_known_successor():
    raw = load_yaml(data_path("engines", "llama.cpp-2023.yaml"))
    with pytest.raises(ValueError, match="until"):
        EngineSpec(**{**raw, "until": "May 2024"})  # YYYY-MM only
    for e in engine_catalog().values():
        assert (e.successor is None) == (e.until is None), e.id
        assert e.successor is None or e.successor in engine_catalog(), e.id


def test_benchmark_names_of_engines_built_on_catalogued_ones_resolve_to_them():
    """premAI's table names runtimes by their wrapper: ctransformers is GGML (llama.cpp),
    optimum-nvidia builds TensorRT-LLM engines, AutoAWQ runs transformers' eager modules."""
    assert get_engine("ctransformers").id == "llama.cpp"
    assert get_engine("optimum-nvidia").id == "tensorrt-llm"
    assert get_engine("autoawq").id == "pytorch-eager"
    for e in ("llama.cpp", "tensorrt-llm", "pytorch-eager"):
        assert "aliases" in get_engine(e).sources, e


def test_a_release_line_based_on_its_successor_states_only_what_differs(monkeypatch, tmp_path):
    from inferplan.catalog import engines

    cat = engine_catalog()
    old, new = cat["vllm-2025"], cat["vllm"]
    same = set(EngineSpec.model_fields) - {"id", "aliases", "description", "versions", "successor",
                                           "until", "until_version", "overlap_scheduler", "sources"}
    assert all(getattr(old, f) == getattr(new, f) for f in same)
    assert old.aliases == [] and new.overlap_scheduler and not old.overlap_scheduler
    # a base that is not an engine is a catalog error, not a traceback
    (tmp_path / "a.yaml").write_text("id: a\nbased_on: nowhere\n")
    monkeypatch.setattr(engines, "data_path", lambda *_: tmp_path)
    engines.engine_catalog.cache_clear()
    try:
        with pytest.raises(CatalogError, match="based_on 'nowhere' is not another engine"):
            engines.engine_catalog()
    finally:
        engines.engine_catalog.cache_clear()


def test_async_scheduling_is_an_on_off_launch_option():
    from inferplan.catalog.engines import with_engine_options

    old = get_engine("vllm-2025")
    assert not old.overlap_scheduler  # opt-in before vLLM 0.14
    assert with_engine_options(old, {"--async-scheduling": "on"}).overlap_scheduler
    assert with_engine_options(old, {"async_scheduling": "1"}).overlap_scheduler
    assert not with_engine_options(get_engine("vllm"), {"async_scheduling": "false"}).overlap_scheduler
    with pytest.raises(InputError, match="on/off"):
        with_engine_options(old, {"async_scheduling": "2"})
    with pytest.raises(InputError, match="on/off"):
        with_engine_options(old, {"async_scheduling": "maybe"})


def test_tensorrt_llm_scheduler_policy_is_a_choice_in_its_own_spellings():
    from inferplan.catalog.engines import with_engine_options

    trt = get_engine("tensorrt-llm")
    assert trt.kv_reservation == "full_sequence"  # GUARANTEED_NO_EVICT by default
    for key, value in (("scheduler_policy", "max_utilization"), ("batch_scheduler_policy", "max_util"),
                       ("--capacity-scheduler-policy", "MAX_UTILIZATION")):
        assert with_engine_options(trt, {key: value}).kv_reservation == "on_demand"
    assert with_engine_options(trt, {"scheduler_policy": "guaranteed_no_evict"}).kv_reservation == "full_sequence"
    with pytest.raises(InputError, match="not one of guaranteed_no_evict, max_utilization"):
        with_engine_options(trt, {"scheduler_policy": "static"})


def test_max_utilization_batches_more_long_sequences_offline():
    from inferplan.perf.estimate import plan_estimate

    kw = dict(devices=1, engine="tensorrt-llm", mode="offline", input_len=1024, output_len=8192)
    evict = plan_estimate("llama-3.1-8b", "h100-sxm", **kw)
    util = plan_estimate("llama-3.1-8b", "h100-sxm", engine_options={"scheduler_policy": "max_util"}, **kw)
    # reserving I + O per request vs I + O/2 on average: ~1.8x the sequences fit
    assert util.batch > 1.6 * evict.batch


def test_async_scheduling_hides_the_host_time_of_a_step():
    from inferplan.perf.estimate import estimate

    kw = dict(devices=1, engine="vllm-2025", mode="concurrency", batch=64, input_len=256, output_len=256)
    sync = estimate("llama-3.1-8b", "h100-sxm", **kw)
    overlapped = estimate("llama-3.1-8b", "h100-sxm", engine_options={"async_scheduling": "on"}, **kw)
    assert overlapped.tpot_s < sync.tpot_s


def test_release_line_follows_successors_to_the_newest_and_keeps_forks_apart():
    from inferplan.catalog.engines import release_line

    olds = [e for e in engine_catalog().values() if e.successor is not None]
    assert olds, "the catalog has older release lines"
    for e in olds:
        line = release_line(e)
        assert line != e.id and get_engine(line).successor is None
    assert release_line(get_engine("vllm")) == "vllm"
    assert release_line(get_engine("ik_llama.cpp")) == "ik_llama.cpp"  # a fork of llama.cpp


def test_an_option_sglang_no_longer_reads_is_ignored_and_said_so():
    from inferplan.perf.estimate import estimate

    kw = dict(mode="concurrency", batch=64, input_len=2048, output_len=256)
    plain = estimate("llama-3.1-8b", "h100-sxm", engine="sglang", **kw)
    given = estimate("llama-3.1-8b", "h100-sxm", engine="sglang",
                     engine_options={"num-continuous-decode-steps": "8"}, **kw)
    assert given.ttft_s == plain.ttft_s  # SGLang >= 0.4 declares it, reads it nowhere
    assert "never read" in given.assumptions["engine_options"]
    assert "num-continuous-decode-steps" in given.assumptions["engine_options"]
    old = estimate("llama-3.1-8b", "h100-sxm", engine="sglang-2024",
                   engine_options={"num_continuous_decode_steps": "8"}, **kw)
    old_plain = estimate("llama-3.1-8b", "h100-sxm", engine="sglang-2024", **kw)
    assert old.ttft_s > old_plain.ttft_s  # the 2024 scheduler ran the steps back to back
    assert "engine_options" not in old.assumptions


def test_format_engines_and_inert_options_name_real_catalog_entries():
    from inferplan.catalog.engines import ENGINE_OPTIONS, engine_catalog, get_engine
    from inferplan.catalog.precisions import precision_catalog

    for prec in precision_catalog().values():
        for entry in prec.engines:
            name, _, cls = entry.partition("@")  # "engine" or "engine@class"
            assert get_engine(name).id == name, (prec.id, name)  # an id, not an alias
            assert not cls or cls in get_engine(name).hardware_classes, (prec.id, entry)
    for eng in engine_catalog().values():
        assert set(eng.inert_options) <= set(ENGINE_OPTIONS), eng.id
