"""The report formats, rendered from stored results only; hostile text stays text."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from repromatrix.core.result import CellResult, RunResult
from repromatrix.results.formats import MARKDOWN_LIMIT, render_junit, render_markdown
from repromatrix.results.report import render_html, report_data
from repromatrix.results.results import load_run, save_run

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "</script><script>alert(3)</script>"]


def run_with(evidence: list[str], n_extra: int = 0) -> RunResult:
    cells = [CellResult(id="bookworm-py3.11-venv-fresh", axes={"os": "bookworm", "install": "venv"},
                        outcome="upgraded", evidence=["Successfully installed tensorflow-2.21.0"],
                        after="2.21.0", expected=["upgraded"]),
             CellResult(id="bookworm-py3.11-system-fresh", axes={"os": "bookworm", "install": "system"},
                        outcome="externally-managed", evidence=evidence, expected=["upgraded"],
                        reproduce="docker build -t x cells/c && docker run --rm x")]
    cells += [CellResult(id=f"extra-{i}", axes={"os": "trixie", "install": "venv"}, outcome="import-error",
                         evidence=["import tensorflow failed: " + "x" * 400]) for i in range(n_extra)]
    return RunResult(run_id="r1", matrix="matrix.yaml", target={"package": "tensorflow", "version": "",
                     "index": "default"}, started="2026-11-23T23:48:17+00:00", cells=cells)


def test_hostile_text_cannot_leave_its_element():
    html = render_html(run_with(HOSTILE))
    assert "<script>alert" not in html and "<img src=x" not in html and "</script><script>" not in html
    # The static (no-JavaScript) list escapes it ...
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # ... and the embedded data cannot close its <script> element.
    embedded = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in embedded and json.loads(embedded)["cells"][1]["evidence"] == HOSTILE


def test_csp_allows_exactly_the_inline_script_and_style():
    html = render_html(run_with(["x"]))
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert csp.startswith("default-src 'none'")
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        body = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp and "http://" not in html and "https://" not in html


def test_data_for_the_page():
    data = report_data(run_with(["x"]), None)
    assert data["axes"] == ["os", "install"]
    assert data["cells"][1]["values"] == ["bookworm", "system"] and data["cells"][1]["unexpected"] is True


def test_results_round_trip(tmp_path):
    run = run_with(["x"])
    save_run(run, tmp_path)
    again = load_run(tmp_path)
    assert again.to_json() == run.to_json()
    data = again.to_json()
    assert data["schema"] == 1 and data["counts"] == {"upgraded": 1, "externally-managed": 1}
    assert data["unexpected"] == 1
    assert [c["matches_expectation"] for c in data["cells"]] == [True, False]


def test_junit_one_case_per_cell_failure_for_unexpected():
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render_junit(run_with(HOSTILE), None))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["bookworm-py3.11-venv-fresh", "bookworm-py3.11-system-fresh"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("type") == "externally-managed"
    assert failure.get("message") == "externally-managed (expected upgraded): <script>alert(1)</script>"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")


def test_markdown_lists_unexpected_first_and_fits_a_comment():
    md = render_markdown(run_with(["error: externally-managed-environment"], n_extra=2000), None)
    assert len(md) < MARKDOWN_LIMIT
    assert md.index("### Unexpected cells") < md.index("### Reproduce a cell")
    assert "bookworm-py3.11-system-fresh" in md.split("### Unexpected cells")[1].splitlines()[4]
    assert "more cells are not listed here" in md
    assert "docker build -t x cells/c && docker run --rm x" in md


def test_markdown_escapes_table_breakers():
    md = render_markdown(run_with(["a | b <img>"]), None)
    assert "a \\| b \\<img\\>" in md


def test_an_attached_runs_paths_never_read_outside_it(tmp_path):
    from repromatrix.results.report import read_inside

    run_dir = tmp_path / "run"
    (run_dir / "cells" / "c").mkdir(parents=True)
    (run_dir / "cells" / "c" / "Dockerfile").write_text("FROM x\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    (run_dir / "cells" / "c" / "link").symlink_to(secret)
    assert read_inside(run_dir, "cells/c/Dockerfile") == "FROM x\n"
    for hostile in ("../secret.txt", str(secret), "cells/c/link", "/dev/zero", "/proc/self/environ", "cells",
                    "cells/c/../../secret.txt", "missing"):
        assert read_inside(run_dir, hostile) == "", hostile


@pytest.mark.parametrize("path, link", [
    ("cells/c/Dockerfile", "cells/c/Dockerfile"), ("javascript:alert(1)", ""), ("/etc/passwd", ""),
    ("../x", ""), ("cells/../../x", ""), ("https://idx.example/x", ""), ("", "")])
def test_links_to_an_attached_runs_files_stay_inside_it(path, link):
    from repromatrix.results.report import safe_link

    assert safe_link(path) == link


def test_outputs_keep_their_mode_and_never_replace_links_or_devices(tmp_path, capsys):
    import os
    import stat

    from repromatrix.cli import main

    run_dir = tmp_path / "run"
    save_run(run_with(["x"]), run_dir)
    os.chmod(run_dir / "results.json", 0o644)
    assert main(["report", str(run_dir)]) == 0
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run_dir.iterdir()}
    assert modes["results.json"] == 0o644 and modes["summary.md"] & 0o044 == 0o044  # not mkstemp's 0600
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "link.md").symlink_to(victim)
    assert main(["report", str(run_dir), "--format", "md", "-o", str(tmp_path / "link.md")]) == 2
    assert victim.read_text() == "keep" and (tmp_path / "link.md").is_symlink()
    assert main(["report", str(run_dir), "--format", "md", "-o", "/dev/null"]) == 2
    capsys.readouterr()
    assert main(["report", str(run_dir), "--format", "md", "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith("## repromatrix: ")
    assert not (tmp_path / "-").exists() and not (run_dir / "-").exists()


def test_the_cell_panel_names_the_check_the_cell_ran():
    # results.json keeps `pip_check` for every installer; the panel must not call uv's check pip's
    run = run_with(["x"])
    run.cells[0].pip_check = {"command": "uv pip check --python python3", "exit_code": 1, "output": "x"}
    assert report_data(run, None)["cells"][0]["pipCheck"]["command"] == "uv pip check --python python3"
    assert "el(\"code\", { text: ranCheck })" in render_html(run)
