"""Hermetic tests: INFERPLAN_HOME points at a temp dir; shared/ is found next to the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
PUBLISHED = SHARED / "calibration" / "published.csv"


@pytest.fixture(autouse=True)
def _home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("inferplan_home")
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    return home
