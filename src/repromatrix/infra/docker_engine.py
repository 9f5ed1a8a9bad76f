"""The only module that talks to Docker (through the docker SDK).

Everything it creates carries the run's labels so `cleanup` (also on Ctrl-C) finds it.
Errors carry their evidence: build logs, container output, exit status.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from ..core.errors import DockerUnavailable, InfraError
from .engine import (
    LABEL_BASE,
    LABEL_CACHE,
    LABEL_CACHE_KEY,
    LABEL_ROLE,
    LABEL_RUN,
    BuildResult,
    CachedImage,
    Capacity,
    ContainerResult,
    Filters,
    run_filter,
    run_labels,
)

__all__ = [
    "ENGINE_FAILED",
    "LABEL_BASE",
    "LABEL_CACHE",
    "LABEL_CACHE_KEY",
    "LABEL_ROLE",
    "LABEL_RUN",
    "DockerBox",
    "DockerEngine",
]

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the builder colours a step's stderr
# How the builder says a RUN step's own command failed: the one build error that is the
# Dockerfile's (pip's), not the engine's.
STEP_FAILED = re.compile(r"^The command .* returned a non-zero code: \d+$", re.DOTALL)
PING_TIMEOUT = 10  # seconds the watchdog's ping may take before the engine counts as not answering
# Seconds for calls that should answer at once: an engine slower than this is lost
QUICK_TIMEOUT = 60


def _image_archive(layer: Path, ref: str, labels: dict[str, str], platform: str, out: Path) -> None:
    """`docker save`'s format for one image of one layer: its config (architecture, variant,
    the labels, CMD bash as debootstrap's images have) and the layer, the tar of a root file
    system."""
    digest = hashlib.sha256()
    with layer.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    _, arch, *variant = platform.split("/")
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["bash"], "Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest.hexdigest()}"]},
        "history": [{"created_by": labels.get(LABEL_BASE, "a root file system")}],
    }
    if variant:
        config["variant"] = variant[0]
    body = json.dumps(config, sort_keys=True).encode()
    name = hashlib.sha256(body).hexdigest()
    manifest = [{"Config": f"{name}.json", "RepoTags": [ref], "Layers": ["layer/layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        for member, data in (
            (f"{name}.json", body),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.add(layer, arcname="layer/layer.tar")


def _context_tar(context: Path, dockerfile: str) -> io.BytesIO:
    """The build context as a tar, its Dockerfile replaced (cell contexts are small: no wheels)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for path in sorted(context.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.name != "Dockerfile":
                tar.add(path, arcname=str(path.relative_to(context)), recursive=False)
        text = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(text), 0o644
        tar.addfile(info, io.BytesIO(text))
    data.seek(0)
    return data


class DockerBox:
    """A started container, as services see it (the SDK object stays in here)."""

    def __init__(self, engine: DockerEngine, container: Any) -> None:
        self._engine, self._box = engine, container
        self.name: str = container.name

    def logs(self) -> str:
        if self._engine.gone:
            return ""
        try:
            data: bytes = self._box.logs(stdout=True, stderr=True)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return ""  # the engine is gone with its logs
        return data.decode("utf-8", "replace")

    def running(self) -> bool:
        self._box.reload()
        return bool(self._box.status != "exited")

    def read_file(self, path: str) -> str:
        """A text file from inside the container ('' if it is not there)."""
        if self._engine.gone:
            return ""
        try:
            stream, _ = self._box.get_archive(path)
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return ""
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            return member.read().decode("utf-8", "replace") if member else ""

    def published_port(self, port: str) -> int:
        self._box.reload()
        return int(self._box.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])

    def connect(self, network: str, aliases: tuple[str, ...] = ()) -> None:
        self._engine.quick.networks.get(network).connect(self._box, aliases=list(aliases))


# What the docker SDK raises when the engine fails a call (an API error, a dropped connection):
# infrastructure (exit 3), never the user's input and never a bug of ours.
ENGINE_FAILED = (docker.errors.DockerException, requests.exceptions.RequestException)


