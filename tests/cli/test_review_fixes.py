"""Defects a new-user walkthrough found (session 25), each pinned where a user meets it: the CLI,
with the library function behind it where that is the clearer check."""

from __future__ import annotations

import json

import pytest

from inferplan.compare import compare, fit
from inferplan.errors import UnknownIdError
from inferplan.perf.estimate import estimate

from . import HEAD, run

# --- bad input is the user's error (exit 2), not every device's "does not fit" ------------------


@pytest.mark.parametrize("call", [
    lambda: fit("llama-3.1-8b", precision="bogus"),
    lambda: compare("llama-3.1-8b", hw_class="npu", precision="bogus"),
    lambda: compare("llama-3.1-8b", hw_class="npu", kv_precision="bogus"),
])
def test_an_unknown_precision_is_an_input_error_before_any_device(call):
    with pytest.raises(UnknownIdError, match="unknown precision 'bogus'"):
        call()


def test_plan_refuses_an_unknown_precision():
    code, _, err = run("plan", "-m", "llama-3.1-8b", "--rate", "1", "--p90-tpot", "0.05",
                       "--precision", "fp9", "--no-progress")
    assert code == 2 and "did you mean fp8" in err


def test_did_you_mean_offers_only_names_that_resolve():
    code, _, err = run("estimate", "-m", "llama-3.1-8b", "-H", "h10")
    assert code == 2 and "did you mean" in err
    suggested = err.split("did you mean", 1)[1]
    assert "h100," not in suggested and "h100?" not in suggested  # 'h100' alone is ambiguous
    for name in suggested.strip(" ?)\n").split(", "):
        code, _, _ = run("hardware", "show", name.strip(" ?)"))
        assert code == 0, name


@pytest.mark.parametrize("args,says", [
    (["--all", "--hardware", "h100-sxm"], "contradict"),
    (["--class", "npu", "--hardware", "h100-sxm"], "excludes"),
    (["--hardware", ","], "no hardware named"),
])
def test_compare_refuses_contradictory_or_empty_hardware(args, says):
    code, _, err = run("compare", "-m", "llama-3.1-8b", *args)
    assert code == 2 and says in err


def test_compare_lists_a_device_named_twice_once():
    res = compare("llama-3.1-8b", hardware=["h100-sxm", "h100-sxm", " h100-sxm"])
    assert [r.hardware for r in res.rows] == ["h100-sxm"]


@pytest.mark.parametrize("args,says", [
    (["--rate", "5", "--users", "4"], "contradict"),
    (["--decode-devices", "2"], "--decode-hardware"),
    (["--input-len", "0"], ">= 1 token"),
    (["--output-len", "0"], ">= 1 token"),
])
def test_simulate_refuses_inputs_it_cannot_honour(args, says):
    code, _, err = run("simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "-n", "10", *args)
    assert code == 2 and says in err


def test_a_trace_row_without_a_prompt_is_refused(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,input_tokens,output_tokens\n0.5,0,10\n1.0,100,10\n")
    code, _, err = run("simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--workload", trace)
    assert code == 2 and "row 1" in err and "input tokens 0" in err


def test_report_rate_needs_a_simulation_and_history_kinds_are_checked(tmp_path):
    code, _, err = run("report", "-m", "llama-3.1-8b", "--rate", "4", "-o", tmp_path / "r.html")
    assert code == 2 and "--simulate" in err
    code, _, err = run("history", "--kind", "bogus")
    assert code == 2 and "unknown kind" in err


def test_plan_top_zero_is_refused_by_its_own_limit():
    code, _, err = run("plan", "-m", "llama-3.1-8b", "--rate", "1", "--p90-tpot", "0.05", "--top", "0")
    assert code == 2 and "--top" in err
    _, out, _ = run("plan", "--help")
    assert "1<=x<=100" in out.replace(" ", "").replace("\n", "")


# --- answers that were wrong --------------------------------------------------------------------


def test_the_one_token_decode_step_question_has_a_tpot_at_the_prompts_kv_length():
    """cli-contract.md: for --output-len 1 the KV length at the step is the input length."""
    one = estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=1)
    two = estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=2)
    assert one.tpot_s is not None and one.tpot_s == pytest.approx(two.tpot_s, rel=1e-3)
    assert one.e2e_latency_s == pytest.approx(one.ttft_s)
    assert one.intervals["e2e_latency_s"] == one.intervals["ttft_s"]  # the same quantity
    assert estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=0).tpot_s is None


