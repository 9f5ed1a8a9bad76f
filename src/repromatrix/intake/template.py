"""The issue templates' fields (TensorFlow's System information in its variants, pip's
"pip version, Python version, OS", uv's Platform and Version) and the reporter's prose. A
template's field is an answer; a sentence or a title is a hint, said as a question. A filled-in
OS field always yields a clue, recognised or not: no sentence may say that a report names no OS
when a line of it does."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .clue import (
    APPLE_SILICON,
    DEVICES,
    FIELD,
    MACHINE,
    MACOS,
    PROSE,
    RASPBIAN,
    Clue,
    machine_of,
    oses_in,
)
from .pasted import tag_system
from .report import Line, fields
from .said import KNOWN_PROJECTS

OS_FIELD = re.compile(r"os( platform.*)?|operating system|platform|os platform and distribution")
EMPTY_ANSWER = re.compile(r"(?i)\W*(?:n/?a|none|no|-|nil|unknown|\?)?\W*")


def os_named(lines: Sequence[Line]) -> Iterator[Clue]:
    """An OS named in a template's OS field (strong: always a clue, recognised or not) or
    anywhere else (weak)."""
    in_field = {(f.line.source, f.line.number): f for f in fields(lines, OS_FIELD)}
    for line in lines:
        field = in_field.get((line.source, line.number))
        if field is not None:
            values = oses_in(field.value)
            if not values and not EMPTY_ANSWER.fullmatch(field.value):
                values = [f"other:{field.value.strip()[:60]}"]
            for value in values:
                yield Clue("os", value, line, FIELD, "the template's OS field")
            yield from _raspbian(field.value, line, FIELD, "the template's OS field")
            continue
        for value in oses_in(line.plain):
            says = "the issue's title" if line.title else "the report"
            yield Clue("os", value, line, PROSE, says)
        yield from _raspbian(line.plain, line, PROSE, "the report")


def _raspbian(text: str, line: Line, strength: int, says: str) -> Iterator[Clue]:
    """Raspbian is armhf; 'Raspberry Pi OS (64-bit)' is arm64."""
    if not RASPBIAN.search(text):
        return
    if re.search(r"64[- ]?bit|\barm64\b|\baarch64\b", text, re.I):
        yield Clue("arch", "aarch64", line, strength, f"{says}: a 64-bit Raspberry Pi OS")
    elif re.search(r"(?i)ras(?:p)?bian|raspberry\s*\d|32[- ]?bit", text):
        yield Clue("arch", "armv7l", line, strength, f"{says}: Raspbian (armhf)")


def machine_named(lines: Sequence[Line]) -> Iterator[Clue]:
    """A machine, board or instance a line names, and an Apple silicon Mac."""
    for line in lines:
        # A wheel's file name says what it was built for, not what the machine is (pip refuses
        # wheels of other machines by name); a wheel pip took is read in said.py.
        text = WHEEL_FILE.sub(" ", line.text)
        if m := MACHINE.search(text):
            strength = FIELD if line.fenced else PROSE
            yield Clue("arch", machine_of(m.group(1)), line, strength, "the report")
        elif MACOS.search(text) and APPLE_SILICON.search(text):
            yield Clue("arch", "aarch64", line, PROSE, "an Apple silicon Mac")
        for pattern, machine, says in DEVICES:
            if pattern.search(line.plain):
                yield Clue("arch", machine, line, PROSE, says)
        if MACOS.search(text) and INTEL_ONLY_MACOS.search(text):
            yield Clue("arch", "x86_64", line, FIELD, "macOS 10.x, which runs only on Intel Macs")


WHEEL_FILE = re.compile(r"\S+\.whl\b\S*")
# macOS releases before Big Sur (11), the first on Apple silicon
INTEL_ONLY_MACOS = re.compile(
    r"(?i)\b(?:catalina|mojave|high sierra|sierra|el capitan|yosemite|mavericks)\b|"
    r"\b(?:mac\s?os(?:\s?x)?|os\s?x)\D{0,20}\b10\.(?:[4-9]|1[0-5])\b"
)
SITE_PACKAGES = re.compile(r"\bpython([23]\.\d{1,2})[/\\](?:site|dist)-packages", re.I)
WHEEL_PYTHON = re.compile(r"-cp([23])(\d{1,2})-(?:cp\d+m?u?|abi3|none)-")


HOME = (
    (re.compile(r"(?:^|[\s'\"(=])/home/[\w.-]+/"), "linux", "a Linux home folder"),
    (re.compile(r"(?:^|[\s'\"(=])/Users/[\w.-]+/"), "macos", "a macOS home folder"),
)


def python_hints(lines: Sequence[Line]) -> Iterator[Clue]:
    """A Python named by a path, a wheel the command installs, pip's PEP 668 message; the
    system a home folder's path says."""
    refused = any("is not a supported wheel" in x.plain for x in lines)
    for line in lines:
        for pattern, system, says in HOME:
            if pattern.search(line.text):
                yield Clue("system", system, line, PROSE, says)
        if "install" in line.plain and not refused and (m := WHEEL_FILE.search(line.plain)):
            # a wheel the command installed, where no line says pip refused one: the machine's
            yield from _installed_wheel(m.group(0), line)
        strength = FIELD if line.fenced else PROSE
        if m := SITE_PACKAGES.search(line.text):
            yield Clue("python", m.group(1), line, strength, "a site-packages path")
        if m := re.search(r"/usr/share/doc/python(3\.\d{1,2})/", line.text):
            yield Clue("python", m.group(1), line, FIELD, "pip's PEP 668 message")
        if "install" in line.plain and (m := WHEEL_PYTHON.search(line.plain)):
            said = "the wheel the command installs"
            yield Clue("python", f"{m.group(1)}.{m.group(2)}", line, PROSE, said)


