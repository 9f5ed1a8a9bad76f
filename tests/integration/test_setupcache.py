"""The setup cache against a real engine: what Docker's own layer cache must not reuse."""

from __future__ import annotations

import contextlib
import os

from repromatrix.core.model import CacheMode
from repromatrix.infra.docker_engine import DockerEngine
from repromatrix.infra.setupcache import INDEX_STATE_ARG, SetupCache


def test_a_setup_made_against_another_index_is_built_again_not_taken_from_the_layer_cache(docker_client, tmp_path):
    # The setup's step reads the index (as a prior version's install does). Two index states give two
    # keys; Docker sees the same instructions and files, so only the build argument keeps it from
    # answering the second build with the first one's layer ("Using cache", and no output).
    # The step's output (not its command line) says it ran: the shell computes it.
    (tmp_path / "Dockerfile").write_text(f"FROM debian:bookworm AS setup\nARG {INDEX_STATE_ARG}\n"
                                         f"RUN echo step-ran-$((6*7)) && date +%s%N > /made\nFROM setup\n")
    engine = DockerEngine(f"test-index-state-{os.getpid()}")
    made = []
    try:
        for index in ("local index, state one", "local index, state two"):
            cache = SetupCache(engine, CacheMode.REUSE, index)
            setup = cache.ensure(tmp_path, "debian:bookworm", None)
            assert setup.how == "built" and setup.build is not None, setup
            step = setup.build.log.split("RUN echo", 1)[1]
            assert "step-ran-42" in step and "Using cache" not in step, setup.build.log
            made.append(setup.image)
        assert made[0] != made[1]
        # The same index state again is the cache's to reuse, by its key
        again = SetupCache(engine, CacheMode.REUSE, "local index, state one").ensure(tmp_path, "debian:bookworm", None)
        assert (again.how, again.image) == ("cached", made[0])
    finally:
        for image in made:
            with contextlib.suppress(Exception):
                docker_client.images.remove(image, force=True)
