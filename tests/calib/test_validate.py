"""validate: reads others' datasets (unknown engines, oversized batches), LOSO, intervals."""

import csv
import json

import numpy as np

from inferplan.calib.calibrate import priors_only
from inferplan.calib.corpus import CORPUS_DIR, regime
from inferplan.calib.dataset import load_dataset
from inferplan.calib.fastpred import build_corpus_model
from inferplan.calib.fit import fit_model
from inferplan.calib.nested import (
    averaged_loso,
    choose_prior_scale,
    fit_averaged,
    grouped_folds,
    nested_loso,
)
from inferplan.calib.validate import validate_csv
from inferplan.catalog._load import load_yaml
from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict
from inferplan.perf.estimate import estimate

COLS = ["id", "source", "model_id", "hardware_id", "num_devices", "tp", "pp", "ep",
        "weight_precision", "kv_precision", "engine", "mode", "batch", "input_len",
        "output_len", "metric", "value", "reliability", "notes"]


def _write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLS)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLS})


def _row(**kw):
    base = dict(id="r1", source="s", model_id="llama-3.1-8b", hardware_id="h100-sxm", num_devices=1,
                weight_precision="bf16", engine="vllm", mode="batch", batch=1, input_len=128,
                output_len=128, metric="decode_tok_s_per_user", value=100, reliability="B")
    base.update(kw)
    return base


def test_unknown_engine_falls_back_to_the_default_with_a_note(tmp_path):
    p = tmp_path / "d.csv"
    _write(p, [_row(engine="inhouse-engine")])
    rep = validate_csv(p)
    r = rep.rows[0]
    assert r.predicted is not None
    assert any("unknown engine 'inhouse-engine'" in n for n in r.notes)


def test_an_unknown_engine_falls_back_to_the_default_as_it_ran_at_the_row_date(tmp_path):
    # a 2023 row of an engine we do not know is predicted with vLLM as it was then (eager decode)
    p = tmp_path / "d.csv"
    _write(p, [_row(engine="inhouse-engine", notes="date=2023-10"),
               _row(id="r2", engine="inhouse-engine", notes="date=2026-03")])
    old, new = validate_csv(p).rows
    assert any("predicted with vllm-2023" in n for n in old.notes)
    assert any("predicted with vllm" in n and "vllm-20" not in n for n in new.notes)
    assert old.predicted is not None and new.predicted is not None and old.predicted < new.predicted


def test_batch_beyond_the_kv_cache_is_capped_and_queued(tmp_path):
    p = tmp_path / "d.csv"
    _write(p, [_row(batch=4096, input_len=4096,
                    output_len=1024, metric="output_tok_s", value=5000)])
    rep = validate_csv(p)
    r = rep.rows[0]
    assert r.status in ("ok", "over_2x"), r.error  # predicted (the value is made up)
    assert any("capped and queued" in n for n in r.notes)


def test_validate_rows_carry_an_interval_and_the_summary_its_level(tmp_path):
    p = tmp_path / "d.csv"
    _write(p, [_row()])
    rep = validate_csv(p)
    r = rep.rows[0]
    assert r.predicted_low < r.predicted < r.predicted_high
    assert rep.summary.interval_level == 0.8
    assert rep.summary.by_regime and r.regime == "decode-b1"


def test_regimes():
    assert regime("offline_max", None, "throughput", 1024, 1024) == "offline"
    assert regime("concurrency", 64, "decode", 1024, 1024) == "concurrency"
    assert regime("batch", 1, "prefill", 1024, 1) == "prefill"
    assert regime("batch", 1, "decode", 0, 128) == "decode-b1"
    assert regime("batch", 16, "throughput", 512, 512) == "batch"


def test_grouped_folds_split_sources_not_rows():
    folds = grouped_folds(["a", "b", "c", "a", "d"], 3)
    assert sorted(s for f in folds for s in f) == ["a", "b", "c", "d"]


