"""repromatrix's date-filtering index, run in its service container (infra/timemachine.py).

pypi-timemachine's filter (DateFilteredReleases) over simple-repository's HttpRepository,
served by simple-repository-server at /as-of/TIME/simple/ for any UTC TIME ('2024-03-13T18:02:00Z':
the files uploaded at or after it are left out), HTML or JSON as the client asks: a bisect's probe
reads two, its setup's and its upgrade's. Configured by the environment: TM_UPSTREAM (the index it
filters; empty: pypi-timemachine's default), TM_CUTOFFS (the run's times, for its log),
TM_PACKAGE (the target: its page must carry upload times, or nothing could be filtered), TM_PORT,
and SSL_CERT_FILE (what it trusts upstream). tests/unit/test_timemachine_filter.py builds the
same app (build_app) in front of an index of its own.
"""

import asyncio
import datetime
import os
import ssl
import sys

import fastapi
import httpx
import uvicorn
from pypi_timemachine.core import MAIN_PYPI, DateFilteredReleases
from simple_repository.components.http import HttpRepository
from simple_repository.errors import PackageNotFoundError
from simple_repository_server.routers import simple


def cutoff(when):
    """The filter's cutoff for an as-of time ('2024-03-13T18:02:00Z'; ValueError otherwise).
    simple-repository reads upload times as naive UTC: the cutoff is compared as one. The filter
    keeps a file uploaded at the cutoff; pip's --uploaded-prior-to and uv's --exclude-newer take
    only what came before it, and every cell must see the same index: one microsecond (the upload
    times' own resolution) earlier, it keeps exactly those."""
    moment = datetime.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ")
    return moment - datetime.timedelta(microseconds=1)


def client(cafile=None):
    verify = ssl.create_default_context(cafile=cafile) if cafile else True
    return httpx.AsyncClient(follow_redirects=True, verify=verify, timeout=60)


def build_app(upstream_url, http):
    """The service: the upstream as of TIME at /as-of/TIME/simple/ (the path the cells read:
    infra/timemachine.py's time_url); a TIME in another form is refused (400)."""
    upstream = HttpRepository(upstream_url, http_client=http)

    def as_of(when: str):
        try:
            return DateFilteredReleases(upstream, cutoff_date=cutoff(when))
        except ValueError:
            raise fastapi.HTTPException(400, "not a UTC time such as 2024-03-13T18:02:00Z: %s"
                                        % when) from None

    app = fastapi.FastAPI(openapi_url=None)
    router = simple.build_router(upstream, http_client=http, prefix="/as-of/{when}/simple/",
                                 repo_factory=as_of)
    app.include_router(router)
    return app


async def dated(upstream_url, package, cafile):
    """How many of the target's files the upstream dates, of how many (PEP 700); (0, 0) for a
    project the upstream does not have: the service then answers 404 for it, as the upstream
    does, and the installer says so in its own words."""
    async with client(cafile) as http:
        try:
            page = await HttpRepository(upstream_url, http_client=http).get_project_page(package)
        except PackageNotFoundError:
            return 0, 0
    return sum(f.upload_time is not None for f in page.files), len(page.files)


def main():
    upstream = os.environ.get("TM_UPSTREAM") or MAIN_PYPI
    cutoffs = os.environ["TM_CUTOFFS"].split()
    package = os.environ["TM_PACKAGE"]
    port = int(os.environ.get("TM_PORT", "8000"))
    cafile = os.environ.get("SSL_CERT_FILE")
    with_time, files = asyncio.run(dated(upstream, package, cafile))
    if files and not with_time:
        print("repromatrix-timemachine: %s serves no upload times (PEP 700) for %s's %d files: "
              "no file can be left out by time" % (upstream, package, files), flush=True)
        sys.exit(3)
    app = build_app(upstream, client(cafile))
    print("repromatrix-timemachine listening on port %d: %s as of %s, the files uploaded before it"
          " (%d of %s's %d files dated)"
          % (port, upstream, " and of ".join(cutoffs), with_time, package, files), flush=True)
    uvicorn.run(app, host="0.0.0.0", port=port, log_level="info")


if __name__ == "__main__":
    main()
