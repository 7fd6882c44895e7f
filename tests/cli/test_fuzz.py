"""Seeded CLI fuzzing at a small size (``benchmarks/fuzz_cli.py`` runs >= 10,000): every
invocation ends with exit code 0, 1 or 2 and no traceback."""

from __future__ import annotations

import importlib.util
from pathlib import Path

FUZZ = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_cli.py"


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_cli", FUZZ)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_fuzzed_invocations_exit_0_1_or_2_without_a_traceback():
    res = _fuzz().run(n=600, seed=13)
    assert sum(res["codes"].values()) == 600
    assert set(res["codes"]) <= {0, 1, 2}
    assert res["tracebacks"] == [], res["tracebacks"][0]["traceback"]
    assert res["codes"].get(0, 0) > 10 and res["codes"].get(2, 0) > 10  # both paths exercised
