"""The /ws gateway (CONTRACT.md §4), driven by real websockets clients against the live server.

Points reach the clients the whole way round: POST /api/ingest → ingest stream → worker →
PostgreSQL → live stream and channel → hub → socket.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import pytest
import requests
from redis.asyncio import Redis as AsyncRedis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.services import Services
from app.stream.client import QUEUE_FRAMES, Client
from app.stream.fastwrite import Inbox
from app.stream.gateway import CLOSE_UNAUTHENTICATED
from app.stream.hub import SLOW_CLIENT_S, Hub
from app.stream.protocol import points_frame
from app.tokens import StreamGrant
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.live import live_point
from tests.conftest import FakeClock, LiveServer, wait_until
from tests.gateway.conftest import session_cookie, stream_token

T = TypeVar("T")
RECV_TIMEOUT_S = 10.0


def run(scenario: Coroutine[Any, Any, T], timeout: float = 45.0) -> T:
    """Run one client-side scenario on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def now_ms() -> int:
    return int(time.time() * 1000)


def point(metric: str, value: float, source: str = "web-1", ts_ms: int | None = None) -> dict:
    """A point as POST /api/ingest takes it, with an RFC 3339 timestamp to the millisecond."""
    ts = ts_ms if ts_ms is not None else now_ms()
    stamp = datetime.fromtimestamp(ts // 1000, UTC).replace(microsecond=ts % 1000 * 1000)
    return {
        "source": source,
        "metric_type": metric,
        "value": value,
        "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def ingest_now(server: LiveServer, key: str, points: list[dict]) -> None:
    resp = requests.post(
        server.url + "/api/ingest",
        json=points,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 202, resp.text


async def ingest(server: LiveServer, key: str, points: list[dict]) -> None:
    """POST the points through the real HTTP API (off the client's event loop)."""
    await asyncio.to_thread(ingest_now, server, key, points)


def open_ws(
    server: LiveServer,
    token: str | None = None,
    origin: str | None = None,
    cookie: str | None = None,
    max_queue: int = 16,
) -> connect:
    """A websockets client for /ws, with `?token=`, an Origin and a Cookie as given."""
    url = server.ws_url + (f"?token={token}" if token else "")
    headers = {}
    if origin:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = cookie
    return connect(
        url,
        additional_headers=headers,
        proxy=None,
        open_timeout=5,
        close_timeout=2,
        max_queue=max_queue,
    )


async def receive(ws: ClientConnection, timeout: float = RECV_TIMEOUT_S) -> dict:
    """The next message from the server, decoded."""
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def send(ws: ClientConnection, message: dict) -> None:
    await ws.send(orjson.dumps(message).decode())


async def settle(ws: ClientConnection) -> list[dict]:
    """Wait until the server has handled everything sent so far; return what came meanwhile.

    Messages are handled in order and an unknown one is answered with an error, so that
    error is the server's receipt for everything before it."""
    await send(ws, {"type": "are-you-there"})
    before = []
    while (message := await receive(ws))["type"] != "error":
        before.append(message)
    return before


async def points_frames(ws: ClientConnection, count: int) -> list[dict]:
    """`points` frames received until `count` points in all arrived (pings skipped)."""
    frames: list[dict] = []
    while sum(len(f["points"]) for f in frames) < count:
        message = await receive(ws)
        if message["type"] == "ping":
            continue
        assert message["type"] == "points", message
        frames.append(message)
    return frames


def points_of(frames: list[dict]) -> list[dict]:
    return [p for frame in frames for p in frame["points"]]


def values(frames: list[dict]) -> list[float]:
    return [p["value"] for p in points_of(frames)]


async def on_server(server: LiveServer, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine of the gateway on the server's event loop and wait for its result."""
    future = asyncio.run_coroutine_threadsafe(job(), server.loop)
    return await asyncio.wrap_future(future)


async def closed_code(ws: ClientConnection, timeout: float = RECV_TIMEOUT_S) -> int | None:
    """Read until the server closes the socket; its close code."""
    with pytest.raises(ConnectionClosed):
        while True:
            await receive(ws, timeout)
    return ws.close_code


def wait_for_published(services: Services, tenant: str, after: str, count: int) -> None:
    """Wait until `count` points after cursor `after` are in the tenant's live stream."""

    def published() -> bool:
        entries = services.live.read_since(tenant, after) or []
        return sum(len(points) for _, points in entries) >= count

    wait_until(published)


# -- delivery ---------------------------------------------------------------------------


def test_subscribed_point_arrives_as_points_frame_with_ms_timestamp(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    ts = now_ms() - 1_234
    expected_ts = ts

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"], "sources": ["*"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 42.5, "web-7", ts)])
            frame = await receive(ws)
            assert frame["type"] == "points"
            assert isinstance(frame["cursor"], str) and frame["cursor"]
            assert frame["points"] == [
                {"metric": "cpu.usage", "source": "web-7", "ts": expected_ts, "value": 42.5}
            ]

    run(scenario())


def test_live_frames_go_through_the_pinned_direct_writes_under_the_locked_versions(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """With the locked uvicorn and websockets the gateway writes pre-framed bytes to idle
    sockets (app/stream/fastwrite.py): every live frame the client got went that way, counted.
    After an upgrade this fails (direct writes off) rather than silently slowing down."""

    async def scenario() -> None:
        assert live_server.gateway.direct_writes
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            (client,) = live_server.gateway.hub.clients[tenant]
            assert client.fast is not None and client.fast.frames_written == 0
            received: list[float] = []
            for value in (1.0, 2.0, 3.0):
                await ingest(live_server, ingest_key, [point("cpu.usage", value)])
                received += values(await points_frames(ws, 1))
            assert received == [1.0, 2.0, 3.0]
            assert client.fast.frames_written == 3

    run(scenario())


def test_an_open_socket_keeps_nothing_of_its_handshake_and_still_works(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """Once open, a socket's handshake is let go (app/stream/fastwrite.py, ~6 KiB a socket):
    the server keeps neither the request nor the response nor the headers, its received
    messages go through an Inbox, and the socket still takes messages, sends frames and
    closes as any other."""

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            (client,) = live_server.gateway.hub.clients[tenant]
            assert client.fast is not None
            protocol = client.fast.protocol
            assert protocol.request is None and protocol.response is None
            assert protocol.scope["headers"] == [] and protocol.scope["state"] == {}
            assert isinstance(protocol.queue, Inbox)
            await send(ws, {"type": "subscribe", "metrics": ["mem.used"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("mem.used", 7.0)])
            assert values(await points_frames(ws, 1)) == [7.0]
        for _ in range(100):  # closed by the client: the gateway lets it go
            if tenant not in live_server.gateway.hub.clients:
                break
            await asyncio.sleep(0.05)
        assert tenant not in live_server.gateway.hub.clients

    run(scenario())


def test_live_frames_arrive_through_the_asgi_send_when_direct_writes_are_off(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """The public path taken by any other uvicorn or websockets version: frames go through
    the ASGI send in the client's writer task, in order."""
    gateway = live_server.gateway
    gateway.direct_writes = False

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            (client,) = gateway.hub.clients[tenant]
            assert client.fast is None
            received: list[float] = []
            for value in (4.0, 5.0, 6.0):
                await ingest(live_server, ingest_key, [point("cpu.usage", value)])
                received += values(await points_frames(ws, 1))
            assert received == [4.0, 5.0, 6.0]

    try:
        run(scenario())
    finally:
        gateway.direct_writes = True


def test_wildcard_metrics_and_source_filter_select_what_is_delivered(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    """`sales.*` gets sales.orders and sales.revenue, not cpu.usage; `sources` filters too."""

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["sales.*"], "sources": ["shop-*"]})
            await settle(ws)
            await ingest(
                live_server,
                ingest_key,
                [
                    point("cpu.usage", 1.0, "shop-eu"),
                    point("sales.orders", 2.0, "shop-eu"),
                    point("sales.orders", 3.0, "warehouse"),
                    point("sales.revenue", 4.0, "shop-us"),
                ],
            )
            first = await points_frames(ws, 2)
            await ingest(live_server, ingest_key, [point("sales.orders", 5.0, "shop-eu")])
            marker = await points_frames(ws, 1)
        received = points_of(first + marker)
        assert [(p["metric"], p["source"], p["value"]) for p in received] == [
            ("sales.orders", "shop-eu", 2.0),
            ("sales.revenue", "shop-us", 4.0),
            ("sales.orders", "shop-eu", 5.0),
        ]

    run(scenario())


def test_unsubscribe_stops_delivery_of_that_metric(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage", "mem.used"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 1.0)])
            assert values(await points_frames(ws, 1)) == [1.0]

            await send(ws, {"type": "unsubscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 2.0)])
            await ingest(live_server, ingest_key, [point("mem.used", 3.0)])
            frames = await points_frames(ws, 1)
        assert [(p["metric"], p["value"]) for p in points_of(frames)] == [("mem.used", 3.0)]

    run(scenario())


def test_client_never_receives_another_tenants_points(
    live_server: LiveServer, services: Services, tenant: str, token: str, ingest_key: str
) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    other_ingest = services.accounts.create_api_key(other, "other ingest", "ingest")
    other_token = stream_token(
        live_server, services.accounts.create_api_key(other, "other read", "read")
    )

    async def scenario() -> None:
        async with open_ws(live_server, token) as mine, open_ws(live_server, other_token) as theirs:
            for ws in (mine, theirs):
                await send(ws, {"type": "subscribe", "metrics": ["*"], "sources": ["*"]})
                await settle(ws)
            await ingest(live_server, other_ingest, [point("cpu.usage", 666.0, "their-host")])
            # the other tenant's client got it, so it went out while ours was listening
            assert values(await points_frames(theirs, 1)) == [666.0]
            await ingest(live_server, ingest_key, [point("cpu.usage", 1.0, "my-host")])
            frames = await points_frames(mine, 1)
        assert [(p["source"], p["value"]) for p in points_of(frames)] == [("my-host", 1.0)]

    run(scenario())


# -- resume -----------------------------------------------------------------------------


def _resume_scenario(
    live_server: LiveServer,
    tenant: str,
    token: str,
    ingest_key: str,
    resume: Callable[[ClientConnection, str], Awaitable[None]],
) -> None:
    """Points missed while disconnected come once each, in order, then live ones follow."""
    services = live_server.services

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["disk.*"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("disk.free", 0.0)])
            [seen] = await points_frames(ws, 1)
        cursor = seen["cursor"]

        start = now_ms() - 10_000
        for batch in ([1.0, 2.0], [3.0], [4.0, 5.0]):  # several requests, several entries
            missed = [point("disk.free", v, ts_ms=start + int(v)) for v in batch]
            unwanted = [point("net.in", -v, ts_ms=start + int(v)) for v in batch]
            await ingest(live_server, ingest_key, missed + unwanted)
        await asyncio.to_thread(wait_for_published, services, tenant, cursor, 10)

        async with open_ws(live_server, token) as ws:
            await resume(ws, cursor)
            replayed = await settle(ws)
            assert [f["type"] for f in replayed] == ["points"] * len(replayed)
            assert values(replayed) == [1.0, 2.0, 3.0, 4.0, 5.0]
            cursors = [f["cursor"] for f in replayed]
            assert cursors == sorted(cursors, key=lambda c: tuple(map(int, c.split("-"))))
            assert len(set(cursors)) == len(cursors)

            await ingest(live_server, ingest_key, [point("disk.free", 6.0)])
            live = await points_frames(ws, 1)
            assert values(live) == [6.0]
            assert live[0]["cursor"] not in cursors

    run(scenario())


def test_resume_by_cursor_replays_missed_points_once_then_goes_live(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """Contract form: subscribe, then `{"type": "resume", "cursor": C}`."""

    async def resume(ws: ClientConnection, cursor: str) -> None:
        await send(ws, {"type": "subscribe", "metrics": ["disk.*"]})
        await send(ws, {"type": "resume", "cursor": cursor})

    _resume_scenario(live_server, tenant, token, ingest_key, resume)


def test_subscribe_with_cursor_replays_missed_points_once_then_goes_live(
    live_server: LiveServer, tenant: str, token: str, ingest_key: str
) -> None:
    """Extension form: `{"type": "subscribe", ..., "cursor": C}` subscribes and resumes at once."""

    async def resume(ws: ClientConnection, cursor: str) -> None:
        await send(ws, {"type": "subscribe", "metrics": ["disk.*"], "cursor": cursor})

    _resume_scenario(live_server, tenant, token, ingest_key, resume)


@pytest.mark.parametrize("form", ["resume", "subscribe"])
def test_cursor_older_than_resume_window_gets_reset(
    live_server: LiveServer, token: str, ingest_key: str, form: str
) -> None:
    stale = f"{now_ms() - 11 * 60 * 1000}-0"

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            if form == "resume":
                await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
                await send(ws, {"type": "resume", "cursor": stale})
            else:
                await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"], "cursor": stale})
            assert await receive(ws) == {"type": "reset"}
            # still subscribed and live after the reset
            await ingest(live_server, ingest_key, [point("cpu.usage", 7.0)])
            assert values(await points_frames(ws, 1)) == [7.0]

    run(scenario())


# -- handshake: origin and credentials --------------------------------------------------


async def refused_status(server: LiveServer, **kwargs: Any) -> int:
    """The HTTP status with which the /ws handshake is refused."""
    with pytest.raises(InvalidStatus) as refused:
        async with open_ws(server, **kwargs):
            pass
    return refused.value.response.status_code


def test_foreign_origin_is_refused_at_handshake(live_server: LiveServer, token: str) -> None:
    assert run(refused_status(live_server, token=token, origin="https://evil.example")) == 403


@pytest.mark.parametrize("origin", ["own", "https://intranet.example"])
def test_own_origin_and_embed_allowed_origins_are_accepted(
    live_server: LiveServer, token: str, ingest_key: str, origin: str
) -> None:
    origin = live_server.url if origin == "own" else origin

    async def scenario() -> None:
        async with open_ws(live_server, token, origin=origin) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 3.0)])
            assert values(await points_frames(ws, 1)) == [3.0]

    run(scenario())


def test_handshake_without_credentials_is_refused(live_server: LiveServer) -> None:
    assert run(refused_status(live_server)) == 403


@pytest.mark.parametrize("kind", ["garbage", "bad-signature"])
def test_handshake_with_invalid_token_is_refused(
    live_server: LiveServer, token: str, kind: str
) -> None:
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    bad_token = "not-a-token" if kind == "garbage" else forged
    assert run(refused_status(live_server, token=bad_token)) == 403


def test_session_cookie_of_logged_in_user_opens_the_socket(
    live_server: LiveServer, tenant: str, ingest_key: str, make_user: Callable[..., User]
) -> None:
    cookie = session_cookie(live_server, make_user(tenant, "viewer"))

    async def scenario() -> None:
        async with open_ws(live_server, origin=live_server.url, cookie=cookie) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 9.0)])
            assert values(await points_frames(ws, 1)) == [9.0]

    run(scenario())


def test_session_cookie_of_a_signed_out_session_is_refused(
    live_server: LiveServer, tenant: str, make_user: Callable[..., User]
) -> None:
    """A copy of the cookie kept after sign-out no longer opens a socket."""
    cookie = session_cookie(live_server, make_user(tenant, "viewer"))
    name, _, value = cookie.partition("=")
    signed_out = requests.post(
        live_server.url + "/logout", cookies={name: value}, timeout=10, allow_redirects=False
    )
    assert signed_out.status_code == 303
    assert run(refused_status(live_server, cookie=cookie)) == 403


def test_forged_session_cookie_is_refused(live_server: LiveServer) -> None:
    forged = f"{live_server.gateway.cookies.cookie_name}=eyJfdXNlcl9pZCI6IngifQ.forged"
    assert run(refused_status(live_server, cookie=forged)) == 403


# -- credentials re-checked while connected ---------------------------------------------


def test_disabled_user_is_disconnected_by_recheck(
    live_server: LiveServer,
    services: Services,
    tenant: str,
    ingest_key: str,
    make_user: Callable[..., User],
) -> None:
    """Disabling a user closes their socket at the next re-check; other users stay connected."""
    leaving, staying = make_user(tenant, "viewer"), make_user(tenant, "viewer")
    leaving_cookie = session_cookie(live_server, leaving)
    staying_cookie = session_cookie(live_server, staying)

    async def scenario() -> None:
        async with (
            open_ws(live_server, cookie=leaving_cookie) as gone,
            open_ws(live_server, cookie=staying_cookie) as kept,
        ):
            for ws in (gone, kept):
                await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
                await settle(ws)
            await asyncio.to_thread(services.accounts.set_active, leaving.user_id, False)
            await on_server(live_server, live_server.gateway.recheck_grants)
            assert await closed_code(gone) == CLOSE_UNAUTHENTICATED
            await ingest(live_server, ingest_key, [point("cpu.usage", 5.0)])
            assert values(await points_frames(kept, 1)) == [5.0]

    run(scenario())


def test_signing_out_closes_the_sessions_sockets_and_its_tokens_at_the_next_recheck(
    live_server: LiveServer,
    tenant: str,
    ingest_key: str,
    make_user: Callable[..., User],
) -> None:
    """A socket opened with the session cookie, or with a token fetched with it, ends with
    that session; the same user's other session keeps its socket."""
    user = make_user(tenant, "viewer")
    leaving_cookie, staying_cookie = (
        session_cookie(live_server, user),
        session_cookie(live_server, user),
    )
    name, _, value = leaving_cookie.partition("=")
    token_of_session = requests.get(
        live_server.url + "/api/stream-token", cookies={name: value}, timeout=10
    ).json()["token"]

    async def scenario() -> None:
        async with (
            open_ws(live_server, cookie=leaving_cookie) as by_cookie,
            open_ws(live_server, token_of_session) as by_token,
            open_ws(live_server, cookie=staying_cookie) as kept,
        ):
            for ws in (by_cookie, by_token, kept):
                await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
                await settle(ws)
            signed_out = await asyncio.to_thread(
                requests.post,
                live_server.url + "/logout",
                cookies={name: value},
                timeout=10,
                allow_redirects=False,
            )
            assert signed_out.status_code == 303
            await on_server(live_server, live_server.gateway.recheck_grants)
            assert await closed_code(by_cookie) == CLOSE_UNAUTHENTICATED
            assert await closed_code(by_token) == CLOSE_UNAUTHENTICATED
            await ingest(live_server, ingest_key, [point("cpu.usage", 6.0)])
            assert values(await points_frames(kept, 1)) == [6.0]

    run(scenario())


def test_expired_token_is_disconnected_by_recheck(
    live_server: LiveServer, tenant: str, make_user: Callable[..., User], clock: FakeClock
) -> None:
    """A token that expires while its socket is open closes that socket at the next re-check."""
    tokens = live_server.gateway.tokens  # on the services' clock, as the handshake is
    user = make_user(tenant, "viewer")
    token = tokens.issue(tenant, user_id=user.user_id)
    grant = tokens.verify(token)
    assert grant is not None and grant.expires_at is not None

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            clock.advance(grant.expires_at - clock() - 2)
            await on_server(live_server, live_server.gateway.recheck_grants)
            await settle(ws)  # still valid: still open
            clock.advance(3)
            await on_server(live_server, live_server.gateway.recheck_grants)
            assert await closed_code(ws) == CLOSE_UNAUTHENTICATED

    run(scenario())


def test_revoked_key_is_disconnected_by_recheck(
    live_server: LiveServer, services: Services, read_key: str, token: str
) -> None:
    key_id = read_key.split("_")[1]

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            await asyncio.to_thread(services.accounts.revoke_api_key, key_id)
            await on_server(live_server, live_server.gateway.recheck_grants)
            assert await closed_code(ws) == CLOSE_UNAUTHENTICATED

    run(scenario())


# -- protocol housekeeping --------------------------------------------------------------


def test_client_receives_ping(live_server: LiveServer, tenant: str, token: str) -> None:
    """The ping reaches the client, written straight to its idle socket like a live frame
    (a task and an ASGI send per socket was most of an idle gateway's CPU)."""

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await settle(ws)  # registered with the hub
            (client,) = live_server.gateway.hub.clients[tenant]
            assert client.fast is not None and client.fast.frames_written == 0

            async def ping_all() -> None:
                live_server.gateway.hub.ping_all()

            await on_server(live_server, ping_all)
            assert await receive(ws) == {"type": "ping"}
            assert client.fast.frames_written == 1

    run(scenario())


BAD_MESSAGES = [
    "not json",
    "[1, 2]",
    '{"metrics": ["cpu.usage"]}',
    '{"type": "subscribe"}',
    '{"type": "subscribe", "metrics": []}',
    '{"type": "subscribe", "metrics": ["cpu usage; drop"]}',
    '{"type": "subscribe", "metrics": ["cpu.usage"], "sources": "web-1"}',
    '{"type": "unsubscribe", "metrics": "cpu.usage"}',
    '{"type": "resume"}',
    '{"type": "resume", "cursor": "yesterday"}',
    '{"type": "subscribe", "metrics": ["cpu.usage"], "cursor": 12}',
]


def test_bad_client_messages_get_error_and_connection_stays_open(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            for bad in BAD_MESSAGES:
                await ws.send(bad)
                reply = await receive(ws)
                assert reply["type"] == "error", (bad, reply)
                assert isinstance(reply["message"], str) and reply["message"]
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 8.0)])
            assert values(await points_frames(ws, 1)) == [8.0]

    run(scenario())


def test_binary_message_is_handled_like_text(
    live_server: LiveServer, token: str, ingest_key: str
) -> None:
    """A subscribe sent as a binary frame works; a bad binary frame gets an error, no close."""

    async def scenario() -> None:
        async with open_ws(live_server, token) as ws:
            await ws.send(b"\xff\xfe not json")
            assert (await receive(ws))["type"] == "error"
            await ws.send(orjson.dumps({"type": "subscribe", "metrics": ["cpu.usage"]}))
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 4.0)])
            assert values(await points_frames(ws, 1)) == [4.0]

    run(scenario())


