"""History queries of `GET /api/data`: the SQL of a parsed query (data/domain/data_query.py)
on its tier, and a short cache. Buckets without points are absent rather than null.

The tier follows the step: a step that is a multiple of an hour reads `rollup_1h`, of a
minute `rollup_1m`, anything finer the raw `points`. The rollup rows are combined into the
bigger bucket with the aggregate that composes (sum of counts and sums, min of mins, max of
maxes, avg = sum(sum) / sum(count), last = the `last` with the greatest `last_ts`).
`step=auto` picks the smallest nice step within 1,500 buckets whose tier stays cheap for the
range (AUTO_TIER_MAX_SPAN_MS): 30 days come at 1h from `rollup_1h` rather than at 30m from
43,200 minute rows per series. Each query runs with a larger `work_mem` (QUERY_WORK_MEM):
with the default 4 MB, grouping 30 days of minute rows sorted on disk (external merge).

PostgreSQL groups and aggregates, so what crosses the wire is at most one row per bucket
(≤ 1,500 per series with step=auto); rows become a Polars frame and then the contract's JSON.
With result sets that small the transfer is not the cost, the scan is (measured on a shared
2-core machine: one metric, two sources, 30 days at step 30m spends 58-83 ms of 65-92 inside
PostgreSQL's execution), so neither connectorx nor ADBC is used: they would add a
dependency to speed up the cheap part.

The current bucket and the live store: the worker commits points to PostgreSQL *before* it
publishes them to the tenant's live stream and latest values (app/worker/consumer.py), so everything
`/ws` has shown is already in PostgreSQL when the query runs; there is nothing to blend in.
What the answer carries instead is `cursor`, the tenant's live cursor read *before* the
query: resuming `/ws` (or `/api/updates`) from it can repeat a point the history already
holds (dedupe by series and ts) but can never leave a gap.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import polars as pl
from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, text

from data.domain.data_query import DataQuery
from data.domain.timefmt import to_datetime
from data.stores.live import LiveStore
from data.stores.schema import RAW_POINTS

QUERY_WORK_MEM = "32MB"  # groups ≤ 1,500 buckets × series in memory, not on disk
CACHE_TTL_S = 5  # a popular query is answered from Redis for this long

# Per agg: the expression over raw points, and the one combining rollup rows.
_RAW_AGG = {
    "avg": "avg(value)",
    "min": "min(value)",
    "max": "max(value)",
    "sum": "sum(value)",
    "count": "count(*)",
    "last": "(array_agg(value ORDER BY ts DESC))[1]",
}
_ROLLUP_AGG = {
    "avg": "sum(sum) / sum(count)",
    "min": "min(min)",
    "max": "max(max)",
    "sum": "sum(sum)",
    "count": "sum(count)",
    "last": "(array_agg(last ORDER BY last_ts DESC))[1]",
}
# {time} is the table's timestamp column; buckets are epoch-ms multiples of the step.
# date_part gives the epoch as a double, exact to the millisecond here, and is cheaper per
# row than extract's numeric (measured ~60 against ~110 ms over 30 days of 1-minute rows).
_SQL = """
SELECT metric_type, source,
       CAST(date_part('epoch', {time}) * 1000 AS int8) / :step * :step AS bucket,
       CAST({agg} AS float8) AS value
FROM {table}
WHERE tenant_id = :tenant AND metric_type = ANY(:metrics) {sources}
  AND {time} >= :start AND {time} < :end
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""
TIERS = {"raw": (RAW_POINTS, "ts"), "1m": ("rollup_1m", "bucket"), "1h": ("rollup_1h", "bucket")}
SCHEMA = {"metric": pl.String, "source": pl.String, "ts_ms": pl.Int64, "value": pl.Float64}


# -- reading ------------------------------------------------------------------------------


