"""`--redact`: a copy of a run's reports fit for a public attachment.

Attachments on public trackers are readable by anyone; a run's logs name the machine's proxies,
internal index hosts, IP addresses, user names and home or workspace paths, and the run CA's
subject. The redacted copy (RUN/redacted/) is made from the run's own files with each such
value replaced by a placeholder, the same one wherever the value appears (REDACTED-HOST-1 in the
page, the summary and the logs alike), and every format rendered from that copy, so no format
can leak what another hid. The run's own files stay as they are: the key to the placeholders
is written beside them (RUN/redactions.txt), never into the copy. The cells' CA bundles are
not copied: their subjects name the organisation.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.files import open_regular, write_atomic
from ..core.result import RunResult
from .formats import Format, ReportOptions, write_formats
from .results import load_run

REDACTED_DIR = "redacted"
KEY_FILE = "redactions.txt"
MAX_REDACTED_FILE = 64 * 1024 * 1024  # a cell's file above it is left out of the copy, saying so
KEPT_IPS = ("127.0.0.1", "0.0.0.0")  # they name no machine

# What a value looks like where it appears: a URL's host (after its scheme and any user), a
# urllib3 pool's host='...', an IPv4 address, a home directory's owner.
_URL_HOST = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?:(?P<user>[^/@\s:]+)(?::[^/@\s]*)?@)?"
    r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)"
)
_POOL_HOST = re.compile(r"host='(?P<host>[^']+)'")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# A dotted name with a port where no scheme is (squid's 'CONNECT proxy.corp.example:3128', a
# proxy setting written without one), not inside a path ('/pip/_internal/cli/main.py:80').
_BARE_HOST = re.compile(
    r"(?<![\w./@-])(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):(?P<port>\d{1,5})\b"
)
# The last label of a file name with a line number, which the bare form would take for a host.
_FILE_SUFFIXES = frozenset(
    "py pyc pyi txt whl so c h cc cpp cfg toml json yaml yml log sh pth ini md html js".split()
)
# An IPv6 candidate, bare or in brackets; ipaddress decides (a time such as 16:51:55 is none).
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_HOME = re.compile(r"(?P<base>/home/|/Users/|[A-Za-z]:\\\\?Users\\\\?)(?P<user>[A-Za-z0-9._-]+)")
# the CAs repromatrix makes: 'repromatrix run RUN-ID CA', 'repromatrix interceptor CA', ...
_CA_SUBJECT = re.compile(r"\brepromatrix [\w -]{1,60}? CA\b")


@dataclass
class Redactor:
    """The values to hide, found in the run's texts, each with its placeholder."""

    public_hosts: frozenset[str]
    paths: dict[str, str] = field(default_factory=dict)  # a workspace or home path: 'REDACTED-HOME'
    placeholders: dict[str, str] = field(default_factory=dict)  # value: placeholder
    kinds: dict[str, str] = field(default_factory=dict)  # value: 'host', 'ip', 'user', 'path'

    def _named(self, value: str, kind: str) -> str:
        if value not in self.placeholders:
            number = 1 + sum(k == kind for k in self.kinds.values())
            # plain letters: no format escapes it, so it reads the same in all of them
            self.placeholders[value] = f"REDACTED-{kind.upper()}-{number}"
            self.kinds[value] = kind
        return self.placeholders[value]

    def _host(self, host: str) -> str:
        kept = host.lower() in self.public_hosts or host in KEPT_IPS
        return host if kept else self._named(host, "ip" if _is_ip(host) else "host")

    def learn(self, text: str) -> None:
        """Names the hosts a text shows where they look like hosts, so that every file of the
        copy hides them wherever they appear, also in a file read before this one."""
        self.text(text)

    def text(self, text: str) -> str:
        for path, placeholder in self.paths.items():
            text = text.replace(path, placeholder)
        text = _HOME.sub(lambda m: m["base"] + self._named(m["user"], "user"), text)
        text = _URL_HOST.sub(self._url, text)
        text = _POOL_HOST.sub(lambda m: f"host='{self._host(m['host'])}'", text)
        text = _BARE_HOST.sub(self._bare, text)
        text = _IPV6.sub(self._ipv6, text)
        text = _CA_SUBJECT.sub(lambda m: self._named(m.group(), "ca-subject"), self._ips(text))
        return self._known_hosts(text)

    def _bare(self, match: re.Match[str]) -> str:
        host = match["host"]
        if host.rsplit(".", 1)[-1].lower() in _FILE_SUFFIXES or _is_version(host):
            return match.group()
        return f"{self._host(host)}:{match['port']}"

    def _ipv6(self, match: re.Match[str]) -> str:
        try:
            address = ipaddress.IPv6Address(match.group())
        except ValueError:
            return match.group()
        unnamed = address.is_loopback or address.is_unspecified
        return match.group() if unnamed else self._named(match.group(), "ip")

    def _known_hosts(self, text: str) -> str:
        """A dotted host already named, wherever it appears as a word of its own (a log line that
        names it without a scheme or port); a one-label name ('proxy') only where it looks like a
        host, as the word itself is common."""
        dotted = [v for v, k in self.kinds.items() if k == "host" and "." in v]
        if not dotted:
            return text
        words = "|".join(re.escape(v) for v in sorted(dotted, key=len, reverse=True))
        found = re.compile(rf"(?<![\w.-])(?:{words})(?![\w-]|\.\w)")
        return found.sub(lambda m: self.placeholders[m.group()], text)

    def _ips(self, text: str) -> str:
        """A private, shared or link-local address anywhere (a URL's or pool's host is replaced
        whatever it is): a bare public-looking quad is as likely a version (nvidia-cudnn-cu12
        9.3.0.75) as an address, and is left."""
        return _IPV4.sub(
            lambda m: self._host(m.group()) if _internal(m.group()) else m.group(), text
        )

    def _url(self, match: re.Match[str]) -> str:
        user = f"{self._named(match['user'], 'user')}@" if match["user"] else ""
        return f"{match['scheme']}{user}{self._host(match['host'])}"

    def said(self) -> list[str]:
        """What was replaced, by kind, with placeholders only (the copy may say this)."""
        counts: dict[str, int] = {}
        for kind in self.kinds.values():
            counts[kind] = counts.get(kind, 0) + 1
        paths = sorted(set(self.paths.values()))
        return [f"{n} {kind} value(s)" for kind, n in sorted(counts.items())] + paths

    def key(self) -> str:
        """placeholder<TAB>value lines: what the run's owner keeps, never the copy."""
        rows = [f"{p}\t{v}" for v, p in self.placeholders.items()]
        rows += [f"{p}\t{v}" for v, p in self.paths.items()]
        return "\n".join(rows) + "\n"


