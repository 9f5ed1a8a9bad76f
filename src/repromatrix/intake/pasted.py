"""What tools print, as people paste it: /etc/os-release and lsb_release, `uname -a`, `python
-VV`, `pip -V` and `pip debug --verbose`, PyTorch's `collect_env`, JAX's
`print_environment_info()`, TensorFlow's `tf_env_collect.sh`, and the environment (`pip freeze`,
`pip list`, `uv pip freeze`, `conda list`). A tool's own line is the strongest clue a report
has; each recogniser reads one tool's format, and a line of another tool's shape is left alone."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from packaging.utils import canonicalize_name

from .clue import (
    DEBIAN_NUMBERS,
    FIELD,
    INSTALLER_TAGS,
    MACHINE,
    OUTPUT,
    PROSE,
    UBUNTU_CODENAMES,
    Clue,
    machine_of,
    oses_in,
)
from .report import Line

TENSORFLOW = frozenset(
    {
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "tensorflow-macos",
        "tensorflow-intel",
        "tensorflow-aarch64",
        "tensorflow-cpu-aws",
        "tf-nightly",
        "intel-tensorflow",
    }
)
CONDA = re.compile(
    r"\b(?:ana|mini)conda\d?\b|\bminiforge\d?\b|\bmambaforge\b|\bconda (?:install|activate|create)"
    r"|[/\\]envs[/\\][\w.-]+[/\\]lib|^\(base\)\s|# packages in environment at",
    re.IGNORECASE,
)


def os_release(lines: Sequence[Line]) -> Iterator[Clue]:
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
    if distro in ("debian", "raspbian"):
        suite = DEBIAN_NUMBERS.get(version[0].split(".")[0]) or codename[0].lower() or None
        if suite:
            yield Clue("os", suite, codename[1] if codename[0] else version[1], OUTPUT, says)
        if distro == "raspbian":  # Raspbian is Debian built for armhf, and only for it
            yield Clue("arch", "armv7l", at, OUTPUT, f"{says}: Raspbian (armhf)")
    elif distro == "ubuntu":
        release = version[0][:5] or UBUNTU_CODENAMES.get(codename[0].lower(), "")
        if release:
            yield Clue("os", f"ubuntu:{release}", version[1], OUTPUT, says)
    else:  # another distribution; named without its release (a cut lsb_release), weaker
        strength = OUTPUT if version[0] else FIELD
        name = f"other:{values[id_key][0]} {version[0]}".strip()
        yield Clue("os", name, version[1], strength, says)


# `uname -a`: 'Linux host 5.4.0-1048-aws #50-Ubuntu SMP ... aarch64 aarch64 aarch64 GNU/Linux'
UNAME = re.compile(r"^(?:\$\s*)?(?P<system>Linux|Darwin)\s+\S+\s+\d\S*\s+(?P<rest>#.*)$")
UNAME_RESULT = re.compile(r"uname_result\((?P<fields>[^)]*)\)")
# platform.platform(): 'Linux-5.15.0-91-generic-x86_64-with-glibc2.35', 'macOS-14.5-arm64-arm-64bit'
PLATFORM_STRING = re.compile(
    r"\b(?P<system>Linux|macOS|Darwin|Windows)-[\w.+~-]*?"
    r"(?:-(?P<machine>x86_64|aarch64|arm64|armv7l|i686|AMD64|ppc64le|s390x)\b[\w.+-]*)?(?=$|\s|['\")])"
)


def uname(lines: Sequence[Line]) -> Iterator[Clue]:
    """`uname -a`, Python's uname_result(...) (print_environment_info, tf_env_collect) and
    platform.platform() strings: the system, and the machine as `uname -m` names it."""
    for line in lines:
        text = line.plain
        if m := UNAME.match(text.strip()):
            if m.group("system") == "Darwin":
                yield Clue("os", "macos", line, OUTPUT, "uname -a")
            machines = MACHINE.findall(m.group("rest"))
            if machines:  # the machine, the processor and the platform, before 'GNU/Linux'
                yield Clue("arch", machine_of(machines[-1]), line, OUTPUT, "uname -a")
            if "-Ubuntu" in text:
                yield Clue("os", "ubuntu", line, PROSE, "uname -a (an Ubuntu kernel)")
        if m := UNAME_RESULT.search(text):
            fields = dict(re.findall(r"(\w+)='([^']*)'", m.group("fields")))
            system = fields.get("system", "")
            if system in ("Darwin", "Windows"):
                yield Clue("os", system == "Darwin" and "macos" or "windows", line, OUTPUT, "uname")
            if MACHINE.fullmatch(fields.get("machine", "")):
                yield Clue("arch", machine_of(fields["machine"]), line, OUTPUT, "uname")
        for p in PLATFORM_STRING.finditer(text):
            system = p.group("system")
            if system in ("macOS", "Darwin", "Windows"):
                os_value = "windows" if system == "Windows" else "macos"
                yield Clue("os", os_value, line, OUTPUT, "platform.platform()")
            if p.group("machine"):
                yield Clue(
                    "arch", machine_of(p.group("machine")), line, OUTPUT, "platform.platform()"
                )


PYTHON_SAYS = (
    (re.compile(r"^Python ([23]\.\d{1,2})\.\d+"), "python -V"),
    (re.compile(r"\bsys\.version:\s*([23]\.\d{1,2})\.\d+"), "pip debug"),
    (re.compile(r"\bpip \d+(?:\.\d+)+ from \S.*\(python ([23]\.\d{1,2})\)"), "pip -V"),
    (re.compile(r"^Python version:\s*([23]\.\d{1,2})(?:\.\d+)?\s.*-bit runtime\)"), "collect_env"),
    (re.compile(r"^python:\s+([23]\.\d{1,2})\.\d+"), "jax.print_environment_info()"),
    (re.compile(r"^python version:\s*([23]\.\d{1,2})\.\d+$"), "tf_env_collect.sh"),
    (re.compile(r"^python\s{2,}([23]\.\d{1,2})\.\d+\s+\S+"), "conda list"),
    (re.compile(r"You require CPython ([23]\.\d{1,2}) \(`?cp\d+`?\)"), "uv's hint"),
)
# The compiler line of `python -VV` and sys.version: which Windows build, or a Mac
MSC = re.compile(r"\[MSC v\.\d+ (?P<bits>32|64) bit \((?P<cpu>Intel|AMD64|ARM64)\)\]")
RUNTIME_BITS = re.compile(r"\((?P<bits>32|64)-bit runtime\)")


def python_build(lines: Sequence[Line]) -> Iterator[Clue]:
    """The interpreter's own words: its version, and on Windows whether it is a 32-bit build."""
    for line in lines:
        for pattern, says in PYTHON_SAYS:
            if m := pattern.search(line.plain):
                yield Clue("python", m.group(1), line, OUTPUT, says)
        if m := MSC.search(line.text):
            yield Clue("os", "windows", line, OUTPUT, "the interpreter's build (MSC)")
            bits = {"Intel": "x86", "AMD64": "x86_64", "ARM64": "aarch64"}[m.group("cpu")]
            yield Clue("arch", bits, line, OUTPUT, "the interpreter's build (MSC)")
        elif (m := RUNTIME_BITS.search(line.text)) and m.group("bits") == "32":
            yield Clue("arch", "x86", line, OUTPUT, "collect_env (a 32-bit Python)")


