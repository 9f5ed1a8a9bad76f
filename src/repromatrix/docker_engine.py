"""The only module that talks to Docker (through the docker SDK).

Everything it creates carries the run's labels so `cleanup` (also on Ctrl-C) finds it.
Errors carry their evidence: build logs, container output, exit status.
"""

from __future__ import annotations

import contextlib
import io
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from .errors import DockerUnavailable, InfraError

LABEL_RUN = "org.repromatrix.run"
LABEL_ROLE = "org.repromatrix.role"
LABEL_BASE = "org.repromatrix.base"
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the builder colours a step's stderr


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    log: str
    failed_step: str = ""  # the Dockerfile instruction that failed, as the builder printed it
    error: str = ""


@dataclass(frozen=True)
class ContainerResult:
    exit_code: int | None  # None when we had to kill it
    output: str
    timed_out: bool = False


class Engine:
    def __init__(self, run_id: str, api_timeout: int = 3600) -> None:
        self.run_id = run_id
        try:
            # Generous: a build step downloading a large wheel may print nothing for minutes.
            self.client = docker.from_env(timeout=api_timeout)
            self.client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerUnavailable(
                f"no Docker engine answers ({e}).\n  hint: start one (e.g. 'dockerd &' as root, "
                "or 'systemctl start docker') and check that DOCKER_HOST points at it") from None

    def labels(self, role: str) -> dict[str, str]:
        return {LABEL_RUN: self.run_id, LABEL_ROLE: role}

    # -- images ---------------------------------------------------------------------------
    def image_exists(self, ref: str) -> bool:
        try:
            self.client.images.get(ref)
            return True
        except docker.errors.ImageNotFound:
            return False

    def image_labels(self, ref: str) -> dict[str, str]:
        try:
            labels: dict[str, str] = self.client.images.get(ref).labels or {}
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

    def import_rootfs(self, tarball: Path, ref: str, labels: dict[str, str]) -> None:
        repo, _, tag = ref.rpartition(":")
        changes = ['CMD ["bash"]'] + [f'LABEL {k}="{v}"' for k, v in labels.items()]
        try:
            self.client.api.import_image_from_file(str(tarball), repository=repo, tag=tag, changes=changes)
        except docker.errors.APIError as e:
            raise InfraError(f"docker import of {ref} failed: {e.explanation or e}") from None

    def build(self, context: Path, tag: str, network: str | None, labels: dict[str, str]) -> BuildResult:
        result = self._build_once(context, tag, network, labels)
        if not result.ok and "unknown parent image ID" in result.error:
            # Another run's cleanup removed a cached layer this build started from; the
            # second attempt rebuilds that layer.
            result = self._build_once(context, tag, network, labels)
        return result

    def _build_once(self, context: Path, tag: str, network: str | None, labels: dict[str, str]) -> BuildResult:
        log: list[str] = []
        step = ""
        try:
            for chunk in self.client.api.build(path=str(context), tag=tag, rm=True, forcerm=True,
                                               network_mode=network, labels=labels, decode=True):
                text = ANSI.sub("", chunk.get("stream") or chunk.get("status") or "")
                log.append(text)
                if text.startswith("Step "):
                    step = text.split(" : ", 1)[-1].strip()
                if "error" in chunk:
                    return BuildResult(False, "".join(log) + chunk["error"], step, chunk["error"])
        except (docker.errors.APIError, requests.exceptions.RequestException) as e:
            return BuildResult(False, "".join(log) + f"\n{e}", step, str(e))
        return BuildResult(True, "".join(log))

    def remove_image(self, ref: str) -> None:
        # Also removes the image's untagged parent layers, so a run leaves no dangling images;
        # cells share those layers while the run lasts, which is why images go at the end.
        with contextlib.suppress(docker.errors.APIError):
            self.client.api.remove_image(ref, force=True)

    # -- networks and containers -----------------------------------------------------------
    def create_network(self, name: str, internal: bool = False) -> str:
        """A bridge network; an internal one has no route out of it."""
        self.client.networks.create(name, driver="bridge", internal=internal, labels=self.labels("network"))
        return name

    def connect(self, box: Any, network: str, aliases: tuple[str, ...] = ()) -> None:
        self.client.networks.get(network).connect(box, aliases=list(aliases))

    def read_file(self, box: Any, path: str) -> str:
        """A text file from inside a container ('' if it is not there)."""
        try:
            stream, _ = box.get_archive(path)
        except docker.errors.APIError:
            return ""
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            return member.read().decode("utf-8", "replace") if member else ""

    @contextlib.contextmanager
    def container(self, image: str, *, name: str, role: str, network: str | None = None,
                  aliases: tuple[str, ...] = (), ports: dict[str, Any] | None = None,
                  mounts: dict[str, str] | None = None) -> Iterator[Any]:
        """A started container that is removed on exit, also when starting it failed.

        mounts: host path → container path, read-only (secrets).
        """
        created = None
        volumes = {host: {"bind": inside, "mode": "ro"} for host, inside in (mounts or {}).items()}
        # Attach at creation: creating first and connecting later would also leave the container
        # on Docker's default bridge, a second way out that would defeat internal networks.
        wiring: dict[str, Any] = {}
        if network:
            endpoint = self.client.api.create_endpoint_config(aliases=list(aliases) or None)
            wiring = {"network": network, "networking_config": {network: endpoint}}
        try:
            created = self.client.containers.create(image, name=name, labels=self.labels(role), ports=ports or {},
                                                    volumes=volumes, detach=True, **wiring)
            created.start()
            yield created
        finally:
            if created is not None:
                with contextlib.suppress(docker.errors.APIError):
                    created.remove(force=True)

    def run_to_end(self, image: str, *, name: str, network: str | None, timeout: float,
                   mounts: dict[str, str] | None = None) -> ContainerResult:
        """Run a cell container to its end (or kill it at `timeout`) and return its output."""
        with self.container(image, name=name, role="cell", network=network, mounts=mounts) as box:
            try:
                status = box.wait(timeout=timeout)
                code: int | None = int(status.get("StatusCode", -1))
                timed_out = False
            except requests.exceptions.RequestException:
                with contextlib.suppress(docker.errors.APIError):
                    box.kill()
                code, timed_out = None, True
            output = box.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return ContainerResult(code, output, timed_out)

    def published_port(self, box: Any, port: str) -> int:
        box.reload()
        return int(box.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])

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

    def remove_containers(self, flt: dict[str, str] | None = None) -> int:
        boxes = self.client.containers.list(all=True, filters=flt or self._run_filter())
        for box in boxes:
            with contextlib.suppress(docker.errors.APIError):
                box.remove(force=True)
        return len(boxes)

    def _run_filter(self) -> dict[str, str]:
        return {"label": f"{LABEL_RUN}={self.run_id}"}

    def cleanup(self, flt: dict[str, str] | None = None) -> dict[str, int]:
        """Remove every container, network and image of this run (or matching `flt`); counts.

        Safe to call twice.
        """
        flt = flt or self._run_filter()
        counts = {"containers": self.remove_containers(flt), "networks": 0, "images": 0}
        for net in self.client.networks.list(filters=flt):
            self._remove_network(net)
            counts["networks"] += 1
        for image in self.client.images.list(filters=flt):
            for tag in image.tags or [image.id]:
                self.remove_image(tag)
            counts["images"] += 1
        return counts
