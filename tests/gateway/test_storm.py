"""A reconnect storm (issue 9): every viewer of a deploy or a network blip connects at once.

1,500 real sockets open together on one gateway, authenticated like browsers (session
cookies of real sign-ins) and like embeds (`?token=`), each resuming from a cursor. None
may be refused or fail; each gets the missed point, then the next live one.
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from data.stores.accounts import User
from tests.conftest import LiveServer
from tests.gateway.conftest import session_cookie, stream_token
from tests.gateway.test_ws import (
    ingest,
    ingest_now,
    open_ws,
    point,
    points_frames,
    run,
    send,
    settle,
    values,
    wait_for_published,
)

SOCKETS = 1_500
TOKEN_SOCKETS = 300  # the rest open with a session cookie
VIEWERS = 100  # 12 sockets each, within WS_MAX_SOCKETS_PER_USER
SIGN_INS_PER_VIEWER = 1  # 100 distinct sessions: each is checked in Redis at handshake
OPEN_TIMEOUT_S = 60.0  # generous: on two shared cores the handshakes queue


def raise_fd_limit(needed: int) -> None:
    """Let this process hold `needed` descriptors: it runs both the server and the clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == resource.RLIM_INFINITY or soft >= needed, f"fd limit {soft} < {needed}"


def credentials(server: LiveServer, users: list[User], read_key: str) -> list[dict[str, str]]:
    """Per socket, a Cookie of one of the viewers' sign-ins or a `?token=`, interleaved."""

    # one viewer's sign-ins one after another: the throttle holds a user's attempts in flight
    # from one address to the limit (parallel guesses at one account), successes included
    def sign_ins(user: User) -> list[str]:
        return [session_cookie(server, user) for _ in range(SIGN_INS_PER_VIEWER)]

    with ThreadPoolExecutor(8) as pool:
        cookies = [cookie for batch in pool.map(sign_ins, users) for cookie in batch]
    tokens = [stream_token(server, read_key) for _ in range(3)]
    by_cookie = [{"cookie": cookies[i % len(cookies)]} for i in range(SOCKETS - TOKEN_SOCKETS)]
    by_token = [{"token": tokens[i % len(tokens)]} for i in range(TOKEN_SOCKETS)]
    return by_cookie + by_token


async def open_one(server: LiveServer, credential: dict[str, str]) -> ClientConnection | str:
    """An open socket, or what went wrong: 'refused <status>' or the exception's name."""
    try:
        connecting = open_ws(server, origin=server.url, **credential)
        connecting.open_timeout = OPEN_TIMEOUT_S
        return await connecting
    except InvalidStatus as refused:
        return f"refused {refused.response.status_code}"
    except Exception as exc:
        return type(exc).__name__


async def resume_and_confirm(ws: ClientConnection, cursor: str) -> list[float]:
    """Subscribe from `cursor`; the values replayed before the server confirmed it."""
    await send(ws, {"type": "subscribe", "metrics": ["storm.*"], "cursor": cursor})
    # The gateway pings every socket every 20 s: one may come in the middle.
    return values([m for m in await settle(ws) if m["type"] != "ping"])


def test_1500_sockets_opened_at_once_are_all_accepted_resumed_and_fed(
    live_server: LiveServer,
    services,
    tenant: str,
    ingest_key: str,
    read_key: str,
    make_user: Callable[..., User],
) -> None:
    raise_fd_limit(3 * SOCKETS + 1_000)  # client and server end of each socket, and spare
    viewers = [make_user(tenant, "viewer") for _ in range(VIEWERS)]
    per_socket = credentials(live_server, viewers, read_key)
    cursor = services.live.current_cursor(tenant)
    ingest_now(live_server, ingest_key, [point("storm.load", 1.0)])  # missed while away
    wait_for_published(services, tenant, cursor, 1)

    async def scenario() -> None:
        opened = await asyncio.gather(*(open_one(live_server, c) for c in per_socket))
        sockets = [ws for ws in opened if not isinstance(ws, str)]
        try:
            outcomes = Counter("accepted" if not isinstance(ws, str) else ws for ws in opened)
            assert outcomes == {"accepted": SOCKETS}

            replayed = await asyncio.gather(*(resume_and_confirm(ws, cursor) for ws in sockets))
            assert Counter(map(tuple, replayed)) == {(1.0,): SOCKETS}

            await ingest(live_server, ingest_key, [point("storm.load", 2.0)])
            received = await asyncio.gather(*(points_frames(ws, 1) for ws in sockets))
            assert Counter(tuple(values(frames)) for frames in received) == {(2.0,): SOCKETS}
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    run(scenario(), timeout=240)
