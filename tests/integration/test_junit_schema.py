"""JUnit XML validated against the Jenkins JUnit schema that pytest's own tests use.

The schema is taken from pytest's source distribution, fetched from the package registry with
pip (and cached), so nothing of another project is copied into this repository.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from lxml import etree

from repromatrix.results.formats import render_junit
from repromatrix.results.results import load_run
from tests.support import synthetic_run

CACHE = Path.home() / ".cache" / "repromatrix-tests"


@pytest.fixture(scope="module")
def junit_schema() -> etree.XMLSchema:
    xsd = CACHE / "junit-10.xsd"
    if not xsd.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "--dest", str(CACHE), "pytest==9.0.3"], check=True, capture_output=True, timeout=600)
        with tarfile.open(CACHE / "pytest-9.0.3.tar.gz") as tar:
            member = tar.extractfile("pytest-9.0.3/testing/example_scripts/junit-10.xsd")
            xsd.write_bytes(member.read())
    return etree.XMLSchema(etree.parse(str(xsd)))


def test_junit_of_a_real_run_is_valid(junit_schema, offline_run):
    doc = etree.fromstring(render_junit(load_run(offline_run.dir), offline_run.dir).encode())
    junit_schema.assertValid(doc)
    assert doc.find("testsuite").get("tests") == str(len(offline_run.cells))


def test_junit_with_failures_and_errors_is_valid(junit_schema):
    doc = etree.fromstring(render_junit(synthetic_run(500), Path(".")).encode())
    junit_schema.assertValid(doc)
    names = [c.get("name") for c in doc.iter("testcase")]
    assert len(names) == len(set(names)) == 500
    assert int(doc.find("testsuite").get("failures")) > 0 and int(doc.find("testsuite").get("errors")) > 0
