"""Every /ws client message × every kind of caller, through the real gateway's public
protocol (CONTRACT.md §4): anonymous is refused at the handshake, an ingest key gets no
stream token, and of the sockets that open (A viewer's cookie, A read key's token, B
admin's cookie, B read key's token) each gets only its own tenant's points and
notifications, whatever it subscribes to, resumes from or sends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection

from app.services import Services
from tests.conftest import LiveServer
from tests.gateway.conftest import session_cookie, stream_token
from tests.gateway.test_ws import (
    ingest,
    open_ws,
    point,
    receive,
    refused_status,
    run,
    send,
    settle,
)
from tests.security.matrix_world import A_MARK, A_METRIC, World, build_world

WS_CALLERS = ("A viewer", "A read key", "B admin", "B read key")
# Every client message type, and the garbage an attacker may send instead, with whether the
# gateway answers it with an error frame; none may close the socket or reach another tenant.
MESSAGES: list[tuple[Any, bool]] = [
    ({"type": "subscribe", "metrics": ["*"], "sources": ["*"]}, False),
    ({"type": "unsubscribe", "metrics": ["*"]}, False),
    ({"type": "subscribe", "metrics": ["*"], "sources": ["*"], "cursor": "RESUME"}, False),
    ({"type": "resume", "cursor": "RESUME"}, False),
    ({"type": "resume", "cursor": "not-a-cursor"}, True),
    ({"type": "subscribe", "metrics": "*"}, True),
    ({"type": "publish", "points": [{"metric": A_METRIC, "value": 1}]}, True),
    ({"tenant": "A"}, True),
    ("not json at all", True),
    ([1, 2, 3], True),
]


@pytest.fixture(scope="module")
def world(services: Services) -> World:
    """Tenants A and B, their callers and A's objects (matrix_world.py)."""
    return build_world(services)


def credentials(server: LiveServer, world: World, caller: str) -> dict[str, str]:
    """How `caller` opens /ws: a session cookie, or `?token=` from /api/stream-token."""
    if caller in world.users:
        return {"cookie": session_cookie(server, world.users[caller])}
    return {"token": stream_token(server, world.keys[caller])}


def resume_cursor(services: Services, tenant: str) -> str:
    """A cursor just before the tenant's newest live entry."""
    newest = services.redis.xrevrange(services.live.live_key(tenant), count=1)
    entry_id = newest[0][0].decode()
    return f"{int(entry_id.split('-')[0]) - 1}-0"


async def send_raw(ws: ClientConnection, message: Any) -> None:
    await (ws.send(message) if isinstance(message, str) else send(ws, message))


async def until_errors(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """Everything but errors received until `count` error frames came (the receipts of the
    garbage sent: the gateway answers messages in order)."""
    seen = []
    while count:
        message = await receive(ws)
        if message["type"] == "error":
            count -= 1
        else:
            seen.append(message)
    return seen


async def until_notification(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything received up to and including the first notification."""
    seen = []
    while True:
        message = await receive(ws)
        seen.append(message)
        if message["type"] == "notification":
            return seen


def test_anonymous_handshake_is_refused(live_server: LiveServer) -> None:
    assert run(refused_status(live_server)) == 403


def test_ingest_key_gets_no_stream_token(live_server: LiveServer, world: World) -> None:
    resp = requests.get(
        live_server.url + "/api/stream-token",
        timeout=10,
        headers={"Authorization": f"Bearer {world.keys['A ingest key']}"},
    )
    assert resp.status_code == 403, resp.text


def test_every_message_from_every_caller_reaches_only_its_own_tenant(
    live_server: LiveServer, world: World
) -> None:
    services = live_server.services
    cursor = resume_cursor(services, world.tenant_a)
    messages = [
        m if not isinstance(m, dict) or m.get("cursor") != "RESUME" else {**m, "cursor": cursor}
        for m, _ in MESSAGES
    ]
    errors = sum(answered for _, answered in MESSAGES)
    logins = {caller: credentials(live_server, world, caller) for caller in WS_CALLERS}
    breach = point(A_METRIC, 95.0, f"{A_MARK}-host-ws", int(time.time() * 1000))

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        sockets = {c: await open_ws(live_server, **logins[c]).__aenter__() for c in WS_CALLERS}
        seen: dict[str, list[dict[str, Any]]] = {c: [] for c in WS_CALLERS}
        try:
            for caller, ws in sockets.items():
                for message in messages:
                    await send_raw(ws, message)
                await send(ws, {"type": "subscribe", "metrics": ["*"], "sources": ["*"]})
                seen[caller] += await until_errors(ws, errors)
            await ingest(live_server, world.keys["A ingest key"], [breach])
            # A's viewer gets the breaching point, then its notification (the rule of A
            # fires); by then the hub has fanned out everything it was going to.
            seen["A viewer"] += await until_notification(sockets["A viewer"])
            for caller, ws in sockets.items():
                seen[caller] += await settle(ws)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets.values()))
        return seen

    seen = run(scenario(), timeout=60)
    a_points = [
        p
        for m in seen["A viewer"] + seen["A read key"]
        if m["type"] == "points"
        for p in m["points"]
    ]
    assert {p["source"] for p in a_points} >= {f"{A_MARK}-host", f"{A_MARK}-host-ws"}
    assert [m["type"] for m in seen["A viewer"]].count("notification") == 1
    assert "notification" not in [m["type"] for m in seen["A read key"]]  # a key has no inbox
    for caller in ("B admin", "B read key"):
        kinds = {m["type"] for m in seen[caller]}
        assert kinds <= {"error", "ping", "reset"}, seen[caller]
        assert A_MARK not in str(seen[caller]) and world.tenant_a not in str(seen[caller])
