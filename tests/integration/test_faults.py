"""Redis and PostgreSQL crash and come back while points stream in: nothing acknowledged is
lost or doubled, and poison still ends in the dead-letter stream.

The machine's shared services must not be stopped, so these tests run private servers
(tests/integration/servers.py): one PostgreSQL cluster for the module, crashed with
`pg_ctl stop -m immediate`, and a valkey-server per test with its append-only file fsynced on
every write, SIGKILLed so that only the AOF brings the data back. Points go in over HTTP
(the Flask app of the web role) from producer threads that retry what was refused, as a real
client does; the worker role is a real `python app.py worker` process (see
test_exactly_once). Every wait is bounded.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from app.services import Services
from app.settings import Settings
from app.web.factory import create_app
from app.worker.jobs import reconcile_latest
from data.stores.db import migrate
from data.stores.dead_letters import DeadLetters
from tests.integration.servers import PrivatePostgres, PrivateRedis
from tests.integration.test_exactly_once import Pipeline, make_points

BATCH = 200
PRODUCERS = 2
OUTAGE_S = 1.5
PRODUCE_TIMEOUT_S = 45.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    """One private PostgreSQL cluster for the module (each test has its own database)."""
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class Rig:
    """A test's pipeline on private servers it may crash."""

    pipeline: Pipeline
    redis: PrivateRedis
    postgres: PrivatePostgres
    producers: list[Producers] = field(default_factory=list)


def _admin(postgres: PrivatePostgres) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", port=postgres.port, user="postgres", dbname="postgres", autocommit=True
    )


@pytest.fixture
def rig(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Rig]:
    """Its own database on the module's cluster, its own Redis, the web role and a tenant."""

    database = f"pulse_faults_{secrets.token_hex(4)}"
    with _admin(postgres) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    settings = Settings(
        database_url=postgres.url(database),
        redis_url=redis.url,
        secret_key="fault-secret-" + secrets.token_hex(8),
        redis_prefix=f"pulse-faults-{secrets.token_hex(4)}:",
        demo_data=False,
        claim_idle_ms=500,
    )
    services = Services.build(settings)
    pipeline: Pipeline | None = None
    made: Rig | None = None
    try:
        migrate(services.engine)
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        with services.engine.begin() as conn:
            services.accounts.ensure_tenant(conn, tenant)
        key = services.accounts.create_api_key(tenant, "fault ingest", "ingest")
        web = create_app(services=services).server
        pipeline = Pipeline(services, web, tenant, key, [], tmp_path)
        made = Rig(pipeline, redis, postgres)
        yield made
    finally:
        for producers in made.producers if made else []:
            producers.stop.set()
            producers.join_threads()
        for proc in pipeline.workers if pipeline else []:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=15)
        services.close()
        redis.stop()
        if not _answers(postgres):
            postgres.start()  # a failed test may have left it down; the next test needs it
        with _admin(postgres) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _answers(postgres: PrivatePostgres) -> bool:
    try:
        with _admin(postgres):
            return True
    except psycopg.OperationalError:
        return False


@dataclass
class Producers:
    """Threads posting batches to /api/ingest, each batch re-sent until it is accepted.

    Only a 202 counts as acknowledged; a 503 (queue or store away) is retried with the same
    data_ids, as a client that got no acknowledgement does. Any other answer is an error."""

    pipeline: Pipeline
    batches: list[list[dict[str, Any]]]
    pause_s: float = 0.02
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        deadline = time.monotonic() + PRODUCE_TIMEOUT_S
        for n in range(PRODUCERS):
            mine = self.batches[n::PRODUCERS]
            thread = threading.Thread(target=self._run, args=(mine, deadline), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, batches: list[list[dict[str, Any]]], deadline: float) -> None:
        client = self.pipeline.web.test_client()
        headers = {"Authorization": f"Bearer {self.pipeline.key}"}
        for batch in batches:
            while True:
                if self.stop.is_set():
                    return
                if time.monotonic() > deadline:
                    self._error("gave up: a batch was never accepted")
                    return
                resp = client.post("/api/ingest", json=batch, headers=headers)
                with self._lock:
                    self.statuses[resp.status_code] += 1
                if resp.status_code == 202:
                    with self._lock:
                        self.acknowledged.extend(batch)
                    break
                body = resp.get_json(silent=True)
                if resp.status_code != 503 or not isinstance(body, dict) or "error" not in body:
                    self._error(f"{resp.status_code}: {resp.get_data(as_text=True)[:500]}")
                    return
                time.sleep(0.05)
            time.sleep(self.pause_s)

    def _error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    def accepted(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join_threads(self) -> None:
        for thread in self._threads:
            thread.join(PRODUCE_TIMEOUT_S + 5)

    def join(self) -> None:
        """Wait for every batch to be sent; fail on any answer other than 202 or 503."""
        self.join_threads()
        assert not self.running(), "producers still running"
        assert not self.errors, self.errors


def start_consuming_worker(pipeline: Pipeline) -> None:
    """Start a worker process and wait until it has joined the consumer group."""
    pipeline.start_worker()
    live = pipeline.services.live

    def joined() -> bool:
        try:
            return bool(live.redis.xinfo_consumers(live.ingest_key, "writers"))
        except Exception:  # no stream or group yet
            return False

    pipeline.wait_for(joined, "the worker joined the consumer group", timeout=30)


def produce(rig: Rig, points: int) -> tuple[list[dict[str, Any]], Producers]:
    """Start producers of `points` points in batches; return the points and the producers."""
    generated = make_points(points)
    batches = [generated[i : i + BATCH] for i in range(0, len(generated), BATCH)]
    producers = Producers(rig.pipeline, batches)
    rig.producers.append(producers)  # stopped at teardown if a test fails midway
    producers.start()
    return generated, producers


def mid_stream(pipeline: Pipeline, producers: Producers, total: int) -> None:
    """Wait until the worker has stored points and producers have most left to send."""
    pipeline.wait_for(
        lambda: producers.accepted() >= total // 4 and sum(pipeline.stored().values()) > 0,
        "points were accepted and stored",
        timeout=30,
    )
    assert producers.running(), "the producers finished before the fault"


def newest_per_series(points: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, float]]:
    newest: dict[tuple[str, str], tuple[int, float]] = {}
    for p in points:
        key = (p["metric_type"], p["source"])
        ts = round(p["timestamp"] * 1000)
        if key not in newest or ts >= newest[key][0]:
            newest[key] = (ts, p["value"])
    return newest


