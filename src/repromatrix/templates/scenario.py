"""repromatrix scenario: runs inside a cell's container; standard library only (Python 3.7+).

Records what the upgrade did: versions before and after, pip's exit code and full output,
`pip check`, whether the package imports and which version it reports, Python and pip
versions, the interpreter's ssl, CA paths and glibc, durations. The upgrade runs as
REPROMATRIX_USER (root if empty); afterwards every identity in REPROMATRIX_IDENTITIES is
asked which version it has and imports, because an upgrade that lands in one user's
site-packages leaves root and services on the old one. Import names come from the installed
distribution's metadata (top_level.txt, else the top-level names in RECORD), never from its
name, unless REPROMATRIX_IMPORTS names them. The user's checks (REPROMATRIX_CHECKS, a JSON
file) then run as each identity. When the index needs credentials, the setup that needs it
(REPROMATRIX_SETUP) runs first, and pip gets the index URL with credentials from the file
REPROMATRIX_INDEX_SECRET names (mounted at run time; never printed or stored).
A remedy attempt (remedies.py) runs the same image with a few more variables: the steps to run
before the upgrade (REPROMATRIX_BEFORE: JSON [{"user", "argv"}], run without a shell),
variables to unset (REPROMATRIX_UNSET) and a directory to put first on PATH
(REPROMATRIX_PATH: a virtual environment the remedy made), besides its own
REPROMATRIX_UPGRADE and REPROMATRIX_USER.
pip's output streams live; the record is the last line of
output, prefixed with REPROMATRIX-RECORD. Configured by the REPROMATRIX_* variables in the
Dockerfile.
"""

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

PACKAGE = os.environ.get("REPROMATRIX_PACKAGE", "tensorflow")
IMPORTS = os.environ.get("REPROMATRIX_IMPORTS", "").split()
CHECKS = os.environ.get("REPROMATRIX_CHECKS", "")
SETUP = json.loads(os.environ.get("REPROMATRIX_SETUP") or "[]")  # steps that need the index's credentials
BEFORE = json.loads(os.environ.get("REPROMATRIX_BEFORE") or "[]")  # a remedy's steps before the upgrade
for _name in os.environ.get("REPROMATRIX_UNSET", "").split():
    os.environ.pop(_name, None)
if os.environ.get("REPROMATRIX_PATH"):  # a remedy's virtual environment: its python3 and pip come first
    os.environ["VIRTUAL_ENV"] = os.path.dirname(os.environ["REPROMATRIX_PATH"])
    os.environ["PATH"] = os.environ["REPROMATRIX_PATH"] + os.pathsep + os.environ.get("PATH", "")
UPGRADE = os.environ["REPROMATRIX_UPGRADE"]
STEP = "&&"  # between the upgrade's commands, when it takes more than one (contract.UPGRADE_STEP)
# The installer's own commands for what the scenario asks it (installers/: its version, its check of
# what is installed, the versions the index offers, a dry run of one requirement).
PROBES = json.loads(os.environ["REPROMATRIX_PROBES"])
# A resolved cell (another platform): its installer's dry run is all that runs.
RESOLVE = json.loads(os.environ.get("REPROMATRIX_RESOLVE") or "null")
TRIAGE = os.environ.get("REPROMATRIX_TRIAGE") == "1"  # run --triage: UPGRADE is a dry run
TIMEOUT = float(os.environ.get("REPROMATRIX_TIMEOUT", "1500"))
UPGRADER = os.environ.get("REPROMATRIX_USER") or "root"
IDENTITIES = os.environ.get("REPROMATRIX_IDENTITIES", "root").split()
if UPGRADER not in IDENTITIES:
    IDENTITIES.append(UPGRADER)
PREFIX = "REPROMATRIX-RECORD "

