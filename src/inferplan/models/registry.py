"""The bundled model catalog, and name -> ModelSpec lookup.

``catalog/data/models/index.yaml`` lists the bundled models (names, aliases, published
parameter counts with their sources); ``catalog/data/models/<id>.json`` is each model's Hugging
Face ``config.json``. ``get_model`` also reads a user's ``config.json`` (a file, or a folder
holding one). Shapes -> ModelSpec is ``adapters.py``'s job; nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplan.catalog._load import build_alias_index, data_path, load_yaml, resolve_id
from inferplan.errors import CatalogError, InputError, UnknownIdError
from inferplan.models.adapters import spec_from_hf_config
from inferplan.models.spec import ModelSpec

__all__ = ["ModelInfo", "get_model", "list_model_ids", "load_config", "model_info"]

_INDEX = ("models", "index.yaml")


class ModelInfo(BaseModel):
    """One entry of ``index.yaml``: what the authors published about a bundled model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    hf_repo: str
    published_total_params: float = Field(gt=0)
    published_active_params: float | None = Field(default=None, gt=0, description="MoE only")
    active_counts_embedding: bool = Field(
        default=True, description="the published active count includes the input embedding table"
    )
    params_source: str
    params_tolerance: float = Field(
        default=0.01,
        gt=0,
        lt=0.1,
        description="relative; any other value than 0.01 says why in notes",
    )
    native_precision: str
    native_expert_precision: str | None = None
    notes: str = ""


@lru_cache(maxsize=1)
def _index() -> dict[str, ModelInfo]:
    path = data_path(*_INDEX)
    raw = load_yaml(path)
    if not isinstance(raw, list):
        raise CatalogError(f"{path}: expected a list of model entries")
    out: dict[str, ModelInfo] = {}
    for entry in raw:
        mid = entry.get("id") if isinstance(entry, dict) else None
        try:
            info = ModelInfo(**entry)
        except (TypeError, ValidationError) as e:
            raise CatalogError(f"{path}: model entry {mid!r}: {e}") from e
        if info.id in out:
            raise CatalogError(f"{path}: duplicate model id {info.id!r}")
        out[info.id] = info
    return out


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, set[str]]:
    return build_alias_index({i: m.aliases for i, m in _index().items()})


def list_model_ids() -> list[str]:
    """Ids of the bundled models, sorted."""
    return sorted(_index())


def _resolve(name: str, hint: str = "") -> str:
    ids, aliases = _index(), _alias_index()
    try:
        return resolve_id("model", name, ids, aliases)
    except UnknownIdError:
        if not hint:
            raise
        raise UnknownIdError("model", name, [*ids, *aliases], hint=hint) from None


def model_info(name: str) -> ModelInfo:
    """The index entry of a bundled model, by id or alias."""
    return _index()[_resolve(name)]


def load_config(path: str | Path) -> tuple[dict, str]:
    """Read a ``config.json`` (or a folder holding one): (config dict, model id).

    The id is the folder name for a folder or a file named ``config.json``, else the file stem.
    """
    p = Path(path).expanduser()
    try:
        is_dir = p.is_dir()
    except (OSError, ValueError):
        is_dir = False
    if is_dir:
        file, model_id = p / "config.json", p.name
    else:
        file = p
        model_id = p.parent.name if p.name == "config.json" and p.parent.name else p.stem
    try:
        text = file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"model config not found: {file}") from None
    except IsADirectoryError:
        raise InputError(f"{file} is a folder without a config.json") from None
    except UnicodeDecodeError:
        raise InputError(f"{file}: not a UTF-8 JSON file") from None
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read model config {str(file)[:200]}: {getattr(e, 'strerror', None) or e}") from None
    try:
        cfg = json.loads(text)
    except RecursionError:
        raise InputError(f"{file}: JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        raise InputError(
            f"{file}: invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None
    if not isinstance(cfg, dict):
        raise InputError(f"{file}: expected a JSON object (a Hugging Face config.json)")
    return cfg, model_id


@lru_cache(maxsize=64)
def _bundled(model_id: str) -> ModelSpec:
    info = _index()[model_id]
    path = data_path("models", f"{model_id}.json")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CatalogError(f"bundled model config {path}: {e}") from e
    spec = spec_from_hf_config(cfg, model_id, info.name)
    return dataclasses.replace(
        spec,
        native_precision=info.native_precision,
        native_expert_precision=info.native_expert_precision,
        source=f"{info.hf_repo} config.json (bundled)",
        notes=info.notes,
    )


def _looks_like_path(name: str) -> bool:
    try:
        exists = Path(name).expanduser().exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        exists = False
    return name.endswith(".json") or name.startswith((".", "/", "~")) or exists


def get_model(name_or_path: str | Path) -> ModelSpec:
    """A bundled model by id or alias, or the model of a ``config.json`` file or folder.

    Catalog names win over same-named local paths; an unknown name that does not look like a
    path raises UnknownIdError with close matches.
    """
    if isinstance(name_or_path, Path):
        cfg, model_id = load_config(name_or_path)
        return dataclasses.replace(spec_from_hf_config(cfg, model_id), source=str(name_or_path))
    name = str(name_or_path)
    try:
        return _bundled(
            _resolve(name, hint="Pass a catalog id, an alias, ORG/NAME of a Hugging Face model, "
                                "or the path of a config.json")
        )
    except UnknownIdError:
        if not _looks_like_path(name):
            from inferplan.models.hf_cache import REPO_ID, find_config

            if not REPO_ID.match(name):
                raise
            cfg, _ = load_config(find_config(name))
            return dataclasses.replace(spec_from_hf_config(cfg, name), source=f"{name} config.json "
                                       "(Hugging Face)")
    cfg, model_id = load_config(name)
    return dataclasses.replace(spec_from_hf_config(cfg, model_id), source=name)
