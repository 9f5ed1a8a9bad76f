"""A corpus of hostile files an attached run, a shard plan or a journal may hold, replayed through
the command line: every one is exit 2 naming the file, in bounded time, never a traceback, and a
NaN or an infinity is never written back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from repromatrix.core.errors import UsageError
from tests.conftest import REPO

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
CELL = {"id": "c1", "axes": {"os": "bookworm"}, "outcome": "upgraded", "evidence": ["why"]}
RUN = {"schema": 1, "run_id": "r1", "matrix": "m.yaml", "target": {"package": "tensorflow"},
       "started": "s", "finished": "f", "cells": [CELL]}


def cli(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repromatrix", *args], capture_output=True, text=True,
                          env=dict(os.environ) | NO_DOCKER, cwd=REPO, timeout=timeout)


def with_results(tmp_path, text: str):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(text)
    return run


RESULTS = {
    "nan duration": json.dumps(RUN).replace('"why"]}', '"why"], "durations": {"run": NaN}}'),
    "infinite duration": json.dumps(RUN).replace('"why"]}', '"why"], "durations": {"run": Infinity}}'),
    "1e999 seconds": json.dumps(RUN).replace('"why"]}', '"why"], "durations": {"run": 1e999}}'),
    "negative seconds": json.dumps(RUN).replace('"why"]}', '"why"], "durations": {"run": -5}}'),
    "5000-digit integer": json.dumps(RUN).replace('"why"]}', '"why"], "pip_exit_code": ' + "9" * 5000 + "}"),
    "deep nesting": json.dumps(RUN).replace('"why"]}', '"why"], "interpreter": {"a": ' + "[" * 5000
                                             + "]" * 5000 + "}}"),
    "nested 100 levels": json.dumps(RUN).replace('"why"]}', '"why"], "interpreter": {"a": ' + "[" * 100
                                                 + "]" * 100 + "}}"),
    "no cells key types": '{"schema": 1, "cells": [{"id": 1}]}',
    "just the schema": '{"schema": 1}',
}


@pytest.mark.parametrize("name", list(RESULTS))
def test_a_hostile_results_json_is_refused(tmp_path, name):
    run = with_results(tmp_path, RESULTS[name])
    proc = cli("report", str(run))
    assert proc.returncode == 2, proc.stderr
    assert "results.json" in proc.stderr and "Traceback" not in proc.stderr
    assert not (run / "index.html").exists()  # nothing half-written


def test_a_fifo_as_results_json_is_refused_at_once(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "results.json")
    proc = cli("report", str(run), timeout=30)  # would block forever if read
    assert proc.returncode == 2 and "regular file" in proc.stderr


def test_a_sparse_giant_results_json_is_refused_before_reading(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with open(run / "results.json", "wb") as fh:
        fh.truncate(2**33)  # 8 GiB apparent
    proc = cli("report", str(run), timeout=30)
    assert proc.returncode == 2 and "more than results may be" in proc.stderr


def test_a_results_json_that_links_elsewhere_is_not_read(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(RUN))
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").symlink_to(secret)
    proc = cli("report", str(run))
    assert proc.returncode == 2 and "symbolic link" in proc.stderr


@pytest.mark.parametrize("plan, said", [
    ('{"include": [{"shard": "1/2", "ids": ["a"], "seconds": NaN}]}', "NaN"),
    ("[" * 3000 + "]" * 3000, "nested too deeply"),
    ("not json at all", "not valid JSON"),
    ('{"include": [{"shard": "1/2", "ids": ["a"]}, {"shard": "2/2", "ids": ["a"]}]}',
     "cell a is in shard 1/2 and in shard 2/2"),
    ('{"include": [{"shard": "1/2", "ids": ["a", "a"]}]}', "cell a is in shard 1/2 and in shard 1/2"),
    ('{"include": [{"shard": "1/2", "ids": ["a"]}, {"shard": "1/2", "ids": ["b"]}]}', "shard 1/2 is in the plan twice"),
])
def test_a_hostile_shard_plan_is_refused(tmp_path, plan, said):
    path = tmp_path / "plan.json"
    path.write_text(plan)
    proc = cli("run", "--matrix", "examples/offline.yaml", "--shard", "1/2", "--shard-plan", str(path))
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr


def test_a_fifo_as_shard_plan_is_refused_at_once(tmp_path):
    path = tmp_path / "plan.json"
    os.mkfifo(path)
    proc = cli("run", "--matrix", "examples/offline.yaml", "--shard", "1/2", "--shard-plan", str(path), timeout=30)
    assert proc.returncode == 2 and "regular file" in proc.stderr


def journal_run(tmp_path, header: str, lines: str = ""):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(header)
    (run / "cells.jsonl").write_text(lines)
    return run


@pytest.mark.parametrize("header", ['{"run_id": "x", "cells": [], "started": NaN}', "[" * 3000 + "]" * 3000])
def test_a_hostile_run_header_is_refused_by_resume_and_report(tmp_path, header):
    run = journal_run(tmp_path, header)
    for args in (("run", "--resume", str(run)), ("report", str(run))):
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "run.json" in proc.stderr and "Traceback" not in proc.stderr


def test_a_journal_line_with_nan_is_refused_but_a_torn_line_is_skipped(tmp_path):
    header = json.dumps({"schema": 1, "run_id": "r1", "matrix": "m.yaml", "matrix_sha256": "0", "cells": ["c1", "c2"],
                         "started": "s", "target": {"package": "tensorflow"}})
    good = json.dumps(CELL)
    torn = json.dumps(CELL | {"id": "c2"})[:20]
    run = journal_run(tmp_path, header, f"{good}\n{torn}")
    proc = cli("report", str(run), "--format", "json", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert [c["id"] for c in json.loads(proc.stdout)["cells"]] == ["c1"]
    (run / "cells.jsonl").write_text(good.replace('"why"]}', '"why"], "durations": {"run": NaN}}') + "\n")
    proc = cli("report", str(run))
    assert proc.returncode == 2 and "cells.jsonl:1" in proc.stderr and "NaN" in proc.stderr


# -- writes: never through a symlink planted in a run directory --------------------------------
def test_the_remedy_ca_bundle_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    from repromatrix.core.model import Target
    from repromatrix.pipeline.trust import remedy_ca_bundle
    from repromatrix.plan.plan import RenderContext

    victim = tmp_path / "shadow"
    victim.write_text("root:secret\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "remedy-ca.pem").symlink_to(victim)
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    ctx = RenderContext(target=Target(package="tensorflow"), run_ca_pem=pem)
    with pytest.raises(UsageError, match="not a regular file"):
        remedy_ca_bundle(ctx, run_dir)
    assert victim.read_text() == "root:secret\n"
    (run_dir / "remedy-ca.pem").unlink()
    path = remedy_ca_bundle(ctx, run_dir)
    assert path == run_dir.resolve() / "remedy-ca.pem" and not path.is_symlink()
    assert path is not None and path.read_bytes().endswith(pem)


def test_a_log_is_never_written_into_a_symlinked_folder_of_a_run(tmp_path):
    from repromatrix.core.files import write_atomic

    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    cell = tmp_path / "run" / "cells" / "c1"
    cell.mkdir(parents=True)
    (cell / "remedies").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="a symbolic link"):
        write_atomic(cell / "remedies" / "upgrade-pip.log", "log\n")
    assert list(elsewhere.iterdir()) == []


# -- the kept CAs of the cache directory: reused only when they are what repromatrix made -----
def test_a_kept_ca_is_reused_and_anything_planted_in_its_place_is_replaced(tmp_path):
    from repromatrix.infra.tlsca import RunCA

    path = tmp_path / "ca" / "local-index.pem"
    first = RunCA.kept(path, "local index")
    assert RunCA.kept(path, "local index").cert_pem == first.cert_pem  # reused: setups stay cached
    other = RunCA("someone else")
    planted = {
        "a FIFO": lambda: os.mkfifo(path),
        "group-readable": lambda: (path.write_bytes(first.key_pem() + first.cert_pem), path.chmod(0o644)),
        "another's certificate": lambda: (path.write_bytes(first.key_pem() + other.cert_pem), path.chmod(0o600)),
        "a symlink": lambda: path.symlink_to(tmp_path / "elsewhere.pem"),
    }
    (tmp_path / "elsewhere.pem").write_bytes(first.key_pem() + first.cert_pem)
    for why, plant in planted.items():
        path.unlink()
        plant()
        began = time.monotonic()
        again = RunCA.kept(path, "local index")
        assert time.monotonic() - began < 5, why  # a FIFO is not waited on
        assert again.cert_pem not in (first.cert_pem, other.cert_pem), why
        assert path.is_file() and not path.is_symlink() and oct(path.stat().st_mode)[-3:] == "600", why
    assert (tmp_path / "elsewhere.pem").read_bytes().endswith(first.cert_pem)  # not written through


def test_cells_that_all_name_one_sparse_file_do_not_inflate_the_page(tmp_path):
    run = tmp_path / "run"
    (run / "cells").mkdir(parents=True)
    with (run / "cells" / "big.log").open("wb") as fh:
        fh.truncate(2 * 2**30)  # 2 GiB that take no disk
    (run / "cells" / "Dockerfile").write_text("FROM debian:bookworm\n" + "# padding\n" * 100_000)  # 1 MB
    cells = [dict(CELL, id=f"c{i}", log="cells/big.log", dockerfile="cells/Dockerfile") for i in range(200)]
    (run / "results.json").write_text(json.dumps(dict(RUN, cells=cells)))
    began = time.monotonic()
    proc = cli("report", str(run), "--format", "html")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert time.monotonic() - began < 60
    page = (run / "index.html").read_text()
    assert len(page) < 20 * 2**20 and 'id="inline-budget"' in page  # the budget, and it says so
    assert "FROM debian:bookworm" in page  # the first cells are still inlined


def test_a_results_json_without_the_targets_version_or_index_still_renders(tmp_path):
    run = with_results(tmp_path, json.dumps(RUN))  # target: {package} only
    proc = cli("report", str(run))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "Why can't pip upgrade tensorflow here?" in (run / "index.html").read_text()
