"""pip-tools as the fourth installer on the seam: an upgrade of two commands (pip-compile, then
pip-sync), what it writes into a project, and pip's words in its output, captured in real
containers (tests/data/capture/pip-tools/)."""

from __future__ import annotations

import ast
import re
import shlex
from importlib import resources

import pytest
from packaging.requirements import InvalidRequirement

from repromatrix.cell import contract
from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import MatrixError
from repromatrix.core.model import Choice, Selection
from repromatrix.core.outcomes import Outcome
from repromatrix.installers import INSTALLERS, installer
from repromatrix.judge.classify import classify
from repromatrix.judge.remedies import Facts, plan_attempts
from tests.conftest import DATA
from tests.support import observe

PIP_TOOLS = installer("pip-tools")
CAPTURES = DATA / "capture" / "pip-tools"
UPGRADE = PIP_TOOLS.upgrade("pip-compile", "tensorflow", user=False, pre=False, venv="/opt/venv")


def captured(name: str) -> tuple[str, int]:
    """A capture's output and exit code (its first line says the exit code; comments are ours)."""
    text = (CAPTURES / f"{name}.txt").read_text()
    code = int(re.search(r"exit (\d+)", text.splitlines()[0]).group(1))
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# ")), code


def record(name: str, before: str | None = "2.15.0", after: str | None = "2.15.0") -> dict:
    output, code = captured(name)
    return {"package": "tensorflow", "python": "3.11.2", "pip": "pip-compile, version 7.7.0",
            "before": before, "after": after,
            "upgrade": {"command": UPGRADE, "exit_code": code, "seconds": 5.0, "timed_out": False,
                        "output": output},
            "pip_check": {"exit_code": 0, "output": "No broken requirements found.\n", "seconds": 0.5}}


def test_pip_tools_is_registered_and_spells_what_its_user_types():
    assert INSTALLERS["pip-tools"] is PIP_TOOLS and PIP_TOOLS.reads_pip_config
    assert UPGRADE == ("pip-compile --upgrade-package tensorflow --output-file /opt/app/requirements.txt "
                       "/opt/app/requirements.in && pip-sync /opt/app/requirements.txt")
    # one argv as the scenario reads it, two commands as it runs them
    assert contract.upgrade_steps(shlex.split(UPGRADE)) == [
        ["pip-compile", "--upgrade-package", "tensorflow", "--output-file", "/opt/app/requirements.txt",
         "/opt/app/requirements.in"], ["pip-sync", "/opt/app/requirements.txt"]]
    assert PIP_TOOLS.version_of("pip-compile, version 7.7.0") == "7.7.0"
    assert PIP_TOOLS.version_of("pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)") == ""


def test_the_setup_lists_the_target_and_compiles_it_at_the_prior_version():
    prepare = PIP_TOOLS.prepare("/home/user/venv", "7.5.3", "tensorflow[and-cuda]>=2.12")
    assert prepare[0] == "python3 -m pip install pip-tools==7.5.3"
    # the target is a line of requirements.in by name and extras: versions are the compiled file's
    assert "printf '%s\\n' 'tensorflow[and-cuda]' >> /home/user/app/requirements.in" in prepare[2]
    install = PIP_TOOLS.install("pip-compile", "tensorflow[and-cuda]==2.15.0", venv="/home/user/venv")
    assert "grep -qxF 'tensorflow[and-cuda]' /home/user/app/requirements.in ||" in install  # listed once
    assert "printf '%s\\n' tensorflow==2.15.0 >> /home/user/app/.locked-at.txt" in install
    assert install.endswith("pip-compile -c /home/user/app/.locked-at.txt --output-file "
                            "/home/user/app/requirements.txt /home/user/app/requirements.in "
                            "&& pip-sync /home/user/app/requirements.txt")
    # pip-compile leaves pip out of what it compiles: pip is pinned with pip
    assert PIP_TOOLS.install("pip-compile", "pip==24.0", venv="/opt/venv") == "python3 -m pip install pip==24.0"
    # a reporter's environment: its names listed, its lines the constraints of one compile
    environment = PIP_TOOLS.install_file("pip-compile", "/env/requirements.txt", names=("tensorflow", "h5py"),
                                         venv="/opt/venv")
    assert "pip-compile -c /env/requirements.txt " in environment and "grep -qxF h5py " in environment


def test_a_value_from_the_matrix_stays_one_word_in_the_setup():
    with pytest.raises(InvalidRequirement):  # not a requirement: refused before any command is made
        PIP_TOOLS.install("pip-compile", "tensorflow[x;rm -rf /]", venv="/opt/venv")
    venv = "/srv/my env;$(id)/venv"
    command = PIP_TOOLS.install("pip-compile", "tensorflow>=2.12,!=2.13.*; python_version>'3'", venv=venv)
    words = shlex.split(command)
    # the project beside it, and the pin without its marker, each one word of the shell command
    assert "/srv/my env;$(id)/app/requirements.in" in words and "/srv/my env;$(id)/app/.locked-at.txt" in words
    assert "tensorflow!=2.13.*,>=2.12" in words, words


@pytest.mark.parametrize("install", ["system", "system-user", "user-flag"])
def test_modes_without_a_venv_are_refused_naming_the_axis(write_matrix, install):
    path = write_matrix(f"target: {{index: local}}\naxes: {{os: [bookworm], install: [{install}], "
                        "installer: [pip-tools]}\n")
    with pytest.raises(MatrixError, match=rf"axes\.installer: pip-tools syncs a virtual environment.*"
                                          rf"install: {install}"):
        expand(load_matrix(path))


