"""The in-cell scenario's import-name discovery, on real distributions' metadata files.

tests/data/metadata holds the dist-info of real wheels (top_level.txt, RECORD cut to its
first 25 lines per top-level name for the big ones, METADATA's header). The discovery code is
the one that runs inside cells: scenario.DISTRIBUTION, run here with a plain interpreter whose
only site directory is a folder holding one of those dist-infos.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources

import pytest

from repromatrix.cell import contract
from repromatrix.installers import installer
from tests.conftest import DATA

METADATA = DATA / "metadata"


def _scenario_constant(name: str) -> str:
    source = resources.files("repromatrix").joinpath("templates/scenario.py").read_text()
    namespace: dict[str, object] = {}
    start = source.index(f"{name} = r\"\"\"")
    end = source.index('"""', start + len(name) + 8) + 3
    exec(source[start:end], namespace)  # noqa: S102 - the constant only, not the scenario
    return str(namespace[name])


def discover(tmp_path, dist_info: str, asked_as: str) -> dict[str, object] | None:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    shutil.copytree(METADATA / dist_info, site / dist_info, dirs_exist_ok=True)
    proc = subprocess.run([sys.executable, "-S", "-c", _scenario_constant("DISTRIBUTION"), asked_as],
                          capture_output=True, text=True, env={"PYTHONPATH": str(site)}, timeout=60, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dist_info, asked_as, version, imports", [
    ("tensorflow-2.21.0.dist-info", "tensorflow", "2.21.0", ["tensorflow"]),
    # The nightly installs the `tensorflow` package under another name.
    ("tf_nightly-2.23.0.dev20261026.dist-info", "tf-nightly", "2.23.0.dev20261026", ["tensorflow"]),
    ("tf_nightly-2.23.0.dev20261026.dist-info", "TF_Nightly", "2.23.0.dev20261026", ["tensorflow"]),
    # Two top-level names: the one with most files comes first and is the main import.
    ("tensorflow_intel-2.15.0.dist-info", "tensorflow-intel", "2.15.0", ["tensorflow", "third_party"]),
    ("tf_keras-2.21.0.dist-info", "tf-keras", "2.21.0", ["tf_keras"]),
    ("keras-3.15.1.dist-info", "keras", "3.15.1", ["keras"]),
    ("nvidia_cublas_cu12-12.9.2.10.dist-info", "nvidia-cublas-cu12", "12.9.2.10", ["nvidia"]),
    ("googleapis_common_protos-1.76.0.dist-info", "googleapis-common-protos", "1.76.0", ["google"]),
    # No top_level.txt: the names come from RECORD (a package directory, a single module).
    ("protobuf-7.37.0rc1.dist-info", "protobuf", "7.37.0rc1", ["google"]),
    ("typing_extensions-4.16.0.dist-info", "typing-extensions", "4.16.0", ["typing_extensions"]),
    ("six-1.17.0.dist-info", "six", "1.17.0", ["six"]),
])
def test_import_names_come_from_the_installed_metadata(tmp_path, dist_info, asked_as, version, imports):
    found = discover(tmp_path, dist_info, asked_as)
    assert found is not None and (found["version"], found["imports"]) == (version, imports)


def test_a_distribution_that_is_not_installed_is_none(tmp_path):
    assert discover(tmp_path, "six-1.17.0.dist-info", "tensorflow") is None


def run_scenario(tmp_path, **env: str) -> dict[str, object]:
    """The whole scenario on this interpreter (as root or not: it only drops privileges for users)."""
    import os

    script = resources.files("repromatrix").joinpath("templates/scenario.py").read_text()
    (tmp_path / "scenario.py").write_text(script)
    base = {"PATH": os.environ["PATH"], "REPROMATRIX_PACKAGE": "no-such-distribution-here",
            "REPROMATRIX_UPGRADE": "python3 -c pass", "REPROMATRIX_IDENTITIES": "root", "REPROMATRIX_USER": "",
            contract.PROBES: json.dumps(installer().probes())}  # as the cell's Dockerfile sets them
    proc = subprocess.run([sys.executable, str(tmp_path / "scenario.py")], capture_output=True, text=True,
                          env=base | env, timeout=300, cwd=tmp_path)
    line = next(ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("REPROMATRIX-RECORD "))
    return json.loads(line[len("REPROMATRIX-RECORD "):])


