"""What the upgrade changed beside the target: the installed set before and after, compared by
distribution (upgraded, downgraded, added, removed), and the libraries around it that no longer
import. The twelve nvidia wheels of `tensorflow[and-cuda]`, a numpy 2 that a companion was not
built for, the companion's op library that no longer loads: all of it in the results, not only
in the raw log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from ..cell.contract import Around, Installed, Record


@dataclass(frozen=True)
class Change:
    name: str
    kind: str  # upgraded, downgraded, added, removed, reinstalled (another version string)
    before: str | None
    after: str | None
    installer: str  # what installed it now (or before, if it was removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "change": self.kind,
            "before": self.before,
            "after": self.after,
            "installer": self.installer,
        }


def changes(record: Record | None) -> list[Change]:
    """Every distribution whose version the upgrade changed, added or removed; [] when either
    side was not recorded."""
    if record is None or record.installed_before is None or record.installed_after is None:
        return []
    before = _by_name(record.installed_before)
    after = _by_name(record.installed_after)
    found = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old is None and new is not None:
            found.append(Change(new.name, "added", None, new.version, new.installer))
        elif new is None and old is not None:
            found.append(Change(old.name, "removed", old.version, None, old.installer))
        elif old is not None and new is not None and old.version != new.version:
            found.append(
                Change(
                    new.name,
                    _kind(old.version, new.version),
                    old.version,
                    new.version,
                    new.installer,
                )
            )
    return found


def _by_name(dists: tuple[Installed, ...]) -> dict[str, Installed]:
    return {canonicalize_name(d.name): d for d in dists}


def _kind(old: str, new: str) -> str:
    try:
        old_version, new_version = Version(old), Version(new)
    except InvalidVersion:
        return "reinstalled"
    if new_version == old_version:  # the same version, spelled otherwise
        return "reinstalled"
    return "upgraded" if new_version > old_version else "downgraded"


# What a module around the target was before the upgrade, as the record shows it.
Before = Literal["imported", "absent", "untried"]
BEFORE_SAID: dict[Before, str] = {
    "imported": "no longer imports after the upgrade (it did before)",
    "absent": "does not import after the upgrade (the upgrade installed it)",
    "untried": "does not import after the upgrade (not tried before it)",
}


@dataclass(frozen=True)
class Broken:
    """A module of a library around the target that does not import after the upgrade."""

    name: str
    version: str
    module: str
    error: str
    before: Before
    why: str  # what the upgrade changed that it stands on: 'it requires numpy (1.26.4 → 2.3.5)'
    # The upgrade left its distribution as it was: a companion built for the old world, which
    # holds the upgrade back (a blocker); one the upgrade itself changed is its casualty
    left_behind: bool = True

    @property
    def said(self) -> str:
        """The evidence line, claiming only what the record shows."""
        because = f"; {self.why}" if self.why else ""
        when = BEFORE_SAID[self.before]
        return f"{self.name} {self.version}: import {self.module} {when}{because}: {self.error}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "module": self.module,
            "before": self.before,
            "error": self.error,
            "why": self.why,
            "said": self.said,
        }


# TensorFlow (2.8 here) loads its file-system plugins itself when it is imported, the gs one from
# tensorflow-io-gcs-filesystem; importing the plugin's module again registers it a second time, and
# TensorFlow refuses: "tensorflow.python.framework.errors_impl.AlreadyExistsError: File system for
# gs already registered". Seen on the public index beside 2.8.0 with the plugin released for it
# (0.24.0) as with a later one (0.26.0): the plugin is loaded, not broken.
LOADED_BY_THE_TARGET = re.compile(r"\bAlreadyExistsError: .+ already registered$")


def broken_around(record: Record | None) -> list[Broken]:
    """The modules around the target that fail to import after the upgrade, unless they failed
    before it too (then it is not the upgrade's doing, and not claimed as such), or the target
    had loaded them itself (LOADED_BY_THE_TARGET)."""
    if record is None or record.around_after is None:
        return []
    tried = {(canonicalize_name(r.name), r.module): r.ok for r in record.around_before or ()}
    moved = {canonicalize_name(c.name): c for c in changes(record)}
    found = []
    for row in record.around_after:
        was = tried.get((canonicalize_name(row.name), row.module))
        loaded = bool(row.error and LOADED_BY_THE_TARGET.search(row.error))
        if row.ok or was is False or loaded:
            continue
        error = row.error or "failed"
        before = _before(was, moved, row)
        left_behind = canonicalize_name(row.name) not in moved
        found.append(
            Broken(row.name, row.version, row.module, error, before, _why(row, moved), left_behind)
        )
    # The companions the upgrade left behind first: they are the cause, what it changed follows
    return sorted(found, key=lambda b: not b.left_behind)


def _before(was: bool | None, moved: dict[NormalizedName, Change], row: Around) -> Before:
    if was:
        return "imported"
    change = moved.get(canonicalize_name(row.name))
    return "absent" if change is not None and change.kind == "added" else "untried"


def _why(row: Around, moved: dict[NormalizedName, Change]) -> str:
    """What changed under a library: itself, or the distributions it requires."""
    own = moved.get(canonicalize_name(row.name))
    if own is not None and own.before is not None:
        return f"it was {own.kind} ({own.before} → {own.after})"
    under = [moved[n] for n in map(canonicalize_name, row.requires) if n in moved]
    named = ", ".join(f"{c.name} {c.before or 'none'} → {c.after or 'removed'}" for c in under)
    return f"it requires {named}" if named else ""
