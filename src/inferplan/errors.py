"""One error hierarchy for the whole library.

Only the CLI turns these into ``Error: ...`` and an exit code (2 for input errors, 1 for a
negative answer such as "does not fit"). Anything else escaping the library is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class InferplanError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: int = 2


class InputError(InferplanError):
    """The user's input is malformed, contradictory or out of range."""


class UnknownIdError(InputError):
    """An id (model, hardware, precision, engine) that the catalog does not know."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known = sorted(set(known))
        close = suggest(name, known)
        msg = f"unknown {kind} '{name}'"
        if close:
            msg += f" (did you mean {', '.join(close)}?)"
        elif len(known) <= 20:
            msg += f"; known: {', '.join(known)}"
        else:
            msg += f"; run `inferplan {kind_command(kind)}` to list them"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)
        self.kind, self.name, self.suggestions = kind, name, close


class AmbiguousIdError(InputError):
    """An alias that names several catalog entries (e.g. ``h100``)."""

    def __init__(self, kind: str, name: str, candidates: Iterable[str]) -> None:
        cands = sorted(candidates)
        super().__init__(f"{kind} '{name}' is ambiguous: which of {', '.join(cands)}?")
        self.candidates = cands


class CatalogError(InferplanError):
    """A catalog or user data file is invalid (names the file and the field)."""


class UnsupportedModelError(InputError):
    """A config.json whose architecture or fields the model adapters cannot read."""


class LayoutError(InputError):
    """An impossible parallel layout (e.g. tp does not divide the KV heads)."""


class UnsupportedFormatError(InputError):
    """The weights' file format cannot be loaded by the engine (or by any engine on the device):
    a per-device answer, like one that does not fit (compare lists it as a row)."""


class Interrupted(InferplanError):
    """A long run stopped by the user (Ctrl-C); the message says what was kept and where."""

    exit_code = 130  # 128 + SIGINT, as a shell reports an interrupted command


class DoesNotFitError(InferplanError):
    """The model does not fit the hardware under the requested layout (a negative answer)."""

    exit_code = 1


def kind_command(kind: str) -> str:
    return {"model": "models", "hardware": "hardware", "precision": "precisions"}.get(kind, kind + "s")


def suggest(name: str, known: Iterable[str], n: int = 4) -> list[str]:
    """Close matches for a misspelt id: prefix/substring matches first, then difflib ratio."""
    known = list(known)
    low = name.lower()
    sub = [k for k in known if low and (k.startswith(low) or low in k)]
    fuzzy = difflib.get_close_matches(low, known, n=n, cutoff=0.6)
    out: list[str] = []
    for k in sub + fuzzy:
        if k not in out:
            out.append(k)
    return out[:n]


def validation_summary(e: ValidationError, *, prefix: str = "", flags: bool = False,
                       limit: int = 3) -> str:
    """Pydantic's validation errors as one line: ``field.path: message``, '; '-joined, the first
    `limit` then ``(+N more)``. `prefix`: a path put before every location (``params``);
    `flags`: locations spelled as the CLI's flags (``--max-num-seqs``). An error of the whole
    entry (no location) is its message alone. The one formatter of pydantic errors: the CLI's
    typed options, the HTTP API's bodies, catalog and claims files, engine options."""
    errors = e.errors()
    parts = []
    for err in errors[:limit]:
        path = [str(x) for x in (prefix, *err["loc"]) if x != ""]
        loc = "--" + "-".join(path).replace("_", "-") if flags and path else ".".join(path)
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    more = len(errors) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
