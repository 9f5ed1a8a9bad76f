"""The user's checks (`checks:` of the matrix, or of one environment): code run before and after
the upgrade, as a command (argv, no shell) or a Python snippet."""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..core.model import Check
from .document import MAX_SNIPPET, Document, KeyPath, check_keys, mapping, scalar

CHECK_KEYS = ("name", "run", "python")


def read_checks(doc: Document, value: Any, base: KeyPath) -> list[Check]:
    """`checks:` of the matrix (base ('checks',)) or of one environment."""
    if value is None:
        return []
    if not isinstance(value, list):
        doc.fail(base, "must be a list", "write '- {name: keras-dense, python: \"import keras\"}'")
    out: list[Check] = []
    for i, item in enumerate(value):
        at: KeyPath = base + (i,)
        entry = mapping(doc, item, at)
        check_keys(doc, entry, at, CHECK_KEYS)
        name = scalar(doc, entry.get("name", ""), at + ("name",)).strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
            doc.fail(
                at + ("name",),
                f"{name!r} is not a check name",
                "letters, digits, '.', '_' and '-', e.g. keras-dense",
            )
        if name in {c.name for c in out}:
            doc.fail(
                at + ("name",), f"check {name!r} is listed twice", "give each check its own name"
            )
        if ("run" in entry) == ("python" in entry):
            doc.fail(
                at,
                "needs exactly one of 'run' (a command) or 'python' (a snippet)",
                "e.g. 'python: \"from tensorflow import keras; keras.layers.Dense(1)\"'",
            )
        if "run" in entry:
            raw = entry["run"]
            argv = (
                [scalar(doc, a, at + ("run", j)) for j, a in enumerate(raw)]
                if isinstance(raw, list)
                else split_command(doc, scalar(doc, raw, at + ("run",)), at + ("run",))
            )
            out.append(Check(name=name, argv=tuple(argv)))
        else:
            out.append(
                Check(
                    name=name,
                    python=scalar(doc, entry["python"], at + ("python",), MAX_SNIPPET, lines=True),
                )
            )
    return out


def split_command(doc: Document, text: str, at: KeyPath) -> list[str]:
    """A command line split like a shell would, but run without one (no pipes, no $VARS)."""
    try:
        argv = shlex.split(text)
    except ValueError as e:
        doc.fail(
            at,
            f"cannot split {text!r} into words ({e})",
            "close the quote, or give 'run' as a list",
        )
    if not argv:
        doc.fail(
            at, "is empty", "give the command to run, e.g. 'run: [python3, -c, \"import keras\"]'"
        )
    return argv