def engine_fault_in(error: str) -> str:
    """The build error, if the engine (not the Dockerfile's own command) is at fault; else ''."""
    return "" if STEP_FAILED.search(error.strip()) else error.strip()


# On a network with no route out, Docker's embedded DNS answers the run's own names at once and
# can only time out forwarding any other: with glibc's default (5 s, 2 attempts, per lookup and per
# pip retry) each pip run there waited about 70 s for the same "Temporary failure in name
# resolution". One short try gives the same error, in seconds.
NO_ROUTE_RESOLVER = ("timeout:1", "attempts:1")


class DockerEngine:
    """The Docker engine DOCKER_HOST (or the default socket) names, through the docker SDK.

    Two clients: one with a long timeout for builds and cell containers (a step downloading a
    large wheel may print nothing for minutes), one with a short timeout for everything that
    should answer at once, so a hung engine is noticed instead of waited on.
    """

    def __init__(
        self,
        run_id: str,
        api_timeout: int = 3600,
        base_url: str | None = None,
        owner: str = "",
    ) -> None:
        self.run_id = run_id
        self.owner = owner  # '' only for `clean`, which removes by run id as the user asks
        self.gone = False  # the engine stopped answering (see alive)
        self._internal: set[str] = set()  # this engine's networks with no route out
        try:
            if base_url:
                self.client = docker.DockerClient(base_url=base_url, timeout=api_timeout)
                self.quick = docker.DockerClient(base_url=base_url, timeout=QUICK_TIMEOUT)
                self.probe = docker.DockerClient(base_url=base_url, timeout=PING_TIMEOUT)
            else:
                self.client = docker.from_env(timeout=api_timeout)
                self.quick = docker.from_env(timeout=QUICK_TIMEOUT)
                self.probe = docker.from_env(timeout=PING_TIMEOUT)
            self.quick.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerUnavailable(
                f"no Docker engine answers ({e}).\n  hint: start one (e.g. 'dockerd &' as root, "
                "or 'systemctl start docker') and check that DOCKER_HOST points at it"
            ) from None

    def labels(self, role: str) -> dict[str, str]:
        return run_labels(self.run_id, self.owner, role)

    # -- images ---------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        try:
            self.quick.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def image_id(self, ref: str) -> str:
        """The image's content id ('' if there is none by that name)."""
        try:
            return str(self.quick.images.get(ref).id)
        except docker.errors.ImageNotFound:
            return ""

    def image_labels(self, ref: str) -> dict[str, str]:
        try:
            labels: dict[str, str] = self.quick.images.get(ref).labels or {}
            return labels
        except docker.errors.ImageNotFound:
            return {}

    def pull(self, ref: str) -> str | None:
        """Pull ref; None on success, else the registry's reason."""
        try:
            self.client.images.pull(ref)
            return None
        except docker.errors.APIError as e:
            return str(e.explanation or e)

    def import_rootfs(
        self, tarball: Path, ref: str, labels: dict[str, str], platform: str = "linux/amd64"
    ) -> None:
        """A root file system (a tar of it) as the image `ref` of `platform`: loaded as a
        one-layer image whose config names its architecture, as `docker pull --platform` would
        have it (`docker import` names the engine's own, whatever the files are built for)."""
        try:
            with tempfile.TemporaryDirectory(prefix="repromatrix-load-", dir=tarball.parent) as tmp:
                archive = Path(tmp) / "image.tar"
                _image_archive(tarball, ref, labels, platform, archive)
                with archive.open("rb") as data:
                    for _ in self.client.api.load_image(data):
                        pass
        except (docker.errors.APIError, requests.exceptions.RequestException, OSError) as e:
            raise InfraError(f"docker load of {ref} failed: {e}") from None
        if not self.image_exists(ref):
            raise InfraError(f"docker load of {ref} left no image of that name")

    def build(
        self,
        context: Path,
        tag: str,
        network: str | None,
        labels: dict[str, str],
        *,
        target: str | None = None,
        nocache: bool = False,
        dockerfile: str | None = None,
        buildargs: Mapping[str, str] | None = None,
    ) -> BuildResult:
        """Build `context` (with `dockerfile` instead of its own Dockerfile, if given)."""
        args = dict(buildargs or {})
        result = self._build_once(context, tag, network, labels, target, nocache, dockerfile, args)
        if not result.ok and "unknown parent image ID" in result.error:
            # Another run's cleanup removed a cached layer this build started from; the
            # second attempt rebuilds that layer.
            result = self._build_once(
                context, tag, network, labels, target, nocache, dockerfile, args
            )
        return result

    def _build_once(
        self,
        context: Path,
        tag: str,
        network: str | None,
        labels: dict[str, str],
        target: str | None,
        nocache: bool,
        dockerfile: str | None,
        buildargs: dict[str, str],
    ) -> BuildResult:
        log: list[str] = []
        step = ""
        where: dict[str, Any] = {"path": str(context)}
        if dockerfile is not None:
            where = {"fileobj": _context_tar(context, dockerfile), "custom_context": True}
        try:
            for chunk in self.client.api.build(
                tag=tag,
                rm=True,
                forcerm=True,
                network_mode=network,
                labels=labels,
                decode=True,
                target=target,
                nocache=nocache,
                buildargs=buildargs,
                **where,
            ):
                text = ANSI.sub("", chunk.get("stream") or chunk.get("status") or "")
                log.append(text)
                if text.startswith("Step "):
                    step = text.split(" : ", 1)[-1].strip()
                if "error" in chunk:
                    error = str(chunk["error"])
                    fault = engine_fault_in(error)
                    return BuildResult(False, "".join(log) + error, step, error, fault)
        except (docker.errors.APIError, requests.exceptions.RequestException) as e:
            return BuildResult(False, "".join(log) + f"\n{e}", step, str(e), str(e) or "no answer")
        return BuildResult(True, "".join(log))

    def touch_image(self, ref: str) -> None:
        """Mark a cache image as used now: tagging it again sets its last tag time, which the
        cache's least-recently-used eviction reads."""
        repo, _, tag = ref.rpartition(":")
        with contextlib.suppress(docker.errors.APIError):
            self.quick.images.get(ref).tag(repo, tag)

    def remove_image(self, ref: str) -> None:
        # Also removes the image's untagged parent layers, so a run leaves no dangling images;
        # layers a cache image holds stay, which is how setups outlive the run.
        with contextlib.suppress(docker.errors.APIError):
            self.quick.api.remove_image(ref, force=True)

    def cached_images(self, kind: str) -> list[CachedImage]:
        found = []
        # The low-level list, then one inspect each: an image removed in between (another run's
        # eviction, `clean`, a user's `docker rmi`) is skipped, not an error.
        for summary in self.quick.api.images(filters={"label": f"{LABEL_CACHE}={kind}"}):
            try:
                attrs = self.quick.api.inspect_image(summary["Id"])
            except docker.errors.NotFound:
                continue
            meta, labels = (
                attrs.get("Metadata") or {},
                (attrs.get("Config") or {}).get("Labels") or {},
            )
            size, key = int(attrs.get("Size") or 0), str(labels.get(LABEL_CACHE_KEY, ""))
            tags = [t for t in attrs.get("RepoTags") or [] if t != "<none>:<none>"]
            for ref in tags:
                found.append(
                    CachedImage(
                        ref, size, str(meta.get("LastTagTime") or attrs.get("Created") or ""), key
                    )
                )
            if not tags:  # a setup whose tag a rebuild moved to its successor
                found.append(
                    CachedImage(attrs["Id"], size, str(attrs.get("Created") or ""), key, stale=True)
                )
        return found

    # -- networks and containers -----------------------------------------------------------
    def create_network(self, name: str, internal: bool = False) -> str:
        """A bridge network; an internal one has no route out of it."""
        self.quick.networks.create(
            name, driver="bridge", internal=internal, labels=self.labels("network")
        )
        if internal:
            self._internal.add(name)
        return name

    @contextlib.contextmanager
    def container(
        self,
        image: str,
        *,
        name: str,
        role: str,
        network: str | None = None,
        aliases: tuple[str, ...] = (),
        ports: Mapping[str, tuple[str, int | None]] | None = None,
        mounts: dict[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        tmpfs: Mapping[str, str] | None = None,
        memory: str | None = None,
        volumes: Mapping[str, str] | None = None,
    ) -> Iterator[DockerBox]:
        """A started container that is removed on exit, also when starting it failed.

        mounts: host path → container path, read-only (secrets); env: variables added to the
        image's; tmpfs: mount point → tmpfs options, memory: a limit for memory and memory+swap,
        e.g. "32m" (the cell's resource limits); volumes: named volume → container path,
        writable (the download cache's store).
        """
        limits: dict[str, Any] = {"mem_limit": memory, "memswap_limit": memory} if memory else {}
        created = None
        binds = {host: {"bind": inside, "mode": "ro"} for host, inside in (mounts or {}).items()}
        named = {name: {"bind": inside, "mode": "rw"} for name, inside in (volumes or {}).items()}
        # Attach at creation: creating first and connecting later would also leave the container
        # on Docker's default bridge, a second way out that would defeat internal networks.
        wiring: dict[str, Any] = {}
        if network:
            endpoint = self.quick.api.create_endpoint_config(aliases=list(aliases) or None)
            wiring = {"network": network, "networking_config": {network: endpoint}}
        if network in self._internal:
            wiring["dns_opt"] = list(NO_ROUTE_RESOLVER)
        try:
            created = self.quick.containers.create(
                image,
                name=name,
                labels=self.labels(role),
                ports=ports or {},
                volumes=binds | named,
                environment=dict(env or {}),
                detach=True,
                tmpfs=dict(tmpfs or {}),
                **limits,
                **wiring,
            )
            created.start()
            yield DockerBox(self, created)
        finally:
            if created is not None and not self.gone:
                with contextlib.suppress(
                    docker.errors.APIError, requests.exceptions.RequestException
                ):
                    created.remove(force=True)

    def ensure_volume(self, name: str, labels: dict[str, str]) -> None:
        """A named volume kept across runs: made with `labels` the first time, reused after."""
        try:
            self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.client.volumes.create(name, labels=labels)

    def remove_volume(self, name: str) -> bool:
        """False when there is none, or a live run's container uses it (Docker refuses)."""
        with contextlib.suppress(docker.errors.APIError):  # NotFound is one
            self.client.volumes.get(name).remove()
            return True
        return False

    def run_to_end(
        self,
        image: str,
        *,
        name: str,
        network: str | None,
        timeout: float,
        mounts: dict[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        tmpfs: Mapping[str, str] | None = None,
        memory: str | None = None,
    ) -> ContainerResult:
        """Run a cell container to its end (or kill it at `timeout`) and return its output."""
        with self.container(
            image,
            name=name,
            role="cell",
            network=network,
            mounts=mounts,
            env=env,
            tmpfs=tmpfs,
            memory=memory,
        ) as box:
            waiting = self.client.containers.get(box.name)
            try:
                status = waiting.wait(timeout=timeout)
                code: int | None = int(status.get("StatusCode", -1))
                timed_out = False
            except requests.exceptions.ReadTimeout:
                with contextlib.suppress(docker.errors.APIError):
                    waiting.kill()
                code, timed_out = None, True
            output = box.logs()
        return ContainerResult(code, output, timed_out)

    # -- health ----------------------------------------------------------------------------
    def alive(self) -> bool:
        """Does the engine answer within PING_TIMEOUT? Once it has not, the engine counts as gone:
        clean-up calls are skipped rather than each waiting out its timeout on a hung engine."""
        try:
            answered = bool(self.probe.ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            answered = False
        self.gone = self.gone or not answered
        return answered

    def free_disk(self) -> int | None:
        """Free bytes where the engine keeps images, when that is a directory of this machine."""
        try:
            root = str(self.quick.info().get("DockerRootDir") or "")
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return None
        host = str(self.quick.api.base_url)
        if not root or not ("+unix" in host or host.startswith("unix")) or not Path(root).is_dir():
            return None  # a remote engine: its disk is not ours to measure
        return shutil.disk_usage(root).free

    def architecture(self) -> str:
        """The engine machine's architecture as `uname -m` names it ('' if it does not say)."""
        try:
            return str(self.quick.info().get("Architecture") or "")
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return ""

    def try_command(self, image: str, argv: list[str], timeout: float = 120) -> ContainerResult:
        """Run `argv` in a throwaway container of `image` (no network), to the end."""
        created = None
        try:
            created = self.quick.containers.create(
                image, argv, labels=self.labels("probe"), network_disabled=True, detach=True
            )
            created.start()
            status = created.wait(timeout=timeout)
            output = created.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            return ContainerResult(int(status.get("StatusCode", -1)), output)
        except requests.exceptions.ReadTimeout:
            return ContainerResult(None, "", timed_out=True)
        except docker.errors.APIError as e:
            return ContainerResult(None, str(e.explanation or e))
        finally:
            if created is not None:
                with contextlib.suppress(
                    docker.errors.APIError, requests.exceptions.RequestException
                ):
                    created.remove(force=True)

    def capacity(self) -> Capacity | None:
        """The engine machine's CPUs and memory; None if it does not say."""
        try:
            info = self.quick.info()
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return None
        cpus, memory = info.get("NCPU"), info.get("MemTotal")
        return (
            Capacity(int(cpus), int(memory))
            if isinstance(cpus, int) and isinstance(memory, int)
            else None
        )

    # -- cleanup ---------------------------------------------------------------------------
    @staticmethod
    def _remove_network(net: Any, attempts: int = 20) -> None:
        """Endpoints of just-removed containers can linger a moment; retry briefly."""
        for _ in range(attempts):
            try:
                net.remove()
                return
            except docker.errors.NotFound:
                return
            except docker.errors.APIError:
                time.sleep(0.5)

    # The listing calls below use the low-level API: its summaries need no inspect per item, so a
    # container or image another thread removes in between (a cell ending, another run's eviction)
    # is skipped rather than turned into NotFound half-way through a clean-up.
    def remove_containers(self, flt: Filters | None = None) -> int:
        boxes = self.quick.api.containers(all=True, filters=flt or self._run_filter())
        for box in boxes:
            with contextlib.suppress(docker.errors.APIError):
                self.quick.api.remove_container(box["Id"], force=True)
        return len(boxes)

    def stop_builds(self, network: str) -> int:
        """End the builds running on `network` now: a build's RUN step runs in a container of its
        own, unlabelled (the run's services and cells carry labels) but on the network the build
        uses."""
        steps = [
            box
            for box in self.quick.api.containers(filters={"network": network})
            if LABEL_RUN not in (box.get("Labels") or {})
        ]
        for box in steps:
            with contextlib.suppress(docker.errors.APIError):
                self.quick.api.remove_container(box["Id"], force=True)
        return len(steps)

    def _run_filter(self) -> Filters:
        return run_filter(self.run_id, self.owner)

    def cleanup(self, flt: Filters | None = None) -> dict[str, int]:
        """Remove every container, network and image of this run (or matching `flt`); counts.

        Safe to call twice.
        """
        flt = flt or self._run_filter()
        counts = {"containers": 0, "networks": 0, "images": 0}
        if self.gone:
            return counts
        try:
            counts["containers"] = self.remove_containers(flt)
            for net in self.quick.networks.list(filters=flt):
                self._remove_network(net)
                counts["networks"] += 1
            for image in self.quick.api.images(filters=flt):
                for tag in [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"] or [
                    image["Id"]
                ]:
                    self.remove_image(tag)
                counts["images"] += 1
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            # the engine is gone: nothing of it to remove now; `clean` or `--resume` does it later
            pass
        return counts
