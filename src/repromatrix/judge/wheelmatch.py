"""Why did no wheel match? The question users ask pip in vain (pypa/pip#10793), answered per file.

Pure: the index's file list (with Requires-Python and yanked), and the tags the cell's own pip
accepts (recorded by the scenario), in; for each wheel of the wanted release, the reason it was
ruled out (or that it fits) out. Computed with `packaging.tags`, the same code pip vendors.
When the cell never ran (its setup failed), only the Python version is known: the table then
judges Requires-Python and the interpreter tag, and says that the platform was not checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from platform import machine as host_machine
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ..cell.contract import Record, ResolutionRecord
from .index import TAG_FAMILIES, IndexFile, Releases, as_version, pip_reads

MAX_ROWS = 40  # files listed per cell; Linux and pure-Python wheels first


@dataclass(frozen=True)
class CellTags:
    """What the cell's interpreter and pip accept: Python version, interpreter-abi pairs,
    platforms."""

    python: str  # '3.9.2' (or '3.9' when only the version is known)
    pairs: frozenset[str] = frozenset()  # 'cp39-cp39', 'cp39-abi3', 'py3-none', ...
    platforms: tuple[str, ...] = ()  # in pip's order of preference; () when unknown
    pip: Version | None = None
    # Why the tags are not known, when they are not (said beside the table)
    unknown: str = "the cell never ran"
    glibc: str | None = None  # 'glibc 2.36'; '' on musl; None when not known
    system: str = "linux"  # linux, macos or windows: where the wheels must run
    # The platforms are every one the system runs (a resolution's, computed for it), not only
    # those the cell's pip reads: a platform's absence is the system's answer
    complete: bool = False
    where: str = ""  # how the cell's platform is named ('' for an interpreter that ran here)

    @classmethod
    def from_record(cls, record: Record) -> CellTags | None:
        if not record.python:
            return None
        runtime = record.runtime
        tags = runtime.tags if runtime else None
        glibc = runtime.glibc if runtime else None
        pip = as_version(record.pip_version or None)
        if record.resolution is not None:
            return cls.for_resolution(record.resolution, pip)
        if tags is None:  # an old record, or the installer could not say: what CPython X.Y takes
            unknown = "the installer did not say which it takes"
            return cls(record.python, pip=pip, unknown=unknown, glibc=glibc)
        return cls(record.python, frozenset(tags.pairs), tags.platforms, pip, glibc=glibc)

    @classmethod
    def for_resolution(cls, said: ResolutionRecord, pip: Version | None = None) -> CellTags:
        """A resolved cell: the platform's own tags for its Python, every platform it runs."""
        platforms = said.tags.platforms if said.tags else ()
        system = system_of(platforms)
        glibc = _resolved_glibc(platforms) if system == "linux" else None
        return cls(
            said.python,
            frozenset(said.tags.pairs if said.tags else ()),
            platforms,
            pip,
            unknown="the platform's tags were not recorded",
            glibc=glibc,
            system=system,
            complete=True,
            where=said.describe.split(", CPython")[0],
        )

    @property
    def short(self) -> str:
        return ".".join(self.python.split(".")[:2])

    @property
    def known(self) -> bool:
        return bool(self.pairs and self.platforms)

    @property
    def arch(self) -> str:
        """The interpreter's architecture: from its tags, else this machine's (cells run here)."""
        here = host_machine()
        return _arch(self.platforms) or {"amd64": "x86_64", "arm64": "aarch64"}.get(here, here)

    @property
    def system_said(self) -> str:
        """How sentences name the cell's system: 'this system', or the platform it stands for."""
        return self.where or "this system"

    @property
    def kind(self) -> str:
        """'glibc x86_64', 'musl aarch64', 'macOS arm64', 'Windows amd64': what it runs."""
        if self.system == "linux":
            return f"{'musl' if self.musl else 'glibc'} {self.arch}"
        return platform_kind(self.platforms[0]) if self.platforms else self.system

    @property
    def musl(self) -> bool:
        return self.glibc is not None and not self.glibc.strip()

    @property
    def glibc_version(self) -> tuple[int, int] | None:
        """The system's glibc: as the interpreter reported it, else the newest its pip accepts."""
        if self.glibc and (m := re.search(r"(\d+)\.(\d+)", self.glibc)):
            return int(m.group(1)), int(m.group(2))
        # Only a pip that reads PEP 600 tags lists them up to the system's glibc; an older one's
        # newest (manylinux2014: 2.17) says nothing of the system.
        pep600 = [g for p in self.platforms if p.startswith("manylinux_") and (g := _glibc(p))]
        return max(pep600, default=None)

    def accepts(self, tag: Tag) -> bool:
        pair = f"{tag.interpreter}-{tag.abi}"
        if tag.platform == "any":
            return tag.abi == "none" and pair in self.pairs
        return pair in self.pairs and tag.platform in self.platforms

    def interpreter_fits(self, tag: Tag) -> bool:
        """Does the tag's interpreter and ABI fit this pip? Without recorded tags: what CPython
        X.Y accepts."""
        if self.pairs:
            return f"{tag.interpreter}-{tag.abi}" in self.pairs
        return self.cpython_takes(tag)

    def cpython_takes(self, tag: Tag) -> bool:
        """Does CPython X.Y take the tag's interpreter and ABI (cpXY, abi3 up to it, pyX), whatever
        its pip calls it?"""
        major, minor = (int(p) for p in self.short.split("."))
        own = f"cp{major}{minor}"
        if tag.interpreter == own:
            return True
        if tag.abi == "abi3" and (m := re.fullmatch(r"cp3(\d+)", tag.interpreter)):
            return int(m.group(1)) <= minor
        return tag.interpreter in ("py3", f"py{major}", f"py{major}{minor}") and tag.abi == "none"

    def system_takes(self, platform: str) -> bool:
        """Does this system run wheels of `platform`: Linux, this architecture, this libc (and a
        glibc at least as new as the wheel needs)? Whether this pip reads the tag is not asked."""
        if platform == "any":
            return True
        if self.complete:
            return platform in self.platforms
        if _arch_of(platform) != self.arch:
            return False
        if platform.startswith("musllinux_"):
            return self.musl
        if platform.startswith("manylinux"):
            needed, have = _glibc(platform), self.glibc_version
            too_new = needed is not None and have is not None and needed > have
            return not self.musl and not too_new
        return platform.startswith("linux_")


