"""repromatrix scenario: runs inside a cell's container; standard library only.

Records what the upgrade did: versions before and after, pip's exit code and full output,
`pip check`, whether the package imports and which version it reports, Python and pip
versions, durations. The upgrade runs as REPROMATRIX_USER (root if empty); afterwards every
identity in REPROMATRIX_IDENTITIES is asked which version it imports, because an upgrade that
lands in one user's site-packages leaves root and services on the old one. pip's output
streams live; the record is the last line of output, prefixed with REPROMATRIX-RECORD.
Configured by the REPROMATRIX_* variables in the Dockerfile.
"""

import json
import os
import pwd
import shlex
import subprocess
import sys
import threading
import time

PACKAGE = os.environ.get("REPROMATRIX_PACKAGE", "tensorflow")
IMPORT = os.environ.get("REPROMATRIX_IMPORT", PACKAGE.replace("-", "_"))
UPGRADE = os.environ.get("REPROMATRIX_UPGRADE", "python3 -m pip install --upgrade " + PACKAGE)
TIMEOUT = float(os.environ.get("REPROMATRIX_TIMEOUT", "1500"))
UPGRADER = os.environ.get("REPROMATRIX_USER") or "root"
IDENTITIES = os.environ.get("REPROMATRIX_IDENTITIES", "root").split()
if UPGRADER not in IDENTITIES:
    IDENTITIES.append(UPGRADER)
PREFIX = "REPROMATRIX-RECORD "

VERSION_OF = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
IMPORT_CHECK = ("import importlib, sys; mod = importlib.import_module(sys.argv[1]); "
                "print(getattr(mod, '__version__', ''))")


def proxy_env():
    """Proxy variables with credentials, from the secret file (never printed, never stored)."""
    path = os.environ.get("REPROMATRIX_PROXY_SECRET")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as fh:
        url = fh.read().strip()
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url}


def identity(name):
    """Popen arguments that run a command as `name`, with that user's home and groups."""
    env = dict(os.environ, **proxy_env())
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
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, errors="replace", **identity(who))
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


def installed_version(who):
    code, out, _, _ = run(["python3", "-c", VERSION_OF, PACKAGE], timeout=120, who=who)
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else None


def import_check(who):
    code, out, secs, _ = run(["python3", "-c", IMPORT_CHECK, IMPORT], timeout=600, who=who)
    lines = out.strip().splitlines()
    return {"ok": code == 0, "version": lines[-1] if code == 0 and lines else None,
            "error": None if code == 0 else (lines[-1] if lines else "exit %d" % code),
            "output": out, "seconds": secs}


def heading(text):
    sys.stdout.write("== repromatrix: %s\n" % text)
    sys.stdout.flush()


def main():
    record = {"schema": 1, "package": PACKAGE, "python": sys.version.split()[0], "upgrader": UPGRADER}
    _, pip_version, _, _ = run(["python3", "-m", "pip", "--version"], timeout=120, who=UPGRADER)
    record["pip"] = pip_version.strip()
    record["before"] = installed_version(UPGRADER)
    heading("before: %s %s; %s" % (PACKAGE, record["before"] or "(not installed)", record["pip"]))

    heading("upgrade as %s: %s" % (UPGRADER, UPGRADE))
    code, out, secs, timed_out = run(shlex.split(UPGRADE), echo=True, who=UPGRADER)
    record["upgrade"] = {"command": UPGRADE, "exit_code": code, "output": out,
                         "seconds": secs, "timed_out": timed_out}
    record["after"] = installed_version(UPGRADER)
    heading("after: %s %s" % (PACKAGE, record["after"] or "(not installed)"))

    code, out, secs, _ = run(["python3", "-m", "pip", "check"], timeout=300, echo=True, who=UPGRADER)
    record["pip_check"] = {"exit_code": code, "output": out, "seconds": secs}
    heading("pip check exited %d" % code)

    record["identities"] = {}
    for who in IDENTITIES:
        view = {"version": installed_version(who), "import": import_check(who)}
        record["identities"][who] = view
        heading("as %s: %s %s, import %s" % (who, PACKAGE, view["version"],
                                              "ok" if view["import"]["ok"] else view["import"]["error"]))
    record["import"] = record["identities"][UPGRADER]["import"]
    sys.stdout.write(PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
