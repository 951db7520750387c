"""POST /api/ingest: every refusal of the contract answers its status and JSON error, and
queues nothing; accepted bodies queue exactly their points. Plus the /api surface itself."""

from __future__ import annotations

import io
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from app.services import Services
from data.domain.points import MAX_BODY_BYTES, MAX_POINTS
from data.stores.schema_accounts import api_keys
from tests.conftest import PASSWORD, FakeClock


def now_s() -> float:
    return time.time()


def point(**overrides: Any) -> dict[str, Any]:
    """A valid point as a client sends it."""
    raw: dict[str, Any] = {
        "data_id": f"p-{uuid.uuid4().hex}",
        "source": "web-1",
        "metric_type": "cpu.usage",
        "timestamp": round(now_s() - 1, 3),
        "value": 42.0,
    }
    raw.update(overrides)
    return raw


def points(n: int) -> list[dict[str, Any]]:
    return [point(value=float(i)) for i in range(n)]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def queued(services: Services) -> int:
    """How many entries the ingest stream holds (entries are never removed by the worker)."""
    return int(services.redis.xlen(services.live.ingest_key))


def queued_points(services: Services, tenant: str) -> list[list[Any]]:
    """Every packed point of the tenant in the ingest stream."""
    out: list[list[Any]] = []
    for _, fields in services.redis.xrange(services.live.ingest_key):
        if fields[b"t"].decode() == tenant:
            out.extend(orjson.loads(fields[b"p"]))
    return out


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape, with this status (and code); returns the error object."""
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    if code is not None:
        assert error["code"] == code
    return error


@pytest.fixture
def refused(client, services: Services, ingest_key: str) -> Callable[..., dict[str, Any]]:
    """POST a body with the ingest key, assert the refusal and that nothing was queued."""

    def post(
        status: int, code: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        before = queued(services)
        if headers is None:
            headers = bearer(ingest_key)
        resp = client.post("/api/ingest", headers=headers, **kwargs)
        error = assert_error(resp, status, code)
        assert queued(services) == before, "a refused request queued points"
        return error

    return post


def login(client: Any, user: Any) -> None:
    resp = client.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200, resp.get_data(as_text=True)


# -- who may ingest ------------------------------------------------------------------------


def test_no_credentials_is_401(refused) -> None:
    refused(401, "unauthenticated", headers={}, json=points(1))


@pytest.mark.parametrize(
    "header",
    ["Bearer pk_0000000000000000_notarealkey", "Bearer nonsense", "Bearer "],
)
def test_unknown_key_is_401(refused, header: str) -> None:
    refused(401, "unauthenticated", headers={"Authorization": header}, json=points(1))


def test_revoked_key_is_401(refused, services: Services, tenant: str) -> None:
    key = services.accounts.create_api_key(tenant, "revoked", "ingest")
    services.accounts.revoke_api_key(key.split("_")[1])
    refused(401, "unauthenticated", headers=bearer(key), json=points(1))


def test_revocation_is_stamped_by_the_injected_clock(
    services: Services, tenant: str, clock: FakeClock
) -> None:
    key_id = services.accounts.create_api_key(tenant, "revoked", "ingest").split("_")[1]
    clock.advance(86_400)
    services.accounts.revoke_api_key(key_id)
    with services.engine.connect() as conn:
        revoked_at = conn.execute(
            select(api_keys.c.revoked_at).where(api_keys.c.key_id == key_id)
        ).scalar_one()
    assert abs(revoked_at.timestamp() - clock()) < 5


def test_read_scope_key_is_403(refused, services: Services, tenant: str) -> None:
    key = services.accounts.create_api_key(tenant, "reader", "read")
    refused(403, "forbidden", headers=bearer(key), json=points(1))


def test_viewer_session_is_403(client, refused, tenant: str, make_user) -> None:
    login(client, make_user(tenant, "viewer"))
    refused(403, "forbidden", headers={}, json=points(1))


def test_analyst_session_may_ingest(client, services: Services, tenant: str, make_user) -> None:
    login(client, make_user(tenant, "analyst"))
    resp = client.post("/api/ingest", json=points(3))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 3}
    assert len(queued_points(services, tenant)) == 3


def test_admin_session_may_ingest(client, services: Services, tenant: str, make_user) -> None:
    login(client, make_user(tenant, "admin"))
    resp = client.post("/api/ingest", json=points(2))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 2}


# -- size limits ---------------------------------------------------------------------------


class UnreadBody(io.RawIOBase):
    """A request body that records whether the server read any of it."""

    def __init__(self) -> None:
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        data = b"[" + b" " * (len(buffer) - 1)
        buffer[: len(data)] = data
        return len(data)


def test_body_declared_over_5_mib_is_413_without_being_read(refused) -> None:
    body = UnreadBody()
    declared = {"wsgi.input": body, "CONTENT_LENGTH": str(MAX_BODY_BYTES + 1)}
    refused(413, "body_too_large", environ_overrides=declared, content_type="application/json")
    assert body.reads == 0


def test_body_over_5_mib_is_413(refused) -> None:
    padding = " " * (MAX_BODY_BYTES + 1 - 2)
    refused(413, "body_too_large", data=f"[{padding}]", content_type="application/json")


def test_body_over_5_mib_without_content_length_is_413(refused) -> None:
    """A chunked body (no Content-Length) is cut off at the limit, not read to the end."""
    body = io.BytesIO(b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]")
    chunked = {"wsgi.input": body, "wsgi.input_terminated": True}
    refused(413, "body_too_large", environ_overrides=chunked, content_type="application/json")
    assert body.tell() <= MAX_BODY_BYTES + 1


def test_more_than_10000_points_is_413(refused) -> None:
    many = [{"source": "s", "metric_type": "m", "timestamp": now_s(), "value": 1}] * (
        MAX_POINTS + 1
    )
    refused(413, "too_many_points", json=many)
    refused(413, "too_many_points", json={"points": many})


def test_exactly_10000_points_are_accepted(
    client, services: Services, tenant: str, ingest_key: str
) -> None:
    resp = client.post("/api/ingest", json=points(MAX_POINTS), headers=bearer(ingest_key))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": MAX_POINTS}
    assert len(queued_points(services, tenant)) == MAX_POINTS


# -- bodies that are not points ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[{",
        b"",
        b'"a string"',
        b"42",
        b"null",
        b'{"source": "s"}',
        b'{"points": [], "more": 1}',
    ],
)
def test_body_that_is_not_json_points_is_400(refused, body: bytes) -> None:
    refused(400, "invalid_body", data=body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),
        (b'{"points": []}', "application/json"),
        (b"", "application/x-ndjson"),
        (b"\n\n", "application/x-ndjson"),
    ],
)
def test_no_points_is_422(refused, body: bytes, content_type: str) -> None:
    refused(422, "no_points", data=body, content_type=content_type)


# -- bad points: 422, one details entry per problem, nothing queued ------------------------


def test_one_bad_point_among_many_refuses_the_whole_batch(refused) -> None:
    batch = points(50)
    batch[17]["value"] = "high"
    error = refused(422, "invalid_points", json=batch)
    assert error["details"] == [{"index": 17, "field": "value", "message": "must be a number"}]


def test_every_bad_point_is_reported_in_index_order(refused) -> None:
    batch = points(20)
    batch[15]["source"] = "bad source"
    batch[2]["metric_type"] = ""
    batch[9]["timestamp"] = "2025-11-27T22:07:32"
    error = refused(422, "invalid_points", json=batch)
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (2, "metric_type"),
        (9, "timestamp"),
        (15, "source"),
    ]
    assert all(set(d) == {"index", "field", "message"} and d["message"] for d in error["details"])


def raw_batch(bad_value_text: str, size: int = 5, bad_index: int = 3) -> str:
    """A JSON array as text, with one point's value spelled as given (NaN, 1e400…)."""
    parts = []
    for i in range(size):
        value = bad_value_text if i == bad_index else str(float(i))
        parts.append(
            f'{{"source": "web-1", "metric_type": "cpu.usage", '
            f'"timestamp": {now_s() - 1:.3f}, "value": {value}}}'
        )
    return "[" + ", ".join(parts) + "]"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"])
