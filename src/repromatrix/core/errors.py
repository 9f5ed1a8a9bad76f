"""One error hierarchy; each class carries the exit code `main` turns it into.

Library code raises these and never exits; only `cli.main` catches them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ReproMatrixError(Exception):
    """Base class: a failure the user can act on, printed without a traceback."""

    exit_code = 1


class UsageError(ReproMatrixError):
    """Bad command-line usage or bad input (exit 2)."""

    exit_code = 2


class MatrixError(UsageError):
    """A problem in a matrix file, located by file, line and key."""

    def __init__(self, path: str, line: int | None, key: str, problem: str, hint: str = "") -> None:
        self.path, self.line, self.key, self.problem, self.hint = path, line, key, problem, hint
        where = f"{path}:{line}" if line else path
        text = f"{where}: {key}: {problem}" if key else f"{where}: {problem}"
        super().__init__(f"{text}\n  hint: {hint}" if hint else text)


class InfraError(ReproMatrixError):
    """Docker or another piece of our own infrastructure is unavailable (exit 3)."""

    exit_code = 3


class DockerUnavailable(InfraError):
    pass


class BaseImageError(InfraError):
    """A base image could be neither found, pulled nor built; carries the evidence."""

    def __init__(self, image: str, reason: str, log: str = "") -> None:
        self.image, self.reason, self.log = image, reason, log
        super().__init__(f"base image {image!r}: {reason}")


INTERNAL_ERROR = 4  # a bug in repromatrix: never 1, which CI reads as a regression
INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT

# What `repromatrix` exits with, declared once (cli.main returns them; the docs' table is made
# from this).
EXIT_CODES: dict[int, str] = {
    0: "run, remedy and merge: every cell as expected; every other command: it did what was asked",
    1: "run, remedy and merge: at least one cell unexpected (what a nightly job keys on)",
    UsageError.exit_code: "bad input or usage: a matrix, a freeze file, a report, an option; "
    "the message names the file, line and key, and the fix",
    InfraError.exit_code: "Docker or other infrastructure unavailable, also when the engine "
    "stops answering mid-run (the finished cells and the reports are kept; --resume finishes "
    "the run) and when merge joins a shard that did not finish (a stopped shard is --resume'd, "
    "then merged again)",
    INTERNAL_ERROR: "a bug in repromatrix (an internal error, said as one; never 1, so CI does "
    "not read a crash as a regression); REPROMATRIX_DEBUG=1 (or true, yes; 0, false, no and "
    "unset mean off, anything else is exit 2) shows the traceback",
    INTERRUPTED: "this process was interrupted (Ctrl-C, or SIGTERM as a cancelled CI job or "
    "docker stop sends): the running cells become interrupted, the finished ones and the "
    "reports are kept, the run's containers, networks and images are removed",
}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A 'did you mean' hint for `word`, or a list of the valid choices."""
    choices = sorted(choices)
    # A prefix catches 'prior_version' → 'prior', which is too long for difflib's ratio.
    close = [c for c in choices if word.startswith(c) or c.startswith(word)]
    close = close or difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid: " + ", ".join(repr(c) for c in choices)


class EmulationUnavailable(BaseImageError):
    """A foreign architecture's binaries do not run here (no qemu-user handler): the run refuses
    its cells before any starts (exit 3), naming the fix."""
