"""A commented matrix.yaml from a report's clues: one cell, the reporter's. Every value cites
the line it came from; what the report does not say is a default said as one, and what cannot
be inferred or reproduced is a QUESTION in the file. Nothing is guessed silently."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..core.interpreter import DEBIAN_SUITES
from ..core.outcomes import INSTALL_ONLY, Outcome
from .clues import TENSORFLOW, Clue, Key, requirement_of

# Ubuntu's own python3, per release (what `python: system` is on ubuntu:X.Y).
UBUNTU_PYTHON = {
    "18.04": "3.6",
    "20.04": "3.8",
    "22.04": "3.10",
    "24.04": "3.12",
    "24.10": "3.12",
    "25.04": "3.13",
    "25.10": "3.13",
}
ENVIRONMENT = "reporter"
PLACEHOLDER_OS = "bookworm"


@dataclass(frozen=True)
class Value:
    """One value of the matrix and the comment above it."""

    value: str
    comment: str


@dataclass
class Draft:
    sources: tuple[str, ...]
    package: Value
    version: Value
    as_of: str | None = None
    axes: dict[str, Value] = field(default_factory=dict)
    environment: list[tuple[str, str]] = field(default_factory=list)  # (pin, where)
    expect: Value | None = None
    notes: list[str] = field(default_factory=list)  # what was read but is not a value
    questions: list[str] = field(default_factory=list)


def _cite(clue: Clue) -> str:
    return f"{clue.line.where} ({clue.says}): {clue.line.quote()}"


def _best(clues: Iterable[Clue], key: Key) -> list[Clue]:
    """The clues for `key`, strongest first, then in the report's order."""
    of_key = [c for c in clues if c.key == key]
    return sorted(of_key, key=lambda c: -c.strength)  # sorted() is stable: report order stays


def _also(chosen: Clue, ranked: Sequence[Clue]) -> str:
    """The other values the report names for the same thing, so a choice is never silent."""
    others: dict[str, str] = {}
    for clue in ranked:
        if clue.value != chosen.value and clue.value not in others:
            others[clue.value] = clue.line.where
    if not others:
        return ""
    named = ", ".join(f"{value} ({where})" for value, where in list(others.items())[:4])
    return f"; the report also names {named}"


def draft(clues: Sequence[Clue], sources: Sequence[str], as_of: str | None = None) -> Draft:
    package, version, target = _target(clues)
    d = Draft(tuple(sources), package, version, as_of)
    for also in _best(clues, "also-installs")[:3]:
        d.notes.append(
            f"{also.line.where}: the command also installs {also.value}; a target is one "
            "requirement: add the others to the environment if they matter"
        )
    name = canonicalize_name(target.name)
    _os(d, clues)
    _python(d, clues)
    _install(d, clues)
    _prior(d, clues, name)
    _pip(d, clues)
    _network(d, clues)
    _environment(d, clues, name)
    _expect(d, clues)
    _platform(d, clues)
    _out_of_reach(d, clues, target)
    return d


# The machines a report names, as the arch axis names them (Linux: run here under emulation)
ARCH_OF_MACHINE = {
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
}
THIRTY_TWO_BIT = re.compile(r"\b32 bit \((?:Intel|ARM)\)|\bwin32\b|-win32\.whl", re.IGNORECASE)
INTEL_MAC = re.compile(r"\bx86_64\b|\bIntel\b|macosx_\d+_\d+_x86_64", re.IGNORECASE)


def _platform(d: Draft, clues: Sequence[Clue]) -> None:
    """The report's OS and machine as the arch and platform axes have them: another Linux
    architecture runs under emulation; Windows and macOS cannot run here, so the cell is their
    resolution (pip's dry run for that platform), which installs nothing."""
    os_clues = _best(clues, "os")
    chosen = os_clues[0] if os_clues else None
    machine = _best(clues, "arch")
    if chosen is not None and chosen.value in ("windows", "macos"):
        _resolved_for(d, clues, chosen)
    elif machine and (arch := ARCH_OF_MACHINE.get(machine[0].value)):
        said = _cite(machine[0]) + _also(machine[0], machine)
        _put(
            d,
            "arch",
            Value(
                arch,
                f"{said}: Linux on {arch}, run under qemu-user emulation where "
                "this machine is another architecture",
            ),
        )


