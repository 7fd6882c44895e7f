"""The CLI contract (shared/spec/cli-contract.md): JSON shapes, exit codes, error messages."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

from ..conftest import PUBLISHED

runner = CliRunner()

ESTIMATE_KEYS = {
    "model", "hardware", "engine", "devices", "tp", "pp", "ep", "weight_precision",
    "kv_precision", "mode", "batch", "input_len", "output_len", "fits", "reason", "memory",
    "ttft_s", "tpot_s", "e2e_latency_s", "decode_tok_s_per_user", "prefill_tok_s",
    "output_tok_s", "total_tok_s", "requests_per_s", "usd_per_1m_input_tokens",
    "usd_per_1m_output_tokens", "joules_per_output_token", "power_w", "bound", "assumptions",
}
MEMORY_KEYS = {"weights_bytes", "kv_cache_bytes", "activation_bytes", "reserved_bytes",
               "used_bytes_per_device", "capacity_bytes_per_device"}


def run(*args):
    r = runner.invoke(app, list(args))
    # an error reaches the user as a message and an exit code, never as an uncaught exception
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def test_estimate_json_has_every_contract_field():
    code, out, _ = run("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm",
                       "--input-len", "1024", "--output-len", "128", "--json")
    assert code == 0
    d = json.loads(out)
    assert ESTIMATE_KEYS <= set(d)
    assert MEMORY_KEYS <= set(d["memory"])
    assert d["mode"] == "batch" and d["batch"] == 1 and d["fits"] is True
    assert set(d["bound"]) == {"prefill", "decode"}
    assert d["assumptions"]["bw_eff"]["source"]
    # and what the text shows beyond the contract (it allows added fields)
    assert d["why"] and d["dp"] == 1 and d["hardware_class"] == "gpu"


def test_estimate_that_does_not_fit_exits_1_with_json():
    code, out, _ = run("estimate", "-m", "llama-3.1-405b", "-H", "h100-sxm", "--devices", "1",
                       "--input-len", "128", "--output-len", "16", "--json")
    assert code == 1
    d = json.loads(out)
    assert d["fits"] is False and d["reason"]


@pytest.mark.parametrize("args,needle", [
    (["-m", "llama-3.1-8b", "-H", "h100"], "ambiguous"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxn"], "did you mean"),
    (["-m", "llama-3.1-8", "-H", "h100-sxm"], "did you mean"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--engine", "warp-drive"], "known engines"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--tp", "3"], "tp=3"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--batch", "2", "--offline"], "one of"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--batch", "2", "--requests", "100"], "offline runs only"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--devices", "many"], "--devices"),
    (["-m", "llama-3.1-8b", "-H", "h100-sxm", "--precision", "fp9"], "unknown precision"),
    (["-m", "llama-3.1-8b", "-H", "mi300x", "--engine", "tensorrt-llm"], "does not run on"),
])
def test_bad_input_exits_2_with_a_message_not_a_traceback(args, needle):
    code, out, err = run("estimate", *args, "--input-len", "64", "--output-len", "8")
    assert code == 2
    assert needle in err


def test_an_offline_run_of_n_requests_batches_at_most_n():
    args = ("-m", "llama-3.2-1b", "-H", "h100-sxm", "--engine", "tensorrt-llm", "--offline",
            "--input-len", "128", "--output-len", "128", "--json")
    code, out, _ = run("estimate", *args, "--requests", "300")
    assert code == 0 and json.loads(out)["batch"] == 300
    code, out, _ = run("compare", "-m", "llama-3.2-1b", "-H", "h100-sxm", "--offline",
                       "--requests", "300", "--json")
    assert code == 0 and json.loads(out)["rows"][0]["estimate"]["batch"] == 300
    code, out, _ = run("estimate", *args[:-1], "--requests", "300000")
    assert code == 0 and "run: 300,000 requests in ~" in out  # how long the run takes


def test_compare_all_ranks_and_explains():
    code, out, _ = run("compare", "--model", "llama-3.1-8b", "--all", "--json")
    assert code == 0
    d = json.loads(out)
    fits = [r for r in d["rows"] if r["fits"]]
    assert len(fits) > 20
    costs = [r["estimate"]["usd_per_1m_output_tokens"] for r in fits
             if r["estimate"]["usd_per_1m_output_tokens"] is not None]
    assert costs == sorted(costs)
    assert all(r["estimate"]["why"] for r in fits)


def test_compare_table_renders():
    code, out, _ = run("compare", "-m", "llama-3.1-70b", "-H", "h100-sxm,mi300x,b200")
    assert code == 0
    assert "mi300x" in out and "h100-sxm" in out


def test_fit_lists_hardware_with_device_counts():
    code, out, _ = run("fit", "-m", "llama-3.1-70b", "--context", "8192", "--batch", "8", "--json")
    assert code == 0
    d = json.loads(out)
    rows = {r["hardware"]: r for r in d["rows"]}
    assert rows["mi300x"]["fits"] and rows["mi300x"]["devices"] == 1
    assert rows["h100-sxm"]["devices"] >= 2


@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/calibration not present")
def test_validate_json_covers_every_row():
    code, out, _ = run("validate", str(PUBLISHED), "--json")
    assert code == 0
    d = json.loads(out)
    n = sum(1 for _ in open(PUBLISHED)) - 1
    assert d["summary"]["rows"] == n == len(d["rows"])
    assert {"id", "metric", "measured", "predicted", "ape", "status", "error"} <= set(d["rows"][0])
    assert d["summary"]["coverage"] == 1.0


def test_listing_commands_work():
    for cmd in (["models"], ["hardware"], ["hardware", "show", "mi300x"], ["precisions"], ["engines"]):
        code, out, err = run(*cmd)
        assert code == 0, err
        assert out.strip()
    code, out, _ = run("hardware", "show", "mi300x", "--json")
    assert "spec_source" in json.loads(out)
    # how each engine schedules prompts: in steps of their own (SGLang) or inside decode steps
    code, out, _ = run("engines", "--json")
    by_id = {e["id"]: e for e in json.loads(out)["engines"]}
    assert by_id["sglang"]["prefill_first"] and not by_id["vllm"]["prefill_first"]
    code, out, _ = run("engines")
    assert "prompt steps" in out


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "inferplan", "estimate", "-m", "llama-3.1-8b", "-H",
                        "mi300x", "--input-len", "16", "--output-len", "4", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hardware"] == "mi300x"


def test_estimate_accepts_a_config_json_path_and_folder(tmp_path):
    from inferplan.catalog._load import data_path

    cfg = (data_path("models", "qwen2.5-7b.json")).read_text()
    folder = tmp_path / "my-qwen"
    folder.mkdir()
    (folder / "config.json").write_text(cfg)
    for target in (str(folder), str(folder / "config.json")):
        code, out, err = run("estimate", "-m", target, "-H", "h100-sxm", "--input-len", "64",
                             "--output-len", "8", "--json")
        assert code == 0, err
        assert json.loads(out)["model"] == "my-qwen"


def test_unsupported_config_names_the_problem(tmp_path):
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "rwkv", "architectures": ["RwkvForCausalLM"]}))
    code, out, err = run("estimate", "-m", str(p), "-H", "h100-sxm", "--input-len", "64",
                         "--output-len", "8")
    assert code == 2
    assert "rwkv" in err


def test_estimate_takes_engine_launch_options():
    base = ["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--concurrency", "32", "--engine", "sglang", "--json"]
    code, out, _ = run(*base, "-O", "scheduler_recv_interval=20")
    assert code == 0 and "admission" in json.loads(out)["assumptions"]
    code, out, err = run(*base, "--engine-option", "recv=20")
    assert code == 2 and "unknown engine option 'recv'" in err
    code, _, err = run(*base, "-O", "max_num_seqs")
    assert code == 2 and "KEY=VALUE" in err


def test_compare_marks_hardware_whose_engine_the_corpus_never_measured():
    # the default engine, vLLM, has rows on the H100 in the bundled corpus, none on the B200
    code, out, _ = run("compare", "-m", "llama-3.1-70b", "-H", "h100-sxm,b200")
    assert code == 0
    assert "b200*" in out and "h100-sxm*" not in out
    assert "* no measurement of its engine on that hardware" in out
    code, out, _ = run("compare", "-m", "llama-3.1-70b", "-H", "h100-sxm,b200", "--format", "csv")
    assert code == 0
    support = {line.split(",")[0]: line.rsplit(",", 1)[1] for line in out.strip().splitlines()[1:]}
    assert support == {"h100-sxm": "measured", "b200": "unmeasured"}


def test_an_ignored_engine_option_is_said_in_estimate_and_simulate_output():
    for cmd in (["estimate", "--concurrency", "8"], ["simulate", "--users", "4", "-n", "20"]):
        code, out, err = run(*cmd, "-m", "llama-3.1-8b", "-H", "h100-sxm", "--engine", "sglang",
                             "-O", "num_continuous_decode_steps=4")
        assert code == 0, err
        assert "num_continuous_decode_steps: accepted by sglang" in out and "ignored" in out


def test_plan_names_a_format_the_hardware_cannot_load():
    code, out, err = run("plan", "-m", "bitnet-b1.58-2b-4t", "--rate", "0.5", "--p90-tpot", "0.2",
                         "--class", "gpu", "--json")
    assert "cannot load i2_s" in out + err


def test_a_measurement_csv_with_a_header_only_is_bad_input(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text(PUBLISHED.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    code, _, err = run("validate", str(p))
    assert code == 2 and "no data rows" in err


def test_offline_run_figures_are_numbers_in_json_and_compare_names_output_throughput():
    code, out, _ = run("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--offline",
                       "--requests", "1000", "--json")
    run_ = json.loads(out)["offline_run"]
    assert code == 0 and run_["requests"] == 1000 and run_["seconds"] > 0 and run_["usd"] > 0
    code, out, _ = run("compare", "--model", "llama-3.1-8b", "-H", "h100-sxm")
    assert code == 0 and "out tok/s" in out and "tok/s total" not in out
