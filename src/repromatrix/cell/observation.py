"""What a cell's container left behind, before anyone judged it: the execute stage makes one of
each run (execute/runner.py) and the judge stage reads it (judge/classify.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from .contract import Record


@dataclass(frozen=True)
class Observation:
    """Everything a cell run produced, before interpretation."""

    build_ok: bool = True
    build_log: str = ""
    setup_failed: bool = False  # the build failed in the step that installs the prior version
    record: Record | None = None  # the scenario's record, None if it never printed one
    record_error: str = ""  # what was wrong with the record it printed, if it was not one
    output: str = ""  # the container's combined output
    exit_code: int | None = None
    timed_out: bool = False
    infra_reason: str = ""
    interrupted: bool = False  # the run was stopped while this cell ran
