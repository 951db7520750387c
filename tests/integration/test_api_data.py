"""GET /api/data (CONTRACT §3 Query) equals a Polars computation over the raw points, for
every aggregation and tier, on generated data; bad parameters are refused one by one;
nothing crosses tenants, cached or not."""

from __future__ import annotations

import math
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import Services
from data.domain.data_query import parse_query
from data.domain.points import Point
from data.stores.queries import CACHE_TTL_S, DataQueries
from tests.conftest import PASSWORD

SECOND_MS = 1_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
AGGS = ["avg", "min", "max", "sum", "count", "last"]
SERIES = [("cpu.usage", "web-1"), ("cpu.usage", "web-2"), ("mem.used", "web-1")]
STEPS = {
    "10s": 10_000,
    "90s": 90_000,
    "1m": MINUTE_MS,
    "7m": 7 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "1d": DAY_MS,
}
WINDOW_MS = 3 * HOUR_MS
# Minute-aligned but not hour-aligned, two days back: inside raw retention, and the window
# crosses hour boundaries mid-way.
BASE_MS = (int(time.time() * 1000) - 2 * DAY_MS) // HOUR_MS * HOUR_MS + 47 * MINUTE_MS

Answer = dict[tuple[str, str], list[list[Any]]]


# -- helpers ------------------------------------------------------------------------------


def write(services: Services, tenant: str, rows: list[tuple[str, str, int, float]]) -> None:
    services.history.write_points(
        [(tenant, Point(uuid.uuid4().hex, src, metric, ts, v)) for metric, src, ts, v in rows]
    )


def read_key(services: Services, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}


