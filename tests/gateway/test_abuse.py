"""Nobody stalls the site through /ws (issue 10): pattern caps, resume loops, floods, socket
caps. Real uvicorn server, real websockets clients, real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import requests
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from app.stream.client import MAX_WAITING_FRAMES, OVERFLOW_REASON, Client
from app.stream.gateway import RESUME_BUSY
from app.stream.protocol import MAX_PATTERNS, error_frame
from app.tokens import StreamGrant
from data.domain.patterns import MAX_WILDCARDS
from data.domain.points import Point
from data.stores.accounts import User
from tests.conftest import LiveServer, wait_until
from tests.gateway.conftest import session_cookie
from tests.gateway.test_ws import (
    ingest,
    now_ms,
    open_ws,
    point,
    points_frames,
    receive,
    run,
    send,
    settle,
    values,
)


async def healthz_ok(server: LiveServer) -> bool:
    """Whether /healthz answers (a stalled event loop would time this out)."""
    resp = await asyncio.to_thread(requests.get, server.url + "/healthz", timeout=10)
    return resp.status_code == 200


def test_a_40_wildcard_subscribe_is_refused_and_the_site_keeps_answering(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    """The issue's attack refused with an error frame; the worst allowed pattern still
    matches a long name at once, and the point is delivered."""
    long_name = "a" * 25
    worst_allowed = "*a" * MAX_WILDCARDS  # MAX_WILDCARDS stars, each before a near-miss

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["*" * 40 + "x"]})
            refusal = await receive(ws)
            assert refusal["type"] == "error"
            assert f"more than {MAX_WILDCARDS} *" in refusal["message"]
            await send(ws, {"type": "subscribe", "metrics": [worst_allowed + "b", worst_allowed]})
            assert await settle(ws) == []
            await ingest(live_server, ingest_key, [point(long_name, 1.0), point("cpu.usage", 2.0)])
            assert values(await points_frames(ws, 1)) == [1.0]
            assert await healthz_ok(live_server)

    run(scenario())


def test_patterns_of_one_socket_are_capped_in_all_not_per_subscribe(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """Subscribes accumulate; the one that would pass MAX_PATTERNS is refused whole."""
    first = [f"m{i}" for i in range(MAX_PATTERNS - 2)]  # + the default source "*"

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": first})
            assert await settle(ws) == []
            await send(ws, {"type": "subscribe", "metrics": ["n0", "n1"]})
            refusal = await receive(ws)
            assert refusal["type"] == "error"
            assert f"at most {MAX_PATTERNS}" in refusal["message"]
            await send(ws, {"type": "subscribe", "metrics": ["n0"]})  # exactly the cap
            assert await settle(ws) == []
            await ingest(live_server, ingest_key, [point("n1", 1.0), point("n0", 2.0)])
            assert values(await points_frames(ws, 1)) == [2.0]

    run(scenario())


def _publish_backlog(server: LiveServer, tenant: str, entries: int, per_entry: int) -> str:
    """Fill the tenant's live stream with big entries; the cursor just before them."""
    live = server.services.live
    before = live.publish_points(tenant, [Point(uuid.uuid4().hex, "s", "other", now_ms(), 0.0)])
    for e in range(entries):
        live.publish_points(
            tenant,
            [
                Point(uuid.uuid4().hex, f"s-{i}", "bulk.load", now_ms(), float(e))
                for i in range(per_entry)
            ],
        )
    return before


