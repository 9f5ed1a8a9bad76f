"""repromatrix: leave installed distributions as an older installer would have left them.

usage: legacy_install.py distutils|no-record NAME...

Runs in a cell's setup, after pip installed NAME. Standard library only (Python 3.8+).
- distutils: what `python setup.py install` with plain distutils leaves: the modules, and one
  egg-info *file* (PKG-INFO) instead of a dist-info directory; nothing lists the files, so pip
  refuses to uninstall it ("It is a distutils installed project").
- no-record: what some OS packages leave: a dist-info without RECORD whose INSTALLER names the
  package manager ("RECORD file not found. Hint: The package was installed by debian.").
"""

import importlib.metadata as md
import os
import re
import shutil
import sys


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def find(name):
    for dist in md.distributions():
        if norm(dist.metadata["Name"] or "") == norm(name):
            return dist
    sys.exit("legacy_install: %s is not installed" % name)


def as_distutils(dist):
    info = str(dist._path)  # the .dist-info directory
    site = os.path.dirname(info)
    meta = dist.metadata
    egg = os.path.join(site, "%s-%s-py%d.%d.egg-info" % (meta["Name"].replace("-", "_"), meta["Version"],
                                                         sys.version_info[0], sys.version_info[1]))
    with open(egg, "w") as fh:  # distutils' install_egg_info writes PKG-INFO as a single file
        fh.write("Metadata-Version: 1.1\nName: %s\nVersion: %s\nSummary: %s\nPlatform: UNKNOWN\n"
                 % (meta["Name"], meta["Version"], meta["Summary"] or "UNKNOWN"))
    shutil.rmtree(info)
    print("legacy_install: %s %s is now a distutils install (%s)" % (meta["Name"], meta["Version"], egg))


def without_record(dist):
    info = str(dist._path)
    os.remove(os.path.join(info, "RECORD"))
    with open(os.path.join(info, "INSTALLER"), "w") as fh:
        fh.write("debian\n")
    print("legacy_install: %s %s has no RECORD, INSTALLER debian" % (dist.metadata["Name"], dist.version))


def main(mode, names):
    how = {"distutils": as_distutils, "no-record": without_record}[mode]
    for name in names:
        how(find(name))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
