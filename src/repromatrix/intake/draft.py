"""A commented matrix.yaml from what a report says (reading.py): one cell, the reporter's.
Every value cites the line it came from; a value read only from prose, a title or an
assumption is a QUESTION in the file; what the report does not say is a default said as one;
what cannot be reproduced here is said with what is run instead. Nothing is guessed silently."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..core.axes import AXES
from ..core.errors import UsageError
from ..core.interpreter import DEBIAN_SUITES
from ..core.outcomes import INSTALL_ONLY, Outcome
from ..judge.index import Releases
from .against_index import (
    PLACES,
    Answer,
    Fit,
    Where,
    fits,
    listed_versions,
    offered,
    pythons_said,
    window,
)
from .clue import Clue
from .pasted import TENSORFLOW
from .reading import FIELDS, Fact, Reading, read

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
# Suites Debian's mirror no longer serves (debootstrap from it fails): the image must come from
# elsewhere. Their python3: what `python: system` is on them.
ARCHIVED_SUITES = {"jessie": "3.4", "stretch": "3.5", "buster": "3.7"}
ENVIRONMENT = "reporter"
PLACEHOLDER_OS = "bookworm"
RESOLVER_PYTHON = "3.12"
# Names of the fields in the 'what the report says' block
LABELS = {
    "package": "package",
    "version": "version asked for",
    "installer": "installer",
    "os": "OS",
    "arch": "machine",
    "platform": "platform",
    "python": "Python",
    "install": "installed into",
    "prior": "version before",
    "pip": "pip",
    "expect": "what the reporter saw",
    "conda": "conda",
}


@dataclass(frozen=True)
class Value:
    """One value of the matrix and the comment above it."""

    value: str
    comment: str
    more: tuple[str, ...] = ()  # further values: one cell each, where the report fits several


@dataclass
class Draft:
    sources: tuple[str, ...]
    package: Value
    version: Value
    reading: Reading
    as_of: str | None = None
    axes: dict[str, Value] = field(default_factory=dict)
    environment: list[tuple[str, str]] = field(default_factory=list)  # (pin, where)
    expect: Value | None = None
    notes: list[str] = field(default_factory=list)  # what was read but is not a value
    questions: list[str] = field(default_factory=list)


def _said(fact: Fact) -> str:
    """The fact's line and the other values the report names for it."""
    return fact.cite() + fact.also()


def _asked(fact: Fact, what: str) -> str:
    """A value read only from prose, a title or an assumption is a question."""
    if fact.sure:
        return _said(fact)
    how = f" ({fact.clue.says})" if fact.clue is not None else ""
    return f"QUESTION: {what} is read only from{how or ' an assumption'}: {_said(fact)}".rstrip(
        ": "
    )


def draft(clues: Sequence[Clue], sources: Sequence[str], as_of: str | None = None) -> Draft:
    reading = read(clues)
    d = Draft(tuple(sources), *_target(reading), reading=reading, as_of=as_of)
    for also in reading.of("also-installs")[:3]:
        d.notes.append(
            f"{also.line.where}: the command also installs {also.value}; a target is one "
            "requirement: add the others to the environment if they matter"
        )
    _os(d, reading)
    _python(d, reading)
    _install(d, reading)
    _prior(d, reading)
    _pip(d, reading)
    _installer(d, reading)
    _network(d, reading)
    _environment(d, reading)
    _expect(d, reading)
    _platform(d, reading)
    _from_versions(d, reading)
    _out_of_reach(d, reading)
    return d


def _target(reading: Reading) -> tuple[Value, Value]:
    package, version = reading["package"], reading["version"]
    if package.clue is None:
        said = f"QUESTION: {package.why}"
    elif package.why:
        said = f"QUESTION: {package.why}: {_said(package)}"
    else:
        said = _asked(package, "the package")
    if version.value == "newest":
        named = version.why or "no version is named"
        wanted = named if version.sure else f"QUESTION: {named}: the newest is asked for"
        return Value(package.value or "tensorflow", said), Value("newest", wanted)
    how = f"{version.why}: " if version.why else ""
    asked = _asked(version, "the version")
    return Value(package.value or "tensorflow", said), Value(str(version.value), how + asked)


