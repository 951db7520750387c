"""A batch write of points, built before it runs: the statements that claim the batch's
ingest entries, stage its points (binary COPY), insert them and fold them into the rollups
set-based, and the books of the entries. data/stores/history.py runs them.

Exactly once, without a unique index entry per point (bench/RESULTS.md "Issue 14 — write
path"): an ingest entry's row in ingest_entries is inserted first, in the transaction that
stores its points, so a redelivered entry whose first delivery committed finds its row and
its points are skipped whole (a concurrent delivery waits on the row's key, then skips).
Only points whose client gave a data_id (never empty; others are stored with '') are checked
one by one, against the partial unique index, so that a resend is stored once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter

import orjson

from data.domain.points import Point

# The batch's points, as the client sent them, before they are stored. Per connection, kept
# across transactions and emptied at each commit; the tenant of a run comes from a setting
# (one COPY per run), so a Point tuple is written as it is, with no per-point tuple.
STAGE = """
CREATE TEMP TABLE IF NOT EXISTS point_batch (
    data_id text NOT NULL, source text NOT NULL, metric_type text NOT NULL,
    ms int8 NOT NULL, value float8 NOT NULL,
    tenant_id text NOT NULL DEFAULT current_setting('pulse.batch_tenant')
) ON COMMIT DELETE ROWS
"""
SET_TENANT = "SELECT set_config('pulse.batch_tenant', %s, true)"
COPY = "COPY point_batch (data_id, source, metric_type, ms, value) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = ("text", "text", "text", "int8", "float8")

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

_TS = "timestamptz 'epoch' + ms * interval '1 millisecond'"
_COLUMNS = "tenant_id, data_id, source, metric_type, ts, value"
_STAGED = f"SELECT tenant_id, data_id, source, metric_type, {_TS}, value FROM point_batch"

# One statement for the staged batch: the points without a data_id go in plainly (nothing
# can conflict with them), those with one skip what is stored already; only rows really
# inserted feed the rollups, so a resent point is counted once. The reply is how many keyed
# points were inserted and, only when some were not, which ones (their `point_key`s).
#
# Keyed points are first inserted without ON CONFLICT (WRITE_KEYED_NEW): the unique index
# checks every row anyway, and the speculative insertion ON CONFLICT needs costs a few
# microseconds a row. A redelivery no longer meets a duplicate (its entry is skipped whole),
# so only a client's resend does: then the transaction is rolled back and written again with
# WRITE, which skips them.
_WRITE = f"""
WITH plain AS (
    INSERT INTO points ({_COLUMNS}) {_STAGED} WHERE data_id = ''
),
keyed AS (
    INSERT INTO points ({_COLUMNS}) {_STAGED} WHERE data_id <> ''
    {{on_conflict}}
    RETURNING tenant_id, data_id, source, metric_type, ts, value
),
new AS (
    SELECT tenant_id, metric_type, source, {_TS} AS ts, value FROM point_batch
    WHERE data_id = ''
    UNION ALL
    SELECT tenant_id, metric_type, source, ts, value FROM keyed
),
agg AS (
    SELECT tenant_id, metric_type, source, date_trunc('minute', ts, 'UTC') AS bucket,
           count(*) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi,
           (array_agg(value ORDER BY ts DESC))[1] AS newest, max(ts) AS newest_ts
    FROM new GROUP BY 1, 2, 3, 4
),
{_ROLLUP.format(name="m", table="rollup_1m", select="SELECT * FROM agg").strip()},
{_ROLLUP.format(name="h", table="rollup_1h", select=_HOUR_FROM_MINUTES).strip()}
SELECT n, CASE WHEN n < %s THEN
    (SELECT array_agg(concat_ws('|', tenant_id, metric_type, source,
        round(extract(epoch FROM ts) * 1000)::int8, data_id)) FROM keyed) END
FROM (SELECT count(*) AS n FROM keyed) c
"""
WRITE = _WRITE.format(
    on_conflict="ON CONFLICT (tenant_id, metric_type, source, ts, data_id) "
    "WHERE data_id <> '' DO NOTHING"
)
WRITE_KEYED_NEW = _WRITE.format(on_conflict="")

# The entries of a batch, claimed before their points are staged: the ones whose row is
# already there were stored by an earlier delivery. Counted as all stored; BOOKS corrects
# the few entries that held resent points.
CLAIM = """
INSERT INTO ingest_entries (tenant_id, entry_id, accepted_at, points, stored, duplicates)
SELECT t, id, timestamptz 'epoch' + ms * interval '1 millisecond', n, n, 0
FROM unnest(%s::text[], %s::text[], %s::int8[], %s::int4[]) AS u(t, id, ms, n)
ORDER BY 1, 2  -- one lock order for every writer
ON CONFLICT (tenant_id, entry_id) DO NOTHING
RETURNING entry_id
"""

# The per-minute books of the entries this batch claimed, and the stored counts of those
# that held resent points.
BOOKS = """
WITH u AS (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::int8[], %s::int4[], %s::int4[])
        AS u(t, id, ms, n, s)
),
fixed AS (
    UPDATE ingest_entries e SET stored = u.s, duplicates = u.n - u.s
    FROM u WHERE u.s <> u.n AND e.tenant_id = u.t AND e.entry_id = u.id
)
INSERT INTO ingest_minutes AS b (tenant_id, minute, entries, points, stored, duplicates)
SELECT t, date_trunc('minute', timestamptz 'epoch' + ms * interval '1 millisecond', 'UTC'),
       count(*), sum(n), sum(s), sum(n - s)
