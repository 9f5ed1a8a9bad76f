"""What a report says, field by field, from its clues: the reporter's OS, machine, Python,
installer and the rest, each with the line it came from, whether it is an answer (a tool's
output, a template's field) or a question (prose, a title, an assumption), and the other values
the report names for it. A field the report does not speak of is None, and stays so: the
matrix (draft.py) says so instead of guessing. Where sources disagree, the stronger one wins
and the other is kept."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .clue import PROSE, Clue, Key
from .pasted import TENSORFLOW
from .said import requirement_of

# The report's fields, as a maintainer reads them (tests/data/reports/fields.yaml has them by hand)
FIELDS = (
    "package",
    "version",
    "installer",
    "os",
    "arch",
    "platform",
    "python",
    "install",
    "prior",
    "pip",
    "expect",
    "conda",
)
# `uname -m`'s machines as the arch axis names them; 'x86' is a 32-bit Python (on Windows)
ARCH_OF_MACHINE = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "armhf",
    "i686": "i386",
    "x86": "x86",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
}
COMMANDS = (
    "the install command",
    "the conda command",
    "the script's dependencies (PEP 723)",
    "a command written in a sentence",
)


@dataclass(frozen=True)
class Fact:
    """One field of the report: its value (None: the report does not say), whether the report
    answers it (False: a question), the line that says it, the other values it names."""

    value: str | None
    sure: bool
    clue: Clue | None = None
    others: tuple[Clue, ...] = ()
    why: str = ""  # how the value follows from the line, where it is not the line's own word

    def cite(self) -> str:
        """'r.md:7 (pip's output): Requirement already satisfied: ...'; '' if no line says it."""
        if self.clue is None:
            return ""
        return f"{self.clue.line.where} ({self.clue.says}): {self.clue.line.quote()}"

    def also(self) -> str:
        """'; the report also names 3.8 (r.md:9)', so that a choice is never silent."""
        named: dict[str, str] = {}
        for clue in self.others:
            if clue.value not in named:
                named[clue.value] = clue.line.where
        if not named:
            return ""
        listed = ", ".join(f"{value} ({where})" for value, where in list(named.items())[:4])
        return f"; the report also names {listed}"


NOT_SAID = Fact(None, True)


@dataclass
class Reading:
    facts: dict[str, Fact]
    target: Requirement
    environment: list[Clue] = field(default_factory=list)
    clues: list[Clue] = field(default_factory=list)

    def __getitem__(self, name: str) -> Fact:
        return self.facts[name]

    def of(self, key: Key) -> list[Clue]:
        return ranked(self.clues, key)


def ranked(clues: Iterable[Clue], key: Key) -> list[Clue]:
    """The clues for `key`, strongest first, then in the report's order."""
    of_key = [c for c in clues if c.key == key]
    return sorted(of_key, key=lambda c: (-c.strength, c.line.block, c.line.number))


def _fact(clues: Sequence[Clue], key: Key, value_of: dict[str, str] | None = None) -> Fact:
    """The strongest clue's value, and the others'."""
    ordered = ranked(clues, key)
    if not ordered:
        return NOT_SAID
    chosen = ordered[0]
    value = (value_of or {}).get(chosen.value, chosen.value)
    others = tuple(c for c in ordered[1:] if (value_of or {}).get(c.value, c.value) != value)
    return Fact(value, chosen.sure, chosen, others)


def read(clues: Sequence[Clue]) -> Reading:
    package, version, target = _target(clues)
    facts = {"package": package, "version": version}
    facts["installer"] = _installer(clues)
    facts["os"] = _os(clues)
    facts["arch"] = _fact(clues, "arch", ARCH_OF_MACHINE)
    facts["platform"] = _platform(clues, facts["os"], facts["arch"])
    facts["python"] = _fact(clues, "python")
    facts["install"] = _install(clues)
    facts["prior"] = _prior(clues, canonicalize_name(target.name))
    facts["pip"] = _fact(clues, "pip")
    facts["expect"] = _fact(clues, "expect")
    conda = ranked(clues, "conda")
    facts["conda"] = Fact("yes", conda[0].sure, conda[0]) if conda else NOT_SAID
    reading = Reading(facts, target, clues=list(clues))
    reading.environment = _environment(clues, canonicalize_name(target.name))
    return reading


