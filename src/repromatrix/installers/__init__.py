"""The installers cells upgrade with, as peers behind one interface (interface.py), registered
here: `pip`, `uv` (`uv pip install`) and `uv-add` (a uv project, `uv add`). A new installer is
its own module beside pip.py (its commands, variables and classifier rules), its remedies beside
pip_remedies.py, and its entry below; `InstallerName` then names every place that must know
it."""

from __future__ import annotations

from ..core.axes import INSTALLER_NAMES, InstallerName
from ..core.registry import complete
from .interface import Installer, Rule
from .pip import Pip
from .uv import Uv
from .uv_add import UvAdd

INSTALLERS: dict[InstallerName, Installer] = {"pip": Pip(), "uv": Uv(), "uv-add": UvAdd()}
complete("installer", INSTALLERS, INSTALLER_NAMES)  # the installer axis's names (core/axes.py)
DEFAULT: InstallerName = "pip"

__all__ = ["DEFAULT", "INSTALLERS", "Installer", "InstallerName", "Rule", "installer"]


def installer(name: InstallerName = DEFAULT) -> Installer:
    return INSTALLERS[name]
