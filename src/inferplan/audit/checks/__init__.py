"""Built-in audit checks: each a small function that computes a claim with the library.

Every check takes its params model and an :class:`~inferplan.audit.registry.AuditContext`,
and returns a :class:`~inferplan.audit.registry.CheckResult`: the numbers it computed (SI units
in their names), the conditions, a verdict and a derivation a hardware engineer can follow,
citing the catalog entries it read. Verdict rules (docs/audit.md):

- ``consistent``: every case the check computes agrees with the claim: a predicted value's 80%
  prediction interval (:mod:`inferplan.perf.intervals`, for its class, metric family and regime)
  overlaps the claim (``verdict.py``; the LOSO band of ``tolerance.py`` where no interval table
  is available); specs and arithmetic are exact up to the claim's rounding;
- ``holds-under-conditions``: some cases agree and some do not; the agreeing cases are the
  conditions;
- ``inconsistent``: no case agrees; the derivation says by how much;
- ``not-checkable``: market data or forecasts, said plainly.

One module per section: ``arithmetic``, ``catalog``, ``bounds``, ``estimates``, ``memory``,
``efficiency``, ``consistency``; the shared verdict helper is ``verdict``. The registry and
result types live in ``registry.py``; scenarios (estimate calls) in ``scenario.py``. Checks
register with :func:`register_check`, exactly as a plugin would; importing this package
registers them all.
"""

from inferplan.audit.checks import (  # noqa: F401 - each module registers its checks
    arithmetic,
    bounds,
    catalog,
    consistency,
    efficiency,
    estimates,
    memory,
)
from inferplan.audit.checks.consistency import conflicts_for

__all__ = ["conflicts_for"]
