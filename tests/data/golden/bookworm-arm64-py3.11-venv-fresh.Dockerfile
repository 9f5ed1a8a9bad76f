# repromatrix cell bookworm-arm64-py3.11-venv-fresh
#   os: bookworm
#   arch: arm64
#   platform: linux
#   python: system
#   install: venv
#   prior: none
#   ca: host
#   network: direct
#   pip: os
#   cache: clean
#   conflicts: none
#   resources: unlimited
#   installer: pip
#
# Reproduce this cell by hand, from this directory:
#   docker build -t repromatrix/bookworm-arm64-py3.11-venv-fresh . && docker run --rm repromatrix/bookworm-arm64-py3.11-venv-fresh
# The upgrade runs when the container runs, not at build time.

FROM arm64v8/debian:bookworm AS setup

# Built for arm64: 64-bit ARM (AWS Graviton, Ampere, Raspberry Pi OS 64-bit, Docker on Apple silicon).
# On a machine of another architecture Docker runs it under qemu-user emulation (Debian's
# qemu-user-static and binfmt-support).
# The OS's own python3, pip and venv (Debian and Ubuntu).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
 && rm -rf /var/lib/apt/lists/*

# Trust the CA bundle the host's pip trusts (a corporate or TLS-intercepting CA).
COPY ca-bundle.pem /usr/local/share/repromatrix/ca-bundle.pem
ENV PIP_CERT=/usr/local/share/repromatrix/ca-bundle.pem

ENV PIP_DISABLE_PIP_VERSION_CHECK='1'
# What the index held when this setup was built: repromatrix passes it (by hand it is empty).
# Docker's build cache then never reuses a step below that read another index's files.
ARG REPROMATRIX_INDEX_STATE

# Install mode venv: root creates a virtual environment and upgrades in it.
RUN python3 -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH

# Everything above is the cell's setup (stage setup): repromatrix keeps it as a cache
# image and reuses it across runs. The scenario below is built fresh each time.
FROM setup

# The scenario: record the versions, run the upgrade, check what it left behind
# for each identity (root).
COPY scenario.py /opt/repromatrix/scenario.py
ENV REPROMATRIX_PACKAGE='tensorflow' \
    REPROMATRIX_IMPORTS='' \
    REPROMATRIX_UPGRADE='python3 -m pip install --upgrade tensorflow' \
    REPROMATRIX_USER='' \
    REPROMATRIX_IDENTITIES='root' \
    REPROMATRIX_PROBES='{"version": ["python3", "-m", "pip", "--version"], "check": ["python3", "-m", "pip", "check"], "versions": ["python3", "-m", "pip", "index", "versions"], "dry_run": ["python3", "-m", "pip", "install", "--dry-run"], "tags": ["python3", "-c", "\nimport json, sys\n# A resolution'"'"'s platform (JSON: version, platforms, impl, abis), as pip computes its tags from\n# --python-version, --platform, --implementation and --abi; none: this interpreter'"'"'s own.\ntarget = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}\ntry:\n    from pip._internal.utils.compatibility_tags import get_supported\n    supported = [(t.interpreter, t.abi, t.platform) for t in get_supported(**target)]\nexcept ImportError:  # pip < 20\n    from pip._internal.pep425tags import get_supported\n    supported = list(get_supported())\npairs, platforms = [], []\nfor interpreter, abi, platform in supported:\n    if interpreter + \"-\" + abi not in pairs:\n        pairs.append(interpreter + \"-\" + abi)\n    if platform not in platforms:\n        platforms.append(platform)\nprint(json.dumps({\"count\": len(supported), \"pairs\": pairs, \"platforms\": platforms}))\n"]}'
CMD ["python3", "/opt/repromatrix/scenario.py"]