@dataclass(frozen=True)
class FileVerdict:
    filename: str
    fits: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.filename, "fits": self.fits, "reason": self.reason}


def explain(releases: Releases, version: Version, cell: CellTags) -> dict[str, Any]:
    """The table for one release: every wheel, whether it fits this cell, and why not."""
    # The cell's own architecture first (cells run on this machine's), then by interpreter.
    arch = cell.arch
    files = sorted(
        releases.files.get(version, []),
        key=lambda f: (
            not _of_system(f.filename, cell.system),
            not f.filename.endswith(f"{arch}.whl"),
            not _for_python(f.filename, cell),
            _interpreter_order(f.filename.split("-")[2]),
            f.filename,
        ),
    )
    verdicts = [judge(f, version, cell, releases.pre) for f in files]
    shown = [v for v in verdicts if _of_system(v.filename, cell.system)][:MAX_ROWS]
    other = len(verdicts) - len(shown)
    where = f" on {cell.where}" if cell.where else ""
    summary = (
        f"{sum(v.fits for v in verdicts)} of {len(verdicts)} wheels of {releases.package} "
        f"{version} fit "
        f"Python {cell.python}{where}"
        + ("" if cell.known else f" (platform not checked: {cell.unknown})")
    )
    return {
        "version": str(version),
        "summary": summary,
        "files": [v.to_json() for v in shown],
        "not_shown": other,
    }


def judge(file: IndexFile, version: Version, cell: CellTags, pre: bool = False) -> FileVerdict:
    """Does this wheel fit the cell? The first reason pip would rule it out, in pip's order."""
    try:
        _, _, _, tags = parse_wheel_filename(file.filename)
    except (InvalidWheelFilename, InvalidVersion):
        return FileVerdict(file.filename, False, "not a wheel pip can read the name of")
    if file.yanked is not None:
        return FileVerdict(
            file.filename, False, "yanked" + (f": {file.yanked}" if file.yanked else "")
        )
    if file.requires_python and not _python_in(cell.python, file.requires_python):
        return FileVerdict(
            file.filename,
            False,
            f"Requires-Python {file.requires_python} excludes Python {cell.python}",
        )
    if not any(cell.interpreter_fits(t) for t in tags):
        if misnamed := _misnamed(tags, cell):
            return FileVerdict(file.filename, False, misnamed)
        built = ", ".join(sorted({t.interpreter for t in tags}, key=_interpreter_order))
        return FileVerdict(file.filename, False, f"built for {built}, not for Python {cell.short}")
    if cell.known and not any(cell.accepts(t) for t in tags):
        return FileVerdict(file.filename, False, _platform_reason({t.platform for t in tags}, cell))
    if version.is_prerelease and not pre:
        return FileVerdict(
            file.filename,
            True,
            "fits, but is a pre-release: pip takes it only with --pre or when "
            "no final release fits",
        )
    return FileVerdict(
        file.filename, True, "fits" if cell.known else "fits this Python (platform not checked)"
    )