def get(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = client.get("/api/data", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc: dict[str, Any] = resp.get_json()
    return doc


def by_series(doc: dict[str, Any]) -> Answer:
    keys = [(s["metric"], s["source"]) for s in doc["series"]]
    assert keys == sorted(keys), "series are sorted by metric, then source"
    assert len(set(keys)) == len(keys), "one series per (metric, source)"
    return {(s["metric"], s["source"]): s["points"] for s in doc["series"]}


def reference(
    rows: list[tuple[str, str, int, float]],
    metrics: list[str],
    sources: list[str],
    start_ms: int,
    end_ms: int,
    step_ms: int,
    agg: str,
) -> Answer:
    """Per series, [bucket start, value] of the raw points in the buckets overlapping
    [start, end), computed by Polars from the raw points alone."""
    frame = pl.DataFrame(
        rows,
        schema={"metric": pl.String, "source": pl.String, "ts": pl.Int64, "value": pl.Float64},
        orient="row",
    )
    first = start_ms - start_ms % step_ms
    stop = -(-end_ms // step_ms) * step_ms
    frame = frame.filter(
        pl.col("metric").is_in(metrics),
        pl.col("ts") >= first,
        pl.col("ts") < stop,
        *([pl.col("source").is_in(sources)] if sources else []),
    )
    exprs = {
        "avg": pl.col("value").mean(),
        "min": pl.col("value").min(),
        "max": pl.col("value").max(),
        "sum": pl.col("value").sum(),
        "count": pl.len(),
        "last": pl.col("value").sort_by("ts").last(),
    }
    grouped = (
        frame.with_columns(bucket=pl.col("ts") - pl.col("ts") % step_ms)
        .group_by("metric", "source", "bucket")
        .agg(exprs[agg].alias("out"))
        .sort("metric", "source", "bucket")
    )
    out: Answer = {}
    for metric, source, bucket, value in grouped.iter_rows():
        out.setdefault((metric, source), []).append([bucket, value])
    return out


def assert_same(got: Answer, want: Answer, agg: str) -> None:
    assert got.keys() == want.keys()
    for key, points in want.items():
        assert [ts for ts, _ in got[key]] == [ts for ts, _ in points], key
        for (_, g), (_, w) in zip(got[key], points, strict=True):
            if agg == "count":
                assert g == w and isinstance(g, int)
            else:
                assert math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-9), (key, g, w)


def as_time(ms: int, form: str) -> str:
    if form == "epoch":
        return f"{ms / 1000:.3f}"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


# -- equal to Polars over the raw points -------------------------------------------------

# Values are multiples of 1/8 with few digits, so every sum is exact whatever its order.
values = st.integers(-8_000_000, 8_000_000).map(lambda n: n / 8)
# Offsets crowd into a few minutes (either side of hour boundaries) as well as spreading
# over the window, so that rollup buckets hold several points and bigger buckets several
# rollup rows: that is where combining them can go wrong.
busy_minute = st.sampled_from([12, 13, 14, 72, 73, 133, 179])
any_minute = st.integers(0, WINDOW_MS // MINUTE_MS - 1)
offsets = st.tuples(busy_minute | any_minute, st.integers(0, MINUTE_MS - 1)).map(
    lambda t: t[0] * MINUTE_MS + t[1]
)
series_points = st.lists(
    st.tuples(st.sampled_from(SERIES), offsets, values),
    max_size=150,
    unique_by=lambda row: (row[0], row[1]),  # distinct ts per series: `last` is one value
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    generated=series_points,
    bounds=st.tuples(st.integers(-HOUR_MS, WINDOW_MS), st.integers(1, WINDOW_MS + HOUR_MS)),
    step=st.sampled_from(sorted(STEPS)),
    metrics=st.sampled_from([["cpu.usage"], ["mem.used", "cpu.usage"], ["cpu.usage", "nope"]]),
    sources=st.sampled_from([[], ["web-1"], ["web-2", "web-9"]]),
    form=st.sampled_from(["epoch", "rfc3339"]),
)
def test_every_agg_and_tier_equals_polars_over_raw_points(
    web, services: Services, generated, bounds, step, metrics, sources, form
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    headers = read_key(services, tenant)
    rows = [(m, s, BASE_MS + offset, v) for (m, s), offset, v in generated]
    write(services, tenant, rows)
    start_ms = BASE_MS + bounds[0]
    end_ms = start_ms + bounds[1]
    client = web.test_client()
    for agg in AGGS:
        doc = get(
            client,
            headers,
            metric=metrics,
            source=sources,
            agg=agg,
            step=step,
            start=as_time(start_ms, form),
            end=as_time(end_ms, form),
        )
        for series in doc["series"]:
            assert (series["step"], series["agg"]) == (step, agg)
        want = reference(rows, metrics, sources, start_ms, end_ms, STEPS[step], agg)
        assert_same(by_series(doc), want, agg)


def test_dense_data_every_agg_and_step_equals_polars(web, services: Services, tenant: str) -> None:
    """Thousands of points, several per minute: every step and agg against the reference."""
    rng = random.Random(4)
    rows = [
        (*rng.choice(SERIES), BASE_MS + rng.randrange(WINDOW_MS), rng.randint(-(10**6), 10**6) / 8)
        for _ in range(3000)
    ]
    rows = list({(m, s, ts): (m, s, ts, v) for m, s, ts, v in rows}.values())  # distinct ts
    write(services, tenant, rows)
    client, headers = web.test_client(), read_key(services, tenant)
    start_ms, end_ms = BASE_MS + 5 * MINUTE_MS + 123, BASE_MS + WINDOW_MS - 17 * MINUTE_MS
    metrics = ["cpu.usage", "mem.used"]
    for step, step_ms in STEPS.items():
        for agg in AGGS:
            doc = get(
                client,
                headers,
                metric=metrics,
                agg=agg,
                step=step,
                start=as_time(start_ms, "epoch"),
                end=as_time(end_ms, "rfc3339"),
            )
            want = reference(rows, metrics, [], start_ms, end_ms, step_ms, agg)
            assert want, "the data set fills the range"
            assert_same(by_series(doc), want, agg)


def test_the_tier_follows_the_step() -> None:
    now = int(time.time() * 1000)
    tier = {
        step: parse_query({"metric": ["m"], "step": [step]}, now).tier
        for step in ("10s", "90s", "1m", "7m", "1h", "2h", "1d")
    }
    assert tier == {
        "10s": "raw",
        "90s": "raw",
        "1m": "1m",
        "7m": "1m",
        "1h": "1h",
        "2h": "1h",
        "1d": "1h",
    }


@pytest.mark.parametrize(
    ("span_ms", "step"),
    [
        (15 * MINUTE_MS, "1s"),
        (HOUR_MS, "5s"),
        (6 * HOUR_MS, "15s"),
        (12 * HOUR_MS, "1m"),
        (24 * HOUR_MS, "1m"),
        (7 * DAY_MS, "10m"),
        (15 * DAY_MS, "15m"),
        (16 * DAY_MS, "1h"),
        (30 * DAY_MS, "1h"),
        (400 * DAY_MS, "12h"),
    ],
)
def test_auto_step_is_the_smallest_nice_step_within_1500_points_of_a_cheap_tier(
    web, services: Services, tenant: str, span_ms: int, step: str
) -> None:
    """A point every bucket at the finest step would overflow 1,500; auto keeps ≤ 1,500,
    reading raw points up to 6 h and minute rollups up to 15 days (12 h come at 1m, not
    30s; 30 days at 1h from rollup_1h, not 30m from 43,200 minute rows a series)."""
    end_ms = int(time.time() * 1000)
    start_ms = end_ms - span_ms
    every = max(span_ms // 3000, SECOND_MS)
    recent = max(start_ms, end_ms - 13 * DAY_MS)  # raw points stay within raw retention
    rows = [("auto.m", "s1", ts, float(i)) for i, ts in enumerate(range(recent, end_ms, every))]
    write(services, tenant, rows)
    doc = get(
        web.test_client(),
        read_key(services, tenant),
        metric="auto.m",
        agg="count",
        start=str(start_ms / 1000),
        end=str(end_ms / 1000),
    )
    (series,) = doc["series"]
    assert series["step"] == step
    assert 0 < len(series["points"]) <= 1500
    step_ms = parse_query({"metric": ["m"], "step": [step]}, end_ms).step_ms
    want = reference(rows, ["auto.m"], [], start_ms, end_ms, step_ms, "count")
    assert_same(by_series(doc), want, "count")


def test_relative_times_resolve_against_now_and_whole_buckets(
    web, services: Services, tenant: str
) -> None:
    now = int(time.time() * 1000)
    rows = [("rel.m", "s", now - minutes * MINUTE_MS, float(minutes)) for minutes in range(120)]
    write(services, tenant, rows)
    headers = read_key(services, tenant)
    client = web.test_client()
    doc = get(client, headers, metric="rel.m", start="now-15m", end="now", step="1m", agg="sum")
    want = reference(rows, ["rel.m"], [], now - 15 * MINUTE_MS, now, MINUTE_MS, "sum")
    assert_same(by_series(doc), want, "sum")
    assert 15 <= len(doc["series"][0]["points"]) <= 16
    default = get(client, headers, metric="rel.m", step="1h", agg="count")  # now-1h .. now
    assert sum(v for _, v in default["series"][0]["points"]) >= 60


def test_an_empty_range_and_an_unknown_metric_answer_no_series(
    web, services: Services, tenant: str
) -> None:
    write(services, tenant, [("here.m", "s", BASE_MS, 1.0)])
    client, headers = web.test_client(), read_key(services, tenant)
    assert get(client, headers, metric="here.m", start="now-5m")["series"] == []
    assert get(client, headers, metric="never.seen", start="now-7d")["series"] == []


# -- tenants and the cache ------------------------------------------------------------------


def test_another_tenants_metric_never_returns_data(web, services: Services, tenant: str) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    write(services, other, [("secret.revenue", "shop", BASE_MS + i, 1e6) for i in range(10)])
    client, headers = web.test_client(), read_key(services, tenant)
    for agg in AGGS:
        for step in ("10s", "1m", "1h", "auto"):
            doc = get(
                client,
                headers,
                metric="secret.revenue",
                agg=agg,
                step=step,
                start=str((BASE_MS - HOUR_MS) // 1000),
                end=str((BASE_MS + HOUR_MS) // 1000),
            )
            assert doc["series"] == []


def test_the_cache_is_per_tenant(web, services: Services) -> None:
    """Two tenants asking the very same query within the cache's life get their own data."""
    tenants = [f"t-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    now = int(time.time() * 1000)
    for n, tenant in enumerate(tenants):
        write(services, tenant, [("shared.name", "s", now - 30_000, float(n + 1))])
    client = web.test_client()
    query = {"metric": "shared.name", "start": "now-10m", "step": "1m", "agg": "max"}
    answers = [get(client, read_key(services, t), **query) for t in tenants]
    assert [a["series"][0]["points"][-1][1] for a in answers] == [1.0, 2.0]
    parsed = parse_query({k: [v] for k, v in query.items()}, services.now_ms())
    cache = DataQueries(services.engine, services.live)
    for tenant, answer in zip(tenants, answers, strict=True):
        key = cache.cache_key(tenant, parsed)
        assert 0 < services.redis.ttl(key) <= CACHE_TTL_S
        assert orjson.loads(services.redis.get(key))["series"] == answer["series"]


def test_a_cached_answer_is_served_within_its_bucket(web, services: Services, tenant: str) -> None:
    """Relative times resolve to whole buckets: a repeat within the TTL is a hit."""
    now = int(time.time() * 1000)
    write(services, tenant, [("hit.m", "s", now - 5 * MINUTE_MS, 1.0)])
    client, headers = web.test_client(), read_key(services, tenant)
    first = get(client, headers, metric="hit.m", start="now-1d", step="1h", agg="count")
    write(services, tenant, [("hit.m", "s", now - 4 * MINUTE_MS, 1.0)])
    again = get(client, headers, metric="hit.m", start="now-1d", step="1h", agg="count")
    assert again == first  # served from the cache
    fresh = get(client, headers, metric="hit.m", start="now-1d", step="1m", agg="count")
    assert sum(v for _, v in fresh["series"][0]["points"]) == 2


def test_the_answer_carries_the_live_cursor(web, services: Services, tenant: str) -> None:
    cursor = services.live.publish_points(tenant, [Point("c1", "s", "cur.m", BASE_MS, 1.0)])
    doc = get(web.test_client(), read_key(services, tenant), metric="cur.m", start="now-1h")
    assert doc["cursor"] == cursor


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"metric"}),
        ({"metric": "bad name!"}, {"metric"}),
        ({"metric": ["m"] * 0 + [f"m{i}" for i in range(21)]}, {"metric"}),
        ({"metric": "m", "source": "a/b"}, {"source"}),
        ({"metric": "m", "start": "yesterday"}, {"start"}),
        ({"metric": "m", "start": "now-3y"}, {"start"}),
        ({"metric": "m", "end": "2026-01-01T00:00:00"}, {"end"}),  # no zone
        ({"metric": "m", "start": "now", "end": "now-1h"}, {"end"}),
        ({"metric": "m", "start": "now-1h", "end": "now-1h"}, {"end"}),
        ({"metric": "m", "start": "now-500d"}, {"end"}),
        ({"metric": "m", "start": "now-30d", "step": "10s"}, {"step"}),
        ({"metric": "m", "step": "0m"}, {"step"}),
        ({"metric": "m", "step": "1.5m"}, {"step"}),
        ({"metric": "m", "step": "999999w"}, {"step"}),
        ({"metric": "m", "agg": "median"}, {"agg"}),
        ({"metric": "m", "agg": ["avg", "max"]}, {"agg"}),
        ({"start": "soon", "agg": "p99", "step": "x"}, {"metric", "start", "agg", "step"}),
    ],
)
def test_bad_parameters_are_422_with_one_detail_each(
    web, services: Services, tenant: str, params: dict[str, Any], fields: set[str]
) -> None:
    resp = web.test_client().get(
        "/api/data", query_string=params, headers=read_key(services, tenant)
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_query"
    assert {d["field"] for d in error["details"]} == fields
    assert all(d["message"] for d in error["details"])


def test_auth_any_role_or_a_read_key(web, services: Services, tenant: str, make_user) -> None:
    client = web.test_client()
    assert client.get("/api/data?metric=m").status_code == 401
    bad = {"Authorization": "Bearer pk_nope"}
    assert client.get("/api/data?metric=m", headers=bad).status_code == 401
    ingest = {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'i', 'ingest')}"}
    assert client.get("/api/data?metric=m", headers=ingest).status_code == 403
    viewer = make_user(tenant, "viewer")
    resp = client.post("/login", json={"username": viewer.username, "password": PASSWORD})
    assert resp.status_code == 200
    assert client.get("/api/data?metric=m").status_code == 200
    assert client.post("/api/data?metric=m").status_code == 405


def test_a_range_across_the_raw_retention_boundary_answers_what_each_tier_keeps(
    web, services: Services, tenant: str
) -> None:
    """Retention drops raw partitions past RETENTION_RAW_DAYS but keeps their rollups: a
    raw-tier query across the boundary answers only the retained raw points (and equals
    Polars over them), a minute-tier one still answers both sides from the rollups."""
    from app.worker.jobs import maintain_partitions

    now = services.now_ms()
    cutoff = now - services.settings.retention_raw_days * 86_400_000
    old = [("ret.m", "web-1", cutoff - 30 * 3_600_000 + i * 1000, float(i)) for i in range(5)]
    new = [("ret.m", "web-1", cutoff + 6 * 3_600_000 + i * 1000, 10.0 + i) for i in range(5)]
    write(services, tenant, old + new)
    maintain_partitions(services)  # drops the old day's raw partition, not its rollups
    headers = read_key(services, tenant)
    start, end = cutoff - 36 * 3_600_000, cutoff + 12 * 3_600_000
    params = {"metric": "ret.m", "start": start / 1000, "end": end / 1000, "agg": "sum"}
    raw = by_series(get(web.test_client(), headers, step="30s", **params))
    assert raw == reference(new, ["ret.m"], [], start, end, 30_000, "sum")
    minutes = by_series(get(web.test_client(), headers, step="1m", **params))
    assert minutes == reference(old + new, ["ret.m"], [], start, end, 60_000, "sum")
