"""uv (`uv pip install`): its commands, the variables it reads, and what it prints for each cause.

Every rule was seen in a real container (uv 0.13.9 on Debian bookworm's python3; the captures are
in tests/data/capture/uv/). uv reads neither pip.conf nor `PIP_*`: its index, CA and constraints
come from its own variables, so a cell whose CA is only in pip's configuration fails under uv
(`invalid peer certificate: UnknownIssuer`). It installs into the active virtual environment
(VIRTUAL_ENV) and needs `--system` for any other interpreter; it has no `--user`.
"""

from __future__ import annotations

import re
import shlex

from ..core.outcomes import Outcome
from ..core.resolution import Resolution, uv_environment, uv_options, uv_platform
from .interface import Installer, Rule, Variables
from .pip import REMOVED
from .uv_remedies import CATALOGUE

# uv fetches the index page once and reports what failed in a chain of `cause:` lines; this is
# the head of that chain, kept as the visible symptom.
FAILED_TO_FETCH = r"^error: Failed to fetch|^error: Request failed after"
# uv does not print while it backtracks; nothing it says means it.
NEVER = r"(?!)"

RULES: tuple[Rule, ...] = (
    Rule(Outcome.NO_SPACE, r"No space left on device \(os error 28\)"),
    Rule(Outcome.USER_UNSUPPORTED, r"pip's `--user` is unsupported"),
    Rule(
        Outcome.EXTERNALLY_MANAGED,
        r"The interpreter at .* is externally managed",
        (r"Virtual environments were not considered due to the `--system` flag",),
    ),
    Rule(
        Outcome.PERMISSION_DENIED,
        r"Permission denied \(os error 13\)",
        (r"^error: Failed to install",),
    ),
    # The package's own build says it was removed (a tombstone sdist): its words, not uv's.
    Rule(Outcome.REMOVED_PACKAGE, REMOVED, (r"(?i)please (?:install|use) .* instead",)),
    Rule(
        Outcome.HASH_MISMATCH,
        r"Hash mismatch for",
        (r"^error: Failed to download", r"^\s*sha256:"),
    ),
    # Before the resolver's own failure, which it is worded as: no file of the version this
    # interpreter can use. uv names the tags it found in a hint.
    Rule(
        Outcome.NO_MATCHING_DISTRIBUTION,
        # 'tensorflow==2.10.0 has no wheels ...'; 'all versions of tensorflow have no wheels ...'
        r"ha(?:s|ve) no wheels with a matching (?:Python|Python ABI|platform) tag|"
        r"doesn't have a source distribution or wheel for the current platform|"
        r"there (?:is|are) no versions? of",
        (r"^hint: You require", r"^hint: "),
    ),
    Rule(
        Outcome.RESOLUTION_IMPOSSIBLE,
        r"No solution found when resolving dependencies",
        (r"we can conclude that your requirements are unsatisfiable",),
    ),
    # Through a proxy, uv opens a tunnel (CONNECT) and says what became of it.
    Rule(
        Outcome.PROXY_AUTH_REQUIRED,
        r"tunnel error: proxy authorization required",
        (FAILED_TO_FETCH,),
    ),
    Rule(
        Outcome.PROXY_ERROR,
        r"tunnel error: failed to create underlying connection|tunnel error: ",
        (FAILED_TO_FETCH, r"Connection refused|tcp connect error|dns error"),
    ),
    Rule(
        Outcome.SSL_ERROR,
        r"invalid peer certificate|certificate verify failed",
        (FAILED_TO_FETCH, r"^hint: Consider enabling use of system TLS certificates"),
    ),
    Rule(
        Outcome.NETWORK_ERROR,
        r"tcp connect error|Connection refused \(os error 111\)|dns error|failed to lookup "
        r"address|Connection reset by peer",
        (FAILED_TO_FETCH,),
    ),
)
# `uv pip check`: "The package `tensorflow` requires `protobuf>=3.20.3,...,<5.0.0.dev0`, but
# `5.28.0` is installed"
BROKEN = re.compile(r"^The package `(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)` requires ")


class Uv(Installer):
    name = "uv"
    reads_pip_config = False
    variables = Variables(
        index_url="UV_INDEX_URL",
        extra_index_url="UV_EXTRA_INDEX_URL",
        cert="SSL_CERT_FILE",  # uv's CA bundle: the variable, not pip's configuration
        constraint="UV_CONSTRAINT",
        no_input="",  # uv never prompts: a missing credential is an error
        break_system_packages="UV_BREAK_SYSTEM_PACKAGES",
        quiet=(("UV_NO_PROGRESS", "1"),),  # no progress bars in the evidence
    )
    rules = RULES
    removed = REMOVED
    backtracking = NEVER
    no_match = FAILED_TO_FETCH
    cached = None
    installed = r"^\+ [A-Za-z0-9]"  # " + tensorflow==2.21.0" (stripped), one line a package
    broken = BROKEN
    remedies = CATALOGUE
    index_wheels = frozenset()
    # Damaging the unpacked copy in its cache that it installs again unchecked (cache: corrupted)
    fragments = ("corrupt_uv_cache.py",)
    cache_damager = "corrupt_uv_cache.py"
    standalone = "uv"
    uploaded_before = ("UV_EXCLUDE_NEWER", "")  # --exclude-newer: every uv there is
    insecure_host = "UV_INSECURE_HOST"
    no_dry_run = r"unexpected argument '--dry-run'"  # clap's words, in a uv without it

    def program(self, module: bool) -> str:
        # One binary: users of uv do not run it as `python3 -m uv` to pick an interpreter.
        return "uv pip"

    def install(self, program: str, requirement: str, *, venv: str | None) -> str:
        where = " --system" if venv is None else ""
        return f"{program} install{where} {shlex.quote(requirement)}"

    def install_file(
        self, program: str, path: str, *, names: tuple[str, ...], venv: str | None
    ) -> str:
        where = " --system" if venv is None else ""
        return f"{program} install{where} -r {shlex.quote(path)}"

    def upgrade(
        self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None
    ) -> str:
        # `--user` is kept as the user who switched from pip types it: uv refuses it.
        options = ["--system"] * (venv is None) + ["--user"] * user
        options += ["--prerelease", "allow"] * pre + ["--upgrade"]
        return f"{program} install {' '.join(options)} {shlex.quote(requirement)}"

    def dry_run(self, upgrade: str) -> str:
        return f"{upgrade} --dry-run"

    def resolve(self, program: str, requirement: str, resolution: Resolution, *, pre: bool) -> str:
        # uv evaluates markers for the --python-platform it is given
        if not uv_platform(resolution):
            return ""
        options = uv_options(resolution) + ["--prerelease", "allow"] * pre
        return f"{program} install {' '.join(options)} {shlex.quote(requirement)}"

    def resolve_environment(self, resolution: Resolution) -> tuple[tuple[str, str], ...]:
        return uv_environment(resolution)

    def version_of(self, said: str) -> str:
        # 'uv 0.13.9 (x86_64-unknown-linux-gnu)'
        match = re.match(r"uv (\S+)", said.strip())
        return match.group(1) if match else ""

    def pinned_self(self, version: str) -> str:
        return f"uv=={version}"

    def cache_dir(self, home: str) -> str:
        return f"{home}/.cache/uv"

    def probes(self) -> dict[str, list[str]]:
        # uv has no command that lists an index's versions or the tags it accepts: the scenario
        # then records that it could not ask (no held-back dry run, no tags).
        return {
            "version": ["uv", "--version"],
            "check": ["uv", "pip", "check", "--python", "python3"],
        }