def _os(d: Draft, reading: Reading) -> None:
    fact = reading["os"]
    value = fact.value
    if value is None:
        d.axes["os"] = Value(
            PLACEHOLDER_OS,
            f"QUESTION: the report names no OS; {PLACEHOLDER_OS} is a placeholder, not a finding",
        )
        return
    cite = _asked(fact, "the OS")
    if value in ARCHIVED_SUITES:
        d.axes["os"] = Value(
            value,
            f"{cite}. Debian's mirror no longer serves {value} (an archived release): its image "
            "comes from a registry (debian:" + value + ") or settings.debian_mirror set to a "
            "mirror that keeps archived suites",
        )
    elif value in DEBIAN_SUITES:
        d.axes["os"] = Value(value, cite)
    elif value.startswith("ubuntu:"):
        d.axes["os"] = Value(
            value,
            cite + ". An image reference: it is pulled from a registry, and where none answers "
            "the cell cannot start (debootstrap builds Debian suites only)",
        )
    else:
        what = _os_name(value)
        d.axes["os"] = Value(
            PLACEHOLDER_OS,
            f"QUESTION: the report's OS is {what} ({_said(fact)}); {PLACEHOLDER_OS} is a "
            "placeholder: set the image of that OS if it has one (an image reference), or keep "
            "the nearest Debian suite",
        )


def _os_name(value: str) -> str:
    if value == "ubuntu":
        return "Ubuntu, release not named"
    return {"windows": "Windows", "macos": "macOS"}.get(value, value.removeprefix("other:"))


def _own_python(os_value: str) -> str | None:
    own = DEBIAN_SUITES.get(os_value) or ARCHIVED_SUITES.get(os_value)
    return own or UBUNTU_PYTHON.get(os_value.removeprefix("ubuntu:"))


def _python(d: Draft, reading: Reading) -> None:
    fact = reading["python"]
    os_value = d.axes["os"].value
    own = _own_python(os_value)
    if fact.value is None:
        said = f"{os_value}'s own python3 ({own})" if own else "the OS's own python3"
        d.axes["python"] = Value("system", f"the report names no Python: {said}")
        return
    version, cite = fact.value, _asked(fact, "the Python")
    is_debian = os_value in DEBIAN_SUITES and os_value not in ARCHIVED_SUITES
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
            f"QUESTION: the report's Python is {version} ({_said(fact)}); on {os_value} this "
            f"cell runs the OS's own python3 ({own or 'its version'}) instead{hint}",
        )


def _minor(version: str) -> int:
    major, _, minor = version.partition(".")
    return int(minor) if major == "3" and minor.isdigit() else 0


def _install(d: Draft, reading: Reading) -> None:
    fact = reading["install"]
    if fact.value is None:
        d.axes["install"] = Value(
            "venv", "QUESTION: the report does not say who installs into what; venv assumed"
        )
        return
    d.axes["install"] = Value(fact.value, _asked(fact, "who installs into what"))


def _prior(d: Draft, reading: Reading) -> None:
    fact = reading["prior"]
    is_tensorflow = canonicalize_name(reading.target.name) in TENSORFLOW
    template = reading.of("template-version") if is_tensorflow else []
    if fact.value is not None:
        how = f"{fact.why}: " if fact.why else ""
        d.axes["prior"] = Value(fact.value, how + _asked(fact, "the version before"))
        return
    d.axes["prior"] = Value("none", "the report shows no installed version: a fresh install")
    asked_for = reading["version"].value == f"=={template[0].value}" if template else False
    if template and not asked_for:
        d.questions.append(
            f"the template's TensorFlow version is {template[0].value} "
            f"({template[0].line.where}): was it installed before (prior), or what the "
            "command tried to install (target.version)?"
        )


def _pip(d: Draft, reading: Reading) -> None:
    fact = reading["pip"]
    if fact.value is None:
        d.axes["pip"] = Value("os", "the report shows no pip version: the OS's own")
    else:
        d.axes["pip"] = Value(fact.value, _asked(fact, "pip's version"))


