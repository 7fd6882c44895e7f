"""``--model ORG/NAME`` for a model that is not bundled: its config.json from the local Hugging
Face cache, or (online, with the optional ``hf`` extra) fetched by ``huggingface_hub``.

The cache layout is the hub's own: ``$HF_HUB_CACHE`` (default ``$HF_HOME/hub``, default
``~/.cache/huggingface/hub``) holds ``models--ORG--NAME/refs/main`` (a commit hash) and
``models--ORG--NAME/snapshots/<hash>/config.json``. Reading the cache needs no package and
no network; only a miss tries ``huggingface_hub.hf_hub_download`` (skipped when
``HF_HUB_OFFLINE`` is set), and a failure says how to pass a config.json instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from inferplan.errors import InputError

__all__ = ["REPO_ID", "hub_cache_dir", "cached_config", "find_config"]

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def hub_cache_dir() -> Path:
    """Where the hub keeps downloaded repositories (the same rules as huggingface_hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def cached_config(repo: str, cache: Path | None = None) -> Path | None:
    """The cached config.json of ``repo`` (the ``main`` ref's snapshot first), else None."""
    d = (cache or hub_cache_dir()) / f"models--{repo.replace('/', '--')}"
    snapshots = d / "snapshots"
    try:
        ref = (d / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        ref = ""
    if ref and re.fullmatch(r"[0-9a-f]{7,64}", ref) and (snapshots / ref / "config.json").is_file():
        return snapshots / ref / "config.json"
    try:
        found = [p / "config.json" for p in snapshots.iterdir() if (p / "config.json").is_file()]
    except OSError:
        return None
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def find_config(repo: str) -> Path:
    """config.json of ``repo``: from the cache, else downloaded (online, ``inferplan[hf]``)."""
    if not REPO_ID.match(repo):
        raise InputError(f"'{repo[:100]}' is not a Hugging Face repository id (ORG/NAME)")
    hit = cached_config(repo)
    if hit is not None:
        return hit
    how = (f"or download its config.json and pass --model path/to/config.json "
           f"(cache searched: {hub_cache_dir()})")
    if _offline():
        raise InputError(f"model '{repo}' is not bundled and not in the Hugging Face cache, and "
                         f"HF_HUB_OFFLINE is set: go online, {how}")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError(f"model '{repo}' is not bundled and not in the Hugging Face cache; "
                         f"to fetch it: pip install 'inferplan[hf]', {how}") from None
    try:
        return Path(hf_hub_download(repo_id=repo, filename="config.json"))
    except Exception as e:  # noqa: BLE001 - network, auth, missing repo: all "cannot fetch"
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise InputError(f"model '{repo}' is not bundled or cached and could not be fetched "
                         f"({reason}); offline? {how}") from None
