"""The fit recovers known factors from synthetic measurements; CV reports held-out error."""

import csv

import pytest

from inferplan.calib.calibrate import calibrate, priors_only
from inferplan.calib.dataset import load_dataset
from inferplan.calib.fit import fit_factors
from inferplan.catalog._load import load_yaml
from inferplan.perf.efficiency import default_profile_path, efficiency_from_dict, load_efficiency
from inferplan.perf.estimate import estimate
from inferplan.perf.factors import resolve_factors

ROWS = [
    # model, hardware, precision, mode, batch, in, out, metric
    ("llama-3.1-8b", "h100-sxm", "bf16", "batch", 1, 0, 128, "decode_tok_s_per_user"),
    ("qwen2.5-32b", "h100-sxm", "fp8", "batch", 1, 0, 128, "decode_tok_s_per_user"),
    ("llama-3.2-1b", "h100-sxm", "bf16", "batch", 1, 0, 128, "decode_tok_s_per_user"),
    ("qwen2.5-7b", "h100-sxm", "bf16", "batch", 1, 0, 256, "decode_tok_s_per_user"),
    ("llama-3.1-8b", "h100-sxm", "bf16", "batch", 1, 4096, 0, "prefill_tok_s"),
    ("qwen2.5-32b", "h100-sxm", "fp8", "batch", 1, 2048, 0, "prefill_tok_s"),
    ("llama-3.1-8b", "h100-sxm", "bf16", "batch", 4, 8192, 0, "prefill_tok_s"),
    ("llama-3.1-8b", "h200-sxm", "bf16", "batch", 1, 0, 128, "decode_tok_s_per_user"),
]


