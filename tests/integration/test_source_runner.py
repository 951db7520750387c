"""The worker's source runner: deadlines, health, source.down/up events, scheduling from the
table, and a source's points stored in PostgreSQL through the consumer."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, text, update

from app.metrics import exposition
from app.outbound import outbound_policy
from app.services import Services
from app.worker.consumer import Consumer
from app.worker.jobs import run_worker
from app.worker.sources.runner import JOB_PREFIX, SOURCES_EXECUTOR, SourceRunner
from data.stores.events import Events
from data.stores.schema import sources
from data.stores.sources import DOWN_AFTER, SourceStore
from tests.conftest import free_port, wait_until
from tests.sources_support import TRICKLE_S, Answer, http_server, isolated

HANG_S = 3.0


@pytest.fixture
def svc(services: Services, tenant: str, tmp_path: Path) -> Iterator[Services]:
    """Services on a stream of their own; the test tenant's sources are removed afterwards,
    so later tests' schedulers do not poll them."""
    yield isolated(services, source_files_dir=tmp_path, demo_data=False)
    with services.engine.begin() as conn:
        conn.execute(delete(sources).where(sources.c.tenant_id == tenant))


@pytest.fixture
def endpoints() -> Iterator[str]:
    """/good (JSON), /garbage (an HTML page), /hang (trickles its answer over HANG_S)."""
    polls = {"good": 0}

    def handle(path: str, headers: dict[str, str]) -> Answer:
        if path.startswith("/good"):
            polls["good"] += 1
            return 200, "application/json", orjson.dumps({"load": {"now": polls["good"]}})
        if path.startswith("/hang"):  # a byte at a time: no socket timeout ever fires
            body = b'{"load": {"now": 1}}'.ljust(int(HANG_S / TRICKLE_S))
            return 200, "application/json", [bytes([b]) for b in body]
        return 200, "text/html", b"<html><h1>Welcome to nginx!</h1></html>"

    with http_server(handle) as base:
        yield base


def json_source(name: str, url: str, **extra: Any) -> dict[str, Any]:
    config = {"url": url, "values": [{"path": "load.now", "metric": "load"}]}
    return {"name": name, "kind": "http_json", "config": config, **extra}


def queued_points(svc: Services, tenant: str) -> list[list[Any]]:
    out: list[list[Any]] = []
    for _, fields in svc.redis.xrange(svc.live.ingest_key):
        if fields[b"t"].decode() == tenant:
            out += orjson.loads(fields[b"p"])
    return out


def status_of(store: SourceStore, tenant: str, source_id: str) -> str | None:
    source = store.get(tenant, source_id)
    return source.status if source is not None else None


def events_of(svc: Services, source_id: str) -> list[str]:
    return [
        e["type"]
        for e in Events(svc.redis, svc.settings.redis_prefix).recent(1000)
        if e.get("source_id") == source_id
    ]


