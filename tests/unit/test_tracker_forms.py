"""The reports in the forms trackers show inline: the pivot as summary.png and summary.svg, rendered
from a stored run (results.json) without Docker or a browser."""

from __future__ import annotations

import io
import itertools
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from repromatrix.core.result import CellResult, RunResult
from repromatrix.results import picture
from repromatrix.results.results import load_run, save_run

OUTCOMES = ["upgraded", "externally-managed", "upgraded-inconsistent", "ssl-error", "upgraded"]


def stored_run(tmp_path, installers=("pip", "uv"), oses=("bookworm", "bullseye", "trixie"), pythons=("3.9", "3.11")):
    cells = []
    values = itertools.product(oses, pythons, ("venv", "system", "user"), installers)
    for i, (os_, python, install, installer) in enumerate(values):
        cells.append(CellResult(id=f"{os_}-py{python}-{install}-{installer}", outcome=OUTCOMES[i % len(OUTCOMES)],
                                axes={"os": os_, "python": python, "install": install, "installer": installer},
                                evidence=["said"], expected=["upgraded"]))
    run = RunResult(run_id="20261205-101500-abc123", matrix="matrix.yaml", target={"package": "tensorflow"},
                    started="2026-12-05T10:15:00+00:00", cells=cells)
    save_run(run, tmp_path)
    return load_run(tmp_path)


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_png_decodes_at_the_width_trackers_show_at_half_size(tmp_path):
    from PIL import Image

    run = stored_run(tmp_path)
    image = Image.open(io.BytesIO(picture.render_png(run)))
    image.load()
    assert image.format == "PNG"
    assert image.size[0] == picture.WIDTH_INCHES * picture.DPI == 1800
    rows = len(picture.pivot(run).rows)
    # a title, the header, a row per environment and the legend; never a sliver, never a poster
    assert rows * picture.ROW_INCHES * picture.DPI < image.size[1] < (rows + 8) * picture.ROW_INCHES * picture.DPI
    # the outcomes' own colours are drawn (the legend's and the chips')
    colours = {colour for _, colour in image.convert("RGB").getcolors(1 << 24)}
    assert (0x2E, 0x9E, 0x4F) in colours  # upgraded


def test_the_svg_parses_and_holds_every_groups_count(tmp_path):
    run = stored_run(tmp_path)
    texts = svg_texts(picture.render_svg(run))
    table = picture.pivot(run)
    # with two installers: a row per environment, a column per installer, as the report page's pivot
    assert (table.row_axis, table.column_axis, table.columns) == ("environment", "installer", ["pip", "uv"])
    assert table.rows[0] == "bookworm · 3.9 · venv" and len(table.rows) == 18
    for row in table.rows:
        assert row in texts
    counted = Counter(c.outcome for c in run.cells)
    chips = Counter(texts)
    groups = Counter(str(n) for found in table.counts.values() for n in found.values())
    for number, times in groups.items():
        assert chips[number] >= times  # every group's count is a text of its own
    for outcome, n in counted.items():
        assert f"{outcome.value}: {n}" in texts  # the legend
    assert f"{len(run.cells)} cells" in texts[0] and run.run_id in texts[0]


def test_one_varying_axis_gives_one_column_and_the_same_run_the_same_bytes(tmp_path):
    run = stored_run(tmp_path, installers=("pip",), oses=("bookworm",), pythons=("3.11",))
    table = picture.pivot(run)
    assert (table.row_axis, table.column_axis, table.columns) == ("install", "", [picture.ALL])
    assert table.rows == ["venv", "system", "user"]
    assert picture.render_svg(run) == picture.render_svg(run)
    assert picture.render_png(run) == picture.render_png(run)


def test_a_run_of_one_cell_is_one_row_of_all_its_cells_and_counted_in_the_singular(tmp_path):
    from repromatrix.results.formats import render_markdown
    from repromatrix.results.report import render_html

    run = stored_run(tmp_path, installers=("uv",), oses=("trixie",), pythons=("3.13",))
    run.cells = run.cells[:1]
    table = picture.pivot(run)
    # no axis varies: the row is not labelled with an axis (it used to say "os" over "all")
    assert (table.row_axis, table.column_axis, table.rows, table.columns) == ("cells", "", [picture.ALL],
                                                                             [picture.ALL])
    texts = svg_texts(picture.render_svg(run))
    assert ", 1 cell, " in texts[0] and "1 cells" not in " ".join(texts)
    assert "1 cells" not in render_markdown(run, tmp_path) and "1 cells" not in render_html(run)
    assert "the cell as expected" in render_html(run) and "the cell as expected" in render_markdown(run, tmp_path)


def test_a_large_run_says_what_the_image_leaves_to_the_report(tmp_path):
    run = stored_run(tmp_path, oses=tuple(f"os{i}" for i in range(30)))
    table = picture.pivot(run)
    assert len(table.rows) == picture.MAX_ROWS and table.rows_left_out == 30 * 2 * 3 - picture.MAX_ROWS
    assert f"{table.rows_left_out} more rows: see the report (index.html)" in svg_texts(picture.render_svg(run))


