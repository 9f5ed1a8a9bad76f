"""Loading and validating matrix.yaml: every error names file, line, key and a fix."""

from __future__ import annotations

import pytest

from repromatrix.errors import MatrixError
from repromatrix.matrix import load_matrix
from repromatrix.model import Target
from repromatrix.outcomes import Outcome


def error_of(write_matrix, text: str) -> MatrixError:
    path = write_matrix(text)
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    return info.value


def test_minimal_matrix_gets_defaults(write_matrix):
    m = load_matrix(write_matrix("axes: {os: [bookworm]}\n"))
    assert m.target == Target("tensorflow", "", "default")
    assert m.axes == (("os", ("bookworm",)),)
    assert m.settings.timeout == 1800


def test_unknown_key_names_line_and_suggests(write_matrix):
    err = error_of(write_matrix, """
        version: 1
        axes:
          os: [bookworm]
          prior_version: [none]
    """)
    assert err.line == 4 and err.key == "axes.prior_version"
    assert "did you mean 'prior'?" in str(err)
    assert str(err).startswith(f"{err.path}:4: axes.prior_version: unknown key")


def test_unknown_top_level_key(write_matrix):
    err = error_of(write_matrix, "axis: {os: [bookworm]}\n")
    assert err.line == 1 and "did you mean 'axes'?" in str(err)


def test_python_versions_stay_text(write_matrix):
    # YAML would read 3.10 as the float 3.1; the loader keeps what the user wrote.
    m = load_matrix(write_matrix("axes: {os: [bookworm], python: [3.10, system]}\n"))
    assert dict(m.axes)["python"] == ("3.10", "system")


@pytest.mark.parametrize("text, line, key, words", [
    ("axes: {os: [bookworm], install: [vnev]}\n", 1, "axes.install[0]", "did you mean 'venv'?"),
    ("axes:\n  os: [bookworm]\n  prior: [2.x]\n", 3, "axes.prior[0]", "is not a version"),
    ("axes:\n  os: [bookworm, bookworm]\n", 2, "axes.os[1]", "listed twice"),
    ("axes:\n  os: []\n", 2, "axes.os", "has no values"),
    ("version: 2\naxes: {os: [bookworm]}\n", 1, "version", "unsupported version"),
    ("target:\n  version: '>>2'\naxes: {os: [bookworm]}\n", 2, "target.version", "not a version specifier"),
    ("target:\n  index: ftp://x\naxes: {os: [bookworm]}\n", 2, "target.index", "'local'"),
    ("axes: {os: [bookworm]}\nsettings:\n  timeout: -5\n", 3, "settings.timeout", "positive whole number"),
    ("axes: {os: [bookworm]}\nsettings:\n  max_paralel: 2\n", 3, "settings.max_paralel", "'max_parallel'"),
    ("axes:\n  os: [bookworm]\n  os: [trixie]\n", 3, "axes.os", "appears twice"),
    ("target: {package: tensorflow}\n", 1, "", "missing key 'axes'"),
])
def test_bad_values(write_matrix, text, line, key, words):
    err = error_of(write_matrix, text)
    assert (err.line, err.key) == (line, key)
    assert words in str(err)


def test_exclude_must_match_an_axis_value(write_matrix):
    err = error_of(write_matrix, """
        axes:
          os: [bookworm, trixie]
        exclude:
          - os: bokworm
    """)
    assert err.line == 4 and err.key == "exclude[0].os"
    assert "did you mean 'bookworm'?" in str(err)


def test_expect_outcomes_are_checked(write_matrix):
    err = error_of(write_matrix, """
        axes: {os: [bookworm]}
        expect:
          - {os: bookworm, outcome: externaly-managed}
    """)
    assert err.key == "expect[0].outcome" and err.line == 3
    assert "did you mean 'externally-managed'?" in str(err)


def test_expect_accepts_one_or_several_outcomes(write_matrix):
    m = load_matrix(write_matrix("""
        axes: {os: [bookworm]}
        expect:
          - {os: bookworm, outcome: upgraded}
          - {outcome: [setup-failed, infra-error]}
    """))
    assert m.expect[0].outcomes == (Outcome.UPGRADED,)
    assert m.expect[1].outcomes == (Outcome.SETUP_FAILED, Outcome.INFRA_ERROR)


def test_yaml_syntax_error_has_a_line(write_matrix):
    err = error_of(write_matrix, "axes:\n  os: [bookworm\n  install: venv\n")
    assert err.line is not None and "not valid YAML" in str(err)


def test_missing_file(tmp_path):
    with pytest.raises(MatrixError, match="cannot read the matrix file"):
        load_matrix(tmp_path / "nope.yaml")


def test_shipped_matrices_load():
    from tests.conftest import REPO

    for path in [REPO / "matrix.yaml", *sorted((REPO / "examples").glob("*.yaml"))]:
        assert load_matrix(path).axes, path
