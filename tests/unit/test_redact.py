"""--redact: a copy of the reports for a public attachment, with none of a planted set of host
names, user names, IP addresses and paths left in any of its files, the same placeholder for the
same value in every format, and the run's own files as they were."""

from __future__ import annotations

import json
import zipfile

import pytest

from repromatrix.cli import main
from repromatrix.core.result import CellResult, RunResult
from repromatrix.results.redact import KEY_FILE, public_index_hosts, redactor_for
from repromatrix.results.results import save_run

PROXY, INDEX, CI_HOST = "proxy.corp.example", "pypi.internal.example", "build-7.ci.example"
USERS = ("alice", "bob")
IPS = ("10.20.30.40", "192.168.7.9", "172.17.0.2", "100.64.3.4")
CA = "repromatrix run 20261205-101500-abc123 CA"


@pytest.fixture
def planted_run(tmp_path, monkeypatch):
    """A run whose evidence, logs, Dockerfiles and matrix path hold every planted value, with its
    workspace and home on paths of their own."""
    workspace = tmp_path / "srv-ci" / "workspace"
    run_dir = workspace / "reports" / "20261205-101500-abc123"
    (run_dir / "cells" / "c1").mkdir(parents=True)
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("HOME", f"/home/{USERS[0]}")
    public = sorted(public_index_hosts())[0]
    said = [
        f"ProxyError('Cannot connect to proxy.', OSError('Tunnel connection failed')): http://{USERS[1]}:s3cret@"
        f"{PROXY}:3128",
        f"HTTPSConnectionPool(host='{INDEX}', port=443): Max retries exceeded",
        f"Looking in indexes: https://{INDEX}/simple, https://{public}/simple",
        f"ERROR: Could not install packages due to an OSError: [Errno 13] /home/{USERS[0]}/venv/lib",
        f"connect to {IPS[0]} port 3128 failed; {IPS[1]}; nvidia-cudnn-cu12 9.3.0.75",
        f"certificate verify failed: self-signed certificate in certificate chain ({CA})",
    ]
    log = "\n".join(said + [f"Step 3/9 : RUN curl http://{CI_HOST}:8080/x from {IPS[2]} via {IPS[3]}",
                            f"cache at {workspace}/.cache and {run_dir}/cells/c1", "/root/.cache/pip stays"])
    (run_dir / "cells" / "c1" / "log.txt").write_text(log + "\n")
    (run_dir / "cells" / "c1" / "ca-bundle.pem").write_text(f"subject=O={CI_HOST}\n")
    (run_dir / "cells" / "c1" / "Dockerfile").write_text(f"FROM scratch\nENV PIP_INDEX_URL=https://{INDEX}/simple\n")
    cell = CellResult(id="c1", axes={"os": "bookworm", "network": "proxy"}, outcome="proxy-error", evidence=said,
                      expected=["upgraded"], log="cells/c1/log.txt", dockerfile="cells/c1/Dockerfile",
                      reproduce="docker build -t c1 cells/c1 && docker run --rm c1")
    run = RunResult(run_id="20261205-101500-abc123", matrix=f"/home/{USERS[0]}/project/matrix.yaml",
                    target={"package": "tensorflow", "index": f"https://{INDEX}/simple"},
                    started="2026-12-05T10:15:00+00:00", cells=[cell])
    save_run(run, run_dir)
    return run_dir, public


PLANTED = (PROXY, INDEX, CI_HOST, *USERS, *IPS, CA, "s3cret", "srv-ci")


def test_no_planted_value_is_left_in_any_file_of_the_redacted_reports(planted_run, capsys):
    run_dir, public = planted_run
    originals = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert main(["report", str(run_dir), "--redact"]) == 0
    copy = run_dir / "redacted"
    files = [p for p in copy.rglob("*") if p.is_file()]
    names = {p.relative_to(copy).as_posix() for p in files}
    assert {"index.html", "results.json", "summary.md", "junit.xml", "summary.svg", "summary.png",
            "report.zip", "cells/c1/log.txt", "cells/c1/Dockerfile"} <= names
    assert "cells/c1/ca-bundle.pem" not in names  # its subjects name the organisation
    with zipfile.ZipFile(copy / "report.zip") as archive:  # compressed: read member by member
        zipped = {f"report.zip:{n}": archive.read(n) for n in archive.namelist()}
    assert "report.zip:cells/c1/log.txt" in zipped and "report.zip:cells/c1/ca-bundle.pem" not in zipped
    contents = {p.name: p.read_bytes() for p in files} | zipped
    for name, data in contents.items():
        text = data.decode("utf-8", errors="replace")
        for value in PLANTED:
            assert value not in text, (name, value)
    # what is not the reporter's stays: the public index, a version that looks like an address,
    # the containers' own paths
    log = (copy / "cells/c1/log.txt").read_text()
    assert f"https://{public}/simple" in log and "9.3.0.75" in log and "/root/.cache/pip stays" in log
    # the run's own files are as they were, and the key to the placeholders is beside them, private
    assert all(p.read_bytes() == data for p, data in originals.items())
    key = (run_dir / KEY_FILE).read_text()
    assert all(value in key for value in (PROXY, INDEX, IPS[0], USERS[1]))
    assert (run_dir / KEY_FILE).stat().st_mode & 0o077 == 0
    said = capsys.readouterr()
    out = said.out + said.err
    assert "redacted copy:" in out and "host value(s)" in out and PROXY not in out


