"""pip: its commands, the variables it reads, and what it prints for each cause, by version
(../shared/reference/pip-failure-field-guide.md; every rule was seen in a real container)."""

from __future__ import annotations

import re
import shlex

from ..cell.contract import pip_version_of
from ..core.outcomes import Outcome
from ..core.resolution import RESOLVE_FOR, Resolution, pip_options
from .interface import Installer, Rule, Variables
from .pip_remedies import CATALOGUE, LOCAL_INDEX_WHEELS

# What a tombstone release says when it is built (tensorflow-gpu 2.12: 'The "tensorflow-gpu" package
# has been removed! Please install "tensorflow" instead.'; sklearn: 'The 'sklearn' PyPI package is
# deprecated, use 'scikit-learn' rather than 'sklearn'').
REMOVED = (
    r"package has been removed|has been renamed|PyPI package is deprecated|"
    r"is deprecated and has been removed|"
    r"(?i:please install [\"'`]?[\w.-]+[\"'`]? instead)"
)
# What pip's resolver says as it rejects the 1st, 8th and 13th candidate of one project (its
# reporter).
BACKTRACKING = (
    r"pip is looking at multiple versions of|pip is still looking at multiple versions of|"
    r"This is taking longer than usual"
)
# pip reports a failure to read the index page only at debug level, then says this: the
# network rules below name the real cause and keep this line as the visible symptom.
NO_MATCH = r"No matching distribution found for"
# `pip check` lines naming the library whose requirement is broken:
# "googleapis-common-protos 1.63.0 has requirement protobuf<5.0.0.dev0,>=3.19.5, but you have
# protobuf 6.31.1."
#   "scipy 1.11.4 requires numpy<1.28.0,>=1.21.6, but you have numpy 2.0.0."
BROKEN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*) \S+ (?:has requirement|requires) ")
# The tags pip accepts, compactly: interpreter-abi pairs and platforms, in pip's order of
# preference (a tag is accepted when its pair and its platform are; 'any' goes with abi 'none'
# only). Run by the cell's python3 as the upgrader; pip's internals, as no public API says it.
TAGS = """
import json, sys
# A resolution's platform (JSON: version, platforms, impl, abis), as pip computes its tags from
# --python-version, --platform, --implementation and --abi; none: this interpreter's own.
target = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
try:
    from pip._internal.utils.compatibility_tags import get_supported
    supported = [(t.interpreter, t.abi, t.platform) for t in get_supported(**target)]
except ImportError:  # pip < 20
    from pip._internal.pep425tags import get_supported
    supported = list(get_supported())
pairs, platforms = [], []
for interpreter, abi, platform in supported:
    if interpreter + "-" + abi not in pairs:
        pairs.append(interpreter + "-" + abi)
    if platform not in platforms:
        platforms.append(platform)
print(json.dumps({"count": len(supported), "pairs": pairs, "platforms": platforms}))
"""

RULES: tuple[Rule, ...] = (
    # First: a full disk is the cause whatever else pip was doing (here, backtracking over
    # releases).
    Rule(Outcome.NO_SPACE, r"\[Errno 28\] No space left on device", (r"^Downloading ",)),
    Rule(
        Outcome.EXTERNALLY_MANAGED,
        r"externally-managed-environment",
        (r"This environment is externally managed",),
    ),
    Rule(
        Outcome.USER_IN_VENV,
        r"Can not perform a '--user' install\. User site-packages are not visible",
    ),
    # pip must replace a dependency whose files it cannot know: a distutils install (an egg-info
    # file) or a dist-info without RECORD (what OS packages leave); the hint names the installer.
    Rule(
        Outcome.CANNOT_UNINSTALL,
        r"Cannot uninstall|uninstall-no-record-file|uninstall-distutils-installed-package",
        (
            r"^Found existing installation",
            r"It is a distutils installed project",
            r"RECORD file not found|no RECORD file was found",
            r"(?i)^hint: The package was installed by",
        ),
    ),
    # A tombstone: the name's newest release is an sdist whose build fails on purpose, saying what
    # to install instead. Before the generic build failure it would otherwise look like.
    Rule(
        Outcome.REMOVED_PACKAGE,
        REMOVED,
        (
            r"(?i)please (?:install|use) .* instead",
            REMOVED,
            r"did not run successfully|Command errored out|metadata-generation-failed",
            r"^Collecting |^Downloading ",
        ),
    ),
    Rule(Outcome.OUT_OF_MEMORY, r"\bMemoryError\b|Cannot allocate memory", (r"^Downloading ",)),
    # pip ≤20.3 says EnvironmentError, ≥21.0 OSError; the hint differs inside a venv.
    Rule(
        Outcome.PERMISSION_DENIED,
        r"\[Errno 13\] Permission denied",
        (r"Consider using the `--user` option", r"^Check the permissions"),
    ),
    Rule(
        Outcome.HASH_MISMATCH,
        r"THESE PACKAGES DO NOT MATCH THE HASHES",
        (r"^Using cached ", r"Expected sha256", r"^Got "),
    ),
    Rule(
        Outcome.CORRUPT_CACHE,
        r"Wheel '.*' located at .* is invalid|BadZipFile|File is not a zip file",
        (r"^Using cached ",),
    ),
    Rule(
        Outcome.RESOLUTION_IMPOSSIBLE,
        r"ResolutionImpossible|these package versions have conflicting dependencies",
        (r"^ERROR: Cannot install", r"The user requested"),
    ),
    Rule(Outcome.PROXY_AUTH_REQUIRED, r"407 Proxy Authentication Required", (NO_MATCH,)),
    # Certificate failures only: a TLS connection cut midway (SSLEOFError) is a network fault.
    Rule(
        Outcome.SSL_ERROR,
        r"CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError|certificate verify failed",
        (r"There was a problem confirming the ssl certificate", NO_MATCH),
    ),
    Rule(
        Outcome.PROXY_ERROR,
        r"ProxyError\(|Cannot connect to proxy|Failed to connect to proxy",
        (NO_MATCH,),
    ),
    # A link that stalls: the server stopped sending and pip's read timeout (15 s) ran out.
    Rule(
        Outcome.READ_TIMEOUT,
        r"ReadTimeoutError|Read timed out|The read operation timed out|Connection timed out "
        r"while downloading|didn't respond within",
        (r"^Downloading ", NO_MATCH, r"^ERROR: Exception:"),
    ),
    Rule(
        Outcome.NETWORK_ERROR,
        r"NewConnectionError\(|Temporary failure in name resolution|Name or service not "
        r"known|ConnectTimeoutError|Connection broken|IncompleteRead|"
        r"Connection reset by peer|RemoteDisconnected|SSLEOFError|EOF occurred in violation of "
        r"protocol|"
        r"UNEXPECTED_EOF_WHILE_READING|not enough bytes were received",
        (NO_MATCH, r"^ERROR: Exception:"),
    ),
    Rule(
        Outcome.NO_MATCHING_DISTRIBUTION,
        NO_MATCH,
        (
            r"Could not find a version that satisfies the requirement",
            r"Ignored the following versions",
        ),
    ),
)


