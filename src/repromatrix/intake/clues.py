"""What each line of a report says about the reporter's world: a clue names one value (an OS,
a Python, an install mode, a version, an environment's line, what the installer said) and the
line that says it, with how strongly. Each recogniser is a function of the lines; RECOGNISERS
lists them, and a new kind of pasted text is one more function there."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from ..core.interpreter import DEBIAN_SUITES
from ..core.outcomes import Outcome
from ..installers import installer
from .report import Line, fields

Key = Literal[
    "os",  # a Debian suite, 'ubuntu:22.04', 'windows', 'macos' or 'other:NAME'
    "python",  # 'X.Y'
    "install",  # an install mode, or 'user-site' (pip used the user's site-packages)
    "conda",  # the report's Python is conda's
    "arch",  # a machine that is not x86_64
    "target",  # the requirement the failing command installs
    "upgrade",  # the command asked for an upgrade, or the reporter says they upgraded
    "also-installs",  # another requirement of the same command
    "prior",  # the target's version before the upgrade
    "template-version",  # the TensorFlow template's version field (before or after? it depends)
    "pip",  # pip's version
    "environment",  # one 'name==version' of what else was installed
    "left-out",  # a line of the environment no cell can install, and why
    "network",  # a network axis value
    "expect",  # an outcome: what the reporter saw
    "gpu",  # a GPU or CUDA the report names
]
# How much a clue is worth: a tool's own output > a template's answer > prose or a path.
OUTPUT, FIELD, PROSE = 3, 2, 1


@dataclass(frozen=True)
class Clue:
    key: Key
    value: str
    line: Line
    strength: int
    says: str  # what kind of line it is: 'pip -V', '/etc/os-release', 'the template's OS field'


Recogniser = Callable[[Sequence[Line]], Iterator[Clue]]

DEBIAN_NUMBERS = {
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
}
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
SUITE_WORD = re.compile(rf"\b({'|'.join([*DEBIAN_SUITES, 'stretch'])})\b", re.IGNORECASE)
DEBIAN = re.compile(r"\bdebian(?:\s*gnu/linux)?\s*(?:v(?:ersion)?\s*)?(\d{1,2})\b", re.IGNORECASE)
UBUNTU = re.compile(r"\bubuntu(?:\s+linux)?\s*(\d\d\.\d\d)", re.IGNORECASE)
WINDOWS = re.compile(
    r"\b(?:windows|win(?:10|11|32|_amd64))\b|(?:^|[\s'\"(])[A-Za-z]:\\\\?[A-Za-z]", re.IGNORECASE
)
APPLE_SILICON = re.compile(r"\b(?:M[1-4](?: (?:Pro|Max|Ultra))?|arm64|Apple silicon)\b", re.I)
MACOS = re.compile(
    r"\b(?:mac\s?os(?:\s?x)?|os\s?x|darwin|macbook|apple\s+(?:m\d|silicon))\b|macosx_\d+",
    re.IGNORECASE,
)
OTHER_LINUX = re.compile(
    r"\b(centos|fedora|rhel|red hat|rocky linux|almalinux|amazon linux|arch linux|manjaro|"
    r"alpine|opensuse|linux mint|raspbian|raspberry pi os|google colab|colab)\b"
    r"(?:\s*(\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
ARCH = re.compile(r"\b(aarch64|arm64|armv7l|ppc64le|s390x)\b")
CONDA = re.compile(
    r"\b(?:ana|mini)conda\d?\b|\bminiforge\d?\b|\bmambaforge\b|\bconda (?:install|activate|create)"
    r"|[/\\]envs[/\\][\w.-]+[/\\]lib|^\(base\)\s|# packages in environment at",
    re.IGNORECASE,
)


def _os_release(lines: Sequence[Line]) -> Iterator[Clue]:
    """/etc/os-release (ID=, VERSION_ID=, VERSION_CODENAME=) and `lsb_release -a`."""
    for source in dict.fromkeys(line.source for line in lines):
        values: dict[str, tuple[str, Line]] = {}
        for line in (x for x in lines if x.source == source):
            m = re.match(
                r"^(ID|VERSION_ID|VERSION_CODENAME|Distributor ID|Release|Codename)\s*[=:]\s*"
                r"\"?([^\"]+?)\"?\s*$",
                line.text.strip(),
            )
            if m and m.group(1) not in values:
                values[m.group(1)] = (m.group(2).strip(), line)
        yield from _distribution(values, "/etc/os-release", "ID", "VERSION_ID", "VERSION_CODENAME")
        yield from _distribution(values, "lsb_release", "Distributor ID", "Release", "Codename")


def _distribution(
    values: dict[str, tuple[str, Line]], says: str, id_key: str, version_key: str, name_key: str
) -> Iterator[Clue]:
    if id_key not in values:
        return
    distro, at = values[id_key][0].lower(), values[id_key][1]
    version = values.get(version_key, ("", at))
    codename = values.get(name_key, ("", at))
    if distro == "debian":
        suite = DEBIAN_NUMBERS.get(version[0].split(".")[0]) or codename[0].lower() or None
        if suite:
            yield Clue("os", suite, codename[1] if codename[0] else version[1], OUTPUT, says)
    elif distro == "ubuntu":
        release = version[0][:5] or UBUNTU_CODENAMES.get(codename[0].lower(), "")
        if release:
            yield Clue("os", f"ubuntu:{release}", version[1], OUTPUT, says)
    else:
        yield Clue(
            "os", f"other:{values[id_key][0]} {version[0]}".strip(), version[1], OUTPUT, says
        )


def _os_named(lines: Sequence[Line]) -> Iterator[Clue]:
    """An OS named in a template's OS field (strong) or anywhere else (weak)."""
    in_field = {
        f.line.number: f for f in fields(lines, re.compile(r"os( platform.*)?|operating system"))
    }
    for line in lines:
        field = in_field.get(line.number)
        strength, says = (FIELD, "the template's OS field") if field else (PROSE, "the report")
        text = field.value if field else line.plain
        if value := _os_in(text):
            yield Clue("os", value, line, strength, says)


