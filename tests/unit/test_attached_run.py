"""`repromatrix report` on a run someone else attached: every string of its results.json is data.

Nothing is read or written outside the run directory, no value becomes markup in HTML, XML or
Markdown, and a malformed results.json is refused naming the field (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repromatrix.cli import main
from repromatrix.core.errors import UsageError
from repromatrix.results.formats import render_junit, render_markdown
from repromatrix.results.report import render_html
from repromatrix.results.results import CELL_FIELDS, RUN_FIELDS, load_run

EVIL = "x\x1b[31m\x00`` ```\n# pwned\n<script>alert(1)</script> @maintainers ![i](https://idx.example/t.png) |a|"


def hostile_results() -> dict:
    cell = {
        "id": "cell-x.1_y", "axes": {"os" + EVIL: "bookworm" + EVIL, "install": "<b>venv</b>"},
        "outcome": "externally-managed", "evidence": [EVIL, "</script><script>alert(2)</script>"],
        "expected": ["upgraded"], "upgrade_command": "pip " + EVIL, "reproduce": "```\n# pwned\n" + EVIL,
        "dockerfile": "../../../../etc/passwd", "log": "/dev/zero", "notes": [EVIL], "trend": "new" + EVIL,
        "python": "3" + EVIL, "pip": "pip" + EVIL, "durations": {"build": 1.0},
        "checks": [{"name": EVIL, "identity": "root", "exit_code": 1, "output": EVIL}],
        "interpreter": {"wanted": EVIL, "image": EVIL}, "imports": [EVIL],
        "why_no_wheel": {"summary": EVIL, "files": [{"file": EVIL, "fits": False, "reason": EVIL}, "junk", 3],
                         "not_shown": EVIL}}
    return {"schema": 1, "run_id": "r" + EVIL, "matrix": "m" + EVIL, "started": "2026", "finished": "2026",
            "target": {"package": "tensorflow" + EVIL, "version": EVIL, "index": "https://idx.example/" + EVIL},
            "baseline": "b" + EVIL, "cells": [cell]}


def rendered(md: str) -> str:
    """summary.md as GitHub would render it (CommonMark with tables; raw HTML passes through)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(md)


def markup_problems(md: str) -> list[str]:
    """Markup that came from a value: HTML, links, images, headings beyond ours, @mentions."""
    html = rendered(md)
    # Code spans and blocks show text as is (GitHub makes no @mention there either).
    text = re.sub(r"<[^>]+>", "", re.sub(r"<(code|pre)\b.*?</\1>", "", html, flags=re.S))
    problems = [tag for tag in ("<script", "<img", "<a ", "<b>", "<h1", "<h4") if tag in html]
    problems += re.findall(r"@(?!\u200b)\w+", text)
    if len(re.findall(r"<h2>", html)) != 1:
        problems.append("headings")
    return problems


def write_run(tmp_path, data) -> tuple:
    run_dir = tmp_path / "attached" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text(json.dumps(data))
    return run_dir, sorted(p.name for p in tmp_path.rglob("*"))


def test_report_on_a_hostile_attached_run(tmp_path, capsys):
    run_dir, before = write_run(tmp_path, hostile_results())
    assert main(["report", str(run_dir)]) == 0
    written = sorted(p.name for p in tmp_path.rglob("*"))
    assert sorted(set(written) - set(before)) == ["index.html", "junit.xml", "summary.md", "summary.png", "summary.svg"]
    html = (run_dir / "index.html").read_text()
    assert len(re.findall(r"<script[ >]", html)) == 2 and "<img" not in html and "<b>venv" not in html
    assert "root:x:0:0" not in html  # ../../etc/passwd was not inlined
    ET.fromstring((run_dir / "junit.xml").read_bytes())  # well-formed despite ESC and NUL
    assert "\\x1b" in (run_dir / "junit.xml").read_text()
    md = (run_dir / "summary.md").read_text()
    assert markup_problems(md) == []
    # The reproduce block holds the hostile fence and heading, and closes only where we close it.
    block = re.search(r'<pre><code class="language-sh">(.*?)</code></pre>', rendered(md), re.S)
    assert block and "# pwned" in block.group(1) and "```" in block.group(1)


def test_a_cell_id_that_is_not_one_is_refused_naming_it(tmp_path, capsys):
    """An id names the cell's folder and appears in every report: only what cell_id makes."""
    data = hostile_results()
    data["cells"][0]["id"] = "cell" + EVIL
    run_dir, before = write_run(tmp_path, data)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "cells[0].id" in err and "a cell id: letters, digits" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written


def test_a_malformed_results_json_names_the_field(tmp_path, capsys):
    data = hostile_results()
    data["cells"][0]["outcome"] = "pwned<script>"
    run_dir, _ = write_run(tmp_path, data)
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "cells[0].outcome" in err and "Traceback" not in err
    for field, value in (("evidence", "not a list"), ("durations", {"build": "1"}), ("axes", ["x"])):
        data = hostile_results()
        data["cells"][0][field] = value
        run_dir.joinpath("results.json").write_text(json.dumps(data))
        assert main(["report", str(run_dir)]) == 2 and f"cells[0].{field}" in capsys.readouterr().err


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from([k for k, shape in CELL_FIELDS.items() if shape in ("str", "str?")]),
       run_field=st.sampled_from([k for k, shape in RUN_FIELDS.items() if shape in ("str", "str?")]),
       value=TEXT, evidence=st.lists(TEXT, max_size=3), run_value=TEXT, package=TEXT,
       axis=st.tuples(TEXT, TEXT))
def test_any_text_in_an_attached_run_stays_text(tmp_path, field, run_field, value, evidence, run_value, package,
                                                 axis):
    data = hostile_results()
    data["cells"][0][field] = value
    data["cells"][0]["evidence"] = evidence
    data["cells"][0]["axes"] = dict([axis])
    data[run_field], data["target"]["package"] = run_value, package
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    try:
        run = load_run(path)
    except UsageError:
        return
    html = render_html(run, tmp_path)
    assert len(re.findall(r"<script[ >]", html)) == 2
    ET.fromstring(render_junit(run, tmp_path).encode())
    assert markup_problems(render_markdown(run, tmp_path)) == []


@pytest.mark.parametrize("field, value", [
    ("platform", "emulated"),
    ("platform", {"arch": 1}),
    ("resolved", {"version": "2.21.0"}),
    ("resolved", {"for": "x", "platform": "p", "python": "3.12", "version": "1", "file": "", "command": "",
                  "distributions": ["tensorflow 2.21.0"]}),
])
def test_an_attached_runs_platform_and_resolution_are_checked_naming_the_field(tmp_path, field, value):
    from repromatrix.results.results import validate_results

    data = {"run_id": "r", "matrix": "m", "target": {}, "started": "",
            "cells": [{"id": "c", "axes": {}, "outcome": "resolved", "evidence": [], field: value}]}
    with pytest.raises(UsageError) as caught:
        validate_results(data, tmp_path / "results.json")
    assert f"cells[0].{field}:" in str(caught.value)