def test_a_served_prompt_on_a_wafer_pipeline_costs_more_than_nothing():
    e = estimate("qwen3-30b-a3b", "cerebras-cs3", mode="concurrency", batch=8)
    assert e.usd_per_1m_input_tokens is not None and e.usd_per_1m_input_tokens > 0
    assert "while no prompt runs" in e.why


def test_plan_budget_refuses_hardware_it_cannot_price():
    code, out, _ = run("plan", "-m", "llama-3.1-8b", "--rate", "1", "--p90-tpot", "0.05", "--budget",
                       "100", "-H", "gb300,h100-sxm", "--no-progress", "--json")
    res = json.loads(out)
    assert all(not o["id"].startswith("gb300") for o in res["options"])
    assert any("no catalog price" in r["reason"] for r in res["rejected"])


def test_plan_never_offers_an_overloaded_configuration_for_a_tpot_only_slo():
    """Two H100s serve Llama-3.1-70B at ~1.5 req/s: at 3 req/s a TPOT-only SLO still holds (the
    batch steps as fast as ever) while the queue grows without bound."""
    code, out, _ = run("plan", "-m", "llama-3.1-70b", "--rate", "3", "--p90-tpot", "0.1", "-H", "h100-sxm",
                       "--no-disagg", "--no-progress", "--json")
    res = json.loads(out)
    assert code == 0 and res["options"]
    for o in res["options"]:
        assert not (o["devices"] == 2 and o["id"].endswith("x1")), o["id"]  # one 2-GPU replica
        assert o["ttft_s"]["p90"] < 30, o["id"]


def test_plan_and_simulate_run_the_same_server_limits():
    _, out, _ = run("plan", "-m", "llama-3.1-70b", "--rate", "1", "--p90-tpot", "0.1", "-H", "h100-sxm",
                    "--no-disagg", "--no-progress", "--json")
    pool = next(p for o in json.loads(out)["options"] for p in o["pools"] if p["tp"] == 2)
    _, out, _ = run("simulate", "-m", "llama-3.1-70b", "-H", "h100-sxm", "--devices", "2", "--rate", "1",
                    "-n", "20", "--json")
    sim = json.loads(out)["pools"][0]
    assert pool["max_num_batched_tokens"] == sim["max_num_batched_tokens"] == 8192
    assert pool["kv_cache_tokens"] == sim["kv_cache_tokens"]


# --- text that read wrong -------------------------------------------------------------------------


def test_estimate_text_gives_units_to_time_factors_and_no_none_bound():
    code, out, _ = run("estimate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--output-len", "0")
    assert code == 0 and "None" not in out
    assert "layer_overhead_s=" in out and "µs (" in out


def test_plan_without_options_says_why_in_the_text():
    code, out, _ = run("plan", "-m", "llama-3.1-70b", "--rate", "1", "--p90-tpot", "0.05", "-H", "h100-sxm",
                       "--max-devices", "1", "--no-progress")
    assert "no configuration meets the SLO" in out and "devices per replica > max 1" in out


def test_calibration_show_takes_json():
    code, out, _ = run("calibration", "show", "src/inferplan/calib/data/default.yaml", "--json")
    assert code == 0 and "factors" in json.loads(out)


def test_calibrate_warns_when_most_rows_cannot_be_predicted(tmp_path):
    good = "g{i},s{s},llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,{v},A,\n"
    bad = "b{i},s{s},llama-3.1-8b,no-such-device,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,7,A,\n"
    rows = [good.format(i=i, s=i % 2, v=7 + i / 10) for i in range(2)]
    rows += [bad.format(i=i, s=i % 2) for i in range(6)]
    data = tmp_path / "m.csv"
    data.write_text(HEAD + "".join(rows))
    code, _, err = run("calibrate", data, "--out", tmp_path / "p.yaml", "--cv", "kfold")
    assert "Warning: only 25% of the rows" in err



def test_a_short_csv_row_says_it_is_short(tmp_path):
    data = tmp_path / "short.csv"
    data.write_text(HEAD + "r1,s,llama-3.1-8b,h100-sxm,1\n")
    _, out, _ = run("validate", data, "--json")
    assert json.loads(out)["rows"][0]["error"] == "short row: no metric, value (fewer fields than the header)"