@pytest.mark.parametrize("name, outcome, evidence", [
    # compiled again with the other pins kept: the pin printed, and pip-sync's word for no change
    ("kept", Outcome.NOT_UPGRADED, ("tensorflow==2.15.0", "Everything up-to-date")),
    ("permission", Outcome.PERMISSION_DENIED,
     ("Error: Could not open file '/opt/app/requirements.txt': Permission denied",)),
    # pip-sync's pip, against the constraint pip-compile never read
    ("sync-constraint", Outcome.RESOLUTION_IMPOSSIBLE,
     ("ERROR: Cannot install protobuf==6.33.1 because these package versions have conflicting dependencies.",)),
])
def test_pip_tools_output_decides_the_outcome(name, outcome, evidence):
    verdict = classify(observe(record(name)), by=PIP_TOOLS)
    assert verdict.outcome is outcome, verdict
    assert all(line in verdict.evidence for line in evidence), verdict.evidence


def test_an_upgrade_it_synced_is_upgraded_in_pips_words():
    verdict = classify(observe(record("upgrade", before=None, after="2.21.0")), by=PIP_TOOLS)
    assert verdict.outcome is Outcome.UPGRADED
    assert verdict.evidence[0].startswith("Successfully installed") and "tensorflow-2.21.0" in verdict.evidence[0]


def test_pip_never_says_pip_sync_s_word_for_no_change():
    # the same output under pip's rules has no line that says it kept the target
    verdict = classify(observe(record("kept")), by=installer("pip"))
    assert verdict.outcome is Outcome.NOT_UPGRADED and verdict.evidence == ("tensorflow stayed at 2.15.0",)


def facts(**changes: object) -> Facts:
    base = Facts(package="tensorflow", requirement="tensorflow", upgrade=tuple(shlex.split(UPGRADE)),
                 upgrader="user", home="/home/user", version="7.7.0", in_venv=True,
                 resources=frozenset(), newest_for_python="tensorflow==2.20.0")
    return Facts(**(base.__dict__ | changes))  # type: ignore[arg-type]


def test_its_options_go_to_pip_compile_and_each_command_is_a_line_of_its_own():
    attempts = {a.remedy.name: a for a in plan_attempts(Outcome.NOT_UPGRADED, facts(), Selection(Choice.AUTO),
                                                        PIP_TOOLS)}
    everything = attempts["upgrade-all"]
    assert contract.upgrade_steps(everything.upgrade)[0][-1] == "--upgrade"
    assert everything.commands == (
        "pip-compile --upgrade-package tensorflow --output-file /opt/app/requirements.txt /opt/app/requirements.in "
        "--upgrade", "pip-sync /opt/app/requirements.txt")
    # one line for the container too, split back the same way
    line = everything.container_env()[contract.UPGRADE]
    assert contract.upgrade_steps(shlex.split(line)) == contract.upgrade_steps(everything.upgrade)


def test_sudo_and_variables_are_on_each_command_not_only_the_first():
    attempts = plan_attempts(Outcome.PERMISSION_DENIED, facts(), Selection(Choice.NONE, ("as-root", "tmpdir")),
                             PIP_TOOLS)
    by_name = {a.remedy.name: a.commands for a in attempts}
    assert [c.split()[0] for c in by_name["as-root"]] == ["sudo", "sudo"]
    assert all(c.startswith("TMPDIR=/home/user/pip-tmp ") for c in by_name["tmpdir"][-2:]), by_name["tmpdir"]


def test_an_older_release_goes_to_upgrade_package_as_a_specifier():
    (pinned,) = plan_attempts(Outcome.NOT_UPGRADED, facts(), Selection(Choice.NONE, ("newest-for-python",)),
                              PIP_TOOLS)
    assert pinned.upgrade[:3] == ("pip-compile", "--upgrade-package", "tensorflow==2.20.0")


def test_the_scenario_splits_the_upgrade_as_the_contract_does():
    source = resources.files("repromatrix").joinpath("templates/scenario.py").read_text()
    tree = ast.parse(source)
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade_steps")
    assert f'STEP = "{contract.UPGRADE_STEP}"' in source
    namespace: dict[str, object] = {"STEP": contract.UPGRADE_STEP}
    exec(compile(ast.Module([function], []), "scenario.py", "exec"), namespace)  # noqa: S102 - one function
    for line in (UPGRADE, "python3 -m pip install --upgrade tensorflow", "a && b && c", "x '&&'"):
        argv = shlex.split(line)
        assert namespace["upgrade_steps"](argv) == contract.upgrade_steps(argv), line


def test_the_local_index_serves_pip_tools_wheels_only_to_runs_that_use_it(write_matrix):
    from repromatrix.pipeline.trust import needs_of

    def wheels(installers: str) -> frozenset[str]:
        text = f"target: {{index: local}}\naxes: {{os: [bookworm], installer: {installers}}}\n"
        matrix = load_matrix(write_matrix(text))
        return needs_of(matrix, expand(matrix)).real_wheels

    # a real build 1.6.1 beside the placeholder example's model build 1.2.2.post1 would be taken instead
    assert "build==1.6.1" not in wheels("[pip, uv]") and "pip==26.3" in wheels("[uv]")
    assert {"pip-tools==7.7.0", "build==1.6.1", "pip==26.3"} <= wheels("[pip, pip-tools]")
