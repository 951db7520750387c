"""Every accepted point reaches PostgreSQL exactly once, whatever worker process is killed.

Points go in through /api/ingest, the worker role runs as real `python app.py worker`
processes, and the tests look at what lands in PostgreSQL (raw points and rollups) and in
Redis (latest values, the live stream, the pub/sub channel). Each test has its own Redis key
prefix, so its ingest stream and consumer group are its own: no other consumer of the test
session can take its entries, and its pending count is its alone.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask import Flask
from sqlalchemy import text

from app.services import Services
from app.settings import Settings
from data.stores.accounting import Accounting, totals
from data.stores.alert_rules import AlertRules
from data.stores.live import LiveStore

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
SOURCES = ("web-1", "web-2", "web-3")


@dataclasses.dataclass
class Pipeline:
    """The web role and the stores of one test, on a Redis prefix of its own."""

    services: Services
    web: Flask
    tenant: str
    key: str
    workers: list[subprocess.Popen[bytes]]
    logs: Path

    def ingest(self, points: list[dict[str, Any]]) -> None:
        """POST points to /api/ingest and insist they were accepted whole."""
        resp = self.web.test_client().post(
            "/api/ingest", json=points, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.json == {"accepted": len(points)}

    def start_worker(self, fault_after_commit: bool = False) -> subprocess.Popen[bytes]:
        """`python app.py worker` on this test's database and Redis prefix."""
        settings = self.services.settings
        database_url, redis_url = settings.require_urls()
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY=settings.require_secret(),
            REDIS_PREFIX=settings.redis_prefix,
            DEMO_DATA="0",
            CLAIM_IDLE_MS="500",
            FAULT_AFTER_COMMIT="1" if fault_after_commit else "0",
            VAR_DIR=str(self.logs / "var"),
        )
        log = open(self.logs / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [sys.executable, "app.py", "worker"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self.workers.append(proc)
        return proc

    def worker_logs(self) -> str:
        """The tail of every worker's output, for failure messages."""
        parts = []
        for path in sorted(self.logs.glob("worker-*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        """Poll `check` until true; fail saying `what` did not happen, with the workers' logs."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"not within {timeout:.0f}s: {what}\n{self.worker_logs()}")
            time.sleep(0.05)

    def drained(self) -> bool:
        """Whether every ingest entry has been delivered to a worker and acknowledged."""
        live, redis = self.services.live, self.services.redis
        groups = [g for g in redis.xinfo_groups(live.ingest_key) if g["name"] == b"writers"]
        last = redis.xinfo_stream(live.ingest_key)["last-generated-id"]
        return bool(groups) and groups[0]["pending"] == 0 and groups[0]["last-delivered-id"] == last

    def writing(self) -> bool:
        """Whether a worker's write of points is in progress in PostgreSQL right now."""
        with self.services.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'active' AND pid <> pg_backend_pid()"
                        " AND query LIKE '%INSERT INTO points%'"
                    )
                ).scalar_one()
            )

    def stored(self) -> Counter[str]:
        """How many rows each data_id of the tenant has in PostgreSQL."""
        with self.services.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT data_id, count(*) FROM points WHERE tenant_id = :t GROUP BY data_id"),
                {"t": self.tenant},
            )
            return Counter({data_id: int(n) for data_id, n in rows})

    def rollup_total(self, table: str) -> int:
        """The sum of the tenant's rollup counts in `table`."""
        with self.services.engine.connect() as conn:
            total = conn.execute(
                text(f"SELECT coalesce(sum(count), 0) FROM {table} WHERE tenant_id = :t"),
                {"t": self.tenant},
            ).scalar_one()
            return int(total)

    def live_points(self) -> Counter[tuple[str, str, int, float]]:
        """How often each (metric, source, ts, value) appears in the tenant's live stream."""
        entries = self.services.live.read_since(self.tenant, "0-0", count=1_000_000)
        assert entries is not None
        return Counter(
            (p["metric"], p["source"], p["ts"], p["value"]) for _, points in entries for p in points
        )

    def books(self) -> dict[str, int]:
        """The tenant's accounting totals over the last ten minutes of acceptance."""
        now = int(time.time() * 1000)
        accounting = Accounting(self.services.live, self.services.engine)
        return totals(accounting.minutes(self.tenant, now - 600_000, now + 1))

    def assert_exactly_once(self, points: list[dict[str, Any]]) -> None:
        """Every point is stored once, and the rollups count each of them once."""
        expected = {p["data_id"] for p in points}
        stored = self.stored()
        assert set(stored) == expected, (
            f"{len(expected - set(stored))} points missing, "
            f"{len(set(stored) - expected)} unexpected"
        )
        assert set(stored.values()) == {1}
        assert sum(stored.values()) == len(expected)
        assert self.rollup_total("rollup_1m") == len(expected)
        assert self.rollup_total("rollup_1h") == len(expected)


