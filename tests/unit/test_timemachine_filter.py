"""The date-filtering index (templates/timemachine_app.py's app, pypi-timemachine's filter) in front
of an index of the test's own on loopback: it serves exactly the files uploaded before TIME, with the
upstream's hashes, Requires-Python and yanked marks, in the JSON and HTML forms, for any time in its
path; times in another form are refused. The service in its container is tested in
tests/integration/test_as_of.py."""

from __future__ import annotations

import hashlib
import html
import http.server
import importlib.util
import json
import re
import threading
from collections.abc import Iterator
from types import ModuleType

import pytest

from repromatrix.core import asof
from repromatrix.core.templating import template_bytes
from repromatrix.judge.index import _upload_time

JSON = "application/vnd.pypi.simple.v1+json"
WHEN = "2024-03-13T18:02:00Z"
# (filename, upload-time as the upstream writes it, requires-python, yanked)
FILES = [
    ("demo-0.9-py3-none-any.whl", "2023-01-01T00:00:00.000000Z", ">=3.8", "broken metadata"),
    ("demo-1.0-py3-none-any.whl", "2024-03-13T18:01:59.999999Z", ">=3.9", False),
    # at TIME exactly: pip's --uploaded-prior-to and uv's --exclude-newer leave it out
    ("demo-1.1-py3-none-any.whl", "2024-03-13T18:02:00.000000Z", ">=3.9", False),
    ("demo-1.1.tar.gz", "2024-03-13T18:02:00.000001Z", ">=3.9", False),
    ("demo-2.0-py3-none-any.whl", "2025-01-01T00:00:00.000000Z", ">=3.10", True),
]


def _entry(name: str, uploaded: str, requires: str, yanked: bool | str) -> dict[str, object]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return {"filename": name, "url": f"../../packages/{name}", "hashes": {"sha256": digest},
            "requires-python": requires, "upload-time": uploaded, "yanked": yanked, "size": 10}


class Upstream(http.server.BaseHTTPRequestHandler):
    """One project's PEP 691 page (API 1.1, PEP 700's upload times), as an index serves it."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.rstrip("/") != "/simple/demo":
            self.send_error(404)
            return
        page = {"meta": {"api-version": "1.1"}, "name": "demo", "versions": ["0.9", "1.0", "1.1", "2.0"],
                "files": [_entry(*f) for f in FILES]}
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()


@pytest.fixture(scope="module")
def service(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from fastapi.testclient import TestClient  # the [test] extra installs pypi-timemachine and it

    path = tmp_path_factory.mktemp("app") / "timemachine_app.py"
    path.write_bytes(template_bytes("timemachine_app.py"))  # the file the service image runs
    spec = importlib.util.spec_from_file_location("timemachine_app", path)
    assert spec and spec.loader
    app: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    with TestClient(app.build_app(upstream, app.client())) as client:
        yield client


def _served(service: object, when: str, accept: str) -> object:
    response = service.get(f"/as-of/{when}/simple/demo/", headers={"Accept": accept})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return response


def test_it_serves_exactly_the_files_uploaded_before_the_time_with_their_hashes_and_marks(service):
    page = _served(service, WHEN, JSON).json()
    wanted = [f for f in FILES if _upload_time(f[1]) < asof.parsed(WHEN)]
    assert [f[0] for f in wanted] == ["demo-0.9-py3-none-any.whl", "demo-1.0-py3-none-any.whl"]
    got = {f["filename"]: f for f in page["files"]}
    assert sorted(got) == sorted(f[0] for f in wanted)
    for name, uploaded, requires, yanked in wanted:
        said = got[name]
        assert said["hashes"]["sha256"] == _entry(name, uploaded, requires, yanked)["hashes"]["sha256"]
        assert said["requires-python"] == requires
        # to the second: simple-repository-server writes no fraction (what it filters on has it)
        assert _upload_time(said["upload-time"]) == _upload_time(uploaded).replace(microsecond=0)
        assert said.get("yanked", False) == yanked  # the reason too, where the upstream gives one


def test_the_html_form_old_pips_read_carries_the_same_files_and_marks(service):
    page = _served(service, WHEN, "text/html").text
    links = dict(re.findall(r'<a href="[^"]*/([^/"#]+)#sha256=\w+"([^>]*)>', page))
    assert sorted(links) == ["demo-0.9-py3-none-any.whl", "demo-1.0-py3-none-any.whl"]
    assert f'data-requires-python="{html.escape(">=3.9")}"' in links["demo-1.0-py3-none-any.whl"]
    assert 'data-yanked="broken metadata"' in links["demo-0.9-py3-none-any.whl"]
    assert "data-yanked" not in links["demo-1.0-py3-none-any.whl"]


def test_a_time_given_in_another_timezone_is_the_same_instant_once_resolved(service):
    # --as-of resolves 19:02+01:00 to the UTC time the service's path holds
    resolved = asof.resolve("2024-03-13T19:02:00+01:00", asof.parsed(WHEN))
    assert resolved == WHEN
    a = _served(service, resolved, JSON).json()["files"]
    later = _served(service, asof.shifted(WHEN, 1), JSON).json()["files"]
    # a second later, the two files uploaded at TIME and a microsecond after it are in
    assert (len(a), len(later)) == (2, 4)


@pytest.mark.parametrize("when", ["2024-03-13T18:02:00", "2024-03-13", "2024-03-13T18:02:00+01:00", "P1D"])
def test_a_time_in_another_form_is_refused_not_read_as_some_time(service, when):
    response = service.get(f"/as-of/{when}/simple/demo/", headers={"Accept": JSON})
    assert response.status_code == 400 and "not a UTC time" in response.text


def test_a_project_the_upstream_lacks_is_a_404_and_does_not_stop_the_service(service, upstream, tmp_path):
    """A misspelt target: the service starts (its start-up count of dated files is 0 of 0) and
    answers 404 for it, as the upstream does, so the installer says so in its own words."""
    import asyncio

    path = tmp_path / "timemachine_app.py"
    path.write_bytes(template_bytes("timemachine_app.py"))
    spec = importlib.util.spec_from_file_location("timemachine_app_missing", path)
    assert spec and spec.loader
    app: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert asyncio.run(app.dated(upstream, "nosuch", None)) == (0, 0)
    assert asyncio.run(app.dated(upstream, "demo", None)) == (len(FILES), len(FILES))
    missing = service.get("/as-of/2024-01-01T00:00:00Z/simple/nosuch/", headers={"Accept": JSON})
    assert missing.status_code == 404
