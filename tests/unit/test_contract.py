"""The container boundary: the scenario and the host spell the same names (cell/contract.py)."""

from __future__ import annotations

import ast
import re

from repromatrix.cell import contract
from tests.conftest import REPO

PACKAGE = REPO / "src" / "repromatrix"
SCENARIO = PACKAGE / "templates" / "scenario.py"


def variables_read(source: str) -> set[str]:
    """The REPROMATRIX_* variables a script reads: os.environ.get("X") and os.environ["X"]."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript):
            key = node.slice
        else:
            continue
        if isinstance(key, ast.Constant) and str(key.value).startswith("REPROMATRIX_"):
            found.add(key.value)
    return found


def test_the_scenario_reads_exactly_the_declared_variables():
    assert variables_read(SCENARIO.read_text()) == set(contract.SCENARIO_VARIABLES)


def test_the_scenario_prints_the_declared_record_prefix():
    assert f'PREFIX = "{contract.RECORD_PREFIX}"' in SCENARIO.read_text()


def test_the_checker_sees_a_variable_the_contract_lacks():
    assert variables_read('import os\nos.environ.get("REPROMATRIX_NEW", "")\nos.environ["REPROMATRIX_X"]\n') \
        == {"REPROMATRIX_NEW", "REPROMATRIX_X"}


def test_the_host_spells_the_scenario_variables_only_through_the_contract():
    # A second spelling is how two sides drift apart; templates get them as `var.NAME`.
    names = "|".join(re.escape(n) for n in contract.SCENARIO_VARIABLES)
    spelled = re.compile(rf"(?<![\w.])({names})\b")
    offenders = []
    for path in PACKAGE.rglob("*"):
        if path.suffix not in (".py", ".j2") or path in (SCENARIO, PACKAGE / "cell" / "contract.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix == ".py" else line
            if spelled.search(code) and not code.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_record_is_the_last_prefixed_json_object():
    out = (f"noise\n{contract.RECORD_PREFIX}{{\"schema\": 1, \"n\": 1}}\n"
           f"{contract.RECORD_PREFIX}{{\"schema\": 1, \"n\": 2}}\ntrailing\n")
    assert contract.parse_record(out) == {"schema": 1, "n": 2}
    assert contract.parse_record(f"{contract.RECORD_PREFIX}[1, 2]\n") is None  # not an object
    assert contract.parse_record(f"{contract.RECORD_PREFIX}{{cut off\n") is None
    assert contract.parse_record("no record at all\n") is None
