"""The PostgreSQL history store: batched idempotent writes with rollups, and reads."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, groupby
from operator import itemgetter

import orjson
import psycopg
from sqlalchemy import Engine, text

from data.domain.points import Point
from data.domain.timefmt import to_datetime
from data.stores.partitions import ensure_for_times

_ROLLUP = """
{name} AS (
    INSERT INTO {table} AS r (tenant_id, metric_type, source, bucket,
                              count, sum, min, max, last, last_ts)
    {select}
    ORDER BY 1, 2, 3, 4  -- one lock order for every writer, so two never deadlock
    ON CONFLICT (tenant_id, metric_type, source, bucket) DO UPDATE SET
        count = r.count + excluded.count,
        sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min),
        max = greatest(r.max, excluded.max),
        last = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last ELSE r.last END,
        last_ts = greatest(r.last_ts, excluded.last_ts)
)"""

# The hour rollup is built from the minute aggregates of the same statement (one group
# per series and minute) rather than from the raw rows again.
_HOUR_FROM_MINUTES = """SELECT tenant_id, metric_type, source, date_trunc('hour', bucket, 'UTC'),
           sum(n), sum(total), min(lo), max(hi),
           (array_agg(newest ORDER BY newest_ts DESC))[1], max(newest_ts)
    FROM agg GROUP BY 1, 2, 3, 4"""

# One statement per batch, the columns passed as six array literals built by str.join
# (timestamps as epoch milliseconds): a single round trip, no staging table, and far less
# Python per row than psycopg's list adapters. Only rows that were really inserted feed
# the rollups, so a redelivered or resent point is counted once. The rollup upserts cost
# per (series, bucket) group, so the whole batch goes in one statement. The reply is the
# number of new rows, and which ones only from the statement that skips duplicates:
# fetching 10^5 keys back costs the worker more than building them.
#
# A batch is first written without ON CONFLICT: the unique index checks every row anyway,
# and the speculative insertion that ON CONFLICT needs costs a few microseconds a row. When
# that meets a duplicate (a resend, a redelivery), the transaction is rolled back and the
# batch written again with ON CONFLICT DO NOTHING.
_WRITE = """
WITH ins AS (
    INSERT INTO points (tenant_id, data_id, source, metric_type, ts, value)
    SELECT t, d, s, m, timestamptz 'epoch' + ms * interval '1 millisecond', v
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::float8[])
        AS u(t, d, s, m, ms, v)
    {on_conflict}
    RETURNING tenant_id, data_id, source, metric_type, ts, value
),
agg AS (
    SELECT tenant_id, metric_type, source, date_trunc('minute', ts, 'UTC') AS bucket,
           count(*) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi,
           (array_agg(value ORDER BY ts DESC))[1] AS newest, max(ts) AS newest_ts
    FROM ins GROUP BY 1, 2, 3, 4
),
{minute},
{hour}
{reply}
FROM ins
"""
_ROLLUPS = {
    "minute": _ROLLUP.format(name="m", table="rollup_1m", select="SELECT * FROM agg").strip(),
    "hour": _ROLLUP.format(name="h", table="rollup_1h", select=_HOUR_FROM_MINUTES).strip(),
}
_WRITE_NEW = _WRITE.format(on_conflict="", reply="SELECT count(*), NULL::text[]", **_ROLLUPS)
_WRITE_SKIPPING_DUPLICATES = _WRITE.format(
    on_conflict="ON CONFLICT (tenant_id, metric_type, source, ts, data_id) DO NOTHING",
    reply="""SELECT count(*), array_agg(concat_ws('|', tenant_id, metric_type, source,
        round(extract(epoch FROM ts) * 1000)::int8, data_id))""",
    **_ROLLUPS,
)


# The books of one batch, in the same transaction as its points: one row per ingest entry
# (a redelivered entry conflicts and keeps its first delivery's counts) and, from the rows
# really inserted, the per-minute sums.
_BOOKS = """
WITH e AS (
    INSERT INTO ingest_entries (tenant_id, entry_id, accepted_at, points, stored, duplicates)
    SELECT t, id, timestamptz 'epoch' + ms * interval '1 millisecond', n, s, n - s
    FROM unnest(%s::text[], %s::text[], %s::int8[], %s::int4[], %s::int4[]) AS u(t, id, ms, n, s)
    ORDER BY 1, 2
    ON CONFLICT (tenant_id, entry_id) DO NOTHING
    RETURNING tenant_id, accepted_at, points, stored, duplicates
)
INSERT INTO ingest_minutes AS b (tenant_id, minute, entries, points, stored, duplicates)
SELECT tenant_id, date_trunc('minute', accepted_at, 'UTC'), count(*), sum(points),
       sum(stored), sum(duplicates)
FROM e GROUP BY 1, 2
ORDER BY 1, 2  -- one lock order for every writer
ON CONFLICT (tenant_id, minute) DO UPDATE SET
    entries = b.entries + excluded.entries,
    points = b.points + excluded.points,
    stored = b.stored + excluded.stored,
    duplicates = b.duplicates + excluded.duplicates
