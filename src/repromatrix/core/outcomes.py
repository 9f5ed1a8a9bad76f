"""The stable outcome ids: part of the results contract that CI and users key on."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .registry import complete


class Outcome(str, enum.Enum):
    UPGRADED = "upgraded"
    RESOLVED = "resolved"  # a platform that cannot run here: what the installer would take there
    NOT_UPGRADED = "not-upgraded"
    UPGRADED_INCONSISTENT = "upgraded-inconsistent"
    IMPORT_ERROR = "import-error"
    CHECK_FAILED = "check-failed"
    SPLIT_INSTALL = "split-install"
    SHARED_DIRECTORY = "shared-directory"
    WRONG_INTERPRETER = "wrong-interpreter"
    HELD_BACK = "held-back"
    EXTERNALLY_MANAGED = "externally-managed"
    USER_IN_VENV = "user-in-venv"
    USER_UNSUPPORTED = "user-unsupported"
    PERMISSION_DENIED = "permission-denied"
    CANNOT_UNINSTALL = "cannot-uninstall"
    REMOVED_PACKAGE = "removed-package"
    RESOLUTION_IMPOSSIBLE = "resolution-impossible"
    RESOLVER_BACKTRACKING = "resolver-backtracking"
    NO_SPACE = "no-space"
    OUT_OF_MEMORY = "out-of-memory"
    HASH_MISMATCH = "hash-mismatch"
    CORRUPT_CACHE = "corrupt-cache"
    DAMAGED_INSTALL = "damaged-install"
    PROXY_AUTH_REQUIRED = "proxy-auth-required"
    PROXY_ERROR = "proxy-error"
    SSL_ERROR = "ssl-error"
    READ_TIMEOUT = "read-timeout"
    NETWORK_ERROR = "network-error"
    NO_MATCHING_DISTRIBUTION = "no-matching-distribution"
    NO_SUCH_PROJECT = "no-such-project"
    UNSUPPORTED_PLATFORM = "unsupported-platform"
    SETUP_FAILED = "setup-failed"
    UNKNOWN_FAILURE = "unknown-failure"
    INFRA_ERROR = "infra-error"
    INTERRUPTED = "interrupted"
    # `run --triage`: resolved in the cell's own environment, and the install decides the rest
    NEEDS_INSTALL = "needs-install"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class OutcomeInfo:
    summary: str
    colour: str  # background colour in the HTML report
    failed: bool  # did the user's upgrade fail? (infra errors are ours, not the user's)
    detail: str = ""  # the docs' meaning: the summary with its cases and examples (markdown)
    evidence: str = ""  # the docs' typical evidence: what the installer prints (markdown)


OUTCOME_INFO: dict[Outcome, OutcomeInfo] = {
    Outcome.UPGRADED: OutcomeInfo(
        "The installer exited 0, the package is at a newer version and imports.",
        "#2e9e4f",
        False,
        detail="pip exited 0; the package is at a newer version and imports",
        evidence="`Successfully installed ... tensorflow-2.21.0`",
    ),
    Outcome.RESOLVED: OutcomeInfo(
        "Resolved for a platform no container here runs (macOS, Windows, musl, or a Linux "
        "architecture without emulation): the installer's dry run with that platform's wheel tags "
        "and markers says which release it would take. Nothing was installed, imported or "
        "checked.",
        "#2a7f9e",
        False,
        detail=(
            "a platform no container here runs (`platform:` other than `linux`): the installer's"
            " dry run with that platform's wheel tags and markers says what it would take; "
            "nothing was installed, imported or checked, and `after` stays empty"
        ),
        evidence=(
            "`resolved for macOS 14 on x86_64, CPython 3.12, not installed: pip would take "
            "tensorflow 2.16.2 (tensorflow-2.16.2-cp312-cp312-macosx_10_15_x86_64.whl)`, `would "
            "take 2.16.2, below the newest release 2.21.0: no 2.21.0 wheel for macOS 14 on "
            "x86_64 (...)`"
        ),
    ),
    Outcome.NOT_UPGRADED: OutcomeInfo(
        "The installer exited 0 but the installed version did not change.",
        "#d9b310",
        True,
        detail=(
            "pip exited 0 but the version did not change (e.g. Python 3.9 already on 2.20.0, the"
            " last release for it)"
        ),
        evidence="`Requirement already satisfied: tensorflow in ... (2.20.0)`",
    ),
    Outcome.UPGRADED_INCONSISTENT: OutcomeInfo(
        "The installer exited 0 and upgraded, but left the environment around the package broken: "
        "its check (`pip check`) reports broken requirements, or an installed library that "
        "imported before no longer does.",
        "#e07b00",
        True,
        detail=(
            "pip exited 0 and upgraded, but `pip check` fails, or a library around the target "
            "that imported before no longer does"
        ),
        evidence=(
            "`pip's dependency resolver does not currently take into account ...`, `... requires"
            " protobuf<5.0.0.dev0,>=3.19.5, but you have protobuf 6.33.1 which is incompatible.`"
        ),
    ),
    Outcome.IMPORT_ERROR: OutcomeInfo(
        "The installer exited 0, but importing the package afterwards fails.",
        "#c0392b",
        True,
        detail=(
            "pip exited 0 but importing the package fails afterwards (every import name the "
            "installed distribution declares, or `target.imports`), or the module imported "
            "reports another version than the one pip installed"
        ),
        evidence=(
            "`import tensorflow failed: ImportError: A module that was compiled using NumPy 1.x "
            "...`"
        ),
    ),
    Outcome.CHECK_FAILED: OutcomeInfo(
        "The installer upgraded and the package imports, but one of the matrix's own checks fails "
        "afterwards (the upgrade worked, the user's code broke).",
        "#b5332a",
        True,
        detail=(
            "pip upgraded and the package imports, but one of the matrix's `checks` fails "
            "afterwards: the upgrade worked, the user's code broke"
        ),
        evidence=(
            "``check legacy-optimizer as root exited 1: ImportError: `keras.optimizers.legacy` "
            "is not supported in Keras 3. ...``"
        ),
    ),
    Outcome.SPLIT_INSTALL: OutcomeInfo(
        "The installer exited 0, but identities now import different versions (e.g. the new one "
        "from a user's site-packages, the old one for root and services).",
        "#c76b00",
        True,
        detail=(
            "pip exited 0, but identities import different versions afterwards: the user who "
            "upgraded gets the new one from their site-packages, root and services still the old"
            ' one ("the upgrade seemed to work but the old version persists")'
        ),
        evidence=(
            "`Successfully installed ... tensorflow-2.20.0`, `user imports tensorflow 2.20.0; "
            "root imports 2.15.0`"
        ),
    ),
    Outcome.SHARED_DIRECTORY: OutcomeInfo(
        "The installer exited 0, but another installed distribution writes the same package "
        "directory (tensorflow beside tensorflow-gpu, -cpu or tf-nightly): whichever was installed"
        " last wins, and uninstalling or upgrading one deletes the other's files.",
        "#a35a00",
        True,
        detail=(
            "pip exited 0, but another installed distribution owns files at the same paths as "
            "the target's (tensorflow beside tensorflow-gpu, -cpu or tf-nightly); the scenario "
            "compares the distributions' RECORDs after the upgrade. Whichever was installed last"
            " wins; uninstalling or upgrading either deletes the other's files"
        ),
        evidence=(
            "`tensorflow-gpu 2.10.1 also owns 3 files under tensorflow/ beside tensorflow "
            "2.20.0: uninstalling or upgrading either one deletes files the other needs`, "
            "`WARNING: Ignoring invalid distribution ...`"
        ),
    ),
    Outcome.WRONG_INTERPRETER: OutcomeInfo(
        "The installer exited 0, but the `pip` that ran belongs to another Python than `python3`: "
        "the package went into that other Python's site-packages.",
        "#8a3324",
        True,
        detail=(
            "pip exited 0, but the `pip` command that ran is a script of another Python than the"
            " `python3` that imports (the scenario reads its `#!` line and both prefixes)"
        ),
        evidence=(
            "`Successfully installed ... tensorflow-2.20.0`, ``` `pip` is /usr/bin/pip, a script"
            " of /usr/bin/python3 (prefix /usr); `python3` is /opt/venv/bin/python3 (prefix "
            "/opt/venv): pip installed into another Python ```"
        ),
    ),
    Outcome.HELD_BACK: OutcomeInfo(
        "The installer exited 0 but silently installed an older release: the newest one this "
        "Python has files for needs a requirement that cannot be met here (pip's own dry run says "
        "which).",
        "#b8860b",
        True,
        detail=(
            "pip exited 0 but landed below the newest release this Python has files for (`pip "
            "index versions`); pip's own dry run of that release (`pip install --dry-run T==X`, "
            "pip ≥ 22.2) says which requirement stops it"
        ),
        evidence=(
            "`pip installed 2.20.0, not 2.21.0, which has files for this Python: tensorflow "
            "2.21.0 depends on protobuf<8.0.0 and >=6.31.1; The user requested (constraint) "
            "protobuf<6`, then pip's own lines"
        ),
    ),
    Outcome.USER_UNSUPPORTED: OutcomeInfo(
        'The installer has no --user and refused it (uv: "pip\'s `--user` is unsupported"): it '
        "installs into a virtual environment, or with --system into the interpreter's own site.",
        "#6c3483",
        True,
        detail=(
            "the installer has no `--user` and refused it: uv, as a user who switched from pip "
            "still types it (`install: user-flag`)"
        ),
        evidence="`error: pip's `--user` is unsupported (use a virtual environment instead)`",
    ),
    Outcome.PERMISSION_DENIED: OutcomeInfo(
        "The installer could not write where it installs ([Errno 13] Permission denied).",
        "#9c2f2f",
        True,
        detail="pip could not write where it installs",
        evidence=(
            "`ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied:"
            " ...` (`EnvironmentError` on pip ≤ 20.3)"
        ),
    ),
    Outcome.CANNOT_UNINSTALL: OutcomeInfo(
        "The installer had to replace an installed dependency but cannot uninstall it: installed "
        "by distutils, or by the OS's package manager without a RECORD of its files.",
        "#7b2d5b",
        True,
        detail=(
            "pip must replace an installed dependency it cannot account for: a distutils install"
            " (an egg-info file) or a dist-info without RECORD (what OS packages leave)"
        ),
        evidence=(
            "`ERROR: Cannot uninstall 'numpy'. It is a distutils installed project ...`, `error:"
            " uninstall-no-record-file`, `hint: The package was installed by debian.`"
        ),
    ),
    Outcome.REMOVED_PACKAGE: OutcomeInfo(
        "the name is a tombstone: its newest release is an sdist that fails on purpose and names "
        "the "
        "package to install instead (tensorflow-gpu → tensorflow).",
        "#6a1b9a",
        True,
        detail=(
            "the name is a tombstone: its newest release is an sdist that fails on purpose and "
            "names what to install instead"
        ),
        evidence=(
            '`The "tensorflow-gpu" package has been removed!`, `Please install "tensorflow" '
            "instead.`, `error: metadata-generation-failed`"
        ),
    ),
    Outcome.EXTERNALLY_MANAGED: OutcomeInfo(
        "The installer refused: the interpreter is marked EXTERNALLY-MANAGED (PEP 668).",
        "#8e44ad",
        True,
        detail=(
            "pip refused: PEP 668 marker on the system interpreter (also for a non-root user, "
            "with or without `--user`)"
        ),
        evidence="`error: externally-managed-environment`",
    ),
    Outcome.USER_IN_VENV: OutcomeInfo(
        "pip refused --user inside a virtual environment: user site-packages are not visible "
        "there.",
        "#7d3c98",
        True,
        detail=(
            "pip refused `--user` inside a virtual environment (what a venv user meets after "
            "taking the `--user` advice, or with `PIP_USER=1` set)"
        ),
        evidence=(
            "`ERROR: Can not perform a '--user' install. User site-packages are not visible in "
            "this virtualenv.`"
        ),
    ),
    Outcome.HASH_MISMATCH: OutcomeInfo(
        "a downloaded or cached file did not match the index's sha256 (a damaged cache, a cut "
        "download).",
        "#7a4b00",
        True,
        detail=(
            "a downloaded or cached file did not match the index's sha256: a damaged cache "
            "(`Using cached ...`), or a download cut short or altered on the way (pip < 25 does "
            "not notice a short read and hashes what arrived)"
        ),
        evidence=(
            "`ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. ...`, "
            "`Expected sha256 ...`, `Got ...`"
        ),
    ),
    Outcome.CORRUPT_CACHE: OutcomeInfo(
        "pip used a cached wheel that is not a valid zip file.",
        "#6b3d00",
        True,
        detail="pip used a cached wheel that is not a valid zip",
        evidence="`ERROR: Wheel 'tensorflow' located at ... is invalid.`",
    ),
    Outcome.DAMAGED_INSTALL: OutcomeInfo(
        "The installer exited 0, but the target does not import and files of it differ from the "
        "sha256 in its own RECORD: a damaged copy was installed (uv installs the unpacked wheel "
        "its cache holds without checking it again).",
        "#5c3a1e",
        True,
        detail=(
            "the installer exited 0, but the target does not import and files of it differ from "
            "the sha256 in its own RECORD (the scenario hashes them when the import fails): a "
            "damaged copy was installed, as uv does from a damaged cache entry, which it never "
            "checks again"
        ),
        evidence=(
            "`tensorflow/__init__.py differs from the sha256 in tensorflow 2.21.0's RECORD`, "
            "`import tensorflow failed: ValueError: source code string cannot contain null "
            "bytes`"
        ),
    ),
    Outcome.RESOLUTION_IMPOSSIBLE: OutcomeInfo(
        "pip's resolver found no set of versions that satisfies every requirement and constraint.",
        "#8b1a4a",
        True,
        detail="pip's resolver found no versions satisfying every requirement and constraint",
        evidence=(
            "`ERROR: ResolutionImpossible ...`, `ERROR: Cannot install tensorflow==2.12.0, ...`,"
            " `The user requested (constraint) protobuf==3.19.6`"
        ),
    ),
    Outcome.RESOLVER_BACKTRACKING: OutcomeInfo(
        "pip's resolver was still trying versions one after another ('This is taking longer than "
        "usual') when "
        "the time limit killed it: not a conflict it proved, one it had no time to finish.",
        "#a0306a",
        True,
        detail=(
            "pip's resolver was still trying versions one after another when the time limit "
            "(`resources: time-limit`, a CI step's timeout) killed it: not a conflict it proved,"
            " one it had no time to finish. Without such a limit a cell that backtracks runs to "
            "the cell's timeout (`infra-error`)"
        ),
        evidence=(
            "`pip was still backtracking when it was killed after 20 s`, `INFO: This is taking "
            "longer than usual. You might need to provide the dependency resolver with stricter "
            "constraints to reduce runtime. ...`, `312 candidate files fetched by then`"
        ),
    ),
    Outcome.NO_SPACE: OutcomeInfo(
        "The installer ran out of disk space ([Errno 28] No space left on device): a 500-650 MB "
        "wheel needs about three times its size while pip downloads, unpacks and installs it.",
        "#5d4037",
        True,
        detail=(
            "pip ran out of disk: a 500-650 MB wheel needs about three times its size while pip "
            "downloads, unpacks and installs it, and a resolver that backtracks downloads one "
            "per release it tries (seen on the real index: 2.21.0 down to 2.15.1 over a "
            "constraint, then a full disk). Reproduced offline by `resources: small-tmp`"
        ),
        evidence=(
            "`ERROR: Could not install packages due to an OSError: [Errno 28] No space left on "
            "device`, the `Downloading tensorflow-...` lines"
        ),
    ),
    Outcome.OUT_OF_MEMORY: OutcomeInfo(
        "The installer was killed for memory (the kernel's OOM killer at the container's or "
        "machine's limit) or raised MemoryError.",
        "#4e342e",
        True,
        detail=(
            "pip was killed for memory (SIGKILL from the kernel's OOM killer; the record has the"
            " container's cgroup limit) or raised `MemoryError`"
        ),
        evidence=(
            "`pip was killed by SIGKILL: the kernel's OOM killer, at the container's memory "
            "limit of 32 MiB`"
        ),
    ),
    Outcome.PROXY_AUTH_REQUIRED: OutcomeInfo(
        "the proxy demanded credentials pip did not have (407); pip then reports no distribution.",
        "#6d4c9f",
        True,
        detail="the proxy demanded credentials pip did not have",
        evidence=(
            "`... Tunnel connection failed: 407 Proxy Authentication Required ...`, then `No "
            "matching distribution found`"
        ),
    ),
    Outcome.PROXY_ERROR: OutcomeInfo(
        "The installer could not connect to the configured proxy; it then reports no distribution.",
        "#5b5fc7",
        True,
        detail="pip could not connect to the configured proxy",
        evidence=(
            "`... ProxyError('Cannot connect to proxy.', NewConnectionError(... [Errno 111] "
            "Connection refused ...`, then `No matching distribution found`"
        ),
    ),
    Outcome.SSL_ERROR: OutcomeInfo(
        "the index's certificate was not trusted (TLS interception, a missing corporate CA).",
        "#a0522d",
        True,
        detail="the index's certificate was not trusted (TLS interception, missing corporate CA)",
        evidence=(
            "`... [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed ...`, then `No "
            "matching distribution found`"
        ),
    ),
    Outcome.READ_TIMEOUT: OutcomeInfo(
        "the index (or a proxy) stopped sending midway and pip gave up after its timeout (15 s by "
        "default): a "
        "stalled link, not a refused one.",
        "#3d5a73",
        True,
        detail=(
            "the index or a proxy stopped sending midway and pip gave up after its read timeout "
            "(15 s by default): a stalled link, not a refused one"
        ),
        evidence=(
            "`pip._vendor.urllib3.exceptions.ReadTimeoutError: "
            "HTTPSConnectionPool(host='repromatrix-index', port=8443): Read timed out.`"
        ),
    ),
    Outcome.NETWORK_ERROR: OutcomeInfo(
        "The installer could not reach the index (no route, DNS, timeouts, cut downloads).",
        "#4a6d8c",
        True,
        detail="pip could not reach the index (no route, DNS, timeouts, cut downloads)",
        evidence=(
            "`... NewConnectionError(... [Errno -2] Name or service not known ...`, then `No "
            "matching distribution found`"
        ),
    ),
    Outcome.NO_MATCHING_DISTRIBUTION: OutcomeInfo(
        "The installer found no distribution of the package for this interpreter and platform.",
        "#b03a6f",
        True,
        detail="no distribution for this interpreter/platform (and no network cause above)",
        evidence="`ERROR: No matching distribution found for tensorflow`",
    ),
    Outcome.NO_SUCH_PROJECT: OutcomeInfo(
        "The index has no project of that name at all (its page answers 404): a misspelt or "
        "renamed target, or an index that does not carry it; the installer says 'from versions: "
        "none'.",
        "#7a2f5b",
        True,
        detail=(
            "the index has no project of the target's name at all: its page answers 404 (a "
            "misspelt or renamed target, an index that does not carry it); pip's words are the "
            "same as for a release with no wheel here, the index's answer says which it is. With"
            " `--as-of`, the date-filtering index answers 404 for it too"
        ),
        evidence=(
            "`the index has no project named tensorflw: its page answers 404 Not Found, so no "
            "release of any version, for any platform, exists there`, `ERROR: Could not find a "
            "version that satisfies the requirement tensorflw (from versions: none)`"
        ),
    ),
    Outcome.UNSUPPORTED_PLATFORM: OutcomeInfo(
        "no release has a wheel for this interpreter's platform at all (32-bit, musl, another "
        "architecture): "
        "pip says 'from versions: none'.",
        "#9b2d6f",
        True,
        detail=(
            "pip found nothing, and no release of the target has a wheel of any kind this "
            "interpreter (or the platform a cell resolved for) accepts (its platform tags "
            "against the index's file list): a 32-bit (i686) or armv7l interpreter, musl, "
            "Windows on ARM64. An old pip that cannot read the tags of the right architecture "
            "stays `no-matching-distribution`. A musl interpreter runs only where a registry "
            "serves Alpine (no Alpine mirror is reachable from this project's machines); "
            "`platform: musllinux-x86_64` resolves for it here"
        ),
        evidence=(
            "`no release of tensorflow has a wheel for this interpreter's platform (glibc i686);"
            " the index's wheels are for Windows amd64, glibc aarch64, glibc x86_64, macOS "
            "arm64, macOS x86_64`, `ERROR: Could not find a version that satisfies the "
            "requirement tensorflow (from versions: none)`"
        ),
    ),
    Outcome.SETUP_FAILED: OutcomeInfo(
        "the cell's starting point (e.g. the prior version) could not be installed.",
        "#7f8c8d",
        True,
        detail=(
            "the cell's starting point could not be set up (e.g. the prior version has no wheel "
            "for this Python): a setup step's own command failed; pip's reason is quoted. The "
            "engine failing the build is `infra-error`, an interruption `interrupted`"
        ),
        evidence=(
            "`ERROR: Could not find a version that satisfies the requirement tensorflow==2.15.0 "
            "(from versions: 2.20.0, 2.21.0)`"
        ),
    ),
    Outcome.UNKNOWN_FAILURE: OutcomeInfo(
        "pip failed in a way the classifier does not know yet; read the log.",
        "#444444",
        True,
        detail="pip failed in a way the classifier does not know yet",
        evidence="pip's exit code and its `ERROR:` lines",
    ),
    Outcome.INFRA_ERROR: OutcomeInfo(
        "our side failed (Docker, image build, timeout); says nothing about pip.",
        "#1f6fb2",
        False,
        detail=(
            "our side failed: Docker, an image build step other than setup, a base image or "
            "interpreter no provider could give, a timeout, too little free disk, the engine "
            "stopped answering. Never mixed up with the user's failure; `run --resume` runs "
            "these cells again"
        ),
        evidence="what failed",
    ),
    Outcome.INTERRUPTED: OutcomeInfo(
        "the run was stopped (Ctrl-C) while this cell ran; says nothing about pip. "
        "`repromatrix run --resume RUN` runs it again.",
        "#95a5a6",
        False,
        detail=(
            "the run was stopped (Ctrl-C) while this cell ran; not a failure (JUnit: skipped), "
            "`run --resume` runs it again"
        ),
        evidence="`the run was interrupted while this cell ran`",
    ),
    Outcome.NEEDS_INSTALL: OutcomeInfo(
        "`run --triage` resolved the cell in its own container and stopped there: the "
        "installer's dry run took no error, so only the install can say whether the upgrade "
        "works (it says which release it would take). Nothing was installed, imported or "
        "checked. `repromatrix run --resume RUN` installs it.",
        "#5d8aa8",
        False,
        detail=(
            "`run --triage` resolved the cell in its own container and its installer's dry run "
            "took no error (or the installer has no dry run: pip before 22.2, pip-tools, `uv "
            "add`): only the install can say whether the upgrade works. Nothing was installed, "
            "imported or checked; not a failure (JUnit: skipped); `run --resume RUN` installs it"
        ),
        evidence=(
            "`--triage: resolved in its own environment, not installed: pip would take "
            "tensorflow 2.21.0 (2.15.0 installed)`"
        ),
    ),
}


# What only an install can end in: a cell that was only resolved (another platform) never does,
# so an expectation of these does not apply to it (nor `resolved` to a cell that runs).
INSTALL_ONLY = frozenset(
    {
        Outcome.UPGRADED,
        Outcome.NOT_UPGRADED,
        Outcome.UPGRADED_INCONSISTENT,
        Outcome.IMPORT_ERROR,
        Outcome.CHECK_FAILED,
        Outcome.SPLIT_INSTALL,
        Outcome.SHARED_DIRECTORY,
        Outcome.WRONG_INTERPRETER,
        Outcome.DAMAGED_INSTALL,
        Outcome.EXTERNALLY_MANAGED,
        Outcome.USER_IN_VENV,
        Outcome.USER_UNSUPPORTED,
        Outcome.PERMISSION_DENIED,
        Outcome.CANNOT_UNINSTALL,
        Outcome.CORRUPT_CACHE,
        Outcome.SETUP_FAILED,
    }
)


def applies(outcomes: tuple[Outcome, ...], resolved_only: bool) -> bool:
    """Can a cell that runs (or, `resolved_only`, one only resolved) end in one of `outcomes`?
    An expectation that it cannot meet is not its."""
    if resolved_only:
        return not all(o in INSTALL_ONLY for o in outcomes)
    return not all(o is Outcome.RESOLVED for o in outcomes)


complete("outcome", OUTCOME_INFO, Outcome)


def parse_outcome(text: str) -> Outcome | None:
    try:
        return Outcome(text)
    except ValueError:
        return None
