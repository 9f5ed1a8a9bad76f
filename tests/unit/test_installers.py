"""The installer seam: plans, Dockerfiles and the classifier ask the cell's installer for its
commands, variables and words; pip is one implementation (installers/pip.py)."""

from __future__ import annotations

import re
import shlex

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.outcomes import Outcome
from repromatrix.installers import INSTALLERS, Installer, Rule, installer
from repromatrix.installers.interface import Variables
from repromatrix.installers.pip import Pip
from repromatrix.judge.classify import classify
from repromatrix.plan.plan import RenderContext, plan_cell
from repromatrix.plan.render import render_dockerfile
from tests.conftest import REPO
from tests.support import observe

PACKAGE = REPO / "src" / "repromatrix"


class Other(Pip):
    """Another installer, as a test makes one: its own variables, commands and words."""

    name = "other"
    variables = Variables(index_url="OTHER_INDEX", extra_index_url="OTHER_EXTRA", cert="OTHER_CERT",
                          constraint="OTHER_CONSTRAINT",
                          no_input="OTHER_NO_INPUT", break_system_packages="OTHER_BREAK",
                          quiet=(("OTHER_QUIET", "1"),))
    rules = (Rule(Outcome.SSL_ERROR, r"invalid peer certificate: UnknownIssuer"),)

    def program(self, module: bool) -> str:
        return "other"

    def upgrade(self, program: str, requirement: str, *, user: bool, pre: bool, venv: str | None) -> str:
        return f"{program} up {shlex.quote(requirement)}"


def test_pip_is_registered_and_spells_what_users_type():
    pip = installer()
    assert INSTALLERS["pip"] is pip and pip.name == "pip"
    assert pip.upgrade(pip.program(True), "tensorflow[and-cuda]", user=True, pre=False, venv=None) == (
        "python3 -m pip install --user --upgrade 'tensorflow[and-cuda]'")
    assert pip.install(pip.program(False), "numpy==1.24.3", venv="/opt/venv") == "pip install numpy==1.24.3"
    assert pip.pinned_self("23.0") == "pip==23.0" and pip.cache_dir("/root") == "/root/.cache/pip"


def test_a_dockerfile_spells_the_cells_installer_not_pip(write_matrix):
    path = write_matrix("target: {index: 'https://127.0.0.1:9/simple/'}\n"
                        "axes: {os: [bookworm], install: [system], prior: ['2.15.0'], ca: [host], "
                        "conflicts: [constraints]}\n")
    matrix = load_matrix(path)
    ctx = RenderContext(target=matrix.target, index_url="https://127.0.0.1:9/simple/")
    plan = plan_cell(expand(matrix)[0], ctx)
    assert "PIP_INDEX_URL" in render_dockerfile(plan, ctx)  # pip's, as before
    other = plan_cell(expand(matrix)[0], ctx, Other())
    assert other.upgrade_command == "other up tensorflow" and other.installer.name == "other"
    assert other.setup_commands == ("OTHER_BREAK=1 other install tensorflow==2.15.0",)
    text = render_dockerfile(other, ctx)
    assert "OTHER_CONSTRAINT=/etc/pip-constraints.txt" in text and "OTHER_INDEX=" in text
    assert "OTHER_QUIET=" in text
    assert not re.search(r"\bPIP_[A-Z]", text), [line for line in text.splitlines() if "PIP_" in line]


def test_the_classifier_reads_the_installers_own_words():
    record = {"package": "tensorflow", "python": "3.11.2", "pip": "", "before": None, "after": None,
              "upgrade": {"command": "other up tensorflow", "exit_code": 2, "seconds": 1.0, "timed_out": False,
                          "output": "error: invalid peer certificate: UnknownIssuer\n"}}
    assert classify(observe(record), by=Other()).outcome is Outcome.SSL_ERROR
    assert classify(observe(record)).outcome is Outcome.UNKNOWN_FAILURE  # pip never says that