def make_points(n: int, start_ms: int | None = None) -> list[dict[str, Any]]:
    """n points with data_ids, spread over three sources, 10 ms apart, values = their index."""
    start = start_ms if start_ms is not None else int(time.time() * 1000) - n * 10 - 60_000
    return [
        {
            "data_id": f"eo-{uuid.uuid4().hex}",
            "source": SOURCES[i % len(SOURCES)],
            "metric_type": "orders.count",
            "timestamp": (start + i * 10) / 1000,
            "value": float(i),
        }
        for i in range(n)
    ]


def live_key(point: dict[str, Any]) -> tuple[str, str, int, float]:
    """A point as the live stream shows it."""
    return (point["metric_type"], point["source"], round(point["timestamp"] * 1000), point["value"])


@pytest.fixture
def pipeline(
    settings: Settings, services: Services, tenant: str, ingest_key: str, tmp_path: Path
) -> Iterator[Pipeline]:
    """Web role and stores on a fresh Redis prefix; every worker started is killed at the end."""
    from app.web.factory import create_app

    prefix = f"{settings.redis_prefix}eo-{uuid.uuid4().hex[:8]}:"
    own_settings = settings.model_copy(update={"redis_prefix": prefix})
    own = dataclasses.replace(
        services,
        settings=own_settings,
        live=LiveStore(services.redis, prefix, own_settings.live_resume_s),
    )
    pipe = Pipeline(own, create_app(services=own).server, tenant, ingest_key, [], tmp_path)
    try:
        yield pipe
    finally:
        for proc in pipe.workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=15)


def wait_dead(pipe: Pipeline, proc: subprocess.Popen[bytes], what: str) -> int:
    """Wait for a worker process to end; return its return code."""
    try:
        return proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"not within {WAIT_S:.0f}s: {what}\n{pipe.worker_logs()}")


def test_worker_killed_between_commit_and_ack_leaves_nothing_lost_or_doubled(
    pipeline: Pipeline,
) -> None:
    """A worker dying after the commit and before the ack: the batch is redelivered to the
    next worker, stored once, counted once in the rollups, and published to the live feed."""
    points = make_points(600)
    for start in range(0, 600, 200):
        pipeline.ingest(points[start : start + 200])

    faulty = pipeline.start_worker(fault_after_commit=True)
    code = wait_dead(pipeline, faulty, "the FAULT_AFTER_COMMIT worker killed itself")
    assert code == -signal.SIGKILL
    # committed, neither published nor acknowledged
    assert pipeline.services.live.pending_count() == 3
    assert sum(pipeline.stored().values()) == 600
    assert pipeline.live_points() == Counter()
    assert pipeline.services.live.latest(pipeline.tenant) == {}

    pubsub = pipeline.services.redis.pubsub()
    pubsub.subscribe(pipeline.services.live.channel(pipeline.tenant))
    try:
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        pipeline.start_worker()
        pipeline.wait_for(
            pipeline.drained,
            "a restarted worker reclaimed and acknowledged the dead worker's entries",
        )
        heard: Counter[tuple[str, str, int, float]] = Counter()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and set(heard) != {live_key(p) for p in points}:
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message:
                body = orjson.loads(message["data"])
                heard.update(
                    (p["metric"], p["source"], p["ts"], p["value"]) for p in body["points"]
                )
    finally:
        pubsub.close()

    pipeline.assert_exactly_once(points)
    # the books keep the first delivery's counts: the redelivery found every point stored
    assert pipeline.books() == {
        "accepted": 600,
        "stored": 600,
        "duplicates": 0,
        "dead_lettered": 0,
        "in_flight": 0,
    }
    # the redelivered batch is published, since its first delivery died before publishing
    assert set(pipeline.live_points()) == {live_key(p) for p in points}
    assert set(heard) == {live_key(p) for p in points}
    newest: dict[tuple[str, str], tuple[int, float]] = {}
    for p in points:  # points are in time order: the last one per source is the newest
        newest[("orders.count", p["source"])] = (round(p["timestamp"] * 1000), p["value"])
    assert pipeline.services.live.latest(pipeline.tenant) == newest


