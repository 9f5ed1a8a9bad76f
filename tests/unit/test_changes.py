"""What the upgrade changed, from the installed sets a record carries before and after, and what no
longer imports around the target (real records captured from examples/environments.yaml and
examples/placeholder.yaml)."""

from __future__ import annotations

import copy
import json

from repromatrix.cell.contract import Record
from repromatrix.core.model import Target
from repromatrix.core.outcomes import Outcome
from repromatrix.installers import INSTALLERS
from repromatrix.judge.changes import broken_around, changes
from repromatrix.judge.classify import classify
from repromatrix.judge.remedies import below_break, blockers
from tests.conftest import DATA
from tests.support import observe

BASE = json.loads((DATA / "records" / "local-bookworm-py3.11-venv-tf2.15.0.json").read_text())
SITE = "/opt/venv/lib/python3.11/site-packages"


def record_with(before, after) -> Record:
    raw = copy.deepcopy(BASE)
    raw["installed_before"], raw["installed_after"] = before, after
    return Record.from_json(raw)


def test_each_distribution_is_upgraded_downgraded_added_removed_or_left_out():
    before = [
        ["keras", "2.15.0", "pip", SITE],
        ["numpy", "1.26.4", "pip", SITE],
        ["tensorflow", "2.15.0", "pip", SITE],
        ["tf_keras", "2.15.0", "pip", SITE],
        ["protobuf", "4.25.8", "pip", SITE],
        ["Weird", "1.0", "", SITE],
    ]
    after = [
        ["keras", "3.15.1", "pip", SITE],
        ["numpy", "1.26.4", "pip", SITE],
        ["tensorflow", "2.21.0", "pip", SITE],
        ["nvidia-cublas-cu12", "12.5.3.2", "pip", SITE],
        ["protobuf", "3.20.3", "uv", SITE],
        ["weird", "1.0.0", "", SITE],
    ]
    found = {c.name: (c.kind, c.before, c.after, c.installer) for c in changes(record_with(before, after))}
    assert found == {
        "keras": ("upgraded", "2.15.0", "3.15.1", "pip"),
        "tensorflow": ("upgraded", "2.15.0", "2.21.0", "pip"),
        "nvidia-cublas-cu12": ("added", None, "12.5.3.2", "pip"),
        "tf_keras": ("removed", "2.15.0", None, "pip"),
        "protobuf": ("downgraded", "4.25.8", "3.20.3", "uv"),
        "weird": ("reinstalled", "1.0", "1.0.0", ""),  # the same version, spelled otherwise
    }


def test_a_record_without_both_sets_says_nothing_changed_rather_than_guess():
    assert changes(record_with(None, [["numpy", "2.0.0", "pip", SITE]])) == []
    assert changes(Record.from_json(BASE)) == []  # a record of an older scenario


def around(*rows):
    return [
        {"name": n, "version": v, "module": m, "requires": list(r), "ok": ok, "error": e} for n, v, m, r, ok, e in rows
    ]


NUMPY_ERROR = "ImportError: numpy.core.multiarray failed to import"


def record_around(before_rows, after_rows, installed_after=None):
    raw = copy.deepcopy(BASE)
    raw["installed_before"] = [
        ["numpy", "1.26.4", "pip", SITE],
        ["tensorflow", "2.15.0", "pip", SITE],
        ["h5py", "3.10.0", "pip", SITE],
        ["pandas", "2.1.0", "pip", SITE],
    ]
    raw["installed_after"] = installed_after or [
        ["numpy", "2.3.5", "pip", SITE],
        ["tensorflow", "2.21.0", "pip", SITE],
        ["h5py", "3.10.0", "pip", SITE],
        ["pandas", "2.1.0", "pip", SITE],
        ["ml_dtypes", "0.5.1", "pip", SITE],
    ]
    raw["around_before"], raw["around_after"] = before_rows, after_rows
    return Record.from_json(raw)


def test_a_library_that_imported_before_and_not_after_is_named_with_what_changed_under_it():
    record = record_around(
        around(
            ("h5py", "3.10.0", "h5py", ["numpy"], True, None),
            ("pandas", "2.1.0", "pandas", ["numpy"], False, "ImportError: no libstdc++"),
        ),
        around(
            ("h5py", "3.10.0", "h5py", ["numpy"], False, NUMPY_ERROR),
            ("pandas", "2.1.0", "pandas", ["numpy"], False, "ImportError: no libstdc++"),
            ("ml_dtypes", "0.5.1", "ml_dtypes", ["numpy"], False, "ImportError: x"),
            ("numpy", "2.3.5", "numpy", [], True, None),
        ),
    )
    found = broken_around(record)
    # pandas failed before as well: not the upgrade's doing, not claimed
    assert [(b.name, b.before) for b in found] == [("h5py", "imported"), ("ml_dtypes", "absent")]
    assert found[0].said == (
        "h5py 3.10.0: import h5py no longer imports after the upgrade (it did before); it "
        f"requires numpy 1.26.4 → 2.3.5: {NUMPY_ERROR}"
    )
    assert found[1].said.startswith(
        "ml_dtypes 0.5.1: import ml_dtypes does not import after the upgrade (the upgrade installed it)"
    )