def test_failing_hanging_and_garbage_sources_go_down_once_while_another_keeps_producing(
    svc: Services, tenant: str, endpoints: str
) -> None:
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    fast = {"interval_s": 0.2, "timeout_s": 0.5}
    good = store.create(tenant, json_source("good", endpoints + "/good", **fast))
    refused = store.create(
        tenant, json_source("refused", f"http://127.0.0.1:{free_port()}/", **fast)
    )
    hanging = store.create(tenant, json_source("hanging", endpoints + "/hang", **fast))
    garbage = store.create(
        tenant,
        {
            "name": "garbage",
            "kind": "prometheus",
            "config": {"url": endpoints + "/garbage"},
            **fast,
        },
    )
    runner = SourceRunner(svc)
    outcomes: dict[str, list[str]] = {s.name: [] for s in (good, refused, hanging, garbage)}
    for _ in range(DOWN_AFTER + 2):
        for source in (good, refused, hanging, garbage):
            started = time.monotonic()
            outcomes[source.name].append(runner.run(source.source_id))
            assert time.monotonic() - started < 1.5, f"{source.name} held the runner"
        time.sleep(0.25)  # past the lease of the interval

    assert outcomes["good"] == ["ok"] * (DOWN_AFTER + 2)
    assert outcomes["refused"] == ["error"] * (DOWN_AFTER + 2)
    assert outcomes["garbage"] == ["error"] * (DOWN_AFTER + 2)
    assert outcomes["hanging"][0] == "timeout"
    assert set(outcomes["hanging"][1:]) <= {"stuck", "timeout"} and "stuck" in outcomes["hanging"]
    assert [p[4] for p in queued_points(svc, tenant)] == [float(n) for n in range(1, 6)]

    reasons = {
        "refused": "cannot reach",
        "garbage": "not a Prometheus text exposition",
        "hanging": "0.5s",
    }
    for source in (refused, hanging, garbage):
        now = store.get(tenant, source.source_id)
        assert now is not None
        assert (now.status, now.consecutive_failures) == ("down", DOWN_AFTER + 2)
        assert reasons[source.name] in (now.last_error or ""), now.last_error
        assert events_of(svc, source.source_id) == ["source.down"]
    healthy = store.get(tenant, good.source_id)
    assert healthy is not None and healthy.status == "up" and healthy.last_success_at
    assert events_of(svc, good.source_id) == []
    event = next(
        e
        for e in Events(svc.redis, svc.settings.redis_prefix).recent(1000)
        if e.get("source_id") == refused.source_id
    )
    assert event["tenant"] == tenant and event["name"] == "refused" and event["at"]
    assert "cannot reach" in event["error"]


def test_recovery_raises_one_source_up(svc: Services, tenant: str) -> None:
    state = {"up": False}

    def flaky(path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return (
            (200, "application/json", b'{"load": {"now": 2}}')
            if state["up"]
            else (500, "text/plain", b"boom")
        )

    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    runner = SourceRunner(svc)
    with http_server(flaky) as base:
        source = store.create(tenant, json_source("flaky", base, interval_s=0.2))
        for _ in range(DOWN_AFTER + 1):
            assert runner.run(source.source_id) == "error"
            time.sleep(0.2)
        state["up"] = True
        for _ in range(3):
            assert runner.run(source.source_id) == "ok"
            time.sleep(0.2)
    assert events_of(svc, source.source_id) == ["source.down", "source.up"]
    now = store.get(tenant, source.source_id)
    assert now is not None and now.status == "up" and "HTTP 500" in (now.last_error or "")
    body = exposition(svc.live, svc.engine)[0].decode()
    assert 'pulse_source_polls_total{kind="http_json",outcome="error"}' in body
    assert 'pulse_sources{status="up"}' in body


def test_the_scheduler_follows_the_table_and_a_hang_stalls_nothing(
    svc: Services, tenant: str, endpoints: str
) -> None:
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(8)})
    runner = SourceRunner(svc, scheduler)
    good = store.create(tenant, json_source("good", endpoints + "/good", interval_s=0.2))
    hanging = store.create(
        tenant, json_source("hanging", endpoints + "/hang", interval_s=0.2, timeout_s=0.4)
    )
    ours = {JOB_PREFIX + good.source_id, JOB_PREFIX + hanging.source_id}

    def our_jobs() -> dict[str, Any]:  # (sources of the run's other tests may be enabled)
        return {j.id: j for j in scheduler.get_jobs() if j.id in ours}

    scheduler.start()
    try:
        runner.sync()
        assert set(our_jobs()) == {JOB_PREFIX + good.source_id, JOB_PREFIX + hanging.source_id}
        # The hanging source times out, then finds its poll stuck, and goes down once ...
        wait_until(lambda: status_of(store, tenant, hanging.source_id) == "down", timeout=30)
        assert events_of(svc, hanging.source_id) == ["source.down"]
        # ... while its polls still hang, the good source, on the same executor, keeps
        # being polled (a hang that stalled the scheduler would stop it here)
        produced = len(queued_points(svc, tenant))
        wait_until(lambda: len(queued_points(svc, tenant)) >= produced + 3, timeout=30)
        assert status_of(store, tenant, good.source_id) == "up"

        store.update(tenant, good.source_id, {"interval_s": 30})
        store.update(tenant, hanging.source_id, {"enabled": False})
        runner.sync()
        jobs = our_jobs()
        assert set(jobs) == {JOB_PREFIX + good.source_id}
        assert jobs[JOB_PREFIX + good.source_id].trigger.interval.total_seconds() == 30
        store.delete(tenant, good.source_id)
        runner.sync()
        assert our_jobs() == {}
    finally:
        scheduler.shutdown(wait=False)


