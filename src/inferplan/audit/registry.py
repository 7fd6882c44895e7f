"""The check registry: one extension point, keyed by check name.

A check is a function ``fn(params, ctx) -> CheckResult`` with a pydantic params model
(``extra="forbid"``, so a claims file with a misspelt parameter fails with a clear error).
Built-in checks register from ``inferplan.audit.checks`` through :func:`register_check`, the
same decorator a plugin uses: a package that declares an entry point in the group
``inferplan.audit_checks`` is imported by :func:`load_checks` and its decorated functions join
the registry. Not here: the checks themselves or running a claims file (``run.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inferplan.errors import CatalogError, suggest

if TYPE_CHECKING:  # claims files are read by claims.py, which uses this registry
    from inferplan.audit.claims import Claim, ClaimsFile

Verdict = Literal["consistent", "holds-under-conditions", "inconsistent", "not-checkable"]
VERDICTS: tuple[str, ...] = ("consistent", "holds-under-conditions", "inconsistent", "not-checkable")
DEFAULT_CHECK_MODULES = ("inferplan.audit.checks",)
PLUGIN_GROUP = "inferplan.audit_checks"


class CheckResult(BaseModel):
    """What the tool computes for one claim, under which conditions, and the verdict."""

    model_config = ConfigDict(extra="forbid")

    check: str
    verdict: Verdict
    value: str = Field(description="the tool's value, short (the table column)")
    computed: dict[str, float | int | str | bool | None] = Field(
        default_factory=dict, description="named results; SI units in the names")
    conditions: list[str] = Field(
        default_factory=list, description="conditions of the computation / under which it holds")
    context: list[str] = Field(
        default_factory=list, description="cases shown for comparison, not counted in the verdict")
    derivation: list[str] = Field(default_factory=list, description="steps with numbers and units")
    sources: list[str] = Field(default_factory=list, description="catalog and profile sources used")
    tolerance: str | None = Field(default=None, description="what the verdict compared the claim with")
    intervals: dict[str, list[float]] = Field(
        default_factory=dict, description="[low, high] of each computed value (keys of `computed`) "
        "the verdict compared the claim with: the tool's prediction interval at `interval_level`")
    interval_level: float | None = Field(
        default=None, description="central level of `intervals` (0.8); None when no interval applies")


class CheckParams(BaseModel):
    """Base of every check's parameter model: unknown keys and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass
class AuditContext:
    """What a check may read besides its params: the claim, its document, shared caches."""

    claim: Claim
    doc: ClaimsFile
    calibration: Path | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)  # earlier claims of the run
    cache: dict[str, Any] = field(default_factory=dict)  # shared across claims of one run


CheckFn = Callable[[Any, AuditContext], CheckResult]


@dataclass(frozen=True)
class CheckDef:
    name: str
    params: type[CheckParams]
    fn: CheckFn
    summary: str


CHECKS: dict[str, CheckDef] = {}


def register_check(name: str, params: type[CheckParams]) -> Callable[[CheckFn], CheckFn]:
    """Decorator: add `fn` to the registry under `name` (its docstring's first line is the summary)."""

    def deco(fn: CheckFn) -> CheckFn:
        if name in CHECKS and CHECKS[name].fn is not fn:
            raise CatalogError(f"audit check '{name}' is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        CHECKS[name] = CheckDef(name=name, params=params, fn=fn, summary=summary)
        return fn

    return deco


_loaded = False


def load_checks() -> dict[str, CheckDef]:
    """Import the built-in check modules and any installed plugins (once)."""
    global _loaded
    if not _loaded:
        for mod in DEFAULT_CHECK_MODULES:
            importlib.import_module(mod)
        for ep in entry_points(group=PLUGIN_GROUP):
            ep.load()
        _loaded = True
    return CHECKS


def get_check(name: str, where: str = "") -> CheckDef:
    checks = load_checks()
    if name in checks:
        return checks[name]
    close = suggest(name, checks)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(checks))}"
    prefix = f"{where}: " if where else ""
    raise CatalogError(f"{prefix}unknown check '{name}' ({hint})")


def run_check(ctx: AuditContext) -> CheckResult:
    """Validate the claim's params against its check and run it."""
    check = get_check(ctx.claim.check.name)
    params = check.params.model_validate(ctx.claim.check.params)
    return check.fn(params, ctx)
