"""Unit tests keep what repromatrix stores on the machine (run locks, kept CAs) to themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get("REPROMATRIX_CACHE_DIR")
    os.environ["REPROMATRIX_CACHE_DIR"] = str(tmp_path_factory.mktemp("repromatrix-cache"))
    yield
    if before is None:
        del os.environ["REPROMATRIX_CACHE_DIR"]
    else:
        os.environ["REPROMATRIX_CACHE_DIR"] = before
