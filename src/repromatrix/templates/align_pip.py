"""Give a stand-in interpreter the pip its official image has (run at image build time).

The official python:X.Y-slim images install a given pip (23.0.1 for 3.8-3.11) for the interpreter
and in ensurepip, which every `python3 -m venv` copies; an old micro version built from source
(3.9.2 bundles pip 20.2.3, which cannot read manylinux_2_x tags) would otherwise make the
offline cells differ from the same cells where a registry answers. Does nothing when the
interpreter's own pip is at least that version; checks the result with a real venv.

usage: align_pip.py PIP_WHEEL
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def version_tuple(text):
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def main():
    wheel = sys.argv[1]
    wanted = os.path.basename(wheel).split("-")[1]
    import ensurepip

    bundled = ensurepip.version()
    if version_tuple(bundled) >= version_tuple(wanted):
        print("align_pip: ensurepip has pip %s, nothing to do" % bundled)
        return
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--no-index", "--no-cache-dir", wheel])
    folder = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    for name in os.listdir(folder):
        if name.startswith("pip-"):
            os.remove(os.path.join(folder, name))
    shutil.copy(wheel, folder)
    init = os.path.join(os.path.dirname(ensurepip.__file__), "__init__.py")
    with open(init) as fh:
        source = fh.read()
    source = re.sub(r'_PIP_VERSION = "[^"]+"', '_PIP_VERSION = "%s"' % wanted, source)
    source = source.replace('("pip", _PIP_VERSION, "py2.py3")', '("pip", _PIP_VERSION, "py3")')
    with open(init, "w") as fh:
        fh.write(source)
    venv = tempfile.mkdtemp()
    subprocess.check_call([sys.executable, "-m", "venv", venv])
    got = subprocess.check_output([os.path.join(venv, "bin", "python"), "-m", "pip", "--version"]).decode()
    shutil.rmtree(venv)
    if not got.startswith("pip %s " % wanted):
        sys.exit("align_pip: a new venv has %s, not pip %s" % (got.strip(), wanted))
    print("align_pip: pip %s -> %s, for the interpreter and for new venvs" % (bundled, wanted))


if __name__ == "__main__":
    main()
