"""The built-in offline index: model wheels shaped like TensorFlow 2.12–2.22rc0, 2.8.0 and 2.8.4.

They are not TensorFlow. They copy what decides an upgrade's fate: which Python each
release has wheels for (cpXY tags, Requires-Python; checked against the public index's file
list: cp312 from 2.16, cp313 from 2.20, cp39 until 2.20, cp314 only in 2.22.0rc0 and the
nightlies), the Linux platform tag (2.21 is manylinux_2_27 only) and the numpy/protobuf/keras
pins from each release's METADATA. Importing a model release built against NumPy 1 with
NumPy 2 installed fails as the real one does. Also modelled:
- the upload times of every file (PEP 700), for --as-of and bisect: TensorFlow's releases in the
  months of their public namesakes, and a dated history of dependencies in which protobuf 4.21.1's
  upload breaks a fresh install of 2.8.0 at import, as it did on the public index, and 4.21.0 is
  yanked as there (DEPENDENCIES_UPLOADED);
- `tf-nightly`, whose import name (`tensorflow`) differs from its name and whose
  `__version__` has the nightlies' spelling ('2.23.0-dev20261026');
- the `and-cuda` extra (2.14+), pulling an `nvidia-*` distribution that imports as `nvidia`;
- Keras 2 (tf.keras until 2.15) and Keras 3 (from 2.16), with the break seen on the real
  upgrade: Keras 3 refuses `keras.optimizers.legacy` and saving a model without an extension.
- `tensorflow-gpu`: 2.10.1 wheels that write the same `tensorflow/` package as `tensorflow`, and
  the 2.12.0 tombstone, an sdist whose setup.py fails on purpose with the real message.
- `tf-models-official` and `tensorflow-text`, 400 releases each whose pins cross-conflict (each
  tf-models-official 2.M needs tensorflow>=2.M and tensorflow-text~=2.M.0, whose every release needs
  tensorflow<2.M), so pip backtracks through them one by one for about a minute before the oldest
  (2.5.x, which fits) resolves: the resolver's "This is taking longer than usual".

The tree is a static PEP 503 repository (with sha256 fragments and data-requires-python),
served over HTTPS with a per-run CA (tlsca) by nginx in a container (see pipeline).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import html
import io
import json
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from .wheelcache import fetch_wheel

INDEX_HOST = "repromatrix-index"  # network alias of the index container, as cells see it
INDEX_PORT = 8443  # HTTPS, like a real index: proxies see CONNECT, pip shows TLS failures
PROTOBUF_PIN = "protobuf>=3.20.3,!=4.21.0,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0dev"
PROTOBUF_PIN_218 = PROTOBUF_PIN.replace("<5.0.0dev", "<6.0.0dev")


# protobuf's yanked releases, with the reason the public index gives (4.21.0's files were uploaded
# without their Requires-Python; the issue it names is protocolbuffers/protobuf#10076): installers
# skip them unless they are pinned
PROTOBUF_YANKED = {"4.21.0": "Required python version not configured correctly"}

# Every file of the tree carries this modification time, so nginx's Last-Modified is the same
# for every start of the index: uv revalidates a cached wheel against it, and a newly written
# tree would otherwise make it download again instead of reading back its (damaged) cache.
# Every file's modification time (nginx's Last-Modified), the same for every start of the index:
# uv revalidates a cached wheel against it, so a tree written afresh must not look newer.
PUBLISHED = 1_704_067_200  # 2024-01-01T00:00:00Z
# When the model's files were uploaded (PEP 700's upload-time; what --as-of filters on). Each
# TensorFlow release is dated in release order, in the month of its public namesake; every
# other project's files (the libraries, real wheels) are older than any of them. These are the
# model's times, not the public index's.
BEFORE_ALL = "2022-01-03T00:00:00Z"
TENSORFLOW_UPLOADED = {
    "2.8.0": "2022-02-02T12:00:00Z",
    "2.8.4": "2022-11-18T12:00:00Z",
    "2.12.0": "2023-03-22T12:00:00Z",
    "2.13.1": "2023-09-26T12:00:00Z",
    "2.14.0": "2023-09-26T18:00:00Z",
    "2.15.0": "2023-11-14T12:00:00Z",
    "2.16.1": "2024-03-08T12:00:00Z",
    "2.17.0": "2024-07-11T12:00:00Z",
    "2.18.0": "2024-10-24T12:00:00Z",
    "2.19.0": "2025-03-11T12:00:00Z",
    "2.20.0": "2025-08-13T12:00:00Z",
    "2.21.0": "2026-03-10T12:00:00Z",
    "2.22.0rc0": "2026-10-01T12:00:00Z",
}

# The dated history of TensorFlow's dependencies, each on the day of its public namesake's upload:
# what `bisect` finds offline. TensorFlow 2.8.0 asks for protobuf>=3.9.2, and its generated code
# predates protoc 3.19, which protobuf 4.21's runtime refuses at import
# (tensorflow/tensorflow#56266). 4.21.0 (2022-05-26) is yanked, as on the public index, so it is
# 4.21.1 (2022-05-27) that breaks a fresh install of 2.8.0 which worked the day before; bisect steps
# over 3.20.1 and the yanked 4.21.0. PEP 700 dates uploads, not yanks: an index as of any time
# shows 4.21.0 yanked, as the public one does today. protobuf's other releases and NumPy 2 are
# dated too, so that an index as of May 2022 has none of them; every other file of the model is
# older than any TensorFlow release (BEFORE_ALL).
DEPENDENCIES_UPLOADED = {
    ("protobuf", "3.19.4"): "2022-01-28T17:00:00Z",
    ("protobuf", "3.20.1"): "2022-04-22T12:00:00Z",
    ("protobuf", "3.19.6"): "2022-09-29T21:00:00Z",
    ("protobuf", "3.20.3"): "2022-09-29T22:00:00Z",
    ("protobuf", "4.21.0"): "2022-05-26T12:00:00Z",
    ("protobuf", "4.21.1"): "2022-05-27T23:00:00Z",
    ("protobuf", "4.25.8"): "2025-05-28T14:00:00Z",
    ("protobuf", "6.31.1"): "2025-05-28T19:00:00Z",
    ("protobuf", "5.29.5"): "2025-05-28T23:00:00Z",
    ("protobuf", "6.33.1"): "2025-11-13T16:00:00Z",
    ("numpy", "2.0.2"): "2024-08-26T20:00:00Z",
    ("numpy", "2.1.3"): "2024-11-02T17:00:00Z",
    ("numpy", "2.2.6"): "2025-05-17T21:00:00Z",
    ("numpy", "2.3.5"): "2025-11-16T22:00:00Z",
}

PADDING = 1536 * 1024  # incompressible bytes in the newest model wheels: bigger than a cut (see flaky)


@dataclass(frozen=True)
class Release:
    name: str
    version: str
    pythons: tuple[str, ...]  # ("3.9", "3.10") → cp39, cp310 wheels; () → one py3-none-any wheel
    requires_python: str
    requires: tuple[str, ...] = ()
    manylinux: str = "manylinux_2_17_{arch}.manylinux2014_{arch}"
    numpy_abi: int = 0  # the NumPy major a model TensorFlow was "compiled" against
    # its generated protobuf code predates protoc 3.19, which protobuf 4.21's runtime refuses
    old_protobuf_code: bool = False
    yanked: str = ""  # why its files are yanked (PEP 592), as the public index says; '' if not
    padding: int = 0  # bytes of incompressible data, so a download is big enough to cut
    extras: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (extra, its requirements)
    module_version: str = ""  # the module's __version__ when it is spelled otherwise than the version
    platform_wheel: bool = False  # a py3-none-<manylinux> wheel (pure Python, but built per platform)
    # The Linux architectures its manylinux wheels are built for
    arches: tuple[str, ...] = ("x86_64", "aarch64")
    # Its wheels for other systems (macOS, Windows), as the public release has them: a resolved
    # cell reads them; no container here installs them
    elsewhere: tuple[str, ...] = ()
    # Its Windows wheel only pulls in tensorflow-intel of the same version, for Windows (the real
    # 2.12-2.18 wheels: `tensorflow-intel ==V ; platform_system == "Windows"`, nothing else)
    windows_shim: bool = False
    # Its Linux aarch64 wheel only pulls in tensorflow-cpu-aws of the same version (the real
    # 2.12-2.15 wheels, field guide §1.14), which holds the tensorflow package itself
    aarch64_shim: bool = False


def _py(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"3.{minor}" for minor in range(first, last + 1))


NUMPY_1_ONLY_312 = ("numpy>=1.23.5,<2.0.0; python_version <= '3.11'",
                    "numpy>=1.26.0,<2.0.0; python_version >= '3.12'")
KERAS_3 = "keras>=3.0.0"
AND_CUDA = (("and-cuda", ('nvidia-cublas-cu12==12.5.3.2; extra == "and-cuda"',)),)
# TensorFlow's wheels for other systems, as its public releases have them (read from the public
# index's file list on 2026-12-07): macOS x86_64 up to 2.16, macOS arm64 from 2.13, Windows x86-64
# throughout; Linux aarch64 from 2.12 (2.8 is x86_64 only).
X86 = ("x86_64",)
WIN = ("win_amd64",)
MAC_X86_1014 = ("macosx_10_14_x86_64",)
MAC_X86 = ("macosx_10_15_x86_64",)
MAC_ARM = ("macosx_12_0_arm64",)
MAC_BOTH = MAC_X86 + MAC_ARM
# Per-Python availability and pins as on the public index (see the field guide, §2 and §4).
TENSORFLOW = (
    # protobuf uncapped, as the real 2.8.0's METADATA has it: see DEPENDENCIES_UPLOADED.
    Release("tensorflow", "2.8.0", _py(7, 10), ">=3.7", ("numpy>=1.20", "protobuf>=3.9.2"),
            manylinux="manylinux2010_{arch}", numpy_abi=1, old_protobuf_code=True, arches=X86,
            elsewhere=MAC_X86_1014 + WIN),
    # The last release with manylinux2010 wheels: what pip < 19.3 falls back to on Linux.
    Release("tensorflow", "2.8.4", _py(7, 10), ">=3.7", ("numpy>=1.20", "protobuf<3.20,>=3.9.2"),
            manylinux="manylinux2010_{arch}", numpy_abi=1, arches=X86, elsewhere=MAC_X86_1014 + WIN),
    Release("tensorflow", "2.12.0", _py(8, 11), ">=3.8", ("numpy>=1.22,<1.24", PROTOBUF_PIN,
                                                        "keras<2.13,>=2.12.0"), numpy_abi=1,
            elsewhere=MAC_X86 + WIN, windows_shim=True, aarch64_shim=True),
    Release("tensorflow", "2.13.1", _py(8, 11), ">=3.8", ("numpy>=1.22,<=1.24.3", PROTOBUF_PIN,
                                                        "keras<2.14,>=2.13.1"), numpy_abi=1,
            elsewhere=MAC_BOTH + WIN, windows_shim=True, aarch64_shim=True),
    Release("tensorflow", "2.14.0", _py(9, 11), ">=3.9", ("numpy>=1.23.5", PROTOBUF_PIN, "keras<2.15,>=2.14.0"),
            numpy_abi=1, extras=AND_CUDA, elsewhere=MAC_BOTH + WIN, windows_shim=True, aarch64_shim=True),
    Release("tensorflow", "2.15.0", _py(9, 11), ">=3.9", ("numpy>=1.23.5,<2.0.0", PROTOBUF_PIN,
                                                        "keras<2.16,>=2.15.0"), numpy_abi=1, extras=AND_CUDA,
            elsewhere=MAC_BOTH + WIN, windows_shim=True, aarch64_shim=True),
    Release("tensorflow", "2.16.1", _py(9, 12), ">=3.9", NUMPY_1_ONLY_312 + (PROTOBUF_PIN, KERAS_3), numpy_abi=1,
            extras=AND_CUDA, elsewhere=MAC_BOTH + WIN, windows_shim=True),
    Release("tensorflow", "2.17.0", _py(9, 12), ">=3.9", NUMPY_1_ONLY_312 + (PROTOBUF_PIN, KERAS_3), numpy_abi=1,
            extras=AND_CUDA, elsewhere=MAC_ARM + WIN, windows_shim=True),
    Release("tensorflow", "2.18.0", _py(9, 12), ">=3.9", ("numpy>=1.26.0,<2.1.0", PROTOBUF_PIN_218, KERAS_3),
            numpy_abi=2, extras=AND_CUDA, elsewhere=MAC_ARM + WIN, windows_shim=True),
    Release("tensorflow", "2.19.0", _py(9, 12), ">=3.9", ("numpy>=1.26.0,<2.2.0", PROTOBUF_PIN_218, KERAS_3),
            numpy_abi=2, extras=AND_CUDA, elsewhere=MAC_ARM + WIN),
    Release("tensorflow", "2.20.0", _py(9, 13), ">=3.9", ("numpy>=1.26.0", "protobuf>=5.28.0", KERAS_3),
            numpy_abi=2, extras=AND_CUDA, elsewhere=MAC_ARM + WIN),
    Release("tensorflow", "2.21.0", _py(10, 13), ">=3.10", ("numpy>=1.26.0", "protobuf>=6.31.1,<8.0.0", KERAS_3),
            manylinux="manylinux_2_27_{arch}", numpy_abi=2, padding=PADDING, extras=AND_CUDA,
            elsewhere=MAC_ARM + WIN),
    # A release candidate: the only release with cp314 wheels, so pip on 3.14 falls back to it.
    Release("tensorflow", "2.22.0rc0", _py(10, 14), ">=3.10", ("numpy>=1.26.0", "protobuf>=6.31.1,<8.0.0",
                                                             KERAS_3), manylinux="manylinux_2_27_{arch}",
            numpy_abi=2, extras=AND_CUDA, elsewhere=MAC_ARM + WIN),
)
# The last tensorflow-gpu with wheels (cp37-cp310): the same files as tensorflow, under its own name.
TF_GPU = (Release("tensorflow-gpu", "2.10.1", _py(7, 10), ">=3.7", ("numpy>=1.20", "protobuf<3.20,>=3.9.2"),
                  numpy_abi=1, arches=X86, elsewhere=WIN),)
TF_NIGHTLY = tuple(
    Release("tf-nightly", f"2.23.0.dev{day}", _py(11, 14), ">=3.10", ("numpy>=1.26.0", "protobuf>=6.31.1,<8.0.0",
                                                                     KERAS_3),
            manylinux="manylinux_2_27_{arch}", numpy_abi=2, extras=AND_CUDA, module_version=f"2.23.0-dev{day}",
            elsewhere=MAC_ARM + WIN)
    for day in ("20261025", "20261026"))
NUMPY = tuple(Release("numpy", v, (), rp) for v, rp in (
    ("1.23.5", ">=3.8"), ("1.24.3", ">=3.8"), ("1.26.4", ">=3.9"), ("2.0.2", ">=3.9"),
    ("2.1.3", ">=3.10"), ("2.2.6", ">=3.10"), ("2.3.5", ">=3.11")))
PROTOBUF = tuple(Release("protobuf", v, (), rp, yanked=PROTOBUF_YANKED.get(v, "")) for v, rp in (
    ("3.19.4", ">=3.5"), ("3.19.6", ">=3.5"), ("3.20.1", ">=3.7"), ("3.20.3", ">=3.7"),
    ("4.21.0", ">=3.7"), ("4.21.1", ">=3.7"), ("4.25.8", ">=3.8"), ("5.29.5", ">=3.8"),
    ("6.31.1", ">=3.9"), ("6.33.1", ">=3.9")))
# Keras 2 ships with TensorFlow up to 2.15; Keras 3 (3.10 for Python 3.9/3.10, 3.15 from 3.11).
KERAS = tuple(Release("keras", v, (), rp) for v, rp in (
    ("2.12.0", ">=3.8"), ("2.13.1", ">=3.8"), ("2.14.0", ">=3.9"), ("2.15.0", ">=3.9"), ("3.10.0", ">=3.9"),
    ("3.15.1", ">=3.11")))
# Other libraries whose pins collide with TensorFlow's (their real Requires-Dist).
OTHERS = (
    Release("scipy", "1.11.4", (), "<3.13,>=3.9", ("numpy<1.28.0,>=1.21.6",)),
    Release("googleapis-common-protos", "1.63.0", (), ">=3.7",
            ("protobuf!=3.20.0,!=3.20.1,!=4.21.1,!=4.21.2,!=4.21.3,!=4.21.4,!=4.21.5,<5.0.0.dev0,>=3.19.5",)),
    # Keras 2 for TensorFlow 2.21, imported as tf_keras (the real 2.21.0's Requires-Dist and
    # Requires-Python): with TF_USE_LEGACY_KERAS=1, tf.keras is it again.
    Release("tf-keras", "2.21.0", (), ">=3.10", ("tensorflow<2.22,>=2.21",)),
    # A companion that pins TensorFlow's minor release (the real 1.8.1's Requires-Dist).
    Release("tensorflow-decision-forests", "1.8.1", (), ">=3.9", ("tensorflow~=2.15.0",)),
    # A library compiled against NumPy 1 whose pin does not say so (the real 3.10.0's
    # Requires-Dist): it no longer imports beside NumPy 2, and `pip check` sees nothing wrong.
    Release("h5py", "3.10.0", (), ">=3.8", ("numpy>=1.17.3",)),
    # What `tensorflow[and-cuda]` adds; it imports as `nvidia` (a namespace), not by its name.
    Release("nvidia-cublas-cu12", "12.5.3.2", (), ">=3", platform_wheel=True),
)
# The real tf-models-official has about 60 releases of much larger wheels; 400 small ones cost pip
# about the same time to walk through (each candidate's wheel is downloaded to read its metadata).
BACKTRACK_RELEASES = 400
MODELS = tuple(
    release for i in range(BACKTRACK_RELEASES) for minor, patch in [(5 + i // 20, i % 20)] for release in (
        Release("tf-models-official", f"2.{minor}.{patch}", (), ">=3.7",
                (f"tensorflow-text~=2.{minor}.0", f"tensorflow>=2.{minor}" if minor > 5 else "tensorflow")),
        Release("tensorflow-text", f"2.{minor}.{patch}", (), ">=3.7",
                (f"tensorflow<2.{minor}" if minor > 5 else "tensorflow",))))
# A name whose real builds are for another system: tensorflow-intel's wheels are win_amd64 only,
# and on Linux the name resolves to 0.0.1, "A dummy package" with no module, which pulls in
# unrelated tools (the real 0.0.1's Requires-Dist; its wheel's top_level.txt is empty).
PLACEHOLDERS = (
    Release("tensorflow-intel", "0.0.1", (), ">=3.7", ("pyinstaller", "twine", "build")),
    # What the Windows wheel of each shimmed TensorFlow pulls in: the real package, with that
    # release's own requirements, for Windows x86-64 only
    *(Release("tensorflow-intel", tf.version, tf.pythons, tf.requires_python, tf.requires,
              manylinux="win_amd64", arches=("",)) for tf in TENSORFLOW if tf.windows_shim),
    # What the aarch64 wheel of 2.12-2.15 pulls in: the package itself, for Linux aarch64 only. An
    # upgrade to a full aarch64 wheel (2.16.1 and later) leaves it registered over the same files
    # (a real 2.15.0 -> 2.21.0 upgrade under emulation: `shared-directory`, the import failing
    # with an undefined symbol of the old library)
    *(replace(tf, name="tensorflow-cpu-aws", arches=("aarch64",), elsewhere=(), windows_shim=False,
              aarch64_shim=False, extras=()) for tf in TENSORFLOW if tf.aarch64_shim),
    Release("pyinstaller", "6.11.1", (), "<3.14,>=3.8"),
    Release("twine", "6.0.1", (), ">=3.8"),
    Release("build", "1.2.2.post1", (), ">=3.8"),
)
ALL_RELEASES = TENSORFLOW + TF_GPU + TF_NIGHTLY + NUMPY + PROTOBUF + KERAS + OTHERS + MODELS + PLACEHOLDERS
# The extra index (target.extra_index: local), at extra/simple/: a model of a piwheels-style index
# of community builds for 32-bit ARM, which the public index has never had a TensorFlow wheel for.
# Community builders published such wheels for Raspberry Pi OS's Pythons (PINTO0309/Tensorflow-bin,
# Qengineering: cp39 for Bullseye, cp311 for Bookworm, tagged linux_armv7l); piwheels itself
# has TensorFlow only up to 1.14.0, for Python 3.5 and 3.7 (piwheels/packages#277). The model is
# 2.15.0 with the real 2.15.0's pins: an armhf cell that reads this index lands on it, below
# the newest release, and its result says which index served it.
EXTRA_ROOT = "extra"
EXTRA_RELEASES = tuple(
    replace(tf, manylinux="linux_{arch}", arches=("armv7l",), elsewhere=(), windows_shim=False)
    for tf in TENSORFLOW if tf.version == "2.15.0"
)


@dataclass(frozen=True)
class Tombstone:
    """A release that is only an sdist whose build fails on purpose, saying what to install instead."""

    name: str
    version: str
    message: str


# tensorflow-gpu 2.12.0's setup.py message, word for word but for the last line, which names the
# public index's project page (no registry's host is written down in this project).
TF_GPU_REMOVED = """
=========================================================
The "tensorflow-gpu" package has been removed!

