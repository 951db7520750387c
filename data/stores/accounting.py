"""The pipeline's books: per tenant and minute, the points accepted, stored, dropped as
duplicates, dead-lettered and still in flight, and the reconcile check that reads them.

Each figure is counted atomically with the event it counts, so the books are exact even
when a worker dies between its commit and its acknowledgement:
- accepted: in Redis, by the script that adds the ingest entry (LiveStore.add_entries), which
  every producer goes through (HTTP ingest, demo and polled sources, dead-letter replays);
- stored and duplicates: in PostgreSQL, in the transaction that stores the entry's points
  (HistoryStore.write_points: tables ingest_entries and ingest_minutes); a redelivered entry
  conflicts on (tenant_id, entry_id) and keeps the counts of its first delivery;
- dead-lettered: in Redis, in the MULTI that moves the entry to the dead-letter stream.
Every figure is filed under the minute of the entry's stream id, its acceptance. So
in_flight = accepted - stored - duplicates - dead_lettered is the number of points queued and
not yet written. A replayed dead letter is a new acceptance, under its new entry's minute.

A minute is settled once it is older than a grace period and than the oldest ingest entry
still unacknowledged: nothing can change its books any more. A settled minute whose
in_flight is not zero is unbalanced: points were lost, or counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, text

from data.domain.timefmt import iso_ms, to_datetime
from data.stores.history import HistoryStore
from data.stores.ingest_queue import MINUTE_MS
from data.stores.live import LiveStore

GRACE_MS = 120_000
RESULT_TTL_S = 86_400


def floor_minute(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


@dataclass(frozen=True, slots=True)
class MinuteBooks:
    """One tenant's books for one minute of acceptance."""

    minute_ms: int
    accepted: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0

    @property
    def in_flight(self) -> int:
        """Points accepted and neither written nor dead-lettered (yet)."""
        return self.accepted - self.stored - self.duplicates - self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        return {
            "minute": iso_ms(self.minute_ms, "seconds"),
            "accepted": self.accepted,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "in_flight": self.in_flight,
        }