def test_a_library_the_upgrade_changed_itself_says_so_and_one_not_tried_before_is_not_called_broken_by_it():
    installed = [
        ["numpy", "2.3.5", "pip", SITE],
        ["tensorflow", "2.21.0", "pip", SITE],
        ["h5py", "3.11.0", "pip", SITE],
        ["pandas", "2.1.0", "pip", SITE],
    ]
    record = record_around(
        [],
        around(
            ("h5py", "3.11.0", "h5py", ["numpy"], False, NUMPY_ERROR),
            ("pandas", "2.1.0", "pandas", [], False, "ImportError: y"),
        ),
        installed,
    )
    found = {b.name: b.said for b in broken_around(record)}
    assert (
        "import h5py does not import after the upgrade (not tried before it); it was upgraded (3.10.0 → "
        "3.11.0)" in found["h5py"]
    )
    assert found["pandas"].endswith("(not tried before it): ImportError: y")  # nothing changed under it


def test_without_imports_after_the_upgrade_nothing_is_claimed():
    assert broken_around(record_around(around(("h5py", "3.10.0", "h5py", [], True, None)), None)) == []
    assert broken_around(None) == []


EAGER = json.loads((DATA / "records" / "local-env-bookworm-py3.11-venv-tf2.15.0-eager-h5py.json").read_text())


def test_a_real_record_whose_companion_no_longer_imports_is_inconsistent_though_pip_check_passed():
    # Captured from examples/environments.yaml: a pip.conf's upgrade-strategy = eager took NumPy 2
    verdict = classify(observe(EAGER))
    assert EAGER["pip_check"]["exit_code"] == 0
    assert verdict.outcome is Outcome.UPGRADED_INCONSISTENT
    assert verdict.evidence[0].startswith("h5py 3.10.0: import h5py no longer imports after the upgrade (it did")
    record = Record.from_json(EAGER)
    assert below_break(record, Target()) == "tensorflow<2.16"  # it worked on 2.15.0
    assert blockers("", (), "tensorflow", INSTALLERS["pip"], ("h5py",)) == ("h5py",)
    older = {k: v for k, v in EAGER.items() if not k.startswith("around")}  # a scenario before imports
    assert classify(observe(older)).outcome is Outcome.UPGRADED
    assert below_break(Record.from_json(older), Target()) == ""  # nothing known to have broken


def test_what_failed_before_the_upgrade_too_is_not_its_doing():
    raw = copy.deepcopy(EAGER)
    raw["around_before"] = [
        dict(r, ok=False, error="ImportError: old") if r["name"] == "h5py" else r for r in raw["around_before"]
    ]
    assert classify(observe(raw)).outcome is Outcome.UPGRADED
    assert below_break(Record.from_json(raw), Target()) == ""


def test_a_target_with_no_module_is_named_a_placeholder_with_what_it_pulled_in():
    # Captured from examples/placeholder.yaml (the local index's model of tensorflow-intel 0.0.1)
    raw = json.loads((DATA / "records" / "local-placeholder-bookworm-py3.11-venv-fresh.json").read_text())
    verdict = classify(observe(raw))
    assert verdict.outcome is Outcome.IMPORT_ERROR
    assert verdict.evidence[0] == ("tensorflow-intel 0.0.1 installs no importable module: a placeholder release, "
                                   "not the package itself; it pulled in build 1.2.2.post1, pyinstaller 6.11.1, "
                                   "twine 6.0.1")
    named = copy.deepcopy(raw)  # the same upgrade, with the module named in target.imports
    named["import"] = dict(raw["import"], names=["tensorflow_intel"], error="ModuleNotFoundError: x")
    assert "placeholder" not in classify(observe(named)).evidence[0]


def test_what_the_upgrade_left_behind_comes_first_and_only_it_is_a_blocker():
    # Seen on the real index: TensorFlow 2.21's Keras 3 imports a pandas 2.1.0 built for NumPy 1
    record = record_around(
        around(("keras", "2.15.0", "keras", [], True, None), ("pandas", "2.1.0", "pandas", ["numpy"], True, None)),
        around(("keras", "3.15.1", "keras", [], False, "ValueError: numpy.dtype size changed"),
               ("pandas", "2.1.0", "pandas", ["numpy"], False, "ValueError: numpy.dtype size changed")),
        [["numpy", "2.3.5", "pip", SITE], ["tensorflow", "2.21.0", "pip", SITE], ["keras", "3.15.1", "pip", SITE],
         ["pandas", "2.1.0", "pip", SITE]])
    found = broken_around(record)
    assert [(b.name, b.left_behind) for b in found] == [("pandas", True), ("keras", False)]
    raw = copy.deepcopy(record.json)
    raw["import"] = dict(raw["import"], ok=False, error="ValueError: numpy.dtype size changed", failed="tensorflow",
                         names=["tensorflow"])
    verdict = classify(observe(raw))
    assert verdict.outcome is Outcome.IMPORT_ERROR
    assert verdict.evidence[0] == "import tensorflow failed: ValueError: numpy.dtype size changed"
    assert verdict.evidence[1].startswith("pandas 2.1.0: import pandas no longer imports after the upgrade")
