"""GET /api/forecast (CONTRACT §9) and GET /api/forecast/band on real PostgreSQL and Redis:
the contract's shape from history read at step=auto, a cache per step, refusals naming the
field or the history needed, and nothing of another tenant."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import orjson
import pytest

from app.services import Services
from data.domain.points import Point
from data.views.forecasts import cache_key, history_query
from tests.conftest import PASSWORD

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
# history=1d is read at step=auto's 1m; horizon=30m is 30 steps, needing 16 + 3 × 30 = 106
PARAMS = {"history": "1d", "horizon": "30m"}


def write_minutes(services: Services, tenant: str, metric: str, source: str, n: int) -> None:
    """`n` minutes of a 20-minute cycle with some noise, ending at the last closed minute."""
    now = int(time.time() * 1000)
    last = now - now % MINUTE_MS - MINUTE_MS
    points = [
        (
            tenant,
            Point(
                uuid.uuid4().hex,
                source,
                metric,
                last - i * MINUTE_MS + 7_000,
                10 + 3 * math.sin(2 * math.pi * i / 20) + (i * 7919 % 13) / 13,
            ),
        )
        for i in range(n)
    ]
    services.history.write_points(points)


def read_key(services: Services, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}


def get(client: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    return client.get(path, query_string={**PARAMS, **params}, headers=headers)


def test_a_forecast_has_the_contracts_shape(web, services: Services, tenant: str) -> None:
    write_minutes(services, tenant, "fc.cpu", "web-1", 240)
    resp = get(web.test_client(), "/api/forecast", read_key(services, tenant), metric="fc.cpu")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert set(doc) == {"metric", "source", "step_ms", "method", "points", "backtest"}
    assert (doc["metric"], doc["source"], doc["step_ms"]) == ("fc.cpu", "web-1", MINUTE_MS)
    assert len(doc["points"]) == 30 and all(len(p) == 6 for p in doc["points"])
    first_ts = doc["points"][0][0]
    assert first_ts % MINUTE_MS == 0 and first_ts <= int(time.time() * 1000) + MINUTE_MS
    backtest = doc["backtest"]
    assert set(backtest) == {
        "origins",
        "horizon_steps",
        "mae",
        "mase",
        "coverage80",
        "coverage95",
        "baseline",
    }
    assert backtest["horizon_steps"] == 30 and backtest["origins"] >= 3
    assert backtest["baseline"]["method"].startswith(("naive", "seasonal naive"))
    band = get(web.test_client(), "/api/forecast/band", read_key(services, tenant), metric="fc.cpu")
    assert band.status_code == 200, band.get_data(as_text=True)
    body = band.get_json()
    assert set(body) == {"metric", "source", "step_ms", "method", "points"}
    assert len(body["points"]) == 240 and all(len(p) == 6 for p in body["points"])


def test_a_repeat_within_the_step_is_served_from_the_cache(
    web, services: Services, tenant: str
) -> None:
    write_minutes(services, tenant, "fc.cache", "s", 200)
    client, headers = web.test_client(), read_key(services, tenant)
    first = get(client, "/api/forecast", headers, metric="fc.cache").get_json()
    query = history_query(services.now_ms(), "fc.cache", None, 24 * HOUR_MS, "avg")
    key = cache_key(services.live.prefix, tenant, "forecast", query, {"horizon_steps": 30})
    if services.redis.get(key) is None:  # a minute closed in between: ask once more
        first = get(client, "/api/forecast", headers, metric="fc.cache").get_json()
        query = history_query(services.now_ms(), "fc.cache", None, 24 * HOUR_MS, "avg")
        key = cache_key(services.live.prefix, tenant, "forecast", query, {"horizon_steps": 30})
    assert orjson.loads(services.redis.get(key)) == first
    assert 0 < services.redis.pttl(key) <= MINUTE_MS
    services.redis.set(key, orjson.dumps({**first, "method": "from the cache"}), px=MINUTE_MS)
    again = get(client, "/api/forecast", headers, metric="fc.cache").get_json()
    assert again["method"] in ("from the cache", first["method"])  # unless a minute closed


def test_too_little_history_is_422_saying_how_much_is_needed(
    web, services: Services, tenant: str
) -> None:
    write_minutes(services, tenant, "fc.short", "s", 40)
    resp = get(web.test_client(), "/api/forecast", read_key(services, tenant), metric="fc.short")
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "not_enough_history" and "106 steps of 1m" in error["message"]
    (detail,) = error["details"]
    assert detail["field"] == "history" and detail["needed_ms"] == 106 * MINUTE_MS
    assert detail["have_steps"] == 40 and detail["step_ms"] == MINUTE_MS


def test_another_tenants_series_is_never_visible(web, services: Services, tenant: str) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    write_minutes(services, other, "secret.revenue", "shop", 240)
    client, headers = web.test_client(), read_key(services, tenant)
    for path in ("/api/forecast", "/api/forecast/band"):
        for source in (None, "shop"):
            params = {"metric": "secret.revenue"} | ({"source": source} if source else {})
            resp = get(client, path, headers, **params)
            assert resp.status_code == 422, resp.get_data(as_text=True)
            error = resp.get_json()["error"]
            assert error["code"] == "not_enough_history"
            assert error["details"][0]["have_steps"] == 0
            assert "shop" not in resp.get_data(as_text=True)
    own = get(client, "/api/forecast", read_key(services, other), metric="secret.revenue")
    assert own.status_code == 200


def test_a_metric_of_several_sources_needs_one_named(web, services: Services, tenant: str) -> None:
    for source in ("a", "b"):
        write_minutes(services, tenant, "fc.multi", source, 200)
    client, headers = web.test_client(), read_key(services, tenant)
    resp = get(client, "/api/forecast", headers, metric="fc.multi")
    assert resp.status_code == 422
    assert [d["field"] for d in resp.get_json()["error"]["details"]] == ["source"]
    named = get(client, "/api/forecast", headers, metric="fc.multi", source="b")
    assert named.status_code == 200 and named.get_json()["source"] == "b"


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"metric"}),
        ({"metric": "bad name!"}, {"metric"}),
        ({"metric": "m", "source": "a/b"}, {"source"}),
        ({"metric": "m", "horizon": "soon"}, {"horizon"}),
        ({"metric": "m", "horizon": "8d", "history": "92d"}, {"horizon"}),
        ({"metric": "m", "horizon": "7h", "history": "1d"}, {"horizon"}),
        ({"metric": "m", "history": "93d"}, {"history"}),
        ({"metric": "m", "history": "30m"}, {"history"}),
        ({"metric": "m", "agg": "median"}, {"agg"}),
        ({"metric": ["m", "n"]}, {"metric"}),
    ],
)
def test_bad_parameters_are_422_naming_each_field(
    web, services: Services, tenant: str, params: dict[str, Any], fields: set[str]
) -> None:
    resp = web.test_client().get(
        "/api/forecast",
        query_string={"horizon": "1h", "history": "1d", **params},
        headers=read_key(services, tenant),
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_query"
    assert {d["field"] for d in error["details"]} == fields


def test_auth_any_role_or_a_read_key(web, services: Services, tenant: str, make_user) -> None:
    client = web.test_client()
    for path in ("/api/forecast?metric=m", "/api/forecast/band?metric=m"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer pk_nope"}).status_code == 401
        ingest = services.accounts.create_api_key(tenant, "i", "ingest")
        assert client.get(path, headers={"Authorization": f"Bearer {ingest}"}).status_code == 403
        assert client.post(path).status_code in (401, 405)
    viewer = make_user(tenant, "viewer")
    resp = client.post("/login", json={"username": viewer.username, "password": PASSWORD})
    assert resp.status_code == 200
    assert client.get("/api/forecast?metric=m").status_code == 422  # no history, but allowed
    assert client.post("/api/forecast?metric=m").status_code == 405


def test_a_sparse_series_is_too_sparse_to_average_but_counts_its_empty_minutes(
    web, services: Services, tenant: str
) -> None:
    """A point every third minute: as averages two buckets in three are unknown (422
    asking for as many points as half the span), as counts they are zeros."""
    now = int(time.time() * 1000)
    last = now - now % MINUTE_MS - MINUTE_MS
    points = [
        (tenant, Point(uuid.uuid4().hex, "s", "fc.sparse", last - i * MINUTE_MS, 1.0))
        for i in range(0, 360, 3)
    ]
    services.history.write_points(points)
    client, headers = web.test_client(), read_key(services, tenant)
    averaged = get(client, "/api/forecast", headers, metric="fc.sparse")
    assert averaged.status_code == 422
    detail = averaged.get_json()["error"]["details"][0]
    assert detail["have_steps"] == 120 and detail["needed_steps"] == 179
    counted = get(client, "/api/forecast", headers, metric="fc.sparse", agg="count")
    assert counted.status_code == 200, counted.get_data(as_text=True)
    assert all(-1 < p[1] < 2 for p in counted.get_json()["points"])
