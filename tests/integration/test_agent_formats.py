"""Line protocol on POST /api/ingest and remote write on POST /api/v1/write, against real
Redis and PostgreSQL: their points are stored once, resends are not stored again, and every
refusal is the contract's 4xx JSON with nothing queued."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Callable
from typing import Any

import cramjam
import pytest
from sqlalchemy import text

from app.services import Services
from data.domain import remote_write
from data.domain.points import MAX_BODY_BYTES, MAX_POINTS
from tests.conftest import wait_until
from tests.integration.test_ingest_refusals import assert_error, bearer, login, queued
from tests.integration.test_pipeline import consumer  # noqa: F401  (a fixture)

PROTOBUF = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


def stored(services: Services, tenant: str) -> list[tuple[str, str, int, float, str]]:
    """The tenant's stored points: (metric, source, ts_ms, value, data_id), in order."""
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT metric_type, source, (extract(epoch FROM ts) * 1000)::int8, value,"
                " data_id FROM points WHERE tenant_id = :t ORDER BY 1, 2, 3"
            ),
            {"t": tenant},
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def basic(password: str, user: str = "pulse") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def refused(client, services: Services, ingest_key: str) -> Callable[..., dict[str, Any]]:
    """POST to a route, assert the refusal and that nothing was queued."""

    def post(path: str, status: int, code: str | None = None, **kwargs: Any) -> dict[str, Any]:
        before = queued(services)
        headers = kwargs.pop("headers", {}) | kwargs.pop("auth", bearer(ingest_key))
        resp = client.post(path, headers=headers, **kwargs)
        error = assert_error(resp, status, code)
        assert queued(services) == before, "a refused request queued points"
        return error

    return post


def test_line_protocol_is_stored_once_and_a_resend_is_not_stored_again(
    client,
    services: Services,
    tenant: str,
    ingest_key: str,
    consumer,  # noqa: F811
) -> None:
    ns = int((time.time() - 5) * 1e9)
    body = (
        f"cpu,host=web-1,cpu=cpu0 usage_idle=97.5,usage_user=2i {ns}\n"
        f'system,host=web-1 load1=0.25,uptime_format="0 days" {ns}\n'
    )
    for _ in range(2):
        resp = client.post("/api/ingest", data=body, headers=TEXT | bearer(ingest_key))
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.get_json() == {"accepted": 3, "skipped": 1}
    wait_until(lambda: services.live.oldest_unacknowledged_ms() is None)
    ts_ms = ns // 1_000_000
    assert stored(services, tenant) == [
        ("cpu.usage_idle.cpu:cpu0", "web-1", ts_ms, 97.5, f"lp:{ns % 1_000_000}"),
        ("cpu.usage_user.cpu:cpu0", "web-1", ts_ms, 2.0, f"lp:{ns % 1_000_000}"),
        ("system.load1", "web-1", ts_ms, 0.25, f"lp:{ns % 1_000_000}"),
    ]


def test_remote_write_is_stored_once_and_a_retry_is_not_stored_again(
    client,
    services: Services,
    tenant: str,
    ingest_key: str,
    consumer,  # noqa: F811
) -> None:
    now_ms = int(time.time() * 1000) - 5000
    labels = {"__name__": "up", "instance": "db:9100", "job": "node"}
    body = remote_write.encode([(labels, [(1.0, now_ms), (float("nan"), now_ms + 1)])])
    for auth in (bearer(ingest_key), basic(ingest_key)):  # the retry, with basic auth
        resp = client.post("/api/v1/write", data=body, headers=PROTOBUF | auth)
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.get_json() == {"accepted": 1, "skipped": 1}
    wait_until(lambda: services.live.oldest_unacknowledged_ms() is None)
    assert stored(services, tenant) == [("up.job:node", "db:9100", now_ms, 1.0, "rw")]


def test_only_stale_markers_is_accepted_with_nothing_queued(
    client, services: Services, ingest_key: str
) -> None:
    body = remote_write.encode([({"__name__": "up", "instance": "x"}, [(float("nan"), 1)])])
    before = queued(services)
    resp = client.post("/api/v1/write", data=body, headers=PROTOBUF | bearer(ingest_key))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 0, "skipped": 1}
    assert queued(services) == before


def test_one_bad_line_refuses_the_request_naming_the_line(refused) -> None:
    ns = int(time.time() * 1e9)
    body = f"ok,host=h v=1 {ns}\nbad,host=h v=oops {ns}\n# fine\nno_source v=1 {ns}\n"
    error = refused("/api/ingest", 422, "invalid_points", data=body, headers=TEXT)
    assert [(d["index"], d["field"]) for d in error["details"]] == [(1, "value"), (3, "source")]
    assert error["details"][0]["message"].startswith("line 2: ")


def test_one_bad_series_refuses_the_write_naming_the_series(refused) -> None:
    good = ({"__name__": "up", "instance": "x"}, [(1.0, int(time.time() * 1000))])
    body = remote_write.encode([good, ({"__name__": "up"}, [(1.0, int(time.time() * 1000))])])
    error = refused("/api/v1/write", 422, "invalid_points", data=body, headers=PROTOBUF)
    assert [(d["index"], d["field"]) for d in error["details"]] == [(1, "source")]