def _installer(d: Draft, reading: Reading) -> None:
    fact = reading["installer"]
    if fact.value == "uv":
        d.axes["installer"] = Value("uv", _asked(fact, "the installer"))
    elif fact.value == "conda":
        d.questions.append(
            f"the reporter ran conda ({_said(fact)}): repromatrix reproduces pip and uv, not "
            "conda's solver; this cell installs the same requirement with pip"
        )


def _network(d: Draft, reading: Reading) -> None:
    ranked = reading.of("network")
    if not ranked:
        d.axes["network"] = Value(
            "direct", "no proxy, certificate or connection error in the report"
        )
        return
    chosen = ranked[0]
    fact = Fact(chosen.value, chosen.sure, chosen, tuple(c for c in ranked[1:]))
    comment = _said(fact)
    if chosen.value == "tls-intercept":
        comment += " (a proxy whose CA the cell does not trust; or ca: none, a CA only pip lacks)"
    d.axes["network"] = Value(chosen.value, comment)


def _environment(d: Draft, reading: Reading) -> None:
    seen: dict[str, str] = {}
    for clue in sorted(reading.environment, key=lambda c: (c.line.source, c.line.number)):
        name, _, version = clue.value.partition("==")
        if name in seen:
            if seen[name] != version:
                d.notes.append(f"{clue.line.where}: {name} {version} again (kept {seen[name]})")
            continue
        seen[name] = version
        d.environment.append((clue.value, f"{clue.line.where} ({clue.says})"))
    for clue in reading.of("left-out"):
        d.notes.append(f"{clue.line.where}: left out of the environment: {clue.value}")
    if d.environment:
        d.axes["conflicts"] = Value(ENVIRONMENT, "the reporter's other packages (environments:)")


def _expect(d: Draft, reading: Reading) -> None:
    fact = reading["expect"]
    if fact.value is None:
        d.notes.append("no installer output repromatrix recognises: no expect: written")
        return
    if not fact.sure:
        d.questions.append(
            f"the title says {fact.value} ({_said(fact)}), no pasted output does: no expect: "
            "written; add it if the reporter saw it"
        )
        return
    d.expect = Value(fact.value, f"what the reporter saw: {_said(fact)}")
    no_match = Outcome.NO_MATCHING_DISTRIBUTION.value
    unsupported = Outcome.UNSUPPORTED_PLATFORM.value
    if fact.value in (no_match, unsupported):
        # the same words of pip's, which the classifier names unsupported-platform where no
        # release has a wheel for the platform at all: either is what the reporter saw
        d.expect = Value(
            f"[{fact.value}, {unsupported if fact.value == no_match else no_match}]",
            d.expect.comment + " (no-matching-distribution and unsupported-platform are pip's "
            "same words: unsupported-platform where no release has a wheel for the platform)",
        )


def _platform(d: Draft, reading: Reading) -> None:
    """The report's OS and machine as the arch and platform axes have them: another Linux
    architecture runs under emulation; Windows and macOS cannot run here, so the cell is their
    resolution (pip's dry run for that platform), which installs nothing."""
    platform, arch, os_fact = reading["platform"], reading["arch"], reading["os"]
    if os_fact.value in ("windows", "macos"):
        _resolved_for(d, reading, platform)
        return
    if arch.value in (None, "amd64", "x86"):
        return
    _put(
        d,
        "arch",
        Value(
            arch.value,
            f"{_asked(arch, 'the machine')}: Linux on {arch.value}, run under qemu-user "
            "emulation where this machine is another architecture",
        ),
    )


