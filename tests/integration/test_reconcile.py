"""The reconcile job raises the live store's latest values to what PostgreSQL holds."""

from __future__ import annotations

import dataclasses
import time
import uuid

from app.services import Services
from app.worker.jobs import reconcile_latest
from data.domain.points import Point
from data.stores.live import LiveStore


def test_latest_values_behind_postgres_are_repaired_and_newer_ones_kept(
    services: Services, tenant: str
) -> None:
    prefix = f"{services.settings.redis_prefix}rc-{uuid.uuid4().hex[:8]}:"
    live = LiveStore(services.redis, prefix)
    isolated = dataclasses.replace(services, live=live)
    now = int(time.time() * 1000)
    stored = [
        Point(uuid.uuid4().hex, "web-1", "cpu.usage", now - 2_000, 10.0),
        Point(uuid.uuid4().hex, "web-1", "cpu.usage", now - 1_000, 11.0),  # newest of its series
        Point(uuid.uuid4().hex, "web-2", "cpu.usage", now - 1_000, 20.0),
        Point(uuid.uuid4().hex, "db-1", "cpu.usage", now - 1_000, 30.0),
    ]
    services.history.write_points([(tenant, p) for p in stored])
    key = live.latest_key(tenant)
    services.redis.hset(key, "cpu.usage|web-2", f"{now - 60_000}|19.0")  # behind PostgreSQL
    services.redis.hset(key, "cpu.usage|db-1", f"{now + 1_000}|31.0")  # ahead: a live point
    reconcile_latest(isolated)
    assert live.latest(tenant) == {
        ("cpu.usage", "web-1"): (now - 1_000, 11.0),  # missing: filled in
        ("cpu.usage", "web-2"): (now - 1_000, 20.0),  # behind: raised
        ("cpu.usage", "db-1"): (now + 1_000, 31.0),  # newer than PostgreSQL: kept
    }