def test_line_protocol_refusals(refused) -> None:
    refused(
        "/api/ingest",
        422,
        "invalid_parameter",
        data="m,host=h v=1",
        headers=TEXT,
        query_string={"precision": "h"},
    )
    refused("/api/ingest", 422, "no_points", data="# nothing\n\n", headers=TEXT)
    refused("/api/ingest", 400, "invalid_body", data=b"m,host=h v=1 \xff", headers=TEXT)
    lines = "".join(f"m,host=h v={i}\n" for i in range(MAX_POINTS + 1))
    refused("/api/ingest", 413, "too_many_points", data=lines, headers=TEXT)
    big = "m,host=h v=1\n" * (MAX_BODY_BYTES // 13 + 1)
    refused("/api/ingest", 413, "body_too_large", data=big, headers=TEXT)


def test_remote_write_refusals(refused, services: Services, tenant: str) -> None:
    body = remote_write.encode([({"__name__": "up", "instance": "x"}, [(1.0, 1)])])
    refused("/api/v1/write", 401, "unauthenticated", data=body, headers=PROTOBUF, auth={})
    refused(
        "/api/v1/write", 401, "unauthenticated", data=body, headers=PROTOBUF, auth=basic("pk_nope")
    )
    reader = services.accounts.create_api_key(tenant, "reader", "read")
    refused("/api/v1/write", 403, "forbidden", data=body, headers=PROTOBUF, auth=basic(reader))
    refused(
        "/api/v1/write",
        415,
        "unsupported_media_type",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    v2 = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}
    refused("/api/v1/write", 415, "unsupported_media_type", data=body, headers=v2)
    gzip = PROTOBUF | {"Content-Encoding": "gzip"}
    refused("/api/v1/write", 415, "unsupported_media_type", data=body, headers=gzip)
    refused("/api/v1/write", 400, "invalid_body", data=b"\x05nope!", headers=PROTOBUF)
    junk = bytes(cramjam.snappy.compress_raw(b"\xff" * 40))
    refused("/api/v1/write", 400, "invalid_body", data=junk, headers=PROTOBUF)
    many = remote_write.encode(
        [({"__name__": "m", "instance": "x"}, [(1.0, 1)] * (MAX_POINTS + 1))]
    )
    refused("/api/v1/write", 413, "too_many_points", data=many, headers=PROTOBUF)
    old = remote_write.encode([({"__name__": "m", "instance": "x"}, [(1.0, 1)])])
    error = refused("/api/v1/write", 422, "invalid_points", data=old, headers=PROTOBUF)
    assert error["details"][0]["field"] == "timestamp"


def test_a_session_cannot_send_line_protocol_it_is_for_agents_with_a_key(
    client, refused, tenant: str, make_user
) -> None:
    """A cookie-carried write must be JSON (CSRF): text/plain is what a cross-site form
    can send. Basic auth is read as a key only on the ingest routes."""
    login(client, make_user(tenant, role="analyst"))
    refused(
        "/api/ingest", 415, "unsupported_media_type", data="m,host=h v=1", headers=TEXT, auth={}
    )
    resp = client.get("/api/metrics", headers=basic("whatever"))
    assert resp.status_code == 200  # elsewhere a Basic header (a proxy's) leaves the session be


def test_gzip_line_protocol_as_telegraf_sends_it_and_its_refusals(
    client, refused, services: Services, ingest_key: str
) -> None:
    ns = int((time.time() - 5) * 1e9)
    body = gzip.compress(f"m,host=h v=1 {ns}\nm,host=h v=2 {ns + 1}\n".encode())
    gz = TEXT | {"Content-Encoding": "gzip"}
    resp = client.post("/api/ingest", data=body, headers=gz | bearer(ingest_key))
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 2, "skipped": 0}
    refused("/api/ingest", 400, "invalid_body", data=body[:-8], headers=gz)
    refused("/api/ingest", 400, "invalid_body", data=b"not gzip", headers=gz)
    bomb = gzip.compress(b"#" * (MAX_BODY_BYTES + 1))
    refused("/api/ingest", 413, "body_too_large", data=bomb, headers=gz)
    br = TEXT | {"Content-Encoding": "br"}
    refused("/api/ingest", 415, "unsupported_media_type", data=b"m,host=h v=1", headers=br)


def test_json_sent_as_text_plain_is_still_json(client, ingest_key: str) -> None:
    """A browser's fetch() of a JSON string says text/plain: this route took it before."""
    point = {"source": "web-1", "metric_type": "m", "timestamp": time.time() - 1, "value": 1}
    resp = client.post(
        "/api/ingest", data=f"  [{json.dumps(point)}]", headers=TEXT | bearer(ingest_key)
    )
    assert resp.status_code == 202 and resp.get_json() == {"accepted": 1}