TAG_LINE = re.compile(r"^\s*(?P<interpreter>cp\d+|py\d+)-(?P<abi>[\w.]+)-(?P<platform>\w+)\s*$")


def pip_debug(lines: Sequence[Line]) -> Iterator[Clue]:
    """`pip debug --verbose`: sys.platform, and the first of its compatible tags (the Python
    and the platform this pip takes wheels for)."""
    first_tag = False
    for line in lines:
        text = line.plain.strip()
        if m := re.match(r"^sys\.platform:\s*(\w+)", text):
            said = {"win32": "windows", "darwin": "macos"}.get(m.group(1))
            if said:
                yield Clue("os", said, line, OUTPUT, "pip debug (sys.platform)")
        if text.startswith("Compatible tags:"):
            first_tag = True
            continue
        tag = TAG_LINE.match(text)
        if not (first_tag and tag):
            continue
        first_tag = False
        interpreter, platform = tag.group("interpreter"), tag.group("platform")
        if m := re.fullmatch(r"cp(\d)(\d+)", interpreter):
            yield Clue("python", f"{m.group(1)}.{m.group(2)}", line, OUTPUT, "pip debug's tags")
        says = "pip debug's compatible tags"
        yield Clue("platform-tag", platform, line, INSTALLER_TAGS, says)
        for clue in tag_system(platform, line, says):
            yield Clue(clue.key, clue.value, line, INSTALLER_TAGS, says)


