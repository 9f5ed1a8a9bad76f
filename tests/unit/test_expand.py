"""Expansion mirrors GitHub Actions' matrix include/exclude examples; ids; selection."""

from __future__ import annotations

import pytest

from repromatrix.config.expand import combinations, expand, select
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import MatrixError, UsageError


def combos(write_matrix, text):
    m = load_matrix(write_matrix(text))
    return list(combinations(m))


def test_github_exclude_example(write_matrix):
    # GitHub's docs: os × version × environment, exclude one triple and one pair → 12 - 1 - 2 = 9.
    result = combos(write_matrix, """
        axes:
          os: [bookworm, trixie]
          prior: ["2.12.0", "2.14.0", "2.16.1"]
          install: [venv, system]
        exclude:
          - {os: bookworm, prior: "2.12.0", install: system}
          - {os: trixie, prior: "2.16.1"}
    """)
    assert len(result) == 9
    assert {"os": "bookworm", "prior": "2.12.0", "install": "system"} not in result
    assert not [c for c in result if c["os"] == "trixie" and c["prior"] == "2.16.1"]


def test_github_include_example(write_matrix):
    # GitHub's docs example with fruit/animal/color/shape, spelled in our axes:
    # fruit→os (apple=bookworm, pear=trixie, banana=bullseye), animal→install (cat=venv,
    # dog=system), color→prior (green=2.12.0, pink=2.13.1), shape→ca (circle=none).
    result = combos(write_matrix, """
        axes:
          os: [bookworm, trixie]
          install: [venv, system]
        include:
          - {prior: "2.12.0"}
          - {prior: "2.13.1", install: venv}
          - {os: bookworm, ca: none}
          - {os: bullseye}
          - {os: bullseye, install: venv}
    """)
    assert result == [
        {"os": "bookworm", "install": "venv", "prior": "2.13.1", "ca": "none"},
        {"os": "bookworm", "install": "system", "prior": "2.12.0", "ca": "none"},
        {"os": "trixie", "install": "venv", "prior": "2.13.1"},
        {"os": "trixie", "install": "system", "prior": "2.12.0"},
        {"os": "bullseye"},
        {"os": "bullseye", "install": "venv"},
    ]


def test_github_include_extends_only_matching(write_matrix):
    # GitHub's docs: windows-latest/node 16 gets npm 6; here trixie/system gets ca none.
    result = combos(write_matrix, """
        axes:
          os: [bookworm, trixie]
          install: [venv, system]
        include:
          - {os: trixie, install: system, ca: none}
    """)
    assert [c.get("ca") for c in result] == [None, None, None, "none"]


def test_include_can_add_back_an_excluded_cell(write_matrix):
    cells = expand(load_matrix(write_matrix("""
        axes: {os: [bookworm, trixie], prior: [none, "2.15.0"]}
        exclude: [{os: trixie, prior: "2.15.0"}]
        include: [{os: trixie, prior: "2.15.0"}]
    """)))
    assert [c.id for c in cells][-1] == "trixie-py3.13-venv-tf2.15.0"
    assert len(cells) == 4


def test_cells_get_defaults_ids_and_expectations(write_matrix):
    cells = expand(load_matrix(write_matrix("""
        axes: {os: [bookworm, "python:3.12-slim"], install: [venv, system], prior: [none, "2.15.0"]}
        expect:
          - {install: venv, outcome: upgraded}
          - {os: bookworm, install: venv, prior: "2.15.0", outcome: not-upgraded}
    """)))
    ids = [c.id for c in cells]
    assert ids[:4] == ["bookworm-py3.11-venv-fresh", "bookworm-py3.11-venv-tf2.15.0",
                       "bookworm-py3.11-system-fresh", "bookworm-py3.11-system-tf2.15.0"]
    assert ids[4] == "python-3.12-slim-pysystem-venv-fresh"
    assert cells[0].axes == {"os": "bookworm", "arch": "amd64", "platform": "linux", "python": "system",
                             "install": "venv", "prior": "none", "ca": "host",
                             "network": "direct", "pip": "os", "cache": "clean", "conflicts": "none",
                             "resources": "unlimited", "installer": "pip"}
    assert [e.value for e in cells[0].expected] == ["upgraded"]
    assert [e.value for e in cells[1].expected] == ["not-upgraded"]  # later rules win
    assert cells[2].expected == ()


def test_duplicate_cells_are_an_error(write_matrix):
    with pytest.raises(MatrixError, match="several cells get the id bookworm-py3.11-venv-fresh"):
        expand(load_matrix(write_matrix("""
            axes: {os: [bookworm, trixie]}
            include: [{os: bookworm, install: venv}, {os: bookworm, install: venv, prior: none}]
            exclude: [{os: bookworm}]
        """)))