def _misnamed(tags: frozenset[Tag], cell: CellTags) -> str:
    """A wheel built for exactly this Python that its pip does not accept, because the pip spells
    the interpreter otherwise (pip 20.2.4 calls CPython 3.11 'cp3_11'), or ''."""
    own = "cp" + cell.short.replace(".", "")
    if not cell.pairs or own not in {t.interpreter for t in tags}:
        return ""
    named = sorted(
        a for a, _, b in (p.partition("-") for p in cell.pairs) if a == b and a.startswith("cp")
    )
    pip = f"pip {cell.pip}" if cell.pip else "this pip"
    says = f": it calls this interpreter {named[0]}" if named else ""
    return (
        f"built for {own}, which is this Python {cell.short}, but {pip} does not accept {own} "
        f"wheels{says}"
    )


def _platform_reason(platforms: set[str], cell: CellTags) -> str:
    if cell.system != "linux" or cell.musl:
        kinds = sorted({platform_kind(p) for p in platforms})
        where = cell.where or "this interpreter's system"
        return f"built for {', '.join(kinds)}; {where} is {cell.kind}"
    mine = _arch(cell.platforms)
    theirs = {_arch_of(p) for p in platforms if p != "any"}
    if mine and theirs and mine not in theirs:
        runs = f"{cell.where} is" if cell.where else "this interpreter runs on"
        return f"built for {', '.join(sorted(theirs))}; {runs} {mine}"
    if not any(p.startswith(("manylinux", "linux", "musllinux")) for p in platforms):
        return f"built for another system ({', '.join(sorted(platforms))})"
    manylinux = [p for p in platforms if p.startswith("manylinux")]
    if cell.pip is not None and manylinux and not any(pip_reads(cell.pip, p) for p in manylinux):
        # The oldest pip that reads one of the wheel's tags (the families classify.py knows).
        first, name = min(
            (Version(f), n)
            for prefix, f, n in TAG_FAMILIES
            if any(p.startswith(prefix) for p in manylinux)
        )
        return f"pip {cell.pip} cannot read {name} tags (pip ≥ {first} can)"
    needed = min((g for p in platforms if (g := _glibc(p))), default=None)
    have = max((g for p in cell.platforms if (g := _glibc(p))), default=None)
    if needed and have and needed > have:
        return (
            f"needs glibc {needed[0]}.{needed[1]} ({', '.join(sorted(platforms))}); this "
            "interpreter's system "
            f"has glibc {have[0]}.{have[1]}"
        )
    if any(p.startswith("musllinux") for p in platforms):
        return "built for musl libc (musllinux); this interpreter uses glibc"
    return f"platform {', '.join(sorted(platforms))} is not one this interpreter accepts"


_MANYLINUX_ALIASES = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _glibc(platform: str) -> tuple[int, int] | None:
    if m := re.match(r"manylinux_(\d+)_(\d+)_", platform):
        return int(m.group(1)), int(m.group(2))
    return next((v for k, v in _MANYLINUX_ALIASES.items() if platform.startswith(k + "_")), None)


def _arch_of(platform: str) -> str:
    for arch in (
        "x86_64",
        "aarch64",
        "i686",
        "ppc64le",
        "s390x",
        "armv7l",
        "arm64",
        "amd64",
        "universal2",
    ):
        if platform.endswith(arch):
            return arch
    return platform


def _arch(platforms: tuple[str, ...]) -> str:
    linux = (_arch_of(p) for p in platforms if p.startswith(("manylinux", "linux", "musllinux")))
    return next(linux, "") or next((_arch_of(p) for p in platforms if p != "any"), "")


def _for_python(filename: str, cell: CellTags) -> bool:
    """Is the wheel built for the cell's Python (what a reader of the table looks for first)?"""
    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        return False
    return any(cell.cpython_takes(t) for t in tags)


