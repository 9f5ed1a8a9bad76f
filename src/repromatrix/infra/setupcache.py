"""The setup cache: a cell's setup (everything before its scenario) kept as an image across runs.

A cell's Dockerfile has two stages: `setup` (the OS, the interpreter, the CA, the install mode,
the prior version, conflicts, a damaged cache, the network's settings) and the scenario on top
of it. Installing a prior TensorFlow costs a minute a cell, so the setup stage is built once,
tagged `repromatrix-cache/setup:KEY` and labelled as a cache, and every later run (and every
other cell with the same setup) starts from it. KEY is the content of what made it: the base
image's id, the setup stage's instructions, the files they copy and the index they read.

Trade-off, said where users choose (docs/speed.md, "The setup cache"): a cached setup keeps the
dependency versions of the day it was built. `cache: refresh` (or `--fresh`) rebuilds the setups
a run uses; `cache: off` builds every cell from scratch (`docker build --no-cache` of its
context, as by hand) and keeps nothing.

Pure functions here (keys, shared prefixes, the eviction plan); the Engine does the Docker work.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..core.files import live_since, write_atomic
from ..core.model import CacheMode
from .engine import LABEL_CACHE, LABEL_CACHE_KEY, BuildResult, CachedImage, Engine

SETUP_STAGE = "setup"  # the Dockerfile stage that is the cell's setup
SCENARIO_FROM = f"FROM {SETUP_STAGE}"  # the line that starts the scenario stage
# The build argument a setup declares before its first step that reads the index. Its value is
# the cache's fingerprint (what the index holds): Docker's layer cache knows the instructions and
# the files they copy, not the index, so without it a setup keyed to one index state would take
# layers made against another (with their logs saying only "Using cache").
INDEX_STATE_ARG = "REPROMATRIX_INDEX_STATE"
SCENARIO_FILES = frozenset({"scenario.py", "checks.json", "log.txt"})  # not part of the setup
CACHE_KIND = "setup"  # cells' setups
# The packages of the run's services (nginx, squid, mitmproxy): small, never evicted
SERVICE_KIND = "service"
CACHE_KINDS = (CACHE_KIND, SERVICE_KIND)
# How setups are made and kept; a new value makes every earlier cached setup a miss (they are
# then evicted as least recently used). 2: each setup's build log is kept beside the cache.
RECIPE = "setup-recipe 2"
# The budget when none is set: half of what free disk plus the cache hold
DEFAULT_SHARE_OF_DISK = 0.5
UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(text: str) -> int | None:
    """'20GB', '500 MiB', '1.5TB' → bytes; None if it is not a size."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?I?B?)\s*", text.upper())
    if not m or m.group(2) not in UNITS:
        return None
    return int(float(m.group(1)) * UNITS[m.group(2)])


# -- the setup stage as instructions -----------------------------------------------------------
def setup_instructions(dockerfile: str) -> list[str]:
    """The setup stage's instructions, continuation lines joined, comments and blanks dropped."""
    out: list[str] = []
    pending = ""
    for line in dockerfile.split("\n"):
        if line.strip() == SCENARIO_FROM:
            break
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + "\n"
            continue
        out.append(pending + line)
        pending = ""
    return out


def scenario_dockerfile(dockerfile: str, setup_image: str) -> str:
    """The cell's scenario stage on its own, starting from its setup image: the cell's build needs
    that image only, not the builder's layer cache (which a loaded or pulled image lacks)."""
    head, sep, scenario = dockerfile.partition(f"\n{SCENARIO_FROM}\n")
    if not sep:
        raise ValueError("not a repromatrix cell Dockerfile: it has no scenario stage")
    return f"FROM {setup_image}\n{scenario}"


def _copied(instruction: str) -> list[str]:
    words = instruction.split()
    if not words or words[0].upper() not in ("COPY", "ADD"):
        return []
    return [w for w in words[1:-1] if not w.startswith("--")]


def prefix_chain(context: Path, base_id: str, fingerprint: str) -> list[str]:
    """One hash per setup instruction, each covering everything up to it (and the files it copies).

    Two cells whose chains share a hash share those layers; the last hash is the setup's key.
    """
    digest = hashlib.sha256(f"{base_id}\n{fingerprint}\n".encode())
    chain = []
    for instruction in setup_instructions((context / "Dockerfile").read_text()):
        digest.update(instruction.encode() + b"\0")
        for name in _copied(instruction):
            path = context / name
            digest.update(
                name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"(missing)")
            )
        chain.append(digest.copy().hexdigest())
    return chain


def share_points(chains: Mapping[str, list[str]]) -> dict[str, str | None]:
    """For each cell, the deepest prefix it shares with another cell (None: it shares nothing
    beyond the base image). The first cell to reach a share point builds it; the others wait."""
    seen: dict[str, int] = {}
    for chain in chains.values():
        for h in set(chain[1:]):  # chain[0] is the FROM line: the base image is already there
            seen[h] = seen.get(h, 0) + 1
    return {
        cell: next((h for h in reversed(chain[1:]) if seen[h] > 1), None)
        for cell, chain in chains.items()
    }


def cache_tag(key: str, kind: str = CACHE_KIND) -> str:
    return f"repromatrix-cache/{kind}:{key[:32]}"


# -- budget -----------------------------------------------------------------------------------
def default_budget(free_disk: int | None, cached: int) -> int:
    if free_disk is None:
        return 50 * 10**9  # an engine whose disk we cannot see (a remote one)
    return int((free_disk + cached) * DEFAULT_SHARE_OF_DISK)


