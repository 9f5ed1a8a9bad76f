"""Synthetic results for report tests and the report benchmark (no Docker involved), and what
tests that start a `repromatrix run` of their own share."""

from __future__ import annotations

import itertools
import random
import signal

from repromatrix.cell.contract import Record
from repromatrix.cell.observation import Observation
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import AttemptResult, CellResult, RunResult

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


# What a real cell's record holds beside its outcome (shapes and sizes as examples/causes.yaml's and
# examples/and-cuda.yaml's cells record them): three remedies with their commands and evidence, the
# distributions the upgrade changed (tensorflow[and-cuda]'s nvidia wheels), a check's output.
REAL_ATTEMPTS = [
    {"remedy": "venv", "title": "use a virtual environment",
     "commands": ["python3 -m venv /home/user/fix-venv", 'export PATH=/home/user/fix-venv/bin:"$PATH"',
                  "python3 -m pip install --upgrade tensorflow"], "identity": "user",
     "warning": "the new environment starts empty: programs and users that run another python3 keep the old version",
     "outcome": "upgraded", "fix": "works", "after": "2.21.0", "seconds": 14.8,
     "evidence": ["Successfully installed keras-3.15.1 numpy-2.3.5 protobuf-6.33.1 tensorflow-2.21.0",
                  "landed on 2.21.0, the newest release"]},
    {"remedy": "as-root", "title": "upgrade as root", "commands": ["sudo python3 -m pip install --upgrade tensorflow"],
     "identity": "root", "warning": "", "outcome": "externally-managed", "fix": "fails", "seconds": 4.1,
     "evidence": ["error: externally-managed-environment",
                  "× This environment is externally managed ╰─> To install Python packages system-wide, try apt "
                  "install python3-xyz, where xyz is the package you are trying to install."]},
    {"remedy": "force-reinstall", "title": "reinstall over what is there",
     "commands": ["python3 -m pip install --upgrade --force-reinstall tensorflow"], "identity": "user",
     "warning": "", "outcome": "externally-managed", "fix": "fails", "seconds": 3.9,
     "evidence": ["error: externally-managed-environment", "note: If you believe this is a mistake, please contact "
                  "your Python installation or OS distribution provider. You can override this, at the risk of "
                  "breaking your Python installation or OS, by passing --break-system-packages."]},
]
REAL_CHANGED = [{"name": name, "change": "added", "before": "", "after": version, "installer": "pip",
                 "uploaded": "2025-08-13T16:51:55Z"}
                for name, version in [("nvidia-cublas-cu12", "12.5.3.2"), ("nvidia-cuda-cupti-cu12", "12.5.82"),
                                      ("nvidia-cuda-nvcc-cu12", "12.5.82"), ("nvidia-cuda-nvrtc-cu12", "12.5.82"),
                                      ("nvidia-cuda-runtime-cu12", "12.5.82"), ("nvidia-cudnn-cu12", "9.3.0.75"),
                                      ("nvidia-cufft-cu12", "11.2.3.61"), ("nvidia-curand-cu12", "10.3.6.82"),
                                      ("nvidia-cusolver-cu12", "11.6.3.83"), ("nvidia-cusparse-cu12", "12.5.1.3"),
                                      ("nvidia-nccl-cu12", "2.23.4"), ("nvidia-nvjitlink-cu12", "12.5.82"),
                                      ("keras", "3.15.1"), ("protobuf", "6.33.1"), ("ml-dtypes", "0.5.1")]]


def real_size_run(n: int, run_dir, log_bytes: int = 11_000) -> RunResult:  # noqa: ANN001 - a Path
    """synthetic_run(n) with each cell's record and log of a real cell's size (a failed cell's
    remedies, what every upgrade changed, a check), the logs written under run_dir."""
    from dataclasses import replace

    run = synthetic_run(n)
    line = "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after " \
           "connection broken by 'NewConnectionError(...)': /simple/tensorflow/\n"
    log = (line * (log_bytes // len(line) + 1))[:log_bytes]
    cells = []
    for cell in run.cells:
        failed = cell.outcome not in ("upgraded", "not-upgraded")
        cells.append(replace(
            cell, attempts=[AttemptResult.from_json(a) for a in REAL_ATTEMPTS] if failed else [],
            fix="venv" if failed else "",
            changed=list(REAL_CHANGED),
            evidence=[*cell.evidence, "ERROR: Could not install packages due to an OSError: [Errno 13] Permission "
                      "denied: '/usr/local/lib/python3.11/dist-packages/tensorflow/__init__.py'"],
            checks=[{"name": "keras", "identity": "root", "exit_code": 1, "command": "python3 -c 'import keras'",
                     "output": "Traceback (most recent call last):\n" + "  File \"<string>\", line 1\n" * 20}],
            reproduce=f"docker build -t {cell.id} {cell.dockerfile.rsplit('/', 1)[0]} && docker run --rm {cell.id}",
            python="3.11.2", pip="pip 23.0.1 from /opt/venv/lib/python3.11/site-packages/pip (python 3.11)"))
        folder = run_dir / cell.log.rsplit("/", 1)[0]
        folder.mkdir(parents=True, exist_ok=True)
        (run_dir / cell.log).write_text(log)
        (run_dir / cell.dockerfile).write_text("FROM repromatrix-cache/setup:0123\nCOPY scenario.py /\n" * 20)
    return replace(run, cells=cells)
