"""repromatrix scenario: runs inside a cell's container; standard library only.

Records what the upgrade did: versions before and after, pip's exit code and full output,
`pip check`, whether the package imports and which version it reports, Python and pip
versions, durations. pip's output streams live; the record is the last line of output,
prefixed with REPROMATRIX-RECORD. Configured by the REPROMATRIX_* variables in the Dockerfile.
"""

import json
import os
import shlex
import subprocess
import sys
import threading
import time

PACKAGE = os.environ.get("REPROMATRIX_PACKAGE", "tensorflow")
IMPORT = os.environ.get("REPROMATRIX_IMPORT", PACKAGE.replace("-", "_"))
UPGRADE = os.environ.get("REPROMATRIX_UPGRADE", "python3 -m pip install --upgrade " + PACKAGE)
TIMEOUT = float(os.environ.get("REPROMATRIX_TIMEOUT", "1500"))
PREFIX = "REPROMATRIX-RECORD "

VERSION_OF = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
IMPORT_CHECK = ("import importlib, sys; mod = importlib.import_module(sys.argv[1]); "
                "print(getattr(mod, '__version__', ''))")


def run(argv, timeout=TIMEOUT, echo=False):
    """Run argv; return (exit code, combined output, seconds, timed out)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, errors="replace")
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


def installed_version():
    code, out, _, _ = run(["python3", "-c", VERSION_OF, PACKAGE], timeout=120)
    return out.strip().splitlines()[-1] if code == 0 and out.strip() else None


def heading(text):
    sys.stdout.write("== repromatrix: %s\n" % text)
    sys.stdout.flush()


def main():
    record = {"schema": 1, "package": PACKAGE, "python": sys.version.split()[0]}
    _, pip_version, _, _ = run(["python3", "-m", "pip", "--version"], timeout=120)
    record["pip"] = pip_version.strip()
    record["before"] = installed_version()
    heading("before: %s %s; %s" % (PACKAGE, record["before"] or "(not installed)", record["pip"]))

    heading("upgrade: " + UPGRADE)
    code, out, secs, timed_out = run(shlex.split(UPGRADE), echo=True)
    record["upgrade"] = {"command": UPGRADE, "exit_code": code, "output": out,
                         "seconds": secs, "timed_out": timed_out}
    record["after"] = installed_version()
    heading("after: %s %s" % (PACKAGE, record["after"] or "(not installed)"))

    code, out, secs, _ = run(["python3", "-m", "pip", "check"], timeout=300, echo=True)
    record["pip_check"] = {"exit_code": code, "output": out, "seconds": secs}
    heading("pip check exited %d" % code)

    code, out, secs, _ = run(["python3", "-c", IMPORT_CHECK, IMPORT], timeout=600)
    lines = out.strip().splitlines()
    record["import"] = {"ok": code == 0, "version": lines[-1] if code == 0 and lines else None,
                        "error": None if code == 0 else (lines[-1] if lines else "exit %d" % code),
                        "output": out, "seconds": secs}
    heading("import %s: %s" % (IMPORT, "ok " + str(record["import"]["version"]) if code == 0
                                else record["import"]["error"]))
    sys.stdout.write(PREFIX + json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