def _os_in(text: str) -> str | None:
    if m := DEBIAN.search(text):
        return DEBIAN_NUMBERS.get(m.group(1))
    if m := UBUNTU.search(text):
        return f"ubuntu:{m.group(1)}"
    if re.search(r"\bubuntu\b", text, re.IGNORECASE):
        return "other:Ubuntu, release not named"
    if re.search(r"\bdebian\b", text, re.IGNORECASE) and (m := SUITE_WORD.search(text)):
        return m.group(1).lower()
    if WINDOWS.search(text):
        return "windows"
    if MACOS.search(text):
        return "macos"
    if m := OTHER_LINUX.search(text):
        return f"other:{m.group(0).strip()}"
    return None


def _platform(lines: Sequence[Line]) -> Iterator[Clue]:
    """conda, and a machine that is not x86_64: what Linux containers here do not have."""
    for line in lines:
        if CONDA.search(line.text):
            yield Clue("conda", "conda", line, PROSE, "a conda path or command")
        if m := ARCH.search(line.text):
            yield Clue("arch", m.group(1), line, PROSE, "the report")
        elif MACOS.search(line.text) and APPLE_SILICON.search(line.text):
            yield Clue("arch", "arm64", line, PROSE, "an Apple silicon Mac")


PYTHON_OUTPUT = (
    (re.compile(r"^Python (3\.\d{1,2})\.\d+"), "python -V"),
    (re.compile(r"\bsys\.version:\s*(3\.\d{1,2})\.\d+"), "pip debug"),
    (re.compile(r"\bpip \d+(?:\.\d+)+ from \S.*\(python (3\.\d{1,2})\)"), "pip -V"),
)
PYTHON_HINTS = (
    (re.compile(r"\bpython(3\.\d{1,2})[/\\](?:site|dist)-packages"), "a site-packages path"),
    (re.compile(r"-cp3(\d{1,2})-(?:cp3\d{1,2}m?|abi3|none)-"), "a wheel's tag"),
    (re.compile(r"/usr/share/doc/python(3\.\d{1,2})/"), "pip's PEP 668 message"),
    (re.compile(r"\bpython\s*(3\.\d{1,2})(?:\.\d+)?\b", re.IGNORECASE), "the report"),
)


