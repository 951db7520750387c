"""Exactly once without a unique index entry per point: an ingest entry is claimed in the
transaction that stores its points, so a redelivery of a stored entry is skipped whole; only
points a client gave a data_id are checked one by one (data/stores/point_writes.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import text

from app.services import Services
from data.domain.points import Point
from data.stores import history as history_module
from data.stores.point_writes import EntryRef, PreparedWrite, Written, prepare_write
from tests.integration.test_rollups import assert_rollups_match, stored_points

NOW_MS = int(time.time() * 1000) // 60_000 * 60_000 - 120_000  # two minutes ago, on a minute


def plain(n: int, offset: int = 0) -> list[Point]:
    """Points sent without a data_id (stored with '')."""
    return [Point("", f"web-{i % 3}", "cpu.usage", NOW_MS + offset + i, float(i)) for i in range(n)]


def keyed(n: int, prefix: str = "k") -> list[Point]:
    """Points with a client's data_id, in the minute after `plain`'s."""
    return [
        Point(f"{prefix}-{i}", f"web-{i % 2}", "mem.used", NOW_MS + 60_000 + i, float(i * 10))
        for i in range(n)
    ]


def batch(tenant: str, *entries: tuple[str, Sequence[Point]]) -> PreparedWrite:
    """A batch of ingest entries (id, points) of one tenant, as the worker prepares it."""
    runs = [(tenant, list(points)) for _, points in entries]
    refs = [EntryRef(tenant, entry_id, len(points)) for entry_id, points in entries]
    return prepare_write(runs, refs)


def recount(services: Services, tenant: str) -> list[Point]:
    """The tenant's points as the points table holds them, to recount the rollups from."""
    return [Point(d, s, m, ts, v) for d, m, s, ts, v in stored_points(services, tenant)]


def entry_books(services: Services, tenant: str) -> dict[str, tuple[int, int, int]]:
    """The tenant's ingest_entries rows: entry id → (points, stored, duplicates)."""
    query = text(
        "SELECT entry_id, points, stored, duplicates FROM ingest_entries WHERE tenant_id = :t"
    )
    with services.engine.connect() as conn:
        return {e: (n, s, d) for e, n, s, d in conn.execute(query, {"t": tenant})}


def minute_books(services: Services, tenant: str) -> tuple[int, int, int, int]:
    """The tenant's ingest_minutes summed: entries, points, stored, duplicates."""
    query = text(
        "SELECT coalesce(sum(entries), 0), coalesce(sum(points), 0), coalesce(sum(stored), 0),"
        " coalesce(sum(duplicates), 0) FROM ingest_minutes WHERE tenant_id = :t"
    )
    with services.engine.connect() as conn:
        row = conn.execute(query, {"t": tenant}).one()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def test_a_redelivered_entry_whose_first_delivery_committed_is_skipped_whole(
    services: Services, tenant: str
) -> None:
    """The worker died after the commit, before the ack: XAUTOCLAIM hands the entry to
    another writer, which finds the entry's row and stores nothing again."""
    first = f"{NOW_MS}-0"
    points = plain(50) + keyed(10)
    written = services.history.write_prepared(batch(tenant, (first, points)))
    assert (written.count, written.keys, written.stale) == (60, None, frozenset())

    again = services.history.write_prepared(batch(tenant, (first, points)))
    assert (again.count, again.stale) == (0, frozenset([first]))
    assert len(stored_points(services, tenant)) == 60
    assert entry_books(services, tenant) == {first: (60, 60, 0)}
    assert minute_books(services, tenant) == (1, 60, 60, 0)
    assert_rollups_match(services, tenant, points)


def test_a_crash_between_copy_and_commit_leaves_nothing_and_the_redelivery_stores_once(
    services: Services, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after its points were staged and inserted (here: the books
    statement) rolls back whole, the entry's claim included; its redelivery stores it."""
    entry = f"{NOW_MS}-1"
    points = plain(30) + keyed(5)
    monkeypatch.setattr(history_module, "BOOKS", "SELECT 1 / 0, %s, %s, %s, %s, %s")
    with pytest.raises(Exception, match="division by zero"):
        services.history.write_prepared(batch(tenant, (entry, points)))
    assert stored_points(services, tenant) == []
    assert entry_books(services, tenant) == {}
    monkeypatch.undo()

    written = services.history.write_prepared(batch(tenant, (entry, points)))
    assert written.count == 35
    assert entry_books(services, tenant) == {entry: (35, 35, 0)}
    assert_rollups_match(services, tenant, points)


def test_a_resent_data_id_in_a_new_entry_is_skipped_and_counted_as_a_duplicate(
    services: Services, tenant: str
) -> None:
    """A client resends points it had a 202 for (a new request, so a new entry): the keyed
    ones are stored once, its points without data_id are new points."""
    resent = keyed(8)
    services.history.write_prepared(batch(tenant, (f"{NOW_MS}-2", resent)))
    fresh = plain(4, offset=1_000)
    second = f"{NOW_MS}-3"
    written = services.history.write_prepared(batch(tenant, (second, resent + fresh)))

    assert written.count == 4
    assert written.keys == set()
    assert all(written.is_new(tenant, p) for p in fresh)
    assert not any(written.is_new(tenant, p) for p in resent)
    assert entry_books(services, tenant)[second] == (12, 4, 8)
    assert minute_books(services, tenant) == (2, 20, 12, 8)
    assert_rollups_match(services, tenant, resent + fresh)
    assert_rollups_match(services, tenant, recount(services, tenant))


def test_a_data_id_twice_in_one_batch_is_stored_once_for_the_first_entry(
    services: Services, tenant: str
) -> None:
    twice = keyed(3, prefix="dup")
    first, second = f"{NOW_MS}-4", f"{NOW_MS}-5"
    written = services.history.write_prepared(batch(tenant, (first, twice), (second, twice)))
    assert written.count == 3
    assert entry_books(services, tenant) == {first: (3, 3, 0), second: (3, 0, 3)}
    assert_rollups_match(services, tenant, twice)


def test_points_without_data_id_are_each_stored_even_when_alike(
    services: Services, tenant: str
) -> None:
    """Two sends of the same reading without a data_id are two points, as they were when
    Pulse gave each a random id: only a client's data_id makes a resend recognisable."""
    same = plain(1) * 2
    assert services.history.write_prepared(batch(tenant, (f"{NOW_MS}-6", same))).count == 2
    assert_rollups_match(services, tenant, same)


def test_two_deliveries_of_one_entry_at_once_store_it_once(services: Services, tenant: str) -> None:
    """A writer presumed dead (its entry claimed by another) still writes: the second claim
    of the entry waits on the first's row, then finds it and skips the points."""
    entry = f"{NOW_MS}-7"
    points = plain(200) + keyed(20)
    results: list[Written] = []
    start = threading.Barrier(2)

    def deliver() -> None:
        start.wait()
        results.append(services.history.write_prepared(batch(tenant, (entry, points))))

    writers = [threading.Thread(target=deliver) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert sorted(r.count for r in results) == [0, 220]
    assert len(stored_points(services, tenant)) == 220
    assert minute_books(services, tenant) == (1, 220, 220, 0)
    assert_rollups_match(services, tenant, points)
    assert_rollups_match(services, tenant, recount(services, tenant))