# -- slow clients (the hub alone, no network) -------------------------------------------


def _series_points(i: int) -> list[dict]:
    return [
        {"metric": "cpu.usage", "source": "web-1", "ts": 1_000 + i, "value": float(i)},
        {"metric": "cpu.usage", "source": "web-2", "ts": 1_000 + i, "value": float(-i)},
    ]


def test_slow_client_is_conflated_to_newest_value_per_series_never_buffered() -> None:
    async def scenario() -> None:
        unblocked = asyncio.Event()
        sent: list[dict] = []

        async def slow_send(frame: str) -> None:
            await unblocked.wait()
            sent.append(orjson.loads(frame))

        async def close(code: int, reason: str) -> None:
            raise AssertionError("a conflated client is not closed at once")

        client = Client(StreamGrant("t-slow", None, None, None), slow_send, close)
        client.subscribe(("cpu.*",), ("*",))
        total = QUEUE_FRAMES * 3
        try:
            for i in range(total):
                cursor = f"{1_000 + i}-0"
                batch = _series_points(i)
                client.offer(points_frame(cursor, batch), cursor, [(cursor, batch)])
                await asyncio.sleep(0)
                assert len(client.outbox) <= QUEUE_FRAMES
            assert client.conflated_since is not None
            newest = _series_points(total - 1)
            assert list(client.conflated.values()) == newest

            unblocked.set()
            while not sent or sent[-1]["cursor"] != f"{1_000 + total - 1}-0":
                await asyncio.sleep(0.01)
        finally:
            client.stop()
        # frame 0 was in flight, 1..QUEUE_FRAMES queued, the rest conflated into one frame
        assert len(sent) == QUEUE_FRAMES + 2
        assert [f["points"] for f in sent[:-1]] == [
            _series_points(i) for i in range(QUEUE_FRAMES + 1)
        ]
        assert sent[-1]["points"] == newest
        assert client.conflated == {} and client.conflated_since is None

    run(scenario(), timeout=10)