def _installed_wheel(word: str, line: Line) -> Iterator[Clue]:
    try:
        _, _, _, tags = parse_wheel_filename(word.rsplit("/", 1)[-1])
    except (InvalidWheelFilename, ValueError):
        return
    for platform in sorted({t.platform for t in tags} - {"any"})[:1]:
        for clue in tag_system(platform, line, "the wheel the command installs"):
            yield Clue(clue.key, clue.value, line, PROSE, clue.says)


VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?(?:\.post\d+|rc\d+)?)\b")
PYTHON_FIELD = re.compile(r"python version")
INSTALL_FIELD = re.compile(r"installed using.*|pip version|installed from.*")
GPU_FIELD = re.compile(r"cuda/cudnn version|cuda version|gpu model and memory")


def template(lines: Sequence[Line]) -> Iterator[Clue]:
    """The TensorFlow template's version, install, pip, CUDA and GPU fields; uv's Version."""
    for field in fields(lines, re.compile(r"tensorflow version")):
        if m := VERSION.search(field.value):
            yield Clue("template-version", m.group(1), field.line, FIELD, "the template's field")
    for field in fields(lines, re.compile(r"python version")):
        for found in re.finditer(r"\b(3\.\d{1,2}|2\.7)\b", field.value):
            yield Clue("python", found.group(1), field.line, FIELD, "the template's Python field")
    for field in fields(lines, INSTALL_FIELD):
        value = field.value.lower()
        if re.search(r"\b(?:virtualenv|venv)\b", value) and not re.search(r"\bboth\b", value):
            yield Clue("install", "venv", field.line, FIELD, "the template's install field")
        if "conda" in value:
            yield Clue("conda", "conda", field.line, FIELD, "the template's install field")
        if m := re.search(r"(?:pip\S*\s+(?:version\s+)?|^)(\d+\.\d+(?:\.\d+)?)\b", value):
            yield Clue("pip", m.group(1), field.line, FIELD, "the template's pip field")
    for field in fields(lines, re.compile(r"version")):
        if m := re.fullmatch(r"uv (\d+\.\d+\.\d+)\S*", field.value.strip()):
            yield Clue("installer", "uv", field.line, FIELD, f"uv's Version field (uv {m[1]})")
    for field in fields(lines, GPU_FIELD):
        is_none = re.fullmatch(
            r"(?i)\W*(?:n/?a|none|no|-|nil|no gpu|i have no \w+)?\W*", field.value
        )
        names_a_gpu = re.search(
            r"(?i)\b(?:cuda|cudnn|nvidia|geforce|rtx|gtx|tesla|quadro|radeon|rocm|\d+\s*gb)\b",
            field.value,
        )
        if not is_none and names_a_gpu:
            yield Clue("gpu", field.value, field.line, FIELD, f"the template's {field.label} field")


