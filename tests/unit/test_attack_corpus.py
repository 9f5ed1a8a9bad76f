"""The hostile-input corpus (scripts/attack-corpus), replayed through the command line in CI:
no escape, leak, hang, crash or wrong acceptance in any of its cases."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def test_the_corpus_of_hostile_inputs_holds():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "attack-corpus")], capture_output=True, text=True,
                          cwd=REPO, timeout=900, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("now: ") and last.endswith(": ok " + last.split()[1]), last  # every case ok