def tag_system(platform: str, line: Line, says: str) -> Iterator[Clue]:
    """The OS and machine a wheel platform tag stands for."""
    if platform.startswith(("win", "mingw")):
        yield Clue("os", "windows", line, OUTPUT, says)
    elif platform.startswith("macosx_"):
        yield Clue("os", "macos", line, OUTPUT, says)
    elif platform.startswith(("manylinux", "musllinux", "linux_")):
        yield Clue("system", "linux", line, OUTPUT, says)
    machine = {"win32": "x86", "win_amd64": "x86_64", "win_arm64": "aarch64"}.get(platform)
    if m := MACHINE.search(platform.replace("_", " ")):
        machine = machine or machine_of(m.group(1))
    if platform.endswith("x86_64"):
        machine = "x86_64"
    if machine:
        yield Clue("arch", machine, line, OUTPUT, says)


def collect_env(lines: Sequence[Line]) -> Iterator[Clue]:
    """PyTorch's `python -m torch.utils.collect_env` (read only where its header is pasted):
    'OS: macOS 15.3.2 (x86_64)', 'PyTorch version: 2.2.2', '[pip3] numpy==1.26.4'."""
    if not any(x.plain.startswith("Collecting environment information") for x in lines):
        return
    says = "collect_env"
    for line in lines:
        text = line.plain.strip()
        if m := re.match(r"^OS:\s*(?P<os>.+?)(?:\s*\((?P<machine>[\w-]+)\))?$", text):
            for value in oses_in(m.group("os"))[:1]:
                yield Clue("os", value, line, OUTPUT, says)
            if m.group("machine") and MACHINE.fullmatch(m.group("machine")):
                yield Clue("arch", machine_of(m.group("machine")), line, OUTPUT, says)
        if m := re.match(r"^PyTorch version:\s*(\d[\w.+]*)", text):
            yield Clue("prior", f"torch=={m.group(1)}", line, OUTPUT, says)
        if m := re.match(
            r"^\[(?:pip3?|conda)\]\s+(?P<name>[A-Za-z0-9][\w.-]*)(?:==|\s+)(?P<v>\d\S*)", text
        ):
            pin = f"{canonicalize_name(m.group('name'))}=={m.group('v')}"
            yield Clue("environment", pin, line, OUTPUT, says)
            if text.startswith("[conda]"):
                yield Clue("conda", "conda", line, OUTPUT, "collect_env's conda packages")


def jax_info(lines: Sequence[Line]) -> Iterator[Clue]:
    """`jax.print_environment_info()`: 'jax:    0.4.26', 'jaxlib: 0.4.26', 'numpy:  1.26.4'."""
    if not any(re.match(r"^jaxlib:\s+\d", x.plain) for x in lines):
        return
    for line in lines:
        if m := re.match(r"^(jax|jaxlib|numpy|scipy):\s+(\d\S*)$", line.plain.strip()):
            pin = f"{m.group(1)}=={m.group(2)}"
            says = "jax.print_environment_info()"
            yield Clue("environment", pin, line, OUTPUT, says)
            if m.group(1) == "jax":
                yield Clue("prior", pin, line, OUTPUT, says)


