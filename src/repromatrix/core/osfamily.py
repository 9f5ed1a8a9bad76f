"""OS families: how an image of one installs its python3, adds a user and trusts a CA.

A cell's image is named by the `os` axis; its family follows from the image's name (debian,
ubuntu and the python images are Debian's; alpine is Alpine's; Red Hat's and its rebuilds use
dnf, their older releases yum). An image of a name none of them claims gets a setup that asks
the image which package manager it has, so any Linux image with one of them works.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class OsFamily:
    name: str
    doc: str
    # The shell command that installs the OS's python3 with pip and venv
    python: str
    # The shell command that adds the non-root user `{user}` with a home directory
    add_user: str
    # Where a CA certificate goes to be in the OS's trust store, and what then updates the store
    ca_dir: str
    ca_update: str
    # The package manager's packages, when a reporter's environment lists some (apt: ...)
    packages: str = ""  # '' where `apt:` in an environment means nothing (not apt)

    def user(self, name: str) -> str:
        return self.add_user.format(user=name)


_APT = (
    "apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y "
    "--no-install-recommends"
)
APT = OsFamily(
    "apt",
    "Debian and Ubuntu",
    f"{_APT} python3 python3-pip python3-venv \\\n && rm -rf /var/lib/apt/lists/*",
    "useradd --create-home {user}",
    "/usr/local/share/ca-certificates",
    "update-ca-certificates",
    packages="apt",
)
DNF = OsFamily(
    "dnf",
    "Red Hat Enterprise Linux and its rebuilds (Rocky, Alma), Fedora, Amazon Linux 2023",
    "dnf install -y python3 python3-pip shadow-utils ca-certificates && dnf clean all",
    "useradd --create-home {user}",
    "/etc/pki/ca-trust/source/anchors",
    "update-ca-trust",
)
YUM = OsFamily(
    "yum",
    "CentOS 7, Amazon Linux 2",
    "yum install -y python3 python3-pip shadow-utils ca-certificates && yum clean all",
    "useradd --create-home {user}",
    "/etc/pki/ca-trust/source/anchors",
    "update-ca-trust",
)
APK = OsFamily(
    "apk",
    "Alpine (musl libc)",
    "apk add --no-cache python3 py3-pip ca-certificates",
    "adduser -D {user}",
    "/usr/local/share/ca-certificates",
    "update-ca-certificates",
)
# An image no name above claims: its setup asks which package manager it has.
DETECT = OsFamily(
    "detect",
    "any other Linux image: its package manager, found when the setup runs",
    "if command -v apt-get >/dev/null; then "
    f"{_APT} python3 python3-pip python3-venv && rm -rf /var/lib/apt/lists/*; "
    "elif command -v dnf >/dev/null; then dnf install -y python3 python3-pip && dnf clean all; "
    "elif command -v yum >/dev/null; then yum install -y python3 python3-pip && yum clean all; "
    "elif command -v apk >/dev/null; then apk add --no-cache python3 py3-pip; "
    "else echo 'no apt-get, dnf, yum or apk in this image' >&2; exit 1; fi",
    "useradd --create-home {user} 2>/dev/null || adduser -D {user}",
    "/usr/local/share/ca-certificates",
    "update-ca-certificates",
    packages="apt",  # an environment's apt packages are tried: the image may well be Debian's
)
FAMILIES = {f.name: f for f in (APT, DNF, YUM, APK, DETECT)}

_BY_NAME = (
    (re.compile(r"debian|ubuntu|python|buildpack-deps"), APT),
    (re.compile(r"alpine"), APK),
    (re.compile(r"centos"), YUM),
    (re.compile(r"rockylinux|almalinux|fedora|oraclelinux|ubi\d*|rhel\d*"), DNF),
)


def family_of(image: str) -> OsFamily:
    """The family of an image, by its name: the last component of its repository, without a
    registry host, namespace or tag (localhost:5000/debian:bookworm is Debian's)."""
    repository = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
    if repository == "amazonlinux":
        return YUM if image.endswith(":2") else DNF
    for pattern, family in _BY_NAME:
        if pattern.fullmatch(repository):
            return family
    return DETECT