def _internal(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.is_private or address.is_link_local or address in _SHARED


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def _is_version(text: str) -> bool:
    """'2.15.0', '12.5.3.2': numbers and dots only (a bare quad that is an address is _ips')."""
    return all(part.isdigit() for part in text.split("."))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.cache
def public_index_hosts(python: str = sys.executable) -> frozenset[str]:
    """The public index's hosts as pip itself names them (pages and files); none if pip is not
    there to say, and then every host is replaced."""
    code = (
        "from pip._internal.models.index import PyPI\n"
        "print(PyPI.netloc); print(PyPI.file_storage_domain)"
    )
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip().lower() for line in out.splitlines() if line.strip())


def redactor_for(run_dir: Path, extra_paths: Iterable[Path] = ()) -> Redactor:
    """The run's own directory, the working directory and the home directory (longest first,
    so a run inside the home is REDACTED-RUN, not REDACTED-HOME/...)."""
    redactor = Redactor(public_index_hosts())
    named = {
        "REDACTED-RUN": run_dir.resolve(),
        "REDACTED-WORKSPACE": Path.cwd().resolve(),
        "REDACTED-HOME": Path.home().resolve(),
    }
    found = [(str(p), name) for name, p in named.items()]
    found += [(str(p.resolve()), "REDACTED-PATH") for p in extra_paths]
    for path, name in sorted(found, key=lambda pn: -len(pn[0])):
        if path not in _SAME_EVERYWHERE and path not in redactor.paths:
            redactor.paths[path] = name
    return redactor


# Paths that name no one, and that the containers' own logs use for themselves (root's home in
# every image): replacing them would mislabel the container's /root/.cache as the host's.
_SAME_EVERYWHERE = frozenset({"", "/", "/root", "/tmp", "/home", "/srv", "/opt"})


def redacted_reports(
    run_dir: Path, formats: Sequence[Format], options: ReportOptions
) -> tuple[Path, Redactor, list[Path]]:
    """The redacted copy with the formats rendered from it (report.zip too: the attachment)."""
    target, redactor = write_redacted(load_run(run_dir), run_dir)
    return target, redactor, write_formats(load_run(target), target, formats, options)


def write_redacted(run: RunResult, run_dir: Path, out: Path | None = None) -> tuple[Path, Redactor]:
    """RUN/redacted/: results.json and every cell file of the run, redacted; the key beside the
    run. The caller renders the formats from the copy."""
    target = out or run_dir / REDACTED_DIR
    redactor = redactor_for(run_dir)
    if target.exists():
        shutil.rmtree(target)  # an earlier copy: made again from the run as it is now
    target.mkdir(parents=True)
    files = _cell_files(run)
    # every host first, from every file: a host one log names in a URL is hidden in the others
    redactor.learn((run_dir / "results.json").read_text())
    for relative in files:
        redactor.learn(_read_cell_file(run_dir, relative) or "")
    for relative in files:
        _copy_redacted(run_dir, target, relative, redactor)
    (target / "results.json").write_text(redactor.text((run_dir / "results.json").read_text()))
    write_atomic(run_dir / KEY_FILE, redactor.key())
    os.chmod(run_dir / KEY_FILE, 0o600)  # the values hidden from the copy
    load_run(target)  # the copy must still be a run `report` reads
    return target, redactor


def _cell_files(run: RunResult) -> list[str]:
    """The files the reports read or link: each cell's Dockerfile, log and remedy logs."""
    files: list[str] = []
    for cell in run.cells:
        files += [cell.dockerfile, cell.log]
        files += [a.log for a in cell.attempts]
    return [f for f in dict.fromkeys(files) if f]


def _read_cell_file(run_dir: Path, relative: str) -> str | None:
    """A cell file of the run as text; None where it is not the run's own regular file."""
    from .report import safe_link

    if not safe_link(relative):
        return None  # an attached run's path that is not the run's own: nothing to copy
    source = (run_dir / relative).resolve()
    if not source.is_relative_to(run_dir.resolve()):
        return None
    opened = open_regular(source)
    if isinstance(opened, str):
        return None
    fh, info = opened
    with fh:
        if info.st_size > MAX_REDACTED_FILE:
            return f"(left out of the redacted copy: {info.st_size} bytes)\n"
        return fh.read().decode("utf-8", errors="replace")


def _copy_redacted(run_dir: Path, target: Path, relative: str, redactor: Redactor) -> None:
    text = _read_cell_file(run_dir, relative)
    if text is None:
        return
    destination = target / relative
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(redactor.text(text))
