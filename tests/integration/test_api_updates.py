"""GET /api/updates (CONTRACT §3): the long-poll fallback of /ws, against the live server."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import requests
from prometheus_client import REGISTRY
from redis.asyncio import Redis as AsyncRedis

from app.services import Services
from app.stream.updates import WAIT_S, LongPoll, Wanted
from data.domain.points import Point
from tests.conftest import PASSWORD, FakeClock, LiveServer, wait_until


def now_ms() -> int:
    return int(time.time() * 1000)


def point(metric: str = "cpu.usage", source: str = "web-1", value: float = 1.0) -> Point:
    return Point(uuid.uuid4().hex, source, metric, now_ms(), value)


@pytest.fixture
def read_auth(services: Services, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}


def poll(server: LiveServer, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(server.url + "/api/updates", params=params, headers=headers, timeout=40)


def ok(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = resp.json()
    return doc


def polls_waiting() -> float:
    """How many /api/updates polls the server (in this process) holds waiting."""
    return REGISTRY.get_sample_value("pulse_long_polls") or 0.0


def in_background(fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def test_without_cursor_it_answers_at_once_with_the_current_one(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    assert ok(poll(live_server, read_auth, metric="cpu.usage")) == {"cursor": "0-0", "points": []}
    cursor = services.live.publish_points(tenant, [point()])
    started = time.monotonic()
    assert ok(poll(live_server, read_auth, metric="x")) == {"cursor": cursor, "points": []}
    assert time.monotonic() - started < 2


def test_a_point_published_during_the_wait_arrives_at_once(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    cursor = services.live.publish_points(tenant, [point(value=1.0)])
    polls_before = polls_waiting()
    waiting = in_background(poll, live_server, read_auth, cursor=cursor, metric="cpu.usage")
    wait_until(lambda: polls_waiting() > polls_before)
    assert not waiting.done(), "nothing after the cursor yet: the poll waits"
    sent = point(value=2.0)
    published_at = time.monotonic()
    new_cursor = services.live.publish_points(tenant, [sent])
    doc = ok(waiting.result(timeout=10))
    assert time.monotonic() - published_at < 2
    assert doc == {
        "cursor": new_cursor,
        "points": [{"metric": "cpu.usage", "source": "web-1", "ts": sent.ts_ms, "value": 2.0}],
    }


def test_points_already_after_the_cursor_come_back_filtered_by_metric_and_source(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    cursor = services.live.publish_points(tenant, [point()])
    services.live.publish_points(
        tenant,
        [
            point("sales.orders", "shop", 3.0),
            point("sales.refunds", "web-2", 4.0),
            point("cpu.usage", "shop", 5.0),
        ],
    )
    last = services.live.publish_points(tenant, [point("sales.returns", "shop", 6.0)])
    doc = ok(poll(live_server, read_auth, cursor=cursor, metric="sales.*", source="shop"))
    assert [(p["metric"], p["value"]) for p in doc["points"]] == [
        ("sales.orders", 3.0),
        ("sales.returns", 6.0),
    ]
    assert doc["cursor"] == last
    several = ok(poll(live_server, read_auth, cursor=cursor, metric=["cpu.usage", "sales.refunds"]))
    assert sorted(p["value"] for p in several["points"]) == [4.0, 5.0]


def test_a_cursor_older_than_the_resume_window_is_told_to_reset(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    current = services.live.publish_points(tenant, [point()])
    stale = f"{now_ms() - 11 * 60 * 1000}-0"
    doc = ok(poll(live_server, read_auth, cursor=stale, metric="cpu.usage"))
    assert doc == {"cursor": current, "points": [], "reset": True}


def test_the_resume_window_is_measured_by_the_injected_clock(
    live_server: LiveServer,
    services: Services,
    tenant: str,
    read_auth: dict[str, str],
    clock: FakeClock,
) -> None:
    cursor = services.live.publish_points(tenant, [point(value=1.0)])
    current = services.live.publish_points(tenant, [point(value=2.0)])
    doc = ok(poll(live_server, read_auth, cursor=cursor, metric="cpu.usage"))
    assert [p["value"] for p in doc["points"]] == [2.0]
    clock.advance(services.settings.live_resume_s + 1)
    doc = ok(poll(live_server, read_auth, cursor=cursor, metric="cpu.usage"))
    assert doc == {"cursor": current, "points": [], "reset": True}


def test_another_tenants_points_never_arrive(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    cursor = services.live.publish_points(tenant, [point()])
    polls_before = polls_waiting()
    waiting = in_background(poll, live_server, read_auth, cursor=cursor, metric="*")
    wait_until(lambda: polls_waiting() > polls_before)
    services.live.publish_points(other, [point("cpu.usage", "web-1", 666.0)])
    mine = point(value=7.0)  # published after theirs: had theirs leaked, it came first
    services.live.publish_points(tenant, [mine])
    doc = ok(waiting.result(timeout=10))
    assert [p["value"] for p in doc["points"]] == [7.0]
    # and a cursor of the other tenant's stream reads this tenant's stream only
    theirs = services.live.publish_points(other, [point("cpu.usage", "web-1", 667.0)])
    time.sleep(0.01)  # stream ids are per stream: be a later millisecond than `theirs`
    services.live.publish_points(tenant, [point(value=8.0)])
    doc = ok(poll(live_server, read_auth, cursor=theirs, metric="*", source="*"))
    assert [p["value"] for p in doc["points"]] == [8.0]


def test_a_poll_whose_client_hangs_up_stops_waiting(
    live_server: LiveServer, services: Services, tenant: str, read_auth: dict[str, str]
) -> None:
    cursor = services.live.publish_points(tenant, [point()])
    before = _waiting_polls(live_server)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(
            live_server.url + "/api/updates",
            params={"cursor": cursor, "metric": "m"},
            headers=read_auth,
            timeout=(5, 1),
        )
    wait_until(lambda: _waiting_polls(live_server) == before, timeout=5)


def test_a_wait_without_points_ends_empty_with_the_same_cursor(
    services: Services, tenant: str
) -> None:
    """The timeout, on a short wait (the server's is WAIT_S, seen in the 20-poll test)."""
    cursor = services.live.publish_points(tenant, [point()])

    async def scenario() -> tuple[dict[str, Any], float]:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        long_poll = LongPoll(services, redis, wait_s=1.0)
        started = time.monotonic()
        try:
            answer = await long_poll.poll(tenant, cursor, Wanted(["cpu.usage"], ["*"]))
        finally:
            await long_poll.aclose()
        return answer, time.monotonic() - started

    answer, waited = asyncio.run(scenario())
    assert answer == {"cursor": cursor, "points": []}
    assert 0.9 <= waited < 3


def test_ingest_answers_while_20_long_polls_wait(
    live_server: LiveServer,
    services: Services,
    tenant: str,
    read_auth: dict[str, str],
    ingest_key: str,
) -> None:
    """Waiting polls hold no web thread: pages and ingest answer meanwhile; points for other
    series only move the polls' cursor on, and after WAIT_S they answer empty."""
    cursor = services.live.publish_points(tenant, [point()])
    started = time.monotonic()
    polls = ThreadPoolExecutor(max_workers=20)
    waiting = [
        polls.submit(poll, live_server, read_auth, cursor=cursor, metric="never.sent")
        for _ in range(20)
    ]
    wait_until(lambda: _waiting_polls(live_server) >= 20, timeout=10)
    for n in range(5):
        sent = time.monotonic()
        resp = requests.post(
            live_server.url + "/api/ingest",
            json=[
                {
                    "source": "web-1",
                    "metric_type": "cpu.usage",
                    "timestamp": time.time(),
                    "value": float(n),
                }
            ],
            headers={"Authorization": f"Bearer {ingest_key}"},
            timeout=5,
        )
        assert resp.status_code == 202, resp.text
        assert time.monotonic() - sent < 1
    resp = requests.get(
        live_server.url + "/api/data",
        params={"metric": "cpu.usage", "start": "now-5m"},
        headers=read_auth,
        timeout=5,
    )
    assert resp.status_code == 200
    assert requests.get(live_server.url + "/healthz", timeout=5).ok
    assert not any(w.done() for w in waiting)
    wait_until(lambda: services.live.current_cursor(tenant) != cursor)  # the worker published
    answers = [ok(w.result(timeout=WAIT_S + 10)) for w in waiting]
    polls.shutdown()
    assert time.monotonic() - started >= WAIT_S - 1
    current = services.live.current_cursor(tenant)
    assert all(a == {"cursor": current, "points": []} for a in answers)


def _waiting_polls(server: LiveServer) -> float:
    text = requests.get(server.url + "/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("pulse_long_polls "):
            return float(line.split()[1])
    return 0.0


# -- refusals ---------------------------------------------------------------------------


def test_without_credentials_it_is_401(live_server: LiveServer) -> None:
    resp = poll(live_server, {}, metric="cpu.usage")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"
    assert poll(live_server, {"Authorization": "Bearer pk_nope"}, metric="m").status_code == 401


def test_an_ingest_key_is_403(live_server: LiveServer, ingest_key: str) -> None:
    resp = poll(live_server, {"Authorization": f"Bearer {ingest_key}"}, metric="m")
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"


def test_a_signed_in_viewer_may_poll_and_not_after_signing_out(
    live_server: LiveServer, services: Services, tenant: str, make_user
) -> None:
    viewer = make_user(tenant, "viewer")
    cursor = services.live.publish_points(tenant, [point()])
    with requests.Session() as http:
        login = http.post(
            live_server.url + "/login",
            json={"username": viewer.username, "password": PASSWORD},
            timeout=10,
        )
        assert login.status_code == 200
        doc = ok(http.get(live_server.url + "/api/updates", params={"metric": "m"}, timeout=10))
        assert doc == {"cursor": cursor, "points": []}
        cookies = dict(http.cookies)
        http.post(live_server.url + "/logout", timeout=10)
    resp = requests.get(
        live_server.url + "/api/updates", params={"metric": "m"}, cookies=cookies, timeout=10
    )
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({}, {"metric"}),
        ({"metric": "bad name"}, {"metric"}),
        ({"metric": "m", "source": "a/b"}, {"source"}),
        ({"metric": "m", "cursor": "yesterday"}, {"cursor"}),
        ({"metric": "m", "cursor": ["1-0", "2-0"]}, {"cursor"}),
        ({"cursor": "x", "source": "!"}, {"cursor", "metric", "source"}),
        ({"metric": "*" * 40 + "x"}, {"metric"}),  # more than MAX_WILDCARDS: refused, not run
        ({"metric": "m", "source": "*a" * 9}, {"source"}),
        (
            {"metric": [f"m{i}" for i in range(60)], "source": [f"s{i}" for i in range(41)]},
            {"metric"},
        ),  # over MAX_PATTERNS in all
    ],
)
def test_bad_parameters_are_422(
    live_server: LiveServer, read_auth: dict[str, str], params: dict[str, Any], fields: set[str]
) -> None:
    resp = poll(live_server, read_auth, **params)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["code"] == "invalid_query"
    assert {d["field"] for d in error["details"]} == fields


def test_other_methods_are_a_json_405(live_server: LiveServer, read_auth: dict[str, str]) -> None:
    resp = requests.post(live_server.url + "/api/updates", headers=read_auth, timeout=10)
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"
