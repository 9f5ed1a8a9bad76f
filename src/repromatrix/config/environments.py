"""The matrix's `environments:`: named reporters' environments, values of the conflicts axis
beside its presets.

    environments:
      io-user:
        doc: tensorflow-io pins tensorflow below the newest     # optional
        requirements: freeze.txt          # or a list of lines; -r/-c includes, relative to here
        constraints: [protobuf<5]         # read by the upgrade (PIP_CONSTRAINT)
        pip_config: |                     # the global pip configuration file
          [global]
          upgrade-strategy = eager
        env: {TF_USE_LEGACY_KERAS: "1"}   # set for the upgrade
        apt: [python3-numpy]              # Debian packages, installed first
        steps: [[python3, -m, pip, --version]]   # argv lists, no shell, as the installing user
        checks: [{name: io, python: "import tensorflow_io"}]   # before and after, as checks:

Each value is data: requirements are written to a file the installer reads, variables and
the configuration file are written by Docker instructions, steps run without a shell. Nothing
that decides the index, the CA, the proxy or repromatrix's own variables may be set here (those
are axes), and nothing that looks like a credential reaches a Dockerfile.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

from ..core.axes import CONFLICT_MODES
from ..core.model import ConflictMode, Target
from .checks import read_checks
from .document import Document, KeyPath, check_keys, mapping, scalar
from .requirements import Line, Requirements, read_file, read_lines

KEYS = ("doc", "requirements", "constraints", "pip_config", "env", "apt", "steps", "checks")
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
# Debian policy: a package name, optionally '=version'
APT_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?")
# What the axes decide (index, CA, proxies, constraints, the installer's place): an environment
# that set them would make the cell something its id does not say.
OWNED_VARIABLES = re.compile(
    r"(REPROMATRIX_.*|PIP_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|NO_INDEX|CERT|CLIENT_CERT|PROXY"
    r"|CONSTRAINT|CONFIG_FILE|BREAK_SYSTEM_PACKAGES)|UV_.*INDEX.*|UV_NATIVE_TLS|SSL_CERT_.*"
    r"|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|(HTTPS?|ALL|NO)_PROXY|PATH|VIRTUAL_ENV|HOME)",
    re.IGNORECASE,
)
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|CREDENTIAL", re.IGNORECASE)
USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s]+@", re.IGNORECASE)
OWNED_PIP_OPTIONS = {
    "index-url": "target.index",
    "extra-index-url": "target.index",
    "find-links": "target.index",
    "no-index": "target.index",
    "cert": "the ca axis",
    "client-cert": "the ca axis",
    "proxy": "the network axis",
    "constraint": "the environment's constraints",
    "trusted-host": "the ca axis",
}


def environments(doc: Document, value: Any, target: Target) -> tuple[tuple[str, ConflictMode], ...]:
    data = mapping(doc, value, ("environments",))
    out = []
    for name, entry in data.items():
        at: KeyPath = ("environments", name)
        if not NAME.fullmatch(name):
            doc.fail(
                at,
                f"{name!r} is not an environment name",
                "lower-case letters, digits, '.', '_' and '-' (it is part of cell ids)",
            )
        if name in CONFLICT_MODES:
            doc.fail(
                at,
                f"{name!r} is a built-in environment",
                f"give yours another name; the built-in ones: {', '.join(CONFLICT_MODES)}",
            )
        out.append((name, _environment(doc, name, mapping(doc, entry, at), at, target)))
    return tuple(out)


def _environment(
    doc: Document, name: str, data: dict[str, Any], at: KeyPath, target: Target
) -> ConflictMode:
    check_keys(doc, data, at, KEYS)
    # The file's name only: a path of the machine that ran it never reaches a report.
    defined_at = f"{Path(doc.path).name}:{doc.lines.get(at, 0)}"
    reqs = _requirements(doc, data.get("requirements"), at + ("requirements",))
    cons = _requirements(doc, data.get("constraints"), at + ("constraints",))
    pinned = [line for line in reqs.requirements if line.name == target.name]
    prior = _prior(doc, pinned, at + ("requirements",))
    others = [line for line in reqs.requirements if line.name != target.name]
    steps = _steps(doc, data.get("steps"), at + ("steps",))
    if steps and target.index.secret:
        doc.fail(
            at + ("steps",),
            "steps run when the image is built, but with a secret index the environment is "
            "installed when the container starts, after them",
            "leave steps out for this target",
        )
    return ConflictMode(
        name=name,
        doc=scalar(doc, data.get("doc", f"the environment defined at {defined_at}"), at + ("doc",)),
        constraints=tuple(line.text for line in (*reqs.constraints, *cons.requirements)),
        # The target's own line is the prior version's pin, which the plan writes with the
        # target's extras.
        requirements=tuple(line.text for line in others),
        origins=tuple(line.where for line in others),
        variables=_variables(doc, data.get("env"), at + ("env",)),
        pip_config=_pip_config(doc, data.get("pip_config"), at + ("pip_config",)),
        apt=_apt(doc, data.get("apt"), at + ("apt",)),
        steps=steps,
        checks=tuple(read_checks(doc, data.get("checks"), at + ("checks",))),
        prior=prior,
        defined_at=defined_at,
        dropped=reqs.dropped + cons.dropped,
    )


def _requirements(doc: Document, value: Any, at: KeyPath) -> Requirements:
    """A file next to the matrix (one text), or the lines themselves (a list)."""
    root = Path(doc.path).parent
    key = ".".join(str(p) for p in at)
    if value is None:
        return Requirements()
    if isinstance(value, list):
        lines = [scalar(doc, item, at + (i,)) for i, item in enumerate(value)]
        first = doc.lines.get(at + (0,), doc.lines.get(at, 1))
        return read_lines(lines, doc.path, first, root, key)
    text = scalar(doc, value, at).strip()
    if "\n" in text or not text:
        doc.fail(at, "must be a file name or a list of lines", "e.g. 'requirements: freeze.txt'")
    if not (root / text).resolve().is_relative_to(root.resolve()):
        doc.fail(
            at,
            f"{text!r} is outside the matrix's folder",
            "copy the file next to the matrix and name it relative to it",
        )
    return read_file(root / text, root, key)


def _prior(doc: Document, pinned: list[Line], at: KeyPath) -> str | None:
    """The target's version the environment pins: the cell's prior version."""
    if not pinned:
        return None
    versions = {line.pinned for line in pinned}
    if len(pinned) > 1 or None in versions:
        where = ", ".join(line.where for line in pinned)
        doc.fail(
            at,
            f"the target is required as {', '.join(line.text for line in pinned)} ({where})",
            "pin it once with '==' (that version is the prior version), or leave it out",
        )
    return pinned[0].pinned


def _variables(doc: Document, value: Any, at: KeyPath) -> tuple[tuple[str, str], ...]:
    data = mapping(doc, value, at)
    out = []
    for name, raw in data.items():
        where = at + (name,)
        if not VARIABLE.fullmatch(name):
            doc.fail(where, f"{name!r} is not a variable name", "letters, digits and '_'")
        if OWNED_VARIABLES.fullmatch(name):
            doc.fail(
                where,
                f"{name} is set by repromatrix from the matrix's axes",
                "use the ca, network or installer axis, or target.index, for what it sets",
            )
        text = scalar(doc, raw, where)
        if SECRET_NAME.search(name) or USERINFO.search(text):
            doc.fail(
                where,
                "looks like a credential, which would be written into the cell's Dockerfile",
                "give credentials through target.index's secret or the proxy's, never here",
            )
        out.append((name, text))
    return tuple(out)


def _pip_config(doc: Document, value: Any, at: KeyPath) -> str:
    if value is None:
        return ""
    text = scalar(doc, value, at, limit=20_000, lines=True)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error as e:
        doc.fail(at, f"is not a pip configuration file ({e.message.splitlines()[0]})", _PIP_HINT)
    for section in parser.sections():
        for option in parser[section]:
            if owner := OWNED_PIP_OPTIONS.get(option.replace("_", "-")):
                doc.fail(at, f"[{section}] {option} is decided by {owner}", "remove the line")
            if USERINFO.search(parser[section][option]):
                doc.fail(
                    at,
                    f"[{section}] {option} holds a credential",
                    "it would be written into the cell's image; remove it",
                )
    return text.rstrip("\n") + "\n"


_PIP_HINT = "write it as pip.conf is written: '[global]' then 'option = value' lines"


def _apt(doc: Document, value: Any, at: KeyPath) -> tuple[str, ...]:
    items = _listed(value)
    out = []
    for i, item in enumerate(items):
        name = scalar(doc, item, at + (i,)).strip()
        if not APT_PACKAGE.fullmatch(name):
            doc.fail(
                at + (i,),
                f"{name!r} is not a Debian package name",
                "e.g. python3-numpy, or python3-numpy=1:1.24.2-1",
            )
        out.append(name)
    return tuple(out)


def _steps(doc: Document, value: Any, at: KeyPath) -> tuple[tuple[str, ...], ...]:
    items = _listed(value)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, list) or not item:
            doc.fail(
                at + (i,),
                "must be a command as a list of words (it runs without a shell)",
                "e.g. '- [python3, -m, pip, config, list]'",
            )
        out.append(tuple(scalar(doc, word, at + (i, j)) for j, word in enumerate(item)))
    return tuple(out)


def _listed(value: Any) -> list[Any]:
    """A list as written, one value as a list of it, nothing as []."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
