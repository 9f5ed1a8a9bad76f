"""pip's remedies: the fixes people reach for when `pip install --upgrade` breaks, spelled for pip
(its options, its cache, its variables), in order of preference. Adding a remedy is adding an
entry; judge/remedies.py tries the entries that apply to a failed cell.
"""

from __future__ import annotations

from ..cell import contract
from ..core.outcomes import Outcome
from ..core.registry import unique
from .remedy import Remedy, Resource

# Real wheels the local index serves so that remedies do offline what they do online: "upgrade pip
# first" gets a current pip (the newest when this was written; 25.3 is the last for Python 3.9),
# "upgrade certifi" a current certifi. And setuptools, which pip ≥ 23.1 fetches to build an sdist in
# isolation (the tombstone tensorflow-gpu 2.12.0) where the environment has none (Python ≥ 3.12
# venvs).
LOCAL_INDEX_WHEELS = frozenset(
    {"pip==26.3", "pip==25.3", "certifi==2026.10.19.post1", "setuptools==80.9.0"}
)
NETWORK_FAILURES = frozenset({Outcome.NETWORK_ERROR, Outcome.HASH_MISMATCH, Outcome.READ_TIMEOUT})
# Symptoms pip did not already retry: a body that timed out, broke off or arrived short. A refused
# connection or a failed lookup pip has retried five times before it said so.
# ("connection broken by 'NewConnectionError" is how pip words every retry: not a broken body.)
TRANSIENT = (
    r"Read timed out|ReadTimeoutError|Connection broken:|IncompleteRead|Connection reset by peer|"
    r"RemoteDisconnected|EOF occurred|UNEXPECTED_EOF|not enough bytes|ended early|cut short"
)

