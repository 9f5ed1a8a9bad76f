"""The download cache's pure logic: which cells' downloads go through it (and which keep their
own path to the index), what its own log counts (real logs of examples/download-cache.yaml's
runs, cold and warm), its configuration, and what the runner gives the cells, on the fake engine.
The real squid is exercised in tests/integration/test_download_cache.py."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import MatrixError, UsageError
from repromatrix.core.model import CacheMode, DownloadCacheMode
from repromatrix.core.result import CellResult, RunResult
from repromatrix.execute.runner import AttemptJob, CellRunner, run_all
from repromatrix.infra.downloadcache import FILES, Counts, DownloadCache, counts_in, run_counts, squid_conf
from repromatrix.infra.hostca import HostCA
from repromatrix.infra.setupcache import SetupCache
from repromatrix.pipeline.hosts import _jobs
from repromatrix.plan.plan import RenderContext, plan_cell
from repromatrix.plan.render import render_dockerfile
from repromatrix.results.results import load_run, save_run
from tests.conftest import DATA
from tests.unit.fake_engine import FakeEngine

LOGS = DATA / "capture" / "download-cache"
CACHE_CA = b"-----BEGIN CERTIFICATE-----\nMIIBdownloadcache\n-----END CERTIFICATE-----\n"
CACHE = DownloadCache("http://repromatrix-downloads:3128")
MATRIX = """
target: {package: tensorflow%s}
axes:
  os: [bookworm]
  install: [venv]
  prior: [none]
  ca: [host]
  network: [direct]
  installer: [pip]
  cache: [clean]
include:
  - {ca: none}
  - {ca: pip-config, installer: uv}
  - {ca: pip-config, installer: pip}
  - {ca: system-store}
  - {network: proxy}
  - {network: tls-intercept-trusted}
  - {cache: corrupted}
  - {installer: uv}