def _python(lines: Sequence[Line]) -> Iterator[Clue]:
    for field in fields(lines, re.compile(r"python version")):
        if m := re.search(r"\b(3\.\d{1,2}|2\.7)\b", field.value):
            yield Clue("python", m.group(1), field.line, FIELD, "the template's Python field")
    for line in lines:
        for pattern, says in PYTHON_OUTPUT:
            if m := pattern.search(line.plain):
                yield Clue("python", m.group(1), line, OUTPUT, says)
        for pattern, says in PYTHON_HINTS:
            if m := pattern.search(line.text):
                version = m.group(1) if "." in m.group(1) else f"3.{m.group(1)}"
                yield Clue("python", version, line, PROSE, says)


PIP_COMMAND = re.compile(
    r"(?:^|[\s$>%#!])(?:sudo\s+(?:-H\s+)?)?(?P<runner>(?:python(?:3(?:\.\d+)?)?\s+-m\s+)?"
    r"(?:uv\s+)?pip3?(?:\.\d+)?)\s+install\s+(?P<args>.*)$"
)
OPTIONS_WITH_VALUE = frozenset(
    "-r --requirement -c --constraint -i --index-url --extra-index-url -f --find-links -t "
    "--target --prefix --root --platform --python-version --implementation --abi --proxy "
    "--cert --client-cert --trusted-host --log --src --upgrade-strategy --python -p".split()
)
TENSORFLOW = frozenset(
    {
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "tensorflow-macos",
        "tensorflow-intel",
        "tensorflow-aarch64",
        "tf-nightly",
        "intel-tensorflow",
    }
)
NOT_TARGETS = frozenset({"pip", "setuptools", "wheel", "uv", "virtualenv"})


@dataclass(frozen=True)
class Command:
    requirements: tuple[str, ...]
    flags: frozenset[str]


def parse_command(text: str) -> Command | None:
    """A `pip install` / `python3 -m pip install` / `uv pip install` command in a line."""
    m = PIP_COMMAND.search(text)
    if not m:
        return None
    try:
        words = shlex.split(m.group("args"), comments=True)
    except ValueError:  # an unclosed quote: the words as typed
        words = m.group("args").split()
    requirements, flags, skip = [], set(), False
    for word in words:
        if skip:
            skip = False
        elif word.startswith("-"):
            flag = word.split("=", 1)[0]
            flags.add(flag)
            skip = flag in OPTIONS_WITH_VALUE and "=" not in word
        elif word in ("|", "&&", ";", ">", "2>&1"):
            break
        else:
            requirements.append(word)
    return Command(tuple(requirements), frozenset(flags))


def requirement_of(word: str) -> Requirement | None:
    """A requirement as typed, or the one a wheel's URL or file name stands for."""
    if word.endswith(".whl"):
        try:
            name, version, _, _ = parse_wheel_filename(word.rsplit("/", 1)[-1])
        except InvalidWheelFilename:
            return None
        return Requirement(f"{name}=={version}")
    try:
        req = Requirement(word)
    except InvalidRequirement:
        return None
    return None if req.url else req


