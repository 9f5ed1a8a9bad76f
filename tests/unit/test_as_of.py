"""--as-of: the time a run sees the index at, resolved once; how each cell gets there (its
installer's own filter, or the run's date-filtering index); the index's upload times read and
filtered the way "the newest release" is then judged."""

from __future__ import annotations

import datetime
import json
from dataclasses import replace

import pytest
from packaging.version import Version

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core import asof
from repromatrix.core.axes import Service
from repromatrix.core.errors import InfraError, MatrixError, UsageError
from repromatrix.infra.timemachine import TIME_HOST, TIME_PORT, time_url
from repromatrix.installers import installer
from repromatrix.judge.index import IndexFile, Releases
from repromatrix.pipeline.prepare import RunOptions, prepare
from repromatrix.pipeline.trust import needs_of
from repromatrix.plan.plan import as_of_route, local_index_context, plan_cell
from repromatrix.plan.render import render_dockerfile
from tests.unit.test_cli import NO_DOCKER, cli

STARTED = datetime.datetime(2026, 12, 4, 21, 30, 5, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("text, resolved", [
    ("2024-03-13T18:02:00Z", "2024-03-13T18:02:00Z"),
    ("2024-03-13T19:02:00+01:00", "2024-03-13T18:02:00Z"),  # the same instant, said in UTC
    ("2024-03-13T13:02:00.900-05:00", "2024-03-13T18:02:00Z"),
    ("P1D", "2026-12-03T21:30:05Z"),  # before the run started
    ("PT12H", "2026-12-04T09:30:05Z"),
    ("P1W", "2026-11-27T21:30:05Z"),
    ("P1DT6H30M", "2026-12-03T15:00:05Z"),
])
def test_a_time_or_a_duration_resolves_to_one_utc_time(text, resolved):
    assert asof.problem(text) is None
    assert asof.resolve(text, STARTED) == resolved
    assert asof.parsed(resolved).tzinfo is datetime.timezone.utc


@pytest.mark.parametrize("text, said", [
    ("2024-03-13T18:02:00", "has no timezone"),
    ("2024-03-13", "has no timezone"),  # midnight where?
    ("P1M", "not a duration of weeks, days"),  # a month has no fixed length
    ("P", "not a duration"),
    ("PT", "not a duration"),
    ("yesterday", "not an ISO 8601 time"),
    ("2024-13-01T00:00:00Z", "not an ISO 8601 time"),
])
def test_a_time_that_names_no_instant_is_refused(text, said):
    assert said in asof.problem(text)


def test_the_matrix_key_is_checked_naming_the_file_line_and_key(write_matrix):
    path = write_matrix("target:\n  index: local\n  as_of: '2024-03-13T18:02:00'\naxes: {os: [bookworm]}\n")
    with pytest.raises(MatrixError) as refused:
        load_matrix(path)
    said = str(refused.value)
    assert f"{path}:3" in said and "target.as_of" in said and "has no timezone" in said
    assert "2024-03-13T18:02:00Z" in said  # the fix, spelled out
    good = write_matrix("target: {index: local, as_of: P1D}\naxes: {os: [bookworm]}\n", name="good.yaml")
    assert load_matrix(good).target.as_of == "P1D"  # as written, until a run starts


def test_the_command_line_refuses_a_time_without_a_timezone(write_matrix):
    path = write_matrix("target: {index: local}\n")
    proc = cli("run", "--matrix", str(path), "--as-of", "2024-03-13", env=NO_DOCKER)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "--as-of" in proc.stderr and "has no timezone" in proc.stderr


def test_a_run_resolves_its_time_once_and_a_resumed_run_keeps_it(write_matrix, tmp_path):
    path = write_matrix("target: {index: local, as_of: '2024-03-13T19:02:00+01:00'}\n"
                        "axes: {os: [bookworm], install: [venv]}\n")
    prepared = prepare(RunOptions(path, out=tmp_path / "reports"))
    assert prepared.matrix.target.as_of == "2024-03-13T18:02:00Z"
    assert prepared.header.target["as_of"] == "2024-03-13T18:02:00Z"
    # the command line's wins over the matrix's; a duration is counted from the run's start
    relative = prepare(RunOptions(path, out=tmp_path / "reports", as_of="P1D"))
    started = datetime.datetime.fromisoformat(relative.header.started)
    assert relative.matrix.target.as_of == asof.resolve("P1D", started)
    # --resume: the time run.json has, not the matrix's again
    prepared.journal.start(prepared.header)
    path.write_text(path.read_text())  # the same matrix (its hash is checked)
    resumed = prepare(RunOptions(path, out=tmp_path / "reports", resume=prepared.header.run_id))
    assert resumed.matrix.target.as_of == "2024-03-13T18:02:00Z"


@pytest.mark.parametrize("name, version, route", [
    ("pip", None, "service"),  # the interpreter's pip: not known before the cell runs
    ("pip", "25.3", "service"),  # no --uploaded-prior-to before 26.0
    ("pip", "26.0", "installer"),
    ("pip", "26.3", "installer"),
    ("uv", None, "installer"),  # --exclude-newer in every uv
    ("uv-add", "0.13.9", "installer"),
    ("pip-tools", None, "service"),
])
def test_each_cell_takes_its_installers_filter_where_it_surely_has_one(name, version, route):
    assert as_of_route(installer(name), version) == route


def plans(write_matrix, body: str, as_of: str = "2025-09-01T00:00:00Z", setup_as_of: str = ""):
    matrix = load_matrix(write_matrix(f"target: {{index: local}}\n{body}"))
    target = replace(matrix.target, as_of=as_of, setup_as_of=setup_as_of)
    ctx = local_index_context(target, None, b"")
    return {cell.id: plan_cell(cell, ctx) for cell in expand(matrix)}, ctx


PIP_AND_UV = ("axes: {os: [bookworm], install: [venv], installer: [pip, uv], pip: [os]}\n"
              "include: [{installer: pip, pip: '26.3'}]\n")


def test_the_cells_variables_say_how_each_sees_the_index_then(write_matrix):
    by_id, ctx = plans(write_matrix, PIP_AND_UV)
    env = {cid: dict(p.env) for cid, p in by_id.items()}
    old, new, uv = (env[c] for c in ("bookworm-py3.11-venv-fresh", "bookworm-py3.11-venv-fresh-pip26.3",
                                     "bookworm-py3.11-venv-fresh-uv"))
    # the interpreter's pip: the date-filtering index, over HTTP on the run's network
    url = time_url("2025-09-01T00:00:00Z")
    assert old["PIP_INDEX_URL"] == url == f"http://{TIME_HOST}:{TIME_PORT}/as-of/2025-09-01T00:00:00Z/simple/"
    assert old["PIP_TRUSTED_HOST"] == TIME_HOST
    assert "PIP_UPLOADED_PRIOR_TO" not in old
    # pip 26.3 and uv: their own filters, in front of the local index itself
    assert new["PIP_UPLOADED_PRIOR_TO"] == "2025-09-01T00:00:00Z" and new["PIP_INDEX_URL"] != url
    assert uv["UV_EXCLUDE_NEWER"] == "2025-09-01T00:00:00Z" and uv["UV_INDEX_URL"] != url
    cell = by_id["bookworm-py3.11-venv-fresh"]
    assert any("date-filtering index (no PIP_UPLOADED_PRIOR_TO before pip 26.0)" in n for n in cell.notes)
    # before the setup: the prior version and the environment were installed as of the time too,
    # and the setup cache's key (the Dockerfile) changes with it
    text = render_dockerfile(cell, ctx)
    assert text.index(f"ENV PIP_INDEX_URL='{url}'") < text.index("ARG REPROMATRIX_INDEX_STATE")
    later, _ = plans(write_matrix, PIP_AND_UV, as_of="2025-09-01T00:00:01Z")
    assert render_dockerfile(later["bookworm-py3.11-venv-fresh"], ctx) != text


def test_a_setup_built_as_of_another_time_is_shared_and_only_the_upgrade_sees_the_probes_time(write_matrix):
    # bisect's probes: the setup as of --good (one Dockerfile stage, one cache key, for every probe);
    # the upgrade as of the probe, set after the setup stage, by each route
    good, probe = "2024-09-01T00:00:00Z", "2025-03-11T12:00:00Z"
    alone, ctx = plans(write_matrix, PIP_AND_UV, as_of=good)
    shared, _ = plans(write_matrix, PIP_AND_UV, as_of=probe, setup_as_of=good)
    for cell_id, plan in shared.items():
        text = render_dockerfile(plan, ctx)
        setup, scenario = text.split("FROM setup\n", 1)
        assert setup == render_dockerfile(alone[cell_id], ctx).split("FROM setup\n", 1)[0]
        assert probe not in setup and good in setup
        wanted = {"through repromatrix's date-filtering index": ("PIP_INDEX_URL", time_url(probe)),
                  "pip's own filter": ("PIP_UPLOADED_PRIOR_TO", probe),
                  "uv's own filter": ("UV_EXCLUDE_NEWER", probe)}
        note = next(n for n in plan.notes if n.startswith(f"the index as of {probe}: "))
        (name, value), = [v for k, v in wanted.items() if k in note]
        assert dict(plan.upgrade_env)[name] == value and f"ENV {name}='{value}'" in scenario
        assert f"its setup was built as of {good}, before the upgrade's time" in plan.notes
        assert not alone[cell_id].upgrade_env  # one time: nothing set twice


def test_a_setup_time_after_the_upgrades_is_refused(write_matrix):
    from repromatrix.core.errors import UsageError
    from repromatrix.pipeline.prepare import with_setup_as_of

    text = "target: {index: local, as_of: '2024-09-01T00:00:00Z'}\naxes: {os: [bookworm]}\n"
    matrix = load_matrix(write_matrix(text))
    with pytest.raises(UsageError, match="would come after the upgrade's"):
        with_setup_as_of(matrix, "2025-01-01T00:00:00Z")
    with pytest.raises(UsageError, match="not a UTC time"):
        with_setup_as_of(matrix, "yesterday")
    assert with_setup_as_of(matrix, "2024-09-01T00:00:00Z").target.setup_as_of == ""  # the same time
    assert with_setup_as_of(matrix, "2024-01-01T00:00:00Z").target.as_of_times == (
        "2024-01-01T00:00:00Z", "2024-09-01T00:00:00Z")


def test_without_as_of_no_cell_changes(write_matrix):
    by_id, _ = plans(write_matrix, PIP_AND_UV, as_of="")
    assert all(p.as_of_route is None for p in by_id.values())
    assert not any("UPLOADED" in name or "EXCLUDE" in name for p in by_id.values() for name, _ in p.env)


def test_the_run_starts_the_filtering_index_only_for_cells_that_need_it(write_matrix):
    def needs(axes: str, as_of: str = "2025-09-01T00:00:00Z"):
        matrix = load_matrix(write_matrix(f"target: {{index: local}}\naxes: {axes}\n"))
        matrix = replace(matrix, target=replace(matrix.target, as_of=as_of))
        return needs_of(matrix, expand(matrix))

    assert Service.TIMEMACHINE in needs("{os: [bookworm], installer: [pip, uv]}").services
    assert Service.TIMEMACHINE not in needs("{os: [bookworm], installer: [uv]}").services
    assert Service.TIMEMACHINE not in needs("{os: [bookworm], pip: ['26.3']}").services
    assert Service.TIMEMACHINE not in needs("{os: [bookworm]}", as_of="").services
    # behind the test proxy the filtering index is out of reach: said before any work
    with pytest.raises(UsageError, match=r"(?s)behind the test proxy.*pip: \['26.1'\]"):
        needs("{os: [bookworm], network: [proxy]}")
    assert Service.TIMEMACHINE not in needs("{os: [bookworm], network: [proxy], installer: [uv]}").services


def files(*dated: tuple[str, str | None]) -> Releases:
    """Releases from JSON entries, read as fetch_releases reads them."""
    from repromatrix.judge.index import _upload_time

    listed = [IndexFile(f"tensorflow-{v}-cp311-cp311-manylinux_2_17_x86_64.whl", ">=3.9", None, _upload_time(t))
              for v, t in dated]
    return Releases.from_files("tensorflow", listed)


def test_the_newest_release_is_the_newest_uploaded_before_then():
    # 2.22.0 half an hour before 2.21.0, said in +01:00; a time is compared as an instant, and as
    # pip's --uploaded-prior-to and uv's --exclude-newer take it: what came strictly before
    releases = files(("2.20.0", "2025-08-13T12:00:00.000000Z"), ("2.21.0", "2026-03-10T12:00:00Z"),
                     ("2.22.0", "2026-03-10T12:30:00+01:00"))
    newest = {when: str(releases.uploaded_before(asof.parsed(when)).newest())
              for when in ("2026-03-10T11:29:59Z", "2026-03-10T11:30:00Z", "2026-03-10T11:30:01Z")}
    assert newest == {"2026-03-10T11:29:59Z": "2.20.0", "2026-03-10T11:30:00Z": "2.20.0",
                      "2026-03-10T11:30:01Z": "2.22.0"}
    assert set(releases.uploaded_before(asof.parsed("2026-03-10T12:00:00Z")).tags) == {
        Version("2.20.0"), Version("2.22.0")}
    assert Version("2.21.0") in releases.uploaded_before(asof.parsed("2026-03-10T12:00:01Z")).tags
    assert not releases.undated


def test_an_index_that_dates_nothing_is_refused_rather_than_filtered_by_luck(write_matrix):
    from repromatrix.pipeline.hosts import _as_it_was

    undated = files(("2.20.0", None), ("2.21.0", None))
    assert undated.undated
    matrix = load_matrix(write_matrix("axes: {os: [bookworm]}\n"))
    plain = matrix
    matrix = replace(matrix, target=replace(matrix.target, as_of="2024-03-13T18:02:00Z"))
    with pytest.raises(InfraError, match=r"gives none of tensorflow's files an upload time \(PEP 700"):
        _as_it_was(undated, matrix)
    # a file the index does not date stays (and says nothing of the time); the others are filtered
    mixed = files(("2.20.0", None), ("2.21.0", "2026-03-10T12:00:00Z"))
    assert str(_as_it_was(mixed, matrix).newest()) == "2.20.0"
    assert _as_it_was(undated, plain) is undated  # no --as-of


def test_the_local_index_dates_its_files_and_pep_700_spells_them(tmp_path):
    from repromatrix.infra.localindex import PROTOBUF_YANKED, write_index

    root = write_index(tmp_path)
    page = json.loads((root / "simple" / "tensorflow" / "index.json").read_text())
    from repromatrix.judge.index import _upload_time

    times = {f["filename"].split("-")[1]: _upload_time(f["upload-time"]) for f in page["files"]}
    assert times["2.21.0"] == asof.parsed("2026-03-10T12:00:00Z")
    assert sorted(times, key=lambda v: times[v])[-1] == "2.22.0rc0"
    # the dated history of the dependencies: as of a day in May 2022 the newest protobuf that
    # TensorFlow 2.8.0 takes is 3.20.1, and NumPy 1; protobuf 4.21.0 came the day after, yanked,
    # then 4.21.1, as on the public index, and NumPy 2 and protobuf 4.25 years later
    def newest(project: str, when: str) -> str:
        page = json.loads((root / "simple" / project / "index.json").read_text())
        by_then = [f["filename"].split("-")[1] for f in page["files"]
                   if _upload_time(f["upload-time"]) < asof.parsed(when) and not f["yanked"]]
        return str(max(map(Version, by_then)))

    protobuf = json.loads((root / "simple" / "protobuf" / "index.json").read_text())["files"]
    (yanked,) = [f for f in protobuf if f["yanked"]]
    assert (yanked["filename"], yanked["yanked"]) == ("protobuf-4.21.0-py3-none-any.whl", PROTOBUF_YANKED["4.21.0"])
    listing = (root / "simple" / "protobuf" / "index.html").read_text()
    assert f'data-yanked="{PROTOBUF_YANKED["4.21.0"]}">protobuf-4.21.0-py3-none-any.whl</a>' in listing

    assert times["2.8.0"] < asof.parsed("2022-04-01T00:00:00Z")
    assert newest("protobuf", "2022-04-01T00:00:00Z") == "3.19.4"
    assert (newest("protobuf", "2022-05-26T00:00:00Z"), newest("numpy", "2022-05-26T00:00:00Z")) == (
        "3.20.1", "1.26.4")
    assert newest("protobuf", "2022-05-27T00:00:00Z") == "3.20.1"  # 4.21.0 is there, yanked
    assert newest("protobuf", "2022-06-01T00:00:00Z") == "4.21.1"
    assert (newest("protobuf", "2025-09-01T00:00:00Z"), newest("numpy", "2025-09-01T00:00:00Z")) == (
        "6.31.1", "2.2.6")


def test_render_resolves_a_duration_against_now(write_matrix, tmp_path):
    from repromatrix.pipeline.run import render_only

    path = write_matrix("target: {index: local, as_of: P1D}\naxes: {os: [bookworm], installer: [uv]}\n")
    (context,) = render_only(path, tmp_path / "out")
    line = next(x for x in (context / "Dockerfile").read_text().splitlines() if "UV_EXCLUDE_NEWER" in x)
    when = asof.parsed(line.split("=", 1)[1].strip("'"))
    a_day = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
    assert abs((when - a_day).total_seconds()) < 120  # a time, not the duration as written
