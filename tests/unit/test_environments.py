"""A reporter's environment as data (matrix.yaml's environments:): real `pip freeze` and `pip
list` outputs (captured from a real venv of 57 packages, its checkout's path replaced), includes,
what cannot be reproduced refused with file:line, and what the plan and the Dockerfile make of
it. tests/integration/test_environments.py runs examples/environments.yaml on real containers."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from repromatrix.cell import contract
from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.config.requirements import read_file
from repromatrix.core.errors import MatrixError
from repromatrix.core.templating import docker_env_value
from repromatrix.plan.plan import local_index_context, plan_cell
from repromatrix.plan.render import render_cell
from tests.conftest import DATA

FREEZE = DATA / "freeze"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def matrix(folder: Path, environments: str, axes: str = "conflicts: [env]") -> Path:
    body = f"target: {{index: local}}\nenvironments:\n{textwrap.indent(textwrap.dedent(environments), '  ')}"
    return write(folder, "matrix.yaml", body + f"\naxes: {{{axes}}}\n")


def refused(path: Path) -> MatrixError:
    with pytest.raises(MatrixError) as caught:
        load_matrix(path)
    return caught.value


def test_a_real_pip_freeze_is_read_line_by_line_and_its_editable_checkout_refused(tmp_path):
    (tmp_path / "freeze.txt").write_bytes((FREEZE / "pip-freeze.txt").read_bytes())
    error = refused(matrix(tmp_path, "env: {requirements: freeze.txt}"))
    assert (error.path, error.line) == (str(tmp_path / "freeze.txt"), 46)
    assert "editable install" in error.problem and "NAME==VERSION" in error.hint
    lines = (FREEZE / "pip-freeze.txt").read_text().splitlines()
    (tmp_path / "freeze.txt").write_text("\n".join(line for line in lines if not line.startswith("-e")))
    read = read_file(tmp_path / "freeze.txt", tmp_path, "environments.env.requirements")
    assert len(read.requirements) == 55 and read.requirements[0].where.endswith("freeze.txt:1")
    assert all(line.pinned for line in read.requirements)  # its "# Editable install ..." comment is one


def test_pip_lists_table_is_a_freeze_and_its_editable_row_is_refused(tmp_path):
    (tmp_path / "list.txt").write_bytes((FREEZE / "pip-list.txt").read_bytes())
    error = refused(matrix(tmp_path, "env: {requirements: list.txt}"))
    assert error.line == 48 and "editable install" in error.problem
    lines = (FREEZE / "pip-list.txt").read_text().splitlines()
    (tmp_path / "list.txt").write_text("\n".join(line for line in lines if "reporter" not in line))
    read = read_file(tmp_path / "list.txt", tmp_path, "k")
    names = [line.name for line in read.requirements]
    # 58 rows: the editable one removed, and pip is the pip axis's
    assert "pip" not in names and "packaging" in names and len(names) == 56
    assert any("pip==" in why and "pip axis" in why for why in read.dropped)


@pytest.mark.parametrize("line, problem", [
    ("numpy @ file:///home/conda/feedstock_root/build_artifacts/numpy_1707225342954/work", "a file on the reporter"),
    ("mylib @ git+https://127.0.0.1:9/mylib.git@v1", "version control (git)"),
    ("wheel @ https://127.0.0.1:9/wheel-0.43.0-py3-none-any.whl", "a direct URL"),
    ("--index-url https://127.0.0.1:9/simple", "chooses another index"),
    ("--extra-index-url=https://127.0.0.1:9/simple", "chooses another index"),
    ("numpy===", "is not a requirement"),
    ("--no-such-option", "option --no-such-option is not supported"),
])
def test_what_no_container_can_reproduce_is_refused_with_its_line(tmp_path, line, problem):
    write(tmp_path, "freeze.txt", f"# header\nabsl-py==2.1.0\n{line}\n")
    error = refused(matrix(tmp_path, "env: {requirements: freeze.txt}"))
    assert error.line == 3 and problem in error.problem, error


def test_includes_are_read_relative_to_their_file_and_never_outside_the_matrix_folder(tmp_path):
    write(tmp_path, "env/freeze.txt", "-r more/base.txt\n-c pins.txt\nscipy==1.11.4 \\\n  --hash=sha256:ab\n")
    write(tmp_path, "env/more/base.txt", "numpy==1.26.4 ; python_version < '3.13'  # a comment\n")
    write(tmp_path, "env/pins.txt", "protobuf<5\n")
    loaded = load_matrix(matrix(tmp_path, "env: {requirements: env/freeze.txt}"))
    env = loaded.environment_map["env"]
    assert env.requirements == ('numpy==1.26.4; python_version < "3.13"', "scipy==1.11.4 --hash=sha256:ab")
    assert env.constraints == ("protobuf<5",)
    write(tmp_path / "inner", "freeze.txt", "-r ../../outside.txt\n")
    write(tmp_path.parent, "outside.txt", "numpy==1.26.4\n")
    error = refused(matrix(tmp_path / "inner", "env: {requirements: freeze.txt}"))
    assert "outside the matrix's folder" in error.problem
    write(tmp_path, "loop.txt", "-r loop.txt\n")
    assert "nest more than" in refused(matrix(tmp_path, "env: {requirements: loop.txt}")).problem


def test_the_targets_pin_is_the_prior_version_and_a_contradicting_prior_is_refused(tmp_path):
    write(tmp_path, "freeze.txt", "tensorflow==2.15.0\ntensorflow-decision-forests==1.8.1\n")
    path = matrix(tmp_path, "env: {requirements: freeze.txt}")
    cells = expand(load_matrix(path))
    assert [c.id for c in cells] == ["bookworm-py3.11-venv-tf2.15.0-env"]
    same = matrix(tmp_path, "env: {requirements: freeze.txt}", 'conflicts: [env], prior: ["2.15"]')
    assert [c.axes["prior"] for c in expand(load_matrix(same))] == ["2.15"]  # the same release
    path = matrix(tmp_path, "env: {requirements: freeze.txt}", 'conflicts: [env], prior: ["2.16.1"]')
    with pytest.raises(MatrixError, match="pins the target at 2.15.0"):
        expand(load_matrix(path))
    write(tmp_path, "twice.txt", "tensorflow==2.15.0\ntensorflow>=2.14\n")
    assert "pin it once" in refused(matrix(tmp_path, "env: {requirements: twice.txt}")).hint


@pytest.mark.parametrize("environment, problem", [
    ("numpy-cap: {requirements: [numpy==1.26.4]}", "is a built-in environment"),
    ("Bad/Name: {requirements: [numpy==1.26.4]}", "is not an environment name"),
    ("env: {env: {PIP_INDEX_URL: 'https://127.0.0.1:9/simple'}}", "set by repromatrix from the matrix's axes"),
    ("env: {env: {https_proxy: 'http://127.0.0.1:3128'}}", "set by repromatrix from the matrix's axes"),
    ("env: {env: {HF_TOKEN: hf_abc}}", "looks like a credential"),
    ("env: {env: {EXTRA: 'https://u:secret@127.0.0.1:9/x'}}", "looks like a credential"),
    ("env: {pip_config: \"[global]\\nindex-url = https://127.0.0.1:9/simple\\n\"}", "decided by target.index"),
    ("env: {pip_config: \"[global]\\ntimeout = 60\\nnot a line\\n\"}", "is not a pip configuration file"),
    ("env: {apt: ['python3-numpy; rm -rf /']}", "is not a Debian package name"),
    ("env: {steps: ['pip --version']}", "a list of words"),
    ("env: {requirements: '../outside.txt'}", "outside the matrix's folder"),
    ("env: {requirement: [numpy==1.26.4]}", "unknown key 'requirement'"),
])
def test_bad_environments_are_named_with_their_key(tmp_path, environment, problem):
    write(tmp_path.parent, "outside.txt", "numpy==1.26.4\n")
    error = refused(matrix(tmp_path, environment))
    assert problem in error.problem, error
    assert error.line is not None and str(error).startswith(str(tmp_path))


def test_an_axis_value_that_is_neither_a_preset_nor_defined_names_both(tmp_path):
    error = refused(matrix(tmp_path, "env: {apt: [python3-numpy]}", "conflicts: [envv]"))
    assert "unknown value 'envv'" in error.problem and "the matrix defines: env" in error.problem


def test_the_environment_reaches_the_image_as_data(tmp_path):
    write(tmp_path, "freeze.txt", "tensorflow==2.15.0\nscipy==1.11.4\npip==24.0\n")
    path = matrix(tmp_path, """\
        env:
          requirements: freeze.txt
          constraints: [protobuf<5]
          env: {TF_USE_LEGACY_KERAS: "1", ODD: "$HOME; `id` 'q' \\"d\\""}
          pip_config: "[global]\\npre = true\\n"
          apt: [python3-numpy]
          steps: [[python3, -c, "import os; print('$HOME' + os.sep)"]]
        """, "conflicts: [env], install: [system]")
    loaded = load_matrix(path)
    cell = expand(loaded)[0]
    ctx = local_index_context(loaded.target, None, b"")

    ctx = replace(ctx, environments=loaded.environments)
    plan = plan_cell(cell, ctx)
    out = render_cell(plan, ctx, tmp_path / "out")
    assert (out / "environment/requirements.txt").read_text() == "tensorflow==2.15.0\nscipy==1.11.4\n"
    assert (out / "environment/pip.conf").read_text() == "[global]\npre = true\n"
    dockerfile = (out / "Dockerfile").read_text()
    setup = dockerfile.split("FROM setup")[0]
    install = "RUN : repromatrix-setup && PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install -r "
    assert install + f"{contract.ENVIRONMENT_DIR}/requirements.txt" in setup
    assert "COPY environment/pip.conf /etc/pip.conf" in setup
    assert "apt-get install -y --no-install-recommends python3-numpy" in setup
    step = next(line for line in setup.splitlines() if line.startswith('RUN ["/bin/sh"'))
    assert json.loads(step[4:])[4:] == ["python3", "-c", "import os; print('$HOME' + os.sep)"]
    assert contract.is_setup_step(step)
    # Single-quoted, where Docker expands nothing (templating.docker_env_value)
    assert "ENV ODD=" + docker_env_value("$HOME; `id` 'q' \"d\"") in setup
    assert "the prior version 2.15.0 is the environment env's pin" in plan.notes
    dropped = "left out of environment env: freeze.txt:3: pip==24.0: the installer's version is the pip axis's"
    assert dropped in plan.notes


def test_an_environments_checks_run_beside_the_matrixs_and_share_no_name(tmp_path):
    body = """\
        target: {index: local}
        checks: [{name: dense, python: "import keras"}]
        environments:
          env: {checks: [{name: io, python: "import tensorflow_io"}]}
        axes: {conflicts: [env, none]}
        """
    loaded = load_matrix(write(tmp_path, "matrix.yaml", body))
    ctx = replace(local_index_context(loaded.target, None, b"", loaded.checks), environments=loaded.environments)
    plans = {c.axes["conflicts"]: plan_cell(c, ctx) for c in expand(loaded)}
    assert [c.name for c in plans["env"].checks] == ["dense", "io"]
    assert [c.name for c in plans["none"].checks] == ["dense"]
    clash = write(tmp_path, "matrix.yaml", body.replace("name: io", "name: dense"))
    error = refused(clash)
    assert error.key == "environments.env.checks[0].name" and "also one of the matrix's checks" in error.problem


def test_a_line_the_installer_names_in_any_spelling_is_found_where_it_was_written(tmp_path):
    write(tmp_path, "freeze.txt", "Tensorflow_Decision.Forests==1.8.1\nnumpy==1.26.4\nnumpy-financial==1.0.0\n")
    env = load_matrix(matrix(tmp_path, "env: {requirements: freeze.txt}")).environment_map["env"]
    said = "ERROR: No matching distribution found for tensorflow-decision-forests==1.8.1"
    assert env.written_at(said) == ("Tensorflow_Decision.Forests==1.8.1 (freeze.txt:1)",)  # as written
    # numpy is not named by a line about numpy-financial
    assert env.written_at("No matching distribution found for numpy-financial==1.0.0") == (
        "numpy-financial==1.0.0 (freeze.txt:3)",)


def test_a_real_freeze_with_a_local_wheel_is_refused_at_its_line(tmp_path):
    # pip 23.0.1's `pip freeze` in a container venv with a hand-made wheel installed from a file, a
    # local directory (installed by setup.py, so pinned) and an editable checkout with an extra
    (tmp_path / "freeze.txt").write_bytes((FREEZE / "pip-freeze-file-url.txt").read_bytes())
    error = refused(matrix(tmp_path, "env: {requirements: freeze.txt}"))
    assert error.line == 3 and "editable install" in error.problem
    lines = (FREEZE / "pip-freeze-file-url.txt").read_text().splitlines()
    (tmp_path / "freeze.txt").write_text("\n".join(line for line in lines if not line.startswith("-e")))
    error = refused(matrix(tmp_path, "env: {requirements: freeze.txt}"))
    assert error.line == 3 and "wheelmod @ file:///wheels/wheelmod-2.0-py3-none-any.whl is a file on the " \
        "reporter's machine" in error.problem and "NAME==VERSION" in error.hint


def test_a_real_pip_compile_output_keeps_extras_markers_and_hashes_line_by_line(tmp_path):
    # pip-compile --generate-hashes of `requests[socks]==2.32.3` and a marked absl-py, as pip-tools
    # wrote it (its --find-links line, from this machine's configuration, removed; 3 of
    # charset-normalizer's hashes kept)
    (tmp_path / "requirements.txt").write_bytes((FREEZE / "pip-compile-hashes.txt").read_bytes())
    read = read_file(tmp_path / "requirements.txt", tmp_path, "environments.env.requirements")
    found = {line.name: line for line in read.requirements}
    assert list(found) == ["absl-py", "certifi", "charset-normalizer", "idna", "pysocks", "requests", "urllib3"]
    assert found["requests"].text.startswith("requests[socks]==2.32.3 --hash=sha256:")
    assert found["requests"].pinned == "2.32.3" and found["requests"].where == "requirements.txt:29"
    assert found["absl-py"].text.startswith('absl-py==2.1.0; python_version >= "3.8" --hash=sha256:526a04')
    assert found["absl-py"].text.count("--hash=sha256:") == 2  # the continuation lines joined, as pip reads them
    assert found["charset-normalizer"].text.count("--hash=") == 3
    assert "via" not in " ".join(line.text for line in read.requirements)  # the `# via` comments are comments
    loaded = load_matrix(matrix(tmp_path, "env: {requirements: requirements.txt}"))
    assert "requests[socks]==2.32.3 --hash=sha256:" in "\n".join(loaded.environment_map["env"].requirements)


def test_hashes_from_the_reporters_index_are_said_to_fail_against_the_local_index_before_the_run(tmp_path):
    (tmp_path / "requirements.txt").write_bytes((FREEZE / "pip-compile-hashes.txt").read_bytes())
    loaded = load_matrix(matrix(tmp_path, "env: {requirements: requirements.txt}"))
    cell = expand(loaded)[0]
    local = replace(local_index_context(loaded.target, None, b""), environments=loaded.environments)
    said = [n for n in plan_cell(cell, local).notes if "--hash" in n]
    assert said == ["environment env's lines with --hash (requirements.txt:8, requirements.txt:12, requirements.txt:"
                    "15, ...) name the reporter's index's files; the local index serves other files, so pip's hash "
                    "check fails the setup: drop the hashes, or run against the index they came from"]
    public = replace(local, local=False)
    assert not [n for n in plan_cell(cell, public).notes if "--hash" in n]


def test_an_environments_pip_configuration_under_uv_is_said_to_change_nothing(tmp_path):
    env = 'env: {pip_config: "[global]\\npre = true\\n", env: {PIP_PRE: "1", TF_USE_LEGACY_KERAS: "1"}}'
    loaded = load_matrix(matrix(tmp_path, env, "conflicts: [env], installer: [pip, uv]"))
    ctx = replace(local_index_context(loaded.target, None, b""), environments=loaded.environments)
    notes = {cell.axes["installer"]: [n for n in plan_cell(cell, ctx).notes if "pip's configuration" in n]
             for cell in expand(loaded)}
    assert notes["pip"] == []
    assert notes["uv"] == ["environment env's pip_config, env PIP_PRE: pip's configuration, which uv does not read "
                           "(neither pip.conf nor PIP_* variables), so it changes nothing here, as for a user who "
                           "switched and kept it"]
