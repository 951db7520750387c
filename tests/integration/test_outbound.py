"""Tenants' sources and webhooks reach nothing they should not (CONTRACT.md §10): the
attack of issue 10 (an sql source reading Pulse's own database), loopback and metadata
targets refused at save and at connect time, DNS rebinding, redirects, and failures that
show neither a body nor the difference between a closed and a silent port.

The run's settings open 127.0.0.1 for the tests' own servers; these tests use settings
without it where they show the default, and patch only the resolver (the process edge)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, insert, text

from app.services import Services
from app.worker.alert_evaluator import AlertEngine
from app.worker.deliveries import Deliverer
from app.worker.sources import http_json, prometheus, sql
from app.worker.sources.base import SourceError
from app.worker.sources.runner import SourceRunner
from data.outbound import OutboundPolicy
from data.stores.schema import sources
from data.stores.sources import SourceStore, parse_config
from tests.alerts_support import rule_doc
from tests.conftest import free_port, signed_in_to, with_settings
from tests.integration.test_alerts import points
from tests.sources_support import context, http_server, isolated

SQL_QUERY = "SELECT now(), username, tenant_id, 1 FROM users WHERE now() > :since"


@pytest.fixture
def admin_of(services: Services, tenant: str, make_user: Any) -> Iterator[Any]:
    """admin_of(**settings): a signed-in admin of the test tenant on Pulse with these
    settings; the tenant's sources are removed afterwards."""
    user = make_user(tenant, "admin")
    yield lambda **changes: signed_in_to(with_settings(services, **changes), user)
    with services.engine.begin() as conn:
        conn.execute(delete(sources).where(sources.c.tenant_id == tenant))


def refusal(resp: Any, field: str = "config.url") -> str:
    assert resp.status_code == 422, resp.get_json()
    details = {d["field"]: d["message"] for d in resp.get_json()["error"]["details"]}
    return details[field]


def test_an_sql_source_on_pulses_own_database_is_refused_even_with_sql_enabled(
    services: Services, admin_of: Any, make_user: Any
) -> None:
    """Issue 10's attack: tenant A's admin points an sql source at the run's own
    DATABASE_URL to read tenant B's usernames."""
    make_user(f"acme-{time.time_ns()}", "viewer")
    own_url = services.settings.require_urls()[0]
    source = {"name": "steal", "kind": "sql", "config": {"url": own_url, "query": SQL_QUERY}}
    assert "SQL_SOURCES_ENABLED" in refusal(admin_of().post("/api/sources", json=source))
    message = refusal(admin_of(sql_sources_enabled=True).post("/api/sources", json=source))
    assert "not allowed" in message and "/" not in message
    with services.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sources WHERE name = 'steal'")).scalar() == 0


def test_an_existing_sql_source_fails_its_poll_while_sql_sources_are_off() -> None:
    config = parse_config("sql", {"url": "postgresql+psycopg://u@db.example/x", "query": SQL_QUERY})
    with pytest.raises(SourceError, match="sql sources are disabled"):
        sql.poll(config, {}, context(outbound=OutboundPolicy.build("", ())))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9100/metrics",
        "http://localhost:9100/metrics",
        "http://[::ffff:127.0.0.1]:9100/metrics",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0:8050/",
    ],
)
def test_loopback_and_metadata_sources_and_webhooks_answer_422_by_default(
    admin_of: Any, url: str, services: Services, tenant: str, make_user: Any
) -> None:
    strict = admin_of(outbound_allow="")
    message = refusal(
        strict.post(
            "/api/sources", json={"name": "x", "kind": "prometheus", "config": {"url": url}}
        )
    )
    assert "is not allowed" in message and "/metrics" not in message
    analyst = signed_in_to(with_settings(services, outbound_allow=""), make_user(tenant, "analyst"))
    rule = rule_doc(channels=["webhook"], webhook_url=url)
    assert "is not allowed" in refusal(analyst.post("/api/alerts", json=rule), "webhook_url")


def test_pulses_own_redis_and_postgresql_stay_refused_when_loopback_is_open(
    admin_of: Any, services: Services
) -> None:
    """The run's settings open 127.0.0.1: Pulse's own services on it remain closed."""
    own_pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    policy = OutboundPolicy.build("127.0.0.0/8", (own_pg, "redis://127.0.0.1:6379/0"))
    with pytest.raises(SourceError, match="Pulse's own database or Redis"):
        http_json.poll(json_config("http://localhost:6379/"), {}, context(outbound=policy))
    # the run's own server, whichever it is (TCP on CI, a unix socket when embedded)
    admin = admin_of(outbound_allow="127.0.0.0/8 localhost", sql_sources_enabled=True)
    own_url = services.settings.require_urls()[0]
    source = {"name": "own", "kind": "sql", "config": {"url": own_url, "query": SQL_QUERY}}
    assert "not allowed" in refusal(admin.post("/api/sources", json=source))


def test_a_source_saved_before_the_policy_fails_its_poll_without_server_paths(
    services: Services, tenant: str
) -> None:
    """A row written before this policy existed (or by hand) is refused by the worker."""
    svc = isolated(services, sql_sources_enabled=True)
    source_id = str(uuid.uuid4())
    config = {
        "url": services.settings.require_urls()[0],
        "query": SQL_QUERY,
        "since_as": "timestamp",
        "max_rows": 10,
    }
    with services.engine.begin() as conn:
        conn.execute(
            insert(sources).values(
                source_id=source_id,
                tenant_id=tenant,
                name="old",
                kind="sql",
                config=config,
                interval_s=10,
                timeout_s=5,
                enabled=True,
            )
        )
    try:
        assert SourceRunner(svc).run(source_id) == "error"
        polled = SourceStore(services.engine).load(source_id)
        assert polled is not None and polled.last_error is not None
        assert "not allowed" in polled.last_error and "/" not in polled.last_error
        assert svc.redis.xlen(svc.live.ingest_key) == 0  # nothing of the users table queued
    finally:
        with services.engine.begin() as conn:
            conn.execute(delete(sources).where(sources.c.source_id == source_id))


