"""Services a run starts for its cells: the local index, the test proxy and the date-filtering
index.

Both are real servers in containers, labelled with the run and removed with it: nginx serving
the model index over HTTPS (a CA made for the run), and squid on an internal network whose
only way out it is. Only the Engine talks to Docker; this module decides what to start.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from ..core.axes import (
    FLAKY_CUT_AFTER,
    FLAKY_HOST,
    FLAKY_PORT,
    FLAKY_STALL_PORT,
    MITM_HOST,
    MITM_PORT,
    PROXY_AUTH,
    PROXY_HOST,
    PROXY_NOTHING,
    PROXY_OPEN,
    RunNeeds,
    Service,
)
from ..core.errors import BaseImageError, InfraError
from ..core.files import write_atomic
from ..core.model import Matrix
from ..core.templating import render, template_bytes
from .baseimages import Provisioned
from .credentials import IndexCredentials, secret_file
from .engine import Box, Engine
from .hostca import HostCA
from .localindex import INDEX_HOST, INDEX_PORT, fetch_real_wheels, write_index
from .setupcache import SETUP_STAGE, SetupCache, scenario_dockerfile
from .timemachine import READY, TIME_HOST, TIME_PORT, TIMEMACHINE, service_wheels, time_url
from .tlsca import RunCA

SERVICE_BASE = "debian:bookworm"  # the base image of the index and proxy containers
PROXY_USER = "repromatrix"
Ready = dict[str, Provisioned | BaseImageError]


@dataclass(frozen=True)
class ProxySetup:
    """The run's test proxy: cells behind it run on `network`, which has no other way out."""

    network: str
    url_file: Path  # the proxy URL with credentials, mounted into cells that get it as a secret
    password: str  # redacted from every log we write


def _need_base(ready: Ready, what: str) -> None:
    if isinstance(ready.get(SERVICE_BASE), BaseImageError):
        raise InfraError(f"{what} needs {SERVICE_BASE}: {ready[SERVICE_BASE]}")


@contextlib.contextmanager
def index_service(
    engine: Engine,
    matrix: Matrix,
    needs: RunNeeds,
    network: str,
    run_ca: RunCA | None,
    ready: Ready,
    console: Console,
    credentials: IndexCredentials | None = None,
    cache: SetupCache | None = None,
    run_dir: Path | None = None,
) -> Iterator[str | None]:
    """For a local index, serve it for the run; yields the URL the host reads it at (None: pip's
    default). Its access log (every page, metadata file and wheel asked for) is kept in the run
    directory as index-access.log.

    With `local-auth` nginx demands the run's credentials; they reach it as a file mounted at run
    time, never through its image."""
    if run_ca is None:
        yield matrix.target.index.url or None
        return
    _need_base(ready, "the local index")
    auth = matrix.target.index.auth and credentials is not None
    console.print(f"starting the local model index (target.index: {matrix.target.index})")
    with tempfile.TemporaryDirectory(prefix="repromatrix-index-") as tmp:
        wheels = fetch_real_wheels(sorted(needs.real_wheels))
        tag = build_service(
            engine,
            _index_context(Path(tmp), run_ca, wheels, auth),
            "index",
            "the local index",
            cache,
        )
    name = f"repromatrix-{engine.run_id}-index"
    ports = {f"{INDEX_PORT}/tcp": ("127.0.0.1", None)}
    with contextlib.ExitStack() as stack:
        mounts = None
        if auth and credentials is not None:
            line = f"{credentials.user}:{{PLAIN}}{credentials.password}\n"
            users = stack.enter_context(secret_file("htpasswd", line))
            mounts = {str(users): HTPASSWD}
        box = stack.enter_context(
            engine.container(
                tag,
                name=name,
                role="index",
                network=network,
                aliases=(INDEX_HOST,),
                ports=ports,
                mounts=mounts,
            )
        )
        url = f"https://127.0.0.1:{box.published_port(f'{INDEX_PORT}/tcp')}/simple/"
        _wait_for(url, ssl_context(None, run_ca), timeout=60)
        try:
            yield url
        finally:
            if run_dir is not None:
                write_atomic(run_dir / "index-access.log", box.logs())


