"""The shape of the package: who may import what (README "Architecture")."""

from __future__ import annotations

import ast
from pathlib import Path

import inferplan.sim

SRC = Path(__file__).resolve().parents[1] / "src" / "inferplan"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every `from inferplan... import names` in a file (TYPE_CHECKING
    blocks included: a type is still a dependency)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("inferplan"):
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("inferplan")]
    return out


def test_plan_imports_only_the_public_names_of_sim():
    public = set(inferplan.sim.__all__)
    bad = []
    for path in sorted((SRC / "plan").rglob("*.py")):
        for module, names in _imports(path):
            if module.startswith("inferplan.sim.") or (module == "inferplan.sim" and not names):
                bad.append(f"{path.name}: {module}")
            elif module == "inferplan.sim":
                bad += [f"{path.name}: inferplan.sim.{n}" for n in names if n not in public]
    assert not bad, "plan/ reaches past sim.__all__: " + ", ".join(bad)
