"""Stage 6: results as serialisable records, stored atomically in the run directory.

Layout of reports/<run-id>/:
  results.json            the run (schema below, versioned by SCHEMA)
  index.html              the report (rendered from results.json only)
  cells/<cell-id>/        Dockerfile, scenario.py [, ca-bundle.pem]: the reproduction
  cells/<cell-id>/log.txt build log + container output
  cells/<cell-id>/remedies/<remedy>.log   a remedy attempt: its commands + container output
reports/latest -> <run-id>
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.files import load_json, write_atomic
from ..core.model import is_cell_id
from ..core.outcomes import Outcome
from ..core.result import SCHEMA, Fix, RunResult


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def dumps(run: RunResult) -> str:
    # allow_nan=False: a NaN or an infinity is never written (a page's JSON.parse would throw).
    return json.dumps(run.to_json(), indent=2, allow_nan=False) + "\n"


def save_run(run: RunResult, run_dir: Path) -> Path:
    path = run_dir / "results.json"
    write_atomic(path, dumps(run))
    return path


# The most a results.json, run.json or cells.jsonl may be: about 19,000 cells of a real run
# (7 KB each), 38 times settings.max_cells' default. `report` of one this size takes under
# 2 GB of memory (scripts/bench-cli measures it); a bigger file is refused before it is read.
MAX_RESULTS_BYTES = 128 * 1024 * 1024
MAX_SECONDS = 10**7  # about four months: no duration of a cell or an attempt is longer
# The shape of every field an attached results.json may carry (it may come from anyone).
Shape = str
RUN_FIELDS: dict[str, Shape] = {
    "run_id": "str",
    "matrix": "str",
    "target": "dict[str]",
    "started": "str",
    "finished": "str",
    "host_ca": "str?",
    "tool_version": "str",
    "baseline": "str?",
    "cells": "list[cell]",
    "planned": "int",
    "stopped": "str",
    "merged_from": "list[str]",
    "download_cache": "dict[count]",  # files and bytes: a real run's are tens of gigabytes
}
CELL_FIELDS: dict[str, Shape] = {
    "id": "cell-id",
    "axes": "dict[str]",
    "outcome": "outcome",
    "evidence": "list[str]",
    "expected": "list[outcome]",
    "before": "str?",
    "after": "str?",
    "newest": "str?",
    "newest_for_python": "str?",
    "below_newest": "str?",
    "python": "str?",
    "pip": "str?",
    "upgrade_command": "str",
    "pip_exit_code": "int?",
    "pip_check": "dict?",
    "import_check": "dict?",
    "durations": "dict[number]",
    "stages": "dict[number]",
    "dockerfile": "str",
    "log": "str",
    "reproduce": "str",
    "notes": "list[str]",
    "interpreter": "dict",
    "imports": "list[str]",
    "checks": "list[dict]",
    "why_no_wheel": "dict",
    "changed": "list[dict]",
    "around": "dict",
    "trend": "str",
    "previous_outcome": "outcome?",
    "since_baseline": "dict",
    "setup": "str",
    "rerun": "bool",
    "setup_image": "str",
    "downloads": "str",
    "attempts": "list[attempt]",
    "fix": "str?",
    "host": "str",
    "platform": "dict[str]",
    "resolved": "resolved?",
}
# A resolved cell's answer (pipeline/record.py _resolved writes it)
RESOLVED_FIELDS: dict[str, Shape] = {
    "for": "str",
    "platform": "str",
    "python": "str",
    "version": "str?",
    "file": "str",
    "distributions": "list[list[str]]",
    "command": "str",
}
REQUIRED_RUN_FIELDS = ("run_id", "matrix", "target", "started")
# One remedy attempt of a cell (remedies.py; pipeline.to_attempt_result writes them).
ATTEMPT_FIELDS: dict[str, Shape] = {
    "remedy": "str",
    "title": "str",
    "commands": "list[str]",
    "identity": "str",
    "warning": "str",
    "outcome": "outcome",
    "evidence": "list[str]",
    "fix": "fix",
    "pip_check_exit_code": "int?",
    "after": "str?",
    "log": "str",
    "seconds": "number",
}


SHAPES_SAID = {
    "dict[count]": "an object of whole numbers, none negative",
    "cell-id": "a cell id: letters, digits, '.', '_' and '-', as repromatrix makes them",
    "resolved?": "null or an object with " + ", ".join(RESOLVED_FIELDS),
}


def _shape_ok(value: Any, shape: Shape) -> bool:
    if shape.endswith("?"):
        return value is None or _shape_ok(value, shape[:-1])
    simple = {"str": str, "dict": dict, "int": int}
    if shape == "bool":
        return isinstance(value, bool)
    if shape in simple:
        return isinstance(value, simple[shape]) and not isinstance(value, bool)
    if shape == "outcome":
        return isinstance(value, str) and value in {o.value for o in Outcome}
    if shape == "cell-id":  # it names a folder: what cell_id makes, one path component
        return isinstance(value, str) and is_cell_id(value)
    if shape == "fix":
        return isinstance(value, str) and value in {f.value for f in Fix}
    if shape == "attempt":
        return (
            isinstance(value, dict)
            and all(k in value for k in ("remedy", "outcome", "fix"))
            and all(_shape_ok(value[k], ATTEMPT_FIELDS[k]) for k in value if k in ATTEMPT_FIELDS)
        )
    if shape == "resolved":
        return isinstance(value, dict) and all(
            k in value and _shape_ok(value[k], RESOLVED_FIELDS[k]) for k in RESOLVED_FIELDS
        )
    if shape == "count":  # files, bytes: a whole number, not negative (the parser caps its digits)
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if shape == "number":  # seconds: finite (the parser saw to that), not negative, not absurd
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return is_number and 0 <= value <= MAX_SECONDS
    if shape.startswith("list["):
        return isinstance(value, list) and all(_shape_ok(v, shape[5:-1]) for v in value)
    if shape.startswith("dict["):
        return isinstance(value, dict) and all(
            isinstance(k, str) and _shape_ok(v, shape[5:-1]) for k, v in value.items()
        )
    return shape == "cell" and isinstance(value, dict)


def validate_results(data: Any, path: Path, whole: bool = True) -> None:
    """Refuse a results.json whose fields are not what this repromatrix writes, naming the field."""

    def fail(at: str, value: Any, shape: Shape) -> None:
        raise UsageError(
            f"{path}: {at}: {json.dumps(value)[:80]} is not a valid value (expected "
            f"{SHAPES_SAID.get(shape, shape)})\n"
            "  hint: this results.json was not written by this repromatrix, or was edited"
        )

    if not isinstance(data, dict):
        fail("(top level)", data, "an object")
    for key, shape in RUN_FIELDS.items():
        if key in data and not _shape_ok(data[key], shape):
            fail(key, data[key], shape)
    for key in REQUIRED_RUN_FIELDS if whole else ():
        if key not in data:
            fail(key, None, RUN_FIELDS[key])
    for i, cell in enumerate(data.get("cells", [])):
        for key, shape in CELL_FIELDS.items():
            if key in cell and not _shape_ok(cell[key], shape):
                fail(f"cells[{i}].{key}", cell[key], shape)
        for key in ("id", "axes", "outcome", "evidence"):
            if key not in cell:
                fail(f"cells[{i}].{key}", None, CELL_FIELDS[key])


def load_run(run_dir: Path) -> RunResult:
    path = run_dir / "results.json" if run_dir.is_dir() else run_dir
    try:
        data = load_json(path, "results", MAX_RESULTS_BYTES)
    except UsageError as e:
        raise UsageError(f"{e}\n  hint: pass a run directory such as reports/latest") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise UsageError(f"{path}: results schema {found!r}, this repromatrix reads {SCHEMA}")
    validate_results(data, path)
    return RunResult.from_json(data)


def point_latest(reports: Path, run_dir: Path) -> None:
    link = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)
