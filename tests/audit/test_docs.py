"""docs/audit.md's example claims file runs (docs that cannot rot)."""

from __future__ import annotations

import re

from inferplan.audit import run_audit

from ..conftest import REPO


def test_docs_example_claims_file_runs(tmp_path):
    text = (REPO / "docs" / "audit.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "example.yaml"
    path.write_text(example, encoding="utf-8")
    rep = run_audit(path)
    assert [r.id for r in rep.results] == ["d1-bandwidth", "d2-speed"]
    assert rep.results[0].result.verdict == "consistent"
    # 50 tok/s is out of reach in fp8 (the weights alone take ~0.7 of L40S bandwidth for 30) and
    # within the interval in int4: true only under a condition
    assert rep.results[1].result.verdict == "holds-under-conditions"
    assert "constructed" in " ".join(rep.results[1].result.sources)