def test_stuck_sources_fill_their_own_pool_and_never_the_worker_jobs_one(
    svc: Services, tenant: str
) -> None:
    """Sources that hang until released hold every thread of the sources pool; a job of
    the default pool (alert delivery, nodata, partitions) keeps running meanwhile."""
    release = threading.Event()

    def held(path: str, headers: dict[str, str]) -> Answer:
        release.wait(30)
        return 200, "application/json", b'{"load": {"now": 1}}'

    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(1), SOURCES_EXECUTOR: ThreadPoolExecutor(2)},
    )
    runner = SourceRunner(svc, scheduler, executor=SOURCES_EXECUTOR)
    ticks: list[int] = []
    scheduler.add_job(lambda: ticks.append(1), IntervalTrigger(seconds=0.2), id="alert-like")
    with http_server(held) as base:
        for i in range(4):
            store.create(tenant, json_source(f"held-{i}", base + "/", interval_s=0.2, timeout_s=60))
        scheduler.start()
        try:
            runner.sync()
            wait_until(lambda: len(ticks) >= 5, timeout=20)
        finally:
            release.set()
            scheduler.shutdown(wait=False)


def test_demo_sources_run_only_with_demo_data(services: Services, tenant: str) -> None:
    store = SourceStore(services.engine, outbound_policy(services.settings))
    source = store.create(tenant, {"name": "demo", "kind": "demo", "interval_s": 1})
    assert JOB_PREFIX + source.source_id not in SourceRunner(isolated(services)).wanted()
    lively = isolated(services, demo_data=True)
    assert SourceRunner(lively).wanted()[JOB_PREFIX + source.source_id] == 1.0
    assert SourceRunner(lively).run(source.source_id) == "ok"
    saved = store.get(tenant, source.source_id)
    assert saved is not None and set(saved.state) == {"cpu", "memory"}
    assert len(queued_points(lively, tenant)) == 11
    store.delete(tenant, source.source_id)


def test_an_edit_meanwhile_keeps_the_fresh_state(
    svc: Services, tenant: str, endpoints: str
) -> None:
    """A poll that finishes after its source's config changed records its success but does
    not overwrite the state the edit reset."""
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    source = store.create(tenant, json_source("edited", endpoints + "/good"))
    edited = store.update(
        tenant, source.source_id, {"config": json_source("x", endpoints + "/good?v=2")["config"]}
    )
    assert edited is not None and edited.state == {}
    store.record_success(source, {"stale": True}, edited.created_at)
    after = store.get(tenant, source.source_id)
    assert after is not None and after.state == {} and after.last_success_at is not None


def test_a_source_row_with_a_broken_config_fails_with_the_reason(
    svc: Services, tenant: str
) -> None:
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    source = store.create(tenant, {"name": "later-broken", "kind": "demo"})
    with svc.engine.begin() as conn:
        conn.execute(
            update(sources)
            .where(sources.c.source_id == source.source_id)
            .values(config={"seed": "not a number"})
        )
    assert SourceRunner(svc).run(source.source_id) == "error"
    failed = store.get(tenant, source.source_id)
    assert failed is not None and "invalid config: config.seed" in (failed.last_error or "")


def _drain_until(svc: Services, consumer: Consumer, tenant: str, count: int) -> None:
    """Step the consumer until the tenant has `count` points and every ingest entry is read
    and acknowledged, not only the delivered ones: what the last run queued is stored (or
    found a duplicate) by the time this returns."""
    deadline = time.monotonic() + 20
    while (
        svc.history.count_points(tenant) < count or svc.live.oldest_unacknowledged_ms() is not None
    ):
        assert time.monotonic() < deadline, "the consumer did not store the points in time"
        consumer.step(block_ms=100)