def _resolved_for(d: Draft, clues: Sequence[Clue], chosen: Clue) -> None:
    lines = [c.line.text for c in clues]
    if chosen.value == "windows":
        name = "windows-x86" if any(THIRTY_TWO_BIT.search(t) for t in lines) else "windows-amd64"
        which = ""
    else:
        arm = any(c.value in ("arm64", "aarch64") for c in clues if c.key == "arch")
        intel = not arm and any(INTEL_MAC.search(t) for t in lines)
        name = "macos-arm64" if arm or not intel else "macos-x86_64"
        which = (
            ""
            if arm or intel
            else (
                " QUESTION: the report does not say which Mac; Apple silicon is assumed (use "
                "macos-x86_64 for an Intel Mac)"
            )
        )
    _put(
        d,
        "platform",
        Value(
            name,
            f"{_cite(chosen)}: {name} cannot run in a container here; "
            "the cell is pip's resolution for it (a dry run with its wheel "
            "tags and markers), which installs nothing." + which,
        ),
    )
    what = {"windows": "Windows", "macos": "macOS"}[chosen.value]
    d.axes["os"] = Value(
        PLACEHOLDER_OS,
        f"the container the resolution runs in (its pip resolves for {name}); the report's OS is "
        f"{what} ({chosen.line.where})",
    )
    python = _best(clues, "python")
    if python:
        d.axes["python"] = Value(python[0].value, _cite(python[0]) + ": the Python resolved for")
    else:
        d.axes["python"] = Value(
            "3.12",
            "QUESTION: the report names no Python; 3.12 is a placeholder for the one resolved for",
        )
    pip = d.axes.get("pip")
    too_old = pip is not None and pip.value != "os" and _older(pip.value, "22.2")
    if pip is not None and too_old:
        d.notes.append(
            f"pip {pip.value} ({pip.comment[:80]}) has no dry run for another platform "
            "(pip 22.2 and later): the resolver container's pip resolves instead, and "
            f"pip {pip.value}'s own choice may differ"
        )
        d.axes["pip"] = Value(
            "os",
            f"the resolver container's pip (the report's {pip.value} "
            "cannot resolve for another platform)",
        )
    for axis, default in (("install", "venv"), ("prior", "none")):
        had = d.axes.get(axis)
        if had is not None and had.value != default:
            d.notes.append(
                f"{axis} {had.value} ({had.comment[:80]}): a resolution installs "
                f"nothing, so {axis} is {default}"
            )
            d.axes[axis] = Value(default, f"a resolution for {name}: nothing is installed")
    expected = d.expect.value.strip("[]").split(", ") if d.expect is not None else []
    if d.expect is not None and all(Outcome(o) in INSTALL_ONLY for o in expected):
        d.notes.append(
            f"expect {d.expect.value} ({d.expect.comment[:80]}): only an install ends "
            "so; a resolution cannot show it: no expect: written"
        )
        d.expect = None


def _older(version: str, than: str) -> bool:
    try:
        return Version(version) < Version(than)
    except InvalidVersion:
        return True


def _put(d: Draft, axis: str, value: Value) -> None:
    """An axis value right after os, where the matrix reference lists it."""
    items = list(d.axes.items())
    where = next((i + 1 for i, (k, _) in enumerate(items) if k in ("os", "arch")), 0)
    items = [(k, v) for k, v in items if k != axis]
    items.insert(min(where, len(items)), (axis, value))
    d.axes = dict(items)


def _target(clues: Sequence[Clue]) -> tuple[Value, Value, Requirement]:
    ranked = _best(clues, "target")
    if not ranked:
        q = "QUESTION: the report shows no install command; tensorflow is assumed"
        return (
            Value("tensorflow", q),
            Value("newest", "no version asked for"),
            Requirement("tensorflow"),
        )
    chosen = ranked[0]
    req = requirement_of(chosen.value) or Requirement("tensorflow")
    spec = str(req.specifier)
    req.specifier = type(req.specifier)()
    also = _also(chosen, ranked)
    package = Value(str(req), _cite(chosen) + also)
    said = f"the command asks for {spec}" if spec else "the command names no version"
    return package, Value(spec or "newest", said), req


def _os(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "os")
    if not ranked:
        d.axes["os"] = Value(
            PLACEHOLDER_OS,
            f"QUESTION: the report names no OS; {PLACEHOLDER_OS} is a placeholder, not a finding",
        )
        return
    chosen, also = ranked[0], _also(ranked[0], ranked)
    value = chosen.value
    if value in DEBIAN_SUITES or value == "stretch":
        d.axes["os"] = Value(value, _cite(chosen) + also)
    elif value.startswith("ubuntu:"):
        d.axes["os"] = Value(
            value,
            _cite(chosen) + also + ". An image reference: it is pulled from a registry, and "
            "where none answers the cell cannot start (debootstrap builds Debian suites only)",
        )
    else:
        what = {"windows": "Windows", "macos": "macOS"}.get(value, value.removeprefix("other:"))
        d.axes["os"] = Value(
            PLACEHOLDER_OS,
            f"QUESTION: the report's OS is {what} ({_cite(chosen)}{also}); {PLACEHOLDER_OS} is a "
            "placeholder: set the image of that OS if it has one (an image reference), or keep "
            "the nearest Debian suite",
        )


