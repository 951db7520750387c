"""The worker's jobs: first-start bootstrap of tenant `demo`, and the demo source's ticks
(the demo generator is a source kind, scheduled by the source runner).

The bootstrap tests run on a database of their own (tenant `demo` and the username `admin`
are fixed names, so the run's shared database cannot show a first start); the tick tests use
the run's database with a fresh tenant and a Redis prefix of their own.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from app.bootstrap import DEMO_TENANT, ensure_demo_tenant
from app.services import Services
from app.settings import Settings
from app.worker.consumer import Consumer
from app.worker.sources import demo
from app.worker.sources.base import PollContext
from app.worker.sources.runner import JOB_PREFIX, SourceRunner
from data.domain.demo import HOSTS
from data.domain.source_spec import DemoConfig
from data.stores.db import migrate
from data.stores.live import LiveStore
from data.stores.schema import sources, users
from tests.conftest import scratch_database

DEMO_SERIES = {
    ("site.traffic", "web-frontend"),
    ("users.active", "web-frontend"),
    ("sales.orders", "shop"),
    ("sales.revenue", "shop"),
    ("errors.rate", "api-gateway"),
    *(("cpu.usage", host) for host in HOSTS),
    *(("memory.usage", host) for host in HOSTS),
}


@pytest.fixture
def fresh_start(settings: Settings) -> Iterator[Callable[..., Services]]:
    """Build services on a new, migrated, empty database, as on a first start of Pulse."""
    built: list[Services] = []
    with scratch_database(settings, "pulse_first") as url:

        def build(**overrides: object) -> Services:
            svc = Services.build(settings.model_copy(update={"database_url": url, **overrides}))
            if not built:
                migrate(svc.engine)
            built.append(svc)
            return svc

        try:
            yield build
        finally:
            for svc in built:
                svc.close()


def demo_rows(svc: Services) -> tuple[list[tuple[str, str]], list[tuple[str, str, float, bool]]]:
    """Tenant demo's (username, role) users and (name, kind, interval_s, enabled) sources."""
    with svc.engine.connect() as conn:
        people = conn.execute(
            select(users.c.username, users.c.role).where(users.c.tenant_id == DEMO_TENANT)
        )
        feeds = conn.execute(
            select(sources.c.name, sources.c.kind, sources.c.interval_s, sources.c.enabled).where(
                sources.c.tenant_id == DEMO_TENANT
            )
        )
        return [tuple(r) for r in people], [tuple(r) for r in feeds]


def demo_jobs(svc: Services) -> dict[str, float]:
    """The source runner's jobs (id → interval) that run a demo source."""
    with svc.engine.connect() as conn:
        ids = conn.execute(select(sources.c.source_id).where(sources.c.kind == "demo")).scalars()
        demo_ids = {JOB_PREFIX + source_id for source_id in ids}
    return {job: every for job, every in SourceRunner(svc).wanted().items() if job in demo_ids}


def demo_tick(svc: Services, tenant: str, state: dict[str, Any]) -> dict[str, Any]:
    """What the runner does with a demo source: poll it at the clock's time, queue the points."""
    now_ms = svc.now_ms()
    ctx = PollContext("demo-source-id", tenant, "demo", now_ms, now_ms - 86_400_000, 1.0)
    result = demo.poll(DemoConfig(seed=7), state, ctx)
    svc.live.enqueue(tenant, result.points)
    return result.state


def test_first_start_creates_demo_admin_and_source_and_shows_the_password_once(
    fresh_start: Callable[..., Services],
) -> None:
    """With demo data on and no PULSE_ADMIN_PASSWORD, the first bootstrap creates tenant
    `demo`, one admin `admin` with a generated password (returned once) and one demo source;
    running it again changes nothing and returns no password."""
    svc = fresh_start(demo_data=True, pulse_admin_password=None)
    password = ensure_demo_tenant(svc)
    assert password is not None and len(password) >= 12
    assert ensure_demo_tenant(svc) is None
    people, feeds = demo_rows(svc)
    assert people == [("admin", "admin")]
    assert feeds == [("demo-generator", "demo", 1.0, True)]
    admin = svc.accounts.authenticate("admin", password)
    assert admin is not None
    assert (admin.tenant_id, admin.role) == (DEMO_TENANT, "admin")


def test_given_admin_password_is_used_and_never_returned(
    fresh_start: Callable[..., Services],
) -> None:
    """PULSE_ADMIN_PASSWORD becomes the admin's password, and nothing is printed as generated."""
    given = "given-" + secrets.token_hex(6)
    svc = fresh_start(demo_data=True, pulse_admin_password=SecretStr(given))
    assert ensure_demo_tenant(svc) is None
    assert ensure_demo_tenant(svc) is None
    assert demo_rows(svc)[0] == [("admin", "admin")]
    assert svc.accounts.authenticate("admin", given) is not None


