"""uv's project workflow (`uv add`): the dependency lives in a project's pyproject.toml and uv.lock,
and `uv add` locks and syncs the environment in one command.

Seen in real containers (uv 0.13.9, Debian bookworm's python3, the local index):
- `uv add tensorflow` in a project that already depends on it, locked at 2.15.0, changes
  nothing ("Resolved 5 packages", "Checked 4 packages", exit 0): uv keeps locked versions unless
  told otherwise, so the upgrade is `uv add --upgrade-package tensorflow tensorflow`, as uv's
  documentation spells it, and it upgrades only what the new version needs (numpy stayed 1.26.4
  where `uv pip install --upgrade` took 2.3.5).
- A project always has its own environment: here the cell's venv, which `--active` makes the
  project's (VIRTUAL_ENV), as Docker images do with an existing venv. Install modes without a
  virtual environment mean nothing for it (core/axes.py refuses them).

Everything else (its variables, its words, its cache, its probes) is uv's: it is the same program.
"""

from __future__ import annotations

import posixpath
import shlex

from packaging.requirements import Requirement

from ..core.outcomes import Outcome
from ..core.resolution import Resolution
from .interface import PROJECT_NAME, project_beside
from .uv import RULES, Uv
from .uv_add_remedies import CATALOGUE

# What the project was locked at, for the setup only: `uv add NAME -c FILE` writes NAME>=V into
# pyproject.toml and locks V, as `uv add NAME` did when V was the newest release.
LOCKED_AT = ".locked-at.txt"


# A project is never the system's Python and `uv add` has no --user: uv's words for those
# cannot come from it.
NEVER_IN_A_PROJECT = frozenset({Outcome.EXTERNALLY_MANAGED, Outcome.USER_UNSUPPORTED})


class UvAdd(Uv):
    name = "uv-add"
    rules = tuple(rule for rule in RULES if rule.outcome not in NEVER_IN_A_PROJECT)
    remedies = CATALOGUE

    def resolve(self, program: str, requirement: str, resolution: Resolution, *, pre: bool) -> str:
        return ""  # its upgrade is a project's: no dry run of one install for another platform

    def dry_run(self, upgrade: str) -> str:
        return ""  # a project's upgrade writes its lock and syncs: no one dry run says both

    def program(self, module: bool) -> str:
        return "uv"

    def prepare(self, venv: str | None, pin: str | None, requirement: str) -> tuple[str, ...]:
        project = shlex.quote(project_beside(venv))
        return (f"uv init --bare --no-workspace --name {PROJECT_NAME} {project}",)

    def install(self, program: str, requirement: str, *, venv: str | None) -> str:
        project = project_beside(venv)
        wanted = Requirement(requirement)
        extras = f"[{','.join(sorted(wanted.extras))}]" if wanted.extras else ""
        name = wanted.name + extras
        add = f"{program} add --active --project {shlex.quote(project)}"
        if not wanted.specifier:
            return f"{add} {shlex.quote(name)}"
        locked = posixpath.join(project, LOCKED_AT)
        pin = f"{wanted.name}{wanted.specifier}"
        return (
            f"printf '%s\\n' {shlex.quote(pin)} > {shlex.quote(locked)} && "
            f"{add} -c {shlex.quote(locked)} {shlex.quote(name)}"
        )

    def install_file(
        self, program: str, path: str, *, names: tuple[str, ...], venv: str | None
    ) -> str:
        # The reporter's lines are what the lock holds; the project names the distributions
        project = shlex.quote(project_beside(venv))
        added = " ".join(shlex.quote(n) for n in names)
        return f"{program} add --active --project {project} -c {shlex.quote(path)} {added}"

    def upgrade(
        self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None
    ) -> str:
        project = shlex.quote(project_beside(venv))
        name = shlex.quote(Requirement(requirement).name)
        options = ["--prerelease", "allow"] * pre
        options += ["--upgrade-package", name]
        said = " ".join(options)
        return f"{program} add --active --project {project} {said} {shlex.quote(requirement)}"