def test_non_finite_values_are_422(refused, text: str) -> None:
    error = refused(422, "invalid_points", data=raw_batch(text), content_type="application/json")
    assert [(d["index"], d["field"]) for d in error["details"]] == [(3, "value")]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"value": True}, "value"),
        ({"value": "42"}, "value"),
        ({"value": None}, "value"),
        ({"timestamp": "tomorrow"}, "timestamp"),
        ({"timestamp": "2025-11-27T22:07:32"}, "timestamp"),  # naive
        ({"timestamp": "2000-01-01T00:00:00Z"}, "timestamp"),  # before retention
        ({"source": "has space"}, "source"),
        ({"source": "x" * 129}, "source"),
        ({"metric_type": "sales/orders"}, "metric_type"),
        ({"metric_type": ""}, "metric_type"),
        ({"data_id": "x" * 65}, "data_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_422_with_their_field(
    refused, overrides: dict[str, Any], field: str
) -> None:
    batch = points(3)
    batch[1].update(overrides)
    error = refused(422, "invalid_points", json=batch)
    assert [(d["index"], d["field"]) for d in error["details"]] == [(1, field)]


def test_timestamp_more_than_5_minutes_ahead_is_422(refused) -> None:
    batch = [point(timestamp=now_s() + 6 * 60), point(timestamp=now_s() + 60)]
    error = refused(422, "invalid_points", json=batch)
    assert error["details"] == [
        {"index": 0, "field": "timestamp", "message": "is more than 5 minutes in the future"}
    ]


