"""The index as it was at a time (`--as-of`, `target.as_of`): an ISO 8601 time with its timezone
(`2024-03-13T18:02:00Z`, `2024-03-13T19:02:00+01:00`, `2024-03-13` meaning its midnight UTC is
not accepted: a date is a different instant in every timezone), or an ISO 8601 duration before
the run started (`P1D`, `PT12H`, `P1W`, `P1DT6H`; years and months are refused, being of no fixed
length). A run resolves it once, when it starts, to the UTC time every cell and the report use.
"""

from __future__ import annotations

import datetime
import re

# What the filters compare against, as installers and PEP 700 write upload times
CANONICAL = "%Y-%m-%dT%H:%M:%SZ"
DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
HINT = (
    "write a time with its timezone, e.g. '2024-03-13T18:02:00Z' or "
    "'2024-03-13T19:02:00+01:00', or a duration before the run starts, e.g. 'P1D' or 'PT12H'"
)


def problem(text: str) -> str | None:
    """Why `text` is not an as-of time, or None."""
    if _duration(text) is not None:
        return None
    if text.startswith("P"):
        return f"{text!r} is not a duration of weeks, days, hours, minutes or seconds"
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return f"{text!r} is not an ISO 8601 time"
    if when.tzinfo is None:
        return f"{text!r} has no timezone: it would be another instant on every machine"
    return None


def resolve(text: str, started: datetime.datetime) -> str:
    """The UTC time `text` names, for a run that started at `started` (aware); `text` is checked
    (problem() is None)."""
    span = _duration(text)
    when = started - span if span is not None else datetime.datetime.fromisoformat(text)
    return when.astimezone(datetime.timezone.utc).strftime(CANONICAL)


def parsed(resolved: str) -> datetime.datetime:
    """A resolved time back as an aware datetime."""
    plain = datetime.datetime.strptime(resolved, CANONICAL)
    return plain.replace(tzinfo=datetime.timezone.utc)


def shifted(resolved: str, seconds: int) -> str:
    """A resolved time that many seconds later (earlier, if negative)."""
    moved = parsed(resolved) + datetime.timedelta(seconds=seconds)
    return moved.strftime(CANONICAL)


def _duration(text: str) -> datetime.timedelta | None:
    match = DURATION.fullmatch(text)
    if match is None or not any(match.groupdict().values()) or text.endswith("T"):
        return None
    parts = {unit: int(n) for unit, n in match.groupdict().items() if n}
    return datetime.timedelta(**parts)
