"""uv's remedies: the fixes a uv user reaches for, spelled for uv (`uv venv`, `uv cache clean`,
`SSL_CERT_FILE`, `--break-system-packages`), in order of preference. The entries that say
nothing of the installer (the proxy variables, the libraries that hold it back, an older
release) are pip's own, by name; those that differ only in words are pip's, reworded
(dataclasses.replace).
"""

from __future__ import annotations

from dataclasses import replace

from ..cell import contract
from ..core.outcomes import Outcome
from ..core.registry import unique
from .pip_remedies import CATALOGUE as PIPS
from .remedy import Remedy, Resource

SHARED = {r.name: r for r in PIPS}
CATALOGUE: tuple[Remedy, ...] = (
    Remedy(
        "purge-cache",
        "empty uv's cache (uv cache clean)",
        frozenset(
            {
                Outcome.HASH_MISMATCH,
                Outcome.CORRUPT_CACHE,
                Outcome.DAMAGED_INSTALL,
                Outcome.NO_SPACE,
            }
        ),
        before=(("uv", "cache", "clean"),),
        why="a damaged file in uv's cache is used again on every try; and the cache is disk the "
        "next download needs",
    ),
    Remedy(
        "no-cache-dir",
        "upgrade without uv's cache (--no-cache)",
        frozenset({Outcome.NO_SPACE, Outcome.DAMAGED_INSTALL}),
        options=("--no-cache",),
        why="uv otherwise keeps every wheel it downloads, unpacked, in its cache, and installs "
        "from it without checking it again",
    ),
    # A corporate CA is usually in the OS's store: uv trusts its own bundled roots unless told
    Remedy(
        "system-certs",
        "let uv trust the OS's certificate store (--system-certs)",
        frozenset({Outcome.SSL_ERROR}),
        options=("--system-certs",),
        note="UV_SYSTEM_CERTS=1 sets it for every uv command (uv once spelled it --native-tls)",
        why="uv reads its own bundled roots, not the OS's store where IT installs a corporate CA",
    ),
    Remedy(
        "trust-ca",
        "give uv the corporate CA (SSL_CERT_FILE)",
        frozenset({Outcome.SSL_ERROR}),
        env=(f"SSL_CERT_FILE={contract.REMEDY_CA_PATH}",),
        needs=frozenset({Resource.CA}),
        why="uv reads neither pip's configuration nor its variables: a CA set for pip is not uv's",
    ),
    replace(
        SHARED["proxy-credentials"],
        why="the proxy answers 407 until uv sends a user and password (in the proxy URL)",
    ),
    SHARED["no-proxy"],
    SHARED["proxy-env"],
    replace(SHARED["drop-constraint"], unset=("UV_CONSTRAINT",)),  # Uv.variables.constraint
    # uv refuses the option outright ("pip's `--user` is unsupported"), in a venv or not.
    Remedy(
        "no-user",
        "install without --user",
        frozenset({Outcome.USER_UNSUPPORTED, Outcome.USER_IN_VENV}),
        drop=("--user",),
        needs_fact="user_flag",
        why="uv has no --user: it installs into a virtual environment, or with --system",
    ),
    SHARED["upgrade-blockers"],
    SHARED["what-blockers-allow"],
    SHARED["below-break"],
    SHARED["legacy-keras"],
    SHARED["newest-for-python"],
    SHARED["use-replacement"],
    Remedy(
        "venv",
        "use a virtual environment (uv venv)",
        frozenset(
            {
                Outcome.EXTERNALLY_MANAGED,
                Outcome.PERMISSION_DENIED,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.IMPORT_ERROR,
                Outcome.USER_UNSUPPORTED,
            }
        ),
        before=(("uv", "venv", "{home}/fix-venv"),),
        venv="{home}/fix-venv",
        drop=("--user", "--system"),
        warning="the new environment starts empty: programs and users that run another python3 "
        "keep the old version",
        why="uv's own advice: an environment the user owns, outside the OS's packages",
    ),
    replace(SHARED["remove-blockers"], before=(("uv", "pip", "uninstall", "{blockers}"),)),
    replace(
        SHARED["as-root"],
        title="run uv as root (sudo)",
        fixes=frozenset({Outcome.PERMISSION_DENIED}),
        warning="files of the environment then belong to root",
    ),
    replace(
        SHARED["break-system-packages"],
        min_version="",  # every uv has it
        why="uv then ignores the EXTERNALLY-MANAGED marker",
    ),
)
unique("uv remedy", (r.name for r in CATALOGUE))
