"""The fixes a user of a uv project reaches for: uv's own, where they mean the same in a project
(its cache, its CA, the proxy variables, the constraint, an older release, sudo), by name. Left
out, as a project has no use for them: a new venv (a project has its own environment),
`--break-system-packages` (it never installs into the system's Python), `--user`, and
uninstalling libraries with `uv pip` (a project's dependencies are removed with `uv remove`, which
is a change to the project, not a fix of the upgrade).
"""

from __future__ import annotations

from ..core.registry import unique
from .remedy import Remedy
from .uv_remedies import CATALOGUE as UVS

OWN = {r.name: r for r in UVS}
CATALOGUE: tuple[Remedy, ...] = tuple(
    OWN[name]
    for name in (
        "purge-cache",
        "no-cache-dir",
        "system-certs",
        "trust-ca",
        "proxy-credentials",
        "no-proxy",
        "proxy-env",
        "drop-constraint",
        "upgrade-blockers",
        "what-blockers-allow",
        "below-break",
        "newest-for-python",
        # the replacement is added; the removed package stays a dependency of the project until
        # `uv remove`, which is why the attempt is judged, not assumed
        "use-replacement",
        "as-root",
    )
)
unique("uv-add remedy", (r.name for r in CATALOGUE))
