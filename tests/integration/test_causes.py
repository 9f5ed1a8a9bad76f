"""examples/causes.yaml on real containers: each field cause, its outcome and pip's words."""

from __future__ import annotations

import pytest


def test_every_cause_is_reproduced_as_expected(causes_run):
    mismatches = {i: (c["outcome"], c["expected"], c["evidence"]) for i, c in causes_run.cells.items()
                  if c["unexpected"]}
    assert not mismatches


@pytest.mark.parametrize("cell_id, outcome, evidence", [
    # install: system-user / user-flag on pip 20.3 land in the user's site-packages only.
    ("bullseye-py3.9-system-user-tf2.15.0", "split-install", "user imports tensorflow 2.20.0; root imports 2.15.0"),
    ("bullseye-py3.9-user-flag-tf2.15.0", "split-install", "user imports tensorflow 2.20.0; root imports 2.15.0"),
    # PEP 668 blocks a non-root user, --user or not.
    ("bookworm-py3.11-system-user-tf2.15.0", "externally-managed", "error: externally-managed-environment"),
    ("bookworm-py3.11-user-flag-tf2.15.0", "externally-managed", "error: externally-managed-environment"),
    # A user's own venv works.
    ("bookworm-py3.11-user-venv-tf2.15.0", "upgraded", "Successfully installed protobuf-6.33.1 tensorflow-2.21.0"),
    # A venv created by root, upgraded by a user: permission denied (pip 20.3 and 23.0 wordings).
    ("bullseye-py3.9-root-venv-user-tf2.15.0", "permission-denied",
     "ERROR: Could not install packages due to an EnvironmentError: [Errno 13] Permission denied: '__init__.py'"),
    ("bookworm-py3.11-root-venv-user-tf2.15.0", "permission-denied",
     "ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '__init__.py'"),
])
def test_cause(causes_run, cell_id, outcome, evidence):
    cell = causes_run.cells[cell_id]
    assert (cell["outcome"], evidence in cell["evidence"]) == (outcome, True), cell["evidence"]


def test_split_install_keeps_root_on_the_old_version(causes_run):
    cell = causes_run.cells["bullseye-py3.9-system-user-tf2.15.0"]
    assert (cell["before"], cell["after"]) == ("2.15.0", "2.20.0")  # as the user who upgraded sees it
    assert "== repromatrix: as root: tensorflow 2.15.0, import ok" in causes_run.log(cell["id"])