def test_the_same_value_gets_the_same_placeholder_in_every_format(planted_run, capsys):
    run_dir, _ = planted_run
    assert main(["report", str(run_dir), "--redact"]) == 0
    copy = run_dir / "redacted"
    placeholder = next(line.split("\t")[0] for line in (run_dir / KEY_FILE).read_text().splitlines()
                       if line.endswith("\t" + INDEX))
    results = json.loads((copy / "results.json").read_text())
    assert results["target"]["index"] == f"https://{placeholder}/simple"
    for name in ("summary.md", "index.html", "junit.xml", "cells/c1/log.txt", "cells/c1/Dockerfile"):
        text = (copy / name).read_text()
        assert placeholder in text, name
    assert results["matrix"] == "REDACTED-HOME/project/matrix.yaml"  # HOME is /home/alice


def test_a_host_one_file_names_in_a_url_is_hidden_where_another_names_it_bare(planted_run, capsys):
    run_dir, _ = planted_run
    mirror, v6, link = "mirror.build.example", "fd00:1234::10", "fe80::1"
    # the Dockerfile, copied before the log, names the mirror without a scheme or port; only the
    # log (read later) names it in a URL; squid's form, IPv6 in brackets and bare
    (run_dir / "cells/c1/Dockerfile").write_text(f"FROM scratch\n# packages from {mirror}\n")
    with (run_dir / "cells/c1/log.txt").open("a") as log:
        log.write(f"Get:1 http://{mirror}/debian bookworm InRelease\nCONNECT squid.lan.example:3128 HTTP/1.1\n"
                  f"proxy http://[{v6}]:3128 unreachable; via {link}%eth0 at 16:51:55\n"
                  "File /usr/lib/python3/dist-packages/pip/_internal/cli/main.py:80, setup.py:12, 2.15.0:1\n")
    assert main(["report", str(run_dir), "--redact"]) == 0
    copy = run_dir / "redacted"
    for name in ("cells/c1/Dockerfile", "cells/c1/log.txt", "index.html", "results.json"):
        text = (copy / name).read_text()
        for value in (mirror, "squid.lan.example", v6, link):
            assert value not in text, (name, value)
    log = (copy / "cells/c1/log.txt").read_text()
    # what looks like a host:port but is a file and line, a time, a version: kept
    assert "/pip/_internal/cli/main.py:80, setup.py:12, 2.15.0:1" in log and "at 16:51:55" in log
    key = dict(line.split("\t")[::-1] for line in (run_dir / KEY_FILE).read_text().splitlines())
    assert key[mirror].startswith("REDACTED-HOST-") and key[v6].startswith("REDACTED-IP-")
    assert key[mirror] in (copy / "cells/c1/Dockerfile").read_text()  # the same placeholder in both files
    assert f"http://{key[mirror]}/debian" in log


@pytest.mark.parametrize("text, kept", [
    ("Successfully installed nvidia-cublas-cu12-12.5.3.2 ml-dtypes-0.5.1", True),
    ("12:30:45 ab:cd:ef:01:23:45 std::vector ::1 [::]:8080", True),
    ("resolving proxy: Cannot connect to proxy.", True),
    ("2001:db8:85a3::8a2e:370:7334 answered", False),
    ("docker0 at 127.0.0.1 and 0.0.0.0:8000", True),
    ("tcp://10.0.0.5:2376", False),
    ("host='files.internal'", False),
])
def test_versions_and_loopback_are_not_addresses(tmp_path, text, kept):
    assert (redactor_for(tmp_path).text(text) == text) is kept