UPGRADE_FROM_TO = re.compile(
    r"(?i)\bupgrad\w*\b.{0,40}?\bfrom\s+(?:version\s+|v)?(?P<old>\d+\.\d+(?:\.\d+)?)"
    r"\s+to\s+(?:version\s+|v)?(?P<new>\d+\.\d+(?:\.\d+)?)"
)
TITLE_NAME = 0  # a project the title names: below every command (a question)
PIP_IN_PROSE = re.compile(
    r"(?i)\bpip3?(?:'s)?\s+(?:version\s+(?:(?:is|was|now|updated|upgraded|to)\s+){0,3}|"
    r"(?:is|was|=)\s*)?v?(\d{1,2}\.\d+(?:\.\d+)?)\b"
)
# 'I have tensorflow 2.10.1 installed', 'I'm on TF 2.15', 'tensorflow 2.13 is installed'
INSTALLED_IN_PROSE = re.compile(
    r"(?i)\b(?:have|using|use|on|running|got)\s+(?P<name>tensorflow(?:-[a-z]+)?|tf|keras|jax|"
    r"jaxlib|torch)\s*(?:version\s*|v|==)?\s*(?P<v>\d+\.\d+(?:\.\d+)?)\b(?!\S*\.whl)"
    r"|\b(?P<name2>tensorflow|keras|jax|torch)\s+(?P<v2>\d+\.\d+(?:\.\d+)?)\s+(?:is|was)\s+installed"
)
PYTHON_IN_PROSE = re.compile(r"(?i)\bpython\s*(?:=|==|version\s+)?\s*(3\.\d{1,2}|2\.7)(?:\.\d+)?\b")


def prose(lines: Sequence[Line]) -> Iterator[Clue]:
    """What the reporter writes in sentences and the title: hints, each said as a question."""
    for line in lines:
        if line.fenced:
            continue
        said = "the issue's title" if line.title else "the reporter says so"
        if m := UPGRADE_FROM_TO.search(line.plain):
            yield Clue("prior", f"?=={m.group('old')}", line, PROSE, said)
            yield Clue("wanted", m.group("new"), line, PROSE, said)
        for m in INSTALLED_IN_PROSE.finditer(line.plain):
            said_name = (m.group("name") or m.group("name2")).lower()
            name = "tensorflow" if said_name == "tf" else said_name
            version = m.group("v") or m.group("v2")
            yield Clue("prior", f"{name}=={version}", line, PROSE, said)
        if m := PIP_IN_PROSE.search(line.plain):
            yield Clue("pip", m.group(1), line, PROSE, said)
        for m in PYTHON_IN_PROSE.finditer(line.plain):
            yield Clue("python", m.group(1), line, PROSE, said)
        if line.title:
            yield from _title_project(line)


def _title_project(line: Line) -> Iterator[Clue]:
    """A project the title names ('Facing Issue while installing Keras'), when no command says
    which: a question, never the answer."""
    for word in re.findall(r"[A-Za-z][\w.-]*", line.plain):
        name = word.lower().strip(".-")
        if name in KNOWN_PROJECTS:  # weaker than any command, even one in a sentence
            yield Clue("target", name, line, TITLE_NAME, "the issue's title")
            return


RECOGNISERS = (os_named, machine_named, python_hints, template, prose)
