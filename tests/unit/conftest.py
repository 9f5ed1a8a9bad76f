"""Unit tests keep what repromatrix stores on the machine (run locks, kept CAs) to themselves."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("REPROMATRIX_CACHE_DIR")
    os.environ["REPROMATRIX_CACHE_DIR"] = str(tmp_path_factory.mktemp("repromatrix-cache"))
    yield
    if before is None:
        del os.environ["REPROMATRIX_CACHE_DIR"]
    else:
        os.environ["REPROMATRIX_CACHE_DIR"] = before


class _SimpleIndex(http.server.SimpleHTTPRequestHandler):
    """The local index's tree as an index serves it: a project's JSON page (PEP 691) to an
    installer that asks for it, its HTML page otherwise, 404 for a project it does not have."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        folder = Path(self.directory) / self.path.lstrip("/").split("?")[0]
        page = folder / "index.json"
        if "json" in self.headers.get("Accept", "") and page.is_file():
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def local_index_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built-in model index on loopback: its simple/ URL."""
    from repromatrix.infra.localindex import write_index

    root = write_index(tmp_path_factory.mktemp("local-index"))
    handler = functools.partial(_SimpleIndex, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple/"
    server.shutdown()