Please install "tensorflow" instead.

Other than the name, the two packages have been identical
since TensorFlow 2.1, or roughly since Sep 2019. For more
information, see the project's page on the index.
=========================================================
"""
TOMBSTONES = (Tombstone("tensorflow-gpu", "2.12.0", TF_GPU_REMOVED),)

# What protobuf 4.21's runtime raises for code generated before protoc 3.19 (the real message, but
# for its last line, a link to the announcement).
OLD_PROTOBUF_CODE = (
    "Descriptors cannot not be created directly.\n"
    "If this call came from a _pb2.py file, your generated code is out of date and must be "
    "regenerated with protoc >= 3.19.0.\n"
    "If you cannot immediately regenerate your protos, some other possible workarounds are:\n"
    " 1. Downgrade the protobuf package to 3.20.x or lower.\n"
    " 2. Set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python (but this will use pure-Python parsing "
    "and will be much slower).")
NUMPY_ABI_ERROR = ("A module that was compiled using NumPy 1.x cannot be run in NumPy {np} as it may crash. "
                   "To support both 1.x and 2.x versions of NumPy, modules must be compiled with NumPy 2.0.")


# What Keras 3 says where Keras 2 code meets it (seen on a real 2.15 → 2.21 upgrade).
KERAS3_LEGACY = ("`keras.optimizers.legacy` is not supported in Keras 3. When using `tf.keras`, to continue "
                 "using a `tf.keras.optimizers.legacy` optimizer, you can install the `tf_keras` package "
                 "(Keras 2) and set the environment variable `TF_USE_LEGACY_KERAS=True` to configure "
                 "TensorFlow to use `tf_keras` when accessing `tf.keras`.")
DF_ABI_ERROR = ": undefined symbol: _ZN10tensorflow14kernel_factory17OpKernelRegistrar12InitInternal"
KERAS3_SAVE = ("Invalid filepath extension for saving. Please add either a `.keras` extension for the native "
               "Keras format (recommended) or a `.h5` extension. Use `model.export(filepath)` if you want to "
               "export a SavedModel for use with TFLite/TFServing/etc. Received: filepath={path}.")


def _keras_source(release: Release, head: str) -> dict[str, str]:
    """Keras 2 or 3, just enough of it: Input, layers.Dense, Sequential.save, optimizers(.legacy)."""
    keras3 = release.version.startswith("3.")
    save = (f"        if not str(path).endswith(('.keras', '.h5')):\n"
            f"            raise ValueError({KERAS3_SAVE!r}.format(path=path))\n") if keras3 else ""
    init = head + (
        "from . import layers, optimizers\n\n\n"
        "def Input(shape=None, **kwargs):\n"
        "    return shape\n\n\n"
        "class Sequential:\n"
        "    def __init__(self, layers=()):\n"
        "        self.layers = list(layers)\n\n"
        "    def save(self, path):\n" + save +
        "        open(str(path), 'w').close()\n")
    optimizers = (f"class Adam:\n    pass\n\n\ndef __getattr__(name):\n    if name == 'legacy':\n"
                  f"        raise ImportError({KERAS3_LEGACY!r})\n    raise AttributeError(name)\n"
                  if keras3 else "from . import legacy\n\n\nclass Adam:\n    pass\n")
    files = {"keras/__init__.py": init, "keras/optimizers/__init__.py": optimizers,
             "keras/layers/__init__.py": "class Dense:\n    def __init__(self, units, **kwargs):\n"
                                         "        self.units = units\n"}
    if not keras3:
        files["keras/optimizers/legacy/__init__.py"] = "class Adam:\n    pass\n"
    return files


def module_source(release: Release) -> dict[str, str]:
    """The importable files of a model release."""
    doc = f'"""Model of {release.name} {release.version} for repromatrix offline runs; not the real package."""\n'
    head = doc + f"__version__ = {release.module_version or release.version!r}\n"
    if release.name == "numpy":
        return {"numpy/__init__.py": head}
    if release.name == "protobuf":
        return {"google/protobuf/__init__.py": head}
    if release.name == "keras":
        return _keras_source(release, head)
    if release.name == "tf-keras":  # Keras 2, under its own import name
        return {"tf_keras/" + path.split("/", 1)[1]: body for path, body in _keras_source(release, head).items()}
    if release.name == "tensorflow-decision-forests":
        # Its op library is compiled against TensorFlow 2.15's C++ ABI: another TensorFlow cannot
        # load it (the shape of the real failure: an undefined symbol).
        return {"tensorflow_decision_forests/__init__.py": head + "import os\nimport tensorflow\n\n"
                "if not tensorflow.__version__.startswith('2.15.'):\n"
                "    op = os.path.join(os.path.dirname(__file__), 'tensorflow/ops/inference/inference.so')\n"
                f"    raise ImportError(op + {DF_ABI_ERROR!r})\n"}
    if release.name == "h5py":  # what the real one prints and raises beside NumPy 2
        return {"h5py/__init__.py": head + "import sys\nimport numpy\n\n"
                "if int(numpy.__version__.split('.')[0]) >= 2:\n"
                f"    sys.stderr.write({NUMPY_ABI_ERROR!r}.format(np=numpy.__version__) + '\\n')\n"
                "    raise ImportError('numpy.core.multiarray failed to import')\n"}
    if release.name == "tensorflow-intel":  # a placeholder, or wheels no cell here installs
        return {}
    if release.name not in ("tensorflow", "tf-nightly", "tensorflow-gpu", "tensorflow-cpu-aws"):
        module = {"googleapis-common-protos": "google/api", "nvidia-cublas-cu12": "nvidia/cublas",
                  "tf-models-official": "official", "tensorflow-text": "tensorflow_text",
                  "pyinstaller": "PyInstaller"}.get(release.name, release.name)
        return {f"{module}/__init__.py": head}
    check = ""
    if release.numpy_abi == 1:
        check = ("if int(numpy.__version__.split('.')[0]) >= 2:\n"
                 f"    raise ImportError({NUMPY_ABI_ERROR!r}.format(np=numpy.__version__))\n")
    if release.old_protobuf_code:
        check += ("if tuple(map(int, google.protobuf.__version__.split('.')[:2])) >= (4, 21):\n"
                  f"    raise TypeError({OLD_PROTOBUF_CODE!r})\n")
    # tf.keras is whatever Keras is installed (2.x until 2.15, 3.x from 2.16), as in the real package.
    keras = "from . import keras\n" if any(r.startswith("keras") for r in release.requires) else ""
    return {"tensorflow/__init__.py": head + "import numpy\nimport google.protobuf\n" + check + keras,
            **({"tensorflow/keras/__init__.py": _tf_keras_source(KERAS_3 in release.requires)} if keras else {})}


def _tf_keras_source(keras3: bool) -> str:
    """tf.keras: Keras itself; from 2.16 (Keras 3) tf_keras instead when TF_USE_LEGACY_KERAS is set."""
    names = "Input, Sequential, __version__, layers, optimizers"
    plain = f"from keras import *  # noqa\nfrom keras import {names}\n"
    if not keras3:
        return plain
    return ("import os\n\n"
            "if os.environ.get('TF_USE_LEGACY_KERAS', '').lower() in ('1', 'true', 'yes'):\n"
            f"    from tf_keras import *  # noqa\n    from tf_keras import {names}\n"
            f"else:\n    from keras import *  # noqa\n    from keras import {names}\n")


def shim_of(release: Release, tag: str) -> str:
    """The one requirement of a platform's shim wheel (Windows: tensorflow-intel, Linux aarch64:
    tensorflow-cpu-aws), as the real 2.12-2.15/2.18 wheels have it; '' for a full wheel."""
    if release.windows_shim and tag.endswith("win_amd64"):
        return f'tensorflow-intel=={release.version}; platform_system == "Windows"'
    if release.aarch64_shim and tag.endswith("aarch64"):
        return (f'tensorflow-cpu-aws=={release.version}; platform_system == "Linux" and '
                '(platform_machine == "arm64" or platform_machine == "aarch64")')
    return ""


def _metadata(release: Release, shim: str = "") -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {release.name}", f"Version: {release.version}",
             "Summary: repromatrix offline model release (not the real package)",
             f"Requires-Python: {release.requires_python}"]
    requires = (shim,) if shim else release.requires
    lines += [f"Requires-Dist: {req}" for req in requires]
    for extra, reqs in release.extras:
        lines += [f"Provides-Extra: {extra}"] + [f"Requires-Dist: {req}" for req in reqs]
    return "\n".join(lines) + "\n"


def wheel_tags(release: Release, arch: str) -> list[str]:
    """The tags of its wheels for one Linux architecture (or '' for its fixed platform)."""
    if release.platform_wheel:
        return [f"py3-none-manylinux2014_{arch}"]
    if not release.pythons:
        return ["py3-none-any"]
    plat = release.manylinux.format(arch=arch)
    return [f"cp{p.replace('.', '')}-cp{p.replace('.', '')}-{plat}" for p in release.pythons]


def all_wheel_tags(release: Release) -> list[str]:
    """Every wheel's tag: each Linux architecture's, then its other systems' (macOS, Windows)."""
    tags = [t for arch in release.arches for t in wheel_tags(release, arch)]
    tags = list(dict.fromkeys(tags))  # a pure-Python wheel is one wheel for every architecture
    if release.pythons:
        tags += [f"cp{p.replace('.', '')}-cp{p.replace('.', '')}-{plat}" for plat in release.elsewhere
                 for p in release.pythons]
    return tags


