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


OUTCOME_INFO: dict[Outcome, OutcomeInfo] = {
    Outcome.UPGRADED: OutcomeInfo(
        "The installer exited 0, the package is at a newer version and imports.", "#2e9e4f", False
    ),
    Outcome.RESOLVED: OutcomeInfo(
        "Resolved for a platform no container here runs (macOS, Windows, musl, or a Linux "
        "architecture without emulation): the installer's dry run with that platform's wheel tags "
        "and markers says which release it would take. Nothing was installed, imported or "
        "checked.",
        "#2a7f9e",
        False,
    ),
    Outcome.NOT_UPGRADED: OutcomeInfo(
        "The installer exited 0 but the installed version did not change.", "#d9b310", True
    ),
    Outcome.UPGRADED_INCONSISTENT: OutcomeInfo(
        "The installer exited 0 and upgraded, but left the environment around the package broken: "
        "its check (`pip check`) reports broken requirements, or an installed library that "
        "imported before no longer does.",
        "#e07b00",
        True,
    ),
    Outcome.IMPORT_ERROR: OutcomeInfo(
        "The installer exited 0, but importing the package afterwards fails.", "#c0392b", True
    ),
    Outcome.CHECK_FAILED: OutcomeInfo(
        "The installer upgraded and the package imports, but one of the matrix's own checks fails "
        "afterwards (the upgrade worked, the user's code broke).",
        "#b5332a",
        True,
    ),
    Outcome.SPLIT_INSTALL: OutcomeInfo(
        "The installer exited 0, but identities now import different versions (e.g. the new one "
        "from a user's site-packages, the old one for root and services).",
        "#c76b00",
        True,
    ),
    Outcome.SHARED_DIRECTORY: OutcomeInfo(
        "The installer exited 0, but another installed distribution writes the same package "
        "directory (tensorflow beside tensorflow-gpu, -cpu or tf-nightly): whichever was installed"
        " last wins, and uninstalling or upgrading one deletes the other's files.",
        "#a35a00",
        True,
    ),
    Outcome.WRONG_INTERPRETER: OutcomeInfo(
        "The installer exited 0, but the `pip` that ran belongs to another Python than `python3`: "
        "the package went into that other Python's site-packages.",
        "#8a3324",
        True,
    ),
    Outcome.HELD_BACK: OutcomeInfo(
        "The installer exited 0 but silently installed an older release: the newest one this "
        "Python has files for needs a requirement that cannot be met here (pip's own dry run says "
        "which).",
        "#b8860b",
        True,
    ),
    Outcome.USER_UNSUPPORTED: OutcomeInfo(
        'The installer has no --user and refused it (uv: "pip\'s `--user` is unsupported"): it '
        "installs into a virtual environment, or with --system into the interpreter's own site.",
        "#6c3483",
        True,
    ),
    Outcome.PERMISSION_DENIED: OutcomeInfo(
        "The installer could not write where it installs ([Errno 13] Permission denied).",
        "#9c2f2f",
        True,
    ),
    Outcome.CANNOT_UNINSTALL: OutcomeInfo(
        "The installer had to replace an installed dependency but cannot uninstall it: installed "
        "by distutils, or by the OS's package manager without a RECORD of its files.",
        "#7b2d5b",
        True,
    ),
    Outcome.REMOVED_PACKAGE: OutcomeInfo(
        "the name is a tombstone: its newest release is an sdist that fails on purpose and names "
        "the "
        "package to install instead (tensorflow-gpu → tensorflow).",
        "#6a1b9a",
        True,
    ),
    Outcome.EXTERNALLY_MANAGED: OutcomeInfo(
        "The installer refused: the interpreter is marked EXTERNALLY-MANAGED (PEP 668).",
        "#8e44ad",
        True,
    ),
    Outcome.USER_IN_VENV: OutcomeInfo(
        "pip refused --user inside a virtual environment: user site-packages are not visible "
        "there.",
        "#7d3c98",
        True,
    ),
    Outcome.HASH_MISMATCH: OutcomeInfo(
        "a downloaded or cached file did not match the index's sha256 (a damaged cache, a cut "
        "download).",
        "#7a4b00",
        True,
    ),
    Outcome.CORRUPT_CACHE: OutcomeInfo(
        "pip used a cached wheel that is not a valid zip file.", "#6b3d00", True
    ),
    Outcome.DAMAGED_INSTALL: OutcomeInfo(
        "The installer exited 0, but the target does not import and files of it differ from the "
        "sha256 in its own RECORD: a damaged copy was installed (uv installs the unpacked wheel "
        "its cache holds without checking it again).",
        "#5c3a1e",
        True,
    ),
    Outcome.RESOLUTION_IMPOSSIBLE: OutcomeInfo(
        "pip's resolver found no set of versions that satisfies every requirement and constraint.",
        "#8b1a4a",
        True,
    ),
    Outcome.RESOLVER_BACKTRACKING: OutcomeInfo(
        "pip's resolver was still trying versions one after another ('This is taking longer than "
        "usual') when "
        "the time limit killed it: not a conflict it proved, one it had no time to finish.",
        "#a0306a",
        True,
    ),
    Outcome.NO_SPACE: OutcomeInfo(
        "The installer ran out of disk space ([Errno 28] No space left on device): a 500-650 MB "
        "wheel needs about three times its size while pip downloads, unpacks and installs it.",
        "#5d4037",
        True,
    ),
    Outcome.OUT_OF_MEMORY: OutcomeInfo(
        "The installer was killed for memory (the kernel's OOM killer at the container's or "
        "machine's limit) or raised MemoryError.",
        "#4e342e",
        True,
    ),
    Outcome.PROXY_AUTH_REQUIRED: OutcomeInfo(
        "the proxy demanded credentials pip did not have (407); pip then reports no distribution.",
        "#6d4c9f",
        True,
    ),
    Outcome.PROXY_ERROR: OutcomeInfo(
        "The installer could not connect to the configured proxy; it then reports no distribution.",
        "#5b5fc7",
        True,
    ),
    Outcome.SSL_ERROR: OutcomeInfo(
        "the index's certificate was not trusted (TLS interception, a missing corporate CA).",
        "#a0522d",
        True,
    ),
    Outcome.READ_TIMEOUT: OutcomeInfo(
        "the index (or a proxy) stopped sending midway and pip gave up after its timeout (15 s by "
        "default): a "
        "stalled link, not a refused one.",
        "#3d5a73",
        True,
    ),
    Outcome.NETWORK_ERROR: OutcomeInfo(
        "The installer could not reach the index (no route, DNS, timeouts, cut downloads).",
        "#4a6d8c",
        True,
    ),
    Outcome.NO_MATCHING_DISTRIBUTION: OutcomeInfo(
        "The installer found no distribution of the package for this interpreter and platform.",
        "#b03a6f",
        True,
    ),
    Outcome.NO_SUCH_PROJECT: OutcomeInfo(
        "The index has no project of that name at all (its page answers 404): a misspelt or "
        "renamed target, or an index that does not carry it; the installer says 'from versions: "
        "none'.",
        "#7a2f5b",
        True,
    ),
    Outcome.UNSUPPORTED_PLATFORM: OutcomeInfo(
        "no release has a wheel for this interpreter's platform at all (32-bit, musl, another "
        "architecture): "
        "pip says 'from versions: none'.",
        "#9b2d6f",
        True,
    ),
    Outcome.SETUP_FAILED: OutcomeInfo(
        "the cell's starting point (e.g. the prior version) could not be installed.",
        "#7f8c8d",
        True,
    ),
    Outcome.UNKNOWN_FAILURE: OutcomeInfo(
        "pip failed in a way the classifier does not know yet; read the log.", "#444444", True
    ),
    Outcome.INFRA_ERROR: OutcomeInfo(
        "our side failed (Docker, image build, timeout); says nothing about pip.", "#1f6fb2", False
    ),
    Outcome.INTERRUPTED: OutcomeInfo(
        "the run was stopped (Ctrl-C) while this cell ran; says nothing about pip. "
        "`repromatrix run --resume RUN` runs it again.",
        "#95a5a6",
        False,
    ),
    Outcome.NEEDS_INSTALL: OutcomeInfo(
        "`run --triage` resolved the cell in its own container and stopped there: the "
        "installer's dry run took no error, so only the install can say whether the upgrade "
        "works (it says which release it would take). Nothing was installed, imported or "
        "checked. `repromatrix run --resume RUN` installs it.",
        "#5d8aa8",
        False,
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


class Fix(str, enum.Enum):
    """What one remedy attempt (remedies.py) says about its remedy."""

    WORKS = "works"  # upgraded, `pip check` passes, every identity and check agrees
    # Upgraded, but pip check fails or an identity keeps the old one
    SIDE_EFFECTS = "works-with-side-effects"
    FAILS = "fails"
    NOT_TRIED = "not-tried"  # our side failed or the run stopped: says nothing about the remedy

    def __str__(self) -> str:
        return self.value


FIX_COLOUR = {
    Fix.WORKS: "#2e9e4f",
    Fix.SIDE_EFFECTS: "#e07b00",
    Fix.FAILS: "#c0392b",
    Fix.NOT_TRIED: "#95a5a6",
}
complete("outcome", OUTCOME_INFO, Outcome)
complete("fix colour", FIX_COLOUR, Fix)


def parse_outcome(text: str) -> Outcome | None:
    try:
        return Outcome(text)
    except ValueError:
        return None
