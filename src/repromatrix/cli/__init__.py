"""Command line: `repromatrix run | list | render | report | remedy | merge | diff | bisect |
clean | init`. Its grammar is parser.py, what each command does commands.py.

`main` is the only place errors become exit codes (core/errors.py's EXIT_CODES says what each
means): 0 every cell as expected, 1 some cell unexpected, 2 bad input or usage, 3 Docker or
other infrastructure unavailable, 4 a bug in repromatrix, 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import threading

from rich.console import Console
from rich.text import Text

from ..core.errors import INTERNAL_ERROR, INTERRUPTED, InfraError, ReproMatrixError, UsageError
from ..core.files import paths_are_input
from ..infra.docker_engine import ENGINE_FAILED
from .commands import COMMANDS
from .parser import _parser

__all__ = ["COMMANDS", "_parser", "debugging", "main"]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    # A cancelled CI job, `docker stop` or `kill` sends SIGTERM: clean up exactly as on Ctrl-C. Only
    # the main thread may set handlers, and the old one comes back when main returns (tests call
    # main).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return _main(argv)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


DEBUG_VALUES = {
    "1": True,
    "true": True,
    "yes": True,
    "": False,
    "0": False,
    "false": False,
    "no": False,
}


def debugging() -> bool:
    """REPROMATRIX_DEBUG: 1/true/yes shows an internal error's traceback; 0/false/no or unset
    does not; anything else is a usage error (it used to turn debugging on, even for 0)."""
    value = os.environ.get("REPROMATRIX_DEBUG", "")
    if value.strip().lower() not in DEBUG_VALUES:
        raise UsageError(f"REPROMATRIX_DEBUG={value[:40]!r}: not 1, true, yes, 0, false or no")
    return DEBUG_VALUES[value.strip().lower()]


def _main(argv: list[str] | None) -> int:
    # soft_wrap: never break a message (or a path in it) at the terminal or CI log width.
    console = Console(stderr=True, soft_wrap=True)
    debug = False
    try:
        debug = debugging()
        args = _parser().parse_args(argv)
        with paths_are_input():
            return COMMANDS[args.command](args, console)
    except ReproMatrixError as e:
        console.print(Text.assemble(("error: ", "bold red"), str(e)), highlight=False)
        return e.exit_code
    except KeyboardInterrupt:
        console.print("interrupted: removed this run's containers, networks and images")
        return INTERRUPTED
    except ENGINE_FAILED as e:  # a call the engine failed that no stage turned into a cell's own
        said = f"the Docker engine failed a call: {type(e).__name__}: {e}"[:2000]
        console.print(Text.assemble(("error: ", "bold red"), said), highlight=False)
        return InfraError.exit_code
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, said as one
        if debug:
            raise
        console.print(
            Text.assemble(
                ("internal error: ", "bold red"),
                f"{type(e).__name__}: {e}"[:2000],
                "\n  this is a bug in repromatrix; rerun with REPROMATRIX_DEBUG=1 for the "
                "traceback and report it",
            ),
            highlight=False,
        )
        return INTERNAL_ERROR