# --- a second review of the fixes above ---------------------------------------------------------


def test_overload_is_not_called_on_a_lightly_loaded_run_and_is_on_a_real_one():
    from inferplan.sim import DeploymentSpec, outcome_problems, simulate
    from inferplan.sim.workload import get_workload, with_overrides

    light = with_overrides(get_workload("chat"), rate=2.0)
    for seed in range(6):  # "grows by 3 and 30%" of queue + batch flagged 2 of 30 such seeds
        res = simulate("llama-3.1-8b", DeploymentSpec(hardware="l40s", devices=2), light, requests=400, seed=seed)
        assert not any("overloaded" in w for w in outcome_problems(res, 2.0)[1]), seed
    heavy = with_overrides(get_workload("chat"), rate=3.0)
    res = simulate("llama-3.1-70b", DeploymentSpec(hardware="h100-sxm", devices=2), heavy, requests=1000)
    assert any("overloaded" in w for w in outcome_problems(res, 3.0)[1])


def test_idle_replicas_draw_idle_power_and_a_one_token_request_its_prompts():
    one = estimate("llama-3.1-8b", "h100-sxm")
    eight = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=1)
    idle = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=1).power_w - one.power_w
    assert idle == pytest.approx(7 * 0.2 * 700, rel=0.25)  # 7 idle H100s, not 7 busy ones
    assert eight.joules_per_output_token < 3.5 * one.joules_per_output_token
    prompt = estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=1)
    prompt0 = estimate("llama-3.1-8b", "h100-sxm", input_len=4096, output_len=0)
    assert prompt.power_w == pytest.approx(prompt0.power_w)  # the quoted TPOT does not feed power


def test_a_static_batch_waits_for_its_fullest_replica():
    nine = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=1, batch=9)
    two = estimate("llama-3.1-8b", "h100-sxm", batch=2)
    assert nine.ttft_s == pytest.approx(two.ttft_s) and nine.e2e_latency_s == pytest.approx(two.e2e_latency_s)
    assert nine.output_tok_s == pytest.approx(9 * two.output_tok_s / 2)


def test_a_trace_row_of_zero_output_tokens_is_read_as_one(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,input_tokens,output_tokens\n0.0,100,0\n0.5,100,10\n")
    code, out, _ = run("simulate", "-m", "llama-3.1-8b", "-H", "h100-sxm", "--workload", trace, "--json")
    assert code == 0 and json.loads(out)["metrics"]["completed"] == 2


def test_plan_never_shows_an_analytic_maximum_below_the_rate_it_verified():
    # over the catalog, mi300x x8 x2 held 20 req/s as a whole cluster while its analytic bound read ~18.9
    code, out, _ = run("plan", "-m", "llama-3.1-70b", "--rate", "20", "--p90-tpot", "0.05", "--no-progress")
    assert code == 0
    rows = [ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0].isdigit()]
    analytic = [float(c[1:].replace(",", "")) for cells in rows for c in cells if c.startswith("~") and len(c) > 1]
    assert rows and analytic and min(analytic) >= 20


def test_hardware_show_gives_integer_peaks_in_tops_and_float_peaks_in_flops():
    code, out, _ = run("hardware", "show", "h100-sxm")
    lines = {ln.split()[0]: ln.split(None, 1)[1].strip() for ln in out.splitlines() if ln.startswith("  ") and ln.split()}
    assert code == 0 and lines["int8"] == "1,979 TOPS" and lines["bf16"] == "990 TFLOP/s"


def test_engines_lists_llama_servers_slots_beside_the_offline_tools_single_sequence():
    code, out, _ = run("engines", "--json")
    ll = next(e for e in json.loads(out)["engines"] if e["id"] == "llama.cpp")
    assert code == 0 and ll["max_num_seqs"] == 1 and ll["server"]["slots"] == 4
    code, out, _ = run("engines")
    assert "1 (server 4)" in next(ln for ln in out.splitlines() if ln.startswith("llama.cpp "))


def test_engines_csv_has_a_column_for_every_key_of_any_engine():
    import csv
    import io

    code, out, _ = run("engines", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and "server" in rows[0]
    assert json.loads(next(r for r in rows if r["id"] == "llama.cpp")["server"])["slots"] == 4
