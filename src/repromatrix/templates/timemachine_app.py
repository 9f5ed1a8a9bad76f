"""repromatrix's date-filtering index, run in its service container (infra/timemachine.py).

pypi-timemachine's filter (DateFilteredReleases) over simple-repository's HttpRepository,
served by simple-repository-server at /as-of/TIME/simple/, HTML or JSON as the client asks. Configured by
the environment: TM_UPSTREAM (the index it filters; empty: pypi-timemachine's default),
TM_CUTOFF (UTC, '2024-03-13T18:02:00Z': files uploaded at or after it are left out), TM_PACKAGE (the
target: its page must carry upload times, or nothing could be filtered), TM_PORT, and
SSL_CERT_FILE (what it trusts upstream).
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
from simple_repository_server.routers import simple

UPSTREAM = os.environ.get("TM_UPSTREAM") or MAIN_PYPI
# simple-repository reads upload times as naive UTC: the cutoff is compared as one. The filter
# keeps a file uploaded at the cutoff; pip's --uploaded-prior-to and uv's --exclude-newer take only
# what came before it, and every cell must see the same index: one microsecond (the upload
# times' own resolution) earlier, it keeps exactly those.
CUTOFF = datetime.datetime.strptime(
    os.environ["TM_CUTOFF"], "%Y-%m-%dT%H:%M:%SZ"
) - datetime.timedelta(microseconds=1)
PACKAGE = os.environ["TM_PACKAGE"]
PORT = int(os.environ.get("TM_PORT", "8000"))


def client():
    cafile = os.environ.get("SSL_CERT_FILE")
    verify = ssl.create_default_context(cafile=cafile) if cafile else True
    return httpx.AsyncClient(follow_redirects=True, verify=verify, timeout=60)


async def dated():
    """How many of the target's files the upstream dates, of how many (PEP 700)."""
    async with client() as http:
        page = await HttpRepository(UPSTREAM, http_client=http).get_project_page(PACKAGE)
    return sum(f.upload_time is not None for f in page.files), len(page.files)


def main():
    with_time, files = asyncio.run(dated())
    if files and not with_time:
        print("repromatrix-timemachine: %s serves no upload times (PEP 700) for %s's %d files: "
              "no file can be left out by time" % (UPSTREAM, PACKAGE, files), flush=True)
        sys.exit(3)
    http = client()
    upstream = HttpRepository(UPSTREAM, http_client=http)
    repository = DateFilteredReleases(upstream, cutoff_date=CUTOFF)
    app = fastapi.FastAPI(openapi_url=None)
    # the path the cells read (infra/timemachine.py's time_url)
    prefix = "/as-of/%s/simple/" % os.environ["TM_CUTOFF"]
    app.include_router(simple.build_router(repository, http_client=http, prefix=prefix))
    print("repromatrix-timemachine listening on port %d: %s as of %s, the files uploaded before it"
          " (%d of %s's %d files dated)"
          % (PORT, UPSTREAM, os.environ["TM_CUTOFF"], with_time, PACKAGE, files), flush=True)
    uvicorn.run(app, host="0.0.0.0", port=PORT, log_level="info")


if __name__ == "__main__":
    main()
