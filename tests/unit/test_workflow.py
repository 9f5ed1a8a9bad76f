"""The nightly workflow keeps its contract: runs the matrix, keeps history, posts on exit 1."""

from __future__ import annotations

import yaml

from tests.conftest import REPO


def test_nightly_workflow():
    flow = yaml.safe_load((REPO / ".github/workflows/nightly.yml").read_text())
    assert "schedule" in flow[True]  # YAML 1.1 reads the key `on` as True
    steps = flow["jobs"]["matrix"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "") for s in steps]
    assert "bash scripts/provision-host" in runs and "nox -s matrix" in runs
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    assert any(u.startswith("actions/cache/restore") for u in uses)
    assert any(u.startswith("actions/cache/save") for u in uses)
    post = next(s for s in steps if "gh issue" in s.get("run", ""))
    assert post["if"] == "steps.matrix.outputs.exit == '1'" and "summary.md" in post["env"]["SUMMARY"]
