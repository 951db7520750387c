"""The pipeline's books: accepted = stored + duplicates + dead-lettered + in flight, per tenant
and minute, exactly (a redelivery is not counted twice); the reconcile job checks them and the
live store; admins read them at GET /api/pipeline/accounting; /metrics shows the figures."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.services import Services
from app.web.factory import create_app
from app.worker.consumer import Consumer
from app.worker.jobs import reconcile_latest
from data.domain.points import Point
from data.domain.timefmt import iso_ms
from data.stores.accounting import Accounting, last_reconcile, totals
from data.stores.dead_letters import DeadLetters
from data.stores.ingest_queue import DAY_MS, MINUTE_MS
from data.stores.live import LiveStore
from tests.conftest import PASSWORD


@pytest.fixture
def isolated(services: Services) -> Services:
    """Services on a stream of their own, which no other consumer of the run reads."""
    prefix = f"{services.settings.redis_prefix}ac-{uuid.uuid4().hex[:8]}:"
    settings = services.settings.model_copy(update={"redis_prefix": prefix})
    live = LiveStore(services.redis, prefix, settings.live_resume_s)
    live.ensure_group()
    return dataclasses.replace(services, settings=settings, live=live)


def points(n: int, data_id: str | None = None) -> list[Point]:
    now = int(time.time() * 1000)
    return [
        Point(data_id or uuid.uuid4().hex, f"web-{i % 3}", "cpu.usage", now - i, float(i))
        for i in range(n)
    ]


def drain(consumer: Consumer, steps: int = 20) -> None:
    for _ in range(steps):
        consumer.step(block_ms=10)


def books(svc: Services, tenant: str) -> dict[str, int]:
    """The tenant's totals over the last ten minutes."""
    now = int(time.time() * 1000)
    return totals(Accounting(svc.live, svc.engine).minutes(tenant, now - 600_000, now + 1))


def test_books_balance_after_ingest_and_resent_data_ids_count_as_duplicates(
    isolated: Services, tenant: str
) -> None:
    live = isolated.live
    first = points(5)
    live.enqueue(tenant, first)
    live.enqueue(tenant, first + points(2))  # five resent, two new
    twice = points(1, data_id="twice-in-one-entry")
    live.enqueue(tenant, twice + twice)  # one point twice in one entry
    drain(Consumer(isolated, "ac-1"))
    assert books(isolated, tenant) == {
        "accepted": 14,
        "stored": 8,
        "duplicates": 6,
        "dead_lettered": 0,
        "in_flight": 0,
    }
    assert isolated.history.count_points(tenant) == 8


def test_in_flight_shows_points_queued_but_not_yet_written(isolated: Services, tenant: str) -> None:
    isolated.live.enqueue(tenant, points(1_500))  # two ingest entries
    assert books(isolated, tenant) == {
        "accepted": 1_500,
        "stored": 0,
        "duplicates": 0,
        "dead_lettered": 0,
        "in_flight": 1_500,
    }
    assert isolated.live.pipeline_state()["age_ms"] >= 0
    assert isolated.live.oldest_unacknowledged_ms() is not None
    drain(Consumer(isolated, "ac-2"))
    assert books(isolated, tenant)["in_flight"] == 0
    assert books(isolated, tenant)["stored"] == 1_500
    assert isolated.live.oldest_unacknowledged_ms() is None


