"""The installers cells upgrade with, as peers behind one interface (interface.py), registered
here: `pip`, `uv` (`uv pip install`), `uv-add` (a uv project, `uv add`) and `pip-tools`
(`pip-compile`, then `pip-sync`). A new installer is
its own module beside pip.py (its commands, variables and classifier rules), its remedies beside
pip_remedies.py, and its entry below; `InstallerName` then names every place that must know
it."""

from __future__ import annotations

from ..core.axes import INSTALLER_NAMES, InstallerName
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

__all__ = ["DEFAULT", "INSTALLERS", "Installer", "InstallerName", "Rule", "installer"]


def installer(name: InstallerName = DEFAULT) -> Installer:
    return INSTALLERS[name]
