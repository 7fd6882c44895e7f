"""Issue 13: every input validated (exit 2, the limit named), units on durations, negative
answers exit 1, state that survives broken or read-only homes, output that fits a terminal."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from inferplan.catalog._load import data_path

from ..conftest import PUBLISHED
from . import HEAD, run

ROW = "r{i},s,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,{v},A,\n"


def _cfg(tmp_path: Path, **change) -> Path:
    cfg = json.loads(data_path("models", "llama-3.2-1b.json").read_text()) | change
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    return p


# --- flags -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-n", "4294967296"], "10000000"),
    (["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--batch", "0"], "--batch"),
    (["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--usd-per-hour", "nan"], "finite"),
    (["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--usd-per-hour", "inf"], "finite"),
    (["simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--rate", "-1"], "out of range"),
    (["simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--p90-tpot", "fast"], "duration"),
    (["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--devices", "0"], "between 1"),
    (["estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--tp", "99999"], "--tp"),
])
def test_bad_numbers_are_usage_errors_naming_the_limit(args, needle):
    code, _, err = run(*args)
    assert code == 2 and needle in err


def test_durations_take_units_and_implausible_slos_warn():
    base = ["simulate", "-m", "llama-3.2-1b", "-H", "h100-sxm", "-n", "50", "--json"]
    code, out, err = run(*base, "--p90-tpot", "50ms", "--p99-ttft", "1.5s")
    assert code in (0, 1) and "Warning" not in err
    slo = json.loads(out)["slo"]
    assert slo["p90_tpot_s"] == pytest.approx(0.05) and slo["p99_ttft_s"] == pytest.approx(1.5)
    code, out, err = run(*base, "--p90-tpot", "50")  # meant as ms: 50 s is implausible
    assert "--p90-tpot 50 s" in err and "did you mean ms" in err
    assert json.loads(out)["slo"]["p90_tpot_s"] == 50
    code, out, _ = run(*base, "--p90-e2e", "2m")
    assert json.loads(out)["slo"]["p90_e2e_s"] == 120


def test_estimate_defaults_like_compare():
    code, out, _ = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--json")
    d = json.loads(out)
    assert code == 0 and (d["input_len"], d["output_len"]) == (1024, 256)
    code, out, _ = run("compare", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--json")
    c = json.loads(out)
    assert code == 0 and (c["input_len"], c["output_len"]) == (d["input_len"], d["output_len"])


def test_version_and_shell_completion():
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("inferplan ")
    code, out, _ = run("--help")
    assert "--install-completion" in out and "--show-completion" in out


# --- config.json -------------------------------------------------------------------------------

@pytest.mark.parametrize("change, needle", [
    ({"hidden_size": -2048}, "hidden_size"),
    ({"num_attention_heads": 0}, "num_attention_heads"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"num_hidden_layers": 10**12}, "1,000"),  # bounded before any work (was 30 s, then MemoryError)
    ({"hidden_size": 1e400}, "hidden_size"),  # JSON's 1e400 is infinity
    ({"intermediate_size": [8192]}, "intermediate_size"),
    ({"vocab_size": "big"}, "vocab_size"),
    ({"num_key_value_heads": 5}, "multiple"),
])
def test_a_bad_config_json_is_an_input_error(tmp_path, change, needle):
    code, out, err = run("estimate", "-m", _cfg(tmp_path, **change), "-H", "h100-sxm")
    assert code == 2 and needle in err and out == ""


def test_folders_and_long_names_where_a_file_is_expected(tmp_path):
    assert run("estimate", "-m", tmp_path, "-H", "h100-sxm")[0] == 2
    assert run("estimate", "-m", "x" * 300 + ".json", "-H", "h100-sxm")[0] == 2
    assert run("validate", tmp_path)[0] == 2
    assert run("validate", "y" * 300 + ".csv")[0] == 2
    assert run("estimate", "-m", "llama-3.1-8b", "-H", "l4", "--calibration", tmp_path)[0] == 2


# --- CSV, calibration YAML, hardware YAML -------------------------------------------------------

def test_unreadable_csv_values_are_row_errors_and_low_coverage_exits_1(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text(HEAD + "".join(ROW.format(i=i, v=v) for i, v in enumerate(["", "unknown", "inf", "7.5"])))
    code, out, err = run("validate", p, "--json")
    d = json.loads(out)
    assert [r["status"] for r in d["rows"]] == ["error", "error", "error", "ok"]
    assert all(r["error"] for r in d["rows"][:3]) and d["rows"][0]["measured"] is None
    assert d["summary"]["coverage"] == 0.25 and code == 1 and "25% coverage" in err


def test_rows_off_by_more_than_2x_are_flagged(tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text(HEAD + ROW.format(i=0, v="0.5") + ROW.format(i=1, v="7.5"))
    code, out, _ = run("validate", p, "--json")
    rows = json.loads(out)["rows"]
    assert code == 0 and rows[0]["status"] == "over_2x" and rows[0]["ape"] > 2
    assert rows[1]["status"] == "ok"


@pytest.mark.parametrize("text, needle", [
    ("factors:\n  bw_eff:\n    default: {value: }\n", "bw_eff[default]"),
    ("factors:\n  bw_eff:\n    default: {value: fast}\n", "expected a number"),
    ("factors:\n  bw_eff:\n    default: {value: .nan}\n", "outside"),
    ("factors:\n  bw_eff: [1, 2]\n", "mapping"),
    ("factors: {bw_eff: [\n", "invalid YAML"),
])
def test_a_bad_calibration_profile_is_an_input_error(tmp_path, text, needle):
    p = tmp_path / "profile.yaml"
    p.write_text(text)
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--calibration", p)
    assert code == 2 and needle in err


def test_hardware_override_with_infinite_memory_is_an_input_error(tmp_path):
    p = tmp_path / "hw.yaml"
    p.write_text("- id: h100-sxm\n  override: true\n  memory_bytes: .inf\n")
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--hardware-file", p)
    assert code == 2 and "memory_bytes" in err and "finite" in err


# --- negative answers --------------------------------------------------------------------------

def test_simulate_with_nothing_served_exits_1_with_the_reason():
    code, out, err = run("simulate", "-m", "llama-3.2-1b", "-H", "h100-sxm", "-n", "30",
                         "--kv-blocks", "1", "--json")
    assert code == 1 and json.loads(out)["metrics"]["completed"] == 0
    assert "no request was served" in err and "rejected" in err


def test_simulate_warns_under_overload():
    code, _, err = run("simulate", "-m", "llama-3.1-8b", "-H", "l4", "-n", "300", "--rate", "200")
    assert code == 0 and "overloaded" in err and ("queue wait" in err or "analytic" in err)


# --- state -------------------------------------------------------------------------------------

@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/ not next to the repo")
def test_calibrate_never_replaces_a_profile_silently(tmp_path, _home):
    few = tmp_path / "few.csv"
    few.write_text("".join(PUBLISHED.read_text(encoding="utf-8").splitlines(keepends=True)[:9]))
    args = ["calibrate", few, "--cv", "kfold", "--name", "mine"]
    assert run(*args)[0] == 0
    prof = _home / "profiles" / "mine.yaml"
    first = prof.read_text()
    code, _, err = run(*args)
    assert code == 2 and "already exists" in err and "--force" in err and prof.read_text() == first
    code, _, err = run(*args, "--force")
    assert code == 0 and (_home / "profiles" / "mine.prev.yaml").read_text() == first
    assert not list((_home / "profiles").glob(".*.tmp"))  # atomic writes leave no temporaries
    assert run("calibration", "list", "--json")[1].count("mine") == 2  # name + path, not .prev


@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/ not next to the repo")
def test_a_home_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {"INFERPLAN_HOME": str(blocker / "home")}  # nothing can be created under a file
    assert run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", env=env)[0] == 0
    code, out, err = run("history", "--json", env=env)
    assert code == 0 and json.loads(out) == {"runs": []}
    code, out, err = run("validate", PUBLISHED, "--json", env=env)  # result printed, history warns
    assert code == 0 and json.loads(out)["summary"]["rows"] > 0 and "not recorded" in err
    few = tmp_path / "few.csv"
    few.write_text("".join(PUBLISHED.read_text(encoding="utf-8").splitlines(keepends=True)[:9]))
    code, out, err = run("calibrate", few, "--cv", "kfold", env=env)
    assert code == 2 and "cross-validated" in out  # results first, then a clean failure
    assert "cannot write" in err and "kept at" in err


def test_a_corrupt_history_is_moved_aside(_home):
    (_home / "history.db").write_bytes(b"this is not sqlite" * 100)
    code, out, err = run("history", "--json")
    assert code == 0 and json.loads(out) == {"runs": []}
    assert "moved it to history.db.corrupt-" in err
    assert list(_home.glob("history.db.corrupt-*")) and (_home / "history.db").exists()


def test_a_broken_user_hardware_file_is_skipped_with_a_warning(_home):
    (_home / "hardware").mkdir()
    (_home / "hardware" / "broken.yaml").write_text("- id: x\n  memory_gb: [\n")
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm")
    assert code == 0 and "Warning" in err and "broken.yaml" in err


# --- terminal ----------------------------------------------------------------------------------

def test_compare_fits_80_columns():
    code, out, _ = run("compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,l4,mi300x",
                       env={"COLUMNS": "80"})
    lines = out.rstrip("\n").splitlines()
    assert code == 0 and len(lines) <= 10, out
    assert max(len(x) for x in lines) <= 80
    assert "hardw/are" not in out and any("h100-sxm" in x for x in lines)


def test_one_number_format():
    code, out, _ = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm")
    assert code == 0
    assert not re.search(r"\d[eE][+-]?\d", out), out  # no scientific notation anywhere
    assert re.search(r"prefill tok/s +\d{1,3},\d{3}\b", out), out  # thousands grouped
    from inferplan.units import fmt_num

    assert [fmt_num(x) for x in (1260.0, 30573.0, 1.26e6, 0.5, 4.2e-6)] == \
        ["1,260", "30,573", "1.26 M", "0.5", "4.2 µ"]


@pytest.mark.parametrize("args", [["models"], ["hardware"], ["precisions"], ["engines"],
                                  ["compare", "-m", "llama-3.1-8b", "-H", "h100-sxm,l4"],
                                  ["fit", "-m", "llama-3.1-8b", "--class", "gpu"], ["history"],
                                  ["calibration", "list"]])
def test_listing_commands_speak_table_json_and_csv(args):
    code, out, _ = run(*args, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.count("\n") == len(rows) + 1
    code, out, _ = run(*args, "--format", "json")
    data = json.loads(out)
    assert code == 0 and isinstance(data, dict) and any(isinstance(v, list) for v in data.values())
    code, table, _ = run(*args, "--format", "table")
    assert code == 0 and table.strip()
    if rows:  # the table shows the CSV's first row
        first = next(v for v in rows[0].values() if v)
        assert first[:12] in table
    assert run(*args, "--format", "xml")[0] == 2


def test_hardware_show_is_readable():
    code, out, _ = run("hardware", "show", "h100-sxm")
    fields, sources = out.split("sources:")
    assert code == 0 and "{" not in fields and "': " not in fields  # no dict reprs
    assert "GB" in fields and "TB/s" in fields and "FLOP/s" in fields and " W" in fields
    assert "memory_bytes:" in sources  # every field's source, one per line
    year = next(line for line in fields.splitlines() if line.startswith("release_year"))
    assert year.split()[1] == "2022"  # a year, not the quantity 2,022


def test_loadtest_against_no_server_or_a_non_openai_server_is_an_input_error():
    import http.server
    import socket
    import threading

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    code, _, err = run("loadtest", "--endpoint", f"http://127.0.0.1:{free}", "-n", "1")
    assert code == 2 and "cannot reach" in err and "/v1/completions" in err

    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>not an API</html>")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        code, _, err = run("loadtest", "--endpoint", f"http://127.0.0.1:{srv.server_address[1]}",
                           "-n", "1")
    finally:
        srv.shutdown()
    assert code == 2 and "not an OpenAI-compatible server" in err


def test_a_long_free_text_cell_never_squeezes_out_the_number_columns():
    from rich.console import Console

    from inferplan.cli.render import COMPARE_COLS, fit_table

    row = ["1", "cerebras-cs3", "4", "3.8 ms", "715 µs", "1,400", "22,015", "$2.66", "1.64",
           "overhead", "pipeline of 4 stages " + "x" * 300]
    t, hidden = fit_table(COMPARE_COLS, [row], total=200)
    assert hidden == []
    out = Console(width=200, record=True)
    out.print(t)
    text = out.export_text()
    for header in ("TTFT", "TPOT", "$/1M out", "J/tok", "bound"):
        assert header in text
    assert max(len(line) for line in text.splitlines()) <= 200


def test_calibration_list_shows_each_profiles_provenance_and_flags_junk(tmp_path):
    import json as _json

    home = tmp_path / "home"
    (home / "profiles").mkdir(parents=True)
    (home / "profiles" / "junk.yaml").write_text(":::: bad\n")
    (home / "profiles" / "ok.yaml").write_text(
        "factors: {}\nprovenance: {date: '2026-12-06', rows: 8, fitted_on: [lab.csv],\n"
        "  error_cross_validated: {median_ape: 0.118}}\n")
    env = {"INFERPLAN_HOME": str(home)}
    code, out, _ = run("calibration", "list", "--json", env=env)
    rows = {r["name"]: r for r in _json.loads(out)["profiles"]}
    assert code == 0 and rows["junk"]["problem"].startswith("not a profile")
    assert rows["ok"]["rows"] == 8 and rows["ok"]["cv_median_ape"] == 0.118 and rows["ok"]["fitted_on"] == "lab.csv"
    code, out, _ = run("calibration", "list", env=env)
    assert code == 0 and "11.8%" in out and "not a profile" in out
    code, out, _ = run("calibration", "show", "ok.yaml", env=env)  # the file name list shows
    assert code == 0 and "lab.csv" in out


def test_history_shows_a_failed_runs_error_and_absolute_paths(tmp_path, monkeypatch):
    code, out, _ = run("history", "--format", "csv")  # empty: still the header
    assert code == 0 and out.startswith("id,kind,status") and "error" in out.splitlines()[0]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,source\n1,x\n")
    monkeypatch.chdir(tmp_path)
    assert run("validate", "bad.csv")[0] == 2
    code, out, _ = run("history")
    assert code == 0 and "error: " in out and "missing columns" in out
    run_doc = json.loads(run("history", "--json")[1])["runs"][0]
    assert run_doc["status"] == "error" and "missing columns" in run_doc["error"]
    assert run_doc["args"]["data"] == str(bad)