async def _close_of(ws: ClientConnection) -> tuple[int | None, str | None]:
    """Read (and drop) whatever comes until the server closes; its code and reason."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 20)
    return ws.close_code, ws.close_reason


def test_a_resume_loop_of_a_client_that_does_not_read_is_refused_then_closed(
    live_server: LiveServer, tenant: str, token: str
) -> None:
    """Each resume behind an unsent replay is refused (not a second replay queued), and a
    client that keeps sending while reading nothing is closed, not buffered without bound."""
    cursor = _publish_backlog(live_server, tenant, entries=40, per_entry=2_000)
    hub = live_server.gateway.hub

    async def scenario() -> None:
        async with open_ws(live_server, token, max_queue=1) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["bulk.*"], "cursor": cursor})
            # Reading nothing for 4 s: a resume a second is accepted (while the kernel's
            # buffers take its replay), the rest are refused, until refusals pile up.
            for _ in range(800):
                await send(ws, {"type": "resume", "cursor": cursor})
                await asyncio.sleep(0.005)
            assert await healthz_ok(live_server)
            code, reason = await _close_of(ws)
        assert (code, reason) == (1008, OVERFLOW_REASON)
        assert tenant not in hub.clients  # no longer served, its outbox freed

    run(scenario(), timeout=60)


def unpinged(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] != "ping"]


def test_a_resume_during_a_replay_that_is_still_being_sent_is_refused(
    live_server: LiveServer, tenant: str, token: str
) -> None:
    """A client that stops reading gets its first replay; its second resume is refused."""
    cursor = _publish_backlog(live_server, tenant, entries=40, per_entry=2_000)

    async def scenario() -> None:
        async with open_ws(live_server, token, max_queue=1) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["bulk.*"], "cursor": cursor})
            await send(ws, {"type": "resume", "cursor": cursor})
            frames = []
            while (frame := await receive(ws, 20))["type"] != "error":
                frames.append(frame)
            assert frame["message"] == RESUME_BUSY
            frames = unpinged(frames)  # the server's keep-alive may fall in any test
            assert {f["type"] for f in frames} == {"points"}
            replayed = {f["cursor"] for f in frames}
            assert len(replayed) == len(frames)  # one replay only, each entry once
            while len(replayed) < 40:  # the rest of the one replay, then nothing more
                if (frame := await receive(ws, 20))["type"] != "ping":
                    replayed.add(frame["cursor"])
            assert unpinged(await settle(ws)) == []

    run(scenario(), timeout=60)


def test_sockets_per_user_are_capped_and_a_closed_one_frees_its_place(
    live_server: LiveServer, tenant: str, make_user: Callable[..., User]
) -> None:
    cap = live_server.services.settings.ws_max_sockets_per_user
    cookie = session_cookie(live_server, make_user(tenant, "viewer"))

    def user_ws() -> Any:
        return open_ws(live_server, origin=live_server.url, cookie=cookie)

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sockets = [await stack.enter_async_context(user_ws()) for _ in range(cap)]
            for ws in sockets:
                await settle(ws)  # admitted and served
            async with user_ws() as extra:
                code, reason = await _close_of(extra)
            assert code == 1008 and reason is not None and "too many open sockets" in reason
            await sockets.pop().close()
            hub = live_server.gateway.hub  # the server has let go of the closed socket
            await asyncio.to_thread(wait_until, lambda: len(hub.clients.get(tenant, ())) == cap - 1)
            async with user_ws() as again:
                assert await settle(again) == []

    run(scenario())


def test_frames_past_the_waiting_cap_mark_the_client_overflowed_but_a_replay_does_not() -> None:
    """A replay's frames wait without counting towards MAX_WAITING_FRAMES; other frames
    past it are dropped, the outbox freed, and the client marked for closing."""

    async def scenario() -> None:
        blocked = asyncio.Event()

        async def send_blocked(frame: str) -> None:
            await blocked.wait()

        async def close(code: int, reason: str) -> None:
            raise AssertionError("the endpoint closes it, not push")

        client = Client(StreamGrant("t-flood", None, None, None), send_blocked, close)
        try:
            client.push_replay([f"replay {i}" for i in range(MAX_WAITING_FRAMES * 3)])
            assert client.replay_in_flight and not client.overflowed
            for i in range(MAX_WAITING_FRAMES):
                assert client.push(error_frame(f"error {i}"))
            assert not client.overflowed
            assert not client.push(error_frame("one too many"))
            assert client.overflowed and not client.outbox
        finally:
            client.stop()

    run(scenario(), timeout=10)
