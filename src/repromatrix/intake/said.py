"""The command typed and what the installer printed: `pip install ...`, `uv pip install`, `uv
run` with a script's dependencies, `conda install`; pip's 'Requirement already satisfied: X in
PATH (V)', 'from versions: ...', its warnings and its verdict line; uv's. Pip's own output beats
a template's field and prose wherever it shows what was installed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from ..core.outcomes import Outcome
from ..installers import installer
from .clue import FIELD, OUTPUT, PROSE, Clue
from .pasted import CONDA, TENSORFLOW, tag_system
from .report import Line

PIP_COMMAND = re.compile(
    r"(?:^|[\s$>%#!`\"'])(?:sudo\s+(?:-H\s+)?)?(?P<runner>(?:\S*python(?:3(?:\.\d+)?)?(?:\.exe)?"
    r"\s+-m\s+)?(?P<uv>uv\s+)?pip3?(?:\.\d+)?)\s+install\s+(?P<args>.*)$"
)
CONDA_COMMAND = re.compile(r"\b(?:conda|mamba)\s+install\s+(?P<args>.*)$")
UV_COMMAND = re.compile(r"\buv\s+(?:run|add|sync|lock|pip\s+(?:install|compile|sync))\b")
# pip run for anything else: the reporter's installer is pip
PIP_RUN = re.compile(
    r"(?:^|[\s$>%#!`])(?:\S*python(?:3(?:\.\d+)?)?\s+-m\s+)?pip3?(?:\.\d+)?\s+"
    r"(?:download|debug|list|freeze|show|check|config|-V\b|--version\b)"
)
OPTIONS_WITH_VALUE = frozenset(
    "-r --requirement -c --constraint -i --index-url --extra-index-url -f --find-links -t "
    "--target --prefix --root --platform --python-version --implementation --abi --proxy "
    "--cert --client-cert --trusted-host --log --src --upgrade-strategy --python -p".split()
)
NOT_TARGETS = frozenset({"pip", "setuptools", "wheel", "uv", "virtualenv"})
# The projects this tool is asked about, as their names appear in titles and prose
KNOWN_PROJECTS = TENSORFLOW | {
    "keras",
    "tf-keras",
    "keras-nlp",
    "jax",
    "jaxlib",
    "torch",
    "torchvision",
    "torchaudio",
    "tensorflow-text",
    "tensorflow-io",
    "tensorflow-rocm",
    "tensorflow-probability",
    "tensorflow-datasets",
}
# A command quoted in a sentence ('running pip install tensorflow==2.14 in debian 11') ends where
# the words stop looking like requirements: a word with a specifier or extras, or a known name.
SENTENCE_STOP = re.compile(r"[=<>!~\[]")


@dataclass(frozen=True)
class Command:
    requirements: tuple[str, ...]
    flags: frozenset[str]


def parse_command(text: str) -> Command | None:
    """A `pip install` / `python3 -m pip install` / `uv pip install` command in a line."""
    m = PIP_COMMAND.search(text)
    if not m:
        return None
    return _words(m.group("args"))


def _words(args: str) -> Command:
    try:
        words = shlex.split(args, comments=True)
    except ValueError:  # an unclosed quote: the words as typed
        words = args.split()
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
            requirements.append(word.rstrip("`'\".,;:)"))
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


PROMPT_END = re.compile(r"(?:^|[$>%#!)\]:]|\bsudo(?:\s+-H)?)$")


def _in_a_sentence(line: Line, runner_at: int) -> bool:
    """A command a reporter wrote in a sentence ('When I run pip install x on an AWS box'),
    not typed at a prompt: words other than a prompt come before it."""
    before = line.plain[:runner_at].rstrip(" `'\"")
    return not PROMPT_END.search(before)


def _sentence_words(
    reqs: list[Requirement], words: tuple[str, ...], title: bool
) -> list[Requirement]:
    """The requirements of a command quoted in a sentence: the first (unless it is an English
    word; in a title, unless it is a known project or has a specifier), and those after it that
    still look like requirements (a specifier, extras, a known project)."""
    kept: list[Requirement] = []
    for req, word in zip(reqs, words, strict=False):
        name = canonicalize_name(req.name)
        looks_like_one = bool(SENTENCE_STOP.search(word)) or name in KNOWN_PROJECTS
        first_may_be = name not in NOT_A_PROJECT and (looks_like_one or not title)
        if (kept and not looks_like_one) or (not kept and not first_may_be):
            break
        kept.append(req)
    return kept


# Words a sentence or a title puts after "pip install" that are not a project ('pip install
# fails on Windows', 'uv pip install inconsistent failure'), though each is a valid name
NOT_A_PROJECT = frozenset(
    "it fails failed fail failing error errors issue issues problem problems inconsistent not "
    "does doesnt works worked work the a an on in with command package packages everything "
    "anything this that them again now properly correctly successfully fine without using from "
    "for to and or but is was gives give returns throws broken broke stuck hangs freezes slow "
    "something nothing".split()
)
# After a command in a sentence: the reporter says it works, so it is not the failing one
SAYS_IT_WORKS = re.compile(r"(?i)\b(?:works?|worked|is fine|succeed\w*|installs? fine)\b")
QUOTED_COMMAND = re.compile(r"[`'\"][^`'\"]*\bpip3?(?:\.\d+)?\s+install\b[^`'\"]*[`'\"]")


def commands(lines: Sequence[Line]) -> Iterator[Clue]:
    """The installing command: its target, --upgrade, --user, sudo, a proxy option, and which
    installer it is. Typed at a prompt or pasted as code, it is the command; quoted in a
    sentence, nearly so; written bare in a sentence or a title, a hint (a question)."""
    for line in lines:
        yield from _conda_command(line)
        if UV_COMMAND.search(line.plain):
            yield Clue("installer", "uv", line, OUTPUT if line.fenced else FIELD, "a uv command")
        elif PIP_RUN.search(line.plain) and not re.search(r"\buv\s+pip\b", line.plain):
            yield Clue("installer", "pip", line, PROSE, "a pip command")
        m = PIP_COMMAND.search(line.plain)
        if m is None:
            continue
        command = _words(m.group("args"))
        if command.flags & {"-r", "--requirement"} and not line.title:
            yield Clue("from-file", "yes", line, FIELD, "the install command")
        in_prose = line.title or _in_a_sentence(line, m.start("runner"))
        if in_prose and SAYS_IT_WORKS.search(line.plain[m.end("runner") :]):
            continue  # 'pip3 install tensorflow works': not the command that fails
        yield from _command_clues(line, command, in_prose, bool(m.group("uv")))


def _command_clues(line: Line, command: Command, in_prose: bool, by_uv: bool) -> Iterator[Clue]:
    words = tuple(w for w in command.requirements if requirement_of(w))
    reqs = [r for w in words if (r := requirement_of(w))]
    if in_prose:
        reqs = _sentence_words(reqs, words, title=line.title)
    wanted = [r for r in reqs if canonicalize_name(r.name) not in NOT_TARGETS]
    tensorflow = [r for r in wanted if canonicalize_name(r.name) in TENSORFLOW]
    strength, says = _command_weight(line, bool(tensorflow), in_prose)
    if tensorflow or wanted:
        req = (tensorflow or wanted)[0]
        req.marker = None
        yield Clue("target", str(req), line, strength, says)
        yield Clue("installer", "uv" if by_uv else "pip", line, strength, says)
        for other in (r for r in wanted if r is not req):
            yield Clue("also-installs", str(other), line, strength, says)
        if command.flags & {"-U", "--upgrade"}:
            yield Clue("upgrade", "yes", line, strength, says)
    if line.title:
        return
    if "--user" in command.flags:
        yield Clue("install", "user-flag", line, OUTPUT, "pip install --user")
    if re.search(r"(?:^|[\s$#])sudo\s", line.plain):
        yield Clue("install", "system", line, FIELD, "sudo pip")
    if "--proxy" in command.flags:
        yield Clue("network", "proxy", line, PROSE, "pip install --proxy")


def _command_weight(line: Line, tensorflow: bool, in_prose: bool) -> tuple[int, str]:
    if line.title:
        return PROSE, "the issue's title"
    if in_prose and not QUOTED_COMMAND.search(line.text):
        return PROSE, "a command written in a sentence"
    if tensorflow:
        return OUTPUT, "the install command"
    return FIELD, "the install command"


def _conda_command(line: Line) -> Iterator[Clue]:
    m = CONDA_COMMAND.search(line.plain)
    if m is None or line.title:
        return
    words = _words(m.group("args")).requirements
    reqs = [r for w in words if (r := requirement_of(w)) and not w.startswith("python")]
    if reqs:
        yield Clue("target", str(reqs[0]), line, FIELD, "the conda command")
        yield Clue("installer", "conda", line, FIELD, "the conda command")


# PEP 723: a script's inline metadata, which `uv run` installs
SCRIPT_DEPENDENCY = re.compile(r"^#\s+[\"'](?P<req>[^\"']+)[\"'],?\s*$")


def script_dependencies(lines: Sequence[Line]) -> Iterator[Clue]:
    """The dependencies of a script's `# /// script` block: what `uv run` installs."""
    inside = False
    for line in lines:
        text = line.text.strip()
        if text == "# /// script":
            inside = True
        elif text == "# ///":
            inside = False
        elif inside and (m := SCRIPT_DEPENDENCY.match(text)):
            if req := requirement_of(m.group("req")):
                yield Clue("target", str(req), line, FIELD, "the script's dependencies (PEP 723)")


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
VENV_PROMPT = re.compile(
    r"^\(\.?venv[\w.-]*\)\s|source \S*/bin/activate|python3? -m venv |(?:^|\s)\.?venv\\Scripts\\"
)


