"""`inferplan audit`: check a document's hardware claims against the performance model.

Claims are data (``claims.py``, bundled ``data/*.yaml``), checks are small registered functions
(``checks/``, one module per section, via ``registry.py``), the verdicts compare each predicted value's prediction interval with the claim
(``checks/verdict.py``, ``perf/intervals.py``),
and :func:`run_audit` runs a claims file into an :class:`AuditReport`. See ``docs/audit.md``.
"""

from inferplan.audit.claims import Claim, ClaimsFile, load_claims
from inferplan.audit.registry import CheckParams, CheckResult, register_check
from inferplan.audit.run import AuditReport, ClaimResult, Conflict, run_audit

__all__ = [
    "AuditReport", "CheckParams", "CheckResult", "Claim", "ClaimResult", "ClaimsFile", "Conflict",
    "load_claims", "register_check", "run_audit",
]