def _resolved_for(d: Draft, reading: Reading, platform: Fact) -> None:
    os_fact = reading["os"]
    what = _os_name(str(os_fact.value))
    if platform.value is None:  # MSYS2's mingw: no platform of ours, said; the nearest resolved
        name = "windows-amd64"
        said = (
            f"QUESTION: {platform.why} ({_said(platform)}); {name} is what a python.org Python "
            "on the same machine would take, not what the reporter's pip does"
        )
    else:
        name = platform.value
        why = f"QUESTION: {platform.why}; " if not platform.sure and platform.why else ""
        said = f"{why}{_said(platform) or _said(os_fact)}"
    _put(
        d,
        "platform",
        Value(
            name,
            f"{said}: {name} cannot run in a container here; the cell is pip's resolution for "
            "it (a dry run with its wheel tags and markers), which installs nothing.",
        ),
    )
    d.axes["os"] = Value(
        PLACEHOLDER_OS,
        f"the container the resolution runs in (its pip resolves for {name}); the report's OS is "
        f"{what} ({os_fact.clue.line.where if os_fact.clue else 'assumed'})",
    )
    python = reading["python"]
    if python.value is not None:
        d.axes["python"] = Value(
            python.value, _asked(python, "the Python") + ": the Python resolved for"
        )
    else:
        d.axes["python"] = Value(
            RESOLVER_PYTHON,
            f"QUESTION: the report names no Python; {RESOLVER_PYTHON} is a placeholder for the "
            "one resolved for",
        )
    _resolution_limits(d, name)