def _commands(lines: Sequence[Line]) -> Iterator[Clue]:
    """The installing command: its target, --upgrade, --user, sudo, a proxy option."""
    for line in lines:
        command = parse_command(line.plain)
        if command is None:
            continue
        reqs = [r for w in command.requirements if (r := requirement_of(w))]
        wanted = [r for r in reqs if canonicalize_name(r.name) not in NOT_TARGETS]
        tensorflow = [r for r in wanted if canonicalize_name(r.name) in TENSORFLOW]
        if tensorflow or wanted:
            req = (tensorflow or wanted)[0]
            req.marker = None
            strength = OUTPUT if tensorflow else FIELD
            yield Clue("target", str(req), line, strength, "the install command")
            for other in (r for r in wanted if r is not req):
                yield Clue("also-installs", str(other), line, strength, "the install command")
            if command.flags & {"-U", "--upgrade"}:
                yield Clue("upgrade", "yes", line, OUTPUT, "the install command")
        if "--user" in command.flags:
            yield Clue("install", "user-flag", line, OUTPUT, "pip install --user")
        if re.search(r"(?:^|[\s$#])sudo\s", line.plain):
            yield Clue("install", "system", line, FIELD, "sudo pip")
        if "--proxy" in command.flags:
            yield Clue("network", "proxy", line, PROSE, "pip install --proxy")


ALREADY = re.compile(
    r"Requirement already (?:satisfied|up-to-date): (?P<req>\S+) in (?P<path>\S.*?)"
    r"(?: \(from [^)]*\))? \((?P<version>[^()\s]+)\)\s*$"
)
FOUND = re.compile(r"Found existing installation: (?P<name>\S+) (?P<version>\S+)")
# pip's check after an install: the requirer is installed at that version (what it has is the
# state after the install, not before).
REQUIRES = re.compile(
    r"^(?P<name>[A-Za-z0-9][\w.-]*) (?P<version>\d\S*) requires \S.*, but you have "
)
INSTALLED_CANDIDATE = re.compile(
    r"\b(?P<name>[A-Za-z0-9][\w.-]*) (?P<version>\d[^\s,]*) \(Installed\)"
)
IN_VENV = re.compile(
    r"(?i)\b(?:in|within|inside|using|have) (?:a |my |the )?(?:[\w-]+ ){0,2}"
    r"(?:venv|virtualenv|virtual env(?:ironment)?)\b"
)
TEMPLATE_QUESTION = re.compile(r"(?i)installed using virtualenv\?")  # the question, not an answer
PIP_SAYS_VERSION = (
    (re.compile(r"\bpip (\d+(?:\.\d+)+) from (\S+)"), "pip -V"),
    (re.compile(r"You are using pip version (\d+(?:\.\d+)+)"), "pip's version warning"),
)


def _installed(lines: Sequence[Line]) -> Iterator[Clue]:
    """What pip said was installed: its own version and where, the target's prior version."""
    for line in lines:
        if m := ALREADY.search(line.plain):
            name = _name(m.group("req"))
            yield Clue("prior", f"{name}=={m.group('version')}", line, OUTPUT, "pip's output")
            yield from _place(m.group("path"), line, "where pip found it")
            yield Clue("environment", f"{name}=={m.group('version')}", line, PROSE, "pip's output")
        if m := FOUND.search(line.plain):
            name = canonicalize_name(m.group("name"))
            yield Clue("prior", f"{name}=={m.group('version')}", line, OUTPUT, "pip's output")
        for pattern, says in ((INSTALLED_CANDIDATE, "pip's resolver"), (REQUIRES, "pip's check")):
            if m := pattern.search(line.plain):
                pin = f"{canonicalize_name(m.group('name'))}=={m.group('version')}"
                yield Clue("prior", pin, line, OUTPUT, says)
                yield Clue("environment", pin, line, PROSE, says)
        if re.search(r"(?i)\bupgrad(?:e|ed|ing)\b", line.plain) and not line.fenced:
            yield Clue("upgrade", "yes", line, PROSE, "the reporter says so")
        for pattern, says in PIP_SAYS_VERSION:
            if m := pattern.search(line.plain):
                yield Clue("pip", m.group(1), line, OUTPUT, says)
                if m.lastindex and m.lastindex > 1:
                    yield from _place(m.group(2), line, says)
        if "Defaulting to user installation because normal site-packages is not writeable" in (
            line.plain
        ):
            yield Clue("install", "system-user", line, OUTPUT, "pip fell back to the user site")
        if "Running pip as the 'root' user" in line.plain:
            # pip says so only outside a virtual environment (pip's warn_if_run_as_root)
            yield Clue("install", "system", line, OUTPUT, "pip's root warning")
        if re.search(
            r"^\(\.?venv[\w.-]*\)\s|source \S*/bin/activate|python3? -m venv ", line.plain
        ):
            yield Clue("install", "venv", line, FIELD, "a virtual environment's prompt or command")
        elif IN_VENV.search(line.plain) and not TEMPLATE_QUESTION.search(line.plain):
            yield Clue("install", "venv", line, PROSE, "the reporter says so")


