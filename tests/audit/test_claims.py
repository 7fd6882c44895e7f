"""Claims files: the bundled one quotes its article verbatim; bad files fail naming file and claim."""

from __future__ import annotations

import re
import textwrap

import pytest

from inferplan.audit.claims import bundled_claims_path, claim_ids, load_claims
from inferplan.audit.tolerance import LOSO_ERROR, band_for, within
from inferplan.errors import CatalogError, InputError

from ..conftest import REPO, SHARED

ARTICLE = SHARED / "background" / "inference-unbundling-article.txt"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.skipif(not ARTICLE.exists(), reason="shared/background not present")
def test_bundled_quotes_are_verbatim_from_the_article():
    article = _squash(ARTICLE.read_text(encoding="utf-8"))
    for c in load_claims().claims:
        assert _squash(c.quote) in article, f"claim {c.id} does not quote the article verbatim"


def test_bundled_file_covers_the_eighteen_claims_of_the_issue():
    numbers = {c.id.split("-")[0].rstrip("abcd") for c in load_claims().claims}
    assert {f"{i:02d}" for i in range(1, 19)} <= numbers


def test_loso_table_matches_benchmarks_accuracy_md():
    """The audit's tolerance table is a copy of the measured error: keep them equal."""
    md = REPO / "benchmarks" / "results" / "accuracy.md"
    if not md.exists():
        pytest.skip("benchmarks/results/accuracy.md not present")
    first_table = md.read_text(encoding="utf-8").split("\n\n")[1]
    for line in first_table.splitlines()[2:]:
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        cls, rows, loso_median, loso_p90 = cells[0], int(cells[1]), cells[4], cells[5]
        band = LOSO_ERROR[cls]
        assert band.rows == rows
        assert f"{band.median:.0%}" == loso_median and f"{band.p90:.0%}" == loso_p90, cls


def test_classes_without_measured_rows_fall_back_to_the_overall_error_and_say_so():
    b = band_for("npu")
    assert b.median == LOSO_ERROR["all"].median and "no measured npu rows" in b.note


def test_within_widens_the_claimed_interval_by_the_tolerance():
    assert within(0.72, 0.6, 0.6, 0.27)  # 0.72 / 1.27 = 0.567 <= 0.6
    assert not within(0.78, 0.6, 0.6, 0.27)
    assert within(5.0, 1000.0, None, 200.0) is True
    assert within(1500.0, 1000.0, None)  # open upper bound: "1000+"
    assert not within(None, 1, 2)


def _write(tmp_path, body: str):
    p = tmp_path / "claims.yaml"
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return p


HEAD = """\
    document: {title: My deck, source: deck.pdf}
    claims:
"""


@pytest.mark.parametrize("claims,needles", [
    ("""\
      - id: x1
        title: t
        quote: q
        quantity: {what: w}
        check: {name: estimate-ratoi, params: {}}
    """, ["claims.yaml", "claim 'x1'", "unknown check 'estimate-ratoi'", "did you mean estimate-ratio"]),
    ("""\
      - id: x2
        title: t
        quote: q
        quantity: {what: w}
        check: {name: growth-ratio, params: {a_label: A, b_label: B, a_growth_pct: 1, b_growth_pct: 2,
                                             claimed_ratio: 1, colour: red}}
    """, ["claim 'x2'", "check 'growth-ratio'", "params.colour"]),
    ("""\
      - id: x3
        title: t
        quantity: {what: w}
        check: {name: not-checkable, params: {reason: r}}
    """, ["claim 'x3'", "quote"]),
    ("""\
      - id: x4
        title: t
        quote: q
        quantity: {what: w, value: 2, low: 1}
        check: {name: not-checkable, params: {reason: r}}
    """, ["claim 'x4'", "either value, or low/high"]),
    ("""\
      - id: x5
        title: t
        quote: q
        quantity: {what: w}
        check: {name: not-checkable, params: {reason: r}}
      - id: x5
        title: t
        quote: q
        quantity: {what: w}
        check: {name: not-checkable, params: {reason: r}}
    """, ["claim 'x5'", "duplicate id"]),
    ("""\
      - id: x6
        title: t
        quote: q
        quantity: {what: w}
        claimed_by: someone
        check: {name: not-checkable, params: {reason: r}}
    """, ["claim 'x6'", "claimed_by", "Extra inputs are not permitted"]),
    ("""\
      - id: x7
        title: t
        quote: q
        quantity: {what: w}
        check: {name: estimate-value, params: {metric: tok_per_s, claimed_low: 1,
                                              cases: [{hardware: h100-sxm}]}}
    """, ["claim 'x7'", "params.metric"]),
    ("""\
      - id: x8
        title: t
        quote: q
        quantity: {what: w, value: .nan}
        check: {name: not-checkable, params: {reason: r}}
    """, ["claim 'x8'", "quantity.value", "finite number"]),
    ("""\
      - id: x9
        title: t
        quote: q
        quantity: {what: w}
        check: {name: estimate-value, params: {metric: tpot_s, claimed_low: -5, claimed_high: 1e999,
                                              cases: [{hardware: h100-sxm, batch: 0}]}}
    """, ["claim 'x9'", "claimed_low", "claimed_high: Input should be a finite number", "batch"]),
    ("""\
      - id: x10
        title: t
        quote: q
        quantity: {what: w}
        check: {name: estimate-value, params: {metric: tpot_s, claimed_low: 0.01,
                                              cases: [{hardware: h100-sxm, model: llama-3.1-8b, context: true}]}}
    """, ["claim 'x10'", "at least one case must decide the verdict"]),
    ("""\
      - id: x11
        title: t
        quote: q
        quantity: {what: w}
        check: {name: estimate-ratio, params: {claimed_low: 1, a: {hardware: h100-sxm, context: true},
                                              b: {hardware: mi300x}, base: {model: llama-3.1-8b},
                                              metric: tpot_s}}
    """, ["claim 'x11'", "context", "Extra inputs are not permitted"]),
])
def test_invalid_claims_file_names_the_file_the_claim_and_the_field(tmp_path, claims, needles):
    path = _write(tmp_path, HEAD + claims)
    with pytest.raises(CatalogError) as err:
        load_claims(path)
    for n in needles:
        assert n in str(err.value)


def test_claims_file_that_is_not_a_mapping_or_has_no_claims(tmp_path):
    with pytest.raises(CatalogError, match="non-empty list"):
        load_claims(_write(tmp_path, "document: {title: t, source: s}\nclaims: []\n"))
    with pytest.raises(CatalogError, match="expected a mapping"):
        load_claims(_write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(CatalogError, match="not found"):
        load_claims(tmp_path / "missing.yaml")


def test_only_accepts_ids_numbers_and_unique_prefixes():
    doc = load_claims()
    assert claim_ids(doc, ["05"]) == ["05-ttft-2.7x"]
    assert claim_ids(doc, ["02"]) == ["02-memory-specs"]  # not 02b-vram-ratio
    assert claim_ids(doc, ["02b"]) == ["02b-vram-ratio"]
    with pytest.raises(InputError, match="did you mean"):
        claim_ids(doc, ["05-ttft-27x"])


def test_bundled_path_is_inside_the_package():
    assert bundled_claims_path().is_file()
    assert "inferplan" in bundled_claims_path().parts
