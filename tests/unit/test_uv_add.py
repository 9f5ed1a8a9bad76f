"""uv's project workflow as an installer (installers/uv_add.py): the commands it writes, the
install modes it refuses, and the names a reporter's lines give the project."""

from __future__ import annotations

import shlex

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.errors import MatrixError
from repromatrix.installers import INSTALLERS, installer
from repromatrix.plan.plan import RenderContext, plan_cell, requirement_names
from repromatrix.plan.render import render_dockerfile

UV_ADD = installer("uv-add")


def test_uv_add_is_registered_and_spells_what_a_project_user_types():
    assert INSTALLERS["uv-add"] is UV_ADD and UV_ADD.standalone == "uv" and not UV_ADD.reads_pip_config
    assert UV_ADD.prepare("/opt/venv", None, "tensorflow") == ("uv init --bare --no-workspace --name app /opt/app",)
    # the lock holds the prior version, pyproject.toml the lower bound `uv add` writes
    assert UV_ADD.install("uv", "tensorflow[and-cuda]==2.15.0", venv="/home/user/venv") == (
        "printf '%s\\n' tensorflow==2.15.0 > /home/user/app/.locked-at.txt && "
        "uv add --active --project /home/user/app -c /home/user/app/.locked-at.txt 'tensorflow[and-cuda]'")
    assert UV_ADD.install("uv", "numpy", venv="/opt/venv") == "uv add --active --project /opt/app numpy"
    assert UV_ADD.upgrade("uv", "tensorflow>=2.16", user=False, pre=True, venv="/opt/venv") == (
        "uv add --active --project /opt/app --prerelease allow --upgrade-package tensorflow 'tensorflow>=2.16'")
    assert UV_ADD.install_file("uv", "/e/requirements.txt", names=("tensorflow", "h5py"), venv="/opt/venv/") == (
        "uv add --active --project /opt/app -c /e/requirements.txt tensorflow h5py")


def test_a_reporters_lines_name_the_projects_dependencies_awkward_ones_too():
    lines = ("tensorflow==2.15.0", "TensorFlow[and-cuda,Foo]==2.15.0", "h5py==3.10.0 --hash=sha256:ab",
             "numpy>=1.26; python_version >= '3.9'", "--index-url https://127.0.0.1:9/simple/",
             "./local/wheel.whl", "pkg @ https://127.0.0.1:9/pkg-1.0-py3-none-any.whl", "# a comment", "",
             "h5py==3.10.0")
    # one name a distribution, however spelled, with every line's extras
    assert requirement_names(lines) == ("tensorflow[and-cuda,foo]", "h5py", "numpy", "pkg")


@pytest.mark.parametrize("install", ["system", "system-user", "user-flag"])
def test_a_project_has_its_own_environment_so_modes_without_one_are_refused(write_matrix, install):
    path = write_matrix(f"target: {{index: local}}\naxes: {{os: [bookworm], install: [{install}], "
                        "installer: [uv-add]}\n")
    with pytest.raises(MatrixError, match=rf"axes\.installer: uv-add adds to a project.*install: {install}"):
        expand(load_matrix(path))


def test_a_project_cells_dockerfile_makes_the_project_before_it_adds_to_it(write_matrix):
    path = write_matrix("target: {index: 'https://127.0.0.1:9/simple/'}\n"
                        "axes: {os: [bookworm], install: [root-venv-user], prior: ['2.15.0'], "
                        "installer: [uv-add], conflicts: [protobuf-cap]}\n")
    matrix = load_matrix(path)
    (cell,) = expand(matrix)
    ctx = RenderContext(target=matrix.target, index_url="https://127.0.0.1:9/simple/")
    plan = plan_cell(cell, ctx)
    assert [shlex.split(c.split("&&")[-1])[:2] for c in plan.setup_commands] == [
        ["uv", "init"], ["uv", "add"], ["uv", "add"]]
    text = render_dockerfile(plan, ctx)
    assert text.index("uv init --bare") < text.index("uv add --active --project /opt/app -c")
    assert "UV_INDEX_URL=" in text and "PIP_INDEX_URL" not in text
    # the user upgrades root's project
    assert plan.upgrade_command == "uv add --active --project /opt/app --upgrade-package tensorflow tensorflow"