def test_resent_data_ids_are_stored_once_and_new_ones_are_stored(pipeline: Pipeline) -> None:
    """The same points posted twice, and a request mixing stored and new data_ids: each point
    is stored, counted and published once, before and after the worker has run."""
    first = make_points(100)
    second = make_points(50, start_ms=int(time.time() * 1000) - 30_000)
    pipeline.ingest(first)
    pipeline.ingest(first)
    pipeline.ingest(first[:50] + second)  # one batch holding duplicates of itself
    worker = pipeline.start_worker()
    pipeline.wait_for(pipeline.drained, "the worker acknowledged the first three requests")
    pipeline.assert_exactly_once(first + second)

    # resent after they are stored, together with new points, to a running worker
    third = make_points(30, start_ms=int(time.time() * 1000) - 10_000)
    pipeline.ingest(second + third)
    pipeline.ingest(first)
    pipeline.wait_for(pipeline.drained, "the worker acknowledged the resent points")
    pipeline.assert_exactly_once(first + second + third)
    accepted = 100 + 100 + 100 + 80 + 100
    assert pipeline.books() == {
        "accepted": accepted,
        "stored": 180,
        "duplicates": accepted - 180,
        "dead_lettered": 0,
        "in_flight": 0,
    }
    # without a redelivery, only new points are published: each exactly once
    assert pipeline.live_points() == Counter(live_key(p) for p in first + second + third)
    assert worker.poll() is None, pipeline.worker_logs()


def test_worker_sigkilled_mid_write_is_finished_by_a_restarted_worker(
    pipeline: Pipeline,
) -> None:
    """SIGKILL while a worker is writing a batch of a large backlog (an earlier batch already
    committed): its entries stay pending, a new worker takes them over and finishes the
    backlog, every point is stored and counted exactly once and published."""
    # 600 stream entries, reads of 100: with INGEST_WRITERS (2) committing at once, a backlog
    # of 3 reads could all be committed between the check below and the kill
    points = make_points(60_000)
    for start in range(0, len(points), 100):
        pipeline.ingest(points[start : start + 100])

    victim = pipeline.start_worker()
    pipeline.wait_for(
        lambda: sum(pipeline.stored().values()) > 0 and pipeline.writing(),
        "the first worker committed a batch and is writing the next one",
    )
    os.kill(victim.pid, signal.SIGKILL)
    assert wait_dead(pipeline, victim, "the killed worker ended") == -signal.SIGKILL
    assert pipeline.services.live.pending_count() > 0, "the in-flight entries were acknowledged"
    assert sum(pipeline.stored().values()) < len(points)

    pipeline.start_worker()
    pipeline.wait_for(pipeline.drained, "a restarted worker finished the backlog")
    pipeline.assert_exactly_once(points)
    assert pipeline.books()["stored"] == len(points)
    assert pipeline.books()["in_flight"] == 0
    assert set(pipeline.live_points()) == {live_key(p) for p in points}