def installed(lines: Sequence[Line]) -> Iterator[Clue]:
    """What pip said was installed: its own version and where, the target's prior version."""
    for line in lines:
        if line.title:
            continue
        if m := ALREADY.search(line.plain):
            name = _name(m.group("req"))
            if name == "pip":  # 'Requirement already satisfied: pip in ... (25.2)': pip's own
                yield Clue("pip", m.group("version"), line, OUTPUT, "pip's output")
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
                    yield from _pip_place(m.group(2), line, says)
        if "Defaulting to user installation because normal site-packages is not writeable" in (
            line.plain
        ):
            yield Clue("install", "system-user", line, OUTPUT, "pip fell back to the user site")
        if "Running pip as the 'root' user" in line.plain:
            # pip says so only outside a virtual environment (pip's warn_if_run_as_root)
            yield Clue("install", "system", line, OUTPUT, "pip's root warning")
        if VENV_PROMPT.search(line.plain):
            yield Clue("install", "venv", line, FIELD, "a virtual environment's prompt or command")
        elif IN_VENV.search(line.plain) and not TEMPLATE_QUESTION.search(line.plain):
            yield Clue("install", "venv", line, PROSE, "the reporter says so")


def _name(requirement: str) -> str:
    req = requirement_of(requirement)
    return canonicalize_name(req.name) if req else canonicalize_name(requirement)