def test_nested_loso_never_fits_on_the_held_out_source(monkeypatch):
    rows = [r for r in load_dataset(CORPUS_DIR / "published.csv") if r.plan is not None]
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    model = build_corpus_model(rows, prior)
    sources = np.array([r.source for r in model.rows])
    import inferplan.calib.nested as nested

    seen = []
    real_fit = nested.fit_model

    def spy(m, subset, **kw):
        seen.append(set(sources[subset]))
        return real_fit(m, subset, **kw)

    monkeypatch.setattr(nested, "fit_model", spy)
    monkeypatch.setattr(nested, "PRIOR_SCALES", (1.0,))
    cv = nested_loso(model, scales=(0.5, 1.0), inner_k=2)
    held = sorted(set(sources))
    # every fit made while a source is held out excludes it: fits come in blocks per outer fold
    per_fold = len(seen) // len(held)
    for i, src in enumerate(held):
        for s in seen[i * per_fold:(i + 1) * per_fold]:
            assert src not in s
    assert np.isfinite(cv.pred).all()
    assert set(cv.chosen_scale) == set(held)


def _published_model():
    rows = [r for r in load_dataset(CORPUS_DIR / "published.csv") if r.plan is not None]
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    return build_corpus_model(rows, prior)


def test_averaged_loso_never_fits_on_the_held_out_source(monkeypatch):
    model = _published_model()
    sources = np.array([r.source for r in model.rows])
    import inferplan.calib.nested as nested

    seen = []
    real_fit = nested.fit_model

    def spy(m, subset, **kw):
        seen.append((set(sources[subset]), kw["prior_scale"]))
        return real_fit(m, subset, **kw)

    monkeypatch.setattr(nested, "fit_model", spy)
    cv = averaged_loso(model, scales=(0.5, 2.0))
    held = sorted(set(sources))
    assert len(seen) == 2 * len(held)  # one fit per width per held-out source, nothing chosen
    for i, src in enumerate(held):
        assert [w for _, w in seen[2 * i:2 * i + 2]] == [0.5, 2.0]
        for s, _ in seen[2 * i:2 * i + 2]:
            assert src not in s and s == set(held) - {src}
    assert np.isfinite(cv.pred).all() and cv.chosen_scale == {}
    assert "no hyperparameter tuned" in cv.method


def test_fit_averaged_is_the_log_mean_of_the_fits_at_each_width():
    model = _published_model()
    train = np.array([r.source for r in model.rows]) != model.rows[0].source
    a, b = (fit_model(model, train, prior_scale=w, max_nfev=20) for w in (0.5, 4.0))
    avg = fit_averaged(model, train, scales=(0.5, 4.0), max_nfev=20)
    assert np.allclose(avg.x, (a.x + b.x) / 2)
    assert set(avg.values) == set(a.values)
    key = next(k for k in a.values if abs(np.log(a.values[k] / b.values[k])) > 1e-3)
    assert np.isclose(avg.values[key], np.sqrt(a.values[key] * b.values[key]))  # geometric mean
    assert min(a.values[key], b.values[key]) < avg.values[key] < max(a.values[key], b.values[key])


def test_choose_prior_scale_uses_training_rows_only(monkeypatch):
    rows = [r for r in load_dataset(CORPUS_DIR / "published.csv") if r.plan is not None]
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    model = build_corpus_model(rows, prior)
    sources = np.array([r.source for r in model.rows])
    train = sources != sources[0]
    import inferplan.calib.nested as nested

    fits = []
    real_fit = nested.fit_model

    def spy(m, subset, **kw):
        fits.append((np.asarray(subset).copy(), kw["prior_scale"]))
        return real_fit(m, subset, **kw)

    monkeypatch.setattr(nested, "fit_model", spy)
    chosen = choose_prior_scale(model, train, sources, scales=(0.5, 2.0), k=2)
    assert chosen in (0.5, 2.0)
    # two inner folds per width, each fitted on training rows only and leaving out rows of its own
    assert sorted(w for _, w in fits) == [0.5, 0.5, 2.0, 2.0]
    for subset, _ in fits:
        assert not (subset & ~train).any() and 0 < subset.sum() < train.sum()


def test_estimate_json_carries_intervals():
    e = estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=128)
    data = json.loads(e.model_dump_json())  # what --json prints
    lo, hi = data["intervals"]["tpot_s"]
    assert lo < data["tpot_s"] < hi
    lo, hi = data["intervals"]["output_tok_s"]
    assert lo < data["output_tok_s"] < hi
