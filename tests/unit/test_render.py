"""Rendering: golden Dockerfiles, layer order, the build context on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repromatrix.config.expand import expand
from repromatrix.config.matrix import load_matrix
from repromatrix.core.model import Target
from repromatrix.core.templating import environment
from repromatrix.infra.hostca import HostCA
from repromatrix.plan.plan import RenderContext, local_index_context, plan_cell
from repromatrix.plan.render import render_cell, render_dockerfile
from tests.conftest import DATA, REPO

GOLDEN = DATA / "golden"
MATRIX = """
axes:
  os: [bookworm, bullseye]
  install: [venv, system]
  prior: [none, "2.15.0"]
  ca: [host, none]
exclude: [{os: bullseye, install: venv}, {os: bookworm, prior: none, ca: none}]
include:
  - {os: bullseye, install: user-venv, prior: "2.15.0", ca: host}
  - {os: bullseye, install: root-venv-user, prior: "2.15.0", ca: host}
  - {os: bullseye, install: user-flag, prior: "2.15.0", ca: host}
"""


@pytest.fixture
def cells(write_matrix):
    return {c.id: c for c in expand(load_matrix(write_matrix(MATRIX)))}


@pytest.fixture
def host_ca(tmp_path) -> HostCA:
    path = tmp_path / "corp-ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n")
    return HostCA(path=path, source="PIP_CERT")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("cell_id, local", [
    ("bookworm-py3.11-venv-tf2.15.0", False),
    ("bookworm-py3.11-system-fresh", False),
    ("bullseye-py3.9-system-tf2.15.0-ca-none", False),
    ("bookworm-py3.11-system-tf2.15.0", True),
    ("bullseye-py3.9-user-venv-tf2.15.0", False),
    ("bullseye-py3.9-root-venv-user-tf2.15.0", False),
    ("bullseye-py3.9-user-flag-tf2.15.0", False),
])
def test_golden_dockerfiles(cells, host_ca, cell_id, local):
    target = load_matrix(REPO / "matrix.yaml").target
    ctx = (local_index_context(target, host_ca, b"-----BEGIN CERTIFICATE-----\nrun CA\n") if local
           else RenderContext(target=target, host_ca=host_ca))
    text = render_dockerfile(plan_cell(cells[cell_id], ctx), ctx)
    check_golden(f"{cell_id}{'-local' if local else ''}.Dockerfile", text)


def test_layers_go_from_shared_to_specific(cells, host_ca):
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    text = render_dockerfile(plan_cell(cells["bookworm-py3.11-venv-tf2.15.0"], ctx), ctx)
    order = ["FROM debian:bookworm", "apt-get install", "COPY ca-bundle.pem", "python3 -m venv",
             "repromatrix-setup", "COPY scenario.py", "CMD"]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "--upgrade" not in text.split("COPY scenario.py")[0]  # the upgrade runs at `docker run`


def test_ca_none_or_missing_host_ca_trusts_nothing(cells):
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=None)
    plan = plan_cell(cells["bookworm-py3.11-venv-tf2.15.0"], ctx)
    assert not plan.trusts_ca and "no CA bundle configured" in plan.notes[0]
    assert "PIP_CERT" not in render_dockerfile(plan, ctx)


def test_render_cell_writes_a_complete_context(cells, host_ca, tmp_path: Path):
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    out = render_cell(plan_cell(cells["bookworm-py3.11-venv-tf2.15.0"], ctx), ctx, tmp_path / "df")
    assert sorted(p.name for p in out.iterdir()) == ["Dockerfile", "ca-bundle.pem", "scenario.py"]
    assert (out / "ca-bundle.pem").read_bytes() == host_ca.path.read_bytes()
    none_cell = render_cell(plan_cell(cells["bullseye-py3.9-system-tf2.15.0-ca-none"], ctx), ctx, tmp_path / "df")
    assert not (none_cell / "ca-bundle.pem").exists()
    assert [p.name for p in (tmp_path / "df").iterdir() if p.name.startswith(".")] == [".shared"]  # no temp dirs


def test_templates_are_compiled_once_per_process(cells, host_ca, tmp_path: Path, monkeypatch):
    # Rendering compiled the Dockerfile's templates again for every cell (49 of 51 s on 500 cells).
    import jinja2

    compiled: list[str | None] = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    environment.cache_clear()  # as in a new process
    ctx = RenderContext(target=Target(), host_ca=host_ca)
    for cell in cells.values():
        render_cell(plan_cell(cell, ctx), ctx, tmp_path)
    assert len(cells) > 3 and "Dockerfile.j2" in compiled
    assert len(compiled) == len(set(compiled))  # none twice, however many cells


def test_every_template_is_shipped_in_the_package():
    # An editable install reads templates from the tree; a real one only what package-data lists.
    import tomllib

    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["repromatrix"]
    root = REPO / "src" / "repromatrix"
    shipped = {p for g in globs for p in root.glob(g) if p.is_file()}  # '*' does not cross '/', as in setuptools
    files = {p for p in (root / "templates").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files and sorted(str(p.relative_to(root)) for p in files - shipped) == []


def test_the_ca_bundle_is_stored_once_for_all_cells(cells, host_ca, tmp_path: Path):
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    dirs = [render_cell(plan_cell(c, ctx), ctx, tmp_path / "df") for c in cells.values()
            if plan_cell(c, ctx).trusts_ca]
    bundles = [d / "ca-bundle.pem" for d in dirs]
    assert len(bundles) >= 5 and len({b.stat().st_ino for b in bundles}) == 1  # one file, linked everywhere
    assert all(b.read_bytes() == host_ca.path.read_bytes() for b in bundles)


def test_a_planted_shared_ca_bundle_is_never_reused(cells, host_ca, tmp_path: Path):
    # An output directory someone else filled: its `.shared` files are recomputed, not trusted.
    import hashlib

    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    out = tmp_path / "df"
    real = host_ca.read()
    planted = out / ".shared" / f"{hashlib.sha256(real).hexdigest()[:16]}-ca-bundle.pem"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIBplanted\n-----END CERTIFICATE-----\n")
    context = render_cell(plan_cell(cells["bookworm-py3.11-venv-tf2.15.0"], ctx), ctx, out)
    assert (context / "ca-bundle.pem").read_bytes() == real


def test_a_shared_folder_that_links_elsewhere_is_not_written_through(cells, host_ca, tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "df"
    out.mkdir()
    (out / ".shared").symlink_to(outside)
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    render_cell(plan_cell(cells["bookworm-py3.11-venv-tf2.15.0"], ctx), ctx, out)
    assert list(outside.iterdir()) == []
    assert (out / ".shared").is_dir() and not (out / ".shared").is_symlink()


def test_a_cell_id_longer_than_a_file_name_gets_a_bounded_directory(write_matrix, tmp_path: Path):
    # A legal matrix: an image reference as `os` and a long local version give a 300-character id.
    image = "registry.example:5000/" + "team/" * 40 + "debian:bookworm"
    path = write_matrix(f"axes: {{os: ['{image}'], install: [venv], prior: ['2.15.0+{'x' * 40}']}}\n")
    (cell,) = expand(load_matrix(path))
    assert len(cell.id) > 255
    ctx = RenderContext(target=load_matrix(path).target)
    out = render_cell(plan_cell(cell, ctx), ctx, tmp_path)
    assert len(out.name) <= 100 and out.name.startswith(cell.id[:40])
    assert f"# repromatrix cell {cell.id}" in (out / "Dockerfile").read_text()  # the id stays in it
    twin = cell.__class__(id=cell.id + "y", values=cell.values)
    assert twin.name != cell.name  # the hash of the whole id keeps names apart


PLATFORMS_MATRIX = """
axes:
  os: [bookworm]
  arch: [amd64]
  platform: [linux]
  python: [system]
  install: [venv, user-venv]
