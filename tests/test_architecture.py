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


MAX_LINES = 600


def _runtime_imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Modules of inferplan that `module` imports when it runs (anywhere in the file, lazy
    imports inside functions included), leaving out ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    pkg = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("inferplan"):
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("inferplan")}
    return {m for m in out if m in modules and m != module}


def _graph() -> dict[str, set[str]]:
    files = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        files[".".join(parts)] = path
    return {m: _runtime_imports(p, m, set(files)) for m, p in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (a package's own __init__ re-exporting its modules is not an edge back
    from those modules: importing ``a.b`` runs ``a`` first by Python's rules, not by choice)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if m.startswith(n + "."):  # a module importing its own package's __init__
                continue
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    graph = _graph()
    assert len(graph) > 50 and "inferplan.sim.pool" in graph["inferplan.sim.simulate"]
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_a_cycle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_source_file_is_over_600_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these (> {MAX_LINES} lines): {long}"


# README "Architecture": what each top-level package may import (besides itself)
BASE = {"errors", "units", "config", "netutil"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(), "units": set(), "config": set(), "netutil": set(),
    "inputs": BASE,
    "catalog": BASE,
    "models": {"catalog", "inputs"} | BASE,
    "perf": {"catalog", "models"} | BASE,
    "store": BASE,
    "calib": {"perf", "catalog", "models", "inputs", "store", "sim"} | BASE,
    "profiles": {"calib", "store", "inputs"} | BASE,
    "compare": {"perf", "catalog", "models"} | BASE,
    "sim": {"perf", "catalog", "models"} | BASE,
    "plan": {"sim", "perf", "catalog", "models"} | BASE,
    "audit": {"perf", "catalog", "models"} | BASE,
    "report": {"compare", "perf", "calib", "models", "catalog", "store", "sim", "audit"} | BASE,
    "bench": {"calib", "catalog", "models", "perf", "inputs", "store"} | BASE,
    "loadtest": {"sim", "bench", "catalog", "models", "perf", "inputs"} | BASE,
    "__init__": {"errors"},
}
LIB_ONLY_IN = {("report", "sim"): "inferplan.report.make", ("report", "audit"): "inferplan.report.make"}


def test_packages_import_only_their_lower_layers():
    bad = []
    for module, deps in _graph().items():
        parts = module.split(".")
        pkg = parts[1] if len(parts) > 1 else "__init__"
        if pkg in ("cli", "web", "__main__"):
            continue
        for dep in deps:
            dparts = dep.split(".")
            dpkg = dparts[1] if len(dparts) > 1 else "__init__"
            if dpkg in ("cli", "web"):
                bad.append(f"{module} -> {dep} (nothing imports cli/ or web/)")
            elif dpkg != pkg and dpkg not in ALLOWED.get(pkg, set()):
                bad.append(f"{module} -> {dep}")
            elif (pkg, dpkg) in LIB_ONLY_IN and module != LIB_ONLY_IN[(pkg, dpkg)]:
                bad.append(f"{module} -> {dep} (only {LIB_ONLY_IN[(pkg, dpkg)]} may)")
    assert not bad, "imports outside the README's layers: " + "; ".join(sorted(bad))
