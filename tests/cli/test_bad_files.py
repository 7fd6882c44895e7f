"""Bad files and values a user can hand the CLI: a one-line error and a non-zero exit, never a
traceback (a review's findings: traces, workload files, --base, endpoints, hardware files)."""

from __future__ import annotations

import pytest

from . import run

SIM = ("simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-n", "20")


def _file(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("name,data,says", [
    ("bin.csv", b"\xff\xfe garbage", "not a UTF-8"),
    ("inf.csv", b"arrival_s,input_tokens,output_tokens\n0,1e999,50\n", "not a finite number"),
    ("nan.csv", b"arrival_s,input_tokens,output_tokens\nnan,10,50\n", "not a finite number"),
    ("list.jsonl", b'{"arrival_s": 0, "input_tokens": [1], "output_tokens": 3}\n', "not a finite number"),
    ("arr.jsonl", b"[1, 2]\n", "JSON object"),
    ("cv.yaml", b"arrivals: {kind: gamma, rate: 1, cv: 1.0e+200}\ninput: {value: 10}\noutput: {value: 10}\n",
     "arrivals.cv"),
    ("think.yaml", b"arrivals: {kind: closed, users: 2, think_time_s: .inf}\ninput: {value: 10}\n"
                   b"output: {value: 10}\n", "think_time_s"),
    ("neg.yaml", b"arrivals: {kind: poisson, rate: 1}\ninput: {kind: uniform, low: 9, high: 3}\n"
                 b"output: {value: 10}\n", "low must be <= high"),
])
def test_a_bad_workload_or_trace_is_one_line_naming_what_is_wrong(tmp_path, name, data, says):
    code, out, err = run(*SIM, "-w", str(_file(tmp_path, name, data)))
    assert code != 0 and says in err and "Traceback" not in err + out


def test_a_trace_folder_and_a_bom_csv(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    code, _, err = run(*SIM, "-w", str(tmp_path / "dir.csv"))
    assert code != 0 and "folder" in err
    bom = _file(tmp_path, "bom.csv", b"\xef\xbb\xbfarrival_s,input_tokens,output_tokens\n0,10,5\n1,20,5\n")
    code, out, err = run(*SIM, "-w", str(bom))
    assert code == 0, err  # Excel's byte-order mark is not part of the first column's name


def test_calibrate_base_must_be_a_profile(tmp_path):
    from inferplan.calib.corpus import bundled_csvs

    data = str(next(p for p in bundled_csvs() if p.name == "published.csv"))
    for body in (b"factors: 5\n", b"- 1\n", b""):
        base = _file(tmp_path, "base.yaml", body)
        code, _, err = run("calibrate", data, "--name", "t", "--base", str(base))
        assert code != 0 and "not an efficiency profile" in err, err


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:abc", "http://127.0.0.1:99999"])
def test_an_endpoint_that_is_not_a_url_is_refused(url):
    code, _, err = run("loadtest", "--endpoint", url, "-n", "1")
    assert code != 0 and "http(s) URL" in err and "Traceback" not in err


def test_an_endpoint_with_the_openai_route_is_the_same_server():
    from inferplan.loadtest.client import check_endpoint

    assert check_endpoint("http://127.0.0.1:8000/v1/completions") == "http://127.0.0.1:8000"
    assert check_endpoint("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000"


@pytest.mark.parametrize("entry,says", [
    ("- id: h100-sxm\n  override: true\n  peak_flops: {bf16: 0}\n", "greater than 0"),
    ("- id: h100-sxm\n  override: true\n  peak_flops: {bf16: -1}\n", "greater than 0"),
    ("- id: epyc-9755\n  override: true\n  cores: -3\n", "cores"),
])
def test_hardware_files_refuse_impossible_peaks_and_cores(tmp_path, entry, says):
    hw = _file(tmp_path, "hw.yaml", entry.encode())
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", entry.split("id: ")[1].split("\n")[0],
                       "--hardware-file", str(hw))
    assert code != 0 and says in err


def test_an_option_of_another_engine_is_refused_not_applied():
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "l4", "-O", "scheduler_recv_interval=50")
    assert code != 0 and "sglang" in err and "vllm has no such option" in err
    code, _, _ = run("estimate", "-m", "llama-3.1-8b", "-H", "l4", "--engine", "sglang",
                     "-O", "scheduler_recv_interval=50")
    assert code == 0


@pytest.mark.parametrize("args", [
    ("plan", "-m", ",", "--rate", "1", "--p90-tpot", "1s"),
    ("plan", "-m", "llama-3.1-8b", "-H", "", "--rate", "1", "--p90-tpot", "1s"),
    ("compare", "-m", "llama-3.1-8b", "-H", ""),
    ("fit", "-m", "llama-3.1-8b", "-H", ""),
])
def test_an_empty_list_names_nothing_instead_of_everything(args):
    code, _, err = run(*args)
    assert code != 0 and ("names no ids" in err or "no hardware named" in err)


def test_calibration_show_refuses_what_is_not_a_profile(tmp_path):
    for body in (b"- 1\n", b"factors: 5\n", b"id,model_id\n1,2\n"):
        p = _file(tmp_path, "x.yaml", body)
        for json_flag in ((), ("--json",)):
            code, _, err = run("calibration", "show", str(p), *json_flag)
            assert code != 0 and "profile" in err, err


def test_a_profile_name_may_not_be_a_backup_name(tmp_path):
    data = _file(tmp_path, "d.csv", b"id,model_id,hardware_id,metric,value\n")
    code, _, err = run("calibrate", str(data), "--name", "mine.prev")
    assert code != 0 and ".prev" in err


def test_zero_think_time_is_a_closed_loop_without_pauses():
    code, _, err = run(*SIM, "--users", "2", "--think-time", "0")
    assert code == 0, err


def test_engine_option_messages_speak_the_users_terms():
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "rtx-4090", "-O", "n_cpu_moe=3")
    assert code != 0 and "is dense" in err and "--offload" not in err
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-O", "max_num_seqs=0")
    assert code != 0 and "given: max_num_seqs=0" in err and "{" not in err


def test_a_config_whose_architectures_is_a_string_is_refused(tmp_path):
    import json

    body = {"architectures": "LlamaForCausalLM", "model_type": "llama", "hidden_size": 4096,
            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "intermediate_size": 14336, "vocab_size": 128256}
    p = _file(tmp_path, "config.json", json.dumps(body).encode())
    code, _, err = run("estimate", "-m", str(p), "-H", "h100-sxm")
    assert code != 0 and "architectures must be a list" in err


def test_a_validate_that_exits_1_for_low_coverage_is_an_error_in_the_history(tmp_path):
    import json

    from . import HEAD

    rows = "".join(f"u{i},s,no-such-model,h100-sxm,1,1,1,,bf16,,vllm,batch,1,128,128,tpot_ms,10,B,\n"
                   for i in range(3))
    data = _file(tmp_path, "v.csv", (HEAD + rows).encode())
    code, _, _ = run("validate", str(data))
    assert code == 1
    runs = [r for r in json.loads(run("history", "--json")[1])["runs"] if r["kind"] == "validate"]
    assert runs and runs[0]["status"] == "error"


def test_compare_says_when_threads_or_slots_apply_to_no_row():
    code, _, err = run("compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,b200", "--threads", "8", "--slots", "2")
    assert code == 0 and "--threads applies to CPU rows" in err and "--slots applies" in err
    code, _, err = run("compare", "-m", "llama-3.2-1b", "-H", "ryzen-9-7950x", "--threads", "8", "--slots", "2")
    assert code == 0 and "Warning" not in err