def test_drop_slow_closes_clients_conflated_too_long(services: Services) -> None:
    """Only a client conflated for over SLOW_CLIENT_S is closed (1008) and stops being served.

    Its close never completes here, as on a stalled socket: drop_slow does not wait for it."""

    async def scenario() -> None:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        hub = Hub(services.live, redis)
        closed: dict[str, tuple[int, str]] = {}
        never = asyncio.Event()

        def client(name: str) -> Client:
            async def send(frame: str) -> None:
                pass

            async def close(code: int, reason: str) -> None:
                closed[name] = (code, reason)
                await never.wait()

            made = Client(StreamGrant("t-drop", None, None, None), send, close)
            hub.add(made)
            return made

        lagging = client("lagging")
        lagging.conflated_since = time.monotonic() - SLOW_CLIENT_S - 1
        client("catching-up").conflated_since = time.monotonic() - SLOW_CLIENT_S + 5
        client("keeping-up")
        try:
            await asyncio.wait_for(hub.drop_slow(), 1)
            while not closed:
                await asyncio.sleep(0.01)
        finally:
            await redis.aclose()
        assert list(closed) == ["lagging"]
        assert closed["lagging"][0] == 1008
        assert lagging not in hub.all_clients() and len(hub.all_clients()) == 2

    run(scenario(), timeout=10)


