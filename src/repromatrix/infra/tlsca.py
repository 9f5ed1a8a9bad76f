"""A throw-away certificate authority per run, for the local index's HTTPS.

Real indexes are HTTPS: proxies see CONNECT tunnels, pip reports proxy and certificate
failures in its own words. The local index copies that, with a CA made for the run; offline
it stands in for the corporate CA (cells with `ca: host` trust it, `ca: none` cells do not).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..core.files import open_regular

VALID = dt.timedelta(days=2)
KEPT_VALID = dt.timedelta(days=3650)


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "repromatrix"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class RunCA:
    def __init__(self, run_id: str, valid: dt.timedelta = VALID) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        name = _name(f"repromatrix run {run_id} CA")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + valid)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @classmethod
    def kept(cls, path: Path, name: str) -> RunCA:
        """A CA kept on this machine across runs (created on first use, key readable by its owner
        only).

        Cells trust the CA in their setup, so a CA made per run would make every cached setup
        stale; a kept one lets the setup cache work for the local index and the interceptor.
        """
        if (found := cls._found(path)) is not None:
            return found
        ca = cls(name, valid=KEPT_VALID)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as fh:  # mkstemp's 0600: the key stays its owner's
            fh.write(ca.key_pem() + ca.cert_pem)
        os.replace(tmp, path)
        return ca

    @classmethod
    def _found(cls, path: Path) -> RunCA | None:
        """The kept CA, if the file is one this repromatrix made: a regular file of its own user,
        mode 0600, read without blocking (a FIFO is not waited on), whose key is the
        certificate's, and good for a month more. Anything else is replaced, never trusted."""
        opened = open_regular(path)
        if isinstance(opened, str):
            return None  # none yet (or a symlink, a FIFO): make one
        fh, info = opened
        with fh:
            ours = info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o600
            if not ours or info.st_size > 2**16:
                return None
            data = fh.read()
        try:
            ca = cls.__new__(cls)
            ca.key = serialization.load_pem_private_key(data, password=None)  # type: ignore[assignment]
            ca.cert = x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE") :])
        except ValueError:
            return None
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if ca.cert.public_key().public_bytes(*raw) != ca.key.public_key().public_bytes(*raw):
            return None  # a certificate that is not the key's: not ours
        left = ca.cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)
        return ca if left > dt.timedelta(days=30) else None

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return _pem(self.key)

    def issue(self, names: list[str], ips: tuple[str, ...] = ()) -> Issued:
        """A server certificate for the given DNS names and IP addresses."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.timezone.utc)
        alt = [x509.DNSName(n) for n in names] + [
            x509.IPAddress(ipaddress.ip_address(i)) for i in ips
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + VALID)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _pem(key))
