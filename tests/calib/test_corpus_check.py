"""The bundled calibration corpus passes tools/check_corpus.py, and the checker catches faults."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_corpus", ROOT / "tools" / "check_corpus.py")
check_corpus = importlib.util.module_from_spec(_spec)
sys.modules["check_corpus"] = check_corpus  # dataclasses look their module up
_spec.loader.exec_module(check_corpus)


@pytest.fixture(scope="module")
def report():
    return check_corpus.check()


def test_corpus_has_no_schema_or_bookkeeping_errors(report):
    assert report.files >= 25 and report.rows >= 400
    assert report.errors == []


def test_every_implausible_row_was_reviewed(report):
    unreviewed = [(i, why) for i, why in report.implausible if i not in check_corpus.REVIEWED]
    assert unreviewed == []


def test_every_duplicate_pair_was_reviewed(report):
    unreviewed = [d[2] for d in report.duplicates
                  if frozenset(d[:2]) not in check_corpus.REVIEWED_PAIRS]
    assert unreviewed == []


def test_no_fixed_rate_runs(report):
    assert report.fixed_rate == []


def _bad_corpus(tmp_path: Path) -> Path:
    src = check_corpus.CORPUS / "xft-xeon-max-notes.csv"
    text = src.read_text(encoding="utf-8").splitlines()
    header, first = text[0], text[1]
    rows = [
        first,  # a good row
        first,  # same id again
        first.replace("xft-001", "bad-1", 1).replace("date=", "dated="),  # no date
        first.replace("xft-001", "bad-2", 1).replace(",decode_tok_s_per_user,", ",tok_s,"),
        first.replace("xft-001", "bad-3", 1)
        + " see docs.nvidia.com/nim/benchmarking",  # a reserved source
    ]
    (tmp_path / "xft-xeon-max-notes.csv").write_text("\n".join([header, *rows]) + "\n",
                                                     encoding="utf-8")
    shutil.copy(check_corpus.CORPUS / "moreh-mif-benchmarks.csv", tmp_path / "renamed.csv")
    return tmp_path


def test_checker_catches_faults(tmp_path):
    rep = check_corpus.check(_bad_corpus(tmp_path), roofs=False)
    text = "\n".join(rep.errors)
    assert "xft-001: duplicate id" in text
    assert "bad-1: notes lack date" in text
    assert "bad-2: unknown metric" in text
    assert "bad-3: notes cite a reserved source" in text
    assert "source 'moreh-mif-benchmarks' != file slug 'renamed'" in text


def test_roof_flags_a_value_beyond_physics(tmp_path):
    src = check_corpus.CORPUS / "premai-benchmarks.csv"
    lines = src.read_text(encoding="utf-8").splitlines()
    row = next(line for line in lines if line.startswith("prem-007,"))
    # 54.16 tok/s for Llama-2-7B fp16 on one A100 is plausible; 1000 tok/s is not
    bad = row.replace(",54.16,", ",1000,")
    (tmp_path / "premai-benchmarks.csv").write_text("\n".join([lines[0], row.replace(
        "prem-007", "ok-1", 1), bad.replace("prem-007", "bad-1", 1)]) + "\n", encoding="utf-8")
    rep = check_corpus.check(tmp_path)
    assert [i for i, _ in rep.implausible] == ["bad-1"]