def test_a_redelivery_after_a_commit_without_ack_is_not_counted_twice(
    isolated: Services, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker commits, then dies before acknowledging: the redelivered entry finds every
    point stored, and the books keep the first delivery's counts."""
    live = isolated.live
    live.enqueue(tenant, points(300))
    live.enqueue(tenant, points(200))

    def die_before_ack(entry_ids: Any) -> None:
        raise SystemExit("killed between commit and ack")

    monkeypatch.setattr(live, "ack", die_before_ack)
    with pytest.raises(SystemExit):
        drain(Consumer(isolated, "ac-3"))
    monkeypatch.undo()
    assert live.pending_count() == 2
    assert books(isolated, tenant)["stored"] == 500

    live.enqueue(tenant, points(100))  # a new entry joins the redelivered ones
    restarted = Consumer(isolated, "ac-3")  # starts with what this name holds pending
    drain(restarted)
    assert live.pending_count() == 0
    assert books(isolated, tenant) == {
        "accepted": 600,
        "stored": 600,
        "duplicates": 0,
        "dead_lettered": 0,
        "in_flight": 0,
    }


def test_dead_letters_are_counted_and_a_replay_keeps_the_books_balanced(
    isolated: Services, tenant: str
) -> None:
    live = isolated.live
    live.enqueue(tenant, points(3))
    live.enqueue(tenant, [Point("x" * 100, "web-1", "cpu.usage", int(time.time() * 1000), 1.0)])
    drain(Consumer(isolated, "ac-4"), steps=50)
    assert books(isolated, tenant) == {
        "accepted": 4,
        "stored": 3,
        "duplicates": 0,
        "dead_lettered": 1,
        "in_flight": 0,
    }
    dead = DeadLetters(live)
    [letter] = dead.of_tenant(tenant)
    assert dead.replay(tenant, letter.dead_id)
    # replayed: accepted again, in flight until the writers are done with it
    assert books(isolated, tenant)["accepted"] == 5
    assert books(isolated, tenant)["in_flight"] == 1
    drain(Consumer(isolated, "ac-5"), steps=50)  # still refused: dead-lettered again
    assert books(isolated, tenant) == {
        "accepted": 5,
        "stored": 3,
        "duplicates": 0,
        "dead_lettered": 2,
        "in_flight": 0,
    }


def test_reconcile_repairs_a_wiped_live_store_and_records_what_it_found(
    isolated: Services, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    live = isolated.live
    live.enqueue(tenant, points(30))
    drain(Consumer(isolated, "ac-6"))
    series = live.latest(tenant)
    assert len(series) == 3
    live.redis.delete(live.latest_key(tenant))  # a Redis that lost its data, say

    assert reconcile_latest(isolated) >= 3
    assert live.latest(tenant) == series
    result = last_reconcile(live, tenant)
    assert result is not None
    assert (result["series_checked"], result["behind"], result["repaired"]) == (3, 3, 3)
    assert result["unbalanced_minutes"] == 0
    summary = last_reconcile(live)
    assert summary is not None and summary["repaired"] >= 3

    # points accepted ten minutes ago that never reached PostgreSQL: a settled minute that
    # does not balance is reported, and logged
    lost_ms = int(time.time() * 1000) - 600_000
    minute = lost_ms - lost_ms % MINUTE_MS
    live.redis.hincrby(live.books_key(tenant, minute // DAY_MS), f"a:{minute}", 7)
    with caplog.at_level(logging.WARNING, logger="app.worker.jobs"):
        assert reconcile_latest(isolated) == 0  # nothing behind any more
    result = last_reconcile(live, tenant)
    assert result is not None
    assert result["behind"] == 0 and result["unbalanced_minutes"] == 1
    assert result["unbalanced"] == [iso_ms(minute, "seconds")]
    assert any(
        "do not balance" in r.getMessage() and tenant in r.getMessage() for r in caplog.records
    )


def test_an_unsettled_minute_is_not_unbalanced_while_its_entries_wait(
    isolated: Services, tenant: str
) -> None:
    """Points still queued (no worker) are in flight, not lost."""
    isolated.live.enqueue(tenant, points(10))
    later = dataclasses.replace(isolated, clock=lambda: time.time() + 600)
    reconcile_latest(later)  # ten minutes on, the entry is still unacknowledged
    result = last_reconcile(isolated.live, tenant)
    assert result is not None and result["unbalanced_minutes"] == 0


def login(client: Any, user: Any) -> None:
    resp = client.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200


def test_admins_read_their_own_tenants_books(
    isolated: Services, tenant: str, make_user: Any
) -> None:
    live = isolated.live
    live.enqueue(tenant, points(4))
    drain(Consumer(isolated, "ac-7"))
    live.enqueue(tenant, points(6))  # queued, not written
    reconcile_latest(isolated)
    client = create_app(services=isolated).server.test_client()
    login(client, make_user(tenant, "admin"))

    resp = client.get("/api/pipeline/accounting")
    assert resp.status_code == 200
    body = resp.json
    assert body["tenant"] == tenant and body["minutes"] == 60 and len(body["rows"]) == 60
    assert body["totals"] == {
        "accepted": 10,
        "stored": 4,
        "duplicates": 0,
        "dead_lettered": 0,
        "in_flight": 6,
    }
    assert sum(row["in_flight"] for row in body["rows"]) == 6
    assert body["rows"][-1]["minute"].endswith(":00Z")
    assert body["stream"]["pending"] == 0 and body["stream"]["undelivered"] == 1
    assert body["stream"]["lag_s"] >= 0
    assert body["reconcile"]["series_checked"] == 3
    assert len(client.get("/api/pipeline/accounting?minutes=1440").json["rows"]) == 1_440

    other = f"t-{uuid.uuid4().hex[:12]}"
    other_client = create_app(services=isolated).server.test_client()
    login(other_client, make_user(other, "admin"))
    theirs = other_client.get("/api/pipeline/accounting?minutes=5").json
    assert theirs["tenant"] == other and theirs["totals"]["accepted"] == 0


@pytest.mark.parametrize("minutes", ["0", "1441", "abc", "-5", "1.5", ""])
def test_bad_minutes_are_refused_with_422(
    isolated: Services, tenant: str, make_user: Any, minutes: str
) -> None:
    client = create_app(services=isolated).server.test_client()
    login(client, make_user(tenant, "admin"))
    resp = client.get(f"/api/pipeline/accounting?minutes={minutes}")
    assert resp.status_code == 422
    assert resp.json["error"]["code"] == "invalid_parameter"


def test_only_signed_in_admins_may_read_the_books(
    isolated: Services, tenant: str, make_user: Any, ingest_key: str
) -> None:
    client = create_app(services=isolated).server.test_client()
    assert client.get("/api/pipeline/accounting").status_code == 401
    headers = {"Authorization": f"Bearer {ingest_key}"}
    assert client.get("/api/pipeline/accounting", headers=headers).status_code == 403
    for role in ("viewer", "analyst"):
        login(client, make_user(tenant, role))
        assert client.get("/api/pipeline/accounting").status_code == 403
        client.post("/logout")
    assert client.post("/api/pipeline/accounting").status_code == 405


def scrape(client: Any) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels or "le" not in sample.labels
    }


def test_metrics_show_rollup_delay_stream_age_and_the_last_reconcile(
    isolated: Services, tenant: str
) -> None:
    client = create_app(services=isolated).server.test_client()
    before = scrape(client)
    isolated.live.enqueue(tenant, points(9))
    drain(Consumer(isolated, "ac-8"))
    isolated.redis.delete(isolated.live.latest_key(tenant))
    reconcile_latest(isolated)
    after = scrape(client)
    assert after["pulse_rollup_delay_seconds_count"] > before.get(
        "pulse_rollup_delay_seconds_count", 0
    )
    assert after["pulse_stream_oldest_unacked_seconds"] == 0
    assert after["pulse_reconcile_behind"] >= 3
    assert after["pulse_reconcile_repaired"] >= 3
    assert "pulse_reconcile_unbalanced_minutes" in after  # other tests' tenants count too
    assert after["pulse_reconcile_series_checked"] >= 3