@pytest.mark.skipif(shutil.which("python3") is None, reason="the scenario runs python3 from PATH")
def test_a_remedys_steps_run_without_a_shell_and_the_first_failure_stops_before_the_upgrade(tmp_path):
    marker = tmp_path / "touched"
    steps = [{"user": "root", "argv": ["python3", "-c", "import os, sys; print(sys.argv[1], os.environ.get('GONE'))",
                                       f"$(touch {marker})"]},
             {"user": "root", "argv": ["python3", "-c", "import sys; sys.exit(3)"]},
             {"user": "root", "argv": ["python3", "-c", "print('never')"]}]
    record = run_scenario(tmp_path, REPROMATRIX_BEFORE=json.dumps(steps), REPROMATRIX_UNSET="GONE", GONE="here")
    assert record["before_failed"] is True and "upgrade" not in record
    first, second = record["before_steps"]  # the third never ran
    assert first["exit_code"] == 0 and first["output"] == f"$(touch {marker}) None\n"  # no shell, GONE unset
    assert not marker.exists()
    assert second["exit_code"] == 3 and second["argv"][-1] == "import sys; sys.exit(3)"


@pytest.mark.skipif(shutil.which("python3") is None, reason="the scenario runs python3 from PATH")
def test_a_missing_command_in_a_step_is_exit_127_not_a_crash(tmp_path):
    steps = [{"user": "root", "argv": ["no-such-command-anywhere", "x"]}]
    record = run_scenario(tmp_path, REPROMATRIX_BEFORE=json.dumps(steps))
    (step,) = record["before_steps"]
    assert step["exit_code"] == 127 and "no-such-command-anywhere" in step["output"]


def test_a_cache_entry_cut_short_by_a_full_disk_fails_the_setup(tmp_path):
    import importlib.util

    source = resources.files("repromatrix").joinpath("templates/corrupt_cache.py")
    spec = importlib.util.spec_from_file_location("corrupt_cache", str(source))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entry = tmp_path / "http" / "4" / "1"
    entry.mkdir(parents=True)
    # What a full disk left in a real setup: a temporary file of 245 MB for a 572 MB wheel, no entry.
    (entry / "41740cac.tmp").write_bytes(b"PK\x03\x04" + b"\0" * 2000)
    with pytest.raises(SystemExit, match=r"kept only 2004 of the 5000 bytes of tf\.whl \(is the disk full\?\)"):
        module.check_complete(str(tmp_path / "http"), 5000, "tf.whl")
    module.check_complete(str(tmp_path / "http"), 2004, "tf.whl")  # a whole entry passes


# The real Requires-Dist lines these distributions carry (METADATA here holds only the header)
REQUIRES = {
    "tensorflow-2.21.0.dist-info": ["protobuf>=6.31.1,<8.0.0", "keras>=3.12.0", "typing_extensions>=3.6.6",
                                    "six>=1.12.0", 'nvidia-cublas-cu12==12.5.3.2; extra == "and-cuda"'],
    "tf_keras-2.21.0.dist-info": ["tensorflow<2.22,>=2.21"],
    "googleapis_common_protos-1.76.0.dist-info": ["protobuf!=4.21.1,<7.0.0,>=3.20.2"],
}


