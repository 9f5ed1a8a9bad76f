"""The installers cells upgrade with, as peers behind one interface (interface.py), registered
here: `pip`, `uv` (`uv pip install`), `uv-add` (a uv project, `uv add`) and `pip-tools`
(`pip-compile`, then `pip-sync`). A new installer is
its own module beside pip.py (its commands, variables and classifier rules), its remedies beside
pip_remedies.py, and its entry below; `InstallerName` then names every place that must know
it."""

from __future__ import annotations

from collections.abc import Iterable

from ..core.axes import INSTALLER_NAMES, InstallerName
from ..core.model import Choice, Selection
from ..core.registry import complete
from .interface import Installer, Rule
from .pip import Pip
from .pip_tools import PipTools
from .uv import Uv
from .uv_add import UvAdd

INSTALLERS: dict[InstallerName, Installer] = {
    "pip": Pip(),
    "uv": Uv(),
    "uv-add": UvAdd(),
    "pip-tools": PipTools(),
}
complete("installer", INSTALLERS, INSTALLER_NAMES)  # the installer axis's names (core/axes.py)
DEFAULT: InstallerName = "pip"

# Every installer's remedies by name: a matrix or `--remedies` names them before any cell's
# installer is known (each installer spells a remedy its own way, or has none by that name).
REMEDY_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(r.name for by in INSTALLERS.values() for r in by.remedies)
)

__all__ = [
    "DEFAULT",
    "INSTALLERS",
    "REMEDY_NAMES",
    "Installer",
    "InstallerName",
    "Rule",
    "installer",
    "parse_selection",
]


def installer(name: InstallerName = DEFAULT) -> Installer:
    return INSTALLERS[name]


def parse_selection(text: str | Iterable[str]) -> tuple[Selection | None, str]:
    """A selection from 'auto', 'none', 'a,b' or a list of names; (None, why) when it is not one."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items in (["auto"], ["none"]):
        return Selection(Choice(items[0])), ""
    unknown = [n for n in items if n not in REMEDY_NAMES]
    if unknown or not items:
        return None, (f"unknown remedy {unknown[0]!r}" if unknown else "no remedy named")
    return Selection(Choice.NONE, tuple(dict.fromkeys(items))), ""
