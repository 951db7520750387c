"""/ws opened with an embed token (CONTRACT.md §7): only the resource's series within the
locked sources reach it, a subscription to anything else is refused, and a revoked or
expired token's socket is closed within seconds, driven by the close itself."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import requests

from app.services import Services
from app.stream.embeds import EXPIRED_REASON, REVOKED_REASON
from app.stream.gateway import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from data.domain.dashboards import Actor
from tests.conftest import FakeClock, LiveServer, new_tenant
from tests.gateway.test_ws import (
    closed_code,
    ingest,
    open_ws,
    point,
    points_frames,
    refused_status,
    run,
    send,
    settle,
)

REVOCATION_S = 5.0  # CONTRACT.md §7: a revoked embed stops within 5 s
WIDGET = {
    "id": "cpu",
    "type": "line",
    "query": {"metric": ["cpu.*"]},
    "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
}


def mint(server: LiveServer, services: Services, tenant: str, make_user, **body: Any) -> dict:  # type: ignore[no-untyped-def]
    """A dashboard with a CPU widget, and an embed token of it minted by an embed key."""
    user = make_user(tenant, "analyst")
    actor = Actor(tenant, user.user_id, user.role)
    board = services.dashboards.create(actor, {"title": "Ops", "widgets": [WIDGET]})
    key = services.accounts.create_api_key(tenant, "intranet", "embed")
    doc = {"resource": {"type": "dashboard", "dashboard_id": board.dashboard_id}, **body}
    resp = requests.post(
        server.url + "/api/embed-tokens",
        json=doc,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return {**resp.json(), "key": key}


@pytest.fixture
def embed(live_server: LiveServer, services: Services, tenant: str, make_user) -> dict:  # type: ignore[no-untyped-def]
    return mint(live_server, services, tenant, make_user, filters={"source": ["web-1"]})


def test_an_embed_socket_gets_only_its_resources_series_within_the_locked_sources(
    live_server: LiveServer, embed: dict, ingest_key: str
) -> None:
    async def scenario() -> None:
        async with open_ws(live_server, embed["token"]) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.*"], "sources": ["*"]})
            await settle(ws)
            await ingest(
                live_server,
                ingest_key,
                [
                    point("cpu.usage", 2.0, "web-2"),
                    point("mem.used", 3.0, "web-1"),
                    point("cpu.usage", 1.0, "web-1"),
                ],
            )
            frames = await points_frames(ws, 1)
            assert [(p["metric"], p["source"]) for f in frames for p in f["points"]] == [
                ("cpu.usage", "web-1")
            ]

    run(scenario())


@pytest.mark.parametrize(
    "subscription",
    [
        {"metrics": ["mem.used"]},
        {"metrics": ["*"]},
        {"metrics": ["cpu.usage"], "sources": ["web-2"]},
    ],
)
def test_a_subscription_outside_the_resource_is_refused(
    live_server: LiveServer, embed: dict, subscription: dict
) -> None:
    async def scenario() -> None:
        async with open_ws(live_server, embed["token"]) as ws:
            await send(ws, {"type": "subscribe", **subscription})
            assert await closed_code(ws) == CLOSE_FORBIDDEN

    run(scenario())


def test_revoking_the_token_closes_its_socket_within_five_seconds(
    live_server: LiveServer, embed: dict, ingest_key: str
) -> None:
    async def scenario() -> None:
        async with open_ws(live_server, embed["token"]) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            resp = await asyncio.to_thread(
                requests.delete,
                f"{live_server.url}/api/embed-tokens/{embed['jti']}",
                headers={"Authorization": f"Bearer {embed['key']}"},
                timeout=10,
            )
            assert resp.status_code == 204
            assert await closed_code(ws, timeout=REVOCATION_S) == CLOSE_UNAUTHENTICATED
            assert ws.close_reason == REVOKED_REASON
        # and it opens no new socket
        assert await refused_status(live_server, token=embed["token"]) == 403

    run(scenario())


def test_an_expiring_token_closes_its_socket_and_opens_no_other(
    live_server: LiveServer, services: Services, tenant: str, make_user, clock: FakeClock
) -> None:  # type: ignore[no-untyped-def]
    minted = mint(live_server, services, tenant, make_user, ttl_s=60)

    async def scenario() -> None:
        async with open_ws(live_server, minted["token"]) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.usage"]})
            await settle(ws)
            clock.advance(61)
            assert await closed_code(ws, timeout=REVOCATION_S) == CLOSE_UNAUTHENTICATED
            assert ws.close_reason == EXPIRED_REASON
        assert await refused_status(live_server, token=minted["token"]) == 403

    run(scenario())


def test_a_forged_embed_token_opens_no_socket(live_server: LiveServer, embed: dict) -> None:
    token = embed["token"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    assert run(refused_status(live_server, token=forged)) == 403


def test_another_tenants_embed_never_receives_this_tenants_points(
    live_server: LiveServer, services: Services, make_user, tenant: str, ingest_key: str
) -> None:  # type: ignore[no-untyped-def]
    other = new_tenant(services)
    theirs = mint(live_server, services, other, make_user)
    their_ingest = services.accounts.create_api_key(other, "ingest", "ingest")

    async def scenario() -> None:
        async with open_ws(live_server, theirs["token"]) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["cpu.*"], "sources": ["*"]})
            await settle(ws)
            await ingest(live_server, ingest_key, [point("cpu.usage", 666.0, "web-1")])
            await ingest(live_server, their_ingest, [point("cpu.usage", 7.0, "web-1")])
            frames = await points_frames(ws, 1)
            assert [p["value"] for f in frames for p in f["points"]] == [7.0]

    run(scenario())
