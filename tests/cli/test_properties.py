"""Property tests (hypothesis): whatever the flags, the CLI answers with exit code 0, 1 or 2 and
no traceback; whatever a config.json holds, the adapters build a valid model or raise an
UnsupportedModelError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from inferplan.catalog._load import data_path
from inferplan.cli.main import app
from inferplan.errors import InferplanError
from inferplan.models.adapters import spec_from_hf_config

runner = CliRunner()
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

numbers = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "abc", "1e400", "0", "1", "50ms", "2m", "-0"]),
)
FLAGS = ["--input-len", "--output-len", "--batch", "--concurrency", "--tp", "--pp", "--ep",
         "--devices", "--threads", "--usd-per-hour", "--pue", "--usd-per-kwh"]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(FLAGS), numbers), max_size=4),
       st.sampled_from(["llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "x"]),
       st.sampled_from(["h100-sxm", "l4", "ryzen-9-7950x", "nope"]))
def test_estimate_flags_never_crash(flags, model, hw):
    argv = ["estimate", "-m", model, "-H", hw, "--json"] + [x for f in flags for x in f]
    r = runner.invoke(app, argv)
    assert r.exit_code in (0, 1, 2), (argv, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), (argv, r.exception)


SIM_FLAGS = ["-n", "--rate", "--replicas", "--p90-tpot", "--p50-ttft", "--warmup", "--seed",
             "--kv-blocks", "--max-num-seqs", "--input-len", "--output-len", "--block-size"]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(SIM_FLAGS),
                          st.one_of(st.sampled_from(["1", "3", "20", "0.5", "100ms", "1e9", "-1",
                                                     "nan", "inf", "4294967296", ""]))),
                max_size=4))
def test_simulate_flags_never_crash(flags):
    argv = ["simulate", "-m", "llama-3.2-1b", "-H", "l4", "-n", "20"] + [x for f in flags for x in f]
    argv = [a if a != "1e9" or argv[i - 1] != "-n" else "30" for i, a in enumerate(argv)]
    r = runner.invoke(app, argv)
    assert r.exit_code in (0, 1, 2), (argv, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), (argv, r.exception)


BASE = {mid: json.loads(data_path("models", f"{mid}.json").read_text())
        for mid in ("llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v3", "gpt-oss-20b", "gemma-3-4b",
                    "lfm2-1.2b")
        if data_path("models", f"{mid}.json").exists()}
values = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                   st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                               st.integers(), max_size=2))


@SETTINGS
@given(st.sampled_from(sorted(BASE)), st.dictionaries(
    st.sampled_from(["hidden_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "intermediate_size", "vocab_size", "head_dim",
                     "num_experts", "num_experts_per_tok", "moe_intermediate_size",
                     "max_position_embeddings", "sliding_window", "layer_types", "text_config",
                     "n_routed_experts", "kv_lora_rank", "num_local_experts", "architectures",
                     "model_type", "torch_dtype", "quantization_config", "tie_word_embeddings"]),
    values, max_size=4))
def test_adapters_build_a_valid_model_or_say_why(mid, change):
    try:
        spec = spec_from_hf_config(BASE[mid] | change, "m")
    except InferplanError as e:
        assert str(e)
        return
    assert 1 <= sum(g.count for g in spec.groups) <= 1000
    assert spec.total_params > 0 and spec.hidden_size >= 1
