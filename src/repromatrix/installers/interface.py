"""What differs between installers, behind one interface (hatch's env/lockers/interface.py with
pip.py and uv.py beside it is the model): the commands a user types (install a prior version,
upgrade, pin the installer itself), the configuration it reads (its index, CA, constraint and
quiet variables), where its cache lives, and what it prints for each cause (its classifier
rules). Everything else in repromatrix asks the cell's installer instead of spelling one."""

from __future__ import annotations

import posixpath
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..core.outcomes import Outcome
from ..core.resolution import Resolution
from .remedy import Remedy


@dataclass(frozen=True)
class Rule:
    """The installer failed and its output matches `decides`: the outcome; evidence is the deciding
    line and every line matching `shows` (classify.py picks them)."""

    outcome: Outcome
    decides: str
    shows: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variables:
    """The environment variables an installer reads for what the axes set."""

    index_url: str  # the index cells read
    extra_index_url: str  # more indexes it also reads (space-separated URLs)
    cert: str  # the CA bundle it trusts
    constraint: str  # a constraints file
    no_input: str  # never prompt (credentials come from files); '': it never prompts
    break_system_packages: str  # install past PEP 668's marker
    quiet: tuple[tuple[str, str], ...]  # set in every cell: no self-update nagging in the evidence


class Installer(ABC):
    name: ClassVar[str]
    variables: ClassVar[Variables]
    rules: ClassVar[tuple[Rule, ...]]  # first match wins
    removed: ClassVar[str]  # what a tombstone release says when it is built
    backtracking: ClassVar[str]  # what the resolver says while it backtracks
    no_match: ClassVar[str]  # the visible symptom of an index it could not read
    installed: ClassVar[str]  # the line(s) saying what it installed
    # The line(s) saying it left the target where it was; {package} stands for its name, escaped
    kept: ClassVar[str] = r"(?i)Requirement already (?:satisfied|up-to-date): {package}\b"
    # What it prints when it takes a file from its cache; None: it never says
    cached: ClassVar[str | None]
    # What its check (probes' `check`) says of an installed library whose requirement is broken:
    # the library's name is the group `name`.
    broken: ClassVar[re.Pattern[str]]
    remedies: ClassVar[tuple[Remedy, ...]]  # its catalogue, in order of preference
    # Real wheels the local index serves so that its remedies do offline what they do online
    index_wheels: ClassVar[frozenset[str]]
    # The scripts under templates/ that run in a container for this installer (damaging its
    # cache, aligning its version): its template fragments, which may spell its names
    fragments: ClassVar[tuple[str, ...]]
    # The one of them that damages its cache (cache: corrupted), run as `python3 SCRIPT REQUIREMENT`
    cache_damager: ClassVar[str]
    # The program its wheel ships as a script (NAME-V.data/scripts/<program>), put on PATH in a
    # cell's image as the standalone binary; '' when the interpreter brings it (pip)
    standalone: ClassVar[str] = ""
    # Its own filter of the index by upload time (--as-of): the variable it reads, and the first
    # version that reads it ('': every version); ('', '') where it has none, and the cell reads
    # the index through the run's date-filtering service instead.
    uploaded_before: ClassVar[tuple[str, str]] = ("", "")
    # The variable that lets it read an index over plain HTTP (the date-filtering service)
    insecure_host: ClassVar[str] = ""
    # Does it read pip's configuration (pip.conf, PIP_*)? uv does not: a reporter's pip.conf
    # changes nothing for it, as for a user who switched and kept theirs.
    reads_pip_config: ClassVar[bool]
    # What its install says when it has no dry run (pip before 22.2): `run --triage` leaves
    # the cell to the install
    no_dry_run: ClassVar[str] = r"(?!)"

    @abstractmethod
    def program(self, module: bool) -> str:
        """How the user runs it: as a module of python3, or the command on PATH."""

    @abstractmethod
    def install(self, program: str, requirement: str, *, venv: str | None) -> str:
        """Install one requirement (a prior version, a conflicting library), as a shell command;
        `venv`: the virtual environment it goes into, None: an interpreter that is not one."""

    @abstractmethod
    def install_file(
        self, program: str, path: str, *, names: tuple[str, ...], venv: str | None
    ) -> str:
        """Install a requirements file in one resolver call (a reporter's environment); `names`:
        the requirements its lines name, as `name[extras]`."""

    @abstractmethod
    def upgrade(
        self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None
    ) -> str:
        """The upgrade under test, exactly as a user types it."""

    def prepare(self, venv: str | None, pin: str | None, requirement: str) -> tuple[str, ...]:
        """Shell commands the setup runs first, as the user who installs the prior version (a
        project to add to, the installer itself at `pin`, its axis's version; `requirement`: the
        target, which a project may list before any version of it is installed); most
        installers need none."""
        return ()

    def resolve(self, program: str, requirement: str, resolution: Resolution, *, pre: bool) -> str:
        """A dry run of installing `requirement` on the resolution's platform (its wheel tags,
        its Python, its environment markers), as a shell command; '' where this installer
        cannot resolve for another platform (a project's lock, pip-sync)."""
        return ""

    def dry_run(self, upgrade: str) -> str:
        """The upgrade as a dry run (`run --triage`): the same command in the cell's own
        environment, which resolves and stops before it installs anything (its failures before
        that are the upgrade's); '' where this installer has none."""
        return ""

    def resolve_probes(self, resolution: Resolution, *, pre: bool) -> dict[str, list[str]]:
        """The commands that say why a resolution took less than the newest release there:
        `versions` (the releases the index offers for the platform, the package appended) and
        `dry_run` (a dry run for the platform, the requirement appended); {} where it has none."""
        return {}

    def resolve_environment(self, resolution: Resolution) -> tuple[tuple[str, str], ...]:
        """Variables its resolution for that platform reads (uv: the macOS version)."""
        return ()

    @abstractmethod
    def version_of(self, said: str) -> str:
        """Its version from what its `version` probe printed; '' when that is not its answer (no
        such installer in the cell)."""

    @abstractmethod
    def pinned_self(self, version: str) -> str:
        """The requirement that pins the installer itself (the `pip` axis)."""

    @abstractmethod
    def cache_dir(self, home: str) -> str:
        """Where its cache lives for a user with this home directory."""

    @abstractmethod
    def probes(self) -> dict[str, list[str]]:
        """The commands the scenario runs to ask it (argv lists): `version` (its own version),
        `check` (are the installed requirements consistent?), `versions` (what the index offers
        of a package, the package appended), `dry_run` (what installing a requirement would
        do, the requirement appended) and `tags` (the wheel tags it accepts, as JSON
        {"count", "pairs", "platforms"}: interpreter-abi pairs and platforms in its order of
        preference)."""


# A project installer's files live beside the venv (/opt/venv → /opt/app), made by whoever made
# the venv: a user upgrading a project root made is then refused by the files, as with the venv.
PROJECT_NAME = "app"


def project_beside(venv: str | None) -> str:
    assert venv is not None, "project installers' cells have a virtual environment (core/axes.py)"
    return posixpath.join(posixpath.dirname(venv.rstrip("/")), PROJECT_NAME)
