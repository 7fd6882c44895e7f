"""The README's 'Beyond the datacenter GPU' commands run (docs that run cannot rot)."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands() -> list[str]:
    section = README.read_text().split("## Beyond the datacenter GPU", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip().startswith("inferplan ")]


@pytest.mark.parametrize("cmd", _commands())
def test_beyond_the_gpu_example_runs(cmd):
    r = CliRunner().invoke(app, shlex.split(cmd)[1:] + ["--json"], catch_exceptions=False)
    assert r.exit_code == 0, f"{cmd}\\n{r.stderr}"


def test_the_section_has_the_four_systems_and_partial_offload():
    cmds = _commands()
    assert len(cmds) == 5
    for flag in ("--offload experts", "--class npu", "--slots", "cerebras-cs3", "--engine llama.cpp --offload auto"):
        assert any(flag in c for c in cmds), flag