def assert_settled(
    rig: Rig,
    producers: Producers,
    generated: list[dict[str, Any]],
    also: list[dict[str, Any]] | None = None,
) -> None:
    """The producers' points (and `also`, acknowledged earlier) are stored once each, nothing
    is pending, and the latest values are right."""
    pipeline = rig.pipeline
    producers.join()
    acknowledged = producers.acknowledged
    assert {p["data_id"] for p in acknowledged} == {p["data_id"] for p in generated}
    pipeline.wait_for(pipeline.drained, "the worker drained the stream after the fault")
    expected = (also or []) + acknowledged
    pipeline.assert_exactly_once(expected)
    assert pipeline.services.live.pending_count() == 0
    assert pipeline.services.live.latest(pipeline.tenant) == newest_per_series(expected)
    assert all(w.poll() is None for w in pipeline.workers), pipeline.worker_logs()


def test_redis_killed_mid_stream_loses_no_acknowledged_point(rig: Rig) -> None:
    """SIGKILL Redis while producers send and the worker writes, restart it from its AOF:
    ingest answers 503 JSON meanwhile, and every acknowledged point is stored once."""
    pipeline = rig.pipeline
    start_consuming_worker(pipeline)
    generated, producers = produce(rig, 24_000)
    mid_stream(pipeline, producers, len(generated))

    rig.redis.kill()
    time.sleep(OUTAGE_S)
    pipeline.wait_for(lambda: producers.statuses[503] > 0, "ingest answered 503 during the outage")
    rig.redis.start()

    assert_settled(rig, producers, generated)


def test_postgres_crashed_mid_write_is_ridden_out_by_the_worker(rig: Rig) -> None:
    """`pg_ctl stop -m immediate` while the worker writes a large batch, then start again:
    ingest goes on (Redis holds the queue), the same worker process resumes, and nothing is
    lost or doubled."""
    pipeline = rig.pipeline
    backlog = make_points(50_000)  # one read of the worker: a write long enough to catch
    for start in range(0, len(backlog), 1_000):
        pipeline.ingest(backlog[start : start + 1_000])
    pipeline.start_worker()
    deadline = time.monotonic() + 30
    while not pipeline.writing():  # polled tightly: the write lasts a fraction of a second
        assert sum(pipeline.stored().values()) == 0, "the backlog was written before a crash"
        if time.monotonic() > deadline:
            pytest.fail(f"the worker never wrote the backlog\n{pipeline.worker_logs()}")
        time.sleep(0.002)
    generated, producers = produce(rig, 12_000)

    rig.postgres.crash()
    accepted_before = producers.accepted()
    time.sleep(OUTAGE_S)
    pipeline.wait_for(
        lambda: producers.accepted() > accepted_before, "ingest went on while PostgreSQL was down"
    )
    rig.postgres.start()

    assert_settled(rig, producers, generated, also=backlog)