def _python(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "python")
    os_value = d.axes["os"].value
    own = DEBIAN_SUITES.get(os_value) or UBUNTU_PYTHON.get(os_value.removeprefix("ubuntu:"))
    if not ranked:
        said = f"{os_value}'s own python3 ({own})" if own else "the OS's own python3"
        d.axes["python"] = Value("system", f"the report names no Python: {said}")
        return
    chosen, also = ranked[0], _also(ranked[0], ranked)
    version, cite = chosen.value, _cite(chosen) + also
    is_debian = os_value in DEBIAN_SUITES
    if version == own:
        d.axes["python"] = Value("system", f"{cite}: {os_value}'s own python3 is {own}")
    elif is_debian and _minor(version) >= 9:
        d.axes["python"] = Value(
            version, f"{cite}: CPython {version} on {os_value}, as the official image has it"
        )
    else:
        suites = [s for s, v in DEBIAN_SUITES.items() if v == version]
        hint = (
            f"; Debian {suites[0]}'s own python3 is {version} (os: {suites[0]})" if suites else ""
        )
        d.axes["python"] = Value(
            "system",
            f"QUESTION: the report's Python is {version} ({cite}); on {os_value} this cell runs "
            f"the OS's own python3 ({own or 'its version'}) instead{hint}",
        )


def _minor(version: str) -> int:
    major, _, minor = version.partition(".")
    return int(minor) if major == "3" and minor.isdigit() else 0


def _install(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "install")
    values = {c.value for c in ranked}
    if not ranked:
        d.axes["install"] = Value(
            "venv", "QUESTION: the report does not say who installs into what; venv assumed"
        )
        return
    chosen = ranked[0]
    mode = chosen.value
    if mode == "user-site":  # pip used the user's site-packages: asked to, or fell back to it
        mode = "user-flag" if "user-flag" in values else "system-user"
    if mode == "system" and "user-flag" in values:
        mode = "user-flag"
    d.axes["install"] = Value(mode, _cite(chosen) + _also(chosen, ranked))


def _prior(d: Draft, clues: Sequence[Clue], target: str) -> None:
    ranked = [
        c for c in _best(clues, "prior") if canonicalize_name(c.value.split("==")[0]) == target
    ]
    upgrade = _best(clues, "upgrade")
    # The template's version is TensorFlow's: the target's only where the target is TensorFlow.
    is_tensorflow = target in TENSORFLOW
    template = _best(clues, "template-version") if is_tensorflow else []
    if ranked:
        chosen = ranked[0]
        d.axes["prior"] = Value(chosen.value.split("==")[1], _cite(chosen) + _also(chosen, ranked))
    elif template and upgrade:
        d.axes["prior"] = Value(
            template[0].value,
            f"{_cite(template[0])}, with an upgrade ({upgrade[0].line.where}): the version before",
        )
    else:
        d.axes["prior"] = Value("none", "the report shows no installed version: a fresh install")
        if template:
            d.questions.append(
                f"the template's TensorFlow version is {template[0].value} "
                f"({template[0].line.where}): was it installed before (prior), or what the "
                "command tried to install (target.version)?"
            )


def _pip(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "pip")
    if ranked:
        d.axes["pip"] = Value(ranked[0].value, _cite(ranked[0]) + _also(ranked[0], ranked))
    else:
        d.axes["pip"] = Value("os", "the report shows no pip version: the OS's own")


def _network(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "network")
    if not ranked:
        d.axes["network"] = Value(
            "direct", "no proxy, certificate or connection error in the report"
        )
        return
    chosen = ranked[0]
    comment = _cite(chosen) + _also(chosen, ranked)
    if chosen.value == "tls-intercept":
        comment += " (a proxy whose CA the cell does not trust; or ca: none, a CA only pip lacks)"
    d.axes["network"] = Value(chosen.value, comment)


