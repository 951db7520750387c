"""DATABASE_REPLICA_URL against a real streaming replica (CONTRACT §11): history and export
reads are served by the replica, a dashboard saved is read back from the primary, and a
replica lagging past REPLICA_MAX_LAG_S is skipped, its lag on /metrics.

The honest witness is a paused replay: a point written to the primary after the pause is
on the primary only, so whichever server a route read from shows in its answer."""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from app.services import Services
from data.domain.points import Point
from data.stores.replica import UNREACHABLE_RECHECK_S, ReplicaRouter
from tests.cluster.postgres import ReplicatedPostgres
from tests.conftest import PASSWORD, new_tenant, signed_in, wait_until
from tests.dashboards_support import doc

MINUTE_MS = 60_000
BASE_MS = (int(time.time() * 1000) - 3_600_000) // MINUTE_MS * MINUTE_MS


def write(services: Services, tenant: str, metric: str, minute: int, value: float) -> None:
    point = Point(uuid.uuid4().hex, "web-1", metric, BASE_MS + minute * MINUTE_MS, value)
    services.history.write_points([(tenant, point)])


def query(metric: str, minutes: int = 10) -> dict[str, str]:
    """A one-minute-step query over the first `minutes` minutes after BASE_MS (another
    `minutes` is another query: /api/data's cache never answers it)."""
    end_ms = BASE_MS + minutes * MINUTE_MS
    return {"metric": metric, "start": str(BASE_MS / 1000), "end": str(end_ms / 1000), "step": "1m"}