def test_stalled_client_is_dropped_without_holding_up_the_gateway(
    live_server: LiveServer, tenant: str, token: str
) -> None:
    """A socket that stops reading is conflated, then dropped; the chores go on meanwhile.

    A stalled socket cannot take even a close frame, so dropping it must not wait on it:
    the healthy client still gets the ping sent right after."""
    hub = live_server.gateway.hub
    bulk = [
        {"metric": "bulk.load", "source": f"s-{i}", "ts": i, "value": 1.0} for i in range(10_000)
    ]

    def stalled_client() -> Client:
        return next(c for c in hub.clients[tenant] if c.metrics == ("bulk.*",))

    async def flood() -> None:
        """Feed the stalled socket frames (as the hub would) until it is conflated."""
        client = stalled_client()
        frame = points_frame("1-0", bulk)
        for i in range(200):
            if client.conflated_since is not None:
                return
            client.offer(frame, f"{i + 1}-0", [(f"{i + 1}-0", bulk)])
            await asyncio.sleep(0.02)
        raise AssertionError("the stalled client was never conflated")

    async def drop_then_ping() -> None:
        stalled_client().conflated_since = time.monotonic() - SLOW_CLIENT_S - 1
        await hub.drop_slow()
        hub.ping_all()

    async def scenario() -> None:
        async with (
            open_ws(live_server, token, max_queue=1) as stalled,
            open_ws(live_server, token) as healthy,
        ):
            for ws, metric in ((stalled, "bulk.*"), (healthy, "cpu.usage")):
                await send(ws, {"type": "subscribe", "metrics": [metric]})
                await settle(ws)
            await on_server(live_server, flood)  # from now on `stalled` reads nothing
            await asyncio.wait_for(on_server(live_server, drop_then_ping), 5)
            assert await receive(healthy) == {"type": "ping"}
            assert all(c.metrics != ("bulk.*",) for c in hub.clients.get(tenant, ()))

    run(scenario())


