"""The local model index and reading an index's releases (over real HTTP on loopback)."""

from __future__ import annotations

import functools
import hashlib
import html
import http.server
import io
import threading
import zipfile

import pytest
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from repromatrix.infra.hostca import parse_pip_config
from repromatrix.infra.localindex import TENSORFLOW, build_wheel, wheel_tags, write_index
from repromatrix.judge.index import fetch_releases
from repromatrix.judge.wheelmatch import CellTags, fits, newest_for


@pytest.fixture(scope="module")
def index_url(tmp_path_factory):
    root = write_index(tmp_path_factory.mktemp("index"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/simple/"
    server.shutdown()


def test_release_shape_follows_the_public_index(index_url):
    releases = fetch_releases(index_url, "tensorflow")
    assert releases.newest() == Version("2.21.0")
    assert newest_for(releases, CellTags("3.9")) == Version("2.20.0")  # 2.21 dropped 3.9
    assert newest_for(releases, CellTags("3.13")) == Version("2.21.0")
    assert fits(releases, Version("2.20.0"), CellTags("3.13"))
    assert not fits(releases, Version("2.19.0"), CellTags("3.13"))
    assert releases.only("<2.17").newest() == Version("2.16.1")


def test_wheels_are_valid_and_repeatable():
    release = next(r for r in TENSORFLOW if r.version == "2.21.0")
    tags = wheel_tags(release, "x86_64")
    assert tags[0] == "cp310-cp310-manylinux_2_27_x86_64"  # 2.21 is manylinux_2_27 only
    name, data = build_wheel(release, tags[0])
    assert build_wheel(release, tags[0]) == (name, data)
    assert parse_wheel_filename(name)[1] == Version("2.21.0")
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        meta = zf.read("tensorflow-2.21.0.dist-info/METADATA").decode()
    assert "Requires-Python: >=3.10" in meta and "Requires-Dist: protobuf>=6.31.1,<8.0.0" in meta


def test_simple_pages_carry_hashes_and_requires_python(index_url, tmp_path):
    import urllib.request

    page = urllib.request.urlopen(index_url + "numpy/").read().decode()
    assert "#sha256=" in page and 'data-requires-python="&gt;=3.10"' in page


def test_pip_config_cert_lines():
    text = ":env:.cert='/srv/corp/ca.pem'\n:env:.default-timeout='60'\nglobal.cert='/srv/corp/other.pem'\n"
    assert parse_pip_config(text) == [(":env:.cert", "/srv/corp/ca.pem"), ("global.cert", "/srv/corp/other.pem")]
    assert parse_pip_config("global.index-url='x'\n") == []


def test_detect_host_ca_follows_pips_configuration(monkeypatch, tmp_path):
    import os

    from repromatrix.infra.hostca import detect_host_ca

    ca = tmp_path / "corp-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no config files: only what we set here
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    assert detect_host_ca() is None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    assert detect_host_ca().source == "$REQUESTS_CA_BUNDLE"
    monkeypatch.setenv("PIP_CERT", str(ca))
    found = detect_host_ca()
    assert found is not None and found.path == ca and found.source == "PIP_CERT"


def test_model_keras_3_says_what_the_real_one_said():
    # The real upgrade's output (tests/data/capture) holds the model's messages word for word.
    from repromatrix.infra.localindex import KERAS3_LEGACY, KERAS3_SAVE
    from tests.conftest import DATA

    probe = (DATA / "capture" / "keras3-upgrade-probe.txt").read_text()
    assert f"ImportError: {KERAS3_LEGACY}" in probe
    assert f"ValueError: {KERAS3_SAVE.format(path='/tmp/model')}" in probe


@pytest.mark.parametrize("name, version, imports, module_version", [
    ("tf-nightly", "2.23.0.dev20261026", ["tensorflow"], "2.23.0-dev20261026"),
    ("keras", "3.15.1", ["keras"], "3.15.1"),
    ("nvidia-cublas-cu12", "12.5.3.2", ["nvidia"], "12.5.3.2"),
])
def test_model_distributions_import_under_their_own_names(name, version, imports, module_version):
    from repromatrix.infra.localindex import ALL_RELEASES, module_source

    release = next(r for r in ALL_RELEASES if (r.name, r.version) == (name, version))
    files = module_source(release)
    assert sorted({path.split("/")[0] for path in files}) == imports
    assert f"__version__ = {module_version!r}" in next(iter(files.values()))


def test_the_hosts_files_come_from_are_known_for_relative_and_absolute_links(index_url, tmp_path):
    # The local index links its files relatively (same host); PyPI's pages link files on another host.
    assert fetch_releases(index_url, "tensorflow").hosts == set()
    page = tmp_path / "simple" / "tensorflow"
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        '<a href="https://files.example/packages/aa/tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl#sha256=00">'
        "tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl</a>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        releases = fetch_releases(f"http://127.0.0.1:{server.server_port}/simple/", "tensorflow")
    finally:
        server.shutdown()
    assert releases.hosts == {"files.example"} and releases.only(">=2").hosts == {"files.example"}


def test_every_start_of_the_index_serves_the_same_last_modified(index_url):
    # uv revalidates a cached wheel against Last-Modified: a tree written afresh for a run must not
    # look newer than the one a reused setup's cache came from (cache: corrupted reads it back).
    import email.utils
    import urllib.request

    from repromatrix.infra.localindex import PUBLISHED
    listing = urllib.request.urlopen(index_url + "tensorflow/").read().decode()
    wheel = index_url + "tensorflow/" + listing.split('href="', 1)[1].split("#", 1)[0]
    for url in (index_url + "tensorflow/", wheel):
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
            said = response.headers["Last-Modified"]
        assert email.utils.parsedate_to_datetime(said).timestamp() == PUBLISHED, (url, said)


def test_every_wheel_has_its_metadata_beside_it_as_pypi_serves_it(index_url):
    # PEP 658/714: the link names the METADATA file's hash; the file is the wheel's own METADATA
    import re
    import urllib.request
    listing = urllib.request.urlopen(index_url + "tensorflow/").read().decode()
    links = re.findall(r'<a href="([^"#]+)#sha256=\w+"[^>]*data-dist-info-metadata="sha256=(\w+)" '
                       r'data-core-metadata="sha256=(\w+)"', listing)
    assert len(links) == listing.count("<a "), listing[:500]
    for href, old_name, said in links[:3] + links[-3:]:
        url = index_url + "tensorflow/" + href
        metadata = urllib.request.urlopen(url + ".metadata").read()
        assert old_name == said == hashlib.sha256(metadata).hexdigest()
        with zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(url).read())) as wheel:
            inside = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            assert wheel.read(inside) == metadata


