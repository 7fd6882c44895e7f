"""The scripts in benchmarks/ are not run in CI (minutes each, some need a built llama-server),
but each must at least import: a helper moved out from under one of them once and nothing
noticed until it was run by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_imports_without_running(path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # scripts import their siblings
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # the __main__ guard keeps main() from running
    assert callable(getattr(module, "main", None)), f"{path.name} has no main()"


def test_transfer_corrections_never_see_the_source_they_correct(monkeypatch):
    """benchmarks/transfer.py's claim rests on second-level leave-one-source-out: a source's
    shift must not move when its own residuals do (and must move when another source's do)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("_bench_transfer_t", BENCHMARKS / "transfer.py")
    transfer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(transfer)
    rows, resid = transfer.held_out_rows()
    sources = [r.source for r in rows]
    target = "aws-neuron-perf"
    mine = [i for i, s in enumerate(sources) if s == target]
    base = transfer.group_median_shift(rows, resid)
    moved = resid.copy()
    moved[mine] += 3.0  # its own rows 20x too fast
    shifted = transfer.group_median_shift(rows, moved)
    assert all(shifted[i] == base[i] for i in mine)
    assert any(shifted[i] != base[i] for i in range(len(rows)) if sources[i] != target)
