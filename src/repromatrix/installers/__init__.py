"""The installers cells upgrade with, as peers behind one interface (interface.py), registered
here: `pip` today. A new installer is its own module beside pip.py, its entry below, and its
classifier rules in it; `InstallerName` then names every place that must know it."""

from __future__ import annotations

from typing import Literal, get_args

from ..core.registry import complete
from .interface import Installer, Rule
from .pip import Pip

InstallerName = Literal["pip"]
INSTALLERS: dict[InstallerName, Installer] = {"pip": Pip()}
complete("installer", INSTALLERS, get_args(InstallerName))
DEFAULT: InstallerName = "pip"

__all__ = ["DEFAULT", "INSTALLERS", "Installer", "InstallerName", "Rule", "installer"]


def installer(name: InstallerName = DEFAULT) -> Installer:
    return INSTALLERS[name]