@contextlib.contextmanager
def timemachine_service(
    engine: Engine,
    matrix: Matrix,
    needs: RunNeeds,
    network: str,
    upstream_ca_pem: bytes,
    ready: Ready,
    run_dir: Path,
    console: Console,
    cache: SetupCache | None = None,
) -> Iterator[None]:
    """For cells whose installer cannot filter by upload time (--as-of): the date-filtering
    index on the run's network (timemachine.time_url), in front of the run's index; its output
    is kept as timemachine.log. An index that dates none of the target's files is refused."""
    if Service.TIMEMACHINE not in needs.services:
        yield
        return
    _need_base(ready, "the date-filtering index")
    local = matrix.target.index.local
    upstream = f"https://{INDEX_HOST}:{INDEX_PORT}/simple/" if local else matrix.target.index.url
    console.print(
        f"starting the date-filtering index (as of {' and of '.join(matrix.target.as_of_times)}, "
        f"in front of {upstream or 'the default index'})"
    )
    with tempfile.TemporaryDirectory(prefix="repromatrix-timemachine-") as tmp:
        root = Path(tmp)
        context = service_context(
            root / "image",
            "timemachine.Dockerfile.j2",
            port=TIME_PORT,
            requirement=TIMEMACHINE,
        )
        shutil.copytree(service_wheels(), context / "wheels", ignore=_not_wheels)
        (context / "timemachine_app.py").write_bytes(template_bytes("timemachine_app.py"))
        tag = build_service(engine, context, "timemachine", "the date-filtering index", cache)
        trusted = root / "secrets"
        trusted.mkdir(mode=0o700)
        (trusted / "ca.pem").write_bytes(upstream_ca_pem)
        env = {
            "TM_UPSTREAM": upstream,
            "TM_CUTOFFS": " ".join(matrix.target.as_of_times),
            "TM_PACKAGE": matrix.target.name,
            "TM_PORT": str(TIME_PORT),
        }
        env |= {"SSL_CERT_FILE": "/run/secrets/timemachine/ca.pem"} if upstream_ca_pem else {}
        with engine.container(
            tag,
            name=f"repromatrix-{engine.run_id}-timemachine",
            role="timemachine",
            network=network,
            aliases=(TIME_HOST,),
            ports={f"{TIME_PORT}/tcp": ("127.0.0.1", None)},
            mounts={str(trusted): "/run/secrets/timemachine"},
            env=env,
        ) as box:
            try:
                wait_until(box, lambda: READY in box.logs(), "the date-filtering index", 120)
                yield
            finally:
                # A service that exited has no port: its log says why, and the error above
                # stays the one the user sees
                if box.running():
                    _keep_served(box.published_port(f"{TIME_PORT}/tcp"), matrix, run_dir)
                write_atomic(run_dir / "timemachine.log", box.logs())


# The target's page as the date-filtering index served it, in both forms, kept in the run
# directory: what the cells were shown (pip 22.2 and later read JSON, older pips HTML)
SERVED_FORMS = {"json": "application/vnd.pypi.simple.v1+json", "html": "text/html"}


def _keep_served(port: int, matrix: Matrix, run_dir: Path) -> None:
    url = time_url(matrix.target.as_of).replace(f"{TIME_HOST}:{TIME_PORT}", f"127.0.0.1:{port}")
    for suffix, accept in SERVED_FORMS.items():
        request = urllib.request.Request(f"{url}{matrix.target.name}/", headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                page = response.read()
        except (urllib.error.URLError, OSError):
            continue  # the evidence is lost, not the run
        write_atomic(run_dir / f"timemachine-{matrix.target.name}.{suffix}", page)


def _not_wheels(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".whl")]


@dataclass(frozen=True)
class Interception:
    """The TLS-intercepting proxy's CA, and what it trusts upstream (the index's CA)."""

    ca: RunCA
    upstream_ca_pem: bytes