# The installed distribution's version and top-level import names, as this identity sees them.
DISTRIBUTION = r"""
import json, re, sys
import importlib.metadata as md
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
wanted = norm(sys.argv[1])
dist = None
for candidate in md.distributions():
    if norm(candidate.metadata["Name"] or "") == wanted:
        dist = candidate
        break
if dist is None:
    print(json.dumps(None))
    sys.exit(0)
# Files per top-level name (from RECORD): the main import is the one holding most of them.
weight = {}
for path in dist.files or []:
    parts = path.parts
    if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data", ".egg-info")):
        continue
    if len(parts) == 1 and not parts[0].endswith((".py", ".so", ".pyd")):
        continue
    top = parts[0] if len(parts) > 1 else parts[0].split(".")[0]
    weight[top] = weight.get(top, 0) + 1
listed = dist.read_text("top_level.txt")
names = [line.strip().split("/")[0] for line in listed.splitlines() if line.strip()] if listed else list(weight)
names = sorted(set(n for n in names if n.isidentifier()), key=lambda n: (-weight.get(n, 0), n))
public = [n for n in names if not n.startswith("_")]
print(json.dumps({"version": dist.version, "name": dist.metadata["Name"], "imports": public or names}))
"""
# Other installed distributions that own files at the same paths as the target's (tensorflow beside
# tensorflow-gpu or tf-nightly): [{'name', 'version', 'dirs', 'files'}]. Namespace directories shared by
# design (google/, nvidia/) hold no file in common and are not counted.
SHARERS = r"""
import json, re, sys
import importlib.metadata as md
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
def tops(dist):
    out = {}
    for path in dist.files or []:
        parts = path.parts
        if len(parts) < 2 or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data",
                                                                                    ".egg-info")):
            continue
        out.setdefault(parts[0], set()).add("/".join(parts))
    return out
wanted = norm(sys.argv[1])
dists = list(md.distributions())
target = next((d for d in dists if norm(d.metadata["Name"] or "") == wanted), None)
mine = tops(target) if target is not None else {}
shared, seen = [], set()
for dist in dists:
    name = dist.metadata["Name"] or ""
    if not mine or norm(name) in seen or norm(name) == wanted:
        continue
    seen.add(norm(name))
    theirs = tops(dist)
    common = sorted(t for t in set(mine) & set(theirs) if mine[t] & theirs[t])
    files = sum(len(mine[t] & theirs[t]) for t in common)
    if files:
        shared.append({"name": name, "version": dist.version, "dirs": common, "files": files})
print(json.dumps(shared))
"""
# Every distribution the interpreter sees, as `who`: [[name, version, installer, location]], the
# first of a name on sys.path winning (as imports do). What the upgrade changed is the difference.
INSTALLED = r"""
import json, re
import importlib.metadata as md
seen, out = set(), []
for dist in md.distributions():
    name = dist.metadata["Name"] or ""
    key = re.sub(r"[-_.]+", "-", name).lower()
    if not name or key in seen:
        continue
    seen.add(key)
    installer = (dist.read_text("INSTALLER") or "").strip()
    where = str(dist.locate_file(""))
    out.append([name, dist.version, installer, where])
print(json.dumps(sorted(out, key=lambda d: d[0].lower())))
"""
# The libraries around the target, as `who`'s interpreter sees them: each installed distribution that
# the target requires (transitively), each that requires one of those or the target, and (after the
# upgrade) each the upgrade changed and each that requires one of those. Not the target (its own import
# is checked) nor the installers. [[name, version, module, [the names in reach it requires]]], up to 3
# public top-level modules a distribution, as its metadata names them.
AROUND = r"""
import json, re, sys
import importlib.metadata as md
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
def requires(dist):
    out = set()
    for req in dist.requires or []:
        found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if found and not re.search(r"\bextra\s*==", req):  # what an extra needs was not asked for
            out.add(norm(found.group(1)))
    return out
def modules(dist):
    weight = {}
    for path in dist.files or []:
        parts = path.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data", ".egg-info")):
            continue
        if len(parts) == 1 and not parts[0].endswith((".py", ".so")):
            continue
        top = parts[0] if len(parts) > 1 else parts[0].split(".")[0]
        weight[top] = weight.get(top, 0) + 1
    listed = dist.read_text("top_level.txt")
    names = [ln.strip().split("/")[0] for ln in listed.splitlines() if ln.strip()] if listed else list(weight)
    # top_level.txt may name what the wheel does not hold (a build directory setuptools saw): a name
    # is a module of this distribution only with files of its own, where its RECORD lists any
    # (an editable install's lists none: a .pth file points elsewhere)
    names = [n for n in set(names) if n.isidentifier() and not n.startswith("_") and n != "tests"
             and (not weight or n in weight)]
    return sorted(names, key=lambda n: (-weight.get(n, 0), n))[:3]
target, changed, tools = norm(sys.argv[1]), set(json.loads(sys.argv[2])), set(json.loads(sys.argv[3]))
dists = {}
for dist in md.distributions():
    name = dist.metadata["Name"] or ""
    if name and norm(name) not in dists:
        dists[norm(name)] = dist
needs = {key: requires(dist) for key, dist in dists.items()}
reach, todo = set(), [target]
while todo:  # what the target requires, and what that requires
    for key in needs.get(todo.pop(), ()):
        if key in dists and key not in reach:
            reach.add(key)
            todo.append(key)
reach |= changed & set(dists)
moved = reach | {target}
around = sorted(k for k in dists if k in reach or needs[k] & moved)
out = []
for key in around:
    if key == target or key in tools:
        continue
    for module in modules(dists[key]):
        out.append([dists[key].metadata["Name"], dists[key].version, module, sorted(needs[key] & moved)])
print(json.dumps(out))
"""
# Import each module named, in one process (a companion's import often imports TensorFlow itself,
# once): a JSON line per module as it is done, so a crash names the module it happened in.
IMPORT_ALL = r"""
import importlib, json, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        said = None
    except BaseException:
        lines = traceback.format_exc().strip().splitlines()
        said = lines[-1] if lines else "failed"
    print(json.dumps({"module": name, "ok": said is None, "error": said}), flush=True)
"""
IMPORT_CHECK = ("import importlib, sys; mod = importlib.import_module(sys.argv[1]); "
                "print(getattr(mod, '__version__', ''))")