REPLACED = frozenset({Outcome.REMOVED_PACKAGE, Outcome.IMPORT_ERROR, Outcome.NOT_UPGRADED})
# The catalogue, in order of preference: least invasive first. The recommended fix of a cell is
# the first entry that works cleanly.
CATALOGUE: tuple[Remedy, ...] = (
    Remedy(
        "retry",
        "retry with more patience",
        NETWORK_FAILURES | {Outcome.PROXY_ERROR},
        options=("--retries", "10", "--timeout", "60"),
        when=TRANSIENT,
        why="a slow or briefly broken download may pass on a later try (not a refused connection "
        "or a "
        "failed lookup: pip retried those already, and ten more with its backoff take minutes)",
    ),
    Remedy(
        "resume-retries",
        "resume broken downloads",
        NETWORK_FAILURES,
        options=("--resume-retries", "10"),
        min_version="25.1",
        why="pip ≥ 25.1 can continue a download that broke off, instead of starting it again",
    ),
    Remedy(
        "purge-cache",
        "empty pip's cache",
        frozenset({Outcome.HASH_MISMATCH, Outcome.CORRUPT_CACHE, Outcome.NO_SPACE}),
        before=(("python3", "-m", "pip", "cache", "purge"),),
        min_version="20.1",
        why="a damaged file in pip's cache is used again on every try; and the cache's gigabytes "
        "are disk "
        "the next download needs",
    ),
    Remedy(
        "no-cache-dir",
        "upgrade without pip's cache",
        frozenset({Outcome.NO_SPACE, Outcome.OUT_OF_MEMORY}),
        options=("--no-cache-dir",),
        why="pip otherwise writes every wheel it downloads to its cache too: twice the disk for a "
        "600 MB wheel; "
        "old pips held the whole download in memory to cache it (the classic MemoryError advice)",
    ),
    Remedy(
        "tmpdir",
        "give pip a temporary directory with room",
        frozenset({Outcome.NO_SPACE}),
        before=(("mkdir", "-p", "{home}/pip-tmp"),),
        env=("TMPDIR={home}/pip-tmp",),
        why="pip downloads and unpacks in TMPDIR (/tmp by default): a small /tmp (a tmpfs, a "
        "quota) fails "
        "while the home directory's disk has room",
    ),
    Remedy(
        "trust-ca",
        "trust the corporate CA",
        frozenset({Outcome.SSL_ERROR}),
        options=("--cert", contract.REMEDY_CA_PATH),
        needs=frozenset({Resource.CA}),
        why="an intercepting proxy or a private index signs with a CA the image does not know",
    ),
    Remedy(
        "upgrade-certifi",
        "upgrade certifi",
        frozenset({Outcome.SSL_ERROR}),
        before=(("python3", "-m", "pip", "install", "--upgrade", "certifi"),),
        why="often suggested for certificate errors; it renews the public CAs only",
    ),
    Remedy(
        "proxy-credentials",
        "give the proxy its credentials",
        frozenset({Outcome.PROXY_AUTH_REQUIRED}),
        needs=frozenset({Resource.PROXY_CREDENTIALS}),
        shown_env=("HTTP_PROXY={proxy_with_credentials}", "HTTPS_PROXY={proxy_with_credentials}"),
        why="the proxy answers 407 until pip sends a user and password (in the proxy URL)",
    ),
    Remedy(
        "no-proxy",
        "bypass the proxy",
        frozenset({Outcome.PROXY_AUTH_REQUIRED, Outcome.PROXY_ERROR}),
        unset=("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"),
        needs_fact="has_proxy",
        why="helps only where there is a route around the proxy",
    ),
    Remedy(
        "proxy-env",
        "point the proxy variables at the proxy that works",
        frozenset({Outcome.PROXY_ERROR}) | NETWORK_FAILURES,
        env=("HTTP_PROXY={proxy}", "HTTPS_PROXY={proxy}"),
        needs=frozenset({Resource.OPEN_PROXY}),
        why="the proxy variables name a proxy that is down or breaks downloads, or none where the "
        "only way "
        "out is one",
    ),
    Remedy(
        "use-proxy",
        "use the proxy that works (--proxy)",
        frozenset({Outcome.PROXY_ERROR}) | NETWORK_FAILURES,
        options=("--proxy", "{proxy}"),
        needs=frozenset({Resource.OPEN_PROXY}),
        why="the configured proxy is wrong or breaks downloads, or none is configured where the "
        "only way "
        "out is one",
    ),
    Remedy(
        "upgrade-pip",
        "upgrade pip first",
        frozenset(
            {
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.UNSUPPORTED_PLATFORM,
                Outcome.NOT_UPGRADED,
                Outcome.IMPORT_ERROR,
                Outcome.UNKNOWN_FAILURE,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.HELD_BACK,
                Outcome.REMOVED_PACKAGE,
                Outcome.RESOLVER_BACKTRACKING,
            }
        )
        | NETWORK_FAILURES,
        before=(("python3", "-m", "pip", "install", "--upgrade", "pip"),),
        why="an old pip cannot read newer wheel tags, has the old resolver, misses short downloads "
        "(pip ≥ 25) and cannot resume them (pip ≥ 25.1)",
    ),
    Remedy(
        "drop-constraint",
        "drop the stale constraint",
        frozenset(
            {
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.NOT_UPGRADED,
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.HELD_BACK,
            }
        ),
        unset=("PIP_CONSTRAINT",),  # Pip.variables.constraint
        needs_fact="constraint",
        why="a constraints file from an older setup pins what the new version needs",
    ),
    Remedy(
        "no-user",
        "install without --user",
        frozenset({Outcome.USER_IN_VENV}),
        drop=("--user",),
        needs_fact="user_flag",
        why="inside a virtual environment, pip installs into it; --user has no place",
    ),
    Remedy(
        "upgrade-blockers",
        "upgrade the libraries that hold it back",
        frozenset({Outcome.UPGRADED_INCONSISTENT, Outcome.RESOLUTION_IMPOSSIBLE}),
        also=("{blockers}",),
        needs_fact="blockers",
        why="a newer release of the library that pins a shared dependency may lift the pin",
    ),
    Remedy(
        "legacy-keras",
        "keep Keras 2: install tf_keras and set TF_USE_LEGACY_KERAS=1",
        frozenset({Outcome.CHECK_FAILED}),
        also=("tf_keras",),
        env=("TF_USE_LEGACY_KERAS=1",),
        note="export TF_USE_LEGACY_KERAS=1 wherever the code runs, not only for the install",
        when=r"TF_USE_LEGACY_KERAS|tf_keras",
        why="from TensorFlow 2.16 tf.keras is Keras 3; the error itself names this way back",
    ),
    Remedy(
        "what-blockers-allow",
        "ask for the newest version the installed libraries allow",
        frozenset({Outcome.UPGRADED_INCONSISTENT, Outcome.RESOLUTION_IMPOSSIBLE}),
        pin="{blockers_allow}",
        needs_fact="blockers_allow",
        why="a user who needs the library that pins it can have only what its pin allows",
    ),
    Remedy(
        "below-break",
        "stay below the release series after the one on which it worked",
        frozenset({Outcome.CHECK_FAILED, Outcome.UPGRADED_INCONSISTENT}),
        pin="{below_break}",
        needs_fact="below_break",
        why="what broke worked before the upgrade: the newest release of that series may keep it "
        "and still bring its fixes",
    ),
    Remedy(
        "newest-for-python",
        "ask for the newest version this Python can have",
        frozenset(
            {
                Outcome.NO_MATCHING_DISTRIBUTION,
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.HELD_BACK,
                Outcome.UNSUPPORTED_PLATFORM,
                Outcome.RESOLVER_BACKTRACKING,
            }
        ),
        pin="{newest_for_python}",
        needs_fact="newest_for_python",
        why="the newest release may have no wheel for this Python; an older one may",
    ),
    # Also where an older pip discarded the tombstone and fell back to the last real release.
    Remedy(
        "use-replacement",
        "install the package it names instead",
        REPLACED,
        instead="{replacement}",
        needs_fact="replacement",
        why="a tombstoned name says what replaced it; the old distribution, if installed, stays "
        "beside it",
    ),
    Remedy(
        "replace-package",
        "uninstall it, then install the package it names instead",
        REPLACED,
        before=(("python3", "-m", "pip", "uninstall", "-y", "{package}"),),
        instead="{replacement}",
        needs_fact="replacement",
        why="the old and the new name write the same files: remove the old one first",
    ),
    Remedy(
        "python-m-pip",
        "run pip as `python3 -m pip`",
        frozenset({Outcome.WRONG_INTERPRETER}),
        module=True,
        why="pip then belongs to the python3 that will import the package (pip's own advice)",
    ),
    Remedy(
        "ensurepip",
        "install pip into this Python first (ensurepip), then `python3 -m pip`",
        frozenset({Outcome.WRONG_INTERPRETER}),
        before=(("python3", "-m", "ensurepip", "--upgrade"),),
        module=True,
        why="an environment made --without-pip has no pip of its own to run",
    ),
    Remedy(
        "uninstall-sharers",
        "uninstall the other distributions that write the same files first",
        frozenset({Outcome.SHARED_DIRECTORY}),
        before=(("python3", "-m", "pip", "uninstall", "-y", "{sharers}"),),
        needs_fact="sharers",
        why="two distributions in one package directory delete each other's files; keep one",
    ),
    Remedy(
        "ignore-installed",
        "install over it (--ignore-installed)",
        frozenset({Outcome.CANNOT_UNINSTALL}),
        options=("--ignore-installed",),
        warning="pip writes the new files over the old ones without removing them: the old "
        "installer's "
        "metadata and leftover files stay, and the OS's package manager still thinks it owns them",
        why="pip does not try to uninstall what it cannot account for",
    ),
    Remedy(
        "more-time",
        "let pip run longer",
        frozenset({Outcome.RESOLVER_BACKTRACKING}),
        limits="unlimited",
        note="without the time limit (e.g. a longer CI step timeout):",
        why="a resolver that backtracks through every release may still finish",
    ),
    Remedy(
        "more-memory",
        "give pip more memory",
        frozenset({Outcome.OUT_OF_MEMORY}),
        limits="unlimited",
        note="on a machine or container with more memory (e.g. docker run --memory=4g), or with "
        "swap:",
        why="pip itself needs about 40 MB, and a real TensorFlow upgrade far more",
    ),
    Remedy(
        "venv",
        "use a virtual environment",
        frozenset(
            {
                Outcome.USER_IN_VENV,
                Outcome.EXTERNALLY_MANAGED,
                Outcome.PERMISSION_DENIED,
                Outcome.SPLIT_INSTALL,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.RESOLUTION_IMPOSSIBLE,
                Outcome.IMPORT_ERROR,
                Outcome.CANNOT_UNINSTALL,
                Outcome.SHARED_DIRECTORY,
                Outcome.WRONG_INTERPRETER,
            }
        ),
        before=(("python3", "-m", "venv", "{home}/fix-venv"),),
        venv="{home}/fix-venv",
        drop=("--user",),
        warning="the new environment starts empty: programs and users that run another python3 "
        "keep "
        "the old version",
        why="an environment the user owns, outside the OS's packages and other users' installs",
    ),
    # After venv: removing a library the user installed is the more invasive of two ways to
    # the same version.
    Remedy(
        "remove-blockers",
        "uninstall the libraries that hold it back, then upgrade",
        frozenset({Outcome.UPGRADED_INCONSISTENT, Outcome.RESOLUTION_IMPOSSIBLE}),
        before=(("python3", "-m", "pip", "uninstall", "-y", "{blockers}"),),
        needs_fact="blockers",
        warning="what needed those libraries no longer has them",
        why="a library the user no longer needs is the simplest pin to lift",
    ),
    Remedy(
        "user",
        "install with --user",
        frozenset({Outcome.PERMISSION_DENIED, Outcome.EXTERNALLY_MANAGED}),
        options=("--user",),
        unless_fact="user_flag",
        warning="the new version lands in this user's site-packages only: root and services keep "
        "the old one",
        why="the user cannot write where pip installs, but can write to their own site-packages",
    ),
    Remedy(
        "as-root",
        "run pip as root (sudo)",
        frozenset({Outcome.PERMISSION_DENIED, Outcome.SPLIT_INSTALL}),
        as_root=True,
        needs_fact="upgrader_is_user",
        warning="files of the environment then belong to root; on a system Python, pip and the "
        "OS's "
        "package manager fight over the same files",
        why="root can write where the user cannot",
    ),
    Remedy(
        "force-reinstall",
        "reinstall everything (--force-reinstall)",
        frozenset(
            {
                Outcome.SPLIT_INSTALL,
                Outcome.IMPORT_ERROR,
                Outcome.HASH_MISMATCH,
                Outcome.CORRUPT_CACHE,
                Outcome.DAMAGED_INSTALL,
                Outcome.UPGRADED_INCONSISTENT,
                Outcome.NOT_UPGRADED,
                Outcome.CANNOT_UNINSTALL,
                Outcome.SHARED_DIRECTORY,
                Outcome.HELD_BACK,
            }
        ),
        options=("--force-reinstall",),
        warning="reinstalls every dependency too; pip's own docs: it \"can lead to unforeseen "
        "issues if "
        'there are unresolved dependency conflicts"',
        why="replaces whatever is installed, even at the same version",
    ),
    Remedy(
        "trusted-host",
        "skip the certificate check (--trusted-host)",
        frozenset({Outcome.SSL_ERROR}),
        options=("{trusted_host_args}",),
        needs_fact="index_host",
        warning="turns off certificate checks for that host: anyone on the path can serve any "
        "package",
        why="pip then accepts any certificate from the index",
    ),
    Remedy(
        "break-system-packages",
        "override PEP 668 (--break-system-packages)",
        frozenset({Outcome.EXTERNALLY_MANAGED}),
        options=("--break-system-packages",),
        min_version="23.0.1",
        warning="can break the OS's own tools that import the same packages; the OS's package "
        "manager "
        "no longer knows what is installed",
        why="pip then ignores the EXTERNALLY-MANAGED marker",
    ),
)
unique("pip remedy", (r.name for r in CATALOGUE))