def test_the_json_pages_list_the_html_pages_files_with_their_upload_times(tmp_path):
    # PEP 691 (JSON), at API 1.1 (PEP 700): the same files with the same hashes, Requires-Python
    # and metadata hashes as the HTML page, each with its size and upload time, in UTC
    import json
    import re

    from repromatrix.infra.localindex import BEFORE_ALL, DEPENDENCIES_UPLOADED, TENSORFLOW_UPLOADED
    root = write_index(tmp_path)
    for project in ("tensorflow", "tensorflow-gpu", "numpy", "protobuf"):
        page = json.loads((root / "simple" / project / "index.json").read_text())
        listing = (root / "simple" / project / "index.html").read_text()
        links = re.findall(r'<a href="\.\./\.\./packages/([^"#]+)#sha256=(\w+)"', listing)
        assert page["meta"] == {"api-version": "1.1"} and page["name"] == project
        assert [(f["filename"], f["hashes"]["sha256"]) for f in page["files"]] == links
        for entry in page["files"]:
            data = (root / "packages" / entry["filename"]).read_bytes()
            assert entry["size"] == len(data) and entry["url"] == "../../packages/" + entry["filename"]
            version = str(parse_wheel_filename(entry["filename"])[1]) if entry["filename"].endswith(".whl") else ""
            dependency = DEPENDENCIES_UPLOADED.get((project, version), BEFORE_ALL)
            dated = TENSORFLOW_UPLOADED[version] if project == "tensorflow" else dependency
            assert entry["upload-time"] == dated.replace("Z", ".000000Z"), entry
            said = re.search(re.escape(entry["filename"]) + r'#sha256=\w+"([^>]*)>', listing).group(1)
            if entry.get("requires-python"):
                assert f'data-requires-python="{html.escape(entry["requires-python"])}"' in said
            if "core-metadata" in entry:
                metadata = (root / "packages" / (entry["filename"] + ".metadata")).read_bytes()
                assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
            else:  # the tombstone's sdist has none
                assert entry["filename"].endswith(".tar.gz") and "core-metadata" not in said
        versions = {str(parse_wheel_filename(f["filename"])[1]) if f["filename"].endswith(".whl")
                    else str(parse_sdist_filename(f["filename"])[1]) for f in page["files"]}
        assert page["versions"] == sorted(versions, key=Version)
    index = json.loads((root / "simple" / "index.json").read_text())
    assert {"name": "tensorflow"} in index["projects"]
