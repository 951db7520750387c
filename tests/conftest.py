"""Shared fixtures: a private database and Redis key prefix per run, services, users, servers.

Tests run against the PostgreSQL and Redis named by DATABASE_URL / REDIS_URL (CI points them
at the machine's services and sets PULSE_REQUIRE_SERVICES=1); without them, embedded servers
are started under a temporary directory. Each run creates its own database and Redis key
prefix and removes both at the end, so a shared server is never assumed empty.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.services import Services
from app.settings import Settings
from app.stream.gateway import Gateway
from app.worker.consumer import Consumer
from data.stores.accounts import User
from data.stores.db import migrate

PASSWORD = "correct-horse-battery"
LOGGING_PREFS = "goog:loggingPrefs"


def pytest_setup_options():  # type: ignore[no-untyped-def]
    """Chromium options for dash[testing]: headless, as root, on a closed network, with the
    whole console and the DevTools network events logged (tests/browser/pagecheck.py)."""
    from selenium.webdriver.chrome.options import Options

    class KeepLogLevels(Options):
        # dash[testing] sets goog:loggingPrefs to {"browser": "SEVERE"} after this hook,
        # which would switch the performance log off: our levels win over its.
        def set_capability(self, name, value):  # type: ignore[no-untyped-def]
            if name == LOGGING_PREFS:
                value = {**value, **self.capabilities.get(name, {})}
            super().set_capability(name, value)

    options = KeepLogLevels()
    options.set_capability(LOGGING_PREFS, {"browser": "ALL", "performance": "ALL"})
    # only the Network domain: page and timeline events would fill the log for nothing
    options.add_experimental_option(
        "perfLoggingPrefs", {"enableNetwork": True, "enablePage": False}
    )
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in (
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
    ):
        options.add_argument(arg)
    return options


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test fails the run: every test must run on a fresh clone and in CI alike,
    so a missing tool or service shows up as a failure, never as a quiet skip."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.ensure_newline()
        reporter.write_line(f"{len(skipped)} test(s) skipped: failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _service_urls(tmp_root: str) -> tuple[str, str, Callable[[], None]]:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        return database_url, redis_url, lambda: None
    if os.environ.get("PULSE_REQUIRE_SERVICES"):
        pytest.exit("DATABASE_URL and REDIS_URL are required here", returncode=2)
    from app.embedded import resolve

    resolved, embedded = resolve(Settings(var_dir=tmp_root, database_url=None, redis_url=None))
    database_url, redis_url = resolved.require_urls()
    return database_url, redis_url, embedded.stop


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """Settings pointing at a database and Redis prefix of this run only."""
    # Not under tmp_path: as root, pytest resets it to 0700, which locks out the embedded
    # PostgreSQL's own user.
    server_url, redis_url, stop_embedded = _service_urls(tempfile.mkdtemp(prefix="pulse-test-"))
    name = f"pulse_test_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_settings = Settings(
        database_url=make_url(server_url).set(database=name).render_as_string(hide_password=False),
        redis_url=redis_url,
        secret_key="test-secret-key-" + secrets.token_hex(8),
        redis_prefix=f"pulse-test-{secrets.token_hex(4)}:",
        demo_data=False,
        claim_idle_ms=1_000,
        login_max_failures=3,
        embed_allowed_origins="https://intranet.example",
        # The tests' sources and webhook receivers listen on loopback; Pulse's own
        # PostgreSQL and Redis stay refused even so (tests/integration/test_outbound.py).
        outbound_allow="127.0.0.1",
    )
    yield test_settings
    _drop_redis_prefix(test_settings)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    stop_embedded()


@contextmanager
def scratch_database(settings: Settings, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the run's server, dropped (even while in use)
    when the block ends: for tests that must not share the run's database."""
    server_url, _ = settings.require_urls()
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _drop_redis_prefix(settings: Settings) -> None:
    from redis import Redis

    client = Redis.from_url(settings.require_urls()[1])
    keys = list(client.scan_iter(match=f"{settings.redis_prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


class FakeClock:
    """The clock the tests' Services read: the wall clock, moved forward as far as a test
    has advanced it, so expiry is reached without sleeping (and the servers, the worker
    and Redis' own stream ids keep running on real time meanwhile)."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s

    def advance(self, seconds: float) -> None:
        """Move the clock `seconds` forward."""
        self.ahead_s += seconds

    def reset(self) -> None:
        """Back to the wall clock."""
        self.ahead_s = 0.0


@pytest.fixture(scope="session")
def _session_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def services(settings: Settings, _session_clock: FakeClock) -> Iterator[Services]:
    """Services on the run's database, migrated, on the run's FakeClock."""
    svc = Services.build(settings, pool_size=10, clock=_session_clock)
    migrate(svc.engine)
    yield svc
    svc.close()


@pytest.fixture
def clock(_session_clock: FakeClock) -> Iterator[FakeClock]:
    """The clock of `services` (and of the live server), for a test to advance; back to
    the wall clock afterwards."""
    yield _session_clock
    _session_clock.reset()


def new_tenant(services: Services) -> str:
    """Create a tenant of a fresh id; the id."""
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, tenant_id)
    return tenant_id


@pytest.fixture
def tenant(services: Services) -> str:
    """A fresh tenant, so tests never see each other's data."""
    return new_tenant(services)


@pytest.fixture
def make_user(services: Services) -> Callable[..., User]:
    """Create a user of a tenant with a role; the password is PASSWORD."""

    def make(tenant_id: str, role: str = "viewer", username: str | None = None) -> User:
        name = username or f"{role}-{uuid.uuid4().hex[:8]}"
        return services.accounts.create_user(tenant_id, name, f"{name}@example.com", role, PASSWORD)

    return make


@pytest.fixture
def ingest_key(services: Services, tenant: str) -> str:
    """An ingest-scoped API key of the test tenant."""
    return services.accounts.create_api_key(tenant, "test ingest", "ingest")


def with_settings(services: Services, **changes: Any) -> Services:
    """`services` with these settings changed (the same connections)."""
    return dataclasses.replace(services, settings=services.settings.model_copy(update=changes))


def signed_in(server: Any, user: User) -> Any:
    """A test client of the web role's Flask `server`, holding `user`'s session."""
    client = server.test_client()
    resp = client.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    return client


def signed_in_to(services: Services, user: User) -> Any:
    """A test client of a web role built on `services` (and their settings), holding
    `user`'s session."""
    from app.web.factory import create_app

    return signed_in(create_app(services=services).server, user)


@pytest.fixture(scope="session")
def web(services: Services):  # type: ignore[no-untyped-def]
    """A Flask test client of the whole web role."""
    from app.web.factory import create_app

    return create_app(services=services).server


@pytest.fixture
def client(web):  # type: ignore[no-untyped-def]
    """A browser of its own address, so failed sign-ins of other tests never throttle it."""
    test_client = web.test_client()
    octets = uuid.uuid4().bytes[:3]
    test_client.environ_base["REMOTE_ADDR"] = "10." + ".".join(str(b) for b in octets)
    return test_client


@dataclass
class LiveServer:
    """Pulse's ASGI app (pages, /api, /ws) on a free loopback port, with a worker."""

    url: str
    ws_url: str
    services: Services
    gateway: Gateway  # the app's /ws gateway; call into it on `loop`, the server's event loop
    loop: asyncio.AbstractEventLoop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _ServerThread(threading.Thread):
    def __init__(self, server: uvicorn.Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        with asyncio.Runner(loop_factory=self.server.config.get_loop_factory()) as runner:
            self.loop = runner.get_loop()
            runner.run(self.server.serve())


@contextmanager
def serving(asgi: Any, **options: Any) -> Iterator[tuple[str, asyncio.AbstractEventLoop]]:
    """`asgi` served by uvicorn (with `options`) on a free loopback port until the block
    ends: its URL, once /healthz answers, and the server's event loop."""
    port = free_port()
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, lifespan="on", **options)
    server = uvicorn.Server(config)
    thread = _ServerThread(server)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until(lambda: requests.get(url + "/healthz", timeout=1).ok, 20)
        assert thread.loop is not None
        yield url, thread.loop
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def live_server(services: Services) -> Iterator[LiveServer]:
    """The real app served by uvicorn, and a consumer thread writing what is ingested."""
    from app.asgi import build_asgi

    asgi = build_asgi(services)
    options = {"ws": "websockets-sansio", "ws_per_message_deflate": False, "log_level": "warning"}
    stop = threading.Event()
    with serving(asgi, **options) as (url, loop):
        port = url.rsplit(":", 1)[1]
        consumer = threading.Thread(
            target=Consumer(services, f"test-{port}").run, args=(stop,), daemon=True
        )
        consumer.start()
        yield LiveServer(url, f"ws://127.0.0.1:{port}/ws", services, asgi.state.gateway, loop)
        stop.set()
    consumer.join(10)


def _wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    raise TimeoutError("condition not met in time")


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `check` until it is true (for asynchronous outcomes), failing after `timeout`."""
    _wait_until(check, timeout)