def test_long_labels_are_cut_to_fit_and_say_so():
    assert picture._fit("x" * 200, 1.0).endswith("…") and len(picture._fit("x" * 200, 1.0)) == 14
    assert picture._fit("venv", 1.0) == "venv"


def test_a_control_character_in_an_attached_runs_value_is_drawn_as_its_escape(tmp_path):
    # no font has a glyph for it, and XML 1.0 has no way to hold a NUL: the SVG must still parse
    cells = [CellResult(id=f"c{i}", outcome="upgraded", axes={"os": name}, evidence=[], expected=["upgraded"])
             for i, name in enumerate(("bookworm\x00", "\x1b[31mred", "trixie"))]
    run = RunResult(run_id="r", matrix="m.yaml", target={"package": "tensorflow"}, started="", cells=cells)
    texts = svg_texts(picture.render_svg(run))
    assert "bookworm\\x00" in texts and "\\x1b[31mred" in texts and "trixie" in texts
    assert not any(c in "".join(texts) for c in "\x00\x1b")


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")])
def test_report_writes_the_image_to_the_run_and_to_standard_output(tmp_path, capfdbinary, fmt, magic):
    from repromatrix.cli import main

    stored_run(tmp_path)
    assert main(["report", str(tmp_path), "--format", fmt]) == 0
    assert (tmp_path / f"summary.{fmt}").read_bytes().startswith(magic)
    capfdbinary.readouterr()
    assert main(["report", str(tmp_path), "--format", fmt, "-o", "-"]) == 0
    assert capfdbinary.readouterr().out.startswith(magic)


def test_a_failing_cell_gives_the_tensorflow_templates_fields_from_what_it_recorded(tmp_path):
    from repromatrix.results.formats import render_markdown
    from repromatrix.results.issue_fields import issue_fields

    cell = CellResult(id="bookworm-py3.11-venv-tf2.15.0-and-cuda", outcome="upgraded-inconsistent",
                      axes={"os": "bookworm", "install": "venv", "installer": "pip"}, python="3.11.2", pip="23.0.1",
                      before="2.15.0", after="2.20.0", newest_for_python="2.20.0",
                      evidence=["tf-keras 2.15.1 requires tensorflow<2.16"],
                      changed=[{"name": "nvidia-cudnn-cu12", "change": "added", "after": "9.3.0.75"},
                               {"name": "numpy", "change": "upgraded", "before": "1.26.4", "after": "2.1.3"}])
    fields = dict(line.split(": ", 1) for line in issue_fields(cell, "tensorflow[and-cuda]").splitlines())
    assert fields["TensorFlow version"] == "2.15.0 before the upgrade, 2.20.0 after it (newest for this Python: 2.20.0)"
    assert fields["OS platform and distribution"] == "Linux, Debian bookworm (container)"
    assert fields["Python version"] == "3.11.2"
    assert fields["Installed using virtualenv? pip? conda?"] == "pip 23.0.1 into a virtualenv (python3 -m venv)"
    assert fields["CUDA/cuDNN version"] == "nvidia-cudnn-cu12 9.3.0.75 (wheels; no GPU to run them)"
    image = CellResult(id="x", outcome="ssl-error", axes={"os": "ubuntu:24.04"}, evidence=[])
    said = issue_fields(image, "tensorflow")
    assert "Linux, image ubuntu:24.04 (container)" in said and "Python version: unknown" in said
    run = RunResult(run_id="r", matrix="m.yaml", target={"package": "tensorflow"}, started="2026-12-05T00:00:00+00:00",
                    cells=[cell])
    summary = render_markdown(run, tmp_path)
    assert "### For the issue template" in summary and "Python version: 3.11.2" in summary


def test_platforms_are_the_columns_each_environment_a_row(tmp_path):
    """Where cells ran on several architectures or were resolved for other platforms, each of
    those is a column (as on the page) and each environment a row."""
    def cell(arch, platform, install, outcome, run):
        axes = {"os": "bookworm", "arch": arch, "platform": platform, "install": install, "installer": "pip"}
        where = {"arch": arch, "machine": "", "run": run}
        return CellResult(id=f"{arch}-{platform}-{install}", outcome=outcome, axes=axes, evidence=["said"],
                          platform=where, expected=[outcome])

    cells = [cell("amd64", "linux", "venv", "upgraded", "native"),
             cell("arm64", "linux", "venv", "upgraded", "emulated (qemu-user)"),
             cell("amd64", "linux", "system", "externally-managed", "native"),
             cell("arm64", "linux", "system", "externally-managed", "emulated (qemu-user)"),
             cell("amd64", "macos-arm64", "venv", "resolved", "resolved")]
    run = RunResult(run_id="20261207-101500-abc123", matrix="m.yaml", target={"package": "tensorflow"},
                    started="2026-12-07T10:15:00+00:00", cells=cells)
    save_run(run, tmp_path)
    table = picture.pivot(load_run(tmp_path))
    assert (table.row_axis, table.column_axis) == ("environment", "runs on")
    assert table.columns == ["amd64", "arm64 (emulated)", "macos-arm64 (resolved)"]
    assert table.rows == ["venv", "system"]
    assert table.counts[("venv", "macos-arm64 (resolved)")] == Counter({picture.Outcome.RESOLVED: 1})