def _pip_place(path: str, line: Line, says: str) -> Iterator[Clue]:
    """Where pip itself is: a venv's pip installs into that venv; a pip in the user's or the
    system's site says nothing of where `pip install` puts a package."""
    for clue in _place(path, line, says):
        if clue.key != "install" or clue.value == "venv":
            yield clue


# An interpreter's own site-packages that looks like a venv's (lib/pythonX.Y/site-packages) but
# is not one: python.org's framework build, Homebrew's, pyenv's, a source build under /usr/local
INTERPRETER_SITE = re.compile(
    r"/Library/Frameworks/Python\.framework/|/opt/homebrew/|/usr/local/Cellar/|/\.pyenv/versions/"
    r"|^/usr/local/lib/python"
)


def _place(path: str, line: Line, says: str) -> Iterator[Clue]:
    """What a site-packages path says about who installed into what, and which Python."""
    if m := re.search(r"python([23]\.\d{1,2})[/\\](?:site|dist)-packages", path, re.I):
        yield Clue("python", m.group(1), line, FIELD, f"{says}: a site-packages path")
    if INTERPRETER_SITE.search(path):
        return  # the interpreter's own site: who may write there is not said
    if CONDA.search(path):
        yield Clue("conda", "conda", line, FIELD, f"{says}: a conda environment")
        return
    if re.search(r"[/\\]\.local[/\\]lib[/\\]python", path):
        yield Clue("install", "user-site", line, PROSE, f"{says}: the user's site-packages")
    elif re.match(r"/usr/(?:local/)?lib/python3(?:\.\d+)?/(?:dist|site)-packages", path):
        yield Clue("install", "system", line, PROSE, f"{says}: the system's site-packages")
    elif re.search(r"[/\\]lib[/\\]python3\.\d+[/\\]site-packages", path):
        yield Clue("install", "venv", line, PROSE, f"{says}: a virtual environment's")


# The requirement the installer's failure names: what to install where no command names one
# ('uv pip install -r requirements.txt')
FAILED_FOR = (
    re.compile(r"No matching distribution found for (?P<req>[^\s;]+)"),
    re.compile(r"versions of (?P<req>[A-Za-z0-9][\w.-]*) (?:are|is) available"),
    re.compile(
        r"Because (?:all versions of )?(?P<req>[A-Za-z0-9][\w.-]*?)(?:==\S+)? ha(?:s|ve) no "
    ),
)


def failed_for(lines: Sequence[Line]) -> Iterator[Clue]:
    for line in lines:
        for pattern in FAILED_FOR:
            if (m := pattern.search(line.plain)) and (req := requirement_of(m.group("req"))):
                said = "the installer's failure names it"
                yield Clue("failed-for", canonicalize_name(req.name), line, PROSE, said)
                break


FROM_VERSIONS = re.compile(r"\(from versions:\s*(?P<versions>[^)]*)\)")
SATISFIES = re.compile(r"satisfies the requirement (?P<req>[^\s;]+)")