def build_wheel(release: Release, tag: str) -> tuple[str, bytes]:
    """A minimal valid wheel; fixed timestamps make the bytes (and so the hashes) repeatable."""
    stem = f"{release.name.replace('-', '_')}-{release.version}"  # wheel names use underscores
    dist = f"{stem}.dist-info"
    files = dict(module_source(release))
    shim = shim_of(release, tag)
    if shim:  # the shim holds nothing but its requirement of the real package
        files = {}
    files[f"{dist}/METADATA"] = _metadata(release, shim)
    files[f"{dist}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: repromatrix\nRoot-Is-Purelib: false\nTag: {tag}\n"
    record = [f"{path},sha256={_b64sha(body.encode())},{len(body.encode())}" for path, body in files.items()]
    # Only what the flaky and stalled cells download (x86_64 Linux) is big enough to cut: the
    # other systems' copies stay small, as every run copies the tree into its index's image
    padded = release.padding and "linux" in tag and tag.endswith("x86_64")
    blobs = {f"{release.name}/_padding.bin": _padding(release)} if padded else {}
    record += [f"{path},sha256={_b64sha(blob)},{len(blob)}" for path, blob in blobs.items()]
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, body in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), body)
        for path, blob in blobs.items():  # stored: random bytes do not compress anyway
            zf.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), blob, zipfile.ZIP_STORED)
    return f"{stem}-{tag}.whl", buf.getvalue()


