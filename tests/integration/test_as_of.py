"""--as-of on real containers and the dated local index (examples/as-of.yaml): the same cells as of
two times, through each way a cell sees the index as it was (bullseye's pip 20.3.4 and pip 23.0.1
through repromatrix's date-filtering index, pip 26.3's own --uploaded-prior-to, uv's
--exclude-newer); what the filter served; diff and bisect between the two times. What changes the
outcome is a dependency's upload, not TensorFlow's: protobuf 4.21.1 (2022-05-27) breaks a fresh
install of TensorFlow 2.8.0 at import, as on the public index, where 4.21.0 the day before is
yanked."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ExampleRun, repromatrix, shared_run

BEFORE, AFTER = "2022-04-01T00:00:00Z", "2022-06-01T00:00:00Z"  # around protobuf 4.21's uploads
CELLS = {
    # pip 20.3.4 reads the HTML pages, which carry no upload times: only the filtering index serves it
    "bullseye-py3.9-venv-fresh": "date-filtering index",
    "bullseye-py3.9-venv-fresh-pip23.0.1": "date-filtering index",
    "bookworm-py3.10-venv-fresh-pip26.3": "pip's own filter (PIP_UPLOADED_PRIOR_TO)",
    "bullseye-py3.9-venv-fresh-uv": "uv's own filter (UV_EXCLUDE_NEWER)",
}
OLD_CODE = "TypeError: Descriptors cannot not be created directly."


@pytest.fixture(scope="session")
@shared_run
def as_of_runs(docker_client, tmp_path_factory) -> dict[str, dict]:
    """The example as of its own time (AFTER), then with --as-of BEFORE: {time: results}."""
    out = tmp_path_factory.mktemp("as-of")
    after = ExampleRun("examples/as-of.yaml", out)
    assert after.proc.returncode == 0, after.proc.stderr[-5000:]
    # as of BEFORE every cell upgrades cleanly: unexpected against the matrix (exit 1), as it says
    before = repromatrix("run", "--matrix", "examples/as-of.yaml", "--out", str(out), "--as-of", BEFORE)
    assert before.returncode == 1, before.stderr[-5000:]
    latest = (out / "latest").resolve()
    return {AFTER: after.results | {"dir": after.dir},
            BEFORE: json.loads((latest / "results.json").read_text()) | {"dir": latest}}


@pytest.mark.parametrize("cell_id", CELLS)
def test_the_same_cell_as_of_two_times_resolves_what_was_uploaded_by_then(as_of_runs, cell_id):
    after, before = ({c["id"]: c for c in as_of_runs[t]["cells"]}[cell_id] for t in (AFTER, BEFORE))
    ends = ((AFTER, after), (BEFORE, before))
    protobuf = {t: {c["name"]: c for c in cell["changed"]}["protobuf"] for t, cell in ends}
    # TensorFlow 2.8.0 either way; protobuf 4.21.1 refuses its generated code, in Python's own words
    assert (after["outcome"], after["after"]) == ("import-error", "2.8.0"), after["evidence"]
    assert after["evidence"] == [f"import tensorflow failed: {OLD_CODE}"]
    assert (protobuf[AFTER]["after"], protobuf[AFTER]["uploaded"]) == ("4.21.1", "2022-05-27T23:00:00Z")
    # before protobuf 4.21, the newest it could take was 3.19.4, and the install works
    assert (before["outcome"], before["after"]) == ("upgraded", "2.8.0"), before["evidence"]
    assert (protobuf[BEFORE]["after"], protobuf[BEFORE]["uploaded"]) == ("3.19.4", "2022-01-28T17:00:00Z")
    # each cell says which time, and how it saw the index then
    for cell, when in ((after, AFTER), (before, BEFORE)):
        assert any(note.startswith(f"the index as of {when}: ") and CELLS[cell_id] in note
                   for note in cell["notes"]), cell["notes"]


def test_the_report_says_which_time(as_of_runs):
    for when, results in as_of_runs.items():
        assert results["target"]["as_of"] == when
        assert f"as of {when.replace(':', chr(92) + ':')}" in (results["dir"] / "summary.md").read_text()
        assert f'<b id="as-of">as of {when}</b>' in (results["dir"] / "index.html").read_text()


def test_the_filter_not_luck_left_the_later_uploads_out(as_of_runs):
    # No cell asked the index for a protobuf uploaded after BEFORE, by either way: pip 26.3 and uv
    # read the local index themselves, pip 20.3.4 and 23.0.1 through the date-filtering index, which
    # redirects to it and logs what it served
    run = as_of_runs[BEFORE]["dir"]
    later = [f"protobuf-{v}-" for v in ("3.19.6", "3.20.1", "3.20.3", "4.21.0", "4.21.1", "4.25.8", "6.33.1")]
    asked = [line for line in (run / "index-access.log").read_text().splitlines() if "/packages/" in line]
    assert any("protobuf-3.19.4-" in line for line in asked), asked[-10:]
    assert not [line for line in asked if any(name in line for name in later)]
    served = (run / "timemachine.log").read_text()
    assert f"listening on port 8000: https://repromatrix-index:8443/simple/ as of {BEFORE}" in served
    assert "/resources/protobuf/protobuf-3.19.4-" in served
    assert not any(name in served for name in later)


def test_each_cell_dates_what_its_upgrade_took(as_of_runs):
    # PEP 700's times from the dated local index, as the cell's resolved set
    cells = {c["id"]: c for c in as_of_runs[BEFORE]["cells"]}
    took = {c["name"]: c for c in cells["bullseye-py3.9-venv-fresh"]["changed"]}
    assert took["tensorflow"]["after"] == "2.8.0" and took["tensorflow"]["uploaded"] == "2022-02-02T12:00:00Z"
    assert took["numpy"]["after"] == "1.26.4" and took["numpy"]["uploaded"] == "2022-01-03T00:00:00Z"


def test_diff_and_the_baseline_name_what_resolved_otherwise(as_of_runs):
    after, before = (as_of_runs[t]["dir"] for t in (AFTER, BEFORE))
    proc = repromatrix("diff", str(after), str(before))
    assert proc.returncode == 0, proc.stderr
    said = proc.stdout.replace("\\", "")
    assert "4 of 4 cells in both runs differ" in said
    for cell in CELLS:
        assert (f"| `{cell}` | `import-error` → `upgraded` | 2.8.0 | protobuf 4.21.1 (uploaded "
                "2022-05-27T23:00:00Z) → 3.19.4 (uploaded 2022-01-28T17:00:00Z) |") in said, said
    # the second run's baseline is the first (the same matrix, the same reports directory)
    summary = (before / "summary.md").read_text().replace("\\", "")
    assert f"### What changed since run {after.name} (4)" in summary
    assert "- `bullseye-py3.9-venv-fresh-uv`: `import-error` → `upgraded`: protobuf 4.21.1 → 3.19.4" in summary


def test_bisect_names_the_dependency_upload_that_broke_the_cell_within_the_probe_bound(as_of_runs, tmp_path):
    # between the two times, through bullseye's pip 20.3.4 and the date-filtering index
    cell = "bullseye-py3.9-venv-fresh"
    proc = repromatrix("bisect", str(as_of_runs[AFTER]["dir"]), cell, "--matrix", "examples/as-of.yaml",
                       "--good", BEFORE, "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # every installer skips the yanked 4.21.0, which the filter serves as yanked: 4.21.1 broke it
    assert (f"{cell} went upgraded → import-error when protobuf 4.21.1 was uploaded (2022-05-27T23:00:00Z); "
            "with --as-of 2022-05-27T23:00:00Z, which takes only what was uploaded before it, it resolves "
            "protobuf 3.20.1") in " ".join((proc.stdout + proc.stderr).split()), proc.stderr[-3000:]
    (found,) = (tmp_path / "bisect" / cell).glob("bisect-*/bisect.json")
    said = json.loads(found.read_text())
    # protobuf's three uploads in the window (TensorFlow 2.8.0 is the same at both ends; the yanked
    # one is an upload too), each taken from the second after its upload
    assert said["candidates"] == ["2022-04-22T12:00:01Z", "2022-05-26T12:00:01Z", "2022-05-27T23:00:01Z"]
    assert len(said["probes"]) <= said["bound"] == 4
    assert [(p["as_of"], p["outcome"]) for p in said["probes"]][:2] == [(BEFORE, "upgraded"), (AFTER, "import-error")]
    # every probe upgraded the one setup built as of the good end; only its upgrade saw its time
    probes = [json.loads((tmp_path / "bisect" / cell / p["run"] / "results.json").read_text()) for p in said["probes"]]
    assert len({r["cells"][0]["setup_image"] for r in probes}) == 1
    assert [r["cells"][0]["setup"] for r in probes[1:]] == ["cached"] * (len(probes) - 1)
    assert [r["target"].get("setup_as_of") for r in probes] == [None] + [BEFORE] * (len(probes) - 1)
    assert [r["target"]["as_of"] for r in probes] == [p["as_of"] for p in said["probes"]]


def test_the_filter_served_exactly_the_files_uploaded_by_then_as_the_index_lists_them(as_of_runs, tmp_path):
    import html
    import re

    from repromatrix.core import asof
    from repromatrix.infra.localindex import write_index

    index = json.loads((write_index(tmp_path) / "simple" / "tensorflow" / "index.json").read_text())
    by_then = [f for f in index["files"] if asof.parsed(f["upload-time"].replace(".000000", "")) < asof.parsed(BEFORE)]
    assert 0 < len(by_then) < len(index["files"])
    run = as_of_runs[BEFORE]["dir"]
    served = json.loads((run / "timemachine-tensorflow.json").read_text())
    # the same files, hashes, Requires-Python and upload times; none uploaded later
    assert sorted((f["filename"], f["hashes"]["sha256"], f.get("requires-python"), f["upload-time"][:19])
                  for f in served["files"]) == sorted(
        (f["filename"], f["hashes"]["sha256"], f.get("requires-python"), f["upload-time"][:19]) for f in by_then)
    # the HTML form old pips read: the same files, each link with its hash and data-requires-python
    page = (run / "timemachine-tensorflow.html").read_text()
    links = re.findall(r'<a href="[^"#]*/([^/"#]+)#sha256=(\w+)"([^>]*)>', page)
    assert sorted((name, digest) for name, digest, _ in links) == sorted(
        (f["filename"], f["hashes"]["sha256"]) for f in by_then)
    for name, _, attributes in links:
        wanted = next(f.get("requires-python") for f in by_then if f["filename"] == name)
        assert f'data-requires-python="{html.escape(wanted)}"' in attributes, (name, attributes)
