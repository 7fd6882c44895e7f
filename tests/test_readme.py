"""The README's example commands run (docs that run cannot rot)."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

README = Path(__file__).resolve().parent.parent / "README.md"


def _example_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = block.replace("\\\n", " ")
    cmds = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        cmds += [c.strip() for c in line.split(";") if c.strip().startswith("inferplan ")]
    return cmds


def _needs_missing_file(args: list[str]) -> bool:
    for a in args:
        if a.endswith((".csv", ".json", ".yaml")) and not (README.parent / a).exists():
            return True
    return False


@pytest.mark.parametrize("cmd", _example_commands())
def test_readme_example_runs(cmd, tmp_path):
    args = shlex.split(cmd)[1:]
    if _needs_missing_file(args):
        pytest.skip(f"needs a file of the user's: {cmd}")
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, f"{cmd}\n{r.stderr}"


def test_readme_has_examples():
    assert len(_example_commands()) >= 10
