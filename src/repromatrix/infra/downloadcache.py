"""The download cache: each file a resolver downloads crosses the network once per machine.

A caching proxy (squid, TLS bumping, from Debian's packages) on the run's network, whose store
is a named Docker volume kept across runs. Cells whose path to the index is the plain one (see
plan.through_download_cache) get it as their HTTPS proxy, at build time as Docker's predefined
proxy build argument and at run time in their environment, never in their Dockerfile. They
trust its CA through their CA bundle, beside the host's.

Why a caching proxy and not a mirror or the installers' own caches: a mirror (devpi, proxpi)
changes the index URL the cell's installer prints and reads, and serves pages of its own making;
pip's and uv's HTTP caches are the `cache` axis itself, and pip keeps nothing a network strips
the cache headers of. The proxy keeps the URLs, the pages (never stored: every page is the
index's answer of now), the hashes pip checks, and the installer's own cache as the cell has it.

One squid per store: a run takes this machine's lock on it, and a second run at the same time
downloads directly (and says so).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..core.files import cache_dir, size_said, write_atomic
from ..core.templating import render, template_bytes
from .engine import LABEL_CACHE, Engine
from .setupcache import SetupCache
from .tlsca import RunCA

CACHE_HOST = "repromatrix-downloads"  # its name on the run's network
CACHE_PORT = 3128
VOLUME_KIND = "downloads"  # the volume's LABEL_CACHE value (`clean --cache` removes it)
DEFAULT_BUDGET = 20 * 10**9  # bytes of files kept when settings.download_cache_budget is unset
LARGEST_FILE_MB = 4096  # a file over this is passed through, not kept
READY = "Accepting SSL bumped HTTP Socket connections"
# The files it keeps, by their URL's path: what a resolver downloads, never a page
FILES = r"\.(whl|tar\.gz|tar\.bz2|tgz|zip)(\.metadata)?$"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy")  # what pip, uv and curl read


@dataclass(frozen=True)
class DownloadCache:
    """The run's download cache, running: what the cells that go through it are given."""

    url: str  # the proxy URL on the run's network

    def variables(self) -> dict[str, str]:
        return dict.fromkeys(PROXY_VARIABLES, self.url)


@dataclass(frozen=True)
class Counts:
    """What the cache's own log says the run downloaded: from the index, and from the cache."""

    files_from_index: int = 0
    bytes_from_index: int = 0
    files_from_cache: int = 0
    bytes_from_cache: int = 0

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    def __add__(self, other: Counts) -> Counts:
        mine, theirs = self.to_json(), other.to_json()
        return Counts(**{k: mine[k] + theirs[k] for k in mine})

    def said(self) -> str:
        return (
            f"{self.files_from_index} files ({size_said(self.bytes_from_index)}) from the "
            f"index, {self.files_from_cache} ({size_said(self.bytes_from_cache)}) from the cache"
        )


# A line of the access log (templates/downloadcache.conf.j2's logformat): time, elapsed, client,
# squid's result code / HTTP status, bytes sent, method, URL, hierarchy / peer
LOG_LINE = re.compile(
    r"\S+ +\d+ \S+ (?P<code>[A-Z_]+)/(?P<status>\d{3}) (?P<size>\d+) GET (?P<url>\S+)"
)


def counts_in(access_log: str) -> Counts:
    """Each file a cell downloaded whole, from the index (a miss) or from the store (a hit); a
    request collapsed onto another's download (`_CF_`) is served from it, not the index."""
    index_files = index_bytes = cache_files = cache_bytes = 0
    for line in access_log.splitlines():
        found = LOG_LINE.match(line)
        if not found or found["status"] != "200":
            continue
        path = found["url"].partition("?")[0].partition("#")[0]
        if not re.search(FILES, path, re.IGNORECASE):
            continue  # a page: never kept, and not what this counts
        size = int(found["size"])
        if "HIT" in found["code"] or "_CF_" in found["code"]:
            cache_files, cache_bytes = cache_files + 1, cache_bytes + size
        else:
            index_files, index_bytes = index_files + 1, index_bytes + size
    return Counts(index_files, index_bytes, cache_files, cache_bytes)


