"""Remedies as data (remedies.py): which apply, exactly what they run, how attempts are judged.

Pure logic; the attempts themselves run on real containers in tests/integration/test_causes.py.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from repromatrix.cell.contract import Record
from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.model import Choice, Selection
from repromatrix.core.outcomes import Outcome
from repromatrix.core.result import Fix
from repromatrix.installers import INSTALLERS, REMEDY_NAMES, installer, parse_selection
from repromatrix.judge.classify import classify
from repromatrix.judge.remedies import (
    Facts,
    Resource,
    blockers,
    facts_for,
    judge,
    plan_attempts,
    recommended,
)
from repromatrix.plan.plan import RenderContext, plan_cell
from tests.support import observe

AUTO = Selection(Choice.AUTO)
PIP = installer("pip")
CATALOGUE = PIP.remedies
EVERYTHING = frozenset(Resource)


def facts(**changes: object) -> Facts:
    base = Facts(package="tensorflow", requirement="tensorflow", upgrade=("python3", "-m", "pip", "install",
                 "--upgrade", "tensorflow"), upgrader="root", home="/root", version="25.1.1", index_host="idx.example",
                 trusted_host_args=("--trusted-host", "idx.example"),
                 proxy="http://repromatrix-proxy:3128", has_proxy=True, resources=EVERYTHING)
    return Facts(**(base.__dict__ | changes))  # type: ignore[arg-type]


def names(outcome: Outcome, f: Facts, selection: Selection = AUTO) -> list[str]:
    return [a.remedy.name for a in plan_attempts(outcome, f, selection, PIP)]


def test_every_outcome_that_can_be_fixed_has_a_remedy_and_the_order_is_the_catalogues():
    # resolved: a platform no container here runs, where no remedy can be tried; needs-install:
    # nothing has failed yet
    fixable = {o for o in Outcome if o.value not in ("upgraded", "infra-error", "interrupted", "setup-failed",
                                                     "check-failed", "resolved", "no-such-project",
                                                     "needs-install")}
    # Across the installers (uv's user-unsupported is uv's alone), and each installer's own rules
    covered = {o for by in INSTALLERS.values() for r in by.remedies for o in r.fixes}
    assert fixable - covered == set()
    # pip-tools says in pip's words what no one command of it fixes: a tombstone in requirements.in
    # (the line is changed by hand) and a library pip cannot uninstall (pip-sync takes no pip option)
    unfixable = {"pip-tools": {Outcome.REMOVED_PACKAGE, Outcome.CANNOT_UNINSTALL}}
    for by in INSTALLERS.values():
        assert {rule.outcome for rule in by.rules} - {o for r in by.remedies for o in r.fixes} - {
            Outcome.INFRA_ERROR, Outcome.SETUP_FAILED} == unfixable.get(by.name, set()), by.name
    order = [r.name for r in CATALOGUE]
    for outcome in fixable & {o for r in CATALOGUE for o in r.fixes}:  # pip's, in its order
        got = names(outcome, facts(user_flag=False, upgrader="user", home="/home/user", constraint=True,
                                   blockers=("scipy",), newest_for_python="tensorflow==2.20.0"))
        assert got == sorted(got, key=order.index) and got, outcome


@pytest.mark.parametrize("outcome", [Outcome.UPGRADED, Outcome.INFRA_ERROR, Outcome.INTERRUPTED,
                                     Outcome.SETUP_FAILED, Outcome.NEEDS_INSTALL])
def test_nothing_is_tried_on_cells_that_worked_or_never_ran(outcome):
    assert names(outcome, facts()) == []


def test_none_tries_nothing_and_names_try_only_those_even_beyond_their_causes():
    assert names(Outcome.SSL_ERROR, facts(), Selection()) == []
    chosen = Selection(Choice.NONE, ("venv", "trust-ca"))
    assert names(Outcome.SSL_ERROR, facts(), chosen) == ["trust-ca", "venv"]


def test_a_remedy_needs_its_pip_its_resources_and_its_facts():
    assert "resume-retries" not in names(Outcome.NETWORK_ERROR, facts(version="23.0.1"))
    assert "resume-retries" in names(Outcome.NETWORK_ERROR, facts(version="25.1"))
    assert "break-system-packages" not in names(Outcome.EXTERNALLY_MANAGED, facts(version="22.3"))
    assert "trust-ca" not in names(Outcome.SSL_ERROR, facts(resources=frozenset()))
    assert "use-proxy" not in names(Outcome.PROXY_ERROR, facts(resources=frozenset({Resource.CA})))
    assert "drop-constraint" not in names(Outcome.RESOLUTION_IMPOSSIBLE, facts())
    assert "drop-constraint" in names(Outcome.RESOLUTION_IMPOSSIBLE, facts(constraint=True))
    assert "as-root" not in names(Outcome.PERMISSION_DENIED, facts())  # root already
    assert "user" not in names(Outcome.PERMISSION_DENIED, facts(user_flag=True))  # --user already


def test_commands_are_argv_quoted_for_a_shell_and_round_trip():
    # An awkward requirement: extras, a specifier, a marker with quotes and spaces; a library name
    # from pip check; a venv in a user's home.
    requirement = 'tensorflow[and-cuda]>=2.16; python_version >= "3.9"'
    f = facts(requirement=requirement, upgrade=("python3", "-m", "pip", "install", "--upgrade", requirement),
              upgrader="user", home="/home/user", blockers=("googleapis-common-protos", "scipy"),
              newest_for_python='tensorflow[and-cuda]==2.20.0; python_version >= "3.9"')
    blockers_plan = next(a for a in plan_attempts(Outcome.UPGRADED_INCONSISTENT, f, AUTO, PIP)
                         if a.remedy.name == "upgrade-blockers")
    assert blockers_plan.upgrade[-3:] == (requirement, "googleapis-common-protos", "scipy")
    assert shlex.split(blockers_plan.commands[-1]) == list(blockers_plan.upgrade)
    venv = next(a for a in plan_attempts(Outcome.PERMISSION_DENIED, f, AUTO, PIP) if a.remedy.name == "venv")
    assert venv.steps[0].argv == ("python3", "-m", "venv", "/home/user/fix-venv")
    assert venv.container_env()["REPROMATRIX_PATH"] == "/home/user/fix-venv/bin"
    assert venv.container_env()["REPROMATRIX_USER"] == "user"
    root = next(a for a in plan_attempts(Outcome.PERMISSION_DENIED, f, AUTO, PIP) if a.remedy.name == "as-root")
    assert root.upgrader == "root" and root.commands[-1].startswith("sudo ")
    assert root.container_env()["REPROMATRIX_USER"] == ""
    pinned = next(a for a in plan_attempts(Outcome.NO_MATCHING_DISTRIBUTION, f, AUTO, PIP)
                  if a.remedy.name == "newest-for-python")
    assert requirement not in pinned.upgrade and pinned.upgrade[-1].startswith("tensorflow[and-cuda]==2.20.0")
    assert shlex.split(pinned.container_env()["REPROMATRIX_UPGRADE"]) == list(pinned.upgrade)


def test_the_proxy_credentials_are_shown_as_placeholders_and_never_as_values():
    f = facts(proxy_with_credentials="http://<user>:<password>@repromatrix-proxy:3129")
    plan = plan_attempts(Outcome.PROXY_AUTH_REQUIRED, f, AUTO, PIP)[0]
    assert plan.remedy.name == "proxy-credentials" and Resource.PROXY_CREDENTIALS in plan.needs
    assert plan.commands[-1].startswith("HTTP_PROXY='http://<user>:<password>@repromatrix-proxy:3129' ")
    assert "HTTP_PROXY" not in plan.container_env()  # the runner mounts the secret file instead


def test_facts_come_from_the_plan_the_record_and_pip_check(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("target: {package: 'tensorflow[and-cuda]'}\naxes: {os: [bookworm], install: [user-flag], "
                    "network: [proxy-auth], conflicts: [protobuf-cap]}\n")
    matrix = load_matrix(path)
    plan = plan_cell(expand(matrix)[0], RenderContext(target=matrix.target))
    data = {"package": "tensorflow", "python": "3.11.2", "before": "2.15.0",
            "pip": "pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)",
            "pip_check": {"exit_code": 1, "output": CAPTURED_PIP_CHECK}}
    record = Record.from_json(data)
    f = facts_for(plan, record, "2.21.0", "https://idx.example/simple/", EVERYTHING)
    assert (f.upgrader, f.home, f.version, f.user_flag, f.index_host) == ("user", "/home/user", "23.0.1", True,
                                                                      "idx.example")
    assert f.requirement == "tensorflow[and-cuda]" and f.newest_for_python == "tensorflow[and-cuda]==2.21.0"
    assert f.proxy_with_credentials == "http://<user>:<password>@repromatrix-proxy:3129"
    assert f.blockers == ("googleapis-common-protos",)
    # PyPI's files come from another host than its pages: --trusted-host must name both.
    pypi = facts_for(plan, record, None, "https://idx.example/simple/", EVERYTHING, "", {"files.example"})
    assert pypi.trusted_host_args == ("--trusted-host", "idx.example", "--trusted-host", "files.example")
    skip = plan_attempts(Outcome.SSL_ERROR, pypi, Selection(Choice.NONE, ("trusted-host",)), PIP)[0]
    assert skip.upgrade[4:8] == ("--trusted-host", "idx.example", "--trusted-host", "files.example")
    # The newest for this Python is what is installed already: pinning it is no remedy.
    installed = Record.from_json(data | {"before": "2.21.0"})
    assert facts_for(plan, installed, "2.21.0", "", EVERYTHING).newest_for_python == ""


# Captured from a real cell (bookworm, pip 23.0.1, conflicts: protobuf-cap) after the upgrade.
CAPTURED_PIP_CHECK = ("googleapis-common-protos 1.63.0 has requirement protobuf!=3.20.0,!=3.20.1,!=4.21.1,"
                      "!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0.dev0,>=3.19.5, but you have protobuf 6.33.1.\n")


def test_blockers_are_read_from_pip_check_in_both_spellings_and_never_name_the_target():
    newer = "scipy 1.11.4 requires numpy<1.28.0,>=1.21.6, but you have numpy 2.3.5.\n"
    target = "tensorflow 2.21.0 requires protobuf>=6.31.1, but you have protobuf 3.19.6.\n"
    assert blockers(CAPTURED_PIP_CHECK + newer + target, ["scipy==1.11.4", "tf-keras>=2.15"], "tensorflow", PIP) == (
        "googleapis-common-protos", "scipy", "tf-keras")
    assert blockers("No broken requirements found.\n", [], "tensorflow", PIP) == ()


@pytest.mark.parametrize(("outcome", "fix"), [
    (Outcome.UPGRADED, Fix.WORKS), (Outcome.UPGRADED_INCONSISTENT, Fix.SIDE_EFFECTS),
    (Outcome.SPLIT_INSTALL, Fix.SIDE_EFFECTS), (Outcome.CHECK_FAILED, Fix.FAILS), (Outcome.SSL_ERROR, Fix.FAILS),
    (Outcome.INFRA_ERROR, Fix.NOT_TRIED), (Outcome.INTERRUPTED, Fix.NOT_TRIED)])
def test_judge(outcome, fix):
    assert judge(outcome) is fix


def test_the_recommended_fix_reaches_the_highest_version_then_follows_the_catalogue():
    attempts = [("upgrade-blockers", Fix.WORKS, "2.19.0"), ("venv", Fix.WORKS, "2.21.0"),
                ("force-reinstall", Fix.WORKS, "2.21.0"), ("upgrade-pip", Fix.SIDE_EFFECTS, "2.21.0")]
    assert recommended(attempts, PIP) == "venv"
    assert recommended([("purge-cache", Fix.WORKS, "2.21.0"), ("retry", Fix.WORKS, "2.21.0")], PIP) == "retry"
    assert recommended([("user", Fix.SIDE_EFFECTS, "2.21.0"), ("venv", Fix.FAILS, None)], PIP) is None


def test_selection_parsing():
    assert parse_selection("auto")[0] == Selection(Choice.AUTO)
    assert parse_selection(" venv , trust-ca,venv")[0] == Selection(Choice.NONE, ("venv", "trust-ca"))
    assert parse_selection("venvv") == (None, "unknown remedy 'venvv'")
    assert parse_selection([])[0] is None
    assert set(REMEDY_NAMES) == {r.name for by in INSTALLERS.values() for r in by.remedies}


def test_a_failed_remedy_step_is_classified_in_pips_words():
    # upgrade-certifi on a cell without the index's CA: its own step fails, the upgrade never runs.
    output = ("WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after "
              "connection broken by 'SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
              "certificate verify failed: self-signed certificate in certificate chain (_ssl.c:992)'))': "
              "/simple/certifi/\nERROR: No matching distribution found for certifi\n")
    record = {"package": "tensorflow", "python": "3.11.2", "before": None, "pip": "pip 23.0.1",
              "before_failed": True,
              "before_steps": [{"user": "root", "argv": ["python3", "-m", "pip", "install", "--upgrade", "certifi"],
                                "exit_code": 1, "output": output}]}
    verdict = classify(observe(record))
    assert verdict.outcome is Outcome.SSL_ERROR
    assert verdict.evidence[0] == ("the step `python3 -m pip install --upgrade certifi` exited 1; the upgrade did "
                                   "not run")
    assert any("CERTIFICATE_VERIFY_FAILED" in line for line in verdict.evidence)


@pytest.mark.parametrize(("evidence", "tried"), [
    # Captured: a refused proxy and a failed lookup, which pip already retried five times.
    ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'ProxyError('Cannot connect to proxy.', NewConnectionError('<pip._vendor.urllib3.connection."
     "HTTPSConnection object at 0x7f4e6383dc10>: Failed to establish a new connection: [Errno 111] Connection "
     "refused'))': /simple/tensorflow/", False),
    ("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection "
     "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f7fc18c2510>: "
     "Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/tensorflow/",
     False),
    # Captured: a body cut short (pip 25.1; pip 23.0 hashes what arrived).
    ("× Download failed because not enough bytes were received (1.0 MB/1.6 MB)", True),
    ("the file was downloaded just now, not taken from pip's cache: the transfer was cut short or altered on the way",
     True),
])
def test_retrying_is_tried_only_for_what_pip_did_not_retry_already(evidence, tried):
    assert ("retry" in names(Outcome.NETWORK_ERROR, facts(evidence=evidence))) is tried


def _run_with_attempts(tmp_path: Path):  # noqa: ANN202
    from repromatrix.core.result import AttemptResult, CellResult, RunResult

    venv = {"remedy": "venv", "title": "use a virtual environment", "commands": ["python3 -m venv /root/fix-venv",
            'export PATH=/root/fix-venv/bin:"$PATH"',
            "python3 -m pip install --upgrade tensorflow"], "identity": "root", "warning": "starts empty",
            "outcome": "upgraded", "evidence": ["Successfully installed tensorflow-2.21.0"], "fix": "works",
            "pip_check_exit_code": 0, "after": "2.21.0", "log": "cells/c/remedies/venv.log", "seconds": 4.0}
    user = venv | {"remedy": "user", "title": "install with --user", "outcome": "externally-managed",
                   "fix": "fails", "evidence": ["error: externally-managed-environment"], "after": None}
    cell = CellResult(id="c", axes={"os": "bookworm"}, outcome="externally-managed",
                      evidence=["error: externally-managed-environment"],
                      attempts=[AttemptResult.from_json(venv), AttemptResult.from_json(user)], fix="venv")
    lost = CellResult(id="d", axes={"os": "bookworm"}, outcome="ssl-error", evidence=["CERTIFICATE_VERIFY_FAILED"],
                      attempts=[AttemptResult.from_json(user | {"remedy": "trust-ca", "outcome": "ssl-error"})])
    return RunResult(run_id="r", matrix="m.yaml", target={"package": "tensorflow", "version": "", "index": "local"},
                     started="now", cells=[cell, lost])


def test_junit_and_summary_name_the_fix_to_type(tmp_path):
    from repromatrix.results.formats import render_junit, render_markdown
    from repromatrix.results.report import render_html

    run = _run_with_attempts(tmp_path)
    junit = render_junit(run, tmp_path)
    assert ('message="externally-managed: error: externally-managed-environment; fixed by venv: python3 -m venv '
            '/root/fix-venv &amp;&amp; export PATH=/root/fix-venv/bin:&quot;$PATH&quot;') in junit
    assert "ssl-error: CERTIFICATE_VERIFY_FAILED; none of the 1 remedies tried works cleanly" in junit
    summary = render_markdown(run, tmp_path)
    assert "### What fixes it" in summary and "- `c`: **venv**: `python3 -m venv /root/fix-venv && export" in summary
    assert "- `d`: no remedy works cleanly (tried: trust-ca fails)" in summary
    html = render_html(run, tmp_path)
    assert '"fix":"venv"' in html and "f-works" in html  # the panel's data and the fix colours


def test_an_attached_run_with_a_bad_attempt_is_refused_naming_the_field(tmp_path):
    import json

    from repromatrix.core.errors import UsageError
    from repromatrix.results.results import load_run

    data = _run_with_attempts(tmp_path).to_json()
    data["cells"][0]["attempts"][0]["fix"] = "<script>"
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"cells\[0\]\.attempts"):
        load_run(tmp_path)


def attempt_for(name: str, outcome: Outcome, f: Facts):
    return next(a for a in plan_attempts(outcome, f, AUTO, PIP) if a.remedy.name == name)


@pytest.mark.parametrize("evidence, named", [
    ('Please install "tensorflow" instead.', "tensorflow"),
    ("The 'sklearn' PyPI package is deprecated, use 'scikit-learn' rather than 'sklearn' for pip commands.",
     "scikit-learn"),
    ("please install `torch-cpu` instead", "torch-cpu"),
    ("ERROR: No matching distribution found for tensorflow-gpu", ""),
])
def test_a_removed_package_names_its_replacement(evidence, named):
    from repromatrix.judge.remedies import replacement
    assert replacement(evidence) == named


def test_the_replacement_is_installed_instead_and_judged_on_its_own_name():
    f = facts(package="tensorflow-gpu", requirement="tensorflow-gpu[and-cuda]",
              upgrade=("python3", "-m", "pip", "install", "--upgrade", "tensorflow-gpu[and-cuda]"),
              replacement="tensorflow")
    use = attempt_for("use-replacement", Outcome.REMOVED_PACKAGE, f)
    assert use.upgrade == ("python3", "-m", "pip", "install", "--upgrade", "tensorflow")
    assert use.container_env()["REPROMATRIX_PACKAGE"] == "tensorflow"
    swap = attempt_for("replace-package", Outcome.REMOVED_PACKAGE, f)
    assert swap.commands == ("python3 -m pip uninstall -y tensorflow-gpu",
                             "python3 -m pip install --upgrade tensorflow")
    assert "use-replacement" not in names(Outcome.REMOVED_PACKAGE, facts())  # nothing named: nothing to try
    assert "REPROMATRIX_PACKAGE" not in attempt_for("upgrade-pip", Outcome.REMOVED_PACKAGE, f).container_env()


def test_pip_on_path_becomes_python3_dash_m_pip_and_ensurepip_comes_first():
    f = facts(upgrade=("pip", "install", "--upgrade", "tensorflow"), version="")
    assert attempt_for("python-m-pip", Outcome.WRONG_INTERPRETER, f).commands == (
        "python3 -m pip install --upgrade tensorflow",)
    assert attempt_for("ensurepip", Outcome.WRONG_INTERPRETER, f).commands == (
        "python3 -m ensurepip --upgrade", "python3 -m pip install --upgrade tensorflow")
    # the new venv's own pip is the one on PATH there
    assert attempt_for("venv", Outcome.WRONG_INTERPRETER, f).upgrade == ("pip", "install", "--upgrade", "tensorflow")


def test_the_sharers_are_uninstalled_first_each_as_one_argument():
    f = facts(sharers=("tensorflow-gpu", "tf-nightly"))
    fix = attempt_for("uninstall-sharers", Outcome.SHARED_DIRECTORY, f)
    assert fix.steps[0].argv == ("python3", "-m", "pip", "uninstall", "-y", "tensorflow-gpu", "tf-nightly")
    assert "uninstall-sharers" not in names(Outcome.SHARED_DIRECTORY, facts())


def test_more_memory_lifts_the_limit_the_others_keep_the_cells():
    from repromatrix.core.axes import RESOURCE_LIMITS
    small = RESOURCE_LIMITS["small-memory"]
    more = attempt_for("more-memory", Outcome.OUT_OF_MEMORY, facts())
    assert more.limits(small).memory == "" and more.commands[0].startswith("# on a machine")
    assert attempt_for("no-cache-dir", Outcome.OUT_OF_MEMORY, facts()).limits(small) is small


@pytest.mark.parametrize("outcome, fix", [(Outcome.SHARED_DIRECTORY, Fix.SIDE_EFFECTS),
                                          (Outcome.HELD_BACK, Fix.FAILS), (Outcome.WRONG_INTERPRETER, Fix.FAILS),
                                          (Outcome.CANNOT_UNINSTALL, Fix.FAILS)])
def test_new_outcomes_are_judged(outcome, fix):
    assert judge(outcome) is fix


def test_a_time_limit_reaches_the_scenario_and_the_reproduce_command():
    from repromatrix.core.axes import RESOURCE_LIMITS
    limit = RESOURCE_LIMITS["time-limit"]
    assert limit.env() == {"REPROMATRIX_TIMEOUT": "20"}
    assert "--env=REPROMATRIX_TIMEOUT=20" in limit.docker_run_options()
    more = attempt_for("more-time", Outcome.RESOLVER_BACKTRACKING, facts())
    assert more.limits(limit).env() == {}  # the attempt runs without it