def json_config(url: str) -> Any:
    return parse_config("http_json", {"url": url, "values": [{"path": "v", "metric": "m"}]})


@pytest.fixture
def counted_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server answering {"v": 1}; yields its base URL and the paths it served."""
    hits: list[str] = []

    def handle(path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        hits.append(path)
        return 200, "application/json", b'{"v": 1}'

    with http_server(handle) as base:
        yield base, hits


def test_dns_rebinding_is_refused_at_connect_time(
    counted_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name public at save time and 127.0.0.1 at poll time never reaches the loopback:
    the address checked is the address connected to."""
    base, hits = counted_server
    port = int(base.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            return real_getaddrinfo(next(answers), *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)  # the resolver: the process edge
    policy = OutboundPolicy.build("", ())
    url = f"http://rebind.example:{port}/stats"
    assert policy.check_url(url, must_resolve=False)  # the save-time look: a public address
    with pytest.raises(SourceError, match="'rebind.example' is not allowed"):
        http_json.poll(json_config(url), {}, context(outbound=policy))
    assert hits == []
    with pytest.raises(SourceError, match="'localhost' is not allowed"):
        http_json.poll(json_config(f"http://localhost:{port}/"), {}, context(outbound=policy))
    assert hits == []


def test_only_the_allowed_host_port_is_reached_and_redirects_are_not_followed(
    counted_server: tuple[str, list[str]],
) -> None:
    target, hits = counted_server

    def redirect(path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 302, "text/plain", b""

    with http_server(redirect) as base:
        port = int(base.rsplit(":", 1)[1])
        policy = OutboundPolicy.build(f"127.0.0.1:{port}", ())
        assert policy.check_url(base)
        with pytest.raises(SourceError, match="'127.0.0.1' is not allowed"):
            http_json.poll(json_config(target + "/"), {}, context(outbound=policy))
        with pytest.raises(SourceError) as failed:
            http_json.poll(json_config(base + "/go"), {}, context(outbound=policy))
    assert str(failed.value) == "HTTP 302 from 127.0.0.1"
    assert hits == []


def test_a_garbage_answer_is_never_copied_into_the_error() -> None:
    body = b"root:x:0:0:root:/root:/bin/bash\nSECRET_KEY=hunter2\n"
    with http_server(lambda path, headers: (200, "text/plain", body)) as base:
        config = parse_config("prometheus", {"url": base + "/metrics?token=t0k"})
        with pytest.raises(SourceError) as failed:
            prometheus.poll(config, {}, context())
    assert str(failed.value) == "not a Prometheus text exposition"
    with (
        http_server(lambda path, headers: (500, "text/plain", body)) as base,
        pytest.raises(SourceError) as failed,
    ):
        prometheus.poll(parse_config("prometheus", {"url": base + "/?token=t0k"}), {}, context())
    assert "hunter2" not in str(failed.value) and "t0k" not in str(failed.value)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def test_webhook_failures_look_the_same_for_refused_closed_and_silent_targets(
    services: Services, tenant: str, make_user: Any, silent_port: int
) -> None:
    """Viewers see "could not connect" whether the policy refused the target, the port was
    closed or the receiver never answered: no port scanning through incident pages."""
    closed = f"http://127.0.0.1:{free_port()}/hook"
    silent = f"http://127.0.0.1:{silent_port}/hook"
    analyst = signed_in_to(services, make_user(tenant, "analyst"))
    created = analyst.post(
        "/api/alerts", json=rule_doc(channels=["webhook"], webhook_url=[closed, silent])
    )
    assert created.status_code == 201, created.get_json()
    with services.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE alert_deliveries SET status = 'failed'"
                " WHERE status NOT IN ('sent', 'failed')"
            )
        )
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    # The deliverer runs with the loopback closed except the silent port: the closed
    # port's webhook is refused by policy, as it would be in production.
    sender = Deliverer(
        with_settings(
            services,
            outbound_allow=f"127.0.0.1:{silent_port}",
            webhook_timeout_s=0.5,
            alert_retry_base_s=60,
        )
    )
    sender.run_once()
    sender.close()
    viewer = signed_in_to(services, make_user(tenant, "viewer"))
    deliveries = viewer.get("/api/incidents").get_json()["incidents"][0]["deliveries"]
    assert sorted(d["target"] for d in deliveries) == sorted([closed, silent])
    assert {d["last_error"] for d in deliveries} == {"delivery failed: could not connect"}
    # and with the loopback open (the run's settings), a connection refused reads the same
    with services.engine.begin() as conn:
        conn.execute(
            text("UPDATE alert_deliveries SET next_attempt_at = now() WHERE status = 'retrying'")
        )
    sender = Deliverer(with_settings(services, webhook_timeout_s=0.5))
    assert sender.run_once() == 2
    sender.close()
    deliveries = viewer.get("/api/incidents").get_json()["incidents"][0]["deliveries"]
    assert [d["attempts"] for d in deliveries] == [2, 2]
    assert {d["last_error"] for d in deliveries} == {"delivery failed: could not connect"}
