"""Index credentials: resolved when a run starts, handed to cells as a secret file, redacted
everywhere.

A private index is written `https://<user>:<${TOKEN_VARIABLE}>@<host>/simple` in matrix.yaml (no
brackets) (the token comes from the environment, so the matrix can be committed); `index:
local-auth` makes the local index demand credentials made for the run. Either way the credentials
never reach a Dockerfile, an image layer or its history, a log, results.json or a report: the cell's
image reads only the URL without them, and whatever needs the index (the prior version, the upgrade)
runs when the container starts, with the full URL read from a file mounted read-only at
contract.INDEX_SECRET_PATH. Every log we keep is passed through `redact`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from ..core.errors import UsageError
from ..core.model import IndexSpec

LOCAL_USER = "repromatrix"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class IndexCredentials:
    user: str = field(repr=False)
    password: str = field(repr=False)

    def url(self, public: str) -> str:
        """`public` with the credentials in it (for the secret file and the host's own requests
        only)."""
        scheme, sep, rest = public.partition("://")
        userinfo = quote(self.user, safe="") + (
            ":" + quote(self.password, safe="") if self.password else ""
        )
        return f"{scheme}{sep}{userinfo}@{rest}"

    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()

    def secrets(self) -> tuple[str, ...]:
        """Every spelling of the credentials a log might show, longest first."""
        # With a password the user name is just a name; without one it is the token (https://<token>@<host>).
        raw = [f"{self.user}:{self.password}", self.password] if self.password else [self.user]
        spelled = (
            raw + [quote(t, safe="") for t in raw] + [base64.b64encode(raw[0].encode()).decode()]
        )
        return tuple(sorted({t for t in spelled if len(t) >= 4}, key=len, reverse=True))


def resolve(index: IndexSpec, environ: Mapping[str, str] = os.environ) -> IndexCredentials | None:
    """The run's credentials: the URL's userinfo with ${VARIABLES} expanded, or made for
    local-auth."""
    if index.auth:  # made per run; REPROMATRIX_LOCAL_INDEX_TOKEN fixes it (tests scan for it)
        return IndexCredentials(
            LOCAL_USER, environ.get("REPROMATRIX_LOCAL_INDEX_TOKEN") or secrets.token_urlsafe(24)
        )
    if not index.credentials:
        return None

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise UsageError(
                f"target.index: the credentials name the environment variable {name}, which is "
                f"not set\n  hint: export {name}=... (the token for {index.url}) before the run"
            )
        return quote(environ[name], safe="")

    userinfo = _VARIABLE.sub(expand, index.credentials)
    user, _, password = userinfo.partition(":")
    return IndexCredentials(unquote(user), unquote(password))


def redact(text: str, secret_values: tuple[str, ...]) -> str:
    for value in secret_values:
        text = text.replace(value, "<redacted>")
    return text


@contextlib.contextmanager
def secret_file(name: str, content: str) -> Iterator[Path]:
    """A file only root can read, for a read-only bind mount; removed with its folder afterwards."""
    with tempfile.TemporaryDirectory(prefix="repromatrix-secret-") as tmp:
        os.chmod(tmp, 0o700)
        path = Path(tmp) / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        # The cell's users read it through the mount; the folder around it stays closed.
        os.chmod(path, 0o644)
        yield path