def query_frame(engine: Engine, tenant: str, query: DataQuery) -> pl.DataFrame:
    """The buckets of the query for this tenant: metric, source, ts_ms, value, sorted."""
    sql, params = statement(tenant, query)
    with engine.connect() as conn:
        tune(conn)
        rows = conn.execute(text(sql), params).all()
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def iter_buckets(
    engine: Engine, tenant: str, query: DataQuery, batch: int = 10_000
) -> Iterator[Sequence[Any]]:
    """The rows of query_frame (metric, source, ts_ms, value; sorted) in batches, through a
    server-side cursor: a file export of millions of buckets never holds them all."""
    sql, params = statement(tenant, query)
    with engine.connect() as conn:
        tune(conn)
        result = conn.execution_options(stream_results=True).execute(text(sql), params)
        yield from result.partitions(batch)


def tune(conn: Connection) -> None:
    """Settings of the query's transaction (SET LOCAL: they end with it)."""
    conn.execute(text(f"SET LOCAL work_mem = '{QUERY_WORK_MEM}'"))


def statement(tenant: str, query: DataQuery) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters computing the query's buckets for this tenant."""
    table, time_column = TIERS[query.tier]
    aggregate = (_RAW_AGG if query.tier == "raw" else _ROLLUP_AGG)[query.agg]
    sql = _SQL.format(
        table=table,
        time=time_column,
        agg=aggregate,
        sources="AND source = ANY(:sources)" if query.sources else "",
    )
    params: dict[str, Any] = {
        "tenant": tenant,
        "metrics": list(query.metrics),
        "step": query.step_ms,
        "start": to_datetime(query.start_ms),
        "end": to_datetime(query.end_ms),
    }
    if query.sources:
        params["sources"] = list(query.sources)
    return sql, params


def series_of(frame: pl.DataFrame, query: DataQuery) -> list[dict[str, Any]]:
    """The contract's series, one per (metric, source), in that order."""
    out = []
    as_int = query.agg == "count"
    for (metric, source), part in frame.partition_by(
        ["metric", "source"], maintain_order=True, as_dict=True
    ).items():
        values = part["value"].to_list()
        points = [
            [ts, int(v) if as_int else _finite(v)]
            for ts, v in zip(part["ts_ms"].to_list(), values, strict=True)
        ]
        out.append(
            {
                "metric": metric,
                "source": source,
                "step": query.step,
                "agg": query.agg,
                "points": points,
            }
        )
    return out


def _finite(value: float) -> float | None:
    """JSON has no infinity: a sum that overflowed a double is shown as null."""
    return value if math.isfinite(value) else None


class DataQueries:
    """Answers `GET /api/data` for a tenant, caching popular answers in Redis briefly.

    The cache key is the tenant plus the normalised query (relative times resolved and the
    range widened to whole buckets), so `now-1h` asked twice within a bucket hits, a new
    bucket misses, and no two tenants ever share an entry. An answer can be up to
    CACHE_TTL_S behind what was written meanwhile; it carries the cursor it was computed
    at, so a live view resuming from it still misses nothing."""

    def __init__(self, engine: Engine, live: LiveStore, ttl_s: int = CACHE_TTL_S) -> None:
        self.engine = engine
        self.live = live
        self.ttl_s = ttl_s

    def cache_key(self, tenant: str, query: DataQuery) -> str:
        digest = hashlib.sha256(query.normalised()).hexdigest()
        return self.live.keys.data_cache(tenant, digest)

    def answer(self, tenant: str, query: DataQuery) -> bytes:
        """The JSON body of the answer, from the cache or PostgreSQL."""
        key = self.cache_key(tenant, query)
        try:
            cached = self.live.redis.get(key)
        except RedisError:
            cached = None  # the cache is an optimisation: PostgreSQL is the truth
        if cached is not None:
            return bytes(cached)
        try:  # read before the query: resuming from it may overlap, never leave a gap
            cursor: str | None = self.live.current_cursor(tenant)
        except RedisError:
            cursor = None
        frame = query_frame(self.engine, tenant, query)
        body = orjson.dumps({"series": series_of(frame, query), "cursor": cursor})
        with contextlib.suppress(RedisError):
            self.live.redis.set(key, body, ex=self.ttl_s)
        return body
