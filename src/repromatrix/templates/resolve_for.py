"""repromatrix: pip, with another platform's environment markers (standard library only).

pip chooses wheels for another platform with --platform, --python-version, --implementation and
--abi, but evaluates environment markers (`; platform_system == "Windows"`) as on the machine it
runs on (pypa/pip#11664). This runs the pip of this python3 with the markers in markers.json
beside it (that platform's), the way pex resolves for foreign platforms: everything else is pip's
own. Usage: python3 resolve_for.py PIP-ARGUMENTS...
"""

import json
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "markers.json")) as fh:
    MARKERS = json.load(fh)

from pip._vendor.packaging import markers  # noqa: E402  (pip vendors the packaging it evaluates with)


def default_environment():
    return dict(MARKERS)


markers.default_environment = default_environment
sys.argv = ["pip"] + sys.argv[1:]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
