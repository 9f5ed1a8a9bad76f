"""The docs site: its reference pages say what the registries say (a drift check CI runs with
`nox -s docs`), every page is in the nav, and the README is the front page."""

from __future__ import annotations

import re
import shutil

import yaml

from repromatrix import reference
from repromatrix.core.outcomes import OUTCOME_INFO
from repromatrix.installers import INSTALLERS
from tests.conftest import REPO

DOCS = REPO / "docs"


def test_the_committed_reference_pages_match_the_registries():
    assert reference.drift(DOCS / "reference") == []


def test_a_new_registry_entry_makes_the_pages_stale(monkeypatch):
    # A fifth installer (here pip again, under another name) must show on its pages.
    monkeypatch.setattr(reference, "INSTALLERS", {**INSTALLERS, "pip-again": INSTALLERS["pip"]})
    assert reference.drift(DOCS / "reference") == ["installers.md", "remedies.md"]


def test_every_outcome_remedy_and_exit_code_is_on_its_page():
    pages = reference.pages(DOCS / "reference")
    assert all(f"| `{o.value}` |" in pages["outcomes.md"] for o in OUTCOME_INFO)
    remedies = {r.name for by in INSTALLERS.values() for r in by.remedies}
    assert all(f"| `{name}` |" in pages["remedies.md"] for name in remedies)
    assert all(f"| **{code}** |" in pages["exit-codes.md"] for code in (0, 1, 2, 3, 4, 130))
    assert "`--triage`" in pages["cli.md"] and "## `repromatrix init`" in pages["cli.md"]


def test_the_check_says_which_pages_and_how_to_fix_them(tmp_path, capsys):
    shutil.copy(DOCS / "reference" / "values.yaml", tmp_path / "values.yaml")  # the prose it joins
    assert reference.main([str(tmp_path), "--write"]) == 0
    assert reference.main([str(tmp_path)]) == 0
    (tmp_path / "outcomes.md").write_text("# Outcomes\n\nhand-edited\n")
    assert reference.main([str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert "outcomes.md no longer match" in said and "--write" in said


def nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in nav_pages(value)]
    return [p for item in nav for p in nav_pages(item)] if isinstance(nav, list) else []


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = sorted(nav_pages(config["nav"]))
    written = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert listed == written


def test_the_readme_is_a_front_page_whose_links_lead_somewhere():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert len(links) >= 10
    assert [link for link in links if not (REPO / link).is_file()] == []
    # the two commands the brief keeps true
    assert "bash scripts/provision-host && nox -s matrix" in readme
    assert "bash scripts/provision-host --tests && nox -s tests" in readme


def test_the_architecture_page_lists_every_module_in_its_package():
    rows = {}
    for line in (DOCS / "architecture.md").read_text().splitlines():
        if m := re.match(r"^\| `(\w+)/` \|.*\| (.*) \|$", line):
            rows[m.group(1)] = set(re.findall(r"`(\w+\.py)`", m.group(2)))
    package = REPO / "src" / "repromatrix"
    packages = {d.name for d in package.iterdir() if (d / "__init__.py").is_file()}
    assert set(rows) == packages
    unlisted = {name: sorted({f.name for f in (package / name).glob("*.py")} - {"__init__.py"} - listed)
                for name, listed in rows.items()}
    assert {name: files for name, files in unlisted.items() if files} == {}


def test_a_value_without_prose_or_prose_without_a_value_is_named(monkeypatch, tmp_path, capsys):
    from repromatrix.core.axes import NETWORK_MODES

    shutil.copy(DOCS / "reference" / "values.yaml", tmp_path / "values.yaml")
    network = {**NETWORK_MODES, "carrier-pigeon": NETWORK_MODES["direct"]}
    monkeypatch.setitem(reference.VALUE_TABLES, "network", network)
    assert reference.main([str(tmp_path)]) == 2
    said = capsys.readouterr().err
    assert "values.yaml: network: no prose for carrier-pigeon" in said and "Traceback" not in said
    monkeypatch.setitem(reference.VALUE_TABLES, "network", {k: v for k, v in NETWORK_MODES.items() if k != "flaky"})
    assert reference.main([str(tmp_path)]) == 2
    assert "prose for values that are gone: flaky" in capsys.readouterr().err