# -- resume racing the hub's coalescing (the hub alone, real Redis) -----------------------


class Recorder:
    """The socket side of a hub Client: what was sent to it."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.open = asyncio.Event()  # clear it to make sending block, like a busy socket
        self.open.set()
        self.sending = asyncio.Event()

    async def send(self, frame: str) -> None:
        self.sending.set()
        await self.open.wait()
        self.frames.append(orjson.loads(frame))

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed here")

    async def wait_for_value(self, value: float) -> None:
        while value not in values(self.frames):
            await asyncio.sleep(0.01)


LATER = 99.0  # the value of the point that proves nothing else is coming


async def after_a_later_point(
    services: Services, hub: Hub, tenant: str, recorder: Recorder
) -> None:
    """Publish a point after everything else and wait until it is sent: a duplicate of an
    earlier point, were there one, would have been sent before it."""
    hub.receive(tenant, *publish(services, tenant, "disk.free", LATER))
    await recorder.wait_for_value(LATER)


def publish(services: Services, tenant: str, metric: str, value: float) -> tuple[str, list]:
    """Commit one point to the tenant's live stream as the worker does: (cursor, live points)."""
    stored = Point(uuid.uuid4().hex, "web-1", metric, now_ms(), value)
    return services.live.publish_points(tenant, [stored]), [live_point(stored)]


