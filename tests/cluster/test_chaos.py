"""The loopback cluster loses nothing when one of each dies (issue 16, item 5).

`make cluster-up`'s own orchestration starts 2 web, 2 stream and 2 worker processes behind
nginx, PostgreSQL with a streaming replica and Redis (a 3-primary cluster when the roles run
on one, CLUSTER_REDIS=cluster). Senders ingest 20,000 points through nginx, in batches with
data_ids, resending on a 5xx or a broken connection; viewers watch through nginx on /ws.
Mid-run one web, one stream, one worker (and in cluster mode the Redis primary holding the
tenant's keys) are killed with SIGKILL. Afterwards every acknowledged point is in PostgreSQL
exactly once, the minute rollups add up to the points, and every viewer reconnected,
resumed from its cursor with no point missing, within 5 s. The figures are printed for the
closing note."""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.cluster import loopback
from app.cluster.layout import DEFAULT_REDIS_MODE, ClusterState, Layout
from app.services import Services
from bench.harness import percentile
from tests.cluster import load

POINTS = 20_000
SENDERS = 4
VIEWERS = 4
BATCH = 100
BATCH_PAUSE_S = 0.25  # spreads the ingest over ~15 s, so the kills land mid-run
KILL_EVERY_S = 3.0
RECONNECT_BOUND_S = 5.0
SETTLE_TIMEOUT_S = 60.0
ROLE_ENV = {"CLAIM_IDLE_MS": "2000"}  # a killed worker's entries are taken over in seconds


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Layout, ClusterState]]:
    if not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (make system-packages)")
    mode = os.environ.get("CLUSTER_REDIS") or DEFAULT_REDIS_MODE
    # not under pytest's basetemp: each pytest session (another run's too) makes that 0700
    # again, and PostgreSQL runs as its own user, who must reach its data directory
    root = Path(tempfile.mkdtemp(prefix="pulse-chaos-"))
    layout = Layout.on_free_ports(root, mode, role_env=ROLE_ENV)
    state = loopback.up(layout, say=False)
    try:
        yield layout, state
    finally:
        loopback.down(layout, say=False)


@pytest.fixture(scope="module")
def keys(cluster: tuple[Layout, ClusterState]) -> Iterator[tuple[Services, str, str, str]]:
    """Services on the cluster's stores, a fresh tenant, its ingest and read keys."""
    _, state = cluster
    services = Services.build(loopback.cluster_settings(state), pool_size=2)
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, tenant)
    ingest = services.accounts.create_api_key(tenant, "chaos ingest", "ingest")
    read = services.accounts.create_api_key(tenant, "chaos read", "read")
    yield services, tenant, ingest, read
    services.close()


def kill(state: ClusterState, name: str) -> str:
    record = next(p for p in state.processes if p.name == name)
    os.kill(record.pid, signal.SIGKILL)
    return name


def kill_one_of_each(
    layout: Layout, state: ClusterState, services: Services, tenant: str
) -> list[str]:
    """SIGKILL one web, one stream, one worker, KILL_EVERY_S apart, and on a Redis Cluster
    the primary holding the tenant's streams and channel: the worst one to lose."""
    killed = []
    for name in ("web-1", "stream-1", "worker-1"):
        time.sleep(KILL_EVERY_S)
        killed.append(kill(state, name))
    if state.redis_mode == "cluster":
        time.sleep(KILL_EVERY_S)
        redis = loopback.servers.redis_cluster(layout, state.redis_base_port)
        owner = services.live.redis.get_node_from_key(services.live.live_key(tenant))
        primary = next(p for p in redis.primaries() if p.port == owner.port)
        redis.kill_primary(primary)
        killed.append(f"redis {primary.address} (the tenant's)")
    return killed


def stored(services: Services, tenant: str) -> tuple[int, set[str]]:
    """Rows stored for the tenant, and their distinct data_ids."""
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT data_id FROM points WHERE tenant_id = :t"), {"t": tenant}
        ).all()
    return len(rows), {row[0] for row in rows}