class Pip(Installer):
    name = "pip"
    reads_pip_config = True
    variables = Variables(
        index_url="PIP_INDEX_URL",
        extra_index_url="PIP_EXTRA_INDEX_URL",
        cert="PIP_CERT",
        constraint="PIP_CONSTRAINT",
        no_input="PIP_NO_INPUT",
        # On PEP 668 systems users got their packages past the marker; pip versions without the
        # option ignore the variable, so one spelling fits every interpreter.
        break_system_packages="PIP_BREAK_SYSTEM_PACKAGES",
        quiet=(("PIP_DISABLE_PIP_VERSION_CHECK", "1"),),
    )
    rules = RULES
    removed = REMOVED
    backtracking = BACKTRACKING
    no_match = NO_MATCH
    # pip 26.0's --uploaded-prior-to (pypa/pip#13520); it reads PEP 700's upload-time, which
    # only the JSON pages carry. Older pips ignore the variable.
    uploaded_before = ("PIP_UPLOADED_PRIOR_TO", "26.0")
    insecure_host = "PIP_TRUSTED_HOST"
    cached = r"(?m)^\s*Using cached "
    installed = r"^Successfully installed"
    broken = BROKEN
    remedies = CATALOGUE
    index_wheels = LOCAL_INDEX_WHEELS
    # Damaging the cache it re-reads (cache: corrupted); the official images' pip (interpreters)
    fragments = ("corrupt_cache.py", "align_pip.py")
    cache_damager = "corrupt_cache.py"
    no_dry_run = r"no such option: --dry-run"  # pip before 22.2 (optparse's words)

    def program(self, module: bool) -> str:
        return "python3 -m pip" if module else "pip"

    def install(self, program: str, requirement: str, *, venv: str | None) -> str:
        return f"{program} install {shlex.quote(requirement)}"

    def install_file(
        self, program: str, path: str, *, names: tuple[str, ...], venv: str | None
    ) -> str:
        return f"{program} install -r {shlex.quote(path)}"

    def upgrade(
        self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None
    ) -> str:  # pip finds a virtual environment by the python it runs on: `venv` says nothing
        options = ["--user"] * user + ["--pre"] * pre + ["--upgrade"]
        return f"{program} install {' '.join(options)} {shlex.quote(requirement)}"

    def dry_run(self, upgrade: str) -> str:
        # Without --report: pip skips PEP 668's check for `--dry-run --report` only, and the
        # upgrade's own refusal (externally-managed) must stay the dry run's
        return f"{upgrade} --dry-run"

    def resolve(self, program: str, requirement: str, resolution: Resolution, *, pre: bool) -> str:
        # pip evaluates environment markers as on the machine it runs on (pypa/pip#11664):
        # resolve_for.py runs this pip with the platform's (a Windows-only requirement, such as
        # tensorflow-intel for TensorFlow 2.18 on Windows, is otherwise left out)
        options = pip_options(resolution) + ["--pre"] * pre
        words = " ".join(shlex.quote(o) for o in options)
        return f"python3 {RESOLVE_FOR} install {words} {shlex.quote(requirement)}"

    def resolve_probes(self, resolution: Resolution, *, pre: bool) -> dict[str, list[str]]:
        options = pip_options(resolution) + ["--pre"] * pre
        # `pip index versions` takes the platform's options, not the install's
        target = options[options.index("--platform") : options.index("--target")]
        wrapper = ["python3", RESOLVE_FOR]
        return {
            "versions": [*wrapper, "index", "versions", *target, *["--pre"] * pre],
            "dry_run": [*wrapper, "install", *options],
        }

    def version_of(self, said: str) -> str:
        return pip_version_of(said)

    def pinned_self(self, version: str) -> str:
        return f"pip=={version}"

    def cache_dir(self, home: str) -> str:
        return f"{home}/.cache/pip"

    def probes(self) -> dict[str, list[str]]:
        pip = ["python3", "-m", "pip"]
        return {
            "version": [*pip, "--version"],
            "check": [*pip, "check"],
            "versions": [*pip, "index", "versions"],
            "dry_run": [*pip, "install", "--dry-run"],
            "tags": ["python3", "-c", TAGS],
        }
