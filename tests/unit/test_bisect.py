"""bisect's search on a fake runner: what a cell resolves as of each time is a function of the
time, as the index's uploads make it; the real probes run in tests/integration/test_as_of.py."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from repromatrix.core import asof
from repromatrix.core.errors import UsageError
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import CellResult, RunResult
from repromatrix.judge.index import IndexFile, Releases, _upload_time
from repromatrix.pipeline.bisect import bisect, bound, write_bisection

CELL = "bookworm-py3.11-venv-tf2.15.0-protobuf-cap"
# tensorflow's releases and a dependency's, as the index dates them
UPLOADS = {
    "tensorflow": {"2.17.0": "2024-07-11T12:00:00Z", "2.18.0": "2024-10-24T12:00:00Z",
                   "2.19.0": "2025-03-11T12:00:00Z", "2.20.0": "2025-08-13T12:00:00Z"},
    "protobuf": {"4.25.8": "2023-01-01T00:00:00Z", "5.29.5": "2024-12-01T00:00:00Z",
                 "6.33.1": "2025-06-01T00:00:00Z"},
}


def pages(name: str) -> Releases:
    files = [IndexFile(f"{name}-{v}-py3-none-any.whl", "", None, _upload_time(t)) for v, t in UPLOADS[name].items()]
    return Releases.from_files(name, files)


def newest(name: str, when: str) -> str:
    dated = {v: asof.parsed(t) for v, t in UPLOADS[name].items()}
    return max((v for v, t in dated.items() if t < asof.parsed(when)), key=lambda v: tuple(map(int, v.split("."))))


class Runner:
    """The cell as of a time: TensorFlow 2.20 (protobuf 6) breaks the library that caps protobuf."""

    def __init__(self, breaks_at: str = "2.20.0") -> None:
        self.times: list[str] = []
        self.setups: list[str | None] = []
        self.breaks_at = breaks_at

    def __call__(self, options, console) -> RunResult:
        when = options.as_of
        self.times.append(when)
        self.setups.append(options.setup_as_of)
        assert options.only == (CELL,) and not options.remedies.on  # one cell, no remedies
        tf = newest("tensorflow", when)
        broken = tuple(map(int, tf.split("."))) >= tuple(map(int, self.breaks_at.split(".")))
        protobuf = "6.33.1" if broken else "4.25.8"
        changed = [{"name": "tensorflow", "before": "2.15.0", "after": tf}]
        changed += [{"name": "protobuf", "before": "4.25.8", "after": protobuf}] if broken else []
        outcome = Outcome.UPGRADED_INCONSISTENT if broken else Outcome.UPGRADED
        cell = CellResult(CELL, {}, outcome, [], after=tf, changed=changed)
        return RunResult(run_id=f"probe-{len(self.times)}", matrix="m.yaml", target={}, started="", cells=[cell])


class FakeMatrix:
    path = "m.yaml"


def test_it_names_the_first_upload_that_changes_the_outcome_within_the_bound(tmp_path):
    runner = Runner()
    found = bisect(FakeMatrix(), CELL, "2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z", tmp_path,
                   Console(quiet=True), runner, pages)
    assert found.said == (f"{CELL} went upgraded → upgraded-inconsistent when tensorflow 2.20.0 was uploaded "
                          "(2025-08-13T12:00:00Z); with --as-of 2025-08-13T12:00:00Z, which takes only what was "
                          "uploaded before it, it resolves tensorflow 2.19.0")
    # the candidates are the uploads in the window of what resolved otherwise, not calendar days,
    # each from the first whole second after it (an as-of time takes what came before it)
    assert found.candidates == ["2024-10-24T12:00:01Z", "2024-12-01T00:00:01Z", "2025-03-11T12:00:01Z",
                                "2025-06-01T00:00:01Z", "2025-08-13T12:00:01Z"]
    # between the ends, each probe is the second before a candidate: the index as it was until then
    assert runner.times[2:] == ["2025-03-11T12:00:00Z", "2025-06-01T00:00:00Z", "2025-08-13T12:00:00Z"]
    assert len(runner.times) == len(found.probes) <= bound(5) == 5
    assert runner.times[:2] == ["2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z"]  # the ends first
    # every probe upgrades the setup built as of the good end
    assert runner.setups == ["2024-09-01T00:00:00Z"] * len(runner.times)


@pytest.mark.parametrize("breaks_at, culprit", [("2.18.0", "2024-10-24T12:00:00Z"),
                                                ("2.19.0", "2025-03-11T12:00:00Z")])
def test_wherever_the_break_is_the_search_finds_it(tmp_path, breaks_at, culprit):
    runner = Runner(breaks_at)
    found = bisect(FakeMatrix(), CELL, "2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z", tmp_path,
                   Console(quiet=True), runner, pages)
    assert [u.uploaded for u in found.culprit] == [culprit] and found.culprit[0].version == breaks_at
    # at the first candidate, the last good probe is the good end, and the verdict says that instead
    first = breaks_at == "2.18.0"
    latest = "as of 2024-09-01T00:00:00Z, the last good probe" if first else "with --as-of 2025-03-11T12:00:00Z,"
    assert latest in found.said, found.said
    assert len(found.probes) <= bound(len(found.candidates))


def test_the_same_outcome_at_both_ends_is_said_and_nothing_more_is_probed(tmp_path):
    runner = Runner()
    found = bisect(FakeMatrix(), CELL, "2024-09-01T00:00:00Z", "2024-12-31T00:00:00Z", tmp_path,
                   Console(quiet=True), runner, pages)
    assert "is upgraded as of 2024-09-01T00:00:00Z and as of 2024-12-31T00:00:00Z: nothing to bisect" in found.said
    assert len(runner.times) == 2


def test_a_setup_that_cannot_be_built_as_of_good_is_refused_with_the_fix(tmp_path):
    class TooEarly(Runner):
        def __call__(self, options, console) -> RunResult:
            self.times.append(options.as_of)
            said = ["ERROR: No matching distribution found for tensorflow==2.15.0"]
            cell = CellResult(CELL, {}, Outcome.SETUP_FAILED, said)
            return RunResult(run_id="probe", matrix="m.yaml", target={}, started="", cells=[cell])

    runner = TooEarly()
    with pytest.raises(UsageError, match=r"setup could not be built as of --good 2023-01-01T00:00:00Z \(ERROR: "
                                         r"No matching distribution found for tensorflow==2.15.0\)(.|\n)*later --good"):
        bisect(FakeMatrix(), CELL, "2023-01-01T00:00:00Z", "2025-09-01T00:00:00Z", tmp_path, Console(quiet=True),
               runner, pages)
    assert len(runner.times) == 1  # the bad end is not probed for nothing


def test_good_must_come_before_bad(tmp_path):
    with pytest.raises(UsageError, match="is not before"):
        bisect(FakeMatrix(), CELL, "2025-09-01T00:00:00Z", "2024-09-01T00:00:00Z", tmp_path, Console(quiet=True),
               Runner(), pages)


def test_the_probes_are_written_as_json_and_markdown(tmp_path):
    found = bisect(FakeMatrix(), CELL, "2024-09-01T00:00:00Z", "2025-09-01T00:00:00Z", tmp_path,
                   Console(quiet=True), Runner(), pages)
    data, text = write_bisection(found, tmp_path)
    said = json.loads(data.read_text())
    assert said["culprit"] == [{"name": "tensorflow", "version": "2.20.0", "uploaded": "2025-08-13T12:00:00Z",
                                "taken_from": "2025-08-13T12:00:01Z"}]
    assert said["bound"] == 5 and [p["as_of"] for p in said["probes"]][:2] == ["2024-09-01T00:00:00Z",
                                                                              "2025-09-01T00:00:00Z"]
    assert "| 2025-09-01T00:00:00Z | `upgraded-inconsistent` | 2.20.0 |" in text.read_text()


@pytest.mark.parametrize("uploads, most", [(0, 2), (1, 2), (2, 3), (3, 4), (4, 4), (5, 5), (1000, 12)])
def test_the_bound(uploads, most):
    assert bound(uploads) == most


def test_the_command_refuses_what_it_cannot_bisect_naming_it(tmp_path, write_matrix):
    from repromatrix.core.files import write_atomic
    from tests.unit.test_cli import NO_DOCKER, cli
    from tests.unit.test_diff import NIGHT_1

    folder = tmp_path / "night-1"
    folder.mkdir()
    write_atomic(folder / "results.json", json.dumps(NIGHT_1.to_json()))
    matrix = write_matrix("target: {index: local}\naxes: {os: [bookworm]}\n")
    no_cell = cli("bisect", str(folder), "nope", "--good", "P7D", "--matrix", str(matrix), env=NO_DOCKER)
    assert no_cell.returncode == 2 and "has no cell 'nope'" in no_cell.stderr, no_cell.stderr
    # the run's cell must be the matrix's (the matrix the user names, never one results.json names)
    not_in_matrix = cli("bisect", str(folder), "a", "--good", "P7D", "--matrix", str(matrix), env=NO_DOCKER)
    assert not_in_matrix.returncode == 2 and "no cell matches" in not_in_matrix.stderr, not_in_matrix.stderr
    naive = cli("bisect", str(folder), "a", "--good", "2024-01-01", env=NO_DOCKER)
    assert naive.returncode == 2 and "has no timezone" in naive.stderr
    for proc in (no_cell, not_in_matrix, naive):
        assert "Traceback" not in proc.stderr


# As the public index had them (its JSON page): a release's files arrive over minutes, and the
# cell's wheel is not the first. Seen in a real bisect: probing only each release's first file,
# it blamed protobuf 6.32.0 for what tensorflow 2.20.0's cp311 wheel did.
REAL_FILES = {
    "tensorflow": [("2.19.1", "cp311-cp311-manylinux_2_17_x86_64", "2025-08-13T16:28:32.949414Z"),
                   ("2.20.0", "cp39-cp39-macosx_12_0_arm64", "2025-08-13T16:50:38.945671Z"),
                   ("2.20.0", "cp311-cp311-manylinux_2_17_x86_64", "2025-08-13T16:51:55.104380Z")],
    "protobuf": [("6.32.0", "py3-none-any", "2025-08-14T21:21:12.500000Z")],
}


def real_pages(name: str) -> Releases:
    files = [IndexFile(f"{name}-{v}-{tag}.whl", "", None, _upload_time(t)) for v, tag, t in REAL_FILES[name]]
    return Releases.from_files(name, files)


def test_each_files_upload_is_a_candidate_at_the_first_whole_second_it_is_there(tmp_path):
    cp311 = {v: asof.parsed(t[:19] + "Z") for v, tag, t in REAL_FILES["tensorflow"] if "cp311" in tag}

    def runner(options, console) -> RunResult:
        # what the filtering index gives the cell: a file counts if uploaded by then, to the microsecond
        when = asof.parsed(options.as_of)
        there = [v for v, t in cp311.items() if t < when]  # t: the upload time cut to its second
        tf = max(there, default="2.19.0")
        outcome = Outcome.UPGRADED_INCONSISTENT if tf == "2.20.0" else Outcome.UPGRADED
        changed = [{"name": "tensorflow", "before": "2.15.0", "after": tf}]
        changed += [{"name": "protobuf", "before": "4.25.8", "after": "6.32.0"}] if tf == "2.20.0" else []
        cell = CellResult(CELL, {}, outcome, [], after=tf, changed=changed)
        return RunResult(run_id="p", matrix="m.yaml", target={}, started="", cells=[cell])

    found = bisect(FakeMatrix(), CELL, "2025-08-01T00:00:00Z", "2025-09-01T00:00:00Z", tmp_path,
                   Console(quiet=True), runner, real_pages)
    assert "2025-08-13T16:51:56Z" in found.candidates and "2025-08-13T16:50:39Z" in found.candidates
    culprit = [(u.name, u.version, u.uploaded) for u in found.culprit]
    assert culprit == [("tensorflow", "2.20.0", "2025-08-13T16:51:55.104380Z")]
    assert found.culprit[0].taken_from == "2025-08-13T16:51:56Z"
    assert "with --as-of 2025-08-13T16:51:55Z, which takes only what was uploaded before it, it resolves " \
        "tensorflow 2.19.1" in found.said
    assert len(found.probes) <= bound(len(found.candidates))