def _target(clues: Sequence[Clue]) -> tuple[Fact, Fact, Requirement]:
    ordered = ranked(clues, "target")
    if not ordered:
        return _untargeted(clues)
    chosen = ordered[0]
    req = requirement_of(chosen.value) or Requirement("tensorflow")
    req.name = canonicalize_name(req.name)  # 'TensorFlow' as typed is the index's tensorflow
    spec = str(req.specifier)
    req.specifier = type(req.specifier)()
    others = tuple(c for c in ordered[1:] if _bare(c.value) != str(req))
    package = Fact(str(req), chosen.sure, chosen, others)
    if spec:
        return package, Fact(spec, chosen.sure, chosen, why=f"the command asks for {spec}"), req
    wanted = ranked(clues, "wanted")
    if wanted:
        why = "the version the reporter says they want"
        return package, Fact(f"=={wanted[0].value}", False, wanted[0], why=why), req
    from_a_command = chosen.says in COMMANDS
    why = "the command names no version" if from_a_command else "no version asked for"
    return package, Fact("newest", from_a_command, chosen, why=why), req


def _untargeted(clues: Sequence[Clue]) -> tuple[Fact, Fact, Requirement]:
    """No command names a requirement: the one the installer's failure names, else tensorflow,
    both questions."""
    from_file = ranked(clues, "from-file")
    how = (
        f"the command installs a requirements file ({from_file[0].line.where}), not shown"
        if from_file
        else "the report shows no install command"
    )
    named = ranked(clues, "failed-for")
    if named:
        why = f"{how}; the requirement the installer's failure names"
        req = Requirement(named[0].value)
        return Fact(named[0].value, False, named[0], why=why), Fact("newest", False), req
    why = f"{how}; tensorflow is assumed"
    return Fact("tensorflow", False, why=why), Fact("newest", False), Requirement("tensorflow")


def _bare(requirement: str) -> str:
    try:
        req = Requirement(requirement)
    except InvalidRequirement:
        return requirement
    req.specifier = type(req.specifier)()
    req.name = canonicalize_name(req.name)
    return str(req)


def _installer(clues: Sequence[Clue]) -> Fact:
    """What ran the command: the command's own name, else the installer whose words the
    report quotes (pip's 'Requirement already satisfied', uv's resolver)."""
    said = _fact(clues, "installer")
    if said.value is not None:
        return said
    expect = ranked(clues, "expect")
    quoted = [c for c in expect if c.says.endswith("'s output")]
    if quoted:
        return Fact(quoted[0].says.split("'")[0], quoted[0].sure, quoted[0])
    pip_lines = [c for c in clues if c.says.startswith(("pip's", "pip -V", "pip debug"))]
    if pip_lines:
        return Fact("pip", pip_lines[0].sure, pip_lines[0])
    return NOT_SAID


def _os(clues: Sequence[Clue]) -> Fact:
    """The OS, the most specific of the strongest: 'ubuntu:20.04' over a bare 'ubuntu'."""
    fact = _fact(clues, "os")
    if fact.value == "ubuntu" and fact.clue is not None:
        named = [c for c in fact.others if c.value.startswith("ubuntu:")]
        if named and named[0].strength >= fact.clue.strength:
            rest = tuple(c for c in (fact.clue, *fact.others) if c is not named[0])
            return Fact(named[0].value, named[0].sure, named[0], rest)
    return fact


