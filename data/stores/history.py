"""The PostgreSQL history store: batched idempotent writes with rollups (the statements are
in data/stores/point_writes.py), and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from data.domain.points import Point
from data.domain.timefmt import to_datetime
from data.stores.partitions import ensure_for_times
from data.stores.point_writes import (
    BOOKS,
    CLAIM,
    COPY,
    COPY_TYPES,
    SET_TENANT,
    STAGE,
    WRITE,
    WRITE_KEYED_NEW,
    EntryRef,
    PreparedWrite,
    Runs,
    Written,
    books_params,
    claim_params,
    flat_points,
    fresh_runs,
    keyed_count,
    prepare_write,
)
from data.stores.schema import RAW_POINTS


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """Recent history of one series for the overview."""

    metric: str
    source: str
    points: list[tuple[int, float]]


def _write_batch(cur: psycopg.Cursor[Any], batch: PreparedWrite, statement: str) -> Written:
    """Claim the batch's entries, stage the points of those not stored yet, store them with
    their rollups, then the entries' books: the statements of one transaction."""
    stale: frozenset[str] = frozenset()
    if batch.entries:
        cur.execute(CLAIM, claim_params(batch.entries))
        claimed = {row[0] for row in cur.fetchall()}
        stale = frozenset(e.entry_id for e in batch.entries) - claimed
    runs = fresh_runs(batch.runs, batch.entries, stale)
    total = sum(len(points) for _, points in runs)
    written = Written(0, None, stale)
    if total:
        cur.execute(STAGE)
        for tenant, group in groupby(runs, key=itemgetter(0)):
            cur.execute(SET_TENANT, (tenant,))
            with cur.copy(COPY) as copy:
                copy.set_types(COPY_TYPES)
                for _, points in group:
                    for point in points:
                        copy.write_row(point)
        keyed = keyed_count(runs)
        cur.execute(statement, (keyed,))
        row = cur.fetchone()
        assert row is not None
        stored_keyed, keys = row
        new_keys = None if stored_keyed == keyed else set(keys or ())
        written = Written(total - keyed + stored_keyed, new_keys, stale)
    if len(stale) < len(batch.entries):
        cur.execute(BOOKS, books_params(batch.runs, batch.entries, written))
    return written


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
        if not any(points for _, points in batch.runs):
            return Written(0, set())
        try:
            return self._write_new_or_skip_resent(batch)
        except psycopg.errors.CheckViolation as exc:
            if not (exc.diag.message_primary or "").startswith("no partition of relation"):
                raise
        ensure_for_times(self.engine, {p.ts_ms for _, p in flat_points(batch.runs)})
        return self._write_new_or_skip_resent(batch)

    def _write_new_or_skip_resent(self, batch: PreparedWrite) -> Written:
        try:
            return self._write_once(batch, WRITE_KEYED_NEW)
        except psycopg.errors.UniqueViolation:
            return self._write_once(batch, WRITE)

    def _write_once(self, batch: PreparedWrite, statement: str) -> Written:
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            with conn.cursor() as cur:
                written = _write_batch(cur, batch, statement)
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
                    text(f"SELECT count(*) FROM {RAW_POINTS} WHERE tenant_id = :t"), {"t": tenant}
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
            f"""
            SELECT metric_type, source, ts, value FROM (
                SELECT metric_type, source, ts, value,
                       row_number() OVER (PARTITION BY metric_type, source ORDER BY ts DESC) AS n
                FROM {RAW_POINTS} WHERE tenant_id = :t AND ts >= :since
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
