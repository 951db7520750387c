"""Entries PostgreSQL keeps refusing go to the dead-letter stream after N deliveries; the
rest of their batch is stored; admins of the tenant list and replay them."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid

import orjson
import pytest

from app.services import Services
from app.web.factory import create_app
from app.worker.consumer import Consumer
from data.domain.points import Point
from data.stores.dead_letters import DeadLetters
from data.stores.live import LiveStore, live_entries
from tests.conftest import PASSWORD, wait_until


@pytest.fixture
def isolated(services: Services) -> Services:
    """Services on a stream of their own, which no other consumer of the run reads."""
    prefix = f"{services.settings.redis_prefix}dl-{uuid.uuid4().hex[:8]}:"
    settings = services.settings.model_copy(update={"redis_prefix": prefix})
    live = LiveStore(services.redis, prefix, settings.live_resume_s)
    return dataclasses.replace(services, settings=settings, live=live)


def good_point(value: float) -> Point:
    return Point(uuid.uuid4().hex, "web-1", "cpu.usage", int(time.time() * 1000), value)


def poison_entry(live: LiveStore, tenant: str) -> str:
    """An entry written past the API's checks: its data_id is too long for PostgreSQL."""
    bad = Point("x" * 100, "web-1", "cpu.usage", int(time.time() * 1000), 1.0)
    fields = {"t": tenant, "r": "0", "p": orjson.dumps([bad.packed()])}
    return live.redis.xadd(live.ingest_key, fields).decode()


def drain(consumer: Consumer, steps: int = 50) -> None:
    for _ in range(steps):
        consumer.step(block_ms=10)


def test_a_refused_entry_is_dead_lettered_after_max_deliveries_and_its_batch_stored(
    isolated: Services, tenant: str
) -> None:
    live = isolated.live
    live.ensure_group()
    live.enqueue(tenant, [good_point(1.0)])
    poison_id = poison_entry(live, tenant)
    live.enqueue(tenant, [good_point(2.0)])
    drain(Consumer(isolated, "dl-test"))
    assert isolated.history.count_points(tenant) == 2
    assert live.pending_count() == 0
    letters = DeadLetters(live).of_tenant(tenant)
    assert [(d.entry_id, d.points) for d in letters] == [(poison_id, 1)]
    assert letters[0].deliveries >= isolated.settings.max_deliveries
    assert "StringDataRightTruncation" in letters[0].reason


def test_admins_list_and_replay_only_their_tenants_dead_letters(
    isolated: Services, tenant: str, make_user
) -> None:
    live = isolated.live
    live.ensure_group()
    stored = good_point(5.0)
    # a dead letter whose cause is gone (say, a fixed schema): replaying it stores it
    live.redis.xadd(
        live.dead_key,
        {
            "t": tenant,
            "r": "0",
            "p": orjson.dumps([stored.packed()]),
            "reason": "DataError: was broken",
            "id": "1-0",
            "deliveries": "5",
        },
    )
    other_tenant = f"t-{uuid.uuid4().hex[:12]}"
    make_user(other_tenant, "admin")  # creates the tenant
    live.redis.xadd(live.dead_key, {"t": other_tenant, "p": b"[]", "reason": "theirs"})
    client = create_app(services=isolated).server.test_client()
    admin = make_user(tenant, "admin")
    assert (
        client.post("/login", json={"username": admin.username, "password": PASSWORD}).status_code
        == 200
    )
    listed = client.get("/api/dead-letters").json["dead_letters"]
    assert [(d["reason"], d["points"]) for d in listed] == [("DataError: was broken", 1)]
    theirs = live.redis.xrange(live.dead_key)[-1][0].decode()
    assert client.post(f"/api/dead-letters/{theirs}/replay").status_code == 404
    assert client.post("/api/dead-letters/not-an-id/replay").status_code == 404
    resp = client.post(f"/api/dead-letters/{listed[0]['id']}/replay")
    assert resp.status_code == 202
    drain(Consumer(isolated, "dl-replay"), steps=5)
    assert isolated.history.count_points(tenant) == 1
    assert client.get("/api/dead-letters").json["dead_letters"] == []


def test_viewers_and_analysts_may_not_see_dead_letters(
    isolated: Services, tenant: str, make_user
) -> None:
    client = create_app(services=isolated).server.test_client()
    for role in ("viewer", "analyst"):
        user = make_user(tenant, role)
        client.post("/login", json={"username": user.username, "password": PASSWORD})
        assert client.get("/api/dead-letters").status_code == 403
        client.post("/logout")


def test_the_pipelined_consumer_stores_every_entry_once_in_order_and_buries_the_refused(
    isolated: Services, tenant: str
) -> None:
    """`Consumer.run` reads ahead while it commits: entries still land once each, live
    entries are published in the order they were queued, and a refused entry goes to the
    dead-letter stream (via the pending list) without holding up the ones behind it."""
    live = isolated.live
    live.ensure_group()
    batches = [[good_point(float(i * 10 + j)) for j in range(10)] for i in range(30)]
    for i, batch in enumerate(batches):
        live.enqueue(tenant, batch)
        if i == 12:
            poisoned = poison_entry(live, tenant)
    stop = threading.Event()
    worker = threading.Thread(target=Consumer(isolated, "pipe-1").run, args=(stop,), daemon=True)
    worker.start()
    try:
        wait_until(lambda: isolated.history.count_points(tenant) == 300, timeout=30)
        wait_until(lambda: live.pending_count() == 0, timeout=30)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    dead = DeadLetters(live).of_tenant(tenant)
    assert [letter.entry_id for letter in dead] == [poisoned]
    entries = live_entries(live.redis.xrange(live.live_key(tenant)))
    published = [p["value"] for _, points in entries for p in points]
    assert sorted(published) == published, "published in the order queued"
    assert set(published) == {p.value for batch in batches for p in batch}
