"""A fake Docker engine on a unix socket: the real docker SDK talks to it over HTTP, and it
records every request, so a test can show what repromatrix asked of an engine it was pointed
at, and what it removed.

It holds an inventory of containers, networks and images with labels, answers the list calls
with Docker's label filters (every `label` entry must match), removes what it is told to
(keeping what it removed, with its labels), and fails every build with a 500: it is for what a
run does *around* its cells (resume's clean-up, Ctrl-C, the end of a run), not for cells.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API = "1.43"
_VERSIONED = re.compile(r"^/v[0-9.]+")


@dataclass
class Thing:
    """A container, network or image of the fake engine."""

    kind: str  # "container", "network", "image"
    id: str
    name: str
    labels: dict[str, str]
    network: str = ""  # a container's

    def matches(self, filters: dict[str, list[str]]) -> bool:
        for wanted in filters.get("label", []):
            key, eq, value = wanted.partition("=")
            if key not in self.labels or (eq and self.labels[key] != value):
                return False
        networks = filters.get("network", [])
        return not networks or self.network in networks


@dataclass
class Request:
    method: str
    path: str  # without the API version prefix
    query: dict[str, list[str]]

    @property
    def filters(self) -> dict[str, list[str]]:
        raw = self.query.get("filters", ["{}"])[0]
        return {k: v if isinstance(v, list) else list(v) for k, v in json.loads(raw).items()}


@dataclass
class FakeDockerd:
    socket: Path
    things: list[Thing] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    removed: list[Thing] = field(default_factory=list)
    broken: bool = False  # answer 500 to everything but the ping: an engine in trouble
    _ids: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, name: str, labels: dict[str, str], network: str = "") -> Thing:
        thing = Thing(kind, f"{kind}{next(self._ids):060d}", name, dict(labels), network)
        self.things.append(thing)
        return thing

    def present(self, thing: Thing) -> bool:
        return thing in self.things

    # -- the API, as much of it as a run's housekeeping uses ---------------------------------
    def answer(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> tuple[int, Any]:
        with self._lock:
            request = Request(method, path, query)
            self.requests.append(request)
            return self._route(request, body)

    def _route(self, r: Request, body: bytes) -> tuple[int, Any]:  # noqa: C901, PLR0911 - a router
        if r.path == "/_ping":
            return 200, "OK"
        if r.path == "/version":
            return 200, {"ApiVersion": API, "MinAPIVersion": "1.12", "Version": "24.0.0", "Os": "linux"}
        if self.broken:
            return 500, {"message": "the fake engine is in trouble"}
        if r.path == "/info":
            return 200, {"NCPU": 2, "MemTotal": 8 * 2**30, "DockerRootDir": ""}
        listing = {"/containers/json": "container", "/networks": "network", "/images/json": "image"}
        if r.method == "GET" and r.path in listing:
            found = [t for t in self.things if t.kind == listing[r.path] and t.matches(r.filters)]
            return 200, [self._summary(t) for t in found]
        if r.method == "POST" and r.path == "/networks/create":
            spec = json.loads(body or b"{}")
            return 201, {"Id": self.add("network", spec["Name"], spec.get("Labels") or {}).id}
        if r.method == "POST" and r.path == "/build":
            return 500, {"message": "the fake engine builds nothing"}
        kind, _, ref = r.path.strip("/").partition("/")
        ref, _, action = ref.partition("/") if kind != "images" else self._image_ref(ref)
        thing = self._find({"containers": "container", "networks": "network", "images": "image"}.get(kind, ""),
                           unquote(ref))
        if thing is None:
            noun = {"images": "image", "containers": "container"}.get(kind, "network")
            return 404, {"message": f"No such {noun}: {ref}"}  # the SDK's NotFound types read it
        if r.method == "DELETE":
            self.things.remove(thing)
            self.removed.append(thing)
            return 200 if kind == "images" else 204, [{"Deleted": thing.id}] if kind == "images" else None
        if r.method == "GET" and action == "json" or (kind == "networks" and not action):
            return 200, self._inspect(thing)
        return 404, {"message": f"the fake engine does not do {r.method} {r.path}"}

    @staticmethod
    def _image_ref(rest: str) -> tuple[str, str, str]:
        if rest.endswith("/json"):
            return rest[: -len("/json")], "/", "json"
        return rest, "", ""

    def _find(self, kind: str, ref: str) -> Thing | None:
        for t in self.things:
            if t.kind == kind and ref in (t.id, t.name, t.id[:12]):
                return t
        return None

    @staticmethod
    def _summary(t: Thing) -> dict[str, Any]:
        if t.kind == "container":
            return {"Id": t.id, "Names": [f"/{t.name}"], "Labels": t.labels}
        if t.kind == "network":
            return {"Id": t.id, "Name": t.name, "Labels": t.labels}
        return {"Id": t.id, "RepoTags": [t.name], "Labels": t.labels, "Size": 1}

    @staticmethod
    def _inspect(t: Thing) -> dict[str, Any]:
        return {"Id": t.id, "Name": t.name, "Labels": t.labels, "RepoTags": [t.name],
                "Config": {"Labels": t.labels}, "Size": 1, "Metadata": {}}

    # -- what a test asserts ----------------------------------------------------------------
    def touched(self, thing: Thing) -> bool:
        return thing in self.removed or not self.present(thing)

    def changes(self) -> list[Request]:
        """Every request that would change the engine (anything but a read)."""
        return [r for r in self.requests if r.method in ("POST", "DELETE", "PUT")]


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeDockerd


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = self._chunked()
        status, payload = self.server.engine.answer(
            self.command, _VERSIONED.sub("", url.path), parse_qs(url.query), body
        )
        data = b"" if payload is None else (payload.encode() if isinstance(payload, str)
                                             else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("Api-Version", API)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunked(self) -> bytes:
        out = b""
        while (size := int(self.rfile.readline().strip() or b"0", 16)) > 0:
            out += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return out

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _serve

    def address_string(self) -> str:
        return "fake-dockerd"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return None


@contextlib.contextmanager
def fake_dockerd(socket: Path) -> Iterator[FakeDockerd]:
    engine = FakeDockerd(socket)
    server = _Server(str(socket), _Handler)
    server.engine = engine
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        server.shutdown()
        server.server_close()
        socket.unlink(missing_ok=True)