def to_evict(
    images: Iterable[CachedImage], budget: int, keep: Iterable[str] = ()
) -> list[CachedImage]:
    """Least recently used first out, until what stays fits the budget; `keep` (this run's)
    stays."""
    kept = set(keep)
    newest_first = sorted(images, key=lambda i: i.last_used, reverse=True)
    total = sum(i.size for i in newest_first if i.ref in kept)
    evict = []
    for image in newest_first:
        if image.ref in kept:
            continue
        if total + image.size <= budget:
            total += image.size
        else:
            evict.append(image)
    return evict


# -- what a run does with it -------------------------------------------------------------------
@dataclass(frozen=True)
class SetupResult:
    image: str  # the setup image the cell's build starts from
    how: str  # "cached" (reused), "built", or "failed"
    seconds: float = 0.0
    build: BuildResult | None = None
    key: str = ""


@dataclass
class SetupCache:
    """Gives each cell its setup image: reused, or built once per run and key (cache: reuse,
    refresh)."""

    engine: Engine
    mode: CacheMode = CacheMode.REUSE
    fingerprint: str = ""  # what the setup reads that its files do not show (the index)
    kind: str = CACHE_KIND
    # Where each setup's build log is kept, so a cell that reuses it can show it
    logs: Path | None = None
    used: set[str] = field(default_factory=set)  # setup images this run used: never evicted by it
    built: int = 0  # setup builds this run performed
    _built_now: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def chain(self, context: Path, base_image: str, reads: str = "") -> list[str]:
        """The setup's prefix hashes (see prefix_chain), on this engine's base image; `reads`:
        what this setup reads beyond the run's fingerprint (the wheels its own cell needs)."""
        return prefix_chain(
            context, self.engine.image_id(base_image), f"{RECIPE} {self.index_state(reads)}"
        )

    def index_state(self, reads: str = "") -> str:
        """What the setup's INDEX_STATE_ARG is built with: the index as this setup reads it."""
        return hashlib.sha256(f"{self.fingerprint}\n{reads}".encode()).hexdigest()[:16]

    def key(self, context: Path, base_image: str, reads: str = "") -> str:
        chain = self.chain(context, base_image, reads)
        return chain[-1] if chain else hashlib.sha256(base_image.encode()).hexdigest()

    def ensure(
        self,
        context: Path,
        base_image: str,
        network: str | None,
        reads: str = "",
        proxy: Mapping[str, str] | None = None,
    ) -> SetupResult:
        """The setup image of `context`: cached, or built now. `proxy`: Docker's predefined
        proxy build arguments (the download cache), which are no part of the setup's key."""
        key = self.key(context, base_image, reads)
        tag = cache_tag(key, self.kind)
        with self._lock:
            fresh_enough = self.mode is CacheMode.REUSE or tag in self._built_now
            if fresh_enough and self.engine.image_exists(tag):
                self.used.add(tag)
                self.engine.touch_image(tag)
                return SetupResult(tag, "cached", key=key)
        started = time.monotonic()
        labels = {LABEL_CACHE: self.kind, LABEL_CACHE_KEY: key}
        build = self.engine.build(
            context,
            tag,
            network,
            labels,
            target=SETUP_STAGE,
            nocache=self.mode is CacheMode.REFRESH and tag not in self._built_now,
            buildargs={INDEX_STATE_ARG: self.index_state(reads), **(proxy or {})},
        )
        with self._lock:
            self.built += 1
            if build.ok:
                self._built_now.add(tag)
                self.used.add(tag)
        return SetupResult(
            tag, "built" if build.ok else "failed", round(time.monotonic() - started, 1), build, key
        )

    def keep_log(self, setup: SetupResult, log: str) -> None:
        """Keep a setup's build log (already redacted) beside the cache, for the cells that reuse
        it."""
        if self.logs is not None and setup.how == "built":
            self.logs.mkdir(parents=True, exist_ok=True)
            write_atomic(self.logs / f"{setup.key}.txt", log)

    def kept_log(self, setup: SetupResult) -> str:
        """What a reusing cell's log says about its setup: the image and how it was built."""
        path = self.logs / f"{setup.key}.txt" if self.logs is not None else None
        head = f"== setup: reused the cached image {setup.image} =="
        if path is None or not path.is_file():
            return head + "\n(its build log is not kept on this machine)\n"
        built = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(path.stat().st_mtime))
        return f"{head}\n== its build log, from {built} UTC ==\n{path.read_text(errors='replace')}"

    def evict(self, budget: int | None) -> list[CachedImage]:
        """Keep the cache within its budget (the default: a share of free disk); what went."""
        found = self.engine.cached_images(self.kind)
        # A setup --fresh rebuilt under the same tag is garbage at once: nothing can reuse it.
        # (Before this, such images were never counted nor removed: 259 of them filled a disk here.)
        stale = [i for i in found if i.stale]
        images = [i for i in found if not i.stale]
        cached = sum(i.size for i in images)
        limit = budget if budget is not None else default_budget(self.engine.free_disk(), cached)
        # Another run live on this machine may be about to build from a setup it used: what any
        # live run could have used stays (found when one run's budget emptied another's cache).
        since = live_since()
        busy = [i.ref for i in images if since is not None and i.last_used[:19] >= since]
        gone = stale + to_evict(images, limit, [*self.used, *busy])
        for image in gone:
            self.engine.remove_image(image.ref)
            if self.logs is not None and image.key and not image.stale:
                (self.logs / f"{image.key}.txt").unlink(missing_ok=True)
        return gone