def _name(requirement: str) -> str:
    req = requirement_of(requirement)
    return canonicalize_name(req.name) if req else canonicalize_name(requirement)


def _place(path: str, line: Line, says: str) -> Iterator[Clue]:
    """What a site-packages path says about who installed into what."""
    if re.search(r"[/\\]\.local[/\\]lib[/\\]python", path):
        yield Clue("install", "user-site", line, PROSE, f"{says}: the user's site-packages")
    elif re.match(r"/usr/(?:local/)?lib/python3(?:\.\d+)?/(?:dist|site)-packages", path):
        yield Clue("install", "system", line, PROSE, f"{says}: the system's site-packages")
    elif CONDA.search(path):
        yield Clue("conda", "conda", line, PROSE, f"{says}: a conda environment")
    elif re.search(r"[/\\]lib[/\\]python3\.\d+[/\\]site-packages", path):
        yield Clue("install", "venv", line, PROSE, f"{says}: a virtual environment's")


def _template(lines: Sequence[Line]) -> Iterator[Clue]:
    """The TensorFlow template's version, install, pip, CUDA and GPU fields."""
    version = re.compile(r"\b(\d+\.\d+(?:\.\d+)?(?:\.post\d+|rc\d+)?)\b")
    for field in fields(lines, re.compile(r"tensorflow version")):
        if m := version.search(field.value):
            yield Clue("template-version", m.group(1), field.line, FIELD, "the template's field")
    for field in fields(lines, re.compile(r"installed using.*|pip version")):
        value = field.value.lower()
        if re.search(r"\b(?:virtualenv|venv)\b", value):
            yield Clue("install", "venv", field.line, FIELD, "the template's install field")
        if "conda" in value:
            yield Clue("conda", "conda", field.line, FIELD, "the template's install field")
        if m := re.search(r"(?:pip\S*\s+(?:version\s+)?|^)(\d+\.\d+(?:\.\d+)?)\b", value):
            yield Clue("pip", m.group(1), field.line, FIELD, "the template's pip field")
    for field in fields(lines, re.compile(r"cuda/cudnn version|cuda version|gpu model and memory")):
        is_none = re.fullmatch(
            r"(?i)\W*(?:n/?a|none|no|-|nil|no gpu|i have no \w+)?\W*", field.value
        )
        if not is_none:
            yield Clue("gpu", field.value, field.line, FIELD, f"the template's {field.label} field")


FREEZE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)")
LEGACY_LIST = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \((?P<version>\d[^)\s]*)\)$")
TABLE_ROW = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s{2,}(?P<version>\d\S*)(?:\s.*)?$")
URL_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*@\s*(?P<url>\S+)")
MIN_BLOCK = 3  # pinned lines that make a block a pasted environment, not a command's argument


