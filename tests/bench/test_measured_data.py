"""The committed llama.cpp measurements stay usable: every row predicted, calibration helps."""

from __future__ import annotations

import csv

from inferplan.calib.dataset import COLUMNS
from inferplan.calib.validate import validate_csv

from ..conftest import REPO

DATA = REPO / "benchmarks" / "data"
CSV = DATA / "llamacpp-cpu-2026-11-27.csv"
HW = (DATA / "dev-epyc-genoa-2vcpu.yaml",)
PROFILE = DATA / "llamacpp-cpu-2026-11-27.profile.yaml"


def test_rows_follow_the_schema_and_state_their_conditions():
    with open(CSV, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    assert {r["weight_precision"] for r in rows} == {"f16", "q8_0", "q4_0", "tq2_0", "tq1_0"}
    assert all("threads=" in r["notes"] and "background_cpu=" in r["notes"] for r in rows)


def test_every_row_is_predicted_and_the_fitted_profile_lowers_the_error():
    before = validate_csv(CSV, hardware_files=HW, record_history=False)
    after = validate_csv(CSV, calibration=PROFILE, hardware_files=HW, record_history=False)
    assert before.summary.coverage == after.summary.coverage == 1.0
    assert after.summary.median_ape < before.summary.median_ape
