"""Claims files: a document's quantitative claims as data, and how to load and validate one.

A claims file (YAML) names the document, optionally constructs models the catalog lacks, and
lists claims. Each claim quotes the document verbatim, states the quantity claimed and the
conditions the document gives, and names the check that computes it with that check's
parameters. The bundled file for the background article is ``audit/data/*.yaml``; the format is
documented in ``docs/audit.md``. Not here: the checks (``checks/``) or running them (``run.py``).

Errors name the file and the claim: ``my-claims.yaml: claim 'c3': check 'estimate-ratio':
params.metric: Input should be ...``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferplan.audit.registry import VERDICTS, Verdict, get_check, load_checks  # noqa: F401 - verdicts re-exported
from inferplan.catalog._load import load_yaml
from inferplan.errors import CatalogError, InputError, suggest, validation_summary

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Quantity(_Strict):
    """What a claim asserts, as a number or interval in `unit`.

    `key` names the quantity across claims: two claims of one document with the same key state
    the same thing and must agree (the internal-consistency check compares them).
    """

    what: str = Field(description="the quantity in words, e.g. 'TTFT speed-up of MI300X over H100'")
    unit: str = Field(default="", description="unit of value/low/high, e.g. 'x', 'tok/s', 'bytes'")
    value: float | None = None
    low: float | None = None
    high: float | None = None
    key: str | None = Field(default=None, description="same key = same quantity in this document")

    @model_validator(mode="after")
    def _one_form(self) -> Quantity:
        if self.value is not None and (self.low is not None or self.high is not None):
            raise ValueError("give either value, or low/high, not both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        return self

    def interval(self) -> tuple[float | None, float | None] | None:
        """(low, high) of the claim; None when it states no number."""
        if self.value is not None:
            return self.value, self.value
        if self.low is None and self.high is None:
            return None
        return self.low, self.high

    def text(self) -> str:
        """The quantity as claimed, e.g. '2.7 x', '5-7 tok/s', '<= 1 GB'."""
        if self.unit == "bytes":
            from inferplan.units import fmt_bytes

            num: Callable[[float], str] = fmt_bytes
            u = ""
        elif self.unit == "bytes/s":
            from inferplan.units import fmt_num

            num, u = (lambda x: fmt_num(x, unit="B/s")), ""
        else:
            num, u = (lambda x: f"{x:g}"), (f" {self.unit}" if self.unit else "")
        if self.value is not None:
            return f"{num(self.value)}{u}"
        if self.low is not None and self.high is not None:
            return f"{num(self.low)}-{num(self.high)}{u}"
        if self.low is not None:
            return f">= {num(self.low)}{u}"
        if self.high is not None:
            return f"<= {num(self.high)}{u}"
        return "-"


class CheckRef(_Strict):
    """Which check computes a claim, and its parameters (validated by the check's schema)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class Claim(_Strict):
    id: str = Field(description="unique in the file; letters, digits, '.', '_', '-'")
    title: str = Field(description="short text for the table")
    quote: str = Field(min_length=1, description="verbatim from the document")
    where: str = Field(default="", description="section or table of the document")
    quantity: Quantity
    conditions: list[str] = Field(default_factory=list, description="conditions the document states")
    check: CheckRef
    note: str = Field(default="", description="the auditor's remark, printed with the derivation")

    @model_validator(mode="after")
    def _valid_id(self) -> Claim:
        if not _ID.match(self.id):
            raise ValueError(f"id {self.id!r}: use letters, digits, '.', '_' or '-'")
        return self


class ConstructedModel(_Strict):
    """A model the catalog lacks, built honestly from a bundled one (said in every derivation).

    ``base`` + ``total_params``: the base model's layer shape with the number of layers scaled
    to reach ``total_params`` (embedding and head unchanged). ``config``: a full Hugging Face
    config.json as a mapping, read by the same adapters as any user config.
    """

    id: str
    base: str | None = None
    total_params: float | None = Field(default=None, gt=0)
    config: dict[str, Any] | None = None
    native_precision: str | None = None
    why: str = Field(min_length=1, description="why this model stands in for the document's")

    @model_validator(mode="after")
    def _one_recipe(self) -> ConstructedModel:
        scaled = self.base is not None and self.total_params is not None
        if scaled == (self.config is not None):
            raise ValueError("give either base + total_params, or config")
        return self


class Document(_Strict):
    title: str
    source: str = Field(description="URL or path of the document")
    date: str = ""
    publisher: str = ""


class ClaimsFile(_Strict):
    version: Literal[1] = 1
    document: Document
    models: list[ConstructedModel] = Field(default_factory=list)
    claims: list[Claim]


def bundled_claims_path() -> Path:
    """The bundled claims file of the background article."""
    return Path(str(resources.files("inferplan.audit").joinpath("data", "inference-unbundling.yaml")))


def load_claims(path: Path | None = None) -> ClaimsFile:
    """Read and validate a claims file (default: the bundled one).

    Raises CatalogError naming the file, the claim and the field; unknown check names get a
    "did you mean"; each claim's params are validated against its check's schema.
    """
    p = Path(path) if path is not None else bundled_claims_path()
    if not p.exists():
        raise CatalogError(f"claims file not found: {p}")
    raw = load_yaml(p)
    if not isinstance(raw, dict):
        raise CatalogError(f"{p}: expected a mapping with 'document' and 'claims' (docs/audit.md)")
    items = raw.get("claims")
    if not isinstance(items, list) or not items:
        raise CatalogError(f"{p}: 'claims' must be a non-empty list (docs/audit.md)")
    claims: list[Claim] = []
    seen: set[str] = set()
    load_checks()
    for i, item in enumerate(items, 1):
        cid = item.get("id") if isinstance(item, dict) else None
        where = f"{p}: claim '{cid}'" if cid else f"{p}: claim #{i}"
        if not isinstance(item, dict):
            raise CatalogError(f"{where}: expected a mapping")
        try:
            claim = Claim.model_validate(item)
        except ValidationError as e:
            raise CatalogError(f"{where}: {validation_summary(e)}") from None
        if claim.id in seen:
            raise CatalogError(f"{where}: duplicate id")
        seen.add(claim.id)
        check = get_check(claim.check.name, where=where)
        try:
            check.params.model_validate(claim.check.params)
        except ValidationError as e:
            raise CatalogError(f"{where}: check '{check.name}': {validation_summary(e, prefix='params')}") from None
        claims.append(claim)
    rest = {k: v for k, v in raw.items() if k != "claims"}
    try:
        doc = ClaimsFile.model_validate({**rest, "claims": []})
    except ValidationError as e:
        raise CatalogError(f"{p}: {validation_summary(e)}") from None
    ids = {m.id for m in doc.models}
    if len(ids) != len(doc.models):
        raise CatalogError(f"{p}: models: duplicate id")
    return doc.model_copy(update={"claims": claims})


def claim_ids(doc: ClaimsFile, only: list[str] | None) -> list[str]:
    """The ids to run: all, or those named: an exact id, else the id whose first '-' part is
    the name ('05' for '05-ttft-2.7x'), else a unique prefix."""
    ids = [c.id for c in doc.claims]
    if not only:
        return ids
    out: list[str] = []
    for name in only:
        if name in ids:
            out.append(name)
            continue
        hits = [i for i in ids if i.split("-")[0] == name] or [i for i in ids if i.startswith(name)]
        if len(hits) == 1:
            out.append(hits[0])
            continue
        if hits:
            raise InputError(f"claim '{name}' is ambiguous: which of {', '.join(hits)}?")
        close = suggest(name, ids)
        hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(ids)}"
        raise InputError(f"unknown claim '{name}'{hint}")
    return out

