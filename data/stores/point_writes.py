"""A batch write of points, built before it runs: the one statement that inserts a batch's
new points and folds them into the rollups, its parameters as array literals, and the books
of the ingest entries the batch came from. data/stores/history.py runs it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

import orjson

from data.domain.points import Point

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
WRITE_NEW = _WRITE.format(on_conflict="", reply="SELECT count(*), NULL::text[]", **_ROLLUPS)
WRITE_SKIPPING_DUPLICATES = _WRITE.format(
    on_conflict="ON CONFLICT (tenant_id, metric_type, source, ts, data_id) DO NOTHING",
    reply="""SELECT count(*), array_agg(concat_ws('|', tenant_id, metric_type, source,
        round(extract(epoch FROM ts) * 1000)::int8, data_id))""",
    **_ROLLUPS,
)


# The books of one batch, in the same transaction as its points: one row per ingest entry
# (a redelivered entry conflicts and keeps its first delivery's counts) and, from the rows
# really inserted, the per-minute sums.
BOOKS = """
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


# A batch as runs of one tenant's points: (tenant, points). The worker hands over each
# ingest entry's points as they were decoded, with no per-point tuple.
Runs = Sequence[tuple[str, Sequence[Point]]]


def flat_points(runs: Runs) -> Iterator[tuple[str, Point]]:
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


def books_params(runs: Runs, entries: Sequence[EntryRef], written: Written) -> tuple[str, ...]:
    """The BOOKS arrays: per entry, its points and how many of them were stored. When some
    rows were not new, a point counts as stored for the first entry of the batch holding it
    (a point twice in one batch is inserted once)."""
    total = sum(len(points) for _, points in runs)
    assert sum(e.points for e in entries) == total, "entries must cover the batch"
    if written.keys is None:
        stored = [e.points for e in entries]
    else:
        stored, claimed, flat = [], set(), flat_points(runs)
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
