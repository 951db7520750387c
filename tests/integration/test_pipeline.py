"""Ingest → stream → worker → PostgreSQL, Redis latest values and the live channel."""

from __future__ import annotations

import threading
import time
import uuid

import orjson
import pytest
from sqlalchemy import text

from app.services import Services
from app.worker.consumer import Consumer
from data.domain.points import Point
from data.stores.live import LiveStore, cursor_of_live_message
from tests.conftest import wait_until


def _points(n: int, metric: str = "cpu.usage", start_ms: int | None = None) -> list[dict]:
    start = start_ms or int(time.time() * 1000) - n * 1000
    return [
        {
            "data_id": f"p-{uuid.uuid4().hex}",
            "source": "web-1",
            "metric_type": metric,
            "timestamp": (start + i * 1000) / 1000,
            "value": float(i),
        }
        for i in range(n)
    ]


@pytest.fixture
def consumer(services: Services):
    """A consumer thread of the worker role, stopped after the test."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Consumer(services, f"it-{uuid.uuid4().hex[:6]}").run, args=(stop,), daemon=True
    )
    thread.start()
    yield
    stop.set()
    thread.join(10)


def test_ingested_points_are_stored_once_with_latest_and_live_entry(
    web, services: Services, tenant: str, ingest_key: str, consumer
) -> None:
    client = web.test_client()
    pubsub = services.redis.pubsub()
    pubsub.subscribe(services.live.channel(tenant))
    points = _points(5)
    resp = client.post(
        "/api/ingest", json=points, headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert resp.status_code == 202, resp.json
    assert resp.json == {"accepted": 5}
    wait_until(lambda: services.history.count_points(tenant) == 5)
    latest = services.live.latest(tenant)
    assert latest[("cpu.usage", "web-1")][1] == 4.0
    messages = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not messages:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
        if message:
            messages.append(orjson.loads(message["data"]))
    assert [p["value"] for p in messages[0]["points"]] == [0.0, 1.0, 2.0, 3.0, 4.0]
    # the same data_ids again: accepted, but never stored twice
    resp = client.post(
        "/api/ingest", json=points, headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert resp.status_code == 202
    # every entry read and acknowledged (after its commit), undelivered ones included
    wait_until(lambda: services.live.oldest_unacknowledged_ms() is None)
    assert services.history.count_points(tenant) == 5
    pubsub.close()


def test_trimming_keeps_only_unacknowledged_entries(services: Services, tenant: str) -> None:
    """Acknowledged entries are dropped; one still pending (delivered, not acked) stays."""
    # A store of its own, so that no other consumer of this run takes the entries.
    live = LiveStore(services.redis, f"{services.settings.redis_prefix}trim-{uuid.uuid4().hex}:")
    live.ensure_group()
    points = [Point(uuid.uuid4().hex, "web-1", "cpu.usage", int(time.time() * 1000), 1.0)]
    for _ in range(3):
        live.enqueue(tenant, points)
    done, _ = live.read_ingest("writer", 2, 10)
    live.ack([e.entry_id for e in done])
    held, _ = live.read_ingest("holder", 1, 10)
    assert live.trim_acknowledged() == 2
    remaining = [e[0].decode() for e in services.redis.xrange(live.ingest_key)]
    assert remaining == [held[0].entry_id]
    live.ack([held[0].entry_id])
    live.trim_acknowledged()
    assert services.redis.xlen(live.ingest_key) == 0
    live.enqueue(tenant, points)  # undelivered entries are never trimmed
    live.trim_acknowledged()
    assert services.redis.xlen(live.ingest_key) == 1


def test_the_cursor_of_a_live_message_is_read_without_decoding_its_points(
    services: Services, tenant: str
) -> None:
    pubsub = services.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(services.live.channel(tenant))
    wait_until(lambda: pubsub.get_message(timeout=0.1) is None)  # subscribed
    point = Point(uuid.uuid4().hex, "web-1", "cpu.usage", int(time.time() * 1000), 1.0)
    cursor = services.live.publish_points(tenant, [point])
    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
    assert message is not None
    assert (
        cursor_of_live_message(message["data"]) == cursor == orjson.loads(message["data"])["cursor"]
    )
    pubsub.close()


def test_data_ids_with_quotes_backslashes_and_accents_are_stored_as_sent(
    services: Services, tenant: str
) -> None:
    """The batch write passes columns as array literals: quoting must round-trip exactly."""
    now = int(time.time() * 1000)
    odd = ['a"b', "c\\d", 'e\\"f', "été ü", "{x,y}", "NULL", " spaced "]
    points = [Point(d, "web-1", "cpu.usage", now - i, 0.1 + i) for i, d in enumerate(odd)]
    assert services.history.write_points([(tenant, p) for p in points]).count == len(odd)
    with services.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT data_id, value FROM points WHERE tenant_id = :t"), {"t": tenant}
        ).all()
    assert sorted(stored) == sorted((p.data_id, p.value) for p in points)


def test_the_oldest_unacknowledged_entry_tolerates_an_ack_after_the_group_was_read(
    services: Services,
) -> None:
    """XINFO said one entry was pending; it was acknowledged before XPENDING ran (a worker
    is fast): the age is computed from what is left, not a crash of /metrics."""
    prefix = f"{services.settings.redis_prefix}ack-{uuid.uuid4().hex[:8]}:"
    live = LiveStore(services.redis, prefix)
    live.ensure_group()
    stale_info = [{"name": "writers", "pending": 1, "last-delivered-id": "0-0"}]
    assert live.oldest_unacknowledged_ms(stale_info) is None
