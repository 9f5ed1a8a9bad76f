"""The run's date-filtering index (`--as-of` for installers without a filter of their own: pip
before 26.0, pip-tools): pypi-timemachine's filter (its `DateFilteredReleases`, on
simple-repository's `HttpRepository`) in front of the configured index, served by
simple-repository-server, in a container on the run's network.

It serves the upstream's pages, HTML or JSON as the client asks, with the files uploaded at or
after the time left out (as pip and uv filter) and everything else as the upstream says it
(hashes, data-requires-python, yanked); the files themselves are fetched from the upstream (the
page's links go through the service, which redirects). pypi-timemachine's own command reads a
time without a timezone and binds to loopback; repromatrix runs its filter with the run's UTC
time instead (templates/timemachine_app.py), and refuses an upstream that gives no upload time.
"""

from __future__ import annotations

import platform
from pathlib import Path

from ..core.errors import InfraError
from .wheelcache import WHEEL_CACHE, host_pip_download, last_line

TIME_HOST = "repromatrix-timemachine"  # its name on the run's network
TIME_PORT = 8000


def time_url(when: str) -> str:
    """What cells read instead of the index: plain HTTP on the run's own network (the installers
    are told to trust the host; the upstream's files come over its own TLS). The time is part of
    the URL, so a cell's Dockerfile, and the key of its cached setup, say which index it read."""
    return f"http://{TIME_HOST}:{TIME_PORT}/as-of/{when}/simple/"


# The filter and its server, as the package index has them; the service image installs them
# offline from these wheels (downloaded once by the host's pip)
TIMEMACHINE = "pypi-timemachine==0.3.1"
SERVICE_PYTHON = "3.11"  # Debian bookworm's python3, the service image's interpreter
READY = "repromatrix-timemachine listening"  # what templates/timemachine_app.py prints


def service_wheels(cache: Path = WHEEL_CACHE) -> Path:
    """A directory of the wheels the service installs (pypi-timemachine and everything it
    needs, for the image's Python and machine), downloaded into the cache once."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    python = "cp" + SERVICE_PYTHON.replace(".", "")
    folder = cache / f"{TIMEMACHINE.replace('==', '-')}-{python}-{machine}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    platform_tag = f"manylinux2014_{machine}"
    proc = host_pip_download(
        folder, "--python-version", SERVICE_PYTHON, "--platform", platform_tag, TIMEMACHINE
    )
    if proc.returncode != 0:
        last = last_line(proc)
        raise InfraError(
            f"--as-of needs {TIMEMACHINE} and what it needs, and pip could not download them "
            f"once into {folder}: {last}\n  hint: put the wheels into {folder} by hand (pip "
            f"download {TIMEMACHINE} --only-binary=:all: --python-version {SERVICE_PYTHON}) and "
            "create .complete there"
        )
    done.write_text("")
    return folder