def around(tmp_path, changed: list[str]) -> list[list[object]]:
    site = tmp_path / "site"
    for dist_info in [p.name for p in METADATA.iterdir()]:
        shutil.copytree(METADATA / dist_info, site / dist_info, dirs_exist_ok=True)
        extra = "".join(f"Requires-Dist: {req}\n" for req in REQUIRES.get(dist_info, []))
        (site / dist_info / "METADATA").write_text((METADATA / dist_info / "METADATA").read_text() + extra)
    # top_level.txt naming a directory the wheel does not hold (setuptools saw a build/ folder)
    (site / "six-1.17.0.dist-info" / "top_level.txt").write_text("six\nbuild\n")
    proc = subprocess.run([sys.executable, "-S", "-c", _scenario_constant("AROUND"), "tensorflow",
                           json.dumps(changed), json.dumps(["pip", "setuptools"])],
                          capture_output=True, text=True, env={"PYTHONPATH": str(site)}, timeout=60, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_libraries_around_the_target_are_what_it_requires_what_requires_those_and_what_changed(tmp_path):
    found = {(name, module): requires for name, _, module, requires in around(tmp_path, [])}
    assert found == {
        ("keras", "keras"): [], ("protobuf", "google"): [], ("typing_extensions", "typing_extensions"): [],
        ("six", "six"): [],  # not `build`: top_level.txt names it, but the wheel holds no file of it
        ("tf_keras", "tf_keras"): ["tensorflow"],  # requires the target itself
        ("googleapis-common-protos", "google"): ["protobuf"],  # requires what the target requires
    }  # not the extra's nvidia wheel, nor distributions nothing here requires (tf-nightly)
    changed = {name for name, *_ in around(tmp_path, ["nvidia-cublas-cu12"])}
    assert "nvidia-cublas-cu12" in changed and "tf-nightly" not in changed


def _wheel_site(site, files: dict[str, bytes], record_lies_about: str = "") -> None:
    """A distribution `demo` 1.0 installed into `site`, its RECORD with each file's real sha256, but
    for `record_lies_about`, whose RECORD entry is another file's hash (as for a damaged copy)."""
    import base64
    import hashlib

    dist_info = site / "demo-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    rows = []
    for path, data in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
        hashed = b"something else" if path == record_lies_about else data
        digest = base64.urlsafe_b64encode(hashlib.sha256(hashed).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(data)}")
    rows.append("demo-1.0.dist-info/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n")


def _damaged(site) -> list[str]:
    proc = subprocess.run([sys.executable, "-S", "-c", _scenario_constant("DAMAGED"), "demo"],
                          capture_output=True, text=True, env={"PYTHONPATH": str(site)}, timeout=60, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_installed_files_that_differ_from_their_record_are_named(tmp_path):
    files = {"demo/__init__.py": b"x = 1\n", "demo/core.py": b"y = 2\n", "demo/data/table.bin": b"\0\1"}
    _wheel_site(tmp_path / "ok", files)
    assert _damaged(tmp_path / "ok") == []
    _wheel_site(tmp_path / "bad", files, record_lies_about="demo/core.py")
    assert _damaged(tmp_path / "bad") == ["demo/core.py"]
    (tmp_path / "bad" / "demo" / "data" / "table.bin").unlink()  # listed, gone: not a damaged copy
    assert _damaged(tmp_path / "bad") == ["demo/core.py"]


def _uv_damager():
    import importlib.util

    source = resources.files("repromatrix").joinpath("templates/corrupt_uv_cache.py")
    spec = importlib.util.spec_from_file_location("corrupt_uv_cache", str(source))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uvs_cached_copy_is_damaged_where_the_import_reads_first(tmp_path):
    damager = _uv_damager()
    cache = tmp_path / "cache"
    copy = cache / "archive-v0" / "Xq3"
    init = b"# " + b"a" * 300 + b"\nimport sys\n"
    # the largest package is the one `import demo` is; a private helper package does not count
    _wheel_site(copy, {"demo/__init__.py": init, "demo/a.py": b"", "demo/b.py": b"", "_demo_helper/__init__.py": b"z",
                       "_demo_helper/c.py": b"", "_demo_helper/d.py": b"", "_demo_helper/e.py": b""})
    found = damager.cached_copy(str(cache), "demo-1.0.dist-info")
    assert found == str(copy)
    target = damager.top_level_init(found, "demo-1.0.dist-info")
    assert target == str(copy / "demo" / "__init__.py")
    damager.damage(target)
    damaged = (copy / "demo" / "__init__.py").read_bytes()
    assert len(damaged) == len(init) and damaged.count(b"\0") == damager.DAMAGE
    with pytest.raises(SyntaxError, match="null bytes"):
        compile(damaged, "__init__.py", "exec")
    assert _damaged(copy) == ["demo/__init__.py"]  # what the scenario then finds
    venv = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    venv.mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"uv installed 0 distributions into a fresh venv, not the target alone: none"):
        damager.installed_dist_info(str(tmp_path / "venv"))
    (venv / "TensorFlow_CPU-2.21.0.dist-info").mkdir()  # whatever spelling the wheel has
    assert damager.installed_dist_info(str(tmp_path / "venv")) == "TensorFlow_CPU-2.21.0.dist-info"
    (venv / "numpy-2.3.5.dist-info").mkdir()
    with pytest.raises(SystemExit, match=r"installed 2 distributions .*: TensorFlow_CPU-2\.21\.0\.dist-info, numpy"):
        damager.installed_dist_info(str(tmp_path / "venv"))
    with pytest.raises(SystemExit, match=r"uv's cache .* holds no unpacked other-2\.0\.dist-info"):
        damager.cached_copy(str(cache), "other-2.0.dist-info")


def _scenario_function(name: str):
    source = resources.files("repromatrix").joinpath("templates/scenario.py").read_text()
    start = source.index(f"def {name}(")
    end = source.index("\n\n\n", start)
    namespace: dict[str, object] = {}
    exec(source[start:end], namespace)  # noqa: S102 - the function only, not the scenario
    return namespace[name]


def _scenario_value(name: str) -> str:
    import ast

    tree = ast.parse(resources.files("repromatrix").joinpath("templates/scenario.py").read_text())
    (value,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == name]
    return str(ast.literal_eval(value))


MULTI_LINE = ("raise TypeError('Descriptors cannot not be created directly.\\nIf this call came from a _pb2.py "
              "file, your generated code is out of date.\\n 2. Set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python "
              "(but this will use pure-Python parsing and will be much slower).')")


@pytest.mark.parametrize("module, said", [
    # protobuf 4.21's refusal of old generated code: its message ends with advice, not the error
    (MULTI_LINE, "TypeError: Descriptors cannot not be created directly."),
    ("raise ImportError('numpy.core.multiarray failed to import')",
     "ImportError: numpy.core.multiarray failed to import"),
    ("import sys\nsys.stderr.write('A module that was compiled using NumPy 1.x cannot be run\\n')\n"
     "import not_there_at_all", "ModuleNotFoundError: No module named 'not_there_at_all'"),
    # the frames of a syntax error are indented; the error is not
    ("def broken(:\n    pass", "SyntaxError: invalid syntax"),
    # a chained error: the last traceback's
    ("try:\n    {}['x']\nexcept KeyError:\n    raise RuntimeError('while loading the op library')",
     "RuntimeError: while loading the op library"),
])
def test_an_import_failure_is_said_in_the_exceptions_own_line(tmp_path, module, said):
    # real tracebacks of a real interpreter importing a module, as the cell's import check sees them
    (tmp_path / "broken_mod.py").write_text(module + "\n")
    proc = subprocess.run([sys.executable, "-c", _scenario_value("IMPORT_CHECK"), "broken_mod"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 1 and _scenario_function("exception_line")(lines) == said, lines


def test_output_without_a_traceback_is_said_by_its_last_line():
    assert _scenario_function("exception_line")(["Killed", "exit 137"]) == "exit 137"