@contextlib.contextmanager
def proxy_service(
    engine: Engine,
    network: str,
    needs: RunNeeds,
    interception: Interception | None,
    ready: Ready,
    run_dir: Path,
    console: Console,
    cache: SetupCache | None = None,
) -> Iterator[ProxySetup | None]:
    """For cells behind a proxy: an internal network whose only ways out are squid, and
    mitmproxy and the fault injector where cells need them."""
    if Service.PROXY not in needs.services:
        yield None
        return
    _need_base(ready, "the test proxy")
    console.print("starting the test proxy (squid) on an internal network")
    internal = engine.create_network(f"repromatrix-{engine.run_id}-internal", internal=True)
    password = secrets.token_urlsafe(18)  # made per run; redacted from every log
    with tempfile.TemporaryDirectory(prefix="repromatrix-proxy-") as tmp:
        root = Path(tmp)
        tag = build_service(
            engine, _proxy_context(root / "image"), "proxy", "the test proxy", cache
        )
        squid_secrets, url_file = _proxy_secrets(root, password)
        with (
            engine.container(
                tag,
                name=f"repromatrix-{engine.run_id}-proxy",
                role="proxy",
                network=network,
                mounts={str(squid_secrets): "/run/secrets"},
            ) as box,
            _interceptor(engine, network, internal, interception, root, run_dir, console, cache),
            _injector(
                engine,
                network,
                internal,
                Service.FAULT_INJECTOR in needs.services,
                root,
                run_dir,
                console,
                cache,
            ),
        ):
            box.connect(internal, aliases=(PROXY_HOST,))
            wait_until(
                box,
                lambda: (
                    "Accepting HTTP Socket connections" in box.read_file("/var/log/squid/cache.log")
                ),
                "the test proxy",
            )
            try:
                yield ProxySetup(internal, url_file, password)
            finally:
                # Evidence that traffic went through the proxy, kept beside the report.
                write_atomic(
                    run_dir / "proxy-access.log", box.read_file("/var/log/squid/access.log")
                )


@contextlib.contextmanager
def _interceptor(
    engine: Engine,
    network: str,
    internal: str,
    interception: Interception | None,
    root: Path,
    run_dir: Path,
    console: Console,
    cache: SetupCache | None,
) -> Iterator[None]:
    """mitmproxy on the internal network, re-signing TLS with the run's interceptor CA."""
    if interception is None:
        yield
        return
    console.print("starting the TLS-intercepting proxy (mitmproxy) on the internal network")
    context = service_context(root / "mitm-image", "mitm.Dockerfile.j2", port=MITM_PORT)
    tag = build_service(engine, context, "mitm", "the TLS-intercepting proxy", cache)
    conf = root / "mitm-secrets"
    conf.mkdir(mode=0o700)
    (conf / "mitmproxy-ca.pem").write_bytes(interception.ca.key_pem() + interception.ca.cert_pem)
    (conf / "upstream-ca.pem").write_bytes(interception.upstream_ca_pem)
    with _sidecar(
        engine,
        tag,
        "mitm",
        (network, internal, MITM_HOST),
        "Proxy server listening",
        run_dir / "interceptor.log",
        mounts={str(conf): "/run/secrets/mitm"},
    ):
        yield


@contextlib.contextmanager
def _injector(
    engine: Engine,
    network: str,
    internal: str,
    wanted: bool,
    root: Path,
    run_dir: Path,
    console: Console,
    cache: SetupCache | None,
) -> Iterator[None]:
    """Our own fault injector on the internal network: a CONNECT proxy that cuts downloads."""
    if not wanted:
        yield
        return
    console.print("starting the fault injector on the internal network")
    context = service_context(
        root / "flaky-image",
        "flaky.Dockerfile.j2",
        port=FLAKY_PORT,
        stall_port=FLAKY_STALL_PORT,
        cut_after=FLAKY_CUT_AFTER,
    )
    (context / "flaky.py").write_bytes(template_bytes("flaky.py"))
    tag = build_service(engine, context, "flaky", "the fault injector", cache)
    with _sidecar(
        engine,
        tag,
        "flaky",
        (network, internal, FLAKY_HOST),
        "fault injector listening",
        run_dir / "faults.log",
    ):
        yield


def service_context(root: Path, template: str, **params: Any) -> Path:
    """A build context holding the service's Dockerfile, rendered from its template."""
    root.mkdir(exist_ok=True)
    text = render("service", template, base=SERVICE_BASE, setup_stage=SETUP_STAGE, **params)
    (root / "Dockerfile").write_text(text)
    return root