RUNTIME = r"""
import json, platform, ssl, sys
paths = ssl.get_default_verify_paths()
def memory_limit():
    # cgroup v2, then v1: what the container may use ('max' or a huge number: no limit)
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        return int(text) if text.isdigit() and int(text) < 2 ** 50 else None
    return None
facts = {"executable": sys.executable, "prefix": sys.prefix, "memory_limit": memory_limit(),
         "openssl": ssl.OPENSSL_VERSION, "glibc": " ".join(platform.libc_ver()),
         "ca_paths": {"cafile": paths.cafile, "capath": paths.capath, "openssl_cafile": paths.openssl_cafile,
                      "openssl_capath": paths.openssl_capath}}
print(json.dumps(facts))
"""
MAX_OUTPUT = 8000  # characters of a check's output kept in the record


def proxy_env():
    """Proxy variables with credentials, from the secret file (never printed, never stored)."""
    path = os.environ.get("REPROMATRIX_PROXY_SECRET")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as fh:
        url = fh.read().strip()
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url}


def index_env():
    """The index URL with credentials, from the secret file (never printed, never stored)."""
    path = os.environ.get("REPROMATRIX_INDEX_SECRET")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as fh:
        return {os.environ["REPROMATRIX_INDEX_VARIABLE"]: fh.read().strip()}


def identity(name):
    """Popen arguments that run a command as `name`, with that user's home and groups."""
    env = dict(os.environ, **proxy_env())
    env.update(index_env())
    if name == "root":
        return {"env": env}
    entry = pwd.getpwnam(name)

    def drop():
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    env.update(HOME=entry.pw_dir, USER=name, LOGNAME=name)
    return {"preexec_fn": drop, "env": env, "cwd": entry.pw_dir}


