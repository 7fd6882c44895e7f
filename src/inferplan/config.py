"""Where user data lives: ``INFERPLAN_HOME`` (default ``~/.inferplan``). Reading never writes."""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The user's inferplan folder (not created here; writers create it when they write)."""
    env = os.environ.get("INFERPLAN_HOME")
    return Path(env).expanduser() if env else Path.home() / ".inferplan"
