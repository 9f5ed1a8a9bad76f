"""What the upgrade changed beside the target: the installed set before and after, compared by
distribution (upgraded, downgraded, added, removed). The twelve nvidia wheels of
`tensorflow[and-cuda]`, a numpy 2 that a companion was not built for: all of it in the results,
not only in the raw log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..cell.contract import Installed, Record


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
