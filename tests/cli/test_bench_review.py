"""Defects a walkthrough of measure -> calibrate -> use found (session 28), pinned at the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from inferplan.perf.efficiency import default_profile_path

from . import HEAD, run

ROW = "r{i},lab,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,{v},A,\n"


def test_a_csv_without_columns_that_change_the_prediction_warns(tmp_path):
    cols = HEAD.strip().split(",")
    keep = [c for c in cols if c not in ("weight_precision", "engine")]
    lines = [",".join(keep) + "\n"]
    for i in range(2):
        vals = dict(zip(cols, ROW.format(i=i, v=7.0).strip().split(","), strict=True))
        lines.append(",".join(vals[c] for c in keep) + "\n")
    data = tmp_path / "partial.csv"
    data.write_text("".join(lines))
    code, _, err = run("validate", data)
    assert code == 0 and "Warning: partial.csv: no weight_precision, engine columns" in err
    full = tmp_path / "full.csv"
    full.write_text(HEAD + ROW.format(i=0, v=7.0))
    assert "Warning" not in run("validate", full)[2]


def test_calibration_takes_a_profile_name_as_calibration_show_does():
    profiles = Path(os.environ["INFERPLAN_HOME"]) / "profiles"  # the hermetic home (conftest)
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copy(default_profile_path(), profiles / "mine.yaml")
    args = ("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--json")
    code, out, _ = run(*args, "--calibration", "mine")
    assert code == 0 and json.loads(out)["assumptions"]["efficiency_profile"] != "default"
    code, _, err = run(*args, "--calibration", "nosuch")
    assert code == 2 and "no profile 'nosuch'" in err


def test_calibrate_refuses_an_out_it_cannot_write_before_fitting(tmp_path):
    data = tmp_path / "m.csv"
    data.write_text(HEAD + "".join(ROW.format(i=i, v=7 + i / 10) for i in range(4)))
    code, _, err = run("calibrate", data, "--out", tmp_path / "missing" / "p.yaml")
    assert code == 2 and "cannot write there" in err
    runs = json.loads(run("history", "--json")[1])["runs"]
    assert not [r for r in runs if r["kind"] == "calibrate" and r["status"] == "ok"]
