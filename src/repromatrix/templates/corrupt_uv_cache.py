"""Put a damaged copy of the wheel the upgrade will want into uv's cache, with uv itself.

Runs at image build time for `cache: corrupted` uv cells, as the user who will upgrade, with the
cell's python3 and uv and its variables (index, CA, constraint). uv keeps every wheel it installs
unpacked in its cache (`archive-v0/<id>/`) and installs later copies from there, hard-linked or
copied, without checking the files against the wheel's hashes again; so this script lets uv
install the target (`--no-deps`, as the upgrade resolves it for this interpreter) into a
throwaway venv, which fills the cache as the user's own earlier install would have, then puts
zero bytes into the middle of the cached copy of the target's top-level `__init__.py`, as a full
disk or a killed unpack can. uv's later upgrade installs that file; the target then fails to
import. Exits 1 (the cell is then `setup-failed`, with this message) if any of that is
impossible.

usage: corrupt_uv_cache.py REQUIREMENT
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

DAMAGE = 64  # bytes zeroed


def fail(message):
    sys.exit("ERROR: repromatrix: " + message)


def uv(*args):
    proc = subprocess.run(["uv", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if proc.returncode != 0:
        fail("uv %s failed (exit %d): %s" % (" ".join(args), proc.returncode, proc.stdout[-2000:]))
    return proc.stdout


def installed_dist_info(venv):
    """The `<name>-<version>.dist-info` directory uv installed into the throwaway venv: the only
    one there (`--no-deps`, and uv's venvs start empty), in whatever spelling the wheel has."""
    found = glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "*.dist-info"))
    if len(found) != 1:
        fail("uv installed %d distributions into a fresh venv, not the target alone: %s"
             % (len(found), ", ".join(sorted(os.path.basename(p) for p in found)) or "none"))
    return os.path.basename(found[0])


def cached_copy(cache, dist_info):
    """The folder of uv's cache holding the unpacked wheel with that dist-info."""
    found = glob.glob(os.path.join(cache, "archive-v*", "*", dist_info))
    if not found:
        fail("uv's cache (%s) holds no unpacked %s: this uv keeps its cache another way" % (cache, dist_info))
    return os.path.dirname(found[0])


def top_level_init(copy, dist_info):
    """The `__init__.py` that `import <target>` reads first: of the top-level package holding
    most of the wheel's files (its RECORD)."""
    counts = {}
    with open(os.path.join(copy, dist_info, "RECORD")) as record:
        for line in record:
            path = line.split(",")[0]
            parts = path.split("/")
            if len(parts) > 1 and not parts[0].endswith((".dist-info", ".data")):
                counts[parts[0]] = counts.get(parts[0], 0) + 1
    for top in sorted(counts, key=lambda t: (t.startswith("_"), -counts[t], t)):
        init = os.path.join(copy, top, "__init__.py")
        if os.path.isfile(init) and os.path.getsize(init) > 0:
            return init
    fail("the cached %s has no package __init__.py to damage" % dist_info)


def damage(path):
    """Zero bytes in the middle of the file, in place: every hard link to it (the cache's own
    copy) sees the damage."""
    size = os.path.getsize(path)
    start = max(0, size // 2 - DAMAGE // 2)
    with open(path, "r+b") as f:
        f.seek(start)
        f.write(b"\0" * min(DAMAGE, size - start))


def main():
    if len(sys.argv) != 2:
        fail("usage: corrupt_uv_cache.py REQUIREMENT")
    requirement = sys.argv[1]
    cache = uv("cache", "dir").strip().splitlines()[-1]
    work = tempfile.mkdtemp(prefix="repromatrix-uv-cache-")
    try:
        venv = os.path.join(work, "venv")
        uv("venv", "--quiet", "--python", sys.executable, venv)
        uv("pip", "install", "--quiet", "--python", os.path.join(venv, "bin", "python"), "--no-deps",
           requirement)
        dist_info = installed_dist_info(venv)
        init = top_level_init(cached_copy(cache, dist_info), dist_info)
        damage(init)
        print("repromatrix: damaged %s in uv's cache (%d zero bytes in the middle)" % (init, DAMAGE))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