@pytest.mark.parametrize("field", ["source", "metric_type", "timestamp", "value"])
def test_missing_required_field_is_422(refused, field: str) -> None:
    batch = points(2)
    del batch[0][field]
    error = refused(422, "invalid_points", json=batch)
    assert error["details"] == [{"index": 0, "field": field, "message": "is required"}]


def test_point_that_is_not_an_object_is_422(refused) -> None:
    error = refused(422, "invalid_points", json=[point(), [1, 2, 3]])
    assert [(d["index"], d["field"]) for d in error["details"]] == [(1, "")]


def test_ndjson_line_that_is_not_json_is_422_at_its_index(refused) -> None:
    lines = [orjson.dumps(p) for p in points(4)]
    lines[2] = b'{"source": "web-1", '
    error = refused(
        422, "invalid_points", data=b"\n".join(lines), content_type="application/x-ndjson"
    )
    assert [d["index"] for d in error["details"]] == [2]


def test_ndjson_bad_point_is_422(refused) -> None:
    body = raw_batch("NaN", size=3, bad_index=0)[1:-1].replace("}, {", "}\n{")
    error = refused(422, "invalid_points", data=body, content_type="application/x-ndjson")
    assert [(d["index"], d["field"]) for d in error["details"]] == [(0, "value")]


# -- accepted bodies -----------------------------------------------------------------------


def test_json_array_is_accepted_and_queued_exactly(
    client, services: Services, tenant: str, ingest_key: str
) -> None:
    batch = points(7)
    before = queued(services)
    resp = client.post("/api/ingest", json=batch, headers=bearer(ingest_key))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 7}
    assert queued(services) > before
    stored = queued_points(services, tenant)
    assert [row[0] for row in stored] == [p["data_id"] for p in batch]
    assert [row[4] for row in stored] == [float(i) for i in range(7)]


def test_points_object_is_accepted(
    client, services: Services, tenant: str, ingest_key: str
) -> None:
    resp = client.post("/api/ingest", json={"points": points(4)}, headers=bearer(ingest_key))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 4}
    assert len(queued_points(services, tenant)) == 4


@pytest.mark.parametrize(
    "content_type", ["application/x-ndjson", "application/x-ndjson; charset=utf-8"]
)
def test_ndjson_is_accepted(
    client, services: Services, tenant: str, ingest_key: str, content_type: str
) -> None:
    body = b"\n".join(orjson.dumps(p) for p in points(5)) + b"\n"
    resp = client.post(
        "/api/ingest", data=body, content_type=content_type, headers=bearer(ingest_key)
    )
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 5}
    assert len(queued_points(services, tenant)) == 5


def test_accepted_points_keep_their_fields(
    client, services: Services, tenant: str, ingest_key: str
) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.250Z", time.gmtime(now_s() - 10))
    sent = point(
        data_id="exact-1", source="shop", metric_type="sales.orders", timestamp=stamp, value=3
    )
    resp = client.post("/api/ingest", json=[sent], headers=bearer(ingest_key))
    assert resp.status_code == 202
    [row] = queued_points(services, tenant)
    data_id, source, metric, ts_ms, value = row
    assert (data_id, source, metric, value) == ("exact-1", "shop", "sales.orders", 3.0)
    assert ts_ms % 1000 == 250 and abs(ts_ms - (now_s() - 10) * 1000) < 2000


# -- the /api surface ----------------------------------------------------------------------


def test_openapi_lists_every_api_route_with_its_methods(client, web, ingest_key: str) -> None:
    assert_error(client.get("/api/openapi.json"), 401, "unauthenticated")
    resp = client.get("/api/openapi.json", headers={"Authorization": f"Bearer {ingest_key}"})
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    routes = [rule for rule in web.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert routes, "no /api routes registered"
    for rule in routes:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], f"{path} is not in /api/openapi.json"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], f"{method} {path} is not documented"


@pytest.mark.parametrize("path", ["/api/nope", "/api/", "/api/ingest/extra"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_route_is_a_json_404(client, path: str, method: str) -> None:
    assert_error(client.open(path, method=method), 404)


def test_wrong_method_on_api_route_is_a_json_error_not_a_page(client) -> None:
    """GET /api/ingest must not fall through to the Dash page catch-all."""
    resp = client.get("/api/ingest")
    assert_error(resp, resp.status_code)
    assert resp.status_code in (404, 405)
