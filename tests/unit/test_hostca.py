"""The host's CA bundle reaches every cell's build context and image, which people attach to
public bugs: only its certificates are copied, and a file that is not a CA bundle is refused,
naming the setting that pointed there."""

from __future__ import annotations

import os

import pytest

from repromatrix.core.errors import UsageError
from repromatrix.infra.hostca import HostCA
from repromatrix.infra.tlsca import RunCA


@pytest.fixture(scope="module")
def two_certs() -> tuple[bytes, bytes]:
    return RunCA("a").cert_pem, RunCA("b").cert_pem


def bundle(tmp_path, data: bytes, name: str = "bundle.pem") -> HostCA:
    path = tmp_path / name
    path.write_bytes(data)
    return HostCA(path=path, source="PIP_CERT")


def test_certifi_style_comments_are_dropped_and_certificates_kept(tmp_path, two_certs):
    a, b = two_certs
    data = b"# Issuer: CN=one\n# Label: \"one\"\n" + a + b"\n# Issuer: CN=two\n" + b.replace(b"\n", b"\r\n")
    assert bundle(tmp_path, data).read() == a + b  # CRLF normalised, comments gone


def test_a_bundle_of_certificates_only_is_copied_as_it_is(tmp_path, two_certs):
    a, b = two_certs
    assert bundle(tmp_path, a + b).read() == a + b


@pytest.mark.parametrize("extra, said", [
    (b"-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n", "holds PRIVATE KEY, not only certificates"),
    (b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n", "holds EC PRIVATE KEY"),
])
def test_a_key_beside_the_certificates_is_refused_not_copied(tmp_path, two_certs, extra, said):
    with pytest.raises(UsageError, match=said) as caught:
        bundle(tmp_path, two_certs[0] + extra).read()
    assert "PIP_CERT" in str(caught.value) and "MIGHAgEA" not in str(caught.value)


def test_an_environment_dump_is_no_bundle(tmp_path):
    # What PIP_CERT=/proc/self/environ would give: a token, and no certificate.
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        bundle(tmp_path, b"HOME=/root\x00API_TOKEN=s3cr3t\x00").read()
    with pytest.raises(UsageError, match="holds no PEM certificate"):
        HostCA(path=__import__("pathlib").Path("/proc/self/environ"), source="PIP_CERT").read()


def test_a_block_that_is_not_base64_der_is_refused(tmp_path, two_certs):
    bad = b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
    with pytest.raises(UsageError, match="certificate 2 is not base64 of a DER certificate"):
        bundle(tmp_path, two_certs[0] + bad).read()


def test_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        HostCA(path=fifo, source="$REQUESTS_CA_BUNDLE").read()


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "sparse.pem"
    with open(path, "wb") as fh:
        fh.truncate(2**31)  # sparse: 2 GiB apparent, nothing on disk
    with pytest.raises(UsageError, match="more than a CA bundle"):
        HostCA(path=path, source="pip config global.cert").read()


def test_a_fifo_among_pips_config_files_is_named_not_waited_on(tmp_path, monkeypatch):
    import os
    import time

    from repromatrix.core.errors import UsageError
    from repromatrix.infra.hostca import detect_host_ca

    fifo = tmp_path / "pip.conf"
    os.mkfifo(fifo)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(fifo))
    began = time.monotonic()
    with pytest.raises(UsageError, match=rf"PIP_CONFIG_FILE: {fifo} is not a regular file"):
        detect_host_ca()
    assert time.monotonic() - began < 5
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # how one turns pip's config off: fine
    detect_host_ca()
