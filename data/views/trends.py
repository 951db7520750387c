"""Frames behind the /explore charts: series from an /api/data answer, trends, breakdowns.

Every frame here has the columns of data.stores.queries.SCHEMA (metric, source, ts_ms, value), one
row per bucket, sorted by series then time. Times are shown in the viewer's zone: `local_ms`
is the wall-clock time there written as epoch milliseconds, which is what a Plotly date axis
(showing epoch numbers as UTC) needs to print local times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from data.domain.data_query import DataQuery
from data.stores.queries import SCHEMA

SERIES = ["metric", "source"]
# How bucket values combine into one figure per slice (pie) or cell (heatmap): a sum stays a
# sum and a count a count; an average of bucket averages weighs the buckets alike.
_REDUCE = {
    "avg": pl.col("value").mean(),
    "min": pl.col("value").min(),
    "max": pl.col("value").max(),
    "sum": pl.col("value").sum(),
    "count": pl.col("value").sum(),
    "last": pl.col("value").sort_by("ts_ms").last(),
}


def frame_of_series(series: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """A frame from the `series` of an /api/data answer."""
    rows = [
        (s["metric"], s["source"], ts, None if value is None else float(value))
        for s in series
        for ts, value in s["points"]
    ]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def series_keys(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """The (metric, source) pairs of a frame, in order."""
    return [(m, s) for m, s in frame.select(SERIES).unique(maintain_order=True).iter_rows()]


def with_local_time(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """The frame plus `local_ms`: each bucket's wall-clock time in zone `tz`, as epoch ms."""
    local = (
        pl.from_epoch("ts_ms", time_unit="ms")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(tz)
        .dt.replace_time_zone(None)
        .dt.epoch("ms")
    )
    return frame.with_columns(local.alias("local_ms"))


def moving_average(frame: pl.DataFrame, window: int) -> pl.DataFrame:
    """Each series' trailing mean over `window` buckets (fewer at its start)."""
    return frame.with_columns(
        pl.col("value").rolling_mean(window, min_samples=1).over(SERIES).alias("value")
    )


def shift_forward(frame: pl.DataFrame, query: DataQuery, previous: DataQuery) -> pl.DataFrame:
    """The previous period's buckets moved onto the current period, to be drawn over it."""
    return frame.with_columns(pl.col("ts_ms") + (query.start_ms - previous.start_ms))


def breakdown(frame: pl.DataFrame, by: str, agg: str) -> pl.DataFrame:
    """One value per metric or per source over the whole range (`label`, `value`)."""
    if frame.is_empty():
        return pl.DataFrame(schema={"label": pl.String, "value": pl.Float64})
    return (
        frame.drop_nulls("value")
        .group_by(pl.col(by).alias("label"))
        .agg(_REDUCE[agg].alias("value"))
        .sort("label")
    )


def hour_by_day(frame: pl.DataFrame, tz: str, agg: str) -> pl.DataFrame:
    """One value per local day and hour of day (`day` as YYYY-MM-DD, `hour` 0-23, `value`)."""
    if frame.is_empty():
        return pl.DataFrame(schema={"day": pl.String, "hour": pl.Int8, "value": pl.Float64})
    local = pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC")
    local = local.dt.convert_time_zone(tz)
    return (
        frame.drop_nulls("value")
        .with_columns(
            local.dt.strftime("%Y-%m-%d").alias("day"), local.dt.hour().cast(pl.Int8).alias("hour")
        )
        .group_by("day", "hour")
        .agg(_REDUCE[agg].alias("value"))
        .sort("day", "hour")
    )


def table_rows(frame: pl.DataFrame, tz: str) -> list[dict[str, Any]]:
    """Rows for the table: local ISO 8601 time with its offset, metric, source, value."""
    if frame.is_empty():
        return []
    time_ = (
        pl.from_epoch("ts_ms", time_unit="ms")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(tz)
        .dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    )
    return frame.select(time_.alias("time"), "metric", "source", "value").to_dicts()
