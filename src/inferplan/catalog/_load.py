"""Shared helpers for catalog files: fast YAML reading and id/alias resolution."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inferplan.errors import AmbiguousIdError, CatalogError, UnknownIdError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file with the C loader when available; errors name the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=_Loader)  # noqa: S506 - safe loader
    except FileNotFoundError as e:
        raise CatalogError(f"file not found: {path}") from e
    except yaml.YAMLError as e:
        raise CatalogError(f"{path}: invalid YAML: {e}") from e
    except IsADirectoryError:
        raise CatalogError(f"{path} is a folder; expected a YAML file") from None
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: not a UTF-8 text file") from None
    except OSError as e:
        raise CatalogError(f"cannot read {path}: {e.strerror or e}") from None


def data_path(*parts: str) -> Path:
    """Path of a bundled data file under ``inferplan/catalog/data``."""
    return Path(str(resources.files("inferplan.catalog").joinpath("data", *parts)))


def build_alias_index(entries: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Map every lower-cased id and alias to the set of ids it may name."""
    index: dict[str, set[str]] = {}
    for id_, aliases in entries.items():
        index.setdefault(id_.lower(), set()).add(id_)
        for a in aliases:
            index.setdefault(a.lower(), set()).add(id_)
    return index


def resolve_id(kind: str, name: str, ids: Iterable[str], alias_index: Mapping[str, set[str]]) -> str:
    """Exact id first, then a unique alias; else AmbiguousIdError or UnknownIdError.

    An exact id always wins over an alias of the same spelling.
    """
    ids = list(ids)
    if name in ids:
        return name
    low = name.strip().lower()
    for i in ids:
        if i.lower() == low:
            return i
    hits = alias_index.get(low)
    if hits and len(hits) == 1:
        return next(iter(hits))
    if hits:
        raise AmbiguousIdError(kind, name, hits)
    raise UnknownIdError(kind, name, list(ids) + [a for a in alias_index if a not in ids])