def build_sdist(stone: Tombstone) -> tuple[str, bytes]:
    """The tombstone sdist: PKG-INFO and a setup.py that raises with its message (repeatable bytes)."""
    stem = f"{stone.name}-{stone.version}"
    files = {f"{stem}/PKG-INFO": f"Metadata-Version: 2.1\nName: {stone.name}\nVersion: {stone.version}\n"
                                 "Summary: repromatrix offline model of a removed package\n",
             f"{stem}/setup.py": f"import sys\n\nTF_REMOVAL_WARNING = {stone.message!r}\n\n"
                                 "raise Exception(TF_REMOVAL_WARNING)\n"}
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return f"{stem}.tar.gz", buf.getvalue()


def _padding(release: Release) -> bytes:
    """Repeatable pseudo-random bytes (a SHA-256 counter stream), so wheels stay byte-identical."""
    seed = f"{release.name}-{release.version}".encode()
    blocks = (hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range(release.padding // 32 + 1))
    return b"".join(blocks)[: release.padding]


def _b64sha(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_index(root: Path, extra_wheels: tuple[Path, ...] = ()) -> Path:
    """Write the PEP 503 tree under root (simple/ and packages/), and the extra index's beside it
    (extra/simple/ and extra/packages/); returns root.

    extra_wheels: real wheels served as they are (old pip releases, which cannot be modelled).
    """
    _write_tree(root, ALL_RELEASES, extra_wheels, TOMBSTONES)
    _write_tree(root / EXTRA_ROOT, EXTRA_RELEASES, (), ())
    for path in root.rglob("*"):
        os.utime(path, (PUBLISHED, PUBLISHED))
    return root


def _write_tree(
    root: Path,
    releases: tuple[Release, ...],
    extra_wheels: tuple[Path, ...],
    tombstones: tuple[Tombstone, ...],
) -> None:
    (root / "packages").mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[ServedFile]] = {}
    old = _epoch(BEFORE_ALL)
    for wheel in extra_wheels:
        data = wheel.read_bytes()
        name = wheel.name.split("-")[0].replace("_", "-").lower()
        # as PyPI says it: pip skips what this Python cannot run
        said = _requires_python(data)
        projects.setdefault(name, []).append(_write_wheel(root, wheel.name, data, said, old))
    for release in releases:
        for tag in all_wheel_tags(release):
            filename, data = build_wheel(release, tag)
            served = _write_wheel(root, filename, data, release.requires_python, uploaded(release),
                                  release.yanked)
            projects.setdefault(release.name, []).append(served)
    for stone in tombstones:
        filename, data = build_sdist(stone)
        (root / "packages" / filename).write_bytes(data)
        sdist = ServedFile(filename, hashlib.sha256(data).hexdigest(), len(data), uploaded=old)
        projects.setdefault(stone.name, []).append(sdist)
    for name, files in projects.items():
        _page(root / "simple" / name / "index.html", name, [f.link() for f in files])
        _json_page(root / "simple" / name / "index.json", name, files)
    _page(root / "simple" / "index.html", "Simple index",
          [f'<a href="{n}/">{n}</a><br>' for n in sorted(projects)])
    _json_index(root / "simple" / "index.json", sorted(projects))


@dataclass(frozen=True)
class ServedFile:
    """One file of a project as the index lists it, in both of its forms: the HTML page's link
    (PEP 503) and the JSON page's entry (PEP 691, with PEP 700's size and upload time)."""

    filename: str
    sha256: str
    size: int
    requires_python: str = ""
    metadata_sha256: str = ""  # its METADATA beside it (PEP 658/714); '' for an sdist
    uploaded: int = PUBLISHED  # seconds since the epoch, UTC (PEP 700's upload-time)
    yanked: str = ""  # the reason it is yanked (PEP 592); '' if it is not

    def link(self) -> str:
        rp = html.escape(self.requires_python)
        python = f' data-requires-python="{rp}"' if rp else ""
        said = f"sha256={self.metadata_sha256}"
        metadata = (
            f' data-dist-info-metadata="{said}" data-core-metadata="{said}"'
            if self.metadata_sha256
            else ""
        )
        yanked = f' data-yanked="{html.escape(self.yanked)}"' if self.yanked else ""
        return (f'<a href="../../packages/{self.filename}#sha256={self.sha256}"{python}{metadata}'
                f'{yanked}>{self.filename}</a><br>')

    def entry(self) -> dict[str, object]:
        uploaded = datetime.datetime.fromtimestamp(self.uploaded, datetime.timezone.utc)
        entry: dict[str, object] = {
            "filename": self.filename,
            "url": f"../../packages/{self.filename}",
            "hashes": {"sha256": self.sha256},
            "size": self.size,
            "upload-time": uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "yanked": self.yanked or False,
        }
        if self.requires_python:
            entry["requires-python"] = self.requires_python
        if self.metadata_sha256:
            # As the public index names it (PEP 714): never `dist-info-metadata`, which pip
            # 22.3-23.0 read as a flag and crash on when it is a dict (seen with 23.0.1:
            # "TypeError: unhashable type: 'dict'")
            metadata = {"sha256": self.metadata_sha256}
            entry["core-metadata"] = entry["data-dist-info-metadata"] = metadata
        return entry


def uploaded(release: Release) -> int:
    """When the model's release was uploaded, in seconds since the epoch (UTC); a nightly on the
    day its version names."""
    shimmed = release.name in ("tensorflow-intel", "tensorflow-cpu-aws")  # beside its release
    if release.name == "tensorflow" or (shimmed and release.version in TENSORFLOW_UPLOADED):
        return _epoch(TENSORFLOW_UPLOADED[release.version])
    if dated := DEPENDENCIES_UPLOADED.get((release.name, release.version)):
        return _epoch(dated)
    nightly = re.search(r"\.dev(\d{4})(\d{2})(\d{2})$", release.version)
    if nightly:
        return _epoch("{}-{}-{}T06:00:00Z".format(*nightly.groups()))
    return _epoch(BEFORE_ALL)


def _epoch(when: str) -> int:
    moment = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ")
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def _write_wheel(
    root: Path, filename: str, data: bytes, requires_python: str, when: int, yanked: str = ""
) -> ServedFile:
    """Write the wheel and, as PyPI serves it (PEP 658/714), its METADATA beside it as
    FILE.metadata; the listing names both hashes, so pip (22.3+) and uv resolve from the
    metadata file without downloading the wheels they reject."""
    (root / "packages" / filename).write_bytes(data)
    metadata = _core_metadata(data)
    (root / "packages" / f"{filename}.metadata").write_bytes(metadata)
    return ServedFile(filename, hashlib.sha256(data).hexdigest(), len(data), requires_python,
                      hashlib.sha256(metadata).hexdigest(), when, yanked)


def _core_metadata(wheel: bytes) -> bytes:
    """The wheel's .dist-info/METADATA, byte for byte (b'' if it has none)."""
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        return archive.read(name) if name else b""


def _requires_python(wheel: bytes) -> str:
    """A real wheel's Requires-Python, from its METADATA ('' if it has none)."""
    text = _core_metadata(wheel).decode("utf-8", "replace")
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Python:")),
                "")


def _page(path: Path, title: str, links: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(links)
    path.write_text(f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
                    f"<title>{title}</title></head><body>\n{body}\n</body></html>\n")


# PEP 691's JSON form, at API version 1.1 (PEP 700: versions, size, upload-time), which nginx
# serves to a client that asks for it (Accept: application/vnd.pypi.simple.v1+json).
JSON_API = {"api-version": "1.1"}


def _json_page(path: Path, name: str, files: list[ServedFile]) -> None:
    versions = sorted({_version_of(f.filename) for f in files}, key=Version)
    page = {"meta": JSON_API, "name": name, "versions": versions,
            "files": [f.entry() for f in files]}
    path.write_text(json.dumps(page, indent=1) + "\n")


def _json_index(path: Path, names: list[str]) -> None:
    page = {"meta": JSON_API, "projects": [{"name": n} for n in names]}
    path.write_text(json.dumps(page, indent=1) + "\n")


def _version_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return str(parse_wheel_filename(filename)[1])
    return str(parse_sdist_filename(filename)[1])


def fetch_real_wheels(requirements: list[str]) -> tuple[Path, ...]:
    """Real wheels (e.g. pip==19.2.3) for the local index: old releases cannot be modelled."""
    return tuple(fetch_wheel(req) for req in requirements)