def _resolution_limits(d: Draft, name: str) -> None:
    """What a resolution cannot be: an old pip's, an installed environment, an install's
    outcome."""
    pip = d.axes.get("pip")
    too_old = pip is not None and pip.value != "os" and _older(pip.value, "22.2")
    if pip is not None and too_old:
        where = re.search(r"\S+:\d+", pip.comment)
        d.notes.append(
            f"pip {pip.value} ({where.group(0) if where else 'the report'}) has no dry run for "
            "another platform "
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
            where = re.search(r"\S+:\d+", had.comment)
            d.notes.append(
                f"{axis} {had.value} ({where.group(0) if where else had.comment[:60]}): a "
                f"resolution installs nothing, so {axis} is {default}"
            )
            d.axes[axis] = Value(default, f"a resolution for {name}: nothing is installed")
    expected = d.expect.value.strip("[]").split(", ") if d.expect is not None else []
    if d.expect is not None and all(Outcome(o) in INSTALL_ONLY for o in expected):
        where = re.search(r"\S+:\d+", d.expect.comment)
        d.notes.append(
            f"expect {d.expect.value} ({where.group(0) if where else 'the report'}): only an "
            "install ends so; a resolution cannot show it: no expect: written"
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


def _from_versions(d: Draft, reading: Reading) -> None:
    """What pip's 'from versions:' list says by itself (the index, asked, says more)."""
    done: set[str] = set()
    for clue in reading.of("from-versions"):
        if clue.value in done:
            continue
        done.add(clue.value)
        name, _, listed = clue.value.partition(": ")
        if listed == "none":
            d.notes.append(
                f"{clue.line.where}: pip listed no version of {name} at all: it found no {name} "
                "file it could take on the reporter's platform and Python then, not one release "
                "(or that pip was too old to read the tags of those there were)"
            )
            continue
        known = sorted(listed_versions(listed))
        if known:
            d.notes.append(
                f"{clue.line.where}: pip could take {len(known)} version(s) of {name} on the "
                f"reporter's platform and Python, {known[0]} to {known[-1]}, and no other"
            )


def index_said(d: Draft, answer: Answer) -> None:
    """What the index answered: that the target is a project there (or that it was not asked,
    and why), and where pip's 'from versions:' lists fit."""
    if not answer.checked:
        d.notes.append(f"not checked against the index: {answer.why_not}")
        return
    d.package = Value(
        d.package.value,
        d.package.comment + "; a project on the index (asked of the index the host's pip uses)",
    )
    done: set[str] = set()
    for clue in d.reading.of("from-versions"):
        if clue.value in done:
            continue
        done.add(clue.value)
        name, _, listed_text = clue.value.partition(": ")
        releases = answer.pages.get(canonicalize_name(name))
        if releases is not None:
            _fit_said(d, clue, name, releases, listed_versions(listed_text))


def _fit_said(d: Draft, clue: Clue, name: str, releases: Releases, listed: set[Version]) -> None:
    where = f"pip's list of {name} ({clue.line.where})"
    asked = _asked_version(d, name)
    seen = window(releases, listed, d.as_of, asked)
    if seen is None:
        d.notes.append(
            f"{where} is empty: which platform and Python that was depends on the day (--as-of "
            "the report's day reads the index as it was then)"
        )
        return
    found = fits(seen, listed)
    if d.as_of:
        when = f"as of {d.as_of}"
    else:
        also = f", and with {asked}, which the command asked for" if asked else ""
        when = f"up to {max(listed)}, the newest it listed{also}"
    if not found:
        d.notes.append(
            f"{where}: no platform and Python is offered exactly that by the index ({when}): "
            "an older pip reads fewer wheel tags, or the index's files changed since"
        )
        return
    places = "; ".join(f"{f.where.said}: {pythons_said(f.pythons)}" for f in found)
    d.notes.append(f"{where} is exactly what the index offers ({when}) on {places}")
    _against_the_report(d, where, found, seen, listed)


def _asked_version(d: Draft, name: str) -> Version | None:
    """The version the command pinned ('==2.5.1'), for the project it names."""
    if canonicalize_name(d.reading.target.name) != canonicalize_name(name):
        return None
    spec = d.version.value
    pinned = spec.startswith("==") and "*" not in spec and "," not in spec
    return listed_versions(spec[2:]).pop() if pinned and listed_versions(spec[2:]) else None


def _against_the_report(
    d: Draft, where: str, found: list[Fit], seen: Releases, listed: set[Version]
) -> None:
    """The report's own platform and Python beside the list: consistent, or the list says
    otherwise (and an assumed platform follows the list)."""
    python, platform = d.reading["python"], d.reading["platform"]
    place = _place_of(d.reading)
    if python.value is None or place is None:
        return
    ours = [f for f in found if f.where.name == place.name and python.value in f.pythons]
    if ours:
        d.notes.append(f"{where} fits the report's {place.said}, Python {python.value}")
        return
    would = sorted(offered(seen, place, python.value))
    shown = ", ".join(map(str, would[-4:])) if would else "none"
    others = [f.where for f in found if python.value in f.pythons]
    said = ", ".join(w.said for w in others) or "no platform with that Python"
    d.notes.append(
        f"{where} is not what {place.said} with Python {python.value} is offered (that would "
        f"list {len(would)} versions, the newest {shown}): with Python {python.value} it fits "
        f"{said}"
    )
    same_system = [w for w in others if w.name.split("-")[0] == place.name.split("-")[0]]
    if not platform.sure and same_system and "platform" in d.axes:
        said = " or ".join(w.said for w in same_system)
        which = "it" if len(same_system) == 1 else "each, a cell of its own: which was it?"
        _put(
            d,
            "platform",
            Value(
                same_system[0].name,
                f"QUESTION: {where} fits only {said} with the report's Python {python.value} "
                f"(not {platform.value}, which was assumed); these cannot run in a container "
                f"here: the cell is pip's resolution for {which}",
                tuple(w.name for w in same_system[1:]),
            ),
        )


def _place_of(reading: Reading) -> Where | None:
    """The report's platform as the index check names it."""
    platform, arch = reading["platform"].value, reading["arch"].value
    if platform is None:
        return None
    name = platform
    if platform == "linux":
        name = {"arm64": "linux-arm64", "armhf": "linux-armhf"}.get(arch or "", "linux")
    return next((w for w in PLACES if w.name == name), None)


def _out_of_reach(d: Draft, reading: Reading) -> None:
    conda = reading["conda"]
    if conda.value is not None:
        d.questions.append(
            f"a conda environment ({_said(conda)}): repromatrix does not build conda "
            f"environments; this cell {'resolves' if 'platform' in d.axes else 'installs'} with "
            "pip instead, without conda's own packages"
        )
    gpu = reading.of("gpu")
    if gpu:
        tf = canonicalize_name(reading.target.name) in TENSORFLOW
        also = "; the resolution of tensorflow[and-cuda] (its nvidia wheels) can be" if tf else ""
        d.notes.append(
            f"{gpu[0].line.where}: a GPU or CUDA is named ({gpu[0].value[:60]}): containers "
            f"here use no GPU{also}"
        )


def said_block(d: Draft) -> list[str]:
    """What the report says, field by field, as the header of the matrix: the reporter's
    facts (the cell below may differ: a resolution for Windows runs in a Linux container)."""
    out = ["# What the report says (a QUESTION: read from prose or a title, or assumed):"]
    for name in FIELDS:
        fact = d.reading[name]
        label = LABELS[name]
        if fact.value is None:
            said = f"none of repromatrix's: {fact.why}" if fact.why else "not said"
            out += _comment(f"{label}: {said}", "", mark="#   ")
            continue
        where = fact.clue.line.where if fact.clue is not None else "assumed"
        question = "" if fact.sure else " (QUESTION)"
        out.append(
            f"#   {label}: {_os_name(fact.value) if name == 'os' else fact.value}"
            f"{question} [{where}]"
        )
    return out


def render(d: Draft) -> str:
    """The matrix as YAML text, every value under the comment that says where it came from."""
    out = [
        f"# Written by `repromatrix init --from {' '.join(d.sources)}`: the reporter's cell.",
        "# Each value says where in the report it came from (FILE:LINE); QUESTION marks what the",
        "# report does not say or what a Linux container cannot reproduce: answer those first.",
        "# Check it with `repromatrix list --matrix THIS_FILE`; run it with `repromatrix run`.",
        *said_block(d),
        *_target_lines(d),
    ]
    out.append("axes:")
    for axis, value in d.axes.items():
        values = ", ".join(_scalar(v) for v in (value.value, *value.more))
        out += [*_comment(value.comment, "  "), f"  {axis}: [{values}]"]
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


def _comment(text: str, indent: str, mark: str = "# ") -> list[str]:
    """A comment, wrapped under 100 columns."""
    width = 98 - len(indent) - len(mark)
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return [f"{indent}{mark}{x}" for x in lines]


def questions_in(d: Draft) -> int:
    return len(d.questions) + sum("QUESTION" in v.comment for v in (d.package, *d.axes.values()))


def cells_of(d: Draft) -> list[dict[str, str]]:
    """The draft's cells: one, or one per value where the report fits several."""
    cells: list[dict[str, str]] = [{}]
    for axis, value in d.axes.items():
        cells = [{**cell, axis: v} for cell in cells for v in (value.value, *value.more)]
    return cells


def render_many(drafts: Sequence[Draft]) -> tuple[str, int]:
    """Several reports' cells in one matrix: the first report's as its axes, every other cell
    an include entry with all its axes (so it is a cell of its own, not an extension), each
    report's environment named after it, each report's expectation on its own cells. A cell two
    reports describe alike is written once."""
    _same_target(drafts)
    names = list(dict.fromkeys(axis for d in drafts for axis in d.axes))
    written: list[tuple[dict[str, str], list[Draft]]] = []
    for number, d in enumerate(drafts, 1):
        environment = f"{ENVIRONMENT}-{number}"
        for cell in cells_of(d):
            full = {axis: cell.get(axis, AXES[axis].default) for axis in names}
            if full.get("conflicts") == ENVIRONMENT:
                full["conflicts"] = environment
            key = _cell_key(full, d)
            same = next((w for w in written if _cell_key(w[0], w[1][0]) == key), None)
            if same is not None:
                same[1].append(d)
            else:
                written.append((full, [d]))
    out = _header([s for d in drafts for s in d.sources], len(drafts), len(written))
    for d in drafts:
        out += [f"# {', '.join(d.sources)}:", *said_block(d)[1:]]
    first = drafts[0]
    out += _target_lines(first)
    out.append("axes:")
    for axis in names:
        value = first.axes.get(axis)
        shown = written[0][0][axis]
        comment = value.comment if value is not None else f"{axis}'s default"
        named = comment.startswith(first.sources[0] + ":")
        said = comment if named else f"{first.sources[0]}: {comment}"
        out += [*_comment(said, "  "), f"  {axis}: [{_scalar(shown)}]"]
    if len(written) > 1:
        out.append("include:")
        for cell, described in written[1:]:
            by = ", ".join(s for d in described for s in d.sources)
            out += _comment(
                f"the cell of {by} (each value's line: see the report's block above)", "  "
            )
            out.append("  - {" + ", ".join(f"{k}: {_scalar(v)}" for k, v in cell.items()) + "}")
    out += _environments_of(drafts)
    out += _expectations_of(written)
    notes = [f"{d.sources[0]}: {n}" for d in drafts for n in (*d.questions, *d.notes)]
    if notes:
        out.append("")
        for d in drafts:
            for question in d.questions:
                out += _comment(f"QUESTION: {d.sources[0]}: {question}", "")
            for note in d.notes:
                out += _comment(f"{d.sources[0]}: {note}", "")
    for _, described in written:
        if len(described) > 1:
            said = ", ".join(s for d in described for s in d.sources)
            out += _comment(f"{said} describe the same cell: written once", "")
    return "\n".join(out) + "\n", len(written)


def _same_target(drafts: Sequence[Draft]) -> None:
    """One matrix has one target: reports that install different ones are refused."""
    targets = {(d.package.value, d.version.value) for d in drafts}
    if len(targets) > 1:
        each = "; ".join(
            f"{', '.join(d.sources)}: {d.package.value}"
            + ("" if d.version.value == "newest" else f" {d.version.value}")
            for d in drafts
        )
        raise UsageError(
            f"the reports install different targets ({each}); a matrix has one target\n"
            "  hint: run init once per target (--out names each matrix)"
        )


def _cell_key(cell: dict[str, str], d: Draft) -> tuple[object, ...]:
    """What makes two cells the same: their axis values and, for the reporter's environment,
    its pins (not its name)."""
    pins = (
        tuple(sorted(pin for pin, _ in d.environment))
        if cell.get("conflicts", "").startswith(ENVIRONMENT)
        else ()
    )
    values = tuple((k, v) for k, v in cell.items() if k != "conflicts" or not pins)
    return values + (pins,)


def _header(sources: list[str], reports: int, cells: int) -> list[str]:
    return [
        f"# Written by `repromatrix init --from {' '.join(sources)}`: {reports} reports, "
        f"{cells} cell{'s' if cells != 1 else ''} (a cell two reports share is written once).",
        "# Each value says where in the report it came from (FILE:LINE); QUESTION marks what a",
        "# report does not say or what a Linux container cannot reproduce: answer those first.",
        "# Check it with `repromatrix list --matrix THIS_FILE`; run it with `repromatrix run`.",
    ]


def _target_lines(d: Draft) -> list[str]:
    out = [
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
    return out


def _environments_of(drafts: Sequence[Draft]) -> list[str]:
    out: list[str] = []
    for number, d in enumerate(drafts, 1):
        if not d.environment:
            continue
        out += [f"  {ENVIRONMENT}-{number}:"]
        out.append(f"    doc: {_scalar('the environment in ' + ', '.join(d.sources))}")
        out.append("    requirements:")
        for pin, where in d.environment:
            out += [f"      # {where}", f"      - {_scalar(pin)}"]
    return ["environments:", *out] if out else []


def _expectations_of(written: list[tuple[dict[str, str], list[Draft]]]) -> list[str]:
    """Each cell's expectation, on that cell alone (every axis named): what its reporters saw."""
    out: list[str] = []
    for cell, described in written:
        outcomes = list(
            dict.fromkeys(
                o for d in described if d.expect for o in d.expect.value.strip("[]").split(", ")
            )
        )
        if not outcomes:
            continue
        by = ", ".join(s for d in described if d.expect for s in d.sources)
        values = ", ".join(f"{k}: {_scalar(v)}" for k, v in cell.items())
        out += _comment(f"what the reporter of {by} saw", "  ")
        out.append(f"  - {{{values}, outcome: [{', '.join(outcomes)}]}}")
    return ["expect:", *out] if out else []


__all__ = [
    "Draft",
    "Value",
    "cells_of",
    "draft",
    "index_said",
    "questions_in",
    "render",
    "render_many",
]