def test_two_workers_share_the_backlog_through_the_consumer_group(pipeline: Pipeline) -> None:
    """Two worker processes at once both take entries of one stream, and together store
    every point exactly once."""
    live = pipeline.services.live
    redis = pipeline.services.redis
    a, b = pipeline.start_worker(), pipeline.start_worker()

    def group_consumers() -> set[str]:
        try:
            return {c["name"].decode() for c in redis.xinfo_consumers(live.ingest_key, "writers")}
        except Exception:  # the group does not exist yet
            return set()

    writers = pipeline.services.settings.ingest_writers  # consumers in each worker process
    pipeline.wait_for(
        lambda: len(group_consumers()) == 2 * writers, "both workers joined the consumer group"
    )
    # a consumer is named after its process (host-pid), its process's others with -1, -2, …
    processes = {f"{socket.gethostname()}-{w.pid}" for w in (a, b)}

    def process_of(consumer: str) -> str:
        return next(p for p in processes if consumer == p or consumer.startswith(p + "-"))

    assert {process_of(c) for c in group_consumers()} == processes

    # who took which entry only shows while the entry is unacknowledged, so watch closely
    holders: set[str] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for consumer in redis.xpending(live.ingest_key, "writers")["consumers"]:
                holders.add(consumer["name"].decode())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        points = make_points(20_000)
        for start in range(0, len(points), 500):
            pipeline.ingest(points[start : start + 500])
        pipeline.wait_for(pipeline.drained, "the two workers drained the stream")
    finally:
        stop.set()
        watcher.join(5)

    assert {process_of(h) for h in holders} == processes, f"entries were taken by {holders}"
    pipeline.assert_exactly_once(points)
    assert a.poll() is None and b.poll() is None, pipeline.worker_logs()


def test_a_worker_killed_before_judging_a_breach_leaves_one_incident_and_notification(
    pipeline: Pipeline, make_user: Callable[..., Any]
) -> None:
    """Issue 5 across a real process kill: the first worker commits breaching points and
    dies before judging them; the next one judges the redelivered batch, and every series
    gets exactly one incident and its recipient one notification — and breaching points
    that arrive later on the still-firing series add none."""
    svc = pipeline.services
    recipient = make_user(pipeline.tenant, "viewer")
    rules = AlertRules(svc.engine, svc.redis, svc.settings.redis_prefix)
    rule = rules.create(
        pipeline.tenant,
        {
            "name": "orders high",
            "metric": "orders.count",
            "source": "*",
            "kind": "threshold",
            "op": ">",
            "threshold": 500,
            "clear_threshold": 400,
            "for_s": 0,
            "severity": "critical",
            "cooldown_s": 0,
            "channels": ["in_app"],
        },
    )
    points = make_points(600, start_ms=int(time.time() * 1000) - 20_000)
    pipeline.ingest(points)
    faulty = pipeline.start_worker(fault_after_commit=True)
    assert wait_dead(pipeline, faulty, "the FAULT_AFTER_COMMIT worker killed itself") == (
        -signal.SIGKILL
    )

    def counts() -> tuple[int, int]:
        with svc.engine.connect() as conn:
            incidents = conn.execute(
                text("SELECT count(*) FROM incidents WHERE rule_id = :r"), {"r": rule.rule_id}
            ).scalar_one()
            notes = conn.execute(
                text("SELECT count(*) FROM notifications WHERE user_id = :u"),
                {"u": recipient.user_id},
            ).scalar_one()
        return int(incidents), int(notes)

    assert counts() == (0, 0), "the dead worker committed the points, judged nothing"
    pipeline.start_worker()
    pipeline.wait_for(pipeline.drained, "the next worker finished the dead worker's batch")
    pipeline.wait_for(lambda: counts() == (3, 3), "one incident per breaching source")
    later = make_points(300, start_ms=int(time.time() * 1000) - 10_000)
    pipeline.ingest([{**p, "value": 550.0 + p["value"]} for p in later])  # all above clear
    # drained = acknowledged, which the worker does only after judging the batch and
    # committing what it fired: a second incident or notification would be counted now
    pipeline.wait_for(pipeline.drained, "the second batch was written and judged")
    assert counts() == (3, 3), "still firing: no second incident, no second notification"