def hub_client(hub: Hub, tenant: str, metric: str) -> tuple[Client, Recorder]:
    recorder = Recorder()
    client = Client(StreamGrant(tenant, None, None, None), recorder.send, recorder.close)
    client.subscribe((metric,), ("*",))
    hub.add(client)
    return client, recorder


def test_resume_overlapping_a_batch_still_coalescing_sends_each_point_once(
    services: Services, tenant: str
) -> None:
    """Subscribe-with-cursor while the hub holds back a just-published entry: it comes once."""

    async def scenario() -> None:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        hub = Hub(services.live, redis)
        hub_client(hub, tenant, "other.*")  # someone is watching: the hub flushes
        seen = publish(services, tenant, "disk.free", 0.0)  # the client had this one
        hub.receive(tenant, *seen)  # flushed at once
        hub.receive(tenant, *publish(services, tenant, "disk.free", 1.0))  # held to coalesce
        client, recorder = hub_client(hub, tenant, "disk.*")
        try:
            assert await hub.resume(client, seen[0])
            hub.receive(tenant, *publish(services, tenant, "disk.free", 2.0))
            await after_a_later_point(services, hub, tenant, recorder)
        finally:
            client.stop()
            await redis.aclose()
        assert values(recorder.frames) == [1.0, 2.0, LATER]

    run(scenario(), timeout=10)


