"""A password reset ends every session of the user, and with them their sockets: the
gateway's re-check (every WS_RECHECK_S, at most 30 s) finds the session gone and closes them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import requests

from app.stream.gateway import CLOSE_UNAUTHENTICATED
from data.stores.accounts import User
from data.stores.password_resets import PasswordResets
from tests.conftest import LiveServer
from tests.gateway.conftest import session_cookie
from tests.gateway.test_ws import closed_code, on_server, open_ws, run, send, settle


def test_a_reset_closes_the_users_sockets_at_the_next_recheck(
    live_server: LiveServer, tenant: str, make_user: Callable[..., User]
) -> None:
    assert live_server.services.settings.ws_recheck_s <= 35  # the contract's bound
    user = make_user(tenant, "viewer")
    cookie = session_cookie(live_server, user)
    token = PasswordResets(live_server.services.engine).issue_for(tenant, user.username)

    async def scenario() -> None:
        async with open_ws(live_server, cookie=cookie) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            reset = await asyncio.to_thread(
                requests.post,
                f"{live_server.url}/api/password-reset/{token}",
                json={"password": "after-the-reset"},
                timeout=10,
            )
            assert reset.status_code == 204
            await on_server(live_server, live_server.gateway.recheck_grants)
            assert await closed_code(ws) == CLOSE_UNAUTHENTICATED

    run(scenario())
