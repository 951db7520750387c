"""The PostgreSQL history store: batched idempotent writes with rollups (the statement is
built by data/stores/point_writes.py), and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter

import psycopg
from sqlalchemy import Engine, text

from data.domain.points import Point
from data.domain.timefmt import to_datetime
from data.stores.partitions import ensure_for_times
from data.stores.point_writes import (
    BOOKS,
    WRITE_NEW,
    WRITE_SKIPPING_DUPLICATES,
    EntryRef,
    PreparedWrite,
    Runs,
    Written,
    books_params,
    flat_points,
    point_key,
    prepare_write,
)


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """Recent history of one series for the overview."""

    metric: str
    source: str
    points: list[tuple[int, float]]


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds from an aware datetime."""
    return round(ts.timestamp() * 1000)


class HistoryStore:
    """Reads and writes of points and rollups; every call is scoped to one tenant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write_points(
        self, batch: Sequence[tuple[str, Point]], entries: Sequence[EntryRef] = ()
    ) -> Written:
        """Store (tenant, point) pairs in one transaction; tell which ones were new.
        See `write_runs`."""
        runs = [(t, [p for _, p in run]) for t, run in groupby(batch, key=itemgetter(0))]
        return self.write_runs(runs, entries)

    def write_runs(self, runs: Runs, entries: Sequence[EntryRef] = ()) -> Written:
        """Store runs of (tenant, points) in one transaction; tell which points were new.

        With `entries` (the batch's points come from them, in order), the books of each entry
        (points stored, duplicates dropped) are written in the same transaction."""
        return self.write_prepared(prepare_write(runs, entries))

    def write_prepared(self, batch: PreparedWrite) -> Written:
        """Store a prepared batch in one transaction; tell which points were new.

        Partitions are made ahead of time; should a point still find none (a worker catching
        up on a day whose partition was not made, or was just dropped by retention), the
        partitions of the batch's days are created and the batch is written again, once."""
        if not batch.chunks:
            return Written(0, set())
        try:
            return self._write_new_or_skip_duplicates(batch)
        except psycopg.errors.CheckViolation as exc:
            if not (exc.diag.message_primary or "").startswith("no partition of relation"):
                raise
        ensure_for_times(self.engine, {p.ts_ms for _, p in flat_points(batch.runs)})
        return self._write_new_or_skip_duplicates(batch)

    def _write_new_or_skip_duplicates(self, batch: PreparedWrite) -> Written:
        try:
            return self._write_once(batch, WRITE_NEW)
        except psycopg.errors.UniqueViolation:
            return self._write_once(batch, WRITE_SKIPPING_DUPLICATES)

    def _write_once(self, batch: PreparedWrite, statement: str) -> Written:
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            total, new_rows, keys, whole = 0, 0, set(), []
            with conn.cursor() as cur:
                for chunk, params, size in batch.chunks:
                    cur.execute(statement, params)
                    row = cur.fetchone()
                    assert row is not None
                    count, new_keys = row
                    total, new_rows = total + size, new_rows + count
                    if count == size:
                        whole.append(chunk)  # every row new: its keys only if others are not
                    elif count:
                        keys.update(new_keys)
                if new_rows == total:
                    written = Written(new_rows, None)
                else:
                    keys.update(point_key(t, p) for chunk in whole for t, p in flat_points(chunk))
                    written = Written(new_rows, keys)
                if batch.entries:
                    cur.execute(BOOKS, books_params(batch.runs, batch.entries, written))
            conn.commit()
            return written
        except BaseException:
            if raw.driver_connection is not None and raw.driver_connection.broken:
                # the server went away mid-write (a crash, a restart): rolling back would
                # only raise "the connection is lost" over the real error, and the pool
                # would log another failure resetting it; drop it, the server rolls back
                raw.invalidate()
            else:
                raw.rollback()
            raise
        finally:
            raw.close()

    def count_points(self, tenant: str) -> int:
        """How many raw points the tenant has."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM points WHERE tenant_id = :t"), {"t": tenant}
                ).scalar_one()
            )

    def newest_per_series(
        self, since_ms: int
    ) -> dict[str, dict[tuple[str, str], tuple[int, float]]]:
        """Per tenant, the newest stored (ts_ms, value) of every series seen since `since_ms`,
        read from the 1-minute rollup."""
        query = text(
            """
            SELECT DISTINCT ON (tenant_id, metric_type, source)
                   tenant_id, metric_type, source, last_ts, last
            FROM rollup_1m WHERE bucket >= :since
            ORDER BY tenant_id, metric_type, source, bucket DESC, last_ts DESC
            """
        )
        out: dict[str, dict[tuple[str, str], tuple[int, float]]] = {}
        with self.engine.connect() as conn:
            for tenant, metric, source, last_ts, last in conn.execute(
                query, {"since": to_datetime(since_ms - since_ms % 60_000)}
            ):
                out.setdefault(tenant, {})[(metric, source)] = (to_ms(last_ts), float(last))
        return out

    def recent_raw(
        self, tenant: str, since_ms: int, limit_per_series: int = 900
    ) -> list[SeriesHistory]:
        """Raw points of every series of the tenant since `since_ms`, newest capped per series."""
        query = text(
            """
            SELECT metric_type, source, ts, value FROM (
                SELECT metric_type, source, ts, value,
                       row_number() OVER (PARTITION BY metric_type, source ORDER BY ts DESC) AS n
                FROM points WHERE tenant_id = :t AND ts >= :since
            ) recent WHERE n <= :cap ORDER BY metric_type, source, ts
            """
        )
        params = {"t": tenant, "since": to_datetime(since_ms), "cap": limit_per_series}
        return self._group(query, params)

    def minute_series(self, tenant: str, since_ms: int) -> list[SeriesHistory]:
        """Per-minute averages of every series of the tenant since `since_ms`."""
        query = text(
            """
            SELECT metric_type, source, bucket, sum / count FROM rollup_1m
            WHERE tenant_id = :t AND bucket >= :since ORDER BY metric_type, source, bucket
            """
        )
        return self._group(query, {"t": tenant, "since": to_datetime(since_ms)})

    def _group(self, query: object, params: dict[str, object]) -> list[SeriesHistory]:
        out: dict[tuple[str, str], SeriesHistory] = {}
        with self.engine.connect() as conn:
            for metric, source, ts, value in conn.execute(query, params):  # type: ignore[call-overload]
                series = out.setdefault((metric, source), SeriesHistory(metric, source, []))
                series.points.append((to_ms(ts), float(value)))
        return list(out.values())
