"""A failing ``--json`` command still prints one JSON document on stdout (cli/main.py)."""

from __future__ import annotations

import json

from tests.cli import run


def test_simulate_that_does_not_fit_prints_a_json_error() -> None:
    code, out, err = run("simulate", "-m", "llama-3.1-405b", "-H", "l4", "--devices", "1",
                         "--rate", "1", "--json")
    assert code == 1
    doc = json.loads(out)["error"]
    assert doc["type"] == "DoesNotFitError" and doc["exit_code"] == 1
    assert "812 GB" in doc["message"] and "Error:" in err


def test_unknown_id_and_bad_option_value_are_json_errors_with_exit_2() -> None:
    code, out, _ = run("compare", "-m", "llama-3.1-40", "--all", "--format", "json")
    assert code == 2 and "did you mean" in json.loads(out)["error"]["message"]
    code, out, err = run("estimate", "-m", "llama-3.1-8b", "-H", "l4", "--batch", "x", "--json")
    assert code == 2 and "--batch" in json.loads(out)["error"]["message"] and "--batch" in err


def test_text_mode_errors_leave_stdout_empty() -> None:
    code, out, err = run("estimate", "-m", "llama-3.1-40", "-H", "l4")
    assert code == 2 and out == "" and "did you mean" in err


def test_estimate_that_does_not_fit_keeps_its_contract_json() -> None:
    code, out, _ = run("estimate", "-m", "llama-3.1-405b", "-H", "l4", "--devices", "1", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["fits"] is False and "error" not in doc


def test_json_before_the_command_name_applies_to_the_command() -> None:
    code, out, _ = run("--json", "estimate", "-m", "llama-3.1-8b", "-H", "l4", "--batch", "1")
    assert code == 0 and json.loads(out)["hardware"] == "l4"
    code, out, err = run("--json", "estimate", "-m", "llama-3.1-8b", "-H", "l4x")
    assert code == 2 and "did you mean" in json.loads(out)["error"]["message"]


def test_usage_errors_of_the_group_are_json_errors_when_json_is_asked() -> None:
    code, out, err = run("--json", "no-such-command")
    assert code == 2 and "no-such-command" in json.loads(out)["error"]["message"] and "Error:" in err
    code, out, _ = run("--json", "--bogus", "estimate")
    assert code == 2 and "--bogus" in json.loads(out)["error"]["message"]


def test_json_before_a_subcommand_path_goes_after_its_last_name() -> None:
    code, out, _ = run("--json", "models", "show", "llama-3.1-8b")
    assert code == 0 and json.loads(out)["id"] == "llama-3.1-8b"
    code, out, _ = run("--json", "hardware", "show", "h100-sxm")
    assert code == 0 and json.loads(out)["id"] == "h100-sxm"