def tf_env(lines: Sequence[Line]) -> Iterator[Clue]:
    """TensorFlow's `tf_env_collect.sh`: the version import printed, the distribution tuple,
    the machine."""
    if not any(
        re.match(r"^== (?:check python|check os platform|tensorflow import)", x.plain)
        for x in lines
    ):
        return
    says = "tf_env_collect.sh"
    for line in lines:
        text = line.plain.strip()
        if m := re.match(r"^tf\.(?:version\.)?VERSION\s*=\s*(\d\S*)", text):
            yield Clue("prior", f"tensorflow=={m.group(1)}", line, OUTPUT, says)
        if m := re.match(r"^linux distribution:\s*\('(\w+)',\s*'([\d.]+)'", text):
            for value in oses_in(f"{m.group(1)} {m.group(2)}")[:1]:
                yield Clue("os", value, line, OUTPUT, says)
        if (m := re.match(r"^machine:\s*(\S+)$", text)) and MACHINE.fullmatch(m.group(1)):
            yield Clue("arch", machine_of(m.group(1)), line, OUTPUT, says)


FREEZE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;#]+)")
LEGACY_LIST = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \((?P<version>\d[^)\s]*)\)$")
TABLE_ROW = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s{2,}(?P<version>\d\S*)(?:\s.*)?$")
# pip freeze's direct reference: 'name @ file:///...' (spaces around @; a prompt has none)
URL_LINE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s+@\s+(?P<url>\S+)")
MIN_BLOCK = 3  # pinned lines that make a block a pasted environment, not a command's argument


def environment(lines: Sequence[Line]) -> Iterator[Clue]:
    """`pip freeze`, `uv pip freeze`, `pip list` (both formats) and `conda list` pasted as a
    block; not the libraries `pip debug --verbose` says it vendors, which nothing installed."""
    blocks: dict[int, list[tuple[Line, str, str]]] = {}
    vendored = False
    for line in lines:
        text = line.text.strip()
        if text == "vendored library versions:":
            vendored = True
            continue
        if vendored and line.text.startswith((" ", "\t")):
            continue
        vendored = False
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


def conda(lines: Sequence[Line]) -> Iterator[Clue]:
    """conda's paths, prompt and commands: the report's Python is conda's."""
    for line in lines:
        if CONDA.search(line.text):
            strength = OUTPUT if line.fenced else PROSE
            yield Clue("conda", "conda", line, strength, "a conda path, prompt or command")


# A multiarch library path (Debian's and Ubuntu's), as a loader or a traceback prints it
MULTIARCH = re.compile(
    r"/(?:usr/)?lib/(?P<triplet>aarch64-linux-gnu|arm-linux-gnueabihf|x86_64-linux-gnu|"
    r"i386-linux-gnu|powerpc64le-linux-gnu|s390x-linux-gnu)/"
)
TRIPLETS = {
    "aarch64-linux-gnu": "aarch64",
    "arm-linux-gnueabihf": "armv7l",
    "x86_64-linux-gnu": "x86_64",
    "i386-linux-gnu": "i686",
    "powerpc64le-linux-gnu": "ppc64le",
    "s390x-linux-gnu": "s390x",
}


def multiarch(lines: Sequence[Line]) -> Iterator[Clue]:
    """/lib/aarch64-linux-gnu/libc.so.6 in a loader's or a traceback's output: the machine."""
    for line in lines:
        if line.fenced and (m := MULTIARCH.search(line.text)):
            machine = TRIPLETS[m.group("triplet")]
            yield Clue("arch", machine, line, FIELD, "a multiarch library path")
            yield Clue("system", "linux", line, FIELD, "a multiarch library path")
            return


RECOGNISERS = (
    os_release,
    uname,
    python_build,
    pip_debug,
    collect_env,
    jax_info,
    tf_env,
    multiarch,
)
LISTS = (environment, conda)
