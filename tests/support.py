"""Synthetic results for report tests and the report benchmark (no Docker involved), and what
tests that start a `repromatrix run` of their own share."""

from __future__ import annotations

import itertools
import random
import signal

from repromatrix.cell.contract import Record
from repromatrix.core.outcomes import Outcome
from repromatrix.judge.classify import Observation
from repromatrix.results.results import CellResult, RunResult

EVIDENCE = {
    "upgraded": "Successfully installed tensorflow-2.21.0 (and 11 other packages)",
    "externally-managed": "error: externally-managed-environment",
    "setup-failed": "ERROR: No matching distribution found for tensorflow==2.15.0",
    "import-error": "import tensorflow failed: ImportError: A module that was compiled using NumPy 1.x ...",
    "not-upgraded": "Requirement already satisfied: tensorflow in /opt/venv/lib/python3.9/site-packages (2.20.0)",
}


def observe(record: dict | None, **seen: object) -> Observation:
    """An observation of a container that printed `record` (a captured record, as JSON data): parsed
    as the runner parses it, so a test record that is not one fails here, naming the field."""
    return Observation(record=None if record is None else Record.from_json(record), **seen)  # type: ignore[arg-type]


def default_sigint() -> None:
    """A child's preexec_fn: SIGINT back to its default, so the child's Python turns Ctrl-C into
    KeyboardInterrupt even when the suite runs where SIGINT is ignored (a shell's background job
    passes SIG_IGN on, and Python then installs no handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def with_credentials(userinfo: str, rest: str) -> str:
    """'https://' + userinfo + '@' + rest: a private index's URL, built from its parts in tests."""
    return "https://" + userinfo + "@" + rest


def synthetic_run(n: int, seed: int = 7) -> RunResult:
    """n cells over five axes, outcomes drawn at random (repeatably)."""
    rnd = random.Random(seed)
    axes = {"os": [f"os{i}" for i in range(30)], "python": [f"3.{i}" for i in range(8, 14)],
            "install": ["venv", "system", "user"], "prior": [f"2.{i}.0" for i in range(12, 22)],
            "ca": ["host", "none"]}
    cells = []
    for values in itertools.islice(itertools.product(*axes.values()), n):
        outcome = rnd.choice([o.value for o in Outcome])
        cell_id = "-".join(values)
        cells.append(CellResult(id=cell_id, axes=dict(zip(axes, values, strict=True)), outcome=outcome,
                                evidence=[EVIDENCE.get(outcome, f"{outcome} evidence line")],
                                expected=["upgraded"] if rnd.random() < 0.3 else [],
                                before="2.15.0", after="2.21.0", trend=rnd.choice(["passing", "new-failure"]),
                                dockerfile=f"cells/{cell_id}/Dockerfile", log=f"cells/{cell_id}/log.txt"))
    return RunResult(run_id="synthetic", matrix="synthetic.yaml",
                     target={"package": "tensorflow", "version": "", "index": "default"},
                     started="2026-11-24T00:00:00+00:00", cells=cells)