def _environment(d: Draft, clues: Sequence[Clue], target: str) -> None:
    pasted = [c for c in _best(clues, "environment") if c.strength > 1]
    chosen = pasted or [c for c in clues if c.key == "environment"]
    seen: dict[str, str] = {}
    for clue in sorted(chosen, key=lambda c: (c.line.source, c.line.number)):
        name, _, version = clue.value.partition("==")
        if name == "pip":  # its version is the pip axis's
            continue
        if name == target or name in seen:
            if name in seen and seen[name] != version:
                d.notes.append(f"{clue.line.where}: {name} {version} again (kept {seen[name]})")
            continue
        seen[name] = version
        d.environment.append((clue.value, f"{clue.line.where} ({clue.says})"))
    for clue in (c for c in clues if c.key == "left-out"):
        d.notes.append(f"{clue.line.where}: left out of the environment: {clue.value}")
    if d.environment:
        d.axes["conflicts"] = Value(ENVIRONMENT, "the reporter's other packages (environments:)")


def _expect(d: Draft, clues: Sequence[Clue]) -> None:
    ranked = _best(clues, "expect")
    if ranked:
        d.expect = Value(ranked[0].value, f"what the reporter saw: {_cite(ranked[0])}")
        if ranked[0].value == Outcome.NO_MATCHING_DISTRIBUTION.value:
            # the same words of pip's, which the classifier names unsupported-platform where no
            # release has a wheel for the platform at all: either is what the reporter saw
            d.expect = Value(
                f"[{Outcome.NO_MATCHING_DISTRIBUTION.value}, {Outcome.UNSUPPORTED_PLATFORM.value}]",
                d.expect.comment + " (unsupported-platform: the same words, where no release "
                "has a wheel for the platform at all)",
            )
    else:
        d.notes.append("no installer output repromatrix recognises: no expect: written")


def _out_of_reach(d: Draft, clues: Sequence[Clue], target: Requirement) -> None:
    conda = _best(clues, "conda")
    if conda:
        d.questions.append(
            f"a conda environment ({_cite(conda[0])}): repromatrix does not build conda "
            f"environments; this cell {'resolves' if 'platform' in d.axes else 'installs'} with "
            "pip instead, without conda's own packages"
        )
    gpu = _best(clues, "gpu")
    if gpu:
        tf = canonicalize_name(target.name) in TENSORFLOW
        also = "; the resolution of tensorflow[and-cuda] (its nvidia wheels) can be" if tf else ""
        d.notes.append(
            f"{gpu[0].line.where}: a GPU or CUDA is named ({gpu[0].value[:60]}): containers "
            f"here use no GPU{also}"
        )


def render(d: Draft) -> str:
    """The matrix as YAML text, every value under the comment that says where it came from."""
    out = [
        f"# Written by `repromatrix init --from {' '.join(d.sources)}`: the reporter's cell.",
        "# Each value says where in the report it came from (FILE:LINE); QUESTION marks what the",
        "# report does not say or what a Linux container cannot reproduce: answer those first.",
        "# Check it with `repromatrix list --matrix THIS_FILE`; run it with `repromatrix run`.",
        "version: 1",
        "target:",
        *_comment(d.package.comment, "  "),
        f"  package: {_scalar(d.package.value)}",
        *_comment(d.version.comment, "  "),
        f"  version: {_scalar(d.version.value)}",
        "  index: default",
    ]
    if d.as_of:
        out += ["  # the index as it was then (init --as-of)", f"  as_of: {_scalar(d.as_of)}"]
    out.append("axes:")
    for axis, value in d.axes.items():
        out += [*_comment(value.comment, "  "), f"  {axis}: [{_scalar(value.value)}]"]
    if d.environment:
        out += ["environments:", f"  {ENVIRONMENT}:"]
        out.append(f"    doc: {_scalar('the environment in the report (' + d.sources[0] + ')')}")
        out.append("    requirements:")
        for pin, where in d.environment:
            out += [f"      # {where}", f"      - {_scalar(pin)}"]
    if d.expect:
        out += ["expect:", *_comment(d.expect.comment, "  "), f"  - {{outcome: {d.expect.value}}}"]
    if d.notes or d.questions:
        out.append("")
        for question in d.questions:
            out += _comment(f"QUESTION: {question}", "")
        for note in d.notes:
            out += _comment(note, "")
    return "\n".join(out) + "\n"


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string


def _comment(text: str, indent: str) -> list[str]:
    """A comment, wrapped under 100 columns."""
    width = 96 - len(indent)
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return [f"{indent}# {x}" for x in lines]


def questions_in(d: Draft) -> int:
    return len(d.questions) + sum("QUESTION" in v.comment for v in (d.package, *d.axes.values()))
