"""1-minute and 1-hour rollups stay equal to a Polars computation over the distinct raw points,
whatever the batching, the arrival order, late points and resent data_ids."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.services import Services
from data.domain.points import Point
from data.stores.history import to_ms

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
# Minute-aligned but not hour-aligned, so the window crosses hour boundaries mid-way.
BASE_MS = to_ms(datetime(2024, 3, 31, 0, 47, tzinfo=UTC))
WINDOW_MS = 3 * HOUR_MS
SERIES = [("cpu.usage", "web-1"), ("cpu.usage", "web-2"), ("mem.used", "web-1")]
TABLES = {"rollup_1m": "1m", "rollup_1h": "1h"}

Key = tuple[str, str, int]  # metric, source, bucket start in epoch ms


@dataclass(frozen=True)
class Rollup:
    """One bucket of one series as stored, or as Polars computes it."""

    count: int
    sum: float
    sum_abs: float  # the scale of the sum, for its rounding tolerance
    min: float
    max: float
    last_ts_ms: int
    last: frozenset[float]  # every acceptable `last`: the values at the bucket's greatest ts


def expected_rollups(points: list[Point], every: str) -> dict[Key, Rollup]:
    """Per series and bucket of `every`, the rollup of the distinct points, by Polars."""
    frame = pl.DataFrame(
        {
            "metric": [p.metric for p in points],
            "source": [p.source for p in points],
            "ts_ms": [p.ts_ms for p in points],
            "value": [p.value for p in points],
        },
        schema={"metric": pl.String, "source": pl.String, "ts_ms": pl.Int64, "value": pl.Float64},
    )
    grouped = (
        frame.with_columns(ts=pl.from_epoch("ts_ms", time_unit="ms").dt.replace_time_zone("UTC"))
        .with_columns(bucket=pl.col("ts").dt.truncate(every))
        .group_by("metric", "source", "bucket")
        .agg(
            count=pl.len(),
            sum=pl.col("value").sum(),
            sum_abs=pl.col("value").abs().sum(),
            min=pl.col("value").min(),
            max=pl.col("value").max(),
            last_ts=pl.col("ts").max(),
            last=pl.col("value").filter(pl.col("ts") == pl.col("ts").max()),
        )
        .with_columns(pl.col("bucket", "last_ts").dt.epoch("ms"))
    )
    return {
        (row["metric"], row["source"], row["bucket"]): Rollup(
            row["count"],
            row["sum"],
            row["sum_abs"],
            row["min"],
            row["max"],
            row["last_ts"],
            frozenset(row["last"]),
        )
        for row in grouped.iter_rows(named=True)
    }


def stored_rollups(services: Services, table: str, tenant: str) -> dict[Key, Rollup]:
    """The tenant's rows of a rollup table, as PostgreSQL holds them."""
    assert table in TABLES
    query = text(
        f"SELECT metric_type, source, bucket, count, sum, min, max, last, last_ts "
        f"FROM {table} WHERE tenant_id = :t"
    )
    with services.engine.connect() as conn:
        rows = conn.execute(query, {"t": tenant}).all()
    return {
        (metric, source, to_ms(bucket)): Rollup(
            count, sum_, abs(sum_), min_, max_, to_ms(last_ts), frozenset([last])
        )
        for metric, source, bucket, count, sum_, min_, max_, last, last_ts in rows
    }


def stored_points(services: Services, tenant: str) -> list[tuple[str, str, str, int, float]]:
    """The tenant's raw points, sorted by data_id."""
    query = text(
        "SELECT data_id, metric_type, source, ts, value FROM points "
        "WHERE tenant_id = :t ORDER BY data_id"
    )
    with services.engine.connect() as conn:
        return [(d, m, s, to_ms(ts), v) for d, m, s, ts, v in conn.execute(query, {"t": tenant})]


def assert_rollups_match(services: Services, tenant: str, distinct: list[Point]) -> None:
    """Both rollup tables equal Polars over the distinct points: same buckets, same figures."""
    for table, every in TABLES.items():
        expected = expected_rollups(distinct, every)
        stored = stored_rollups(services, table, tenant)
        assert sorted(stored) == sorted(expected), f"{table}: buckets differ"
        for key, want in expected.items():
            got = stored[key]
            where = f"{table} {key}"
            assert got.count == want.count, f"{where}: count {got.count} != {want.count}"
            assert math.isclose(got.sum, want.sum, rel_tol=0, abs_tol=1e-12 * want.sum_abs), (
                f"{where}: sum {got.sum} != {want.sum}"
            )
            assert (got.min, got.max) == (want.min, want.max), f"{where}: min/max differ"
            assert got.last_ts_ms == want.last_ts_ms, f"{where}: last_ts differs"
            assert got.last <= want.last, f"{where}: last {set(got.last)} not in {set(want.last)}"


def new_tenant(services: Services) -> str:
    """A fresh tenant, so that hypothesis examples never see each other's points."""
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, tenant_id)
    return tenant_id


