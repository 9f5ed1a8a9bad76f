"""Damage the wheels in pip's HTTP cache, as a full disk or a killed download can.

Runs at image build time for `cache: corrupted` cells, as the user who will upgrade, after a
`pip download` put the wheel the upgrade wants into that user's cache. Flips bytes in the
middle of each cached wheel; exits 1 if pip kept nothing to damage (then the cell is
reported as setup-failed with this message, instead of pretending).
"""

import os
import sys

root = os.path.join(os.path.expanduser("~"), ".cache", "pip")
damaged = 0
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        with open(path, "rb") as fh:
            data = bytearray(fh.read())
        start = data.find(b"PK\x03\x04")  # a zip (wheel) body
        if start < 0:
            continue
        middle = start + (len(data) - start) // 2
        for i in range(middle, min(middle + 64, len(data))):
            data[i] ^= 0xFF
        with open(path, "wb") as fh:
            fh.write(bytes(data))
        damaged += 1
if not damaged:
    sys.exit("ERROR: repromatrix: pip kept no cached wheel under %s to damage" % root)
print("repromatrix: damaged %d cached wheel(s) under %s" % (damaged, root))
