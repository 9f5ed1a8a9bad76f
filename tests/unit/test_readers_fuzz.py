"""Any bytes, any JSON value in any field of the files an attached run or a CI job hands over
(run.json, results.json, cells.jsonl, a shard plan): the command that reads them answers with
its own exit code (0, 1 for unexpected cells, 2 for bad input, 3 when it got as far as wanting
Docker), never 4 (a crash), and writes nothing outside the run directory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repromatrix.cli import main
from repromatrix.pipeline.prepare import load_cells
from repromatrix.results.journal import RunHeader, matrix_hash
from repromatrix.results.results import CELL_FIELDS, RUN_FIELDS

MATRIX = "target: {package: tensorflow}\naxes: {os: [bookworm], install: [venv, system]}\n"
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)
# Python's json writes NaN and Infinity (and huge integers) if asked: the hostile file may hold them
HOSTILE_NUMBERS = st.sampled_from(["NaN", "-Infinity", "1e999", "9" * 5000, "[" * 3000 + "]" * 3000])


@pytest.fixture(autouse=True)
def no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class Attached:
    """A run directory someone attached: a real run's files, one field of one file replaced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.matrix = root / "m.yaml"
        self.matrix.write_text(MATRIX)
        _, cells = load_cells(self.matrix)
        self.ids = [c.id for c in cells]
        self.run_dir = root / "reports" / "20261202-101500-beef"
        self.run_dir.mkdir(parents=True)
        self.header = RunHeader(run_id=self.run_dir.name, matrix=str(self.matrix),
                                matrix_sha256=matrix_hash(self.matrix), cells=self.ids,
                                started="2026-12-02T10:15:00+00:00", target={"package": "tensorflow"},
                                matrix_file=str(self.matrix)).to_json()
        self.cell = {"id": self.ids[0], "axes": dict(cells[0].axes), "outcome": "upgraded", "evidence": ["ok"]}

    def write(self, name: str, data: Any, raw: str | None = None) -> None:
        text = raw if raw is not None else json.dumps(data, allow_nan=True)
        (self.run_dir / name).write_text(text + ("\n" if name == "cells.jsonl" else ""))

    def outside(self) -> set[str]:
        return {p for p in tree(self.root) if not p.startswith("reports/20261202-101500-beef")}


def replaced(base: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**base, key: value}


def raw_with(base: dict[str, Any], key: str, literal: str) -> str:
    """The JSON of `base` with `key`'s value written as `literal` (NaN, 5,000 digits, ...)."""
    marker = "\u2603MARK\u2603"
    return json.dumps({**base, key: marker}).replace(json.dumps(marker), literal)


@pytest.fixture
def attached(tmp_path: Path) -> Iterator[Attached]:
    yield Attached(tmp_path)


def exits(argv: list[str], attached: Attached, allowed: set[int]) -> None:
    before = attached.outside()
    os.chdir(attached.root)  # nothing may land in the working directory either
    code = main(argv)
    assert code in allowed, code
    assert attached.outside() == before


FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,  # 1500: a deeper look
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(key=st.sampled_from([*RUN_FIELDS, "schema", "cells"]), value=JSON | st.just("\x00"))
def test_any_value_in_results_json(tmp_path_factory, key, value):
    attached = Attached(tmp_path_factory.mktemp("r"))
    attached.write("results.json", replaced({"schema": 1, "run_id": "r", "matrix": "m.yaml", "started": "s",
                                             "target": {"package": "tensorflow"}, "cells": [attached.cell]},
                                            key, value))
    exits(["report", str(attached.run_dir)], attached, {0, 1, 2})


@FUZZ
@given(key=st.sampled_from(list(CELL_FIELDS)), value=JSON, literal=HOSTILE_NUMBERS | st.none())
def test_any_value_in_a_journal_line(tmp_path_factory, key, value, literal):
    attached = Attached(tmp_path_factory.mktemp("j"))
    attached.write("run.json", attached.header)
    cell = replaced(attached.cell, key, value)
    attached.write("cells.jsonl", cell, raw_with(attached.cell, key, literal) if literal else None)
    exits(["report", str(attached.run_dir)], attached, {0, 1, 2})


@FUZZ
@given(key=st.sampled_from(list(RunHeader.__dataclass_fields__) + ["schema"]), value=JSON,
       literal=HOSTILE_NUMBERS | st.none(), command=st.sampled_from(["report", "resume", "remedy"]))
def test_any_value_in_run_json(tmp_path_factory, key, value, literal, command):
    attached = Attached(tmp_path_factory.mktemp("h"))
    header = replaced(attached.header, key, value)
    attached.write("run.json", header, raw_with(attached.header, key, literal) if literal else None)
    attached.write("cells.jsonl", attached.cell)
    argv = {"report": ["report", str(attached.run_dir)],
            "resume": ["run", "--resume", str(attached.run_dir)],
            "remedy": ["remedy", str(attached.run_dir), attached.ids[0]]}[command]
    exits(argv, attached, {0, 1, 2} if command == "report" else {2, 3})  # 3: valid, and no engine here


@FUZZ
@given(data=st.binary(max_size=300), name=st.sampled_from(["run.json", "results.json", "cells.jsonl"]))
def test_any_bytes_as_a_run_file(tmp_path_factory, data, name):
    attached = Attached(tmp_path_factory.mktemp("b"))
    if name == "cells.jsonl":
        attached.write("run.json", attached.header)
    (attached.run_dir / name).write_bytes(data)
    exits(["report", str(attached.run_dir)], attached, {0, 1, 2})


@FUZZ
@given(value=JSON, where=st.sampled_from(["top", "include", "entry", "shard", "ids"]))
def test_any_value_in_a_shard_plan(tmp_path_factory, value, where):
    attached = Attached(tmp_path_factory.mktemp("p"))
    entry: dict[str, Any] = {"shard": "1/2", "ids": attached.ids[:1]}
    plan: Any = {"top": value, "include": {"include": value},
                 "entry": {"include": [value]}, "shard": {"include": [{**entry, "shard": value}]},
                 "ids": {"include": [{**entry, "ids": value}]}}[where]
    path = attached.root / "plan.json"
    path.write_text(json.dumps(plan, allow_nan=True))
    exits(["run", "--matrix", str(attached.matrix), "--shard", "1/2", "--shard-plan", str(path),
           "--out", str(attached.run_dir)], attached, {2, 3})
