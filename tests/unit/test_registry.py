"""Registries hold exactly their members: a new outcome, fix or report format without its entry
is an error at import time (core/registry.py), shown here on deliberately incomplete copies."""

from __future__ import annotations

import pytest

from repromatrix.core.axes import AXES, AXIS_ORDER
from repromatrix.core.outcomes import OUTCOME_INFO, Outcome
from repromatrix.core.registry import RegistryIncomplete, complete, unique
from repromatrix.core.result import FIX_COLOUR, Fix
from repromatrix.results.formats import DEFAULT_FILES, FORMATS, RENDERERS


def test_an_outcome_without_its_entry_is_named():
    partial = {o: info for o, info in OUTCOME_INFO.items() if o is not Outcome.HELD_BACK}
    with pytest.raises(RegistryIncomplete, match="the outcome registry is incomplete: missing held-back"):
        complete("outcome", partial, Outcome)


def test_an_entry_that_is_no_member_is_named():
    with pytest.raises(RegistryIncomplete, match="not members: pdf"):
        complete("report format", {**RENDERERS, "pdf": None}, FORMATS)


def test_a_name_registered_twice_is_named():
    with pytest.raises(RegistryIncomplete, match="the remedy registry names venv twice"):
        unique("remedy", ["venv", "trust-ca", "venv"])


@pytest.mark.parametrize(("name", "registry", "members"), [
    ("outcome", OUTCOME_INFO, list(Outcome)),
    ("fix colour", FIX_COLOUR, list(Fix)),
    ("report format", RENDERERS, FORMATS),
    ("report file", DEFAULT_FILES, FORMATS),
    ("axis", AXES, AXIS_ORDER),
])
def test_the_shipped_registries_are_complete(name, registry, members):
    complete(name, registry, members)
    assert len(registry) == len(members) > 1
