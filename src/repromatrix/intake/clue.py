"""A clue: one value a line of a report names (an OS, a Python, an install mode, a version, an
environment's line, what the installer said), the line that names it, and how strongly. The
recognisers (pasted.py: what tools print; said.py: what the installer printed and the command
typed; template.py: the issue templates' fields and the reporter's prose) each yield clues; what
the report says is read from them (reading.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from .report import Line

Key = Literal[
    "os",  # a Debian suite, 'ubuntu:22.04', 'ubuntu', 'windows', 'macos' or 'other:NAME'
    "python",  # 'X.Y'
    "install",  # an install mode, or 'user-site' (pip used the user's site-packages)
    "conda",  # the report's Python is conda's
    "arch",  # a machine, as `uname -m` names it (x86_64, aarch64, armv7l), or 'x86' (32-bit)
    "platform-tag",  # a wheel platform the reporter's pip takes ('mingw_x86_64', 'win32')
    "system",  # linux, macos or windows, where no OS is named: a path, a wheel pip took
    "target",  # the requirement the failing command installs
    "installer",  # pip, uv or conda: what ran the command
    "upgrade",  # the command asked for an upgrade, or the reporter says they upgraded
    "also-installs",  # another requirement of the same command
    "failed-for",  # the requirement the installer's failure names
    "from-file",  # the command installs a requirements file (-r)
    "prior",  # 'name==version' of what was installed before the command
    "wanted",  # a version the reporter says they want ('upgrade from 1.12 to 2.2')
    "template-version",  # the TensorFlow template's version field (before or after? it depends)
    "pip",  # pip's version
    "environment",  # one 'name==version' of what else was installed
    "left-out",  # a line of the environment no cell can install, and why
    "network",  # a network axis value
    "expect",  # an outcome: what the reporter saw
    "from-versions",  # 'name: 1.12.0, 1.13.1' or 'name: none': pip's list of what it could take
    "gpu",  # a GPU or CUDA the report names
]
# How much a clue is worth: a tool's own output > a template's answer > prose, a title or a path
# in a sentence. A value read only from prose is a question, not an answer.
OUTPUT, FIELD, PROSE = 3, 2, 1
# The installer's own list of the wheel tags it takes: what decides which wheel it installs, over
# what the kernel says (an i386 userland on an x86_64 kernel: uname says x86_64, pip takes i686)
INSTALLER_TAGS = 4


@dataclass(frozen=True)
class Clue:
    key: Key
    value: str
    line: Line
    strength: int
    says: str  # what kind of line it is: 'pip -V', '/etc/os-release', 'the template's OS field'

    @property
    def sure(self) -> bool:
        return self.strength > PROSE


Recogniser = Callable[[Sequence[Line]], Iterator[Clue]]

DEBIAN_NUMBERS = {
    "8": "jessie",
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
}
DEBIAN_CODENAMES = frozenset(DEBIAN_NUMBERS.values())
UBUNTU_CODENAMES = {
    "xenial": "16.04",
    "bionic": "18.04",
    "focal": "20.04",
    "jammy": "22.04",
    "noble": "24.04",
    "oracular": "24.10",
    "plucky": "25.04",
    "questing": "25.10",
}
SUITE_WORD = re.compile(rf"\b({'|'.join(DEBIAN_CODENAMES)})\b", re.IGNORECASE)
DEBIAN = re.compile(r"\bdebian(?:\s*gnu/linux)?\s*(?:v(?:ersion)?\s*)?(\d{1,2})\b", re.IGNORECASE)
UBUNTU = re.compile(r"\bubuntu(?:[\s-]+linux)?[\s-]*(\d\d\.\d\d)", re.IGNORECASE)
# Raspbian (and its misspellings; 'Raspberry 9') is Debian built for armhf, numbered as Debian
RASPBIAN = re.compile(r"\b(?:ras(?:p)?bian|raspberry(?:\s*pi)?(?:\s*os)?)\b", re.IGNORECASE)
RASPBIAN_RELEASE = re.compile(
    RASPBIAN.pattern + r"[\s:]*(?:gnu/linux\s*)?(?:version\s*)?(\d{1,2})\b", re.IGNORECASE
)
WINDOWS = re.compile(
    r"\b(?:windows\s*(?:\d+|xp|vista)?|win(?:7|8|10|11|32|_amd64))\b|(?:^|[\s'\"(])[A-Za-z]:\\\\?[A-Za-z]",
    re.IGNORECASE,
)
MSYS = re.compile(r"\bmsys2?\b|\bmingw(?:64|32|_x86_64)?\b", re.IGNORECASE)
MACOS = re.compile(
    r"\b(?:mac\s?os(?:\s?x)?|os\s?x|darwin|macbook|apple\s+(?:m\d|silicon))\b|macosx_\d+",
    re.IGNORECASE,
)
OTHER_LINUX = re.compile(
    r"\b(centos|fedora|rhel|red hat|rocky linux|almalinux|amazon linux|arch linux|manjaro|"
    r"alpine|opensuse|linux mint|pop!_os|google colab|colab)\b"
    r"(?:\s*(\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)


def oses_in(text: str) -> list[str]:
    """The OSes a piece of text names, most specific first ('Rasbian 9 buster': buster, then
    stretch; both are said)."""
    found: list[str] = []
    if RASPBIAN.search(text):
        found += [m.group(1).lower() for m in SUITE_WORD.finditer(text)]
        numbers = [m.group(1) for m in RASPBIAN_RELEASE.finditer(text)]
        found += [DEBIAN_NUMBERS[n] for n in numbers if n in DEBIAN_NUMBERS]
    if m := DEBIAN.search(text):
        if suite := DEBIAN_NUMBERS.get(m.group(1)):
            found.append(suite)
    if m := UBUNTU.search(text):
        found.append(f"ubuntu:{m.group(1)}")
    elif re.search(r"\bubuntu\b", text, re.IGNORECASE):
        found.append("ubuntu")
    if re.search(r"\bdebian\b", text, re.IGNORECASE) and (m := SUITE_WORD.search(text)):
        found.append(m.group(1).lower())
    if MSYS.search(text) or WINDOWS.search(text):
        found.append("windows")
    if MACOS.search(text):
        found.append("macos")
    if m := OTHER_LINUX.search(text):
        found.append(f"other:{m.group(0).strip()}")
    return list(dict.fromkeys(found))


# What a line says of the machine: `uname -m`'s names, and the boards and instances people name
MACHINE = re.compile(r"\b(aarch64|arm64|armv7l|armv7|ppc64le|s390x|x86_64|amd64|i686)\b", re.I)
MACHINE_NAMES = {"arm64": "aarch64", "armv7": "armv7l", "amd64": "x86_64"}
DEVICES = (
    (re.compile(r"\bjetson\b", re.I), "aarch64", "an NVIDIA Jetson board (aarch64)"),
    (
        re.compile(r"\bgraviton\d?\b|\b[mcrt][678]g[dn]?\.\w+", re.I),
        "aarch64",
        "an AWS Graviton instance (aarch64)",
    ),
    (re.compile(r"\bsnapdragon\b|\bsurface pro x\b", re.I), "aarch64", "a Windows on ARM laptop"),
    (re.compile(r"\b\d+\.\d+\.\d+-v7l?\+"), "armv7l", "a Raspberry Pi's 32-bit kernel (-v7+)"),
    (re.compile(r"\b\d+\.\d+\.\d+-v8\+"), "aarch64", "a Raspberry Pi's 64-bit kernel (-v8+)"),
    (
        re.compile(
            r"\b32[- ]?bit\s+(?:version\s+of\s+)?python\b|\bpython\s*(?:3[\d.]*\s*)?\(?"
            r"(?:x86|32[- ]?bit)\)?(?!\S)|\bwindows\b[^.]{0,30}\b32[- ]?bit\b",
            re.I,
        ),
        "x86",
        "a 32-bit Python",
    ),
)
APPLE_SILICON = re.compile(r"\b(?:M[1-4](?: (?:Pro|Max|Ultra))?|arm64|Apple silicon)\b", re.I)


def machine_of(word: str) -> str:
    """`uname -m`'s name for a machine word ('arm64' → 'aarch64')."""
    word = word.lower()
    return MACHINE_NAMES.get(word, word)
