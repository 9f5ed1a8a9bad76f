"""The fixes a pip-tools user reaches for: pip's, where they mean the same for two commands that
both read pip's configuration and variables (the proxy variables, the constraint, an older
release through `--upgrade-package`, sudo), by name, and pip's CA and cache fixes spelled so
both commands get them. Left out: whatever pip spells as an option of `pip install` (pip-compile
takes other options, and the upgrade's options would reach pip-sync only), a new venv (pip-tools
would have to be installed into it first), `--user`, and uninstalling libraries with pip (pip-sync
puts back what the compiled file lists).
"""

from __future__ import annotations

from dataclasses import replace

from ..cell import contract
from ..core.outcomes import Outcome
from ..core.registry import unique
from .pip_remedies import CATALOGUE as PIPS
from .remedy import Remedy

SHARED = {r.name: r for r in PIPS}
CATALOGUE: tuple[Remedy, ...] = (
    # `--upgrade-package` re-resolves the target only: the compiled pins of its dependencies stay
    # as they were (keras==2.15.0), and hold it at the newest release they allow
    Remedy(
        "upgrade-all",
        "recompile every pin (pip-compile --upgrade)",
        frozenset({Outcome.NOT_UPGRADED, Outcome.HELD_BACK}),
        options=("--upgrade",),
        warning="moves every pin of the project, not only the target's and its dependencies'",
        why="pip-compile --upgrade-package keeps the other pins of the compiled file, and a new "
        "release that needs newer dependencies than they pin is never chosen",
    ),
    # pip's, without pip's version floor: pip-tools brings a pip far above it
    replace(SHARED["purge-cache"], min_version=""),
    # The variable, not pip's --cert: pip-compile and pip-sync's pip both read it
    replace(
        SHARED["trust-ca"],
        title="give pip-compile and pip-sync the corporate CA (PIP_CERT)",
        options=(),
        env=(f"PIP_CERT={contract.REMEDY_CA_PATH}",),
    ),
    SHARED["tmpdir"],
    SHARED["proxy-credentials"],
    SHARED["no-proxy"],
    SHARED["proxy-env"],
    SHARED["drop-constraint"],
    # `pip-compile --upgrade-package 'tensorflow<2.16'`: the pin replaces the requirement
    SHARED["what-blockers-allow"],
    SHARED["below-break"],
    SHARED["newest-for-python"],
    SHARED["more-time"],
    SHARED["more-memory"],
    SHARED["as-root"],
)
unique("pip-tools remedy", (r.name for r in CATALOGUE))

# Real wheels the local index serves so that `pip install pip-tools` works offline: pip-tools
# 7.7.0 and what it needs on Python 3.10-3.14 (it needs pip >= 26.2.2: pip 26.3 is pip's).
PIP_TOOLS_WHEELS = frozenset(
    {
        "pip-tools==7.7.0",
        "build==1.6.1",
        "click==8.5.1",
        "packaging==26.4",
        "pyproject_hooks==1.3.3",
        "wheel==0.48.0",
        "tomli==2.5.0",
        "typing_extensions==4.16.0",
    }
)