def run_counts(run_dir: Path) -> Counts | None:
    """What the run's download caches counted, summed over its engines; None: it had none."""
    total = None
    for path in sorted(run_dir.glob("download-cache*.json")):
        try:
            data = json.loads(path.read_text())
            found = Counts(**{k: int(data[k]) for k in Counts.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a file the run did not finish writing counts nothing
        total = found if total is None else total + found
    return total


def store_volume() -> str:
    """The volume of this machine's store: one per cache directory (a test's own is its own)."""
    digest = hashlib.sha256(str(cache_dir().resolve()).encode()).hexdigest()[:12]
    return f"repromatrix-downloads-{digest}"


def cache_ca() -> RunCA:
    """The cache's CA, kept on this machine: the cells' bundles hold it, so it stays the same
    from run to run (a new one would make every cached setup of those cells stale)."""
    return RunCA.kept(cache_dir() / "ca" / "download-cache.pem", "download cache")


@contextlib.contextmanager
def machine_lock() -> Iterator[bool]:
    """This machine's lock on the store, held for the run; False when another run holds it."""
    path = cache_dir() / "download-cache.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def squid_conf(budget: int) -> str:
    budget_mb = max(budget // 10**6, 100)
    return render(
        "service",
        "downloadcache.conf.j2",
        port=CACHE_PORT,
        files_pattern=FILES,
        budget_mb=budget_mb,
        largest_file_mb=min(LARGEST_FILE_MB, budget_mb),
    )


@contextlib.contextmanager
def download_cache_service(
    engine: Engine,
    network: str,
    upstream_ca_pem: bytes,
    budget: int,
    run_dir: Path,
    console: Console,
    packages: SetupCache | None = None,
    suffix: str = "",
) -> Iterator[DownloadCache | None]:
    """The run's download cache on `network`; None (said) when another run on this machine has
    the store. Its access log is kept as download-cache{suffix}.log, its counts beside it
    (download-cache{suffix}.json: the run's results read them, summed over its engines)."""
    from .services import build_service, service_context, wait_until  # noqa: PLC0415 - a cycle

    while any(run_dir.glob(f"download-cache{suffix}.*")):
        suffix += "-again"  # a resumed run: what the stopped process counted is kept
    with machine_lock() as ours:
        if not ours:
            console.print(
                "[yellow]download cache: another repromatrix run on this machine is using it; "
                "this run's cells download from the index directly[/yellow]"
            )
            yield None
            return
        volume = store_volume()
        console.print(
            f"starting the download cache (squid; files kept in volume {volume}, up to "
            f"{size_said(budget)})"
        )
        with tempfile.TemporaryDirectory(prefix="repromatrix-downloads-") as tmp:
            root = Path(tmp)
            context = service_context(root / "image", "downloadcache.Dockerfile.j2")
            (context / "squid.conf").write_text(squid_conf(budget))
            (context / "entry.sh").write_bytes(template_bytes("downloadcache-entry.sh"))
            tag = build_service(engine, context, "downloads", "the download cache", packages)
            secrets = _secrets(root / "secrets", cache_ca(), upstream_ca_pem)
            engine.ensure_volume(volume, {LABEL_CACHE: VOLUME_KIND})
            with engine.container(
                tag,
                name=f"repromatrix-{engine.run_id}-downloads",
                role="downloads",
                network=network,
                aliases=(CACHE_HOST,),
                mounts={str(secrets): "/run/secrets/cache"},
                volumes={volume: "/var/spool/squid"},
            ) as box:
                log = ""
                try:
                    wait_until(
                        box,
                        lambda: READY in box.read_file("/var/log/squid/cache.log"),
                        "the download cache",
                        120,  # a store of many files is read in before it accepts
                    )
                    yield DownloadCache(f"http://{CACHE_HOST}:{CACHE_PORT}")
                finally:
                    if box.running():
                        log = box.read_file("/var/log/squid/access.log")
                    write_atomic(run_dir / f"download-cache{suffix}.log", log)
                    counts = counts_in(log)
                    write_atomic(
                        run_dir / f"download-cache{suffix}.json", json.dumps(counts.to_json())
                    )
                    console.print(f"download cache: {counts.said()}")


def _secrets(folder: Path, ca: RunCA, upstream_ca_pem: bytes) -> Path:
    folder.mkdir(mode=0o700)
    (folder / "ca.key").write_bytes(ca.key_pem())
    (folder / "ca.pem").write_bytes(ca.cert_pem)
    (folder / "upstream.pem").write_bytes(upstream_ca_pem or _system_bundle())
    for path in folder.iterdir():
        path.chmod(0o600)  # the container's root reads them and installs them for squid
    return folder


def _system_bundle() -> bytes:
    return Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes()