def rollups_mismatch(services: Services, tenant: str) -> dict[object, object]:
    """(source, minute) → (points' count and sum, rollup's) wherever the two differ."""
    by_points = """SELECT source, date_trunc('minute', ts), count(*), sum(value)
                   FROM points WHERE tenant_id = :t GROUP BY 1, 2"""
    by_rollup = 'SELECT source, bucket, "count", "sum" FROM rollup_1m WHERE tenant_id = :t'
    with services.engine.connect() as conn:
        raw = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(text(by_points), {"t": tenant})}
        folded = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(text(by_rollup), {"t": tenant})}
    keys = raw.keys() | folded.keys()
    return {
        k: (raw.get(k), folded.get(k))
        for k in keys
        if k not in raw
        or k not in folded
        or raw[k][0] != folded[k][0]
        or abs(raw[k][1] - folded[k][1]) > 1e-6
    }


def wait_for(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.5)


# long: one scenario, told in order: load, kills, settle, then the four promises checked
def test_killing_one_of_each_loses_no_point_and_no_viewer_misses_one(
    cluster: tuple[Layout, ClusterState], keys: tuple[Services, str, str, str]
) -> None:
    layout, state = cluster
    services, tenant, ingest_key, read_key = keys
    cursor = load.current_cursor(layout.url, read_key)
    token = load.stream_token(layout.url, read_key)
    viewers = [
        load.Viewer(layout.url.replace("http", "ws") + "/ws", token, cursor) for _ in range(VIEWERS)
    ]
    viewer_threads = [load.started(v) for v in viewers]
    per = POINTS // SENDERS
    senders = [
        load.Sender(layout.url, ingest_key, i, per, BATCH, BATCH_PAUSE_S) for i in range(SENDERS)
    ]
    sender_threads = [load.started(s) for s in senders]
    killed = kill_one_of_each(layout, state, services, tenant)
    for thread in sender_threads:
        thread.join(timeout=120)
    acknowledged = {data_id for s in senders for data_id in s.acknowledged}
    wait_for(lambda: stored(services, tenant)[1] >= acknowledged, SETTLE_TIMEOUT_S)
    rows, distinct = stored(services, tenant)
    expected = {(s.source, float(i)) for s in senders for i in range(s.count)
                if f"{s.index}-{i}" in acknowledged}  # fmt: skip
    wait_for(lambda: all(expected <= v.received for v in viewers), 20.0)
    for viewer in viewers:
        viewer.stop.set()
    for thread in viewer_threads:
        thread.join(timeout=10)
    reconnects = [s for v in viewers for s in v.reconnects_s]
    print(
        f"\nchaos ({state.redis_mode} redis): killed {', '.join(killed)}; "
        f"points sent {POINTS}, acknowledged {len(acknowledged)}, stored {len(distinct)}, "
        f"duplicated {rows - len(distinct)}, resends {sum(s.resends for s in senders)}; "
        f"{len(reconnects)} reconnects of {VIEWERS} viewers, p50 "
        f"{percentile(reconnects, 50):.2f} s, p99 {percentile(reconnects, 99):.2f} s"
        if reconnects
        else "\nno viewer had to reconnect"
    )
    assert [r for s in senders for r in s.refused] == []
    assert len(acknowledged) == POINTS, "a batch was never accepted within the resend window"
    assert distinct == acknowledged and rows == len(distinct)
    assert rollups_mismatch(services, tenant) == {}
    for viewer in viewers:
        assert viewer.resets == 0
        assert expected - viewer.received == set(), f"{len(expected - viewer.received)} missed"
        assert all(took <= RECONNECT_BOUND_S for took in viewer.reconnects_s), viewer.reconnects_s
    assert reconnects, "the killed stream process had sockets: they must have reconnected"