def _of_system(filename: str, system: str) -> bool:
    """Is the wheel one for `system` (or pure Python)? What a cell's table lists first."""
    marks = {"linux": ("linux",), "macos": ("macosx",), "windows": ("-win",)}[system]
    return filename.endswith("-any.whl") or any(m in filename for m in marks)


def system_of(platforms: tuple[str, ...]) -> str:
    """linux, macos or windows: the system whose tags these are."""
    first = next((p for p in platforms if p != "any"), "")
    if first.startswith("macosx"):
        return "macos"
    return "windows" if first.startswith("win") else "linux"


def _resolved_glibc(platforms: tuple[str, ...]) -> str:
    """'glibc 2.36' from a resolved Linux platform's tags; '' for musl."""
    newest = max((g for p in platforms if (g := _glibc(p))), default=None)
    return f"glibc {newest[0]}.{newest[1]}" if newest else ""


ARCH = re.compile(
    r"(x86_64|amd64|i[3-6]86|win32|aarch64|arm64|armv[67]l|ppc64le|ppc64|s390x|riscv64|universal2"
    r"|universal|intel|fat3|fat32|fat64)$"  # the last: old macOS builds of more than one
)


def platform_kind(tag: str, musl: bool = False) -> str:
    """'manylinux_2_17_x86_64' → 'glibc x86_64', 'musllinux_1_2_aarch64' → 'musl aarch64',
    'macosx_12_0_arm64' → 'macOS arm64', 'win_amd64' → 'Windows amd64', 'any' → 'any'. A plain
    'linux_x86_64' is the interpreter's own libc: glibc, unless it runs on musl."""
    if tag == "any":
        return "any"
    arch = m.group(1) if (m := ARCH.search(tag)) else tag
    plain_musl = musl and tag.startswith("linux_")
    return f"{_system_word(tag, plain_musl)} {arch}"


def _system_word(tag: str, plain_musl: bool) -> str:
    if tag.startswith("musllinux") or plain_musl:
        return "musl"
    if tag.startswith(("manylinux", "linux")):
        return "glibc"
    if tag.startswith("macosx"):
        return "macOS"
    if tag.startswith("win"):
        return "Windows"
    return tag.split("_")[0]


def _interpreter_order(tag: str) -> tuple[int, str]:
    m = re.fullmatch(r"[a-z]+(\d)(\d*)", tag)
    return (int(m.group(1) + (m.group(2) or "0").rjust(2, "0")), tag) if m else (0, tag)