"""
ROUTES = {
    "bookworm-py3.11-venv-fresh": "all",
    "bookworm-py3.11-venv-fresh-uv": "all",
    "bookworm-py3.11-venv-fresh-ca-none": "",  # it trusts no bundle: the cache's CA neither
    "bookworm-py3.11-venv-fresh-ca-pip-config-uv": "",  # uv reads no PIP_CERT, in its setup either
    "bookworm-py3.11-venv-fresh-ca-pip-config": "all",  # pip reads it
    "bookworm-py3.11-venv-fresh-ca-system-store": "setup",  # the upgrade tests the OS's store
    "bookworm-py3.11-venv-fresh-proxy": "setup",  # the upgrade's way out is what it tests
    "bookworm-py3.11-venv-fresh-tls-intercept-trusted": "setup",
    "bookworm-py3.11-venv-fresh-cache-corrupted": "setup",  # pip's own cache is what it tests
}


@pytest.fixture
def host_ca(tmp_path) -> HostCA:
    path = tmp_path / "corp-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIBcorp\n-----END CERTIFICATE-----\n")
    return HostCA(path=path, source="PIP_CERT")


def plans(write_matrix, host_ca: HostCA, target: str = "", cache_ca: bytes = CACHE_CA) -> dict:
    matrix = load_matrix(write_matrix(MATRIX % target))
    ctx = RenderContext(target=matrix.target, host_ca=host_ca, download_ca_pem=cache_ca)
    return {c.id: plan_cell(c, ctx) for c in expand(matrix)}


def test_each_cell_goes_through_the_cache_only_where_its_path_to_the_index_is_not_under_test(
    write_matrix, host_ca
):
    routes = {cell_id: plan.downloads for cell_id, plan in plans(write_matrix, host_ca).items()}
    assert routes == ROUTES


@pytest.mark.parametrize(
    "target",
    [
        ", index: 'https://pypi.example.com/simple/'",  # a reporter's own index keeps its path
        ", index: 'https://ci:secret@pypi.example.com/simple/'",  # credentials too
        ", extra_index: ['https://wheels.example.org/simple/']",
    ],
)
def test_an_index_the_matrix_names_keeps_its_own_path(write_matrix, host_ca, target):
    assert {p.downloads for p in plans(write_matrix, host_ca, target).values()} == {""}


def test_without_the_cache_no_cell_goes_through_it_and_the_bundle_is_the_hosts(write_matrix, host_ca):
    without = plans(write_matrix, host_ca, cache_ca=b"")
    assert {p.downloads for p in without.values()} == {""}
    ctx = RenderContext(target=without["bookworm-py3.11-venv-fresh"].target, host_ca=host_ca, download_ca_pem=CACHE_CA)
    plain = without["bookworm-py3.11-venv-fresh"]
    assert CACHE_CA not in ctx.ca_bundle(plain.wants_host_ca, plain.network, plain.downloads)
    assert ctx.ca_bundle(plain.wants_host_ca, plain.network, "all").endswith(CACHE_CA)


def test_the_dockerfile_says_the_bundle_holds_the_caches_ca_and_never_names_the_proxy(write_matrix, host_ca):
    found = plans(write_matrix, host_ca)
    ctx = RenderContext(target=found["bookworm-py3.11-venv-fresh"].target, host_ca=host_ca, download_ca_pem=CACHE_CA)
    through = render_dockerfile(found["bookworm-py3.11-venv-fresh"], ctx)
    setup_only = render_dockerfile(found["bookworm-py3.11-venv-fresh-proxy"], ctx)
    direct = render_dockerfile(found["bookworm-py3.11-venv-fresh-ca-none"], ctx)
    assert "the setup, the upgrade and the remedies\n# as HTTPS_PROXY" in through
    assert "which the run gave the setup\n# as HTTPS_PROXY" in setup_only
    assert "download cache" not in direct
    for text in (through, setup_only):
        assert "repromatrix-downloads" not in text and "ENV HTTPS_PROXY=http://repromatrix-downloads" not in text


def file_urls(log: str) -> list[str]:
    return re.findall(r" GET (\S+/packages/\S+) ", log)


def test_a_cold_runs_log_counts_each_file_once_from_the_index_and_the_rest_from_the_cache():
    log = (LOGS / "cold.log").read_text()
    counts = counts_in(log)
    urls = file_urls(log)
    # Five cells, one store: each distinct file came from the index once; every other request
    # of it was served from the cache
    assert counts.files_from_index == len(set(urls)) > 0
    assert counts.files_from_index + counts.files_from_cache == len(urls)
    misses = [int(line.split()[4]) for line in log.splitlines() if "TCP_MISS/200" in line and "/packages/" in line]
    assert counts.bytes_from_index == sum(misses)
    # the index's pages are never counted (nor kept): they are not files
    assert any("/simple/tensorflow/" in line for line in log.splitlines())


def test_a_warm_run_takes_every_file_from_the_cache():
    log = (LOGS / "warm.log").read_text()
    counts = counts_in(log)
    assert counts.files_from_index == 0 and counts.bytes_from_index == 0
    assert counts.files_from_cache == len(file_urls(log)) > 0
    # pages were asked of the index again, as every run asks them
    assert re.search(r"TCP_MISS/(200|304) \d+ GET \S+/simple/", log)


def test_collapsed_and_failed_requests_and_pages_count_as_what_they_are():
    log = "\n".join(
        [
            "1.000 5 10.0.0.2 TCP_MISS/200 1000 "
            "GET https://files.example/packages/a/b/x-1.0-py3-none-any.whl HIER_DIRECT/1.2.3.4",
            # a second cell asking for it while the first download ran: served from that download
            "1.001 5 10.0.0.3 TCP_CF_MISS/200 1000 "
            "GET https://files.example/packages/a/b/x-1.0-py3-none-any.whl HIER_NONE/-",
            "1.002 5 10.0.0.3 TCP_MISS/404 10 GET https://files.example/packages/a/b/y-1.0.tar.gz HIER_DIRECT/1.2.3.4",
            "1.003 5 10.0.0.3 TCP_MISS/200 500 GET https://index.example/simple/x/ HIER_DIRECT/1.2.3.4",
            "1.004 5 10.0.0.3 TCP_HIT/200 70 "
            "GET https://files.example/packages/a/b/x-1.0-py3-none-any.whl.metadata HIER_NONE/-",
            "not a line of the log at all",
        ]
    )
    assert counts_in(log) == Counts(
        files_from_index=1, bytes_from_index=1000, files_from_cache=2, bytes_from_cache=1070
    )


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("/packages/ab/cd/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl", True),
        ("/packages/ab/cd/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl.metadata", True),
        ("/packages/ab/cd/pyyaml-6.0.tar.gz", True),
        ("/packages/ab/cd/Foo-1.0.ZIP", True),
        ("/simple/tensorflow/", False),
        ("/simple/", False),
        ("/pypi/tensorflow/json", False),
    ],
)
def test_the_cache_keeps_files_never_pages(path, kept):
    assert bool(re.search(FILES, path, re.IGNORECASE)) is kept


def test_the_squid_configuration_keeps_files_within_the_budget_and_no_page():
    conf = squid_conf(30 * 10**9)
    assert "cache_dir ufs /var/spool/squid/store 30000 16 256" in conf
    assert f"acl files urlpath_regex -i {FILES}" in conf
    assert "cache allow files\ncache deny all" in conf
    assert "refresh_pattern . 0 0% 0" in conf  # anything else is never served from the store
    assert "maximum_object_size 4096 MB" in squid_conf(100 * 10**9)
    assert "maximum_object_size 500 MB" in squid_conf(500 * 10**6)  # a file over the budget passes


def test_the_runs_counts_are_summed_over_its_engines_and_a_broken_file_counts_nothing(tmp_path):
    (tmp_path / "download-cache.json").write_text(json.dumps(Counts(1, 10, 2, 20).to_json()))
    (tmp_path / "download-cache-1a2b3c4d.json").write_text(json.dumps(Counts(3, 30, 0, 0).to_json()))
    (tmp_path / "download-cache-again.json").write_text('{"files_from_index": "x"')
    assert run_counts(tmp_path) == Counts(4, 40, 2, 20)
    assert run_counts(tmp_path / "nothing") is None


def test_the_report_says_what_the_cache_did_and_which_cells_went_through_it():
    cells = [
        CellResult(id=f"c{i}", axes={}, outcome="upgraded", evidence=[], downloads=route)  # type: ignore[arg-type]
        for i, route in enumerate(["all", "setup", ""])
    ]
    run = RunResult("r", "m.yaml", {}, "now", cells=cells, download_cache=Counts(2, 2 * 10**9, 5, 3 * 10**9).to_json())
    assert run.downloads_said() == (
        "download cache: 2 files (2.0 GB) from the index, 5 (3.0 GB) from the cache; 2 cells of 3 through it "
        "(1 only for their setup)"
    )
    assert RunResult("r", "m.yaml", {}, "now", cells=cells[2:]).downloads_said() == ""


def test_a_real_runs_counts_are_stored_and_read_back(tmp_path):
    # The default matrix's cold run on the real index counted these: a results.json holding
    # them must read back (report, merge, diff, --baseline and the next run's history read it).
    counts = Counts(155, 14_256_516_992, 985, 33_688_419_897).to_json()
    cells = [CellResult(id="c0", axes={}, outcome="upgraded", evidence=[], downloads="all")]  # type: ignore[arg-type]
    save_run(RunResult("r", "m.yaml", {}, "now", cells=cells, download_cache=counts), tmp_path)
    assert load_run(tmp_path).download_cache == counts
    broken = json.loads((tmp_path / "results.json").read_text())
    broken["download_cache"]["bytes_from_index"] = -1
    (tmp_path / "results.json").write_text(json.dumps(broken))
    with pytest.raises(UsageError, match="download_cache.*whole numbers, none negative"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ("off", DownloadCacheMode.OFF),
        ("on", DownloadCacheMode.ON),
        ("auto", DownloadCacheMode.AUTO),
        ("'off'", DownloadCacheMode.OFF),
    ],
)
def test_the_setting_reads_as_people_write_it(write_matrix, written, mode):
    matrix = load_matrix(write_matrix(f"axes: {{os: [bookworm]}}\nsettings: {{download_cache: {written}}}\n"))
    assert matrix.settings.download_cache is mode


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("download_cache: sometimes", "unknown download cache mode 'sometimes'"),
        ("download_cache_budget: lots", "'lots' is not a size"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(write_matrix, setting, said):
    with pytest.raises(MatrixError) as raised:
        load_matrix(write_matrix(f"axes: {{os: [bookworm]}}\nsettings:\n  {setting}\n"))
    text = str(raised.value)
    assert said in text and f"matrix.yaml:3: settings.{setting.partition(':')[0]}: " in text


def test_auto_means_an_index_on_the_network_not_the_local_one():
    assert DownloadCacheMode.AUTO.wanted(local_index=False)
    assert not DownloadCacheMode.AUTO.wanted(local_index=True)
    assert DownloadCacheMode.ON.wanted(local_index=True) and not DownloadCacheMode.OFF.wanted(local_index=False)


def fake_jobs(engine: FakeEngine, write_matrix, host_ca: HostCA, tmp_path: Path):  # noqa: ANN001, ANN201
    """MATRIX's cells as jobs on the fake engine, planned by a run that has the cache's CA."""
    matrix = load_matrix(write_matrix(MATRIX % ""))
    uv = tmp_path / "uv"
    uv.write_bytes(b"#!/bin/sh\n")  # the standalone program a uv cell's context holds
    ctx = RenderContext(
        target=matrix.target, host_ca=host_ca, download_ca_pem=CACHE_CA, programs=(("uv@amd64", uv),)
    )
    cells = [plan_cell(c, ctx) for c in expand(matrix)]
    cache = SetupCache(engine, CacheMode.REUSE, "index default")
    return _jobs(matrix, cells, ctx, tmp_path / "run", {}, cache), cache


def test_the_runner_gives_the_proxy_to_builds_and_containers_only_where_the_route_covers_them(
    write_matrix, host_ca, tmp_path
):
    engine = FakeEngine()
    jobs, cache = fake_jobs(engine, write_matrix, host_ca, tmp_path)
    runner = CellRunner(engine, "net", 60, cache=cache, downloads=CACHE)
    done = run_all(runner, jobs, 4, lambda job: None, lambda run: None).runs
    for cell_run in done:
        cell_id = cell_run.job.plan.cell.id
        route = ROUTES[cell_id]
        assert cell_run.downloads == route
        name = f"repromatrix-fake-{cell_run.job.plan.cell.name}"
        given = engine.envs[name].get("HTTPS_PROXY")
        assert given == (CACHE.url if route == "all" else None), cell_id
        built = engine.buildargs[f"{cell_run.job.plan.image_tag}:fake"]
        assert built.get("HTTPS_PROXY") == (CACHE.url if route else None), cell_id
        # a remedy tried on the cell's image goes the cell's way (and its own variables win)
        runner.attempt(AttemptJob(cell_run, _remedy("purge-cache")))
        env = engine.envs[f"{name}-fix-purge-cache"]
        assert env.get("HTTPS_PROXY") == (CACHE.url if route == "all" else None), cell_id
        # a remedy that sets the proxy itself (use-proxy, proxy-env) is given its own
        own = dataclasses.replace(_remedy("purge-cache"), env=("HTTPS_PROXY=http://other-proxy:8080",))
        runner.attempt(AttemptJob(cell_run, own))
        assert engine.envs[f"{name}-fix-purge-cache"]["HTTPS_PROXY"] == "http://other-proxy:8080"
    # the setups' builds got it as a build argument too, never as part of their key
    setups = {tag: args for tag, args in engine.buildargs.items() if tag.startswith("repromatrix-cache/setup:")}
    assert any(args.get("HTTPS_PROXY") == CACHE.url for args in setups.values())


def _remedy(name: str):  # noqa: ANN202
    """One of pip's remedies made concrete, as the planner makes it for a cell."""
    from repromatrix.installers import installer  # noqa: PLC0415
    from repromatrix.judge.remedies import Facts, plan_one  # noqa: PLC0415

    pip = installer("pip")
    facts = Facts(package="tensorflow", requirement="tensorflow", upgrade=("python3", "-m", "pip", "install",
                  "--upgrade", "tensorflow"), upgrader="root", home="/root", version="25.1", has_proxy=True)
    plan = plan_one({r.name: r for r in pip.remedies}[name], facts, pip)
    assert plan is not None
    return plan


def test_without_a_running_cache_no_cell_is_said_to_go_through_it(write_matrix, host_ca, tmp_path):
    engine = FakeEngine()
    jobs, cache = fake_jobs(engine, write_matrix, host_ca, tmp_path)
    # another run on this machine holds the store: this one's cells download directly
    done = run_all(CellRunner(engine, "net", 60, cache=cache), jobs, 4, lambda job: None, lambda run: None).runs
    assert {r.downloads for r in done} == {""}
    assert not any("HTTPS_PROXY" in env for env in engine.envs.values())
    assert not any("HTTPS_PROXY" in args for args in engine.buildargs.values())


def test_the_volume_name_is_this_cache_directorys(monkeypatch, tmp_path):
    from repromatrix.infra.downloadcache import store_volume  # noqa: PLC0415

    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path / "a"))
    first = store_volume()
    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path / "b"))
    assert store_volume() != first and first.startswith("repromatrix-downloads-")
    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path / "a"))
    assert store_volume() == first
    assert Path(tmp_path).exists()
