"""Pulse on a Redis Cluster (REDIS_URL=redis+cluster://…): the roles as real processes on a
real LoopbackRedisCluster. Points ingested over HTTP are stored by the worker and reach a
/ws socket live; one tenant's keys share a slot while tenants spread over the shards; and a
primary killed mid-ingest loses no point that ingest acknowledged (REDIS_WAIT_REPLICAS)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import text
from websockets.sync.client import connect

from app.services import Services
from app.settings import Settings
from app.tokens import StreamTokens
from data.domain.points import Point
from data.stores.dead_letters import DeadLetters
from data.stores.redis_connect import connect_async_redis, connect_redis
from data.stores.redis_keys import RedisKeys
from tests.cluster.roles import ROOT, role_env, running_role
from tests.cluster.test_loopback_redis_cluster import sentinel_url  # noqa: F401 (a fixture)
from tests.conftest import free_port, new_tenant, wait_until


@pytest.fixture(scope="module")
def on_cluster(settings: Settings, services: Services, cluster) -> Iterator[Services]:
    """Services of the run's (migrated) database on the cluster, under a prefix of their own."""
    cluster_settings = settings.model_copy(
        update={"redis_url": cluster.url, "redis_prefix": f"pulse-rc-{secrets.token_hex(3)}:"}
    )
    svc = Services.build(cluster_settings, pool_size=3)
    yield svc
    svc.close()


@contextlib.contextmanager
def running_worker(settings: Settings, clean: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """`python app.py worker` (which serves no HTTP: ready once it says it is consuming);
    `clean`: its log must show no traceback (a failover may log some, and is ridden out)."""
    log = Path(tempfile.mkstemp(prefix="pulse-worker-", suffix=".log")[1])
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "worker"],
            cwd=ROOT,
            env=role_env(settings, free_port()),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until(lambda: "consuming" in log.read_text(errors="replace"), timeout=60)
        yield process
        output = log.read_text(errors="replace")
        assert not clean or "Traceback" not in output, output[-3000:]
    finally:
        process.kill()
        process.wait(10)
        print(log.read_text(errors="replace")[-3000:])
        log.unlink(missing_ok=True)