# Timestamps anywhere in the window; in a few hot minutes around the hour boundary at 01:00,
# so that buckets fill up across batches; or on/next to a minute (and so hour) boundary, where
# several points often share one ts.
HOT_MS = 13 * MINUTE_MS  # 01:00, from BASE_MS at 00:47
offsets = st.one_of(
    st.integers(0, WINDOW_MS - 1),
    st.integers(HOT_MS - 2 * MINUTE_MS, HOT_MS + 2 * MINUTE_MS - 1),
    st.builds(
        lambda minute, delta: min(max(minute * MINUTE_MS + delta, 0), WINDOW_MS - 1),
        st.integers(0, WINDOW_MS // MINUTE_MS),
        st.sampled_from([-1, 0, 1]),
    ),
)
# Small integers too, so that min, max and `last` see ties.
values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.integers(-3, 3).map(float),
)
# The size is drawn first: plain st.lists stays small, and rollups need full buckets.
point_specs = st.integers(1, 180).flatmap(
    lambda n: st.lists(st.tuples(st.sampled_from(SERIES), offsets, values), min_size=n, max_size=n)
)


# Every example costs database round trips, so a failure takes minutes to shrink: one bug is
# shrunk at a time, without the explain phase, and hypothesis' own 300 s shrinking cap must
# end (and report the example) before pytest's timeout does.
@pytest.mark.timeout(480)
@settings(
    max_examples=25,
    deadline=None,
    database=None,  # no .hypothesis/ directory left in the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    report_multiple_bugs=False,
)
@given(specs=point_specs, data=st.data())
def test_rollups_equal_polars_over_distinct_points_despite_late_and_resent_points(
    services: Services, specs: list[tuple[tuple[str, str], int, float]], data: st.DataObject
) -> None:
    """Shuffled batches (late, out-of-order points) plus resent data_ids, within a batch or
    from earlier ones, leave both rollup tables equal to Polars over the distinct points."""
    tenant = new_tenant(services)
    points = [
        Point(f"p{i}", source, metric, BASE_MS + offset, value)
        for i, ((metric, source), offset, value) in enumerate(specs)
    ]
    order = data.draw(st.permutations(points), label="arrival order")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=6), label="cuts"))
    bounds = [0, *cuts, len(order)]
    written: list[Point] = []
    for start, end in pairwise(bounds):
        fresh = order[start:end]
        resent = data.draw(st.lists(st.sampled_from(written), max_size=10)) if written else []
        doubled = data.draw(st.lists(st.sampled_from(fresh), max_size=5)) if fresh else []
        batch = data.draw(st.permutations([*fresh, *resent, *doubled]), label="batch")
        result = services.history.write_points([(tenant, p) for p in batch])
        assert result.count == len(fresh), "only new points are new"
        assert {p for p in batch if result.is_new(tenant, p)} == set(fresh)
        written.extend(fresh)

    assert stored_points(services, tenant) == sorted(
        (p.data_id, p.metric, p.source, p.ts_ms, p.value) for p in points
    )
    assert_rollups_match(services, tenant, points)


def _at(clock: str) -> int:
    """Epoch ms of a time of day on 2024-05-06, UTC."""
    return to_ms(datetime.fromisoformat(f"2024-05-06T{clock}+00:00"))


def test_late_points_update_last_only_when_newer_and_resends_change_nothing(
    services: Services, tenant: str
) -> None:
    """An older late point keeps the bucket's `last`; a late point newer than the bucket's
    last_ts replaces it (in its minute, not in an hour that has a newer point); a resent
    data_id changes no rollup."""
    ten = ("cpu.usage", "web-1", _at("10:00:00"))  # the minute 10:00 and the hour 10:00

    def write(*points: Point) -> int:
        return services.history.write_points([(tenant, p) for p in points]).count

    def rollups() -> tuple[dict[Key, Rollup], dict[Key, Rollup]]:
        return (
            stored_rollups(services, "rollup_1m", tenant),
            stored_rollups(services, "rollup_1h", tenant),
        )

    a = Point("a", "web-1", "cpu.usage", _at("10:00:30"), 1.0)
    b = Point("b", "web-1", "cpu.usage", _at("10:00:50"), 2.0)
    write(a, b)
    older = Point("older", "web-1", "cpu.usage", _at("10:00:10"), 99.0)
    write(older)
    m, h = rollups()
    assert m[ten] == Rollup(3, 102.0, 102.0, 1.0, 99.0, _at("10:00:50"), frozenset([2.0]))
    assert h[ten].last == frozenset([2.0])

    later_minute = Point("d", "web-1", "cpu.usage", _at("10:05:00"), 5.0)
    write(later_minute)
    newer = Point("newer", "web-1", "cpu.usage", _at("10:00:55"), 7.0)
    write(newer)
    m, h = rollups()
    assert m[ten] == Rollup(4, 109.0, 109.0, 1.0, 99.0, _at("10:00:55"), frozenset([7.0]))
    assert m[("cpu.usage", "web-1", _at("10:05:00"))].last == frozenset([5.0])
    assert h[ten] == Rollup(5, 114.0, 114.0, 1.0, 99.0, _at("10:05:00"), frozenset([5.0]))

    before = rollups()
    assert write(older, newer, later_minute) == 0
    assert rollups() == before
    assert services.history.count_points(tenant) == 5