def build_service(
    engine: Engine, context: Path, role: str, what: str, cache: SetupCache | None
) -> str:
    """Build a service image, labelled with the run; its tag. Its packages (the template's setup
    stage: nginx, squid, mitmproxy from Debian) come from the cache when there is one."""
    tag = f"repromatrix/{role}:{engine.run_id}"
    scenario = None
    if cache is not None:
        packages = cache.ensure(context, SERVICE_BASE, None)
        if packages.how == "failed" and packages.build:
            raise InfraError(
                f"building the image of {what} failed: {packages.build.error}\n"
                f"{packages.build.log[-2000:]}"
            )
        scenario = scenario_dockerfile((context / "Dockerfile").read_text(), packages.image)
    build = engine.build(context, tag, None, engine.labels(f"{role}-image"), dockerfile=scenario)
    if not build.ok:
        raise InfraError(f"building the image of {what} failed: {build.error}\n{build.log[-2000:]}")
    return tag


@contextlib.contextmanager
def _sidecar(
    engine: Engine,
    tag: str,
    role: str,
    wiring: tuple[str, str, str],
    ready: str,
    log: Path,
    mounts: dict[str, str] | None = None,
) -> Iterator[None]:
    """A service on the run's network and, as `alias`, the internal one; its output is kept in
    `log`."""
    network, internal, alias = wiring
    with engine.container(
        tag, name=f"repromatrix-{engine.run_id}-{role}", role=role, network=network, mounts=mounts
    ) as box:
        box.connect(internal, aliases=(alias,))
        wait_until(box, lambda: ready in box.logs(), f"the {role} service")
        try:
            yield
        finally:
            write_atomic(log, box.logs())


def wait_until(box: Box, ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not box.running() or time.monotonic() > deadline:
            raise InfraError(f"{what} did not start: {box.logs()[-2000:]}")
        time.sleep(0.5)


def _proxy_context(root: Path) -> Path:
    service_context(root, "proxy.Dockerfile.j2")
    squid = render(
        "service",
        "squid.conf.j2",
        open_port=PROXY_OPEN,
        auth_port=PROXY_AUTH,
        nothing_port=PROXY_NOTHING,
        index_port=INDEX_PORT,
    )
    (root / "squid.conf").write_text(squid)
    (root / "entry.sh").write_bytes(template_bytes("proxy-entry.sh"))
    return root


def _proxy_secrets(root: Path, password: str) -> tuple[Path, Path]:
    """Secret files: the squid's user and password, and the cells' proxy URL with them."""
    squid = root / "squid-secrets"
    squid.mkdir(mode=0o700)
    (squid / "proxy-user").write_text(PROXY_USER)
    (squid / "proxy-password").write_text(password)
    url_file = root / "proxy-url"
    url_file.write_text(f"http://{PROXY_USER}:{password}@{PROXY_HOST}:{PROXY_AUTH}\n")
    for path in (squid / "proxy-user", squid / "proxy-password", url_file):
        path.chmod(0o600)
    return squid, url_file


HTPASSWD = "/etc/nginx/htpasswd"  # mounted at run time for local-auth


def _index_context(
    root: Path, run_ca: RunCA, extra_wheels: tuple[Path, ...], auth: bool = False
) -> Path:
    service_context(root, "index.Dockerfile.j2", port=INDEX_PORT)
    nginx = render("service", "nginx.conf.j2", port=INDEX_PORT, htpasswd=HTPASSWD if auth else "")
    (root / "nginx.conf").write_text(nginx)
    server = run_ca.issue([INDEX_HOST, "localhost"], ips=("127.0.0.1",))
    (root / "index.crt").write_bytes(server.cert_pem + run_ca.cert_pem)
    (root / "index.key").write_bytes(server.key_pem)
    write_index(root / "tree", extra_wheels=extra_wheels)
    return root


def ssl_context(host_ca: HostCA | None, run_ca: RunCA | None) -> ssl.SSLContext:
    """What the host trusts when it reads the index: the run's CA, or the host's pip CA bundle."""
    if run_ca is not None:
        return ssl.create_default_context(cadata=run_ca.cert_pem.decode())
    return ssl.create_default_context(cafile=str(host_ca.path) if host_ca else None)


def _wait_for(url: str, context: ssl.SSLContext, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context):
                return
        except urllib.error.HTTPError:
            return  # it answers (a 401 from an index that wants credentials is an answer)
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            if time.monotonic() > deadline:
                raise InfraError(
                    f"the local index did not answer at {url} within {timeout:.0f}s: {e}"
                ) from None
            time.sleep(0.5)
