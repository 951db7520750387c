"""The PostgreSQL history store: batched idempotent writes with rollups, and reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from data.points import Point

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
# number of new rows, and which ones only when some were not new (a redelivery, a resend):
# fetching 10^5 keys back costs the worker more than building them.
_WRITE = f"""
WITH ins AS (
    INSERT INTO points (tenant_id, data_id, source, metric_type, ts, value)
    SELECT t, d, s, m, timestamptz 'epoch' + ms * interval '1 millisecond', v
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::float8[])
        AS u(t, d, s, m, ms, v)
    ON CONFLICT (tenant_id, data_id) DO NOTHING
    RETURNING tenant_id, data_id, source, metric_type, ts, value
),
agg AS (
    SELECT tenant_id, metric_type, source, date_trunc('minute', ts, 'UTC') AS bucket,
           count(*) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi,
           (array_agg(value ORDER BY ts DESC))[1] AS newest, max(ts) AS newest_ts
    FROM ins GROUP BY 1, 2, 3, 4
),
{_ROLLUP.format(name="m", table="rollup_1m", select="SELECT * FROM agg").strip()},
{_ROLLUP.format(name="h", table="rollup_1h", select=_HOUR_FROM_MINUTES).strip()}
SELECT count(*), CASE WHEN count(*) < %s THEN array_agg(tenant_id) END,
       CASE WHEN count(*) < %s THEN array_agg(data_id) END
FROM ins
"""


WRITE_CHUNK = 100_000


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """Recent history of one series for the overview."""

    metric: str
    source: str
    points: list[tuple[int, float]]


def _text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings, every element quoted."""
    if not values:
        return "{}"
    joined = '","'.join(values)
    if "\\" in joined or '"' in joined:  # rare (a data_id): escape element by element
        joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return '{"' + joined + '"}'


def _int_array(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers."""
    return "{" + ",".join(map(str, map(int, values))) + "}"


def _float_array(values: Sequence[float]) -> str:
    """A PostgreSQL array literal of doubles (the repr of a float reads back exactly)."""
    return "{" + ",".join(map(repr, map(float, values))) + "}"


def to_datetime(ts_ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds from an aware datetime."""
    return round(ts.timestamp() * 1000)


class HistoryStore:
    """Reads and writes of points and rollups; every call is scoped to one tenant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write_points(self, batch: Sequence[tuple[str, Point]]) -> set[tuple[str, str]]:
        """Store (tenant, point) pairs in one transaction; return the (tenant, data_id) new ones."""
        if not batch:
            return set()
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None
            inserted: set[tuple[str, str]] = set()
            with conn.cursor() as cur:
                for start in range(0, len(batch), WRITE_CHUNK):
                    chunk = batch[start : start + WRITE_CHUNK]
                    params = (
                        _text_array([t for t, _ in chunk]),
                        _text_array([p.data_id for _, p in chunk]),
                        _text_array([p.source for _, p in chunk]),
                        _text_array([p.metric for _, p in chunk]),
                        _int_array([p.ts_ms for _, p in chunk]),
                        _float_array([p.value for _, p in chunk]),
                        len(chunk),
                        len(chunk),
                    )
                    cur.execute(_WRITE, params)
                    row = cur.fetchone()
                    assert row is not None
                    count, tenants, data_ids = row
                    if count == len(chunk):  # every row was new
                        inserted.update((t, p.data_id) for t, p in chunk)
                    elif count:
                        inserted.update(zip(tenants, data_ids, strict=True))
            conn.commit()
            return inserted
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
