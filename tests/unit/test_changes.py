"""What the upgrade changed, from the installed sets a record carries before and after."""

from __future__ import annotations

import copy
import json

from repromatrix.cell.contract import Record
from repromatrix.judge.changes import changes
from tests.conftest import DATA

BASE = json.loads((DATA / "records" / "local-bookworm-py3.11-venv-tf2.15.0.json").read_text())
SITE = "/opt/venv/lib/python3.11/site-packages"


def record_with(before, after) -> Record:
    raw = copy.deepcopy(BASE)
    raw["installed_before"], raw["installed_after"] = before, after
    return Record.from_json(raw)


def test_each_distribution_is_upgraded_downgraded_added_removed_or_left_out():
    before = [["keras", "2.15.0", "pip", SITE], ["numpy", "1.26.4", "pip", SITE],
              ["tensorflow", "2.15.0", "pip", SITE], ["tf_keras", "2.15.0", "pip", SITE],
              ["protobuf", "4.25.8", "pip", SITE], ["Weird", "1.0", "", SITE]]
    after = [["keras", "3.15.1", "pip", SITE], ["numpy", "1.26.4", "pip", SITE],
             ["tensorflow", "2.21.0", "pip", SITE], ["nvidia-cublas-cu12", "12.5.3.2", "pip", SITE],
             ["protobuf", "3.20.3", "uv", SITE], ["weird", "1.0.0", "", SITE]]
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