def _environment(lines: Sequence[Line]) -> Iterator[Clue]:
    """`pip freeze`, `uv pip freeze` and `pip list` (both formats) pasted as a block."""
    blocks: dict[int, list[tuple[Line, str, str]]] = {}
    for line in lines:
        text = line.text.strip()
        m = FREEZE.match(text) or LEGACY_LIST.match(text) or TABLE_ROW.match(text)
        if m and not text.lower().startswith(("package ", "python ", "pip install")):
            pin = (line, canonicalize_name(m.group("name")), m.group("version"))
            blocks.setdefault(line.block, []).append(pin)
        elif um := URL_LINE.match(text):
            why = "a file or URL on the reporter's machine; pip list shows its version"
            yield Clue("left-out", f"{um.group('name')} @ …: {why}", line, OUTPUT, "pip freeze")
    for pins in blocks.values():
        pasted = len(pins) >= MIN_BLOCK
        for line, name, version in pins:
            if name == "pip":
                yield Clue("pip", version, line, FIELD, "the environment's list")
            elif pasted:
                yield Clue("environment", f"{name}=={version}", line, OUTPUT, "pip freeze/list")
            if name in TENSORFLOW or pasted:
                yield Clue("prior", f"{name}=={version}", line, OUTPUT, "pip freeze/list")


# What pip printed, and the network it stands for (the order decides: the first that matches).
NETWORK_SAYS = (
    (r"407 Proxy Authentication Required", "proxy-auth"),
    (r"ProxyError\(|Cannot connect to proxy|Failed to connect to proxy", "proxy-down"),
    (
        r"CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError|self[- ]signed certificate",
        "tls-intercept",
    ),
    (r"ReadTimeoutError|Read timed out", "stalled"),
    (
        r"Temporary failure in name resolution|Name or service not known|getaddrinfo failed",
        "no-route",
    ),
    (r"THESE PACKAGES DO NOT MATCH THE HASHES", "flaky"),
    (r"(?i)\bhttps?_proxy\s*=|--proxy[ =]", "proxy"),
)


def _network(lines: Sequence[Line]) -> Iterator[Clue]:
    for line in lines:
        for pattern, value in NETWORK_SAYS:
            if re.search(pattern, line.text):
                strength = PROSE if value == "proxy" else OUTPUT
                yield Clue("network", value, line, strength, "the installer's output")
                break


SUCCESS_SAYS = (
    (r"pip's dependency resolver does not currently take into account", "upgraded-inconsistent"),
    (r"Requirement already up-to-date: ", "not-upgraded"),
    (r"ModuleNotFoundError: No module named|ImportError: ", "import-error"),
)


def _outcome(lines: Sequence[Line]) -> Iterator[Clue]:
    """What the reporter saw, in the installer's own words: the first of pip's (or uv's)
    classifier rules that a line matches, else a success with a broken environment."""
    uv_installs = any(re.search(r"\buv (?:pip install|add)\b", x.plain) for x in lines)
    # The installer that ran the command first; the other's wording still counts after it.
    order = (installer("uv"), installer()) if uv_installs else (installer(), installer("uv"))
    for by in order:
        for rule in by.rules:
            for line in lines:
                if re.search(rule.decides, line.text):
                    yield Clue("expect", rule.outcome.value, line, OUTPUT, f"{by.name}'s output")
                    return
    for pattern, outcome in SUCCESS_SAYS:
        for line in lines:
            if re.search(pattern, line.text):
                yield Clue("expect", Outcome(outcome).value, line, OUTPUT, "pip's output")
                return


RECOGNISERS: tuple[Recogniser, ...] = (
    _os_release,
    _os_named,
    _platform,
    _python,
    _commands,
    _installed,
    _template,
    _environment,
    _network,
    _outcome,
)


def clues_of(lines: Sequence[Line]) -> list[Clue]:
    return [clue for recognise in RECOGNISERS for clue in recognise(lines)]