def test_resume_after_a_coalesced_live_frame_sends_each_point_once(
    services: Services, tenant: str
) -> None:
    """Contract form: live frames came first, then resume; replay stops before what came live."""

    async def scenario() -> None:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        hub = Hub(services.live, redis)
        client, recorder = hub_client(hub, tenant, "disk.*")
        try:
            before = publish(services, tenant, "noise", 0.0)
            hub.receive(tenant, *before)  # flushed at once, not wanted
            hub.receive(tenant, *publish(services, tenant, "disk.free", 1.0))  # these two
            hub.receive(tenant, *publish(services, tenant, "disk.free", 2.0))  # coalesce
            await recorder.wait_for_value(2.0)
            assert await hub.resume(client, before[0])
            await after_a_later_point(services, hub, tenant, recorder)
        finally:
            client.stop()
            await redis.aclose()
        assert values(recorder.frames) == [1.0, 2.0, LATER]

    run(scenario(), timeout=10)


def test_points_arriving_during_a_replay_are_held_then_sent_once_in_order(
    services: Services, tenant: str
) -> None:
    """Entries the hub flushes while a replay is being written wait for it, minus the replayed."""

    async def scenario() -> None:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        hub = Hub(services.live, redis)
        hub_client(hub, tenant, "other.*")
        seen = publish(services, tenant, "disk.free", 0.0)
        hub.receive(tenant, *seen)
        lagging = publish(services, tenant, "disk.free", 1.0)  # in Redis, not yet at the hub
        client, recorder = hub_client(hub, tenant, "disk.*")
        recorder.open.clear()
        replay = asyncio.create_task(hub.resume(client, seen[0]))
        try:
            await recorder.sending.wait()  # the replay has read Redis and is writing
            hub.receive(tenant, *lagging)  # the channel catches up during the replay
            hub.receive(tenant, *publish(services, tenant, "disk.free", 2.0))
            await asyncio.sleep(0.1)  # flushed meanwhile: held
            recorder.open.set()
            assert await replay
            await recorder.wait_for_value(2.0)
            await after_a_later_point(services, hub, tenant, recorder)
        finally:
            client.stop()
            await redis.aclose()
        assert values(recorder.frames) == [1.0, 2.0, LATER]
        cursors = [f["cursor"] for f in recorder.frames]
        assert cursors == sorted(cursors, key=lambda c: tuple(map(int, c.split("-"))))

    run(scenario(), timeout=10)
