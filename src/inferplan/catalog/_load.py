"""Shared helpers for catalog files: fast YAML reading and id/alias resolution.

Parsed YAML is cached by the file's content hash (``$INFERPLAN_HOME/cache/yaml-<sha256>.pickle``,
one file per content; a changed file has another hash, so the cache never goes stale). The
cache only saves time: unreadable or unwritable, it is skipped; ``INFERPLAN_NO_CACHE=1`` turns
it off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inferplan.config import home_dir
from inferplan.errors import AmbiguousIdError, CatalogError, UnknownIdError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# what the cached objects depend on besides the file's bytes
_CACHE_SALT = f"1|{sys.version_info[:2]}|{yaml.__version__}".encode()


def _cache_path(content: bytes) -> Path | None:
    if os.environ.get("INFERPLAN_NO_CACHE"):
        return None
    key = hashlib.sha256(_CACHE_SALT + content).hexdigest()[:40]
    return home_dir() / "cache" / f"yaml-{key}.pickle"


def _cache_read(path: Path | None) -> tuple[bool, Any]:
    if path is None:
        return False, None
    try:
        with open(path, "rb") as f:
            return True, pickle.load(f)  # noqa: S301 - our own cache, in the user's home
    except Exception:  # noqa: BLE001 - missing or damaged: parse the YAML instead
        return False, None


def _cache_write(path: Path | None, data: Any) -> None:
    if path is None:
        return
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".yaml-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the new one
    except Exception:  # noqa: BLE001 - a read-only home: no cache, same answers
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file with the C loader when available (cached by content hash, see the
    module docstring); errors name the file."""
    try:
        content = Path(path).read_bytes()
        cache = _cache_path(content)
        hit, data = _cache_read(cache)
        if hit:
            return data
        data = yaml.load(content.decode("utf-8"), Loader=_Loader)  # noqa: S506 - safe loader
        _cache_write(cache, data)
        return data
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
    # suggest only names that resolve: ids and aliases of one id (an ambiguous alias would be refused)
    raise UnknownIdError(kind, name, list(ids) + [a for a, hit in alias_index.items()
                                                   if a not in ids and len(hit) == 1])