def minutes_answered(client: Any, headers: dict[str, str], params: dict[str, str]) -> list[int]:
    resp = client.get("/api/data", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    points = [p for s in resp.get_json()["series"] for p in s["points"]]
    return [(ts - BASE_MS) // MINUTE_MS for ts, _ in points]


def read_key(services: Services, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}


def metric_values(web: Any) -> dict[str, float]:
    body = web.test_client().get("/metrics").get_data(as_text=True)
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith("pulse_db_replica")
    }


@pytest.fixture(scope="module")
def web(replica_services: Services) -> Any:
    """The web role's Flask server on the replicated services."""
    from app.web.factory import create_app

    return create_app(services=replica_services).server


def test_without_a_replica_every_read_goes_to_the_primary(services: Services) -> None:
    assert services.settings.database_replica_url is None and services.reads is None
    assert services.history_engine() is services.engine


def test_history_reads_use_a_server_in_recovery(replica_services: Services) -> None:
    with replica_services.history_engine().connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is True
    with replica_services.engine.connect() as conn:
        assert conn.execute(text("SELECT pg_is_in_recovery()")).scalar_one() is False


def test_data_and_export_are_read_from_the_replica(
    replica_services: Services, replicated: ReplicatedPostgres, web: Any
) -> None:
    svc = replica_services
    tenant = new_tenant(svc)
    headers = read_key(svc, tenant)
    write(svc, tenant, "orders", 1, 10.0)
    replicated.caught_up()
    client = web.test_client()
    with replicated.replay_paused():
        write(svc, tenant, "orders", 2, 20.0)  # on the primary only
        with svc.engine.connect() as conn:  # the primary has both minutes
            stored = "SELECT count(*) FROM points WHERE tenant_id = :t"
            assert conn.execute(text(stored), {"t": tenant}).scalar_one() == 2
        assert minutes_answered(client, headers, query("orders")) == [1]
        export = client.get("/api/export", query_string=query("orders"), headers=headers)
        assert export.status_code == 200, export.get_data(as_text=True)
        rows = export.get_data(as_text=True).strip().splitlines()
        assert len(rows) == 2 and ",10" in rows[1]  # the header and minute 1
    replicated.caught_up()
    assert minutes_answered(client, headers, query("orders", minutes=11)) == [1, 2]


def test_a_dashboard_saved_is_read_back_from_the_primary(
    replica_services: Services, replicated: ReplicatedPostgres, web: Any
) -> None:
    svc = replica_services
    tenant = new_tenant(svc)
    user = svc.accounts.create_user(tenant, "ana", "ana@example.com", "analyst", PASSWORD)
    replicated.caught_up()
    client = signed_in(web, user)
    with replicated.replay_paused():
        made = client.post("/api/dashboards", json=doc("Sales"))
        assert made.status_code == 201, made.get_json()
        board = made.get_json()
        assert client.get(f"/api/dashboards/{board['id']}").get_json() == board
        saved = client.put(f"/api/dashboards/{board['id']}", json={**board, "title": "Sales 2"})
        assert saved.status_code == 200, saved.get_json()
        again = client.get(f"/api/dashboards/{board['id']}").get_json()
        assert again["title"] == "Sales 2" and again["version"] == 2
        listed = client.get("/api/dashboards").get_json()["dashboards"]
        assert [d["id"] for d in listed] == [board["id"]]
        with replicated.replica.connect() as conn:  # the replica has not seen it yet
            found = conn.execute("SELECT count(*) FROM dashboards WHERE tenant_id = %s", (tenant,))
            assert found.fetchone() == (0,)


def test_a_lagging_replica_is_skipped_and_its_lag_is_on_metrics(
    replica_services: Services, replicated: ReplicatedPostgres
) -> None:
    from app.web.factory import create_app

    strict = ReplicaRouter(
        replica_services.engine, replica_engine(replica_services), max_lag_s=1.0, check_every_s=0.2
    )
    svc = dataclasses.replace(replica_services, reads=strict)
    web = create_app(services=svc).server
    tenant = new_tenant(svc)
    headers = read_key(svc, tenant)
    client = web.test_client()
    replicated.caught_up()
    assert svc.history_engine() is strict.replica
    current = metric_values(web)
    assert current["pulse_db_replica_up"] == 1 and current["pulse_db_replica_used"] == 1
    assert current["pulse_db_replica_lag_seconds"] < 1.0
    with replicated.replay_paused():
        write(svc, tenant, "orders", 3, 30.0)  # WAL the replica receives and does not apply
        wait_until(lambda: svc.history_engine() is svc.engine, timeout=15)
        lagging = metric_values(web)
        assert lagging["pulse_db_replica_lag_seconds"] > 1.0
        assert lagging["pulse_db_replica_used"] == 0
        # served by the primary, which has the point the replica has not applied
        assert minutes_answered(client, headers, query("orders", minutes=12)) == [3]
    wait_until(lambda: svc.history_engine() is strict.replica, timeout=15)
    assert metric_values(web)["pulse_db_replica_used"] == 1


class CountingRouter(ReplicaRouter):
    """A router noting the (fake) time of each lag measurement."""

    measured: list[float]

    def _measure(self) -> float:
        self.measured.append(self._clock())
        return super()._measure()


def replica_engine(services: Services) -> Engine:
    assert services.reads is not None and services.reads.replica is not None
    return services.reads.replica


def test_the_lag_is_measured_at_most_every_check_interval(replica_services: Services) -> None:
    now = [0.0]
    router = CountingRouter(
        replica_services.engine, replica_engine(replica_services), clock=lambda: now[0]
    )
    router.measured = []
    for step in range(10):
        now[0] = step * 0.5
        assert router.history_engine() is router.replica
    assert router.measured == [0.0, 2.0, 4.0]


def test_a_replica_that_does_not_answer_is_skipped_and_asked_less_often(
    replica_services: Services,
) -> None:
    from data.stores.db import make_engine

    now = [0.0]
    away = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/pulse", connect_timeout_s=1)
    router = CountingRouter(replica_services.engine, away, clock=lambda: now[0])
    router.measured = []
    for step in range(25):
        now[0] = float(step)
        assert router.history_engine() is replica_services.engine
    assert not router.state().reachable
    assert router.measured == [0.0, UNREACHABLE_RECHECK_S, 2 * UNREACHABLE_RECHECK_S]
    away.dispose()


class AnsweringRouter(ReplicaRouter):
    """A router whose lag checks say the replica answers, whatever it does."""

    def _measure(self) -> float:
        return 0.0


def test_a_replica_lost_mid_read_sends_the_next_reads_to_the_primary_at_once(
    replica_services: Services,
) -> None:
    """The last lag check said the replica answers; a read then cannot reach it. The reads
    after it go to the primary without waiting for the next check."""
    from data.stores.db import make_engine

    now = [0.0]
    away = make_engine("postgresql+psycopg://postgres@127.0.0.1:9/pulse", connect_timeout_s=1)
    router = AnsweringRouter(replica_services.engine, away, clock=lambda: now[0])
    assert router.history_engine() is away
    with pytest.raises(OperationalError):
        away.connect()
    assert router.history_engine() is replica_services.engine
    now[0] = UNREACHABLE_RECHECK_S  # asked again later: it answers, and is used again
    assert router.history_engine() is away
    away.dispose()


def test_a_pooled_replica_connection_found_dead_by_the_ping_leaves_the_replica_in_use(
    replica_services: Services, replicated: ReplicatedPostgres
) -> None:
    from data.stores.db import make_engine

    engine = make_engine(replicated.replica.url, pool_size=1)
    router = AnsweringRouter(replica_services.engine, engine)
    with engine.connect() as conn:  # pooled when the block ends
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with replica_engine(replica_services).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    assert router.history_engine() is engine
    with engine.connect() as conn:  # the ping finds it dead; the pool opens another
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert router.history_engine() is engine
    engine.dispose()
