# repromatrix cell bookworm-windows-amd64-py3.12-venv-fresh
#   os: bookworm
#   arch: amd64
#   platform: windows-amd64
#   python: 3.12
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
#   docker build -t repromatrix/bookworm-windows-amd64-py3.12-venv-fresh . && docker run --rm repromatrix/bookworm-windows-amd64-py3.12-venv-fresh
# Only resolved, for Windows on x86-64, CPython 3.12: a platform no container here runs. The
# container runs pip's dry run with that platform's wheel tags and, through
# resolve_for.py, its environment markers (markers.json). Nothing is installed, imported
# or checked.

FROM debian:bookworm AS setup

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

# The scenario: record the installer's version and run its dry run for the platform.
COPY scenario.py /opt/repromatrix/scenario.py
COPY resolve_for.py /opt/repromatrix/resolve_for.py
COPY markers.json /opt/repromatrix/markers.json
ENV REPROMATRIX_PACKAGE='tensorflow' \
    REPROMATRIX_IMPORTS='' \
    REPROMATRIX_UPGRADE='python3 /opt/repromatrix/resolve_for.py install --dry-run --ignore-installed --only-binary=:all: --platform win_amd64 --python-version 3.12 --implementation cp --abi cp312 --target /tmp/repromatrix-target --report /tmp/repromatrix-resolution.json tensorflow' \
    REPROMATRIX_USER='' \
    REPROMATRIX_IDENTITIES='root' \
    REPROMATRIX_PROBES='{"version": ["python3", "-m", "pip", "--version"], "check": ["python3", "-m", "pip", "check"], "versions": ["python3", "-m", "pip", "index", "versions"], "dry_run": ["python3", "-m", "pip", "install", "--dry-run"], "tags": ["python3", "-c", "\nimport json, sys\n# A resolution'"'"'s platform (JSON: version, platforms, impl, abis), as pip computes its tags from\n# --python-version, --platform, --implementation and --abi; none: this interpreter'"'"'s own.\ntarget = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}\ntry:\n    from pip._internal.utils.compatibility_tags import get_supported\n    supported = [(t.interpreter, t.abi, t.platform) for t in get_supported(**target)]\nexcept ImportError:  # pip < 20\n    from pip._internal.pep425tags import get_supported\n    supported = list(get_supported())\npairs, platforms = [], []\nfor interpreter, abi, platform in supported:\n    if interpreter + \"-\" + abi not in pairs:\n        pairs.append(interpreter + \"-\" + abi)\n    if platform not in platforms:\n        platforms.append(platform)\nprint(json.dumps({\"count\": len(supported), \"pairs\": pairs, \"platforms\": platforms}))\n"]}' \
    REPROMATRIX_RESOLVE='{"platform": "windows-amd64", "describe": "Windows on x86-64, CPython 3.12", "python": "3.12", "report": "/tmp/repromatrix-resolution.json", "tags": {"count": 42, "pairs": ["cp312-cp312", "cp312-abi3", "cp312-none", "cp311-abi3", "cp310-abi3", "cp39-abi3", "cp38-abi3", "cp37-abi3", "cp36-abi3", "cp35-abi3", "cp34-abi3", "cp33-abi3", "cp32-abi3", "py312-none", "py3-none", "py311-none", "py310-none", "py39-none", "py38-none", "py37-none", "py36-none", "py35-none", "py34-none", "py33-none", "py32-none", "py31-none", "py30-none"], "platforms": ["win_amd64", "any"]}, "tags_for": {"version": "312", "platforms": ["win_amd64"], "impl": "cp", "abis": ["cp312"]}, "probes": {"versions": ["python3", "/opt/repromatrix/resolve_for.py", "index", "versions", "--platform", "win_amd64", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312"], "dry_run": ["python3", "/opt/repromatrix/resolve_for.py", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:", "--platform", "win_amd64", "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "--target", "/tmp/repromatrix-target", "--report", "/tmp/repromatrix-resolution.json"]}}'
CMD ["python3", "/opt/repromatrix/scenario.py"]
