"""Reporters' environments on real containers (examples/environments.yaml, the local index): a
pip freeze with a companion that pins TensorFlow, a pip.conf whose setting changes what pip takes,
Debian's own numpy beside pip's, a step run without a shell, and a line that cannot be set up."""

from __future__ import annotations


def test_the_companions_pin_is_named_and_the_freezes_pin_is_the_prior_version(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-decision-forests"]
    assert (cell["outcome"], cell["before"], cell["after"]) == ("upgraded-inconsistent", "2.15.0", "2.21.0")
    assert ("tensorflow-decision-forests 1.8.1 requires tensorflow~=2.15.0, but you have tensorflow 2.21.0 "
            "which is incompatible.") in cell["evidence"]
    assert "the prior version 2.15.0 is the environment decision-forests's pin" in cell["notes"]
    # The freeze's -c include is read by the upgrade: keras stays below 3.11
    assert "keras-3.10.0" in environments_run.log(cell["id"])


def test_a_pip_conf_setting_changes_what_pip_takes(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-fresh-pre-config"]
    assert (cell["outcome"], cell["after"]) == ("upgraded", "2.22.0rc0")  # pre = true; else 2.21.0
    log = environments_run.log(cell["id"])
    # The step ran in the exec form, its words as written: pip lists the configuration it reads
    assert '"repromatrix-step", "python3", "-m", "pip", "config", "list"]' in log
    assert "global.pre='true'" in log


def test_debians_own_numpy_is_left_where_apt_put_it(environments_run):
    cell = environments_run.cells["bullseye-py3.9-system-fresh-debian-numpy"]
    assert cell["outcome"] == "upgraded"
    log = environments_run.log(cell["id"])
    assert "Not uninstalling numpy at /usr/lib/python3/dist-packages, outside environment /usr" in log


def test_a_line_that_cannot_be_set_up_is_named_where_it_was_written(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-fresh-unavailable"]
    assert cell["outcome"] == "setup-failed"
    assert any("No matching distribution found for keras==9.9.9" in line for line in cell["evidence"])
    assert cell["evidence"][-1].startswith("environment unavailable: keras==9.9.9 (environments.yaml:")


def test_what_the_upgrade_changed_beside_the_target_is_in_the_results(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-decision-forests"]
    changed = {c["name"].lower(): (c["change"], c["before"], c["after"], c["installer"]) for c in cell["changed"]}
    assert changed["tensorflow"] == ("upgraded", "2.15.0", "2.21.0", "pip")
    assert changed["keras"] == ("upgraded", "2.15.0", "3.10.0", "pip")  # the freeze's -c keeps it below 3.11
    assert "tensorflow-decision-forests" not in changed  # left as it was, now broken
    summary = (environments_run.dir / "summary.md").read_text()
    assert "### What the upgrade changed" in summary and "tensorflow 2.15.0 → 2.21.0" in summary


def test_the_reporters_own_check_says_the_upgrade_broke_the_companion(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-decision-forests-checked"]
    assert (cell["outcome"], cell["after"]) == ("check-failed", "2.21.0")
    first = cell["evidence"][0]
    said = ("check decision-forests-import as root exited 1 after the upgrade; it passed before it (the upgrade "
            "broke it): ImportError: /opt/venv/lib/python3.11/site-packages/tensorflow_decision_forests/tensorflow/"
            "ops/inference/inference.so: undefined symbol")
    assert first.startswith(said), first


def test_what_a_user_who_needs_the_companion_can_do_is_tried_for_real(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-decision-forests"]
    tried = {a["remedy"]: (a["fix"], a["outcome"], a["after"]) for a in cell["attempts"]}
    assert tried == {
        "remove-blockers": ("works", "upgraded", "2.21.0"),
        # The companion allows only 2.15.x, and no release of it allows more: 2.15.0 stays
        "what-blockers-allow": ("fails", "not-upgraded", "2.15.0"),
        "upgrade-blockers": ("fails", "not-upgraded", "2.15.0"),
        # Its op library loaded on 2.15.0: the newest 2.15 is what keeps it (here, 2.15.0 itself)
        "below-break": ("fails", "not-upgraded", "2.15.0"),
    }
    attempt = next(a for a in cell["attempts"] if a["remedy"] == "what-blockers-allow")
    assert attempt["commands"][-1] == "python3 -m pip install --upgrade 'tensorflow~=2.15.0'"


def test_a_library_around_the_target_that_no_longer_imports_is_named_though_pip_check_is_silent(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-eager-h5py"]
    assert (cell["outcome"], cell["before"], cell["after"]) == ("upgraded-inconsistent", "2.15.0", "2.21.0")
    assert cell["pip_check"]["exit_code"] == 0  # pip sees nothing wrong: h5py says numpy>=1.17.3
    changed = {c["name"].lower(): (c["before"], c["after"]) for c in cell["changed"]}
    assert changed["numpy"] == ("1.26.4", "2.3.5")  # the pip.conf's upgrade-strategy = eager
    assert cell["evidence"][0] == (
        "h5py 3.10.0: import h5py no longer imports after the upgrade (it did before); it requires numpy "
        "1.26.4 → 2.3.5: ImportError: numpy.core.multiarray failed to import")
    around = cell["around"]
    assert [b["name"] for b in around["broken"]] == ["h5py"] and around["imported"] >= 4
    tried = {a["remedy"]: (a["fix"], a["outcome"], a["after"]) for a in cell["attempts"]}
    assert tried["remove-blockers"] == ("works", "upgraded", "2.21.0")  # h5py is the blocker
    # The release series it worked on: the local index has no newer 2.15, so 2.15.0 stays
    assert tried["below-break"] == ("fails", "not-upgraded", "2.15.0")
    attempt = next(a for a in cell["attempts"] if a["remedy"] == "below-break")
    assert attempt["commands"][-1] == "python3 -m pip install --upgrade 'tensorflow<2.16'"
    summary = (environments_run.dir / "summary.md").read_text()
    assert "  - h5py 3.10.0\\: import h5py no longer imports after the upgrade" in summary


def test_the_companion_whose_pin_pip_names_no_longer_imports_either(environments_run):
    cell = environments_run.cells["bookworm-py3.11-venv-tf2.15.0-decision-forests"]
    said = [line for line in cell["evidence"] if line.startswith("tensorflow-decision-forests 1.8.1: import")]
    assert said and "no longer imports after the upgrade (it did before); it requires tensorflow 2.15.0 → " \
        "2.21.0" in said[0] and said[0].endswith("inference.so: undefined symbol: _ZN10tensorflow14kernel_factory1"
                                                 "7OpKernelRegistrar12InitInternal"), said