def test_poison_met_during_outages_is_dead_lettered_and_nothing_else_lost(rig: Rig) -> None:
    """While PostgreSQL is down, an undecodable entry and one PostgreSQL will refuse are
    queued, then Redis is killed and restarted too: once both are back, the two poison
    entries are in the dead-letter stream and every good point is stored once."""
    pipeline = rig.pipeline
    live = pipeline.services.live
    start_consuming_worker(pipeline)
    generated, producers = produce(rig, 16_000)
    mid_stream(pipeline, producers, len(generated))

    rig.postgres.crash()
    undecodable = live.redis.xadd(live.ingest_key, {"t": pipeline.tenant, "p": b"{not json"})
    too_long = {
        "data_id": "x" * 100,
        "source": "web-1",
        "metric_type": "orders.count",
        "timestamp": time.time(),
        "value": 1.0,
    }
    refused = live.redis.xadd(
        live.ingest_key,
        {"t": pipeline.tenant, "r": "0", "p": orjson.dumps([_packed(too_long)])},
    )
    time.sleep(OUTAGE_S / 2)
    rig.redis.kill()
    time.sleep(OUTAGE_S / 2)
    rig.redis.start()
    time.sleep(OUTAGE_S / 2)
    rig.postgres.start()

    assert_settled(rig, producers, generated)
    letters = DeadLetters(live).of_tenant(pipeline.tenant)
    assert sorted(d.entry_id for d in letters) == sorted([undecodable.decode(), refused.decode()])
    by_entry = {d.entry_id: d for d in letters}
    assert "undecodable" in by_entry[undecodable.decode()].reason
    assert "StringDataRightTruncation" in by_entry[refused.decode()].reason
    assert by_entry[refused.decode()].deliveries >= pipeline.services.settings.max_deliveries


def _packed(point: dict[str, Any]) -> Any:
    """A point as an ingest entry holds it, bypassing the API's validation."""
    from data.domain.points import Point

    return Point(
        point["data_id"],
        point["source"],
        point["metric_type"],
        round(point["timestamp"] * 1000),
        point["value"],
    ).packed()


def test_redis_restarted_empty_is_rebuilt_by_the_worker_and_reconcile(rig: Rig) -> None:
    """Redis comes back without its data (AOF lost): the worker recreates the consumer group
    and reloads its Lua script on its own, new points flow, and the reconcile job restores
    the latest values from PostgreSQL."""
    pipeline = rig.pipeline
    live = pipeline.services.live
    start_consuming_worker(pipeline)
    before = make_points(3_000)
    for start in range(0, len(before), 1_000):
        pipeline.ingest(before[start : start + 1_000])
    pipeline.wait_for(pipeline.drained, "the worker stored the first points")

    rig.redis.kill()
    shutil.rmtree(rig.redis.directory)
    rig.redis.start()
    assert live.latest(pipeline.tenant) == {}
    assert reconcile_latest(pipeline.services) == len(newest_per_series(before))
    assert live.latest(pipeline.tenant) == newest_per_series(before)

    after = make_points(3_000, start_ms=int(time.time() * 1000) - 20_000)
    for start in range(0, len(after), 1_000):
        pipeline.ingest(after[start : start + 1_000])
    pipeline.wait_for(pipeline.drained, "the worker stored the points sent after the restart")
    pipeline.assert_exactly_once(before + after)
    assert live.latest(pipeline.tenant) == newest_per_series(before + after)
    assert all(w.poll() is None for w in pipeline.workers), pipeline.worker_logs()


def test_a_worker_started_while_postgres_is_down_waits_for_it(rig: Rig) -> None:
    """A worker (re)started during an outage waits for PostgreSQL rather than exiting, then
    migrates and writes what was queued meanwhile."""
    pipeline = rig.pipeline
    points = make_points(2_000)
    pipeline.ingest(points[:1_000])  # caches the key while PostgreSQL is up
    rig.postgres.crash()
    try:
        worker = pipeline.start_worker()
        pipeline.ingest(points[1_000:])
        pipeline.wait_for(
            lambda: "PostgreSQL unreachable" in pipeline.worker_logs() or worker.poll() is not None,
            "the worker noticed PostgreSQL is down",
            timeout=30,
        )
        assert worker.poll() is None, pipeline.worker_logs()
    finally:
        rig.postgres.start()
    pipeline.wait_for(pipeline.drained, "the worker drained the stream once PostgreSQL was back")
    pipeline.assert_exactly_once(points)
    assert worker.poll() is None, pipeline.worker_logs()


def test_ingest_answers_503_json_while_redis_or_postgres_is_down(rig: Rig) -> None:
    """Ingest needs Redis (the queue, the API-key cache) and, for a key not yet cached,
    PostgreSQL: with either down it answers 503 JSON saying to retry, never 500."""
    pipeline = rig.pipeline

    def post(key: str) -> Any:
        return pipeline.web.test_client().post(
            "/api/ingest", json=make_points(3), headers={"Authorization": f"Bearer {key}"}
        )

    assert post(pipeline.key).status_code == 202  # verifies the key and caches it in Redis
    rig.redis.kill()
    try:
        resp = post(pipeline.key)
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.get_json()["error"]["code"] == "service_unavailable"
        assert resp.headers["Retry-After"]
    finally:
        rig.redis.start()

    fresh_key = pipeline.services.accounts.create_api_key(pipeline.tenant, "fresh", "ingest")
    rig.postgres.crash()
    try:
        resp = post(fresh_key)
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.get_json()["error"]["code"] == "service_unavailable"
        assert resp.headers["Retry-After"]
        # a key cached before the outage (kept in Redis' AOF) reaches the queue
        assert post(pipeline.key).status_code == 202
    finally:
        rig.postgres.start()
    assert post(fresh_key).status_code == 202  # the pooled connections recovered
