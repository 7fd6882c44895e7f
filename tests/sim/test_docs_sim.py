"""The commands in docs/sim.md's bash blocks run and succeed (docs that run)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "sim.md"


def _commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.startswith("inferplan ")]


@pytest.mark.parametrize("cmd", _commands())
def test_docs_sim_example_runs(cmd):
    r = CliRunner().invoke(app, shlex.split(cmd)[1:])
    assert r.exit_code == 0, (cmd, r.stdout, r.stderr)
