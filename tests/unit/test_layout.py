"""The house: the modules' import graph has no cycle (counting imports made only for type checking,
which are design dependencies too)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "src" / "repromatrix"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The repromatrix modules `path` imports, anywhere in it (also inside functions)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts]
    modules = {module_name(p): p for p in paths}
    edges = {}
    for name, path in modules.items():
        edges[name] = {m for m in imports_of(path) if m in modules and m != name and m != "repromatrix"}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle, as the modules around it, or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_checker_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    edges = graph()
    assert len(edges) > 30
    assert cycle(edges) == [], " → ".join(cycle(edges))


def stage(module: str) -> str:
    """The package of a module (repromatrix.infra.engine → infra); a top-level module is its own."""
    parts = module.split(".")
    is_stage = len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir())
    return parts[1] if is_stage else module


def stage_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges.setdefault(stage(module), set()).update(stage(t) for t in targets if stage(t) != stage(module))
    return edges


def test_the_stages_import_one_way():
    edges = stage_graph()
    assert {"cell", "core", "config", "plan", "infra", "execute", "judge", "results", "pipeline"} <= set(edges)
    assert cycle(edges) == [], " → ".join(cycle(edges))


def test_core_imports_nothing_above_it_and_results_need_no_engine():
    edges = stage_graph()
    assert edges["cell"] == set()  # the container contract: below everything
    assert edges["core"] <= {"cell"}
    assert edges["results"] <= {"core", "cell"}  # report rendering never needs Docker


def test_only_the_docker_adapter_talks_to_docker():
    talks = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if "templates" not in p.parts
                   and any(m == "docker" or m.startswith("docker.") for m in imports_of(p)))
    assert talks == ["repromatrix.infra.docker_engine"]
