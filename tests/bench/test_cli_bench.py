"""`inferplan bench` and `inferplan history`; validate and calibrate runs land in the history."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

from ..conftest import PUBLISHED

runner = CliRunner()


def run(*args):
    r = runner.invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def test_empty_history_says_how_runs_get_there():
    code, out, _ = run("history")
    assert code == 0 and "no runs recorded yet" in out
    code, out, _ = run("history", "--json")
    assert code == 0 and json.loads(out) == {"runs": []}


def test_unknown_run_exits_2_with_a_hint():
    code, _, err = run("history", "show", "7")
    assert code == 2 and "no run 7" in err and "inferplan history" in err


@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/ not next to the repo")
def test_validate_and_calibrate_runs_are_recorded_with_their_rows(tmp_path):
    code, _, _ = run("validate", PUBLISHED, "--json")
    assert code == 0
    runs = json.loads(run("history", "--json")[1])["runs"]
    assert [r["kind"] for r in runs] == ["validate"]
    assert runs[0]["rows"] == 84 and runs[0]["summary"]["median_ape"] > 0
    code, out, _ = run("history", "show", runs[0]["id"], "--json")
    assert code == 0
    one = json.loads(out)
    assert len(one["row_data"]) == 84 and one["args"]["data"] == str(PUBLISHED)
    few = tmp_path / "few.csv"  # a small file keeps the fit quick
    few.write_text("".join(PUBLISHED.read_text(encoding="utf-8").splitlines(keepends=True)[:13]))
    code, _, _ = run("calibrate", few, "--cv", "kfold", "--out", tmp_path / "p.yaml")
    assert code == 0
    cal = json.loads(run("history", "--kind", "calibrate", "--json")[1])["runs"][0]
    assert cal["summary"]["median_ape_cross_validated"] > 0 and cal["rows"] == 12
    code, _, _ = run("validate", tmp_path / "missing.csv")
    assert code == 2
    assert json.loads(run("history", "--json")[1])["runs"][0]["status"] == "error"


def test_quick_bench_with_llamacpp_records_rows_that_validate(tmp_path, tiny_config):
    pytest.importorskip("llama_cpp")
    out = tmp_path / "rows.csv"
    code, stdout, err = run("bench", "--quick", "--no-gpu", "--llamacpp", "--model", tiny_config,
                            "--qtypes", "q4_0,tq2_0", "--prefill", 16, "--decode", 4,
                            "--out", out, "--json")
    assert code == 0, err
    res = json.loads(stdout)
    assert res["cpu"]["bandwidth"] and res["llamacpp"]["points"] and len(res["rows"]) == 4
    assert res["csv"] == str(out) and (tmp_path / "tiny-llama.json").exists()
    run_id = res["run_id"]
    rec = json.loads(run("history", "show", run_id, "--json")[1])
    assert rec["kind"] == "bench" and len(rec["row_data"]) == 4
    assert rec["summary"]["hardware_id"] == res["hardware_id"]
    code, out_v, _ = run("validate", out, "--json")
    assert code == 0
    assert all(r["status"] in ("ok", "over_2x") for r in json.loads(out_v)["rows"])  # predicted


def test_gpu_flag_without_torch_is_an_input_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = run("bench", "--quick", "--gpu")
    assert code == 2 and "inferplan[gpu]" in err
    runs = json.loads(run("history", "--json")[1])["runs"]
    assert runs[0]["status"] == "error"


@pytest.mark.parametrize("kw,needle", [
    (dict(model="nosuch"), "unknown model 'nosuch'"),
    (dict(llamacpp=True, qtypes="q4_0,q9_9"), "unknown precision 'q9_9'"),
    # a catalog precision the bench cannot write was refused only after the CPU/GPU benches ran
    (dict(llamacpp=True, qtypes="q4_0,fp8"), "unknown qtype"),
    (dict(hardware="nosuchhw"), "unknown hardware 'nosuchhw'"),
    (dict(gpu=True, engine="nosuch-engine"), "unknown engine"),
])
def test_bench_refuses_bad_options_before_measuring(kw, needle):
    from inferplan.bench.run import BenchOptions, check_options
    from inferplan.errors import InputError

    with pytest.raises(InputError, match=needle):
        check_options(BenchOptions(**kw))


def test_bench_refuses_an_out_it_cannot_write_before_measuring(tmp_path):
    from inferplan.bench.run import BenchOptions, check_options
    from inferplan.errors import InputError

    with pytest.raises(InputError, match="is a folder"):
        check_options(BenchOptions(out=tmp_path))
    with pytest.raises(InputError, match="cannot write there"):
        check_options(BenchOptions(out=tmp_path / "missing" / "rows.csv"))
    check_options(BenchOptions(out=tmp_path / "rows.csv"))  # fine


def test_ctrl_c_keeps_the_rows_measured_before_it_and_records_the_run(tmp_path, tiny_config, monkeypatch):
    pytest.importorskip("llama_cpp")
    from inferplan.bench import llamacpp

    timed = llamacpp.Timed(rates=[100.0, 101.0], background=[0.0, 0.0], tries=2)

    def fake(path, **kw):  # q4_0 measures, then the user presses Ctrl-C during tq2_0
        if "tq2_0" in path.name:
            raise KeyboardInterrupt
        return timed, timed, 0.1

    monkeypatch.setattr(llamacpp, "measure_isolated", fake)
    out = tmp_path / "rows.csv"
    code, _, err = run("bench", "--quick", "--no-gpu", "--llamacpp", "--model", tiny_config,
                       "--qtypes", "q4_0,tq2_0", "--prefill", 16, "--decode", 4, "--reps", 2,
                       "--out", out)
    assert code == 130 and "interrupted (Ctrl-C)" in err and str(out) in err
    assert len(out.read_text().splitlines()) == 3  # header + q4_0's prefill and decode rows
    last = json.loads(run("history", "--json")[1])["runs"][0]
    assert last["kind"] == "bench" and last["status"] == "error" and "interrupted" in last["error"]