def totals(rows: Iterable[MinuteBooks]) -> dict[str, int]:
    """The sums of the figures of `rows`."""
    out = {"accepted": 0, "stored": 0, "duplicates": 0, "dead_lettered": 0, "in_flight": 0}
    for row in rows:
        for name in out:
            out[name] += getattr(row, name)
    return out


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one reconcile run found for one tenant (or, summed, for all of them)."""

    checked_at: str
    series_checked: int
    behind: int
    repaired: int
    unbalanced_minutes: int
    unbalanced: list[str]  # the unbalanced minutes (ISO), oldest first, at most 60

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Accounting:
    """Reads the books from Redis and PostgreSQL, and runs the reconcile check."""

    def __init__(self, live: LiveStore, engine: Engine) -> None:
        self.live = live
        self.engine = engine
        self.redis: Any = live.redis

    def minutes(self, tenant: str, since_ms: int, until_ms: int) -> list[MinuteBooks]:
        """The tenant's books for every minute of [since_ms, until_ms), oldest first."""
        since, until = floor_minute(since_ms), floor_minute(until_ms - 1) + MINUTE_MS
        written = self._written(tenant, since, until)
        counted = self.live.books(tenant, since, until)
        rows = []
        for minute in range(since, until, MINUTE_MS):
            accepted, dead = counted.get(minute, (0, 0))
            stored, duplicates = written.get(minute, (0, 0))
            rows.append(MinuteBooks(minute, accepted, stored, duplicates, dead))
        return rows

    def _written(self, tenant: str, since_ms: int, until_ms: int) -> dict[int, tuple[int, int]]:
        """(stored, duplicates) per minute, from PostgreSQL."""
        query = text(
            """
            SELECT minute, stored, duplicates FROM ingest_minutes
            WHERE tenant_id = :t AND minute >= :since AND minute < :until
            """
        )
        params = {"t": tenant, "since": to_datetime(since_ms), "until": to_datetime(until_ms)}
        with self.engine.connect() as conn:
            return {
                round(minute.timestamp() * 1000): (int(stored), int(duplicates))
                for minute, stored, duplicates in conn.execute(query, params)
            }

    def tenants(self) -> list[str]:
        """Every tenant's id."""
        with self.engine.connect() as conn:
            return list(conn.execute(text("SELECT tenant_id FROM tenants")).scalars())

    def prune(self, before_ms: int) -> int:
        """Forget the PostgreSQL books of entries accepted before `before_ms` (Redis expires
        its own); return how many entry rows went."""
        before = {"b": to_datetime(before_ms)}
        with self.engine.begin() as conn:
            gone = conn.execute(
                text("DELETE FROM ingest_entries WHERE accepted_at < :b"), before
            ).rowcount
            conn.execute(text("DELETE FROM ingest_minutes WHERE minute < :b"), before)
        return int(gone)

    # -- the reconcile check -------------------------------------------------------------

    def reconcile(
        self, history: HistoryStore, now_ms: int, window_s: int, grace_ms: int = GRACE_MS
    ) -> tuple[ReconcileResult, dict[str, ReconcileResult]]:
        """Check every tenant's books and live store over the last `window_s`, raise latest
        values that are behind PostgreSQL, and record the results; return the summary and
        the result per tenant."""
        # Read the oldest unacknowledged entry first: every entry of an earlier minute is
        # then committed (or buried) before the books are read.
        oldest = self.live.oldest_unacknowledged_ms()
        horizon = now_ms - grace_ms if oldest is None else min(now_ms - grace_ms, oldest)
        since = floor_minute(now_ms - window_s * 1000)
        newest = history.newest_per_series(since)
        checked_at = iso_ms(now_ms, "seconds")
        results: dict[str, ReconcileResult] = {}
        for tenant in sorted(set(self.tenants()) | set(newest)):
            rows = self.minutes(tenant, since, now_ms + 1)
            unbalanced = [
                r.minute_ms for r in rows if r.minute_ms + MINUTE_MS <= horizon and r.in_flight
            ]
            stored_latest = newest.get(tenant, {})
            live_latest = self.live.latest(tenant) if stored_latest else {}
            behind = sum(
                1
                for series, (ts_ms, _) in stored_latest.items()
                if series not in live_latest or live_latest[series][0] < ts_ms
            )
            repaired = self.live.repair_latest(tenant, stored_latest) if behind else 0
            results[tenant] = ReconcileResult(
                checked_at,
                len(stored_latest),
                behind,
                repaired,
                len(unbalanced),
                [iso_ms(m, "seconds") for m in unbalanced[:60]],
            )
        summary = ReconcileResult(
            checked_at,
            sum(r.series_checked for r in results.values()),
            sum(r.behind for r in results.values()),
            sum(r.repaired for r in results.values()),
            sum(r.unbalanced_minutes for r in results.values()),
            [],
        )
        self._record(summary, results)
        return summary, results

    def _record(self, summary: ReconcileResult, results: dict[str, ReconcileResult]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            for tenant, result in results.items():
                doc = orjson.dumps(result.as_dict())
                pipe.set(_result_key(self.live, tenant), doc, ex=RESULT_TTL_S)
            pipe.set(_result_key(self.live, None), orjson.dumps(summary.as_dict()), ex=RESULT_TTL_S)
            pipe.execute()


def last_reconcile(live: LiveStore, tenant: str | None = None) -> dict[str, Any] | None:
    """The last reconcile result of the tenant (or, without one, the sums over all tenants)."""
    raw = live.redis.get(_result_key(live, tenant))
    return orjson.loads(raw) if raw else None


def _result_key(live: LiveStore, tenant: str | None) -> str:
    return live.keys.reconcile(tenant)
