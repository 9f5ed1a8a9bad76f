"""Find the CA bundle the host's pip trusts, so cells can trust the same one.

Behind a TLS-intercepting proxy (a corporate CA), the host's pip works only because it is
configured with a bundle holding that CA. We look it up the way pip itself would: pip's
own configuration (`pip config list`, which includes PIP_CERT), then the requests
environment variables pip honours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostCA:
    path: Path
    source: str  # where we found it, for the report: e.g. "pip config global.cert"

    def read(self) -> bytes:
        return self.path.read_bytes()


def parse_pip_config(text: str) -> list[tuple[str, str]]:
    """(key, value) pairs naming a cert, from `pip config list` output, most specific first."""
    found = []
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip().split(".")[-1] == "cert":
            found.append((key.strip(), value.strip().strip("'\"")))
    # pip's precedence: environment (":env:.") beats config files.
    return sorted(found, key=lambda kv: not kv[0].startswith(":env:"))


def detect_host_ca(python: str = sys.executable) -> HostCA | None:
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
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
