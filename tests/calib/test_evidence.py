"""calib/evidence.py: the bundled measurements nearest to a configuration, with held-out errors."""

import csv
import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from inferplan.calib.corpus import bundled_csvs
from inferplan.calib.evidence import (
    HELDOUT_PATH,
    Query,
    heldout_predictions,
    nearest,
    query_for,
    row_distance,
)
from inferplan.cli.main import app
from inferplan.perf.estimate import estimate

# InferenceX row ixf-040: DeepSeek-R1 FP8 on 8 MI355X, SGLang, 64 clients, 922/922 tokens
MI355X_ROW = Query(model_id="deepseek-r1", active_params=37e9, moe=True, hardware_id="mi355x",
                   hw_class="gpu", vendor="AMD", architecture="amd-cdna4", engine_line="sglang",
                   weight_bits=8.0, weight_precision="fp8", mode="concurrency", batch=64,
                   input_len=922, output_len=922, devices=8)


def _corpus_keys() -> set[str]:
    keys = set()
    for p in bundled_csvs():
        with p.open(newline="", encoding="utf-8") as f:
            keys |= {f"{p.name}|{r['source']}|{r['id']}" for r in csv.DictReader(f)}
    return keys


def test_the_saved_heldout_predictions_belong_to_the_bundled_corpus():
    """A stale file (rows renamed or removed since tools/calibrate_default.py ran) would show a
    row another row's held-out prediction."""
    method, pred = heldout_predictions()
    corpus = _corpus_keys()
    assert set(pred) <= corpus
    assert len(pred) >= 0.99 * len(corpus)  # the rest: rows the catalog cannot plan
    assert "leave-one-source-out" in method
    assert HELDOUT_PATH.parent.name == "data"  # shipped with the package


def test_the_measured_configuration_itself_comes_first_with_its_heldout_prediction():
    ev = nearest(MI355X_ROW, 6)
    first = ev.rows[0]
    assert first.distance == 0.0
    assert (first.model, first.hardware, first.engine, first.batch) == ("deepseek-r1", "mi355x", "sglang", 64)
    _, pred = heldout_predictions()
    assert first.predicted_heldout == pred[f"inferencex-fixture.csv|inferencex-fixture|{first.id}"]
    assert first.ratio == pytest.approx(first.predicted_heldout / first.measured)
    assert [m.distance for m in ev.rows] == sorted(m.distance for m in ev.rows)
    assert ev.median_ape is not None and ev.median_ape >= 0


def test_another_hardware_class_is_never_shown():
    cpu = replace(MI355X_ROW, hardware_id="epyc-9654", hw_class="cpu", vendor="AMD", architecture=None)
    assert all(m.hardware != "mi355x" for m in nearest(cpu, 20).rows)
    assert row_distance(cpu, {"hardware_id": "mi355x"}) is None


def test_every_mismatch_costs_distance():
    raw = {"hardware_id": "mi355x", "model_id": "deepseek-r1", "engine": "sglang",
           "weight_precision": "fp8", "num_devices": "8", "mode": "concurrency", "batch": "64",
           "input_len": "922", "output_len": "922", "metric": "ttft_ms"}
    base = row_distance(MI355X_ROW, raw)
    assert base == 0.0
    for field, value in (("hardware_id", "mi300x"), ("model_id", "llama-3.1-8b"), ("engine", "vllm"),
                         ("weight_precision", "mxfp4"), ("num_devices", "4"), ("batch", "4"),
                         ("input_len", "7373"), ("mode", "offline_max")):
        assert row_distance(MI355X_ROW, raw | {field: value}) > base, field


def test_the_nearest_rows_come_first_whatever_their_source():
    """Relevance first: the list is the k nearest rows (no quota per source pushes a nearer
    row of the same benchmark out for a farther one of another)."""
    many = nearest(MI355X_ROW, 40).rows
    few = nearest(MI355X_ROW, 6).rows
    assert [m.id for m in few] == [m.id for m in many[:6]]
    assert max(m.distance for m in few) <= min(m.distance for m in many[6:])


def test_query_of_an_estimate_reads_its_settings():
    est = estimate("llama-3.1-70b", "h100-sxm", devices=4, mode="concurrency", batch=32)
    q = query_for(est)
    assert (q.hardware_id, q.engine_line, q.devices, q.batch, q.moe) == ("h100-sxm", "vllm", 4, 32, False)
    assert q.active_params == pytest.approx(70.6e9, rel=0.02)


def test_estimate_evidence_flag_adds_rows_to_json_and_text():
    runner = CliRunner()
    args = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--evidence", "3"]
    r = runner.invoke(app, args + ["--json"])
    assert r.exit_code == 0, r.stdout
    d = json.loads(r.stdout)
    rows = d["evidence"]["rows"]
    assert len(rows) == 3 and all(x["hardware"] != "" for x in rows)
    assert {"source", "measured", "predicted_heldout", "ape", "distance", "where"} <= set(rows[0])
    assert "ttft_s" in d  # the contract's fields stay
    plain = runner.invoke(app, args[:-2] + ["--json"])
    assert "evidence" not in json.loads(plain.stdout)
    text = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert text.exit_code == 0 and "nearest published measurements" in text.stdout
    assert "held-out" in text.stdout


def test_another_vendors_asic_is_not_evidence_and_the_counts_say_what_is_on_the_device():
    """Gaudi, Trainium and SN40L share the class 'asic', not a design: evidence for a SambaNova
    estimate shows none of the others; a Gaudi 3 one says how many rows are on Gaudi 3 itself."""
    sn = replace(MI355X_ROW, hardware_id="sn40l", hw_class="asic", vendor="SambaNova", architecture=None,
                 engine_line="sambanova", model_id="llama-3.1-70b", moe=False, active_params=70e9)
    assert nearest(sn, 10).rows == []
    g3 = replace(sn, hardware_id="gaudi3", vendor="Intel", engine_line="vllm")
    ev = nearest(g3, 6)
    assert ev.rows and all(m.hardware in ("gaudi3", "gaudi2") for m in ev.rows)
    assert ev.on_hardware == sum(m.hardware == "gaudi3" for m in ev.rows) and ev.on_vendor == len(ev.rows)
