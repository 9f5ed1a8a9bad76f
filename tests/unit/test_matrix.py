"""Loading and validating matrix.yaml: every error names file, line, key and a fix."""

from __future__ import annotations

import pytest

from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import MatrixError
from repromatrix.core.model import IndexSpec, Target
from repromatrix.core.outcomes import Outcome
from tests.support import with_credentials


def error_of(write_matrix, text: str) -> MatrixError:
    path = write_matrix(text)
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    return info.value


def test_minimal_matrix_gets_defaults(write_matrix):
    m = load_matrix(write_matrix("axes: {os: [bookworm]}\n"))
    assert m.target == Target("tensorflow", "", IndexSpec("default"))
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


@pytest.mark.parametrize("package, version, name, requirement, pinned", [
    ("tensorflow", "", "tensorflow", "tensorflow", "tensorflow==2.15.0"),
    ("tensorflow[and-cuda]", "", "tensorflow", "tensorflow[and-cuda]", "tensorflow[and-cuda]==2.15.0"),
    ("TensorFlow_CPU", ">=2.16", "tensorflow-cpu", "TensorFlow_CPU>=2.16", "TensorFlow_CPU==2.15.0"),
    ("tensorflow>=2.16,<3", "", "tensorflow", "tensorflow<3,>=2.16", "tensorflow==2.15.0"),
    ("tensorflow[and-cuda]; sys_platform == 'linux'", "", "tensorflow",
     'tensorflow[and-cuda]; sys_platform == "linux"', 'tensorflow[and-cuda]==2.15.0; sys_platform == "linux"'),
    ("tf-nightly", "", "tf-nightly", "tf-nightly", "tf-nightly==2.15.0"),
])
def test_target_is_a_requirement(write_matrix, package, version, name, requirement, pinned):
    m = load_matrix(write_matrix(f"target: {{package: \"{package}\", version: '{version}'}}\naxes: {{}}\n"))
    assert (m.target.name, m.target.requirement, m.target.pinned("2.15.0")) == (name, requirement, pinned)


def test_target_pre_imports_and_checks(write_matrix):
    m = load_matrix(write_matrix("""
        target: {package: tf-nightly, pre: true, imports: [tensorflow, tensorflow.keras]}
        axes: {}
        checks:
          - {name: keras-dense, python: "from tensorflow import keras; keras.layers.Dense(1)"}
          - {name: cli, run: "python3 -c 'import sys; print(sys.argv)' a 'b c'"}
          - {name: argv, run: [python3, -V]}
    """))
    assert (m.target.pre, m.target.imports) == (True, ("tensorflow", "tensorflow.keras"))
    assert [(c.name, c.argv, c.python) for c in m.checks] == [
        ("keras-dense", (), "from tensorflow import keras; keras.layers.Dense(1)"),
        ("cli", ("python3", "-c", "import sys; print(sys.argv)", "a", "b c"), ""),
        ("argv", ("python3", "-V"), "")]


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
    ("axes:\n  prior: ['2.15.0', '2.15']\n", 2, "axes.prior[1]", "('2.15.0' is the same version)"),
    ("axes:\n  pip: ['19.2.3', '19.2.3.0']\n", 2, "axes.pip[1]", "listed twice"),
    ("axes:\n  python: ['3.12', '3.x']\n", 2, "axes.python[1]", "not 'system' or a Python version"),
    ("target:\n  package: 'tensorflow[and-cuda'\naxes: {}\n", 2, "target.package", "not a PEP 508 requirement"),
    ("target:\n  package: 'tf @ https://idx.example/tf.whl'\naxes: {}\n", 2, "target.package", "direct URL"),
    ("target:\n  package: 'tensorflow>=2.16'\n  version: '<3'\naxes: {}\n", 2, "target.package", "one place"),
    ("target:\n  pre: maybe\naxes: {}\n", 2, "target.pre", "not true or false"),
    ("target:\n  imports: [tensorflow, 'tf-keras']\naxes: {}\n", 2, "target.imports[1]", "not an importable"),
    ("axes: {}\nchecks:\n  - {name: a, run: x, python: y}\n", 3, "checks[0]", "exactly one of 'run'"),
    ("axes: {}\nchecks:\n  - {name: 'a b', python: y}\n", 3, "checks[0].name", "not a check name"),
    ("axes: {}\nchecks:\n  - {name: a, python: y}\n  - {name: a, python: z}\n", 4, "checks[1].name",
     "listed twice"),
    ("axes: {}\nchecks:\n  - {name: a, run: 'echo \"unclosed'}\n", 3, "checks[0].run", "cannot split"),
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


@pytest.mark.parametrize("index, kind, url, credentials, auth, shown", [
    ("default", "default", "", "", False, "default"),
    ("local", "local", "", "", False, "local"),
    ("local-auth", "local", "", "", True, "local-auth"),
    ("https://idx.example/simple/", "url", "https://idx.example/simple/", "", False, "https://idx.example/simple/"),
    (with_credentials("ci:${ART_TOKEN}", "idx.example:8443/api/pypi/simple"), "url",
     "https://idx.example:8443/api/pypi/simple",
     "ci:${ART_TOKEN}", False, "https://idx.example:8443/api/pypi/simple"),
    (with_credentials("__token__:p%40ss", "idx.example/simple"), "url", "https://idx.example/simple",
     "__token__:p%40ss", False, "https://idx.example/simple"),
])
def test_index_credentials_are_kept_apart_from_the_url(write_matrix, index, kind, url, credentials, auth, shown):
    spec = load_matrix(write_matrix(f"target: {{index: '{index}'}}\naxes: {{}}\n")).target.index
    assert (spec.kind, spec.url, spec.credentials, spec.auth, str(spec)) == (kind, url, credentials, auth, shown)
    assert "credentials" not in repr(spec) and (not credentials or credentials not in repr(spec))


def test_an_index_error_never_echoes_the_credentials(write_matrix):
    err = error_of(write_matrix, f"target: {{index: '{with_credentials('ci:s3cr3t', 'idx.example/ simple')}'}}\n"
                   "axes: {}\n")
    assert "s3cr3t" not in str(err) and "target.index" in str(err)
    err = error_of(write_matrix, f"target: {{index: '{with_credentials('c i:s3cr3t', 'idx.example/simple')}'}}\n"
                   "axes: {}\n")
    assert "s3cr3t" not in str(err) and "are not USER:PASSWORD" in str(err)
