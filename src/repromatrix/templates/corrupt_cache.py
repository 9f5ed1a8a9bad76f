"""Put a damaged copy of the wheel the upgrade will want into pip's HTTP cache, with pip's own code.

Runs at image build time for `cache: corrupted` cells, as the user who will upgrade, with that
user's python3 and pip (pip >= 20). pip caches a download only when the server's headers allow it,
and some networks (TLS-intercepting proxies among them) strip those headers: then a plain
`pip download` leaves nothing to damage. So this script asks pip which file the upgrade will
take (`pip install --dry-run --report`, or `pip download` on pip < 22.2), fetches it through a
session built from pip's own classes (PipSession, pip's SafeFileCache in the directory pip reads,
its vendored CacheControl) with a heuristic that marks the response fresh, so the entry is one
pip really reads back, whatever the network did to the headers. Then it flips bytes in the middle
of each cached wheel, as a full disk or a killed download can. Exits 1 (the cell is then
`setup-failed`, with this message) if any of that is impossible.

usage: corrupt_cache.py REQUIREMENT
"""

import inspect
import json
import os
import re
import subprocess
import sys
import tempfile


def fail(message):
    sys.exit("ERROR: repromatrix: " + message)


def pip_cache_root():
    if os.environ.get("PIP_CACHE_DIR"):
        return os.environ["PIP_CACHE_DIR"]
    from pip._internal.locations import USER_CACHE_DIR

    return USER_CACHE_DIR


def http_cache_dir(root):
    """The folder pip's own session caches HTTP responses in ('http', 'http-v2' from pip 23.3)."""
    for module in ("pip._internal.cli.index_command", "pip._internal.cli.req_command"):
        try:
            source = inspect.getsource(__import__(module, fromlist=["_"]))
        except Exception:  # noqa: BLE001 - a module this pip does not have
            continue
        match = re.search(r'cache_dir,\s*"(http[^"]*)"', source)
        if match:
            return os.path.join(root, match.group(1))
    return os.path.join(root, "http")


def pip_env():
    # A dry run must not stop at a PEP 668 marker: only the real upgrade should meet it.
    return dict(os.environ, PIP_BREAK_SYSTEM_PACKAGES="1", PIP_DISABLE_PIP_VERSION_CHECK="1")


def wanted_url(requirement, session):
    """The URL of the file `pip install --upgrade REQUIREMENT` would download."""
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                           "--quiet", "--report", "-", requirement], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=pip_env())
    if proc.returncode == 0 and proc.stdout.strip().startswith("{"):
        for item in json.loads(proc.stdout).get("install", []):
            url = (item.get("download_info") or {}).get("url", "")
            if url:
                return url.split("#")[0]
    # pip < 22.2 has no --report: download it, then find that file's link on the index page.
    folder = tempfile.mkdtemp(prefix="repromatrix-prefetch-")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", folder, requirement],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=pip_env())
    files = os.listdir(folder)
    if proc.returncode != 0 or not files:
        fail("pip could not download %s to find the file the upgrade wants:\n%s" % (requirement, proc.stdout[-2000:]))
    filename = files[0]
    name = re.sub(r"[-_.]+", "-", filename.split("-")[0]).lower()
    index = os.environ.get("PIP_INDEX_URL")
    if not index:
        from pip._internal.models.index import PyPI

        index = PyPI.simple_url
    page_url = index.rstrip("/") + "/" + name + "/"
    page = session.get(page_url, headers={"Accept": "text/html"})
    page.raise_for_status()
    for href in re.findall(r'href="([^"]+)"', page.text):
        if href.split("#")[0].rsplit("/", 1)[-1] == filename:
            from urllib.parse import urljoin

            return urljoin(page.url, href.split("#")[0])
    fail("%s is not linked from %s" % (filename, page_url))


def cache_through_pip(url, directory, session):
    """Fetch url once through pip's own cache code, marked fresh for a year."""
    from pip._internal.network.cache import SafeFileCache
    from pip._vendor.cachecontrol import CacheControlAdapter
    from pip._vendor.cachecontrol.heuristics import ExpiresAfter

    adapter = CacheControlAdapter(cache=SafeFileCache(directory), heuristic=ExpiresAfter(days=365))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # pip downloads with these headers; reading the body to its end is what stores it.
    response = session.get(url, headers={"Accept-Encoding": "identity"}, stream=True)
    response.raise_for_status()
    size = 0
    for chunk in response.iter_content(1024 * 1024):
        size += len(chunk)
    response.close()
    return size


def check_complete(directory, size, filename):
    """pip's cache swallows its own write errors: on a full disk it leaves a truncated temporary file
    and no entry, which pip later reads as a miss, not as the damage wanted (seen on a real index).
    Such a setup must fail, never be kept in the setup cache."""
    kept = largest_entry(directory)
    if kept < size:
        fail("pip's cache kept only %d of the %d bytes of %s (is the disk full?)" % (kept, size, filename))


def largest_entry(root):
    """The size of the largest file in pip's HTTP cache (the wheel's entry: headers and body)."""
    return max((os.path.getsize(os.path.join(folder, name)) for folder, _, files in os.walk(root) for name in files),
               default=0)


def damage(root):
    damaged = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                data = bytearray(fh.read())
            start = data.find(b"PK\x03\x04")  # a zip (wheel) body
            if start < 0:
                continue
            middle = start + (len(data) - start) // 2
            for i in range(middle, min(middle + 64, len(data))):
                data[i] ^= 0xFF
            with open(path, "wb") as fh:
                fh.write(bytes(data))
            damaged += 1
    return damaged


def main():
    if len(sys.argv) != 2:
        fail("usage: corrupt_cache.py REQUIREMENT")
    try:
        from pip._internal.network.session import PipSession
    except ImportError as e:
        fail("this pip is too old to fill its cache with its own code (%s); use pip >= 20" % e)
    # index_urls: pip's own auth handler then sends the index's credentials (from PIP_INDEX_URL)
    # for the files it links, as pip does when it downloads them.
    index = os.environ.get("PIP_INDEX_URL")
    try:
        session = PipSession(index_urls=[index] if index else None)
    except TypeError:  # a pip whose session takes no index_urls
        session = PipSession()
    session.verify = os.environ.get("PIP_CERT") or True
    if index:
        # pip remembers an index's credentials per host once it has read a page under it; its files
        # (elsewhere on that host) then get them too, as in pip's own downloads.
        session.get(index, headers={"Accept": "text/html"}).close()
    url = wanted_url(sys.argv[1], session)
    directory = http_cache_dir(pip_cache_root())
    check_complete(directory, cache_through_pip(url, directory, session), url.rsplit("/", 1)[-1])
    damaged = damage(directory)
    if not damaged:
        fail("pip kept no cached wheel under %s to damage" % directory)
    print("repromatrix: cached %s with pip's own cache code and damaged %d cached wheel(s) under %s"
          % (url.rsplit("/", 1)[-1], damaged, directory))


if __name__ == "__main__":
    main()