def _platform(clues: Sequence[Clue], os_fact: Fact, arch: Fact) -> Fact:
    """The platform value the report's OS and machine stand for: Linux runs (`linux`);
    Windows and macOS are the platform of their machine, assumed (a question) where the report
    does not say which."""
    if os_fact.value is None:
        system = ranked(clues, "system")
        if system and system[0].value == "linux":
            return Fact(
                "linux", False, system[0], why="a Linux path; the distribution is not named"
            )
        return NOT_SAID
    if os_fact.value == "windows":
        return _windows(clues, os_fact, arch)
    if os_fact.value == "macos":
        if arch.value in ("arm64", "amd64"):
            name = "macos-arm64" if arch.value == "arm64" else "macos-x86_64"
            return Fact(name, arch.sure and os_fact.sure, arch.clue)
        why = "the report does not say which Mac; Apple silicon is assumed"
        return Fact("macos-arm64", False, os_fact.clue, why=why)
    if os_fact.value.lower().startswith("other:alpine"):
        machine = "aarch64" if arch.value == "arm64" else "x86_64"
        return Fact(f"musllinux-{machine}", os_fact.sure, os_fact.clue)
    return Fact("linux", os_fact.sure, os_fact.clue)


def _windows(clues: Sequence[Clue], os_fact: Fact, arch: Fact) -> Fact:
    mingw = [c for c in ranked(clues, "platform-tag") if c.value.startswith("mingw")]
    if mingw:
        why = (
            f"the report's pip takes {mingw[0].value} wheels (an MSYS2/MinGW Python): none of "
            "repromatrix's platforms is that one, and no TensorFlow release has such a wheel"
        )
        return Fact(None, True, mingw[0], why=why)
    by_arch = {"x86": "windows-x86", "arm64": "windows-arm64", "amd64": "windows-amd64"}
    if arch.value in by_arch:
        return Fact(by_arch[arch.value], arch.sure and os_fact.sure, arch.clue)
    why = (
        "the report does not say whether its Python is 64-bit or 32-bit (a 32-bit Python has "
        "no TensorFlow at all); a 64-bit one is assumed"
    )
    return Fact("windows-amd64", False, os_fact.clue, why=why)


def _install(clues: Sequence[Clue]) -> Fact:
    ordered = ranked(clues, "install")
    if not ordered:
        return NOT_SAID
    values = {c.value for c in ordered}
    chosen = ordered[0]
    mode = chosen.value
    if mode == "user-site":  # pip used the user's site-packages: asked to, or fell back to it
        mode = "user-flag" if "user-flag" in values else "system-user"
    if mode == "system" and "user-flag" in values:
        mode = "user-flag"
    others = tuple(c for c in ordered[1:] if c.value not in (mode, "user-site"))
    in_conda = [c for c in clues if c.key == "conda" and c.says.startswith("where pip found it")]
    if mode == "venv" and in_conda:
        why = (
            f"pip found the target in a conda environment ({in_conda[0].line.where}): the "
            "virtual environment's steps may not be where it ran"
        )
        return Fact(mode, False, chosen, others, why=why)
    return Fact(mode, chosen.sure, chosen, others)


def _prior(clues: Sequence[Clue], target: str) -> Fact:
    """The target's version before the command: pip's words, a pasted list, a tool's; else the
    template's version where the report says it upgraded."""
    of_target = [
        c
        for c in ranked(clues, "prior")
        if c.value.startswith("?==") or canonicalize_name(c.value.split("==")[0]) == target
    ]
    upgrade = ranked(clues, "upgrade")
    template = ranked(clues, "template-version") if target in TENSORFLOW else []
    if of_target:
        chosen = of_target[0]
        version = chosen.value.split("==")[1]
        others = tuple(c for c in of_target[1:] if c.value.split("==")[1] != version)
        if not chosen.sure and template and template[0].value == version:
            # the sentence and the template's field agree: the field is the line to cite
            why = "the template's version, which the reporter says they upgraded from"
            return Fact(version, False, template[0], (chosen, *others), why=why)
        return Fact(version, chosen.sure, chosen, others)
    if template and upgrade:
        why = f"the template's version, with an upgrade ({upgrade[0].line.where}): the one before"
        return Fact(template[0].value, False, template[0], why=why)
    return NOT_SAID


def _environment(clues: Sequence[Clue], target: str) -> list[Clue]:
    """The other packages the report shows installed: a pasted list, else pip's own lines."""
    of_key = ranked(clues, "environment")
    pasted = [c for c in of_key if c.strength > PROSE]
    chosen = pasted or of_key
    return [c for c in chosen if c.value.partition("==")[0] not in (target, "pip")]