def test_without_demo_data_the_admin_is_created_but_no_demo_source(
    fresh_start: Callable[..., Services],
) -> None:
    """DEMO_DATA=0: tenant `demo` and its admin exist, the worker schedules no demo job;
    turning demo data on later adds the source once and the worker then schedules it."""
    quiet = fresh_start(demo_data=False, pulse_admin_password=None)
    assert ensure_demo_tenant(quiet) is not None
    assert demo_rows(quiet) == ([("admin", "admin")], [])
    assert demo_jobs(quiet) == {}

    lively = fresh_start(demo_data=True, pulse_admin_password=None)
    assert ensure_demo_tenant(lively) is None  # the admin exists: no new password
    assert ensure_demo_tenant(lively) is None
    assert demo_rows(lively) == ([("admin", "admin")], [("demo-generator", "demo", 1.0, True)])
    with lively.engine.connect() as conn:
        source_id = conn.execute(
            select(sources.c.source_id).where(sources.c.tenant_id == DEMO_TENANT)
        ).scalar_one()
    assert demo_jobs(lively) == {JOB_PREFIX + source_id: 1.0}


@pytest.fixture
def own_queue(settings: Settings, services: Services) -> Services:
    """The run's services on a Redis prefix of this test only, so its ingest stream is its own."""
    prefix = f"{settings.redis_prefix}jobs-{uuid.uuid4().hex[:8]}:"
    return dataclasses.replace(
        services,
        settings=settings.model_copy(update={"redis_prefix": prefix}),
        live=LiveStore(services.redis, prefix, settings.live_resume_s),
    )


def queued(svc: Services) -> list[tuple[str, list[list[object]]]]:
    """The (tenant, packed points) of every entry of the ingest stream."""
    return [
        (fields[b"t"].decode(), orjson.loads(fields[b"p"]))
        for _, fields in svc.redis.xrange(svc.live.ingest_key)
    ]


def test_demo_tick_queues_one_point_per_demo_series_for_the_second(
    own_queue: Services, tenant: str
) -> None:
    """A tick queues, for its tenant, one point of each demo series stamped with the start of
    the current second; a second tick in the same second carries the same data_ids."""
    second_ms = (int(time.time()) - 5) * 1000
    for offset in (120, 870):
        at = dataclasses.replace(own_queue, clock=lambda o=offset: (second_ms + o) / 1000)
        demo_tick(at, tenant, {})

    entries = queued(own_queue)
    assert [t for t, _ in entries] == [tenant, tenant]
    first, again = ([tuple(row) for row in packed] for _, packed in entries)
    assert {(metric, src) for _, src, metric, _, _ in first} == DEMO_SERIES
    assert len(first) == len(DEMO_SERIES) == 11
    assert {ts for _, _, _, ts, _ in first} == {second_ms}
    assert [row[0] for row in again] == [row[0] for row in first]
    assert len({row[0] for row in first}) == 11
    for _, src, metric, _, value in first:
        assert value >= 0, (metric, src, value)
        if metric in ("cpu.usage", "memory.usage"):
            assert 1 <= value <= 99, (metric, src, value)


def test_repeated_demo_tick_in_one_second_is_stored_once(own_queue: Services, tenant: str) -> None:
    """The worker stores a second's demo points once even when the tick ran twice, and the
    latest values show every demo series."""
    second_ms = (int(time.time()) - 5) * 1000
    state: dict[str, Any] = {}
    for offset in (0, 400, 999):
        at = dataclasses.replace(own_queue, clock=lambda o=offset: (second_ms + o) / 1000)
        state = demo_tick(at, tenant, state)

    own_queue.live.ensure_group()
    consumer = Consumer(own_queue, f"jobs-{uuid.uuid4().hex[:6]}")
    deadline = time.monotonic() + 20
    while own_queue.history.count_points(tenant) < 11 or own_queue.live.pending_count():
        assert time.monotonic() < deadline, "the consumer did not store the demo points in time"
        consumer.step(block_ms=100)

    assert own_queue.history.count_points(tenant) == 11
    with own_queue.engine.connect() as conn:
        counted = conn.execute(
            text("SELECT sum(count) FROM rollup_1m WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()
    assert counted == 11
    latest = own_queue.live.latest(tenant)
    assert set(latest) == DEMO_SERIES
    assert {ts for ts, _ in latest.values()} == {second_ms}
