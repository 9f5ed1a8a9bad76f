"""Index credentials: resolved from the environment at run time, redacted in every spelling."""

from __future__ import annotations

import os
import stat

import pytest

from repromatrix.core.errors import UsageError
from repromatrix.core.model import IndexSpec
from repromatrix.infra.credentials import IndexCredentials, redact, resolve, secret_file
from tests.support import with_credentials


def test_variables_in_the_userinfo_come_from_the_environment():
    spec = IndexSpec(kind="url", url="https://idx.example/simple/", credentials="ci:${ART_TOKEN}")
    creds = resolve(spec, {"ART_TOKEN": "t0k/en:@x"})
    assert (creds.user, creds.password) == ("ci", "t0k/en:@x")
    assert creds.url(spec.url) == with_credentials("ci:t0k%2Fen%3A%40x", "idx.example/simple/")
    with pytest.raises(UsageError, match="name the environment variable ART_TOKEN, which is not set"):
        resolve(spec, {})


def test_no_credentials_and_local_auth():
    assert resolve(IndexSpec(kind="url", url="https://idx.example/simple/"), {}) is None
    made = resolve(IndexSpec(kind="local", auth=True), {})
    assert made.user == "repromatrix" and len(made.password) >= 24
    assert resolve(IndexSpec(kind="local", auth=True), {}).password != made.password  # one per run


@pytest.mark.parametrize("user, password, hidden, kept", [
    ("ci", "s3cr3t/t0ken", ["s3cr3t/t0ken", "s3cr3t%2Ft0ken", "ci:s3cr3t/t0ken"], "ci"),
    ("glpat-TOKENONLY123", "", ["glpat-TOKENONLY123"], "idx.example"),
])
def test_every_spelling_is_redacted(user, password, hidden, kept):
    import base64

    creds = IndexCredentials(user, password)
    log = " ".join(hidden + [creds.url("https://idx.example/s"), creds.authorization(),
                             base64.b64encode(f"{user}:{password}".encode()).decode()])
    cleaned = redact(log, creds.secrets())
    assert all(h not in cleaned for h in hidden + [creds.authorization().split()[1]]) and kept in cleaned


def test_the_secret_file_is_gone_afterwards_and_its_folder_closed():
    url = with_credentials("ci:x", "idx.example/") + "\n"
    with secret_file("index-url", url) as path:
        assert path.read_text() == url
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert not path.exists() and not path.parent.exists()
