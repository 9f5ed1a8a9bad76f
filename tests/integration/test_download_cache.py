"""The download cache on real containers (examples/download-cache.yaml: squid with TLS bumping in
front of the local index): the same cells with and without it end in the same outcomes and
versions, and a second run takes every file from the cache."""

from __future__ import annotations

from repromatrix.results.formats import md
from tests.integration.conftest import ExampleRun

MATRIX = "examples/download-cache.yaml"
CELLS = ("-k", "prior=2.15.0")  # pip and uv from a prior version, and the proxy cell


def said(run: ExampleRun) -> dict[str, tuple[str, str | None]]:
    return {cid: (c["outcome"], c["after"]) for cid, c in run.cells.items()}


def test_with_and_without_the_cache_the_same_outcomes_and_the_second_run_from_the_cache(tmp_path):
    first = ExampleRun(MATRIX, tmp_path / "first", *CELLS)
    assert first.proc.returncode == 0, first.proc.stderr[-3000:]
    second = ExampleRun(MATRIX, tmp_path / "second", *CELLS)
    assert second.proc.returncode == 0, second.proc.stderr[-3000:]
    without = ExampleRun(MATRIX, tmp_path / "without", *CELLS, "--download-cache", "off")
    assert without.proc.returncode == 0, without.proc.stderr[-3000:]

    assert said(first) == said(second) == said(without)
    assert {c["outcome"] for c in first.cells.values()} == {"upgraded"}
    routes = {cid: c["downloads"] for cid, c in second.cells.items()}
    assert routes == {"bookworm-py3.11-venv-tf2.15.0": "all", "bookworm-py3.11-venv-tf2.15.0-uv": "all",
                      "bookworm-py3.11-venv-tf2.15.0-proxy": "setup"}  # its upgrade's path is under test
    counts = second.results["download_cache"]
    # every file the cells took was in the store by then: none crossed to the index again
    assert counts["files_from_index"] == 0 and counts["files_from_cache"] > 0, counts
    assert md("download cache: 0 files (0 B) from the index") in (second.dir / "summary.md").read_text()
    assert without.results["download_cache"] == {}
    assert {c["downloads"] for c in without.cells.values()} == {""}