def from_versions(lines: Sequence[Line]) -> Iterator[Clue]:
    """pip's 'Could not find a version that satisfies the requirement X (from versions: ...)':
    every version pip could take on the reporter's platform and Python, at that time."""
    for line in lines:
        listed, req = FROM_VERSIONS.search(line.plain), SATISFIES.search(line.plain)
        if not (listed and req):
            continue
        name = _name(req.group("req"))
        versions = ", ".join(v.strip() for v in listed.group("versions").split(",") if v.strip())
        strength = PROSE if line.title else OUTPUT
        yield Clue("from-versions", f"{name}: {versions or 'none'}", line, strength, "pip's list")


# Network symptoms pip printed, and the network axis value each stands for (the first match)
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


def network(lines: Sequence[Line]) -> Iterator[Clue]:
    for line in lines:
        for pattern, value in NETWORK_SAYS:
            if re.search(pattern, line.text):
                strength = PROSE if value == "proxy" else OUTPUT
                yield Clue("network", value, line, strength, "the installer's output")
                break


# What pip printed that no run's classifier meets (a wheel file, pip 1.x), as the outcome a run
# of the same requirement ends in, then what a successful install with a broken result says
REPORT_SAYS = (
    (r"is not a supported wheel on this platform", Outcome.UNSUPPORTED_PLATFORM),
    (
        r"No distributions at all found for|Could not find any downloads that satisfy",
        Outcome.NO_MATCHING_DISTRIBUTION,
    ),
)
SUCCESS_SAYS = (
    (r"pip's dependency resolver does not currently take into account", "upgraded-inconsistent"),
    (r"Requirement already up-to-date: ", "not-upgraded"),
    (r"ModuleNotFoundError: No module named|ImportError: ", "import-error"),
)


def outcome(lines: Sequence[Line]) -> Iterator[Clue]:
    """What the reporter saw, in the installer's own words: the first of pip's (or uv's)
    classifier rules that a line matches, else a success with a broken environment. A title's
    words are the reporter's summary: used only where no other line says it."""
    body = [x for x in lines if not x.title]
    titles = [x for x in lines if x.title]
    for part, strength in ((body, OUTPUT), (titles, PROSE)):
        if said := _verdict(part, lines, strength):
            yield said
            return


def _verdict(part: Sequence[Line], lines: Sequence[Line], strength: int) -> Clue | None:
    uv_installs = any(UV_COMMAND.search(x.plain) or "╰─▶" in x.text for x in lines)
    # The installer that ran the command first; the other's wording still counts after it.
    order = (installer("uv"), installer()) if uv_installs else (installer(), installer("uv"))
    for by in order:
        for rule in by.rules:
            for line in part:
                if re.search(rule.decides, line.text):
                    return Clue("expect", rule.outcome.value, line, strength, f"{by.name}'s output")
    for pattern, said in REPORT_SAYS:
        for line in part:
            if re.search(pattern, line.text):
                return Clue("expect", said.value, line, strength, "pip's output")
    for pattern, success in SUCCESS_SAYS:
        for line in part:
            if re.search(pattern, line.text):
                return Clue("expect", Outcome(success).value, line, strength, "pip's output")
    return None


TOOK_WHEEL = re.compile(r"^\s*(?:Downloading|Using cached)\s+(?:\S*/)?(?P<file>[^\s/]+\.whl)\b")


def wheels_taken(lines: Sequence[Line]) -> Iterator[Clue]:
    """A wheel pip downloaded or took from its cache: built for the reporter's machine."""
    for line in lines:
        m = TOOK_WHEEL.match(line.plain)
        if not m:
            continue
        try:
            _, _, _, tags = parse_wheel_filename(m.group("file"))
        except (InvalidWheelFilename, ValueError):
            continue
        platforms = {t.platform for t in tags} - {"any"}
        for platform in sorted(platforms)[:1]:
            yield from tag_system(platform, line, "a wheel pip took")


def wheel_named(lines: Sequence[Line]) -> Iterator[Clue]:
    """A wheel file the report says was installed from ('is not a supported wheel', the
    template's 'installed from' field): the version wanted."""
    for line in lines:
        for m in re.finditer(r"([A-Za-z0-9_.]+-\d[\w.]*-[\w.]+-[\w.]+-[\w.]+\.whl)", line.plain):
            said = re.search(r"is not a supported wheel|installed from", line.plain, re.I)
            if not said or not (req := requirement_of(m.group(1))):
                continue
            strength = PROSE if line.title else FIELD
            yield Clue("target", str(req), line, strength, "the wheel file it names")


RECOGNISERS = (
    commands,
    failed_for,
    script_dependencies,
    installed,
    from_versions,
    network,
    outcome,
    wheels_taken,
    wheel_named,
)
