"""Sessions: `nox -s matrix` (the main job), `nox -s tests`, `nox -s report`, `nox -s lint`,
`nox -s docs`.

Docker, debootstrap, nox itself (and chromium, with --tests) come from
`bash scripts/provision-host` (see README).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def matrix(session: nox.Session) -> None:
    """Run the matrix (matrix.yaml by default; against the real public index): `nox -s matrix -- ARGS`."""
    session.install(".")
    session.run("repromatrix", "run", "--matrix", "matrix.yaml", *session.posargs, external=False)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the Docker integration tests (real containers, local index, offline), but
    the slow ones (`nox -s slow`)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-ra", "-m", "not slow", "--junitxml=test-artifacts/junit.xml", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """The real-container tests too slow for `nox -s tests` on a fresh machine (the nightly runs them)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-ra", "-m", "slow", "--junitxml=test-artifacts/junit-slow.xml", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Re-render the latest run's reports from its results.json (no Docker): `nox -s report -- [ARGS]`."""
    session.install(".")
    session.run("repromatrix", "report", *(session.posargs or ["reports/latest"]))


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site: the reference pages checked against the registries they restate, then
    built strictly into build/docs (`nox -s docs -- --write` regenerates the pages first)."""
    session.install("-e", ".[docs]")
    if "--write" in session.posargs:
        session.run("python", "-m", "repromatrix.reference", "--write", "docs/reference")
    session.run("python", "-m", "repromatrix.reference", "docs/reference")
    session.run("mkdocs", "build", "--strict", "--quiet")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src")  # src/ruff.toml: formatted, lines under 100
    session.run("mypy")