def ingest(url: str, key: str, points: list[dict]) -> int:
    """POST the points; the status code (0 when the server could not be reached)."""
    try:
        reply = requests.post(
            f"{url}/api/ingest",
            json={"points": points},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
    except requests.RequestException:
        return 0
    return reply.status_code


def points(count: int, start: int = 0) -> list[dict]:
    """Points of values start … start+count-1, a millisecond apart."""
    now = time.time() - 60
    return [
        {"metric_type": "cpu.usage", "source": "web-1", "timestamp": now + i / 1000, "value": i}
        for i in range(start, start + count)
    ]


def test_one_tenants_keys_share_a_slot_and_tenants_spread_over_the_shards(on_cluster):
    keys, client = on_cluster.live.keys, on_cluster.redis
    assert keys.clustered and keys.partitions == 16
    tenant = "t-slot"
    names = [
        keys.ingest(tenant),
        keys.dead_for(keys.ingest(tenant)),
        keys.books_prefix(tenant) + "20000",
        keys.latest(tenant),
        keys.live(tenant),
        keys.channel(tenant),
        keys.notice_channel(tenant),
        keys.data_cache(tenant, "abc"),
        keys.reconcile(tenant),
    ]
    assert len({client.keyslot(name) for name in names}) == 1
    owners = {client.get_node_from_key(s).port for s in keys.ingest_streams()}
    assert len(owners) == 3  # the 16 partitions land on every shard
    tenants = [f"t-{i}" for i in range(60)]
    assert len({client.get_node_from_key(keys.latest(t)).port for t in tenants}) == 3


def test_a_single_server_keeps_the_names_it_had():
    keys = RedisKeys("pulse:", 16, clustered=False)
    assert keys.ingest_streams() == ["pulse:ingest"]
    assert (keys.ingest("a"), keys.dead_for(keys.ingest("a"))) == ("pulse:ingest", "pulse:dead")
    assert (keys.latest("a"), keys.live("a"), keys.channel("a")) == (
        "pulse:latest:a",
        "pulse:live:a",
        "pulse:chan:a",
    )
    assert keys.books_prefix("a") == "pulse:books:a:"
    assert keys.tenant_of("pulse:chan:a", "chan") == "a"
    tagged = RedisKeys("pulse:", 16, clustered=True)
    assert tagged.tenant_of(tagged.notice_channel("a:b"), "notice") == "a:b"
    assert tagged.tenant_of(tagged.channel("a"), "notice") is None


def stream_token(settings: Settings, tenant: str) -> str:
    return StreamTokens(settings.require_secret(), settings.stream_token_ttl_s).issue(tenant)


def test_points_ingested_are_stored_and_reach_a_socket_live(on_cluster):
    tenants = [new_tenant(on_cluster) for _ in range(3)]
    keys = {t: on_cluster.accounts.create_api_key(t, "in", "ingest") for t in tenants}
    settings = on_cluster.settings
    with (
        running_role(settings, "web") as web,
        running_worker(settings),
        running_role(settings, "stream") as stream,
    ):
        watched = tenants[0]
        with connect(f"{stream.ws_url}?token={stream_token(settings, watched)}") as ws:
            ws.send(json.dumps({"type": "subscribe", "metrics": ["*"], "sources": ["*"]}))
            time.sleep(0.5)  # the gateway's shard subscription lands
            for tenant in tenants:
                assert ingest(web.url, keys[tenant], points(50)) == 202, web.log_tail()
            seen: list[float] = []
            deadline = time.monotonic() + 20
            while len(seen) < 50 and time.monotonic() < deadline:
                frame = json.loads(ws.recv(timeout=20))
                if frame["type"] == "points":
                    seen += [p["value"] for p in frame["points"]]
            assert sorted(seen) == [float(i) for i in range(50)]
            assert subscribers(on_cluster, watched) == 1  # a shard subscription per tenant
        wait_until(lambda: subscribers(on_cluster, watched) == 0, timeout=10)  # last one left
        for tenant in tenants:
            wait_until(lambda t=tenant: on_cluster.history.count_points(t) == 50, timeout=20)
        assert on_cluster.live.pipeline_state()["pending"] == 0


def test_a_primary_killed_mid_ingest_loses_no_acknowledged_point(on_cluster, cluster):
    tenant = new_tenant(on_cluster)
    key = on_cluster.accounts.create_api_key(tenant, "in", "ingest")
    acknowledged: list[int] = []
    stop = threading.Event()
    with (
        running_role(on_cluster.settings, "web") as web,
        running_worker(on_cluster.settings, clean=False),
    ):

        def keep_ingesting() -> None:
            batch = 0
            while not stop.is_set():
                if ingest(web.url, key, points(10, batch * 10)) == 202:
                    acknowledged.append(batch)
                batch += 1

        sender = threading.Thread(target=keep_ingesting, daemon=True)
        sender.start()
        try:
            wait_until(lambda: len(acknowledged) >= 20, timeout=20)
            owner = on_cluster.redis.get_node_from_key(on_cluster.live.keys.ingest(tenant))
            cluster.kill_primary(next(n for n in cluster.nodes if n.port == owner.port))
            cluster.wait_healthy()
            settled = len(acknowledged)
            wait_until(lambda: len(acknowledged) >= settled + 20, timeout=30)  # ingest resumed
        finally:
            stop.set()
            sender.join(15)
        want = {float(i) for b in acknowledged for i in range(b * 10, b * 10 + 10)}
        wait_until(lambda: want <= stored_values(on_cluster, tenant), timeout=30)
        assert on_cluster.history.count_points(tenant) == len(stored_values(on_cluster, tenant))


def subscribers(services: Services, tenant: str) -> int:
    """How many connections subscribe to the tenant's shard channel."""
    channel = services.live.channel(tenant)
    node = services.redis.get_node_from_key(channel).redis_connection
    reply = node.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    flat = [item for pair in reply for item in (pair if isinstance(pair, tuple) else [pair])]
    return int(flat[1])


def stored_values(services: Services, tenant: str) -> set[float]:
    with services.engine.connect() as conn:
        rows = conn.execute(text("SELECT value FROM points WHERE tenant_id = :t"), {"t": tenant})
        return {float(row[0]) for row in rows}


def test_connect_redis_reaches_the_cluster(cluster):
    client = connect_redis(cluster.url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_the_async_client_follows_a_sentinel_primary(sentinel_url):  # noqa: F811
    async def round_trip() -> bytes | None:
        client = connect_async_redis(sentinel_url, 4, socket_timeout=2)
        try:
            await client.set("pulse-test:sentinel-async", "yes")
            return await client.get("pulse-test:sentinel-async")
        finally:
            await client.aclose()

    deadline = time.monotonic() + 10
    while True:  # the sentinel answers once it has seen the primary
        try:
            assert asyncio.run(round_trip()) == b"yes"
            return
        except redis.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def read_all(read) -> list:
    """Every entry `read` hands out, batch after batch; each batch is of one stream (entry
    ids are unique only within a stream, and the writers tell a batch's entries apart by id)."""
    out: list = []
    while batch := read():
        assert len({e.stream for e in batch}) == 1
        out += batch
    return out


def test_groups_claims_trims_and_dead_letters_work_per_partition(on_cluster):
    live = on_cluster.live
    tenants = [f"t-part-{i}" for i in range(6)]
    assert len({live.keys.ingest(t) for t in tenants}) > 1
    live.ensure_group()
    now = int(time.time() * 1000)
    for i, tenant in enumerate(tenants):
        live.enqueue(tenant, [Point(f"{i:032x}", "s", "m", now, float(i))])
    taken = read_all(lambda: live.read_ingest("dead-consumer", 100, 0)[0])
    assert sorted(e.tenant for e in taken) == tenants
    assert live.pipeline_state()["pending"] == 6
    claimed = []
    while len({e.tenant for e in claimed}) < 6:  # idle 0: claimed again and again, so bounded
        batch = live.claim_stale("heir", min_idle_ms=0)[0]
        assert len({e.stream for e in batch}) == 1
        claimed += [e for e in batch if e.tenant not in {c.tenant for c in claimed}]
    assert sorted(e.tenant for e in claimed) == tenants
    assert all(e.stream == live.keys.ingest(e.tenant) for e in claimed)
    dead = DeadLetters(live)
    buried = claimed[0]
    assert dead.delivery_count(buried.entry_id, buried.stream) == 2
    dead.bury(buried, "test", 2)
    live.ack_entries(claimed[1:])
    state = live.pipeline_state()
    assert (state["pending"], state["dead"]) == (0, 1)
    assert live.trim_acknowledged() >= 6  # and what the earlier tests left
    (letter,) = dead.of_tenant(buried.tenant)
    assert dead.replay(buried.tenant, letter.dead_id)
    assert [e.tenant for e in live.read_ingest("heir", 100, 0)[0]] == [buried.tenant]
