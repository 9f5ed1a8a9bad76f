"""Find the CA bundle the host's pip trusts, so cells can trust the same one.

Behind a TLS-intercepting proxy (a corporate CA), the host's pip works only because it is
configured with a bundle holding that CA. We look it up the way pip itself would: pip's
own configuration (`pip config list`, which includes PIP_CERT), then the requests
environment variables pip honours.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UsageError
from ..core.files import open_regular

MAX_BUNDLE = 16 * 2**20  # bytes; Debian's whole bundle is about 220 KB
PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


@dataclass(frozen=True)
class HostCA:
    path: Path
    source: str  # where we found it, for the report: e.g. "pip config global.cert"

    def read(self) -> bytes:
        """The bundle's certificates, and nothing else of the file: every cell's build context and
        image gets them, and people attach those to public bugs."""
        return certificates_only(
            read_bounded(self.path, self.source), f"{self.source} ({self.path})"
        )


def read_bounded(path: Path, said: str) -> bytes:
    """A regular file's bytes, at most MAX_BUNDLE of them; a FIFO or device is refused without
    being waited on (opened non-blocking, then checked by its descriptor)."""
    opened = open_regular(path, follow=True)  # the host's own bundle is often a symlink
    if isinstance(opened, str):
        raise UsageError(
            f"{said} names {path}, which cannot be read ({opened})\n"
            "  hint: point it at a CA bundle file"
        )
    fh, info = opened
    with fh:
        if info.st_size > MAX_BUNDLE:
            raise UsageError(
                f"{said} names {path}, {info.st_size:,} bytes: more than a CA bundle "
                f"({MAX_BUNDLE:,} at most)"
            )
        return fh.read(MAX_BUNDLE + 1)


def certificates_only(data: bytes, said: str) -> bytes:
    """The PEM certificate blocks of `data`, one after another. Text between them (the comments
    certifi's bundle has) is dropped; a block of any other kind (a private key) or a file with no
    certificate at all (an environment dump) is refused, naming where it was configured. Each
    block must be base64 of a DER sequence; X.509 itself is not parsed (system bundles hold
    certificates a strict parser refuses, and pip trusts them all the same)."""
    blocks = PEM_BLOCK.findall(data)
    others = sorted({label.decode() for label, _ in blocks if label != b"CERTIFICATE"})
    hint = "\n  hint: point it at a bundle of CA certificates only: it is copied into every cell"
    if others:
        raise UsageError(f"{said} holds {', '.join(others)}, not only certificates{hint}")
    if not blocks:
        raise UsageError(f"{said} holds no PEM certificate{hint}")
    certificates = []
    for number, (_, body) in enumerate(blocks, 1):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        try:
            der = base64.b64decode(b"".join(lines), validate=True)
        except binascii.Error:
            der = b""
        if not der.startswith(b"\x30"):
            raise UsageError(
                f"{said}: certificate {number} is not base64 of a DER certificate{hint}"
            )
        pem = (
            b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
        )
        certificates.append(pem)
    return b"".join(certificates)


def parse_pip_config(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs naming a cert, from `pip config list` output, most specific first."""
    found = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().split(".")[-1] == "cert":
            found.append((key.strip(), value.strip().strip("'\"")))
    # pip's precedence: environment (":env:.") beats config files.
    return sorted(found, key=lambda kv: not kv[0].startswith(":env:"))


PIP_CONFIG_WAIT = 30  # seconds `pip config list` may take (it reads a few small files)


def pip_config_files(python: str = sys.executable) -> list[tuple[str, Path]]:
    """Where pip reads its configuration, as pip documents it (what set each, the path)."""
    home = Path.home()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    dirs = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    named = os.environ.get("PIP_CONFIG_FILE")
    found = [("PIP_CONFIG_FILE", Path(named))] if named else []
    found += [("pip's global config", Path(d) / "pip" / "pip.conf") for d in dirs if d]
    found += [("pip's global config", Path("/etc/pip.conf"))]
    found += [("pip's user config", Path(xdg) / "pip" / "pip.conf")]
    found += [("pip's user config", home / ".pip" / "pip.conf")]
    found += [("pip's site config", Path(sys.prefix) / "pip.conf")]
    return found


def _refuse_odd_pip_config() -> None:
    """pip would block on a FIFO among its config files (and read a device forever): name it
    instead. /dev/null is how one turns the config off, and is fine."""
    for said, path in pip_config_files():
        if str(path) == os.devnull or not os.path.lexists(path):
            continue
        if not path.is_file():  # a FIFO, a device, a folder
            raise UsageError(
                f"{said}: {path} is not a regular file (a FIFO, a device or a folder)\n"
                "  hint: repromatrix asks the host's pip for its CA ('pip config list'); point "
                "the setting at a pip.conf, or at /dev/null"
            )


def detect_host_ca(python: str = sys.executable) -> HostCA | None:
    _refuse_odd_pip_config()
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=PIP_CONFIG_WAIT,
            check=False,
            stdin=subprocess.DEVNULL,
        ).stdout
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"'pip config list' did not answer in {PIP_CONFIG_WAIT} s: the host's pip "
            "configuration cannot be read, so its CA is unknown\n  hint: check PIP_CONFIG_FILE "
            "and pip's config files"
        ) from None
    except OSError:
        out = ""
    candidates = [
        ("PIP_CERT" if k.startswith(":env:") else f"pip config {k}", v)
        for k, v in parse_pip_config(out)
    ]
    candidates += [
        (f"${var}", os.environ[var])
        for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
        if os.environ.get(var)
    ]
    for source, value in candidates:
        path = Path(value).expanduser()
        if path.is_file():
            return HostCA(path=path, source=source)
    return None