def run(argv, timeout=TIMEOUT, echo=False, who="root"):
    """Run argv as `who`; return (exit code, combined output, seconds, timed out)."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, errors="replace", **identity(who))
    except OSError as e:  # e.g. a command this image does not have: what a shell would say
        return 127, "%s: %s\n" % (argv[0], e.strerror), 0.0, False
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
        code = proc.wait()
    finally:
        timer.cancel()
    elapsed = round(time.monotonic() - start, 2)
    timed_out = elapsed >= timeout and code < 0
    return code, "".join(lines), elapsed, timed_out


def last_json(out):
    for line in reversed(out.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def distribution(who):
    """{'version', 'name', 'imports'} of the installed target as `who` sees it, or None."""
    code, out, _, _ = run(["python3", "-c", DISTRIBUTION, PACKAGE], timeout=120, who=who)
    return last_json(out) if code == 0 else None


def installed(who):
    """Every distribution `who`'s interpreter sees, or None when it could not say."""
    code, out, _, _ = run(["python3", "-c", INSTALLED], timeout=120, who=who)
    return last_json(out) if code == 0 else None


def installed_version(who):
    dist = distribution(who)
    return dist["version"] if dist else None


def tags():
    """The wheel tags the installer accepts, as its own probe says ({"error"} when it cannot)."""
    if "tags" not in PROBES:
        return {"error": "the installer has no probe for its tags"}
    code, out, _, _ = run(PROBES["tags"], timeout=120, who=UPGRADER)
    said = last_json(out) if code == 0 else None
    return said if isinstance(said, dict) else {"error": out[-2000:] or "exit %d" % code}


def sharers(who):
    code, out, _, _ = run(["python3", "-c", SHARERS, PACKAGE], timeout=120, who=who)
    return (last_json(out) or []) if code == 0 else []