include:
  - {arch: arm64, install: venv}
  - {platform: windows-amd64, python: "3.12", install: venv}
  - {os: "ubuntu:24.04", install: user-venv}
  - {os: "alpine:3.20", install: user-venv}
  - {os: "rockylinux:9", install: user-venv}
  - {os: "quay.io/someone/linux:1", install: venv}
"""


@pytest.mark.parametrize("cell_id", [
    "bookworm-arm64-py3.11-venv-fresh",
    "bookworm-windows-amd64-py3.12-venv-fresh",
    "ubuntu-24.04-py3.12-user-venv-fresh",
])
def test_golden_dockerfiles_of_other_platforms(write_matrix, host_ca, cell_id):
    cells = {c.id: c for c in expand(load_matrix(write_matrix(PLATFORMS_MATRIX)))}
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    check_golden(f"{cell_id}.Dockerfile", render_dockerfile(plan_cell(cells[cell_id], ctx), ctx))


@pytest.mark.parametrize("cell_id, installs, adds_user, trusts", [
    ("ubuntu-24.04-py3.12-user-venv-fresh", "apt-get install -y --no-install-recommends python3 python3-pip "
     "python3-venv", "useradd --create-home user", None),
    ("alpine-3.20-py3.12-user-venv-fresh", "apk add --no-cache python3 py3-pip ca-certificates", "adduser -D user",
     None),
    ("rockylinux-9-py3.9-user-venv-fresh", "dnf install -y python3 python3-pip shadow-utils ca-certificates",
     "useradd --create-home user", None),
    ("quay.io-someone-linux-1-pysystem-venv-fresh", "elif command -v apk >/dev/null; then apk add", None, None),
])
def test_each_os_family_installs_python_and_adds_users_its_own_way(write_matrix, host_ca, cell_id, installs,
                                                                   adds_user, trusts):
    from dockerfile_parse import DockerfileParser

    cells = {c.id: c for c in expand(load_matrix(write_matrix(PLATFORMS_MATRIX)))}
    ctx = RenderContext(target=load_matrix(REPO / "matrix.yaml").target, host_ca=host_ca)
    parser = DockerfileParser(fileobj=__import__("io").BytesIO())
    parser.content = render_dockerfile(plan_cell(cells[cell_id], ctx), ctx)
    runs = [i["value"] for i in parser.structure if i["instruction"] == "RUN"]
    assert installs in runs[0]
    if adds_user:
        assert adds_user in runs
    # every instruction is one the templates write: nothing else got in
    assert {i["instruction"] for i in parser.structure} <= {"FROM", "RUN", "COPY", "ENV", "ARG", "USER", "CMD",
                                                            "COMMENT"}
