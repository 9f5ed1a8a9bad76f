"""The typed results: a run's results.json read into the types and written back is the same file,
an attempt is a typed record whose outcome and fix are the registries' members, and what the
reports read of an attempt comes from its fields."""

from __future__ import annotations

import json

import pytest

from repromatrix.core.errors import UsageError
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import AttemptResult, Fix, RunResult
from repromatrix.results.results import dumps, load_run, save_run
from tests.support import REAL_ATTEMPTS, real_size_run


def test_a_run_round_trips_through_the_types(tmp_path):
    run = real_size_run(12, tmp_path)
    assert any(c.attempts for c in run.cells)
    data = json.loads(dumps(run))
    again = RunResult.from_json(data)
    assert json.loads(dumps(again)) == data
    assert all(isinstance(a, AttemptResult) for c in again.cells for a in c.attempts)


def test_a_stored_run_reads_back_typed(tmp_path):
    run = real_size_run(12, tmp_path)
    save_run(run, tmp_path)
    loaded = load_run(tmp_path)
    failed = next(c for c in loaded.cells if c.attempts)
    venv = failed.fix_attempt
    assert venv is not None and venv.remedy == "venv" and venv.fix is Fix.WORKS
    assert isinstance(venv.outcome, Outcome) and venv.commands[0].startswith("python3 -m venv")
    assert failed.remedies_said.endswith("fix: venv")


def test_an_attempt_names_only_the_registries_outcomes_and_fixes():
    attempt = AttemptResult.from_json(REAL_ATTEMPTS[0])
    assert AttemptResult.from_json(attempt.to_json()) == attempt
    assert attempt.to_json()["fix"] == attempt.fix.value  # written as its id, not a Python repr
    with pytest.raises(ValueError):
        AttemptResult.from_json(REAL_ATTEMPTS[0] | {"fix": "maybe"})
    with pytest.raises(ValueError):
        AttemptResult.from_json(REAL_ATTEMPTS[0] | {"outcome": "fine"})


def test_a_stored_attempt_that_is_not_one_is_refused_naming_where(tmp_path):
    run = real_size_run(3, tmp_path)
    data = json.loads(dumps(run))
    cell = next(i for i, c in enumerate(data["cells"]) if c["attempts"])
    data["cells"][cell]["attempts"][0]["fix"] = "maybe"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match=rf"cells\[{cell}\]\.attempts"):
        load_run(tmp_path)
