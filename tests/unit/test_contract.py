"""The container boundary: the scenario and the host spell the same names (cell/contract.py)."""

from __future__ import annotations

import ast
import json
import re

import pytest

from repromatrix.cell import contract
from repromatrix.core.outcomes import Outcome
from repromatrix.execute.runner import observed
from repromatrix.judge.classify import classify
from tests.conftest import DATA, REPO

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


def test_a_record_is_the_last_prefixed_line_parsed_into_types():
    first = json.dumps({"schema": 1, "package": "tensorflow", "python": "3.11.2", "after": "2.20.0"})
    last = json.dumps({"schema": 1, "package": "tensorflow", "python": "3.11.2", "after": "2.21.0",
                       "upgrade": {"command": "pip install -U tensorflow", "exit_code": 0, "output": "ok",
                                   "seconds": 1.5, "timed_out": False},
                       "pip": "pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)"})
    record = contract.parse_record(f"noise\n{contract.RECORD_PREFIX}{first}\n{contract.RECORD_PREFIX}{last}\nend\n")
    assert record is not None and record.after == "2.21.0" and record.pip_version == "23.0.1"
    assert record.upgrade == contract.Run("pip install -U tensorflow", 0, "ok", 1.5, False)
    assert contract.parse_record("no record at all\n") is None


def test_every_captured_record_parses():
    paths = sorted((REPO / "tests" / "data" / "records").glob("*.json"))
    assert len(paths) > 30
    for path in paths:
        assert contract.Record.from_json(json.loads(path.read_text())).package, path.name


@pytest.mark.parametrize("text, names", [
    ("[1, 2]", "record: expected an object, got list"),
    ("{cut off", "the record is not JSON"),
    ('{"schema": 1, "python": "3.11.2"}', "record.package: missing"),
    ('{"schema": 2, "package": "t", "python": "3"}', "record.schema: 2, this repromatrix reads 1"),
    ('{"package": "t", "python": "3", "upgrade": {"exit_code": "0"}}',
     "record.upgrade.exit_code: expected an integer, got str"),
    ('{"package": "t", "python": "3", "upgrade": {"exit_code": true}}',
     "record.upgrade.exit_code: expected an integer, got bool"),
    ('{"package": "t", "python": "3", "upgrade": {"seconds": Infinity}}',
     "record.upgrade.seconds: expected a finite number, got float"),
    ('{"package": "t", "python": "3", "sharers": [{"dirs": "tensorflow"}]}',
     "record.sharers[0].dirs: expected a list of strings, got str"),
    ('{"package": "t", "python": "3", "identities": {"root": {"import": {"ok": 1}}}}',
     "record.identities.root.import.ok: expected true or false, got int"),
])
def test_a_malformed_record_is_an_error_naming_its_field(text, names):
    with pytest.raises(contract.RecordError, match=re.escape(names)):
        contract.parse_record(f"{contract.RECORD_PREFIX}{text}\n")


def test_a_malformed_record_is_the_cells_infra_error_not_a_verdict():
    obs = observed(f"pip said things\n{contract.RECORD_PREFIX}{{\"package\": 1}}\n", 0, False)
    verdict = classify(obs)
    assert verdict.outcome is Outcome.INFRA_ERROR
    assert verdict.evidence[0] == ("the cell's scenario printed a record that is not one: "
                                   "record.package: expected a string, got int")


def test_the_scenarios_stage_timings_are_read_and_a_bad_one_is_named():
    from repromatrix.cell.contract import Record
    from repromatrix.cell.fields import RecordError

    data = json.loads((DATA / "records" / "triage-bookworm-py3.11-user-venv-tf2.15.0.json").read_text())
    assert Record.from_json(data).stages == {}  # a record made before stages were timed
    data["stages"] = {"probes": 1.25, "upgrade": 40}
    assert Record.from_json(data).stages == {"probes": 1.25, "upgrade": 40.0}
    data["stages"]["upgrade"] = "forty"
    with pytest.raises(RecordError, match=r"record\.stages\.upgrade: expected a finite number"):
        Record.from_json(data)