def test_python_varies_independently_of_the_os(write_matrix):
    cells = expand(load_matrix(write_matrix(
        "axes: {os: [bookworm, bullseye], python: [system, '3.9', '3.11', '3.12', '3.14']}\n")))
    ids = [c.id for c in cells]
    # system cells keep their ids; an explicit version that equals the OS's own gets its own id.
    assert ids == ["bookworm-py3.11-venv-fresh", "bookworm-py3.9-venv-fresh", "bookworm-py3.11-upstream-venv-fresh",
                   "bookworm-py3.12-venv-fresh", "bookworm-py3.14-venv-fresh", "bullseye-py3.9-venv-fresh",
                   "bullseye-py3.9-upstream-venv-fresh", "bullseye-py3.11-venv-fresh", "bullseye-py3.12-venv-fresh",
                   "bullseye-py3.14-venv-fresh"]


def test_a_python_version_needs_a_debian_suite(write_matrix):
    with pytest.raises(MatrixError, match="python 3.12 needs a Debian suite as os") as e:
        expand(load_matrix(write_matrix("axes: {os: ['registry.example/ubuntu:24.04'], python: ['3.12']}\n")))
    assert "axes.python" in str(e.value)


def test_ids_use_the_targets_short_name(write_matrix):
    cells = expand(load_matrix(write_matrix("""
        target: {package: "tf-nightly"}
        axes: {prior: ["2.23.0.dev20261025"]}
    """)))
    assert [c.id for c in cells] == ["bookworm-py3.11-venv-tf-nightly2.23.0.dev20261025"]
    extras = expand(load_matrix(write_matrix("""
        target: {package: "tensorflow[and-cuda]"}
        axes: {prior: ["2.15.0"]}
    """)))
    assert [c.id for c in extras] == ["bookworm-py3.11-venv-tf2.15.0"]


@pytest.fixture
def cells(write_matrix):
    return expand(load_matrix(write_matrix("""
        axes: {os: [bullseye, bookworm, trixie], install: [venv, system], prior: [none, "2.15.0"]}
    """)))


@pytest.mark.parametrize("only, keyword, expected", [
    (["bookworm-*"], None, 4),
    (["*-system-*", "*-venv-fresh"], None, 9),
    ([], "bookworm and not system", 2),
    ([], "(bullseye or trixie) and install=venv", 4),
    ([], "tf2.15.0", 6),
    ([], "not (venv or fresh)", 3),
    (["trixie-*"], "system", 2),
])
def test_select(cells, only, keyword, expected):
    assert len(select(cells, only, keyword)) == expected


@pytest.mark.parametrize("bad", ["bookworm and", "(bookworm", "and", "bookworm trixie"])
def test_bad_keyword_expression(cells, bad):
    with pytest.raises(UsageError, match="-k"):
        select(cells, (), bad)


# -- counting without making cells ------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from repromatrix.config.expand import count_cells  # noqa: E402
from repromatrix.core.model import Matrix, Target  # noqa: E402

NAMES = ("a", "b", "c", "d")
VALUES = ("1", "2", "3", "x")


@st.composite
def matrices(draw) -> Matrix:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    axes = tuple((n, tuple(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=4, unique=True))))
                 for n in names)
    entry = st.dictionaries(st.sampled_from(NAMES + ("other",)), st.sampled_from(VALUES), max_size=3)
    exclude = tuple(tuple(sorted(e.items())) for e in draw(st.lists(entry, max_size=5)))
    include = tuple(tuple(sorted(e.items())) for e in draw(st.lists(entry, max_size=3)))
    return Matrix(path="m.yaml", target=Target(), axes=axes, exclude=exclude, include=include)


@settings(max_examples=300, deadline=None)
@given(matrices())
def test_the_arithmetic_count_is_the_number_of_combinations(matrix):
    # Overlapping excludes, excludes naming no axis or no value, includes that extend or add.
    assert count_cells(matrix) == sum(1 for _ in combinations(matrix))


def test_a_matrix_of_96_million_cells_is_counted_at_once():
    axes = tuple((name, tuple(f"{name}{i}" for i in range(size)))
                 for name, size in (("a", 100), ("b", 100), ("c", 96), ("d", 100)))
    exclude = ((("a", "a1"),), (("a", "a1"), ("b", "b2")), (("c", "c3"), ("d", "d4")))
    matrix = Matrix(path="m.yaml", target=Target(), axes=axes, exclude=exclude, include=((("a", "new"),),))
    # a1 gone; c3+d4 outside a1; one new cell. Counted one by one this took minutes; the time is
    # measured by scripts/bench-cli, not here.
    assert count_cells(matrix) == 96_000_000 - 960_000 - 100 * 99 + 1