def _write(path, values):
    cols = ["id", "source", "model_id", "hardware_id", "num_devices", "tp", "pp", "ep",
            "weight_precision", "kv_precision", "engine", "mode", "batch", "input_len",
            "output_len", "metric", "value", "reliability", "notes"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for i, ((m, hw, p, mode, b, I, O, metric), v) in enumerate(zip(ROWS, values, strict=True)):
            w.writerow(dict(id=f"s{i}", source=f"src{i % 3}", model_id=m, hardware_id=hw,
                            num_devices=1, tp=1, pp=1, ep=1, weight_precision=p, kv_precision="bf16",
                            engine="vllm", mode=mode, batch=b, input_len=I, output_len=O,
                            metric=metric, value=v, reliability="A", notes=""))


def test_fit_recovers_known_factors_from_synthetic_data(tmp_path):
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    truth = prior.with_values({("bw_eff", "gpu-nvidia"): 0.7, ("compute_eff", "gpu-nvidia"): 0.5,
                               ("layer_overhead_s", "vllm"): 2e-5}, "truth")
    path = tmp_path / "synthetic.csv"
    _write(path, [1.0] * len(ROWS))
    rows = load_dataset(path)
    assert all(r.plan is not None for r in rows), [r.error for r in rows]
    values = [r.predict(resolve_factors(r.plan.dep, truth)[0]) for r in rows]
    _write(path, values)
    rows = load_dataset(path)
    fit = fit_factors(rows, prior, prior_strength=0.01)
    got = fit.values
    # products are what the data identify: family x engine multiplier
    bw = got[("bw_eff", "gpu-nvidia")] * got[("engine_bw", "vllm@gpu")]
    ce = got[("compute_eff", "gpu-nvidia")] * got[("engine_compute", "vllm@gpu")]
    assert bw == pytest.approx(0.7, rel=0.05)
    assert ce == pytest.approx(0.5, rel=0.05)
    assert got[("layer_overhead_s", "vllm")] == pytest.approx(2e-5, rel=0.3)
    # with the documented priors the fit still moves from the prior toward the truth
    regular = fit_factors(rows, prior).values
    assert regular[("compute_eff", "gpu-nvidia")] * regular[("engine_compute", "vllm@gpu")] < 0.65


def test_calibrate_writes_a_profile_with_provenance_and_cv(tmp_path):
    path = tmp_path / "synthetic.csv"
    _write(path, [1.0] * len(ROWS))
    rows = load_dataset(path)
    prior = efficiency_from_dict(priors_only(load_yaml(default_profile_path())), "priors")
    truth = prior.with_values({("bw_eff", "gpu-nvidia"): 0.6}, "truth")
    _write(path, [r.predict(resolve_factors(r.plan.dep, truth)[0]) for r in rows])
    out = tmp_path / "profile.yaml"
    rep = calibrate([path], out)
    assert out.exists()
    raw = load_yaml(out)
    assert raw["provenance"]["rows"] == len(ROWS)
    assert rep.after_in_sample.median_ape < rep.before.median_ape
    assert rep.cross_validated.rows == len(ROWS)


def test_shipped_profile_sources_name_what_each_factor_is():
    """A scope that calibration added says so; only unpack costs cite the precisions' prior."""
    factors = load_yaml(default_profile_path())["factors"]
    for name, scopes in factors.items():
        for scope, entry in scopes.items():
            assert entry.get("source"), (name, scope)
            if name != "dequant_ops_per_weight":
                assert "unpacking cost" not in entry["source"], (name, scope)


def test_a_source_weighs_the_square_root_of_its_rows():
    """Rows of one source share its bias: four rows of one source get 4 ** -0.25 of the residual
    weight of a lone row of another (in the squared loss the four weigh 2 rows, not 4), grades
    still scale them, and the total weight is the grades' total."""
    from types import SimpleNamespace

    import numpy as np

    from inferplan.calib.fit import source_weights

    rows = [SimpleNamespace(source="big", raw={"reliability": "A"}) for _ in range(4)]
    rows += [SimpleNamespace(source="one", raw={"reliability": "A"}),
             SimpleNamespace(source="graded", raw={"reliability": "C"})]
    w = source_weights(SimpleNamespace(rows=rows), np.arange(6))  # type: ignore[arg-type]
    assert np.isclose(w[0] / w[4], 4 ** -0.25) and np.isclose(w[5] / w[4], 0.5)
    assert np.isclose(w.sum(), 4 * 1.0 + 1.0 + 0.5)
    assert np.isclose((w[:4] ** 2).sum() / w[4] ** 2, 2.0)


def test_calibrate_updates_the_shipped_profile_not_the_bare_priors(tmp_path):
    """A lab's rows that the shipped profile already predicts well: calibrating must not make
    them worse (a fit from the bare priors on a few rows did: 14% -> 30% in-sample)."""
    path = tmp_path / "lab.csv"
    _write(path, [1.0] * len(ROWS))
    rows = load_dataset(path)
    shipped = efficiency_from_dict(load_yaml(default_profile_path()), "default")
    # the lab measures 8% slower than the shipped profile predicts
    _write(path, [0.92 * r.predict(resolve_factors(r.plan.dep, shipped)[0]) for r in rows])
    out = tmp_path / "lab.yaml"
    rep = calibrate([path], out, scope="family")
    assert rep.before.median_ape == pytest.approx(0.087, abs=0.002)  # the shipped profile's error
    assert rep.after_in_sample.median_ape < rep.before.median_ape
    raw = load_yaml(out)
    bw = raw["factors"]["bw_eff"]["gpu-nvidia"]
    shipped_bw = load_yaml(default_profile_path())["factors"]["bw_eff"]["gpu-nvidia"]["value"]
    assert bw["prior"] == pytest.approx(shipped_bw, rel=1e-3) and bw["value"] < bw["prior"]
    head = out.read_text().split("version:")[0]
    assert "calibrate_default.py" not in head and "base profile: default.yaml" in head


def test_calibrating_on_rows_the_base_has_seen_warns_and_profiles_chain_their_provenance(tmp_path):
    path = tmp_path / "lab.csv"
    _write(path, [1.0] * len(ROWS))
    rows = load_dataset(path)
    shipped = efficiency_from_dict(load_yaml(default_profile_path()), "default")
    _write(path, [0.9 * r.predict(resolve_factors(r.plan.dep, shipped)[0]) for r in rows])
    first = calibrate([path], tmp_path / "a.yaml")
    assert first.warnings == []  # the shipped profile never saw lab.csv
    raw = load_yaml(tmp_path / "a.yaml")
    assert "published.csv" in raw["provenance"]["priors_fitted_on"]
    bw = raw["factors"]["bw_eff"]["gpu-nvidia"]
    assert "DESIGN.md" in bw["prior_source"] and bw["source"].startswith("base profile:")
    second = calibrate([path], tmp_path / "b.yaml", base=tmp_path / "a.yaml")
    assert len(second.warnings) == 1 and "lab.csv" in second.warnings[0]
    text = (tmp_path / "b.yaml").read_text()
    assert text.count("Written by `inferplan calibrate`") == 1
    # the first prior's source survives the chain
    assert load_yaml(tmp_path / "b.yaml")["factors"]["bw_eff"]["gpu-nvidia"]["prior_source"] == bw["prior_source"]


def test_a_hardware_scoped_calibration_moves_the_measured_device_and_no_other(tmp_path):
    path = tmp_path / "lab.csv"
    _write(path, [1.0] * len(ROWS))
    rows = load_dataset(path)
    shipped = efficiency_from_dict(load_yaml(default_profile_path()), "default")
    _write(path, [0.8 * r.predict(resolve_factors(r.plan.dep, shipped)[0]) for r in rows])  # 20% slower
    out = tmp_path / "lab.yaml"
    rep = calibrate([path], out)  # scope 'hardware', the default
    assert rep.after_in_sample.median_ape < rep.before.median_ape
    factors = load_yaml(out)["factors"]
    bw = factors["bw_eff"]["hw:h100-sxm"]  # the device's own scope, prior = the shipped value
    assert bw["prior"] == pytest.approx(shipped.lookup("bw_eff", ["gpu-nvidia"]).value, rel=1e-3)
    assert "hw:h100-sxm/vllm" in factors["engine_bw"]
    measured = {"h100-sxm", "h200-sxm"}  # the rows' devices: only theirs are fitted
    assert {k[3:].split("/")[0] for f in factors.values() for k in f if k.startswith("hw:")} == measured
    assert load_efficiency(out).lookup("bw_eff", ["hw:h100-sxm"]).value == pytest.approx(bw["value"])
    kw = dict(precision="bf16", batch=1, input_len=512, output_len=128)
    assert (estimate("llama-3.1-8b", "h100-sxm", calibration=out, **kw).tpot_s
            > 1.05 * estimate("llama-3.1-8b", "h100-sxm", **kw).tpot_s)  # toward the 20%, held by the priors
    for other in ("b200", "a100-sxm-80g", "rtx-4090"):  # same family and engine: untouched
        assert (estimate("llama-3.1-8b", other, calibration=out, **kw).tpot_s
                == estimate("llama-3.1-8b", other, **kw).tpot_s)
