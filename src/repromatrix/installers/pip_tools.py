"""pip-tools (`pip-compile`, then `pip-sync`): the dependency is a line of requirements.in, its
version a pin in the compiled requirements.txt, and the environment is synced to that file.

Seen in real containers (pip-tools 7.7.0 on Debian bookworm's Python, a venv):
- It is pip underneath: pip-compile runs pip's resolver in-process and pip-sync runs
  `python -m pip install`, so pip's configuration (pip.conf, PIP_CERT, PIP_INDEX_URL) and pip's
  words for each cause are its own; a resolution that fails ends in a traceback whose last line is
  pip's (`pip._internal.exceptions.DistributionNotFound: ResolutionImpossible: ...`).
- pip-compile keeps the pins of the existing requirements.txt: compiled again, nothing moves.
  The upgrade is `pip-compile --upgrade-package tensorflow`, then `pip-sync`, as its
  documentation spells it; `--upgrade-package` takes a specifier too ('tensorflow<2.16').
- pip-compile ignores PIP_CONSTRAINT (it takes `-c`); pip-sync's pip honours it, and refuses
  the compiled pin it contradicts ("ERROR: Cannot install requests==2.34.2").
- Installing pip-tools 7.7 upgrades the venv's pip (it needs pip >= 26.2.2 and Python >= 3.10).
- pip-sync removes what the compiled file does not list, except pip-tools and what it needs.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..core.outcomes import Outcome
from ..core.resolution import Resolution
from .interface import Rule, project_beside
from .pip import RULES as PIP_RULES
from .pip import Pip
from .pip_tools_remedies import CATALOGUE, PIP_TOOLS_WHEELS

SOURCES = "requirements.in"  # what the user asks for: names, as they wrote them
COMPILED = "requirements.txt"  # pip-compile's pins, which pip-sync makes the environment
# What the setup locked the target at: `pip-compile -c FILE` pins it there, as pip-compile did
# when that version was the newest release (the file is the setup's, not the user's).
LOCKED_AT = ".locked-at.txt"


# It syncs a virtual environment (core/axes.py): pip's words for the system's Python and for
# --user in a venv cannot come from it.
NEVER_IN_A_VENV = frozenset({Outcome.EXTERNALLY_MANAGED, Outcome.USER_IN_VENV})
# pip's words, and click's where pip-compile cannot write its output (a root-made project)
RULES: tuple[Rule, ...] = (
    Rule(Outcome.PERMISSION_DENIED, r"Could not open file .*: Permission denied"),
    *(rule for rule in PIP_RULES if rule.outcome not in NEVER_IN_A_VENV),
)


class PipTools(Pip):
    name = "pip-tools"
    rules = RULES
    # pip-compile prints the compiled file (`tensorflow==2.15.0`); pip-sync, that nothing moved
    kept = r"(?i)^{package}==\S+$|^Everything up-to-date$"
    # pip-compile builds its own finder from pip's options: that it honours pip's filter is not
    # known, so its cells read the date-filtering service
    uploaded_before = ("", "")
    remedies = CATALOGUE
    index_wheels = PIP_TOOLS_WHEELS

    def resolve(self, program: str, requirement: str, resolution: Resolution, *, pre: bool) -> str:
        return ""  # its upgrade is a project's: no dry run of one install for another platform

    def dry_run(self, upgrade: str) -> str:
        return ""  # a project's upgrade writes its lock and syncs: no one dry run says both

    def program(self, module: bool) -> str:
        return "pip-compile"

    def prepare(self, venv: str | None, pin: str | None, requirement: str) -> tuple[str, ...]:
        # Into the venv the cell upgrades: pip-sync syncs the environment it is installed in.
        # The target is a line of requirements.in whether or not a version of it is installed:
        # without a prior version, the upgrade compiles and installs it for the first time.
        version = f"=={pin}" if pin else ""
        project = project_beside(venv)
        files = (posixpath.join(project, name) for name in (SOURCES, LOCKED_AT))
        return (
            f"python3 -m pip install {shlex.quote('pip-tools' + version)}",
            f"mkdir -p {shlex.quote(project)} && touch {' '.join(map(shlex.quote, files))}",
            self._add(project, (_listed(Requirement(requirement)),)),
        )

    def install(self, program: str, requirement: str, *, venv: str | None) -> str:
        wanted = Requirement(requirement)
        # pip-compile leaves pip out of what it compiles (an "unsafe" package) and pip-sync
        # never touches it: a user pins pip with pip.
        if canonicalize_name(wanted.name) == "pip":
            return f"python3 -m pip install {shlex.quote(requirement)}"
        project = project_beside(venv)
        added = self._add(project, (_listed(wanted),))
        if wanted.specifier:
            locked = posixpath.join(project, LOCKED_AT)
            pin = f"{wanted.name}{wanted.specifier}"
            added += f" && printf '%s\\n' {shlex.quote(pin)} >> {shlex.quote(locked)}"
        return f"{added} && {self._lock(project, posixpath.join(project, LOCKED_AT))}"

    def install_file(
        self, program: str, path: str, *, names: tuple[str, ...], venv: str | None
    ) -> str:
        # The reporter's lines are what the compiled file pins; requirements.in names them
        project = project_beside(venv)
        return f"{self._add(project, names)} && {self._lock(project, path)}"

    def upgrade(
        self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None
    ) -> str:
        project = project_beside(venv)
        sources = shlex.quote(posixpath.join(project, SOURCES))
        compiled = shlex.quote(posixpath.join(project, COMPILED))
        options = " ".join(["--pre"] * pre + ["--upgrade-package", shlex.quote(requirement)])
        sync_options = " --user" * user
        return (
            f"{program} {options} --output-file {compiled} {sources} && "
            f"pip-sync{sync_options} {compiled}"
        )

    def version_of(self, said: str) -> str:
        # 'pip-compile, version 7.7.0'
        match = re.match(r"pip-compile, version (\S+)", said.strip())
        return match.group(1) if match else ""

    def pinned_self(self, version: str) -> str:
        return f"pip-tools=={version}"

    def probes(self) -> dict[str, list[str]]:
        # Its check is pip's; what the index offers and the tags are pip's (it resolves with
        # pip), but a dry run of `pip install` is not what pip-compile would do: none.
        own = super().probes()
        return {
            "version": ["pip-compile", "--version"],
            "check": own["check"],
            "tags": own["tags"],
        }

    @staticmethod
    def _add(project: str, names: tuple[str, ...]) -> str:
        """Lines for requirements.in, each once (the target is listed before it is installed)."""
        sources = shlex.quote(posixpath.join(project, SOURCES))
        return " && ".join(
            f"{{ grep -qxF {shlex.quote(n)} {sources} || printf '%s\\n' {shlex.quote(n)} "
            f">> {sources}; }}"
            for n in names
        )

    @staticmethod
    def _lock(project: str, constraints: str) -> str:
        sources = shlex.quote(posixpath.join(project, SOURCES))
        compiled = shlex.quote(posixpath.join(project, COMPILED))
        return (
            f"pip-compile -c {shlex.quote(constraints)} --output-file {compiled} {sources} && "
            f"pip-sync {compiled}"
        )


def _listed(requirement: Requirement) -> str:
    """How requirements.in lists a dependency: its name and extras; the versions are pins."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return requirement.name + extras
