"""What tools print, as people paste it, read from real captures (tests/data/pastes, each
saying where it came from): every value a maintainer would take from the paste, and nothing
the paste does not say (pip debug's vendored libraries are not an environment; an i386
userland's uname says x86_64, its pip takes i686 wheels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repromatrix.intake.clues import clues_of
from repromatrix.intake.reading import read
from repromatrix.intake.report import read_reports

PASTES = Path(__file__).resolve().parents[1] / "data" / "pastes"


def reading_of(name: str):
    return read(clues_of(read_reports([str(PASTES / name)])))


CASES = [
    # paste, {fact: value}, pins in the environment
    ("arm64-bookworm-venv.md",
     {"os": "bookworm", "arch": "arm64", "python": "3.11", "pip": "23.0.1", "install": "venv",
      "platform": "linux"}, set()),
    ("i386-bookworm.md", {"arch": "i386", "python": "3.11"}, set()),
    ("tf-env-collect-arm64.md", {"arch": "arm64", "python": "3.11", "os": None}, set()),
    ("jax-print-environment-info.md", {"arch": "amd64", "python": "3.11", "os": None},
     {"jax==0.10.2", "jaxlib==0.10.2", "numpy==2.4.6"}),
    ("jax-colab-cpu.md", {"python": "3.7"}, {"jax==0.3.17", "jaxlib==0.3.15", "numpy==1.21.6"}),
    ("collect-env-windows.md",
     {"os": "windows", "arch": "amd64", "platform": "windows-amd64", "python": "3.10",
      "conda": "yes"}, set()),
    # tensorflow is the target (none named: assumed), so its row is the version before
    ("conda-list-windows.md", {"os": "windows", "conda": "yes", "prior": "2.3.0"},
     {"tensorboard==2.0.2", "sqlite==3.32.3", "tb-nightly==1.14.0a20190603"}),
]


@pytest.mark.parametrize("name,facts,pins", CASES, ids=[c[0] for c in CASES])
def test_a_real_paste_is_read_for_what_it_says(name, facts, pins):
    reading = reading_of(name)
    for field, value in facts.items():
        assert reading[field].value == value, (field, reading[field])
    found = {c.value for c in reading.environment}
    assert pins <= found, pins - found
    if not pins:
        assert not [c for c in reading.environment if c.strength > 1], found


def test_pip_debugs_vendored_libraries_are_no_environment():
    reading = reading_of("arm64-bookworm-venv.md")
    assert not any(c.value.startswith(("certifi==", "urllib3==")) for c in reading.environment)


def test_the_installers_tags_outrank_the_kernels_machine():
    reading = reading_of("i386-bookworm.md")
    said = {(c.value, c.says) for c in reading.of("arch")}
    assert ("i686", "pip debug's compatible tags") in said and ("x86_64", "uname -a") in said
    assert reading["arch"].value == "i386" and reading["arch"].sure


def test_every_paste_cites_its_source():
    for path in (p for p in PASTES.glob("*.md") if p.name != "README.md"):
        assert path.read_text().startswith("<!-- source: "), path.name