FROM u GROUP BY 1, 2
ORDER BY 1, 2  -- one lock order for every writer
ON CONFLICT (tenant_id, minute) DO UPDATE SET
    entries = b.entries + excluded.entries,
    points = b.points + excluded.points,
    stored = b.stored + excluded.stored,
    duplicates = b.duplicates + excluded.duplicates
"""


@dataclass(frozen=True, slots=True)
class Written:
    """What a batch write stored: `count` new rows. `keys` are the `point_key`s of the keyed
    points stored (those with a data_id), or None when every one was new (the common case,
    not worth a set). `stale` are the entries skipped whole, stored by an earlier delivery."""

    count: int
    keys: set[str] | None
    stale: frozenset[str] = frozenset()

    def is_new(self, tenant: str, point: Point) -> bool:
        """Whether this point of a fresh entry (or of a batch without entries) was stored by
        this write."""
        return not point.data_id or self.keys is None or point_key(tenant, point) in self.keys


def point_key(tenant: str, p: Point) -> str:
    """The identity of a stored keyed point, as the unique index of `points` sees it (names
    have no `|`; the data_id, which may, comes last)."""
    return f"{tenant}|{p.metric}|{p.source}|{p.ts_ms}|{p.data_id}"


@dataclass(frozen=True, slots=True)
class EntryRef:
    """Which ingest entry a run of a batch's points came from: `points` consecutive ones."""

    tenant: str
    entry_id: str
    points: int


# Array literals are written by orjson, in C: a JSON array of strings or integers is a
# PostgreSQL array literal once its brackets become braces (strings are quoted and `"` and
# `\\` escaped alike in both; entry ids and tenant names hold no control characters).
def _array(values: Sequence[str] | Sequence[int]) -> str:
    """A PostgreSQL array literal of strings (each quoted) or integers."""
    return "{" + orjson.dumps(values)[1:-1].decode() + "}"


# A batch as runs of one tenant's points: (tenant, points). The worker hands over each
# ingest entry's points as they were decoded, with no per-point tuple.
Runs = Sequence[tuple[str, Sequence[Point]]]


def flat_points(runs: Runs) -> Iterator[tuple[str, Point]]:
    return ((tenant, p) for tenant, points in runs for p in points)


def keyed_count(runs: Runs) -> int:
    """How many points of the runs carry a client's data_id."""
    return sum(sum(map(bool, map(itemgetter(0), points))) for _, points in runs)


def claim_params(entries: Sequence[EntryRef]) -> tuple[str, ...]:
    """The CLAIM arrays: each entry with the time of its id and its number of points."""
    return (
        _array([e.tenant for e in entries]),
        _array([e.entry_id for e in entries]),
        _array([int(e.entry_id.partition("-")[0]) for e in entries]),
        _array([e.points for e in entries]),
    )


def fresh_runs(runs: Runs, entries: Sequence[EntryRef], stale: frozenset[str]) -> Runs:
    """The runs of the entries not already stored (runs and entries match one to one when
    there are entries, as the worker builds them)."""
    if not stale:
        return runs
    return [run for run, entry in zip(runs, entries, strict=True) if entry.entry_id not in stale]


def books_params(runs: Runs, entries: Sequence[EntryRef], written: Written) -> tuple[str, ...]:
    """The BOOKS arrays of the entries this write stored: their points and how many of them
    were new. A keyed point counts as stored for the first entry of the batch holding it (a
    point twice in one batch is inserted once)."""
    pairs = zip(runs, entries, strict=True)
    fresh = [(run, e) for run, e in pairs if e.entry_id not in written.stale]
    if written.keys is None:
        stored = [e.points for _, e in fresh]
    else:
        stored, claimed = [], set()
        for (tenant, points), _ in fresh:
            count = 0
            for p in points:
                key = point_key(tenant, p) if p.data_id else None
                if key is None or (key in written.keys and key not in claimed):
                    claimed.add(key)
                    count += 1
            stored.append(count)
    return (
        _array([e.tenant for _, e in fresh]),
        _array([e.entry_id for _, e in fresh]),
        _array([int(e.entry_id.partition("-")[0]) for _, e in fresh]),
        _array([e.points for _, e in fresh]),
        _array(stored),
    )


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """A batch ready to write: its runs of points and, from the worker, the ingest entries
    they came from (one per run, in order)."""

    runs: Runs
    entries: Sequence[EntryRef]


def prepare_write(runs: Runs, entries: Sequence[EntryRef] = ()) -> PreparedWrite:
    """The batch of `runs` ready for `HistoryStore.write_prepared`."""
    if entries:
        assert len(entries) == len(runs) and all(
            e.points == len(points) for e, (_, points) in zip(entries, runs, strict=True)
        ), "entries must match the runs one to one"
    return PreparedWrite(runs, entries)
