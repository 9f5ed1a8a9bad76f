"""The typed results: what the judge decided of a cell or an attempt (`Verdict`, and `Fix`: what
an attempt says of its remedy), one remedy attempt (`AttemptResult`), one finished cell
(`CellResult`, results.json's cell) and one run (`RunResult`, results.json). Every stage may
read them: the judge makes a cell's (judge/record.py), the results stage stores and reports them
(results/), the scheduler shows them as they come.
Storage (results.json's file, its schema check) is results/results.py's.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from .files import size_said
from .outcomes import Outcome
from .registry import complete


class Fix(str, enum.Enum):
    """What one remedy attempt (remedies.py) says about its remedy."""

    WORKS = "works"  # upgraded, `pip check` passes, every identity and check agrees
    # Upgraded, but pip check fails or an identity keeps the old one
    SIDE_EFFECTS = "works-with-side-effects"
    FAILS = "fails"
    NOT_TRIED = "not-tried"  # our side failed or the run stopped: says nothing about the remedy

    def __str__(self) -> str:
        return self.value


FIX_COLOUR = {
    Fix.WORKS: "#2e9e4f",
    Fix.SIDE_EFFECTS: "#e07b00",
    Fix.FAILS: "#c0392b",
    Fix.NOT_TRIED: "#95a5a6",
}
complete("fix colour", FIX_COLOUR, Fix)


@dataclass(frozen=True)
class Verdict:
    """What the judge decided of a cell or an attempt: its outcome, the lines that show it, and
    the facts it read (versions before and after, the resolution)."""

    outcome: Outcome
    evidence: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)


SCHEMA = 1
RESOLVED_RUN = "resolved"  # platform.run of a cell that was only resolved
EMULATED_RUN = "emulated (qemu-user)"
TRIAGED_RUN = "triaged"  # platform.run of a cell `run --triage` only resolved, in its own image


@dataclass(frozen=True)
class AttemptResult:
    """One remedy attempt of a cell, as results.json keeps it (judge/record.py writes it): what
    ran, as whom, what it ended in and what that says of the remedy."""

    remedy: str
    outcome: Outcome
    fix: Fix
    title: str = ""  # what people call the remedy
    commands: list[str] = field(default_factory=list)  # what a person types, in order
    identity: str = ""  # who ran the upgrade
    warning: str = ""  # what the field warns about the remedy
    evidence: list[str] = field(default_factory=list)
    pip_check_exit_code: int | None = None
    after: str | None = None  # the target's version after the attempt
    log: str = ""  # relative to the run directory
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # The registries' members however it was made (a journal line, an attached run).
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        object.__setattr__(self, "fix", Fix(self.fix))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"outcome": self.outcome.value, "fix": self.fix.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class CellResult:
    id: str
    axes: dict[str, str]
    outcome: Outcome
    evidence: list[str]
    expected: list[Outcome] = field(default_factory=list)
    before: str | None = None
    after: str | None = None
    newest: str | None = None
    newest_for_python: str | None = None
    below_newest: str | None = None
    python: str | None = None
    pip: str | None = None
    upgrade_command: str = ""
    pip_exit_code: int | None = None
    pip_check: dict[str, Any] | None = None
    import_check: dict[str, Any] | None = None
    durations: dict[str, float] = field(default_factory=dict)
    # Inside the container, the scenario's seconds by stage (probes, checks_before, around_before,
    # upgrade, after, pip_check, imports, checks, around_after): where `run` goes
    stages: dict[str, float] = field(default_factory=dict)
    dockerfile: str = ""  # relative to the run directory
    log: str = ""
    reproduce: str = ""
    notes: list[str] = field(default_factory=list)
    interpreter: dict[str, Any] = field(
        default_factory=dict
    )  # where python3 came from; its ssl, CA paths, glibc
    imports: list[str] = field(
        default_factory=list
    )  # the import names checked (from metadata or target.imports)
    checks: list[dict[str, Any]] = field(
        default_factory=list
    )  # the user's checks: name, identity, exit, output
    # What the upgrade changed: each distribution upgraded, downgraded, added or removed
    changed: list[dict[str, Any]] = field(default_factory=list)
    # The libraries around it: modules imported after the upgrade, left out, and no longer importing
    around: dict[str, Any] = field(default_factory=dict)
    why_no_wheel: dict[str, Any] = field(
        default_factory=dict
    )  # each wheel of the wanted release: fits, or why not
    trend: str = "no-history"  # against earlier runs; see history.py
    previous_outcome: Outcome | None = None
    # Where the outcome changed against the baseline run: each distribution the two upgrades left
    # at different versions, {name: [baseline's, this run's]} (diff.py)
    since_baseline: dict[str, list[str]] = field(default_factory=dict)
    # The cell's setup image: "cached" (reused), "built", "failed"; "" if it got none
    setup: str = ""
    rerun: bool = False  # the run stopped before this cell finished: `run --resume` runs it again
    setup_image: str = ""  # the cached setup image the cell started from
    # What of its downloads went through the run's download cache: "" (none: each from the
    # index), "setup" (its setup's; the upgrade's path to the index is what the cell tests) or
    # "all" (setup, upgrade and remedies)
    downloads: str = ""
    attempts: list[AttemptResult] = field(default_factory=list)  # remedies tried
    fix: str | None = None  # the recommended remedy: the first, by preference, that works cleanly
    host: str = ""  # the Docker engine the cell ran on ("default": the one DOCKER_HOST names)
    # Where it ran: {"arch", "machine", "run": "native" | "emulated (qemu-user)" | "resolved"};
    # a resolved cell adds {"platform", "for"}: what it was resolved for ({} in older runs)
    platform: dict[str, Any] = field(default_factory=dict)
    # A resolved cell's answer (None: it ran): the release its installer would take, its file,
    # every distribution of the resolution [[name, version, file]], and what it was resolved for
    resolved: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Outcomes are the registry's members however the result was made (a journal line, an
        # attached results.json, a test): an unknown id fails here, not in a report.
        self.outcome = Outcome(self.outcome)
        self.expected = [Outcome(o) for o in self.expected]
        self.previous_outcome = Outcome(self.previous_outcome) if self.previous_outcome else None

    @property
    def fix_attempt(self) -> AttemptResult | None:
        """The attempt of the recommended remedy, if one works cleanly."""
        return next((a for a in self.attempts if a.remedy == self.fix), None) if self.fix else None

    @property
    def remedies_said(self) -> str:
        """What the remedies did, truly: '3 remedies tried, fix: venv', 'none of the 2 remedies
        tried works cleanly', and how many were not tried (the run stopped, or our side failed);
        '' when there were none."""
        untried = sum(1 for a in self.attempts if a.fix is Fix.NOT_TRIED)
        tried = len(self.attempts) - untried
        said = []
        if self.fix:
            said.append(f"{tried} remedies tried, fix: {self.fix}")
        elif tried:
            said.append(f"none of the {tried} remedies tried works cleanly")
        if untried:
            said.append(f"{untried} not tried (the run stopped or our side failed)")
        return "; ".join(said)

    @property
    def resolved_only(self) -> bool:
        """Was the cell only resolved (another platform, or by --triage)? Nothing was
        installed."""
        return self.platform.get("run") in (RESOLVED_RUN, TRIAGED_RUN)

    @property
    def triaged(self) -> bool:
        return self.platform.get("run") == TRIAGED_RUN

    @property
    def runs_on(self) -> str:
        """Where the cell ran, for the pivot's platform columns: 'amd64', 'arm64 (emulated)',
        'macos-arm64 (resolved)'."""
        arch = self.axes.get("arch", "amd64")
        platform = self.axes.get("platform", "linux")
        if self.triaged:
            return f"{arch} (triage: resolved)"
        if self.resolved_only or platform != "linux":
            return f"{arch if platform == 'resolved' else platform} (resolved)"
        return arch + (" (emulated)" if self.platform.get("run") == EMULATED_RUN else "")

    @property
    def matches_expectation(self) -> bool | None:
        return None if not self.expected else self.outcome in self.expected

    @property
    def unexpected(self) -> bool:
        """What CI keys on: not an expected outcome, or, with none expected, not `upgraded`."""
        if self.outcome in (Outcome.INTERRUPTED, Outcome.NEEDS_INSTALL):
            return False  # stopped, or left to the install: nothing was learnt of the outcome
        if self.expected:
            return self.outcome not in self.expected
        return self.outcome is not Outcome.UPGRADED

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {
            "attempts": [a.to_json() for a in self.attempts],
            "matches_expectation": self.matches_expectation,
            "unexpected": self.unexpected,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        attempts = [AttemptResult.from_json(a) for a in known.pop("attempts", [])]
        return cls(**known, attempts=attempts)


@dataclass
class RunResult:
    run_id: str
    matrix: str
    target: dict[str, str]
    started: str
    finished: str = ""
    host_ca: str | None = None  # where the trusted CA bundle came from, if any
    cells: list[CellResult] = field(default_factory=list)
    tool_version: str = ""
    baseline: str | None = None  # the run the trends compare against
    planned: int = 0  # cells the run set out to run (0: as many as it has)
    stopped: str = ""  # why the run stopped early: "interrupted" (Ctrl-C) or "engine-lost"
    merged_from: list[str] = field(default_factory=list)  # `merge`: the shards' run ids
    # The download cache's own counts (infra/downloadcache.Counts): files and bytes the run's
    # cells got from the index and from the cache; {} when it had no cache
    download_cache: dict[str, int] = field(default_factory=dict)

    @property
    def finished_cells(self) -> int:
        return sum(1 for c in self.cells if not c.rerun)

    @property
    def incomplete(self) -> str:
        """'' for a complete run, else e.g. 'incomplete: 12 of 30 cells (interrupted)'."""
        planned = max(self.planned, len(self.cells))
        if self.finished_cells >= planned:
            return ""
        why = {
            "interrupted": "interrupted",
            "engine-lost": "the Docker engine stopped answering",
        }.get(self.stopped, "still running, or stopped without a word")
        return (
            f"incomplete: {self.finished_cells} of {cells_said(planned)} ({why}; "
            f"`repromatrix run --resume {self.run_id}` runs the rest)"
        )

    def unexpected(self) -> list[CellResult]:
        return [c for c in self.cells if c.unexpected]

    def downloads_said(self) -> str:
        """What the download cache did, in a sentence; '' for a run without one."""
        counts = self.download_cache
        through = [c for c in self.cells if c.downloads]
        if not counts and not through:
            return ""
        setup_only = sum(1 for c in through if c.downloads == "setup")
        cells = f"{cells_said(len(through))} of {len(self.cells)} through it"
        cells += f" ({setup_only} only for their setup)" if setup_only else ""
        from_index = counts.get("files_from_index", 0), counts.get("bytes_from_index", 0)
        from_cache = counts.get("files_from_cache", 0), counts.get("bytes_from_cache", 0)
        return (
            f"download cache: {from_index[0]} files ({size_said(from_index[1])}) from the index, "
            f"{from_cache[0]} ({size_said(from_cache[1])}) from the cache; {cells}"
        )

    def triage_said(self) -> str:
        """What --triage decided, in a sentence; '' for a run without it."""
        triaged = [c for c in self.cells if c.triaged]
        if not triaged:
            return ""
        left = sum(1 for c in triaged if c.outcome is Outcome.NEEDS_INSTALL)
        decided = len(triaged) - left
        said = (
            f"triage: {decided} of {cells_said(len(self.cells))} decided by their dry run alone "
            "(nothing installed)"
        )
        if left:
            said += f"; {left} need the install: `repromatrix run --resume {self.run_id}`"
        return said

    def installers(self) -> list[str]:
        """The installers its cells upgrade with, by name ('pip', 'uv', 'pip-tools'), in order
        of first appearance (a cell without the axis is pip's)."""
        names = (c.axes.get("installer", "pip").partition("==")[0] for c in self.cells)
        return list(dict.fromkeys(names)) or ["pip"]

    def counts(self) -> dict[str, int]:
        out: dict[Outcome, int] = {}
        for cell in self.cells:
            out[cell.outcome] = out.get(cell.outcome, 0) + 1
        order = list(Outcome)
        return {o.value: n for o, n in sorted(out.items(), key=lambda kv: order.index(kv[0]))}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["cells"] = [c.to_json() for c in self.cells]
        return {
            "schema": SCHEMA,
            **data,
            "counts": self.counts(),
            "unexpected": len(self.unexpected()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "cells"}
        return cls(**fields, cells=[CellResult.from_json(c) for c in data.get("cells", [])])


def cells_said(count: int) -> str:
    """'1 cell', '12 cells': the reports' titles count a run of one cell too."""
    noun = "cell" if count == 1 else "cells"
    return f"{count} {noun}"
