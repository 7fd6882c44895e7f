"""Run a claims file: every claim through its check, plus the document's internal conflicts.

:func:`run_audit` is the library entry point the CLI, the web API and reports call; it returns
an :class:`AuditReport` (one JSON schema for all of them). Not here: the checks (``checks/``),
the claims schema (``claims.py``), printing (``cli/cmd_audit.py``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from inferplan.audit.checks import conflicts_for
from inferplan.audit.checks.verdict import INTERVAL_SOURCE
from inferplan.audit.claims import Document, claim_ids, load_claims
from inferplan.audit.registry import VERDICTS, AuditContext, CheckResult, run_check
from inferplan.audit.tolerance import ERROR_SOURCE, LOSO_ERROR, ErrorBand
from inferplan.errors import CatalogError, InferplanError
from inferplan.perf.intervals import load_intervals

CONFLICT_REL_TOL = 0.10  # rounding allowed between two statements of the same quantity


class ClaimResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    quote: str
    where: str
    claimed: str = Field(description="the quantity as the document states it")
    stated_conditions: list[str]
    note: str
    result: CheckResult


class Conflict(BaseModel):
    """Two claims of the document that state the same quantity and cannot both hold."""

    model_config = ConfigDict(extra="forbid")

    key: str
    claims: list[str]
    values: list[str]
    gap_factor: float


class AuditReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: Document
    claims_file: str
    interval_level: float | None = Field(
        description="level of the prediction intervals predicted values are judged against (None: "
                    "no interval table, the error bands are used)")
    interval_source: str
    error_bands: list[ErrorBand] = Field(
        description="fallback when no interval table is available: LOSO median error per class")
    error_source: str
    results: list[ClaimResult]
    conflicts: list[Conflict]
    counts: dict[str, int] = Field(description="claims per verdict")


def run_audit(path: Path | None = None, *, only: list[str] | None = None,
              calibration: Path | None = None) -> AuditReport:
    """Check every claim of a claims file (default: the bundled article) against the model.

    `only`: claim ids (or unique prefixes) to run. Errors of a check (an unknown hardware id in
    its params, say) are raised as CatalogError naming the file and the claim.
    """
    doc = load_claims(path)
    file = str(path) if path is not None else "bundled: inference-unbundling.yaml"
    wanted = set(claim_ids(doc, only))
    results: list[ClaimResult] = []
    done: dict[str, CheckResult] = {}
    cache: dict = {}
    for claim in doc.claims:
        if claim.id not in wanted:
            continue
        ctx = AuditContext(claim=claim, doc=doc, calibration=calibration, results=done, cache=cache)
        try:
            res = run_check(ctx)
        except InferplanError as e:
            raise CatalogError(f"{file}: claim '{claim.id}' (check '{claim.check.name}'): {e}") from None
        done[claim.id] = res
        results.append(ClaimResult(
            id=claim.id, title=claim.title, quote=claim.quote, where=claim.where,
            claimed=claim.quantity.text(), stated_conditions=list(claim.conditions),
            note=claim.note, result=res))
    conflicts = []
    keys = dict.fromkeys(c.quantity.key for c in doc.claims if c.quantity.key)
    by_id = {c.id: c for c in doc.claims}
    for key in keys:
        for a, b, gap in conflicts_for(doc, key, CONFLICT_REL_TOL):
            if a in wanted or b in wanted:
                conflicts.append(Conflict(key=key, claims=[a, b], gap_factor=gap, values=[
                    by_id[a].quantity.text(), by_id[b].quantity.text()]))
    counts = {v: sum(r.result.verdict == v for r in results) for v in VERDICTS}
    table = load_intervals()
    return AuditReport(document=doc.document, claims_file=file,
                       interval_level=table.level if table else None, interval_source=INTERVAL_SOURCE,
                       error_bands=list(LOSO_ERROR.values()), error_source=ERROR_SOURCE,
                       results=results, conflicts=conflicts, counts=counts)
