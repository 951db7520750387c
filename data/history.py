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
    SELECT tenant_id, metric_type, source, date_trunc('{unit}', ts, 'UTC'),
           count(*), sum(value), min(value), max(value),
           (array_agg(value ORDER BY ts DESC))[1], max(ts)
    FROM ins GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4  -- one lock order for every writer, so two never deadlock
    ON CONFLICT (tenant_id, metric_type, source, bucket) DO UPDATE SET
        count = r.count + excluded.count,
        sum = r.sum + excluded.sum,
        min = least(r.min, excluded.min),
        max = greatest(r.max, excluded.max),
        last = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last ELSE r.last END,
        last_ts = greatest(r.last_ts, excluded.last_ts)
)"""

# One statement per chunk, rows passed as arrays: a single round trip, no staging table.
# Only rows that were really inserted feed the rollups, so a redelivered or resent point
# is counted once; RETURNING tells the caller which points are new.
_WRITE = f"""
WITH ins AS (
    INSERT INTO points (tenant_id, data_id, source, metric_type, ts, value)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],
                         %s::timestamptz[], %s::float8[])
    ON CONFLICT (tenant_id, data_id) DO NOTHING
    RETURNING tenant_id, data_id, source, metric_type, ts, value
),
{_ROLLUP.format(name="m", table="rollup_1m", unit="minute").strip()},
{_ROLLUP.format(name="h", table="rollup_1h", unit="hour").strip()}
SELECT tenant_id, data_id FROM ins
"""


WRITE_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class SeriesHistory:
    """Recent history of one series for the overview."""

    metric: str
    source: str
    points: list[tuple[int, float]]


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
                    columns = (
                        [t for t, _ in chunk],
                        [p.data_id for _, p in chunk],
                        [p.source for _, p in chunk],
                        [p.metric for _, p in chunk],
                        [to_datetime(p.ts_ms) for _, p in chunk],
                        [p.value for _, p in chunk],
                    )
                    cur.execute(_WRITE, columns)
                    inserted.update((row[0], row[1]) for row in cur.fetchall())
            conn.commit()
            return inserted
        except BaseException:
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
