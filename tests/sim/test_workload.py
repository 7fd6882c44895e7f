"""Workload generators: presets, arrival processes, length distributions, traces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from inferplan.errors import InputError, UnknownIdError
from inferplan.sim.workload import (
    PRESETS,
    Arrivals,
    LengthDist,
    Workload,
    generate,
    get_workload,
    load_workload,
    with_overrides,
)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_generates_valid_requests(name):
    r = generate(get_workload(name), 500, seed=3)
    assert len(r) == 500
    assert (np.diff(r.arrival_s) >= 0).all() and r.arrival_s[0] == 0
    assert (r.input_tokens >= 1).all() and (r.output_tokens >= 1).all()
    assert (r.prefix_tokens < r.input_tokens).all()


def test_same_seed_same_requests_other_seed_other_requests():
    w = get_workload("chat")
    a, b, c = generate(w, 200, 7), generate(w, 200, 7), generate(w, 200, 8)
    assert np.array_equal(a.arrival_s, b.arrival_s) and np.array_equal(a.input_tokens, b.input_tokens)
    assert not np.array_equal(a.input_tokens, c.input_tokens)


def test_poisson_rate_and_gamma_cv_are_what_was_asked():
    w = with_overrides(get_workload("chat"), rate=4.0)
    gaps = np.diff(generate(w, 20000, 1).arrival_s)
    assert gaps.mean() == pytest.approx(0.25, rel=0.03)
    bursty = with_overrides(w, cv=3.0)
    gaps = np.diff(generate(bursty, 20000, 1).arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(3.0, rel=0.1)
    assert gaps.mean() == pytest.approx(0.25, rel=0.05)


def test_lognormal_mean_and_quantiles_match_samples():
    d = LengthDist(kind="lognormal", median=500, sigma=0.8, low=16, high=8192)
    x = d.sample(np.random.default_rng(0), 50000)
    assert d.mean() == pytest.approx(x.mean(), rel=0.02)
    assert d.quantile(0.9) == pytest.approx(np.quantile(x, 0.9), rel=0.03)
    assert x.min() >= 16 and x.max() <= 8192


def test_trace_replay_from_csv_and_jsonl(tmp_path):
    csv_p = tmp_path / "t.csv"
    csv_p.write_text("arrival_s,input_tokens,output_tokens\n0.5,100,10\n0.1,200,20\n", encoding="utf-8")
    r = generate(load_workload(csv_p), 10)
    assert r.arrival_s.tolist() == [0.0, 0.4] and r.input_tokens.tolist() == [200, 100]
    jl = tmp_path / "t.jsonl"
    jl.write_text("\n".join(json.dumps({"timestamp": t, "prompt_tokens": 5, "completion_tokens": 3})
                            for t in (1.0, 2.0, 4.0)), encoding="utf-8")
    r = generate(load_workload(jl), 2)
    assert r.arrival_s.tolist() == [0.0, 1.0] and r.output_tokens.tolist() == [3, 3]


def test_empirical_lengths_from_a_file(tmp_path):
    p = tmp_path / "lens.txt"
    p.write_text("10\n20\n30\n", encoding="utf-8")
    d = LengthDist(kind="empirical", path=str(p))
    assert set(d.sample(np.random.default_rng(0), 100).tolist()) <= {10, 20, 30}
    assert d.mean() == 20


def test_trace_without_token_columns_names_the_file_and_the_columns(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("arrival_s,foo\n0,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.csv.*input tokens"):
        load_workload(p)


def test_unknown_preset_suggests_close_names():
    with pytest.raises(UnknownIdError, match="did you mean chat"):
        get_workload("chta")


def test_closed_loop_workload_leaves_arrivals_to_the_cluster():
    w = Workload(arrivals=Arrivals(kind="closed", users=4), input=LengthDist(value=10),
                 output=LengthDist(value=5))
    assert np.isnan(generate(w, 8).arrival_s).all()


def test_think_time_needs_closed_loop_clients_and_a_missing_trace_says_so(tmp_path):
    with pytest.raises(InputError, match="--think-time"):
        with_overrides(get_workload("chat"), rate=2.0, think_time_s=1.0)
    with pytest.raises(InputError, match="--think-time"):
        with_overrides(get_workload("chat"), think_time_s=1.0)
    closed = with_overrides(get_workload("chat"), users=2, think_time_s=1.0)
    assert closed.arrivals.kind == "closed" and closed.arrivals.think_time_s == 1.0
    with pytest.raises(InputError, match="does not exist"):
        load_workload(tmp_path / "trace.csv")


def test_users_keep_a_closed_loop_workloads_think_time_and_cv_needs_open_loop_arrivals():
    closed = with_overrides(get_workload("chat"), users=4, think_time_s=2.0)
    more = with_overrides(closed, users=8)
    assert more.arrivals.users == 8 and more.arrivals.think_time_s == 2.0
    assert with_overrides(closed, users=8, think_time_s=0.5).arrivals.think_time_s == 0.5
    with pytest.raises(InputError, match="--cv"):
        with_overrides(get_workload("chat"), users=4, cv=2.0)
    with pytest.raises(InputError, match="--cv"):
        with_overrides(closed, cv=2.0)
    assert with_overrides(get_workload("chat"), rate=3.0, cv=2.0).arrivals.kind == "gamma"
