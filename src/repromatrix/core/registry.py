"""Every concept is declared once and registered (outcomes, report formats, axes, remedies,
interpreter providers, installers). A registry keyed by the members of an enum or a Literal must
hold exactly those members: a new member without its entry is an error when the module is
imported (so on every command and in every test), not a silent gap in a report."""

from __future__ import annotations

from collections.abc import Collection, Iterable


class RegistryIncomplete(Exception):
    """A registry misses a member, or holds one that is not a member: a bug in repromatrix."""


def complete(name: str, registry: Collection[object], members: Iterable[object]) -> None:
    """Raise unless `registry`'s keys are exactly `members`, naming what is missing or extra."""
    wanted = list(members)
    missing = [str(m) for m in wanted if m not in registry]
    extra = [str(k) for k in registry if k not in wanted]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if extra:
        problems.append(f"not members: {', '.join(extra)}")
    if problems:
        raise RegistryIncomplete(f"the {name} registry is incomplete: {'; '.join(problems)}")


def unique(name: str, names: Iterable[str]) -> None:
    """Raise when two entries of a registry share a name (the second would hide the first)."""
    seen: set[str] = set()
    for entry in names:
        if entry in seen:
            raise RegistryIncomplete(f"the {name} registry names {entry} twice")
        seen.add(entry)