def _python_in(python: str, spec: str) -> bool:
    try:
        return SpecifierSet(spec).contains(Version(python), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return True  # an unreadable Requires-Python is ignored, as pip does


def why_no_wheel(
    outcome: str,
    below_newest: bool,
    prior: str | None,
    python: str,
    record: Record | None,
    wanted: Releases | None,
    everything: Releases | None,
) -> dict[str, Any]:
    """The table a cell's result carries, or {}: for the prior version when it could not be set up;
    when pip found nothing or landed below the newest release, for the release it missed: the newest
    this Python has wheels for, if pip did not even get that (an old pip), else the newest."""
    cell = CellTags.from_record(record) if record else None
    cell = cell or (CellTags(python) if python else None)
    if cell is None:
        return {}
    if outcome == "setup-failed" and prior and everything is not None:
        version = as_version(prior)
        return explain(everything, version, cell) if version in everything.files else {}
    if (
        outcome in ("no-matching-distribution", "unsupported-platform") or below_newest
    ) and wanted is not None:
        after = as_version(record.after if record else None)
        reachable = newest_for(wanted, cell)
        missed = reachable if reachable and after and after < reachable else wanted.newest()
        return explain(wanted, missed, cell) if missed is not None else {}
    return {}


def unfit(file: IndexFile, cell: CellTags) -> str:
    """Why this interpreter, on its system, could not install the file with an installer that
    reads every tag (a current pip), or '' if it could: yanked, Requires-Python, the interpreter,
    then the platform (OS, architecture, libc)."""
    try:
        _, _, _, tags = parse_wheel_filename(file.filename)
    except (InvalidWheelFilename, InvalidVersion):
        return "not a wheel"
    if file.yanked is not None:
        return "yanked"
    if file.requires_python and not _python_in(cell.python, file.requires_python):
        return f"Requires-Python {file.requires_python}"
    for_python = [t for t in tags if cell.cpython_takes(t)]
    if not for_python:
        return "built for another Python"
    if not any(cell.system_takes(t.platform) for t in for_python):
        return _system_reason({t.platform for t in for_python}, cell)
    return ""


def newest_for(releases: Releases, cell: CellTags) -> Version | None:
    """The newest release this interpreter could have: one of its wheels fits it (see unfit), by
    pip's rule for pre-releases. What the cell's own pip reads is a separate question."""
    return releases.pick([v for v in releases.files if fits(releases, v, cell)])


def fits(releases: Releases, version: Version, cell: CellTags) -> bool:
    return any(not unfit(f, cell) for f in releases.files.get(version, []))


def missing(releases: Releases, version: Version, cell: CellTags) -> str:
    """Why `version` has nothing for this interpreter, in a phrase: 'no 2.21.0 wheel for Python
    3.9', or for its system: 'no 2.21.0 wheel for this system (needs glibc 2.28; ...)'."""
    files = releases.files.get(version, [])
    for_python = {p for f in files if not _python_unfit(f, cell) for p in _platforms(f, cell)}
    if not for_python:
        return f"no {version} wheel for Python {cell.short}"
    return f"no {version} wheel for {cell.system_said} ({_system_reason(for_python, cell)})"


def _python_unfit(file: IndexFile, cell: CellTags) -> bool:
    unfit_for = unfit(file, cell)
    return bool(unfit_for) and unfit_for.startswith(_PYTHON_REASONS)


_PYTHON_REASONS = ("Requires-Python", "built for another Python", "yanked", "not a wheel")


def _platforms(file: IndexFile, cell: CellTags) -> set[str]:
    """The platforms of the file's tags that this Python takes."""
    _, _, _, tags = parse_wheel_filename(file.filename)
    return {t.platform for t in tags if cell.cpython_takes(t)}


def _system_reason(platforms: set[str], cell: CellTags) -> str:
    """Why none of `platforms` runs here (the system, not the pip: see _platform_reason)."""
    if cell.system != "linux":
        kinds = sorted({platform_kind(p) for p in platforms})
        return f"built for {', '.join(kinds)}, not {cell.kind}"
    linux = {p for p in platforms if p.startswith(("manylinux", "linux", "musllinux"))}
    if not linux:
        return f"built for another system: {', '.join(sorted(platforms))}"
    theirs = {_arch_of(p) for p in linux}  # macOS's arm64 and Windows' amd64 are not Linux's
    if cell.arch not in theirs:
        return f"built for Linux {', '.join(sorted(theirs))}, not {cell.arch}"
    mine = {p for p in platforms if _arch_of(p) == cell.arch}
    if cell.musl and not any(p.startswith("musllinux_") for p in mine):
        return "built for glibc, not musl"
    if not cell.musl and all(p.startswith("musllinux_") for p in mine):
        return "built for musl libc (musllinux), not glibc"
    needed = min((g for p in mine if (g := _glibc(p))), default=None)
    have = cell.glibc_version
    if needed and have:
        has = f"{cell.system_said} has"
        return f"needs glibc {needed[0]}.{needed[1]}; {has} glibc {have[0]}.{have[1]}"
    return f"platform {', '.join(sorted(mine))} is not one {cell.system_said} runs"


def placeholder_said(releases: Releases, landed: Version, newest: Version, cell: CellTags) -> str:
    """When the release a cell landed on is pure Python (none-any) and the newest is built only
    for other systems, say so: on this system the name resolves to what may be a placeholder
    (a tiny release that pulls in other packages), not the package users mean. '' otherwise."""
    landed_files = releases.files.get(landed, [])
    newest_files = releases.files.get(newest, [])
    pure = bool(landed_files) and all(_pure(f.filename) for f in landed_files)
    elsewhere = {p for f in newest_files if not _pure(f.filename) for p in _platforms(f, cell)}
    built_elsewhere = bool(elsewhere) and not any(cell.system_takes(p) for p in elsewhere)
    if not (pure and built_elsewhere):
        return ""
    return (
        f"{landed} is a pure-Python wheel, while {newest} is built only for "
        f"{', '.join(sorted(elsewhere))}: on {cell.system_said} the name resolves to what may be a "
        "placeholder release, not the package itself"
    )


def _pure(filename: str) -> bool:
    return filename.endswith("-none-any.whl")