def test_a_file_sources_points_land_in_postgresql_once(
    svc: Services, tenant: str, tmp_path: Path
) -> None:
    """End to end: file → runner → ingest stream → consumer → PostgreSQL; a poll repeated
    from the old state (a crash before the state was saved) stores nothing twice."""
    now = int(time.time())
    (tmp_path / tenant).mkdir()
    feed = tmp_path / tenant / "sales.csv"
    feed.write_text(
        "timestamp,metric,source,value\n"
        + "".join(f"{now - 5 + i},sales.orders,shop-{i % 2},{i}\n" for i in range(5))
    )
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    source = store.create(
        tenant,
        {
            "name": "sales-feed",
            "kind": "file_tail",
            "interval_s": 0.2,
            "config": {"path": "sales.csv", "format": "csv"},
        },
    )
    runner = SourceRunner(svc)
    svc.live.ensure_group()
    consumer = Consumer(svc, f"src-{uuid.uuid4().hex[:6]}")

    assert runner.run(source.source_id) == "ok"
    _drain_until(svc, consumer, tenant, 5)
    after_first = store.get(tenant, source.source_id)
    assert after_first is not None and after_first.state["offset"] == feed.stat().st_size

    with feed.open("a") as out:
        out.write(f"{now},sales.orders,shop-9,42\n")
    time.sleep(0.2)
    assert runner.run(source.source_id) == "ok"
    _drain_until(svc, consumer, tenant, 6)
    # the crash case: the state goes back to before the second poll; it runs again
    with svc.engine.begin() as conn:
        conn.execute(
            update(sources)
            .where(sources.c.source_id == source.source_id)
            .values(state=after_first.state)
        )
    time.sleep(0.2)
    assert runner.run(source.source_id) == "ok"
    _drain_until(svc, consumer, tenant, 6)
    assert svc.history.count_points(tenant) == 6
    with svc.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT source, value FROM points WHERE tenant_id = :t ORDER BY value"),
            {"t": tenant},
        ).all()
    assert [tuple(r) for r in rows] == [
        ("shop-0", 0.0),
        ("shop-1", 1.0),
        ("shop-0", 2.0),
        ("shop-1", 3.0),
        ("shop-0", 4.0),
        ("shop-9", 42.0),
    ]


def test_parallel_runners_poll_a_source_once_per_interval(
    svc: Services, tenant: str, endpoints: str
) -> None:
    """Two workers scheduling the same source: the lease lets one of them poll it."""
    store = SourceStore(svc.engine, outbound_policy(svc.settings))
    source = store.create(tenant, json_source("shared", endpoints + "/good", interval_s=5))
    first, second = SourceRunner(svc), SourceRunner(svc)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda r=r: results.append(r.run(source.source_id)))
        for r in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == ["elsewhere", "ok"]
    assert len(queued_points(svc, tenant)) == 1


def test_the_worker_role_picks_up_a_new_source_and_stores_its_points(
    services: Services, tenant: str, tmp_path: Path
) -> None:
    """The real worker (scheduler, sync job, runner, consumer): a source created while it
    runs is polled within seconds and its points are in PostgreSQL."""
    prefix = f"{services.settings.redis_prefix}worker-{uuid.uuid4().hex[:8]}:"
    settings = services.settings.model_copy(
        update={"redis_prefix": prefix, "source_files_dir": tmp_path}
    )
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(settings, stop), daemon=True)
    worker.start()
    try:
        now = int(time.time())
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "feed.jsonl").write_text(
            "".join(
                orjson.dumps(
                    {"timestamp": now - i, "metric": "temp", "source": f"dev-{i}", "value": i}
                ).decode()
                + "\n"
                for i in range(3)
            )
        )
        store = SourceStore(services.engine, outbound_policy(services.settings))
        source = store.create(
            tenant,
            {
                "name": "feed",
                "kind": "file_tail",
                "interval_s": 0.5,
                "config": {"path": "feed.jsonl", "format": "jsonl"},
            },
        )
        wait_until(lambda: services.history.count_points(tenant) == 3, timeout=30)
        # the poll's health is saved after its points are queued: it may land a moment later
        wait_until(lambda: getattr(store.get(tenant, source.source_id), "status", None) == "up")
    finally:
        stop.set()
        worker.join(15)
        with services.engine.begin() as conn:
            conn.execute(delete(sources).where(sources.c.tenant_id == tenant))
    assert not worker.is_alive()