def pip_script(argv, who):
    """Where a `pip` command (not `python3 -m pip`) comes from, and the Python it installs into."""
    if not argv or "python" in os.path.basename(argv[0]):
        return None
    env = identity(who)["env"]
    path = shutil.which(argv[0], path=env.get("PATH"))
    if not path:
        return {"command": argv[0], "path": None}
    try:
        with open(path, "rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except OSError:
        first = ""
    interpreter = first[2:].split()[0] if first.startswith("#!") and first[2:].split() else None
    # Asked now, not at the start: a remedy's steps may have made the python3 on PATH another one.
    return {"command": argv[0], "path": path, "interpreter": interpreter,
            "prefix": prefix_of(interpreter, who) if interpreter else None,
            "python3": shutil.which("python3", path=env.get("PATH")), "python3_prefix": prefix_of("python3", who)}


def prefix_of(python, who):
    code, out, _, _ = run([python, "-c", "import sys; print(sys.prefix)"], timeout=60, who=who)
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else None


def held_back(after, who):
    """When pip landed below the newest release this Python has files for, pip's own dry run of that
    release says what stops it (pip >= 22.2; `pip index versions` >= 21.2). None when not below it."""
    if "versions" not in PROBES or "dry_run" not in PROBES:
        return None  # the installer cannot say what the index offers (uv)
    code, out, _, _ = run(PROBES["versions"] + [PACKAGE] + (["--pre"] if "--pre" in UPGRADE else []), timeout=300,
                          who=who)
    line = next((ln for ln in out.splitlines() if ln.startswith("Available versions:")), "")
    versions = [v.strip() for v in line.split(":", 1)[-1].split(",") if v.strip()]
    if code != 0 or not versions or not after or versions[0] == after:
        return None
    argv = PROBES["dry_run"] + ["%s==%s" % (PACKAGE, versions[0])]
    heading("held back? %s" % " ".join(argv))
    code, out, secs, timed_out = run(argv, timeout=600, echo=True, who=who)
    return {"newest": versions[0], "command": " ".join(argv), "exit_code": code, "output": out[-MAX_OUTPUT:],
            "seconds": secs, "timed_out": timed_out}


def import_one(name, who):
    code, out, secs, _ = run(["python3", "-c", IMPORT_CHECK, name], timeout=600, who=who)
    lines = out.strip().splitlines()
    return {"ok": code == 0, "version": lines[-1] if code == 0 and lines else None,
            "error": None if code == 0 else (exception_line(lines) if lines else "exit %d" % code),
            "output": out[-MAX_OUTPUT:], "seconds": secs}


def exception_line(lines):
    """What failed, from a traceback: the exception's own line (its type and the first line of its
    message), the first line after the last traceback's frames that is not indented. A message of
    several lines ends with advice (protobuf 4.21's "Descriptors cannot not be created directly."
    ends "... will be much slower)."), and output may follow it; without a traceback, the last
    line."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    after = lines[starts[-1] + 1:] if starts else []
    heads = [line for line in after if line and not line[0].isspace()]
    return heads[0] if heads else lines[-1]


def import_check(who, dist):
    """Import every name (target.imports, else the distribution's own); the first is the main one."""
    names = IMPORTS or (dist or {}).get("imports") or []
    if not names:
        why = "not installed" if dist is None else "its metadata names no importable top-level module"
        return {"ok": False, "version": None, "error": why, "failed": None, "names": [], "modules": {},
                "output": "", "seconds": 0}
    modules = {}
    for name in names[:5]:
        modules[name] = import_one(name, who)
    failed = [n for n in modules if not modules[n]["ok"]]
    main = modules[names[0]]
    return {"ok": not failed, "version": main["version"],
            "error": modules[failed[0]]["error"] if failed else None, "failed": failed[0] if failed else None,
            "names": list(modules), "modules": modules, "output": main["output"],
            "seconds": round(sum(m["seconds"] for m in modules.values()), 2),
            "dist_version": (dist or {}).get("version")}


# The target's installed files whose sha256 differs from its own RECORD (at most 5). uv installs the
# unpacked copy in its cache without checking it again: a damaged entry is installed on every try.
DAMAGED = r"""
import base64, hashlib, json, re, sys
import importlib.metadata as md
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
dist = next((d for d in md.distributions() if norm(d.metadata["Name"] or "") == norm(sys.argv[1])), None)
damaged = []
for path in (dist.files or []) if dist else []:
    if not path.hash or path.hash.mode != "sha256":
        continue
    sha256 = hashlib.sha256()
    try:
        with open(path.locate(), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha256.update(block)
    except OSError:
        continue  # a file it lists but does not have is another matter (a half-removed install)
    if base64.urlsafe_b64encode(sha256.digest()).rstrip(b"=").decode() != path.hash.value:
        damaged.append(str(path))
        if len(damaged) == 5:
            break
print(json.dumps(damaged))
"""


def damaged(who):
    """The target's files that differ from its RECORD, as `who` sees them ([] when none)."""
    code, out, _, _ = run(["python3", "-c", DAMAGED, PACKAGE], timeout=600, who=who)
    if code != 0:
        return []  # the check itself failed: say nothing rather than guess
    return last_json(out) or []


# How many modules around the target are imported, and the installers themselves (never imported).
MAX_AROUND = 60
INSTALLERS = ["pip", "setuptools", "wheel", "uv", "distribute"]


def around(who, changed):
    """Import the libraries around the target as `who`: [{'name', 'version', 'module', 'requires', 'ok',
    'error'}], and how many were left out (over MAX_AROUND). A failure is imported again in a process of
    its own, so its error is the module's alone; a crash of the shared process leaves the rest to one
    process each."""
    code, out, _, _ = run(["python3", "-c", AROUND, PACKAGE, json.dumps(sorted(changed)), json.dumps(INSTALLERS)],
                          timeout=120, who=who)
    found = last_json(out) if code == 0 else None
    if not isinstance(found, list):
        return None, 0
    wanted, left_out = found[:MAX_AROUND], max(0, len(found) - MAX_AROUND)
    modules = list(dict.fromkeys(row[2] for row in wanted))
    heading("importing %d module(s) around %s as %s" % (len(modules), PACKAGE, who))
    said = {}
    if modules:
        _, out, _, _ = run(["python3", "-c", IMPORT_ALL] + modules, timeout=600, who=who)
        for line in out.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and row.get("module") in modules:
                said[row["module"]] = row
    for module in modules:
        if module not in said or not said[module]["ok"]:
            alone = import_one(module, who)
            said[module] = {"ok": alone["ok"], "error": alone["error"]}
            if not alone["ok"]:
                heading("%s does not import: %s" % (module, alone["error"]))
    rows = [{"name": name, "version": version, "module": module, "requires": requires,
             "ok": said[module]["ok"], "error": said[module]["error"]} for name, version, module, requires in wanted]
    return rows, left_out


def changed_names(before, after):
    """The distributions (PEP 503 names) whose version the upgrade changed or that it added."""
    if before is None or after is None:
        return set()
    had = {norm_name(row[0]): row[1] for row in before}
    return {norm_name(row[0]) for row in after if had.get(norm_name(row[0])) != row[1]}


def norm_name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def run_checks(identities, when="after the upgrade"):
    """The user's checks, as each identity: [{'name', 'identity', 'exit_code', 'output', 'seconds'}]."""
    if not CHECKS or not os.path.exists(CHECKS):
        return []
    with open(CHECKS) as fh:
        checks = json.load(fh)
    results = []
    for check in checks:
        argv = check["argv"] or ["python3", "-c", check["python"]]
        for who in identities:
            heading("check %s as %s, %s" % (check["name"], who, when))
            code, out, secs, timed_out = run(argv, timeout=600, echo=True, who=who)
            results.append({"name": check["name"], "identity": who, "exit_code": code, "timed_out": timed_out,
                            "output": out[-MAX_OUTPUT:], "seconds": secs})
    return results


def heading(text):
    sys.stdout.write("== repromatrix: %s\n" % text)
    sys.stdout.flush()


def run_steps(record, key, steps, kind):
    """Run steps in order, each as its user, into record[key]; False at the first that fails. A step
    is {"user", "command"} (the setup's, for a shell) or {"user", "argv"} (a remedy's, no shell)."""
    record[key] = []
    for step in steps:
        argv = step["argv"] if "argv" in step else ["sh", "-c", step["command"]]
        heading("%s as %s: %s" % (kind, step["user"], step.get("command") or " ".join(shlex.quote(a) for a in argv)))
        code, out, secs, timed_out = run(argv, echo=True, who=step["user"])
        record[key].append(dict(step, exit_code=code, output=out[-MAX_OUTPUT:], seconds=secs, timed_out=timed_out))
        if code != 0:
            return False
    return True


def upgrade_steps(argv):
    """The upgrade's commands: its argv split at STEP, as a shell runs `a && b` (pip-tools)."""
    steps = [[]]
    for arg in argv:
        if arg == STEP:
            steps.append([])
        else:
            steps[-1].append(arg)
    return steps


def run_upgrade(steps):
    """Each of the upgrade's commands in turn, as the upgrader, until one fails: its exit code,
    every output in order, the time they took, whether one ran out of time."""
    outputs, took = [], 0.0
    for argv in steps:
        # One time limit for the whole upgrade, as a CI step's
        code, out, secs, timed_out = run(argv, timeout=max(TIMEOUT - took, 1.0), echo=True,
                                         who=UPGRADER)
        outputs.append(out)
        took += secs
        if code != 0 or timed_out:
            break
    return code, "".join(outputs), took, timed_out


def read_report(path):
    """What pip's --report says it would install: each distribution, its file and where from."""
    try:
        with open(path) as fh:
            report = json.load(fh)
    except (OSError, ValueError):
        return None
    rows = []
    for item in report.get("install") or []:
        meta = item.get("metadata") or {}
        url = (item.get("download_info") or {}).get("url") or ""
        rows.append({"name": meta.get("name") or "", "version": meta.get("version") or "",
                     "file": url.rsplit("/", 1)[-1].split("#", 1)[0], "url": url.split("#", 1)[0],
                     "requested": bool(item.get("requested")),
                     "requires_python": meta.get("requires_python") or ""})
    return {"install": rows, "environment": report.get("environment") or {}}


def resolve(record):
    """A resolved cell: the installer's dry run for another platform, and what it would take."""
    record["resolution"] = {key: RESOLVE[key] for key in ("platform", "describe", "python", "tags")}
    if "tags" in PROBES:  # the platform's tags as this pip computes them from its options
        code, out, _, _ = run(PROBES["tags"] + [json.dumps(RESOLVE["tags_for"])], timeout=120)
        said = last_json(out) if code == 0 else None
        record["resolution"]["tags"] = said if isinstance(said, dict) else RESOLVE["tags"]
    heading("resolve for %s as %s: %s" % (RESOLVE["describe"], UPGRADER, UPGRADE))
    code, out, secs, timed_out = run_upgrade(upgrade_steps(shlex.split(UPGRADE)))
    record["upgrade"] = {"command": UPGRADE, "exit_code": code, "output": out,
                         "seconds": secs, "timed_out": timed_out}
    record["resolution"]["report"] = read_report(RESOLVE["report"]) if code == 0 else None
    taken = [r["version"] for r in (record["resolution"]["report"] or {}).get("install", [])
             if r["requested"]]
    if taken and RESOLVE["probes"]:
        record["held_back"] = resolved_held_back(taken[0])
    finish(record)


def resolved_held_back(taken):
    """When the resolution would take less than the newest release the index offers for the
    platform, the installer's own dry run of that release for it says what stops it."""
    probes = RESOLVE["probes"]
    code, out, _, _ = run(probes["versions"] + [PACKAGE], timeout=300)
    line = next((ln for ln in out.splitlines() if ln.startswith("Available versions:")), "")
    versions = [v.strip() for v in line.split(":", 1)[-1].split(",") if v.strip()]
    if code != 0 or not versions or versions[0] == taken:
        return None
    argv = probes["dry_run"] + ["%s==%s" % (PACKAGE, versions[0])]
    heading("held back? %s" % " ".join(argv))
    code, out, secs, timed_out = run(argv, timeout=600, echo=True)
    return {"newest": versions[0], "command": " ".join(argv), "exit_code": code, "output": out[-MAX_OUTPUT:],
            "seconds": secs, "timed_out": timed_out}


def triage(record):
    """run --triage: the upgrade as the installer's dry run, in the cell's own environment (its
    prior version, its user, its proxy and CA): it resolves, and stops before installing."""
    record["triage"] = True
    record["before"] = installed_version(UPGRADER)
    heading("triage: %s %s; %s" % (PACKAGE, record["before"] or "(not installed)", record["pip"]))
    if UPGRADE.strip():
        heading("dry run as %s: %s" % (UPGRADER, UPGRADE))
        code, out, secs, timed_out = run_upgrade(upgrade_steps(shlex.split(UPGRADE)))
        record["upgrade"] = {"command": UPGRADE, "exit_code": code, "output": out,
                             "seconds": secs, "timed_out": timed_out}
    finish(record)


def lap(record, stage, since):
    """Seconds the scenario spent in `stage` (record["stages"]): where a cell's time goes."""
    now = time.monotonic()
    record.setdefault("stages", {})[stage] = round(now - since, 2)
    return now


def finish(record):
    sys.stdout.write(PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


def main():
    record = {"schema": 1, "package": PACKAGE, "python": sys.version.split()[0], "upgrader": UPGRADER}
    if SETUP and not run_steps(record, "setup", SETUP, "setup"):
        record["setup_failed"] = True
        return finish(record)
    began = time.monotonic()
    _, pip_version, _, _ = run(PROBES["version"], timeout=120, who=UPGRADER)
    record["pip"] = pip_version.strip()
    _, runtime, _, _ = run(["python3", "-c", RUNTIME], timeout=120, who=UPGRADER)
    record["runtime"] = last_json(runtime) or {"error": runtime[-2000:]}
    if RESOLVE:
        return resolve(record)
    if TRIAGE:
        return triage(record)
    if "error" not in record["runtime"]:
        record["runtime"]["tags"] = tags()
    record["before"] = installed_version(UPGRADER)
    record["installed_before"] = installed(UPGRADER)
    began = lap(record, "probes", began)
    heading("before: %s %s; %s" % (PACKAGE, record["before"] or "(not installed)", record["pip"]))
    if BEFORE and not run_steps(record, "before_steps", BEFORE, "remedy step"):
        record["before_failed"] = True  # the user would stop here: the upgrade is not run
        return finish(record)
    # The same checks before the upgrade: "broke with the upgrade" or "never worked here"
    record["checks_before"] = run_checks(IDENTITIES, "before the upgrade")
    began = lap(record, "checks_before", began)
    record["around_before"], record["around_left_out"] = around(UPGRADER, set())
    began = lap(record, "around_before", began)

    heading("upgrade as %s: %s" % (UPGRADER, UPGRADE))
    steps = upgrade_steps(shlex.split(UPGRADE))
    code, out, secs, timed_out = run_upgrade(steps)
    record["upgrade"] = {"command": UPGRADE, "exit_code": code, "output": out,
                         "seconds": secs, "timed_out": timed_out}
    began = lap(record, "upgrade", began)
    record["after"] = installed_version(UPGRADER)
    record["installed_after"] = installed(UPGRADER)
    heading("after: %s %s" % (PACKAGE, record["after"] or "(not installed)"))
    record["pip_script"] = pip_script(steps[0], UPGRADER)
    record["sharers"] = sharers(UPGRADER)
    if code == 0 and record["after"] and not record["pip_script"]:
        record["held_back"] = held_back(record["after"], UPGRADER)

    began = lap(record, "after", began)  # what is installed now, and why not the newest
    code, out, secs, _ = run(PROBES["check"], timeout=300, echo=True, who=UPGRADER)
    record["pip_check"] = {"command": " ".join(shlex.quote(a) for a in PROBES["check"]),
                           "exit_code": code, "output": out, "seconds": secs}
    heading("%s exited %d" % (" ".join(PROBES["check"]), code))

    began = lap(record, "pip_check", began)
    record["identities"] = {}
    for who in IDENTITIES:
        dist = distribution(who)
        view = {"version": dist["version"] if dist else None, "import": import_check(who, dist)}
        record["identities"][who] = view
        heading("as %s: %s %s, import %s %s" % (who, PACKAGE, view["version"], " ".join(view["import"]["names"]),
                                                 "ok" if view["import"]["ok"] else view["import"]["error"]))
    record["import"] = record["identities"][UPGRADER]["import"]
    if record["after"] and not record["import"]["ok"]:
        record["damaged"] = damaged(UPGRADER)
    began = lap(record, "imports", began)
    record["checks"] = run_checks(IDENTITIES)
    began = lap(record, "checks", began)
    moved = changed_names(record["installed_before"], record["installed_after"])
    record["around_after"], left_out = around(UPGRADER, moved)
    record["around_left_out"] = max(record["around_left_out"], left_out)
    lap(record, "around_after", began)
    finish(record)


if __name__ == "__main__":
    main()