# Where pip may still be spelled, and why: the host's own pip, not a cell's installer (its
# configuration names the host's CA; it downloads the local index's wheels), and the interpreter
# providers, which give an image the pip its official image ships (part of the interpreter).
# The date-filtering index's image installs its own server with pip: a service of the run, not
# a cell's installer.
HOST_SIDE = {"infra/hostca.py", "infra/wheelcache.py", "infra/interpreters.py",
             "templates/timemachine.Dockerfile.j2",
             "intake/against_index.py"}  # asks the host's pip which index it reads
# `init --from` reads what reporters typed and pasted, in pip's words too; it prints a command for
# the maintainer to type, and builds nothing a cell runs.
REPORT_READERS = {"intake/clues.py", "intake/draft.py", "intake/pasted.py", "intake/said.py",
                  "intake/template.py"}
# pip's variables, and pip run as a command (argv or shell), as code spells them
PIPS_NAMES = re.compile(r"\bPIP_[A-Z]|[\"']-m[\"'], [\"']pip[\"']|\bpip (?:install|check|index|cache|download)\b")


def spelling(pattern: re.Pattern[str]) -> set[str]:
    """The package's files whose code (comments and docstrings aside) matches `pattern`."""
    found = set()
    for path in PACKAGE.rglob("*"):
        if path.suffix not in (".py", ".j2"):
            continue
        code = [line.split("#")[0] for line in path.read_text().splitlines() if not line.strip().startswith("#")]
        if any(pattern.search(line) and "`" not in line for line in code):
            found.add(str(path.relative_to(PACKAGE)))
    return found


def installer_files(by: Installer) -> set[str]:
    """What an installer owns: its modules (installers/NAME.py, NAME_remedies.py, '-' spelled '_')
    and its fragments."""
    module = by.name.replace("-", "_")
    own = {f"installers/{name}" for name in (f"{module}.py", f"{module}_remedies.py")}
    return {name for name in own if (PACKAGE / name).is_file()} | {f"templates/{name}" for name in by.fragments}


def test_only_the_installers_own_files_spell_pips_names():
    owned = installer_files(installer("pip"))
    assert owned == {"installers/pip.py", "installers/pip_remedies.py", "templates/corrupt_cache.py",
                     "templates/align_pip.py"}
    assert all((PACKAGE / name).is_file() for name in owned)
    # pip-tools is pip underneath (pip-compile reads pip's configuration, pip-sync runs pip): its
    # files spell pip's names too, and no other's do
    owned |= installer_files(installer("pip-tools"))
    found = spelling(PIPS_NAMES)
    assert found - owned - HOST_SIDE - REPORT_READERS == set(), found - owned - HOST_SIDE
    assert "installers/pip_remedies.py" in found  # the check sees pip's spelling where it is


def test_uv_is_its_two_modules_and_its_cache_damager():
    assert installer_files(installer("uv")) == {"installers/uv.py", "installers/uv_remedies.py",
                                                "templates/corrupt_uv_cache.py"}


def test_a_uv_project_is_its_two_modules_and_uvs_cache_damager():
    # uv-add is uv's program: it damages and reads uv's cache, and words its errors as uv does
    assert installer_files(installer("uv-add")) == {"installers/uv_add.py", "installers/uv_add_remedies.py",
                                                    "templates/corrupt_uv_cache.py"}


def test_every_installers_cache_damager_is_one_of_its_own_scripts():
    for by in INSTALLERS.values():
        assert by.cache_damager in by.fragments
        assert (PACKAGE / "templates" / by.cache_damager).is_file()


def test_a_secret_index_url_is_handed_over_in_the_installers_variable(write_matrix):
    path = write_matrix("target: {index: 'https://127.0.0.1:9/simple/'}\n"
                        "axes: {os: [bookworm], install: [venv], prior: [none]}\n")
    matrix = load_matrix(path)
    ctx = RenderContext(target=matrix.target, index_url="https://127.0.0.1:9/simple/", index_secret=True)
    text = render_dockerfile(plan_cell(expand(matrix)[0], ctx, Other()), ctx)
    assert "REPROMATRIX_INDEX_VARIABLE='OTHER_INDEX'" in text
    scenario = (PACKAGE / "templates" / "scenario.py").read_text()
    assert "os.environ[\"REPROMATRIX_INDEX_VARIABLE\"]" in scenario and "PIP_" not in scenario