"""

WRITE_CHUNK = 100_000


@dataclass(frozen=True, slots=True)
class Written:
    """What a batch write stored: `count` new rows; `keys` are their `point_key`s, or None
    when every point of the batch was new (the common case, not worth a set)."""

    count: int
    keys: set[str] | None

    def is_new(self, tenant: str, point: Point) -> bool:
        """Whether this point of the batch was stored by this write."""
        return self.keys is None or point_key(tenant, point) in self.keys


def point_key(tenant: str, p: Point) -> str:
    """The identity of a stored point, as the unique index of `points` sees it (names have no
    `|`; the data_id, which may, comes last)."""
    return f"{tenant}|{p.metric}|{p.source}|{p.ts_ms}|{p.data_id}"


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Which ingest entry a run of a batch's points came from: `points` consecutive ones."""

    tenant: str
    entry_id: str
    points: int


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """Recent history of one series for the overview."""

    metric: str
    source: str
    points: list[tuple[int, float]]


# Array literals are written by orjson, in C: a JSON array of strings, integers or doubles
# is a PostgreSQL array literal once its brackets become braces. Strings are quoted and `"`
# and `\\` escaped alike in both; the control characters JSON would escape differently never
# reach here (names are restricted and data_ids printable), and doubles come out in their
# shortest form that reads back exactly.
def _text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings, every element quoted."""
    return "{" + orjson.dumps(values)[1:-1].decode() + "}"


def _int_array(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers."""
    return "{" + orjson.dumps(values)[1:-1].decode() + "}"


def _float_array(values: Sequence[float]) -> str:
    """A PostgreSQL array literal of doubles."""
    return "{" + orjson.dumps(values)[1:-1].decode() + "}"


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds from an aware datetime."""
    return round(ts.timestamp() * 1000)


# A batch as runs of one tenant's points: (tenant, points). The worker hands over each
# ingest entry's points as they were decoded, with no per-point tuple.
Runs = Sequence[tuple[str, Sequence[Point]]]


def _flat(runs: Runs) -> Iterator[tuple[str, Point]]:
    return ((tenant, p) for tenant, points in runs for p in points)


def _chunks(runs: Runs, size: int) -> Iterator[list[tuple[str, Sequence[Point]]]]:
    """The runs cut into chunks of at most `size` points."""
    chunk: list[tuple[str, Sequence[Point]]] = []
    room = size
    for tenant, points in runs:
        while points:
            chunk.append((tenant, points[:room]))
            room -= len(chunk[-1][1])
            points = points[len(chunk[-1][1]) :]
            if room == 0:
                yield chunk
                chunk, room = [], size
    if chunk:
        yield chunk


def _books_params(runs: Runs, entries: Sequence[EntryRef], written: Written) -> tuple[str, ...]:
    """The _BOOKS arrays: per entry, its points and how many of them were stored. When some
    rows were not new, a point counts as stored for the first entry of the batch holding it
    (a point twice in one batch is inserted once)."""
    total = sum(len(points) for _, points in runs)
    assert sum(e.points for e in entries) == total, "entries must cover the batch"
    if written.keys is None:
        stored = [e.points for e in entries]
    else:
        stored, claimed, flat = [], set(), _flat(runs)
        for entry in entries:
            count = 0
            for tenant, p in (next(flat) for _ in range(entry.points)):
                key = point_key(tenant, p)
                if key in written.keys and key not in claimed:
                    claimed.add(key)
                    count += 1
            stored.append(count)
    return (
        _text_array([e.tenant for e in entries]),
        _text_array([e.entry_id for e in entries]),
        _int_array([int(e.entry_id.partition("-")[0]) for e in entries]),
        _int_array([e.points for e in entries]),
        _int_array(stored),
    )


def _write_params(chunk: Runs) -> tuple[str, ...]:
    """The _WRITE parameters of a chunk: its columns as array literals, built column-wise
    with no Python loop per point."""
    tenants: list[str] = []
    for tenant, points in chunk:
        tenants += [tenant] * len(points)
    flat = list(chain.from_iterable(points for _, points in chunk))
    # one map per column: zip(*flat) would cost ~4x as much, making an iterator per point
    data_ids, sources, metrics, stamps, values = (list(map(itemgetter(i), flat)) for i in range(5))
    return (
        _text_array(tenants),
        _text_array(data_ids),
        _text_array(sources),
        _text_array(metrics),
        _int_array(stamps),
        _float_array(values),
    )


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """A batch with its statement parameters built, so a worker can prepare the next batch
    while PostgreSQL writes the current one. `chunks` holds (runs, parameters, points)."""

    runs: Runs
    entries: Sequence[EntryRef]
    chunks: Sequence[tuple[Runs, tuple[str, ...], int]]


def prepare_write(runs: Runs, entries: Sequence[EntryRef] = ()) -> PreparedWrite:
    """The batch of `runs` ready for `HistoryStore.write_prepared`."""
    chunks = [
        (chunk, _write_params(chunk), sum(len(points) for _, points in chunk))
        for chunk in _chunks(runs, WRITE_CHUNK)
    ]
    return PreparedWrite(runs, entries, chunks)


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
        ensure_for_times(self.engine, {p.ts_ms for _, p in _flat(batch.runs)})
        return self._write_new_or_skip_duplicates(batch)

    def _write_new_or_skip_duplicates(self, batch: PreparedWrite) -> Written:
        try:
            return self._write_once(batch, _WRITE_NEW)
        except psycopg.errors.UniqueViolation:
            return self._write_once(batch, _WRITE_SKIPPING_DUPLICATES)

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
                    keys.update(point_key(t, p) for chunk in whole for t, p in _flat(chunk))
                    written = Written(new_rows, keys)
                if batch.entries:
                    cur.execute(_BOOKS, _books_params(batch.runs, batch.entries, written))
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
