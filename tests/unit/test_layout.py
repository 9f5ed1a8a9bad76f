"""The house: the modules' import graph has no cycle (counting imports made only for type checking,
which are design dependencies too)."""

from __future__ import annotations

import ast
import re
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


# The packages from the bottom up: each may import only those before it. Below the stages, what
# every stage shares: the container boundary, the domain, the installers as data, and the
# machinery that runs cells (the engine port and its adapter, images, services). Then the stages
# in the order a run takes them (the numbers their docstrings and pipeline/run.py use), then what
# wires them together and the commands.
ORDER = (
    "cell",
    "core",
    "installers",
    "infra",
    "config",  # stages 1-2: the matrix read and expanded into cells
    "plan",  # stage 3: a typed plan and a build context a cell
    "execute",  # stage 4: containers
    "judge",  # stage 5: verdicts, remedies, the typed result
    "results",  # stage 6: stored, compared, reported
    "pipeline",
    "intake",
    "cli",
    "__main__",
    "reference",  # the docs' tables, made from the registries and the command line
)


def against_order(edges: dict[str, set[str]]) -> list[str]:
    """Each import of a package by one below it (or by one not in ORDER, which is an error too)."""
    rank = {name: i for i, name in enumerate(ORDER)}
    short = {k.rpartition(".")[2]: {t.rpartition(".")[2] for t in v} for k, v in edges.items()}
    return sorted(f"{a} → {b}" for a, targets in short.items() if a != "repromatrix"
                  for b in targets if rank.get(b, len(ORDER)) >= rank.get(a, -1))


def test_the_order_checker_finds_an_import_against_it():
    assert against_order({"judge": {"results"}, "results": {"core"}}) == ["judge → results"]
    assert against_order({"newpackage": {"core"}}) == ["newpackage → core"]  # not placed in ORDER
    assert against_order({"results": {"judge", "core"}, "judge": {"core"}}) == []


def test_the_stages_import_in_stage_order():
    edges = stage_graph()
    packages = {name.rpartition(".")[2] for name in edges} - {"repromatrix"}
    assert packages == set(ORDER)  # a new package is placed in the order first
    assert against_order(edges) == []


STAGE_SAID = re.compile(r"^(?:For )?[Ss]tages? (\d)[ab]?(?:-(\d))?\b")


def test_one_stage_numbering_the_packages_and_the_pipeline_share():
    from repromatrix.pipeline.run import STAGE_NUMBERS

    assert set(STAGE_NUMBERS) < set(ORDER)
    ranked = sorted(STAGE_NUMBERS, key=ORDER.index)  # the numbers rise with the import order
    assert [STAGE_NUMBERS[p] for p in ranked] == sorted(STAGE_NUMBERS.values())
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        package = path.relative_to(PACKAGE).parts[0]
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        said = STAGE_SAID.match(doc)
        if said is None or package not in STAGE_NUMBERS:
            continue
        low, high = STAGE_NUMBERS[package].partition("-")[::2]
        if not low <= said.group(1) <= (high or low) or (said.group(2) or low) > (high or low):
            wrong.append(f"{path.relative_to(PACKAGE)}: {said.group(0)!r}, its package is {STAGE_NUMBERS[package]}")
    assert wrong == []


def test_core_imports_nothing_above_it_and_results_need_no_engine():
    edges = stage_graph()
    assert edges["cell"] == set()  # the container contract: below everything
    assert edges["core"] <= {"cell"}
    assert edges["results"] <= {"core", "cell"}  # report rendering never needs Docker


def test_only_the_docker_adapter_talks_to_docker():
    talks = sorted(module_name(p) for p in PACKAGE.rglob("*.py") if "templates" not in p.parts
                   and any(m == "docker" or m.startswith("docker.") for m in imports_of(p)))
    assert talks == ["repromatrix.infra.docker_engine"]
