"""Both sides of the container boundary in one place: the variables the scenario reads, the
paths inside a cell's container, the markers in its output, and the record it prints.

The scenario (templates/scenario.py) runs on the cell's own python3 (3.7 and later) and cannot
import this module; it spells the same names, and tests/unit/test_contract.py holds the two to
each other: a name the scenario reads that is not declared here, or one declared here that it
never reads, fails the suite.
"""

from __future__ import annotations

import json
from typing import Any, Final

# -- what the scenario reads (set in the cell's Dockerfile, or for an attempt at `docker run`) ---
PACKAGE: Final = "REPROMATRIX_PACKAGE"  # the target's distribution name
IMPORTS: Final = "REPROMATRIX_IMPORTS"  # import names to check; empty: from the installed metadata
UPGRADE: Final = "REPROMATRIX_UPGRADE"  # the upgrade command, split like a shell would
USER: Final = "REPROMATRIX_USER"  # who runs the upgrade ("" or unset: root)
IDENTITIES: Final = "REPROMATRIX_IDENTITIES"  # who imports the target afterwards
CHECKS: Final = "REPROMATRIX_CHECKS"  # the path of checks.json, if the matrix has checks
SETUP: Final = "REPROMATRIX_SETUP"  # steps that need the index's credentials, run first
INDEX_SECRET: Final = "REPROMATRIX_INDEX_SECRET"  # the file with the index URL and credentials
PROXY_SECRET: Final = "REPROMATRIX_PROXY_SECRET"  # the file with the proxy URL and credentials
TIMEOUT: Final = "REPROMATRIX_TIMEOUT"  # seconds the upgrade may run (resources: time-limit)
BEFORE: Final = "REPROMATRIX_BEFORE"  # a remedy's steps before the upgrade (JSON)
UNSET: Final = "REPROMATRIX_UNSET"  # variables a remedy unsets
PATH: Final = "REPROMATRIX_PATH"  # a directory a remedy puts first on PATH (its venv's bin)
SCENARIO_VARIABLES: Final = (PACKAGE, IMPORTS, UPGRADE, USER, IDENTITIES, CHECKS, SETUP, INDEX_SECRET,
                             PROXY_SECRET, TIMEOUT, BEFORE, UNSET, PATH)

# -- paths inside the container -----------------------------------------------------------------
SCENARIO_PATH: Final = "/opt/repromatrix/scenario.py"
CHECKS_PATH: Final = "/opt/repromatrix/checks.json"
CA_BUNDLE_PATH: Final = "/usr/local/share/repromatrix/ca-bundle.pem"  # the CA a cell trusts
REMEDY_CA_PATH: Final = "/opt/repromatrix/remedy-ca.pem"  # the CA the trust-ca remedy mounts
PROXY_SECRET_PATH: Final = "/run/secrets/repromatrix-proxy-url"  # mounted at run time
INDEX_SECRET_PATH: Final = "/run/secrets/repromatrix-index-url"  # mounted at run time

# -- markers ------------------------------------------------------------------------------------
RECORD_PREFIX: Final = "REPROMATRIX-RECORD "  # the scenario's last word: this, then one JSON line
SETUP_MARKER: Final = ": repromatrix-setup"  # the RUN whose failure means setup-failed
RECORD_SCHEMA: Final = 1


def parse_record(output: str) -> dict[str, Any] | None:
    """The record from the container's output: the last line with the prefix that holds a JSON
    object; None when the scenario never printed one (killed, or a build that never ran)."""
    for line in reversed(output.splitlines()):
        if not line.startswith(RECORD_PREFIX):
            continue
        try:
            record = json.loads(line[len(RECORD_PREFIX):])
        except json.JSONDecodeError:
            return None
        return record if isinstance(record, dict) else None
    return None
