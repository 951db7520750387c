"""The /ws gateway: authenticates sockets, speaks the protocol, and runs the hub's chores."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis as AsyncRedis
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.drain import CLOSE_SERVICE_RESTART, RESTART_REASON
from app.metrics import WS_CLIENTS
from app.services import Services
from app.settings import Settings
from app.stream.client import OVERFLOW_REASON, Client
from app.stream.embeds import (
    EXPIRED_REASON,
    REVOKED_REASON,
    embed_grant,
    embed_store,
    revoked_jtis,
    subscription_allowed,
)
from app.stream.fastwrite import FastWriter, direct_writes_enabled, release_handshake
from app.stream.hub import Hub
from app.stream.pipelined import PipelinedCommands
from app.stream.protocol import (
    RESET,
    MessageError,
    Subscribe,
    Unsubscribe,
    error_frame,
    parse_client_message,
)
from app.tokens import SessionCookies, StreamGrant, StreamTokens
from data.stores.embed_tokens import EmbedTokens
from data.stores.redis_connect import connect_async_redis
from data.stores.sessions import session_key

log = logging.getLogger(__name__)
PING_EVERY_S = 20.0
CLOSE_FORBIDDEN = 4403
CLOSE_UNAUTHENTICATED = 4401
CLOSE_POLICY = 1008  # too many sockets, or a client flooding its own outbox
OVERFLOW_CLOSE_WAIT_S = 5.0  # a client that floods and never reads may not take the close
RESUME_EVERY_S = 1.0  # a socket's resumes at most this often: each may replay 10 minutes
RESUME_BUSY = "one resume at a time, at most one a second: read the last one's frames, then resume"


async def session_grant(
    services: Services,
    cookies: SessionCookies,
    redis: AsyncRedis | PipelinedCommands,
    cookie: str | None,
) -> StreamGrant | None:
    """The grant of a signed-in session cookie whose session and user are still live."""
    identity = cookies.identity(cookie) if cookie else None
    if identity is None:
        return None
    user_id, sid = identity
    if sid is None:
        return None
    key = session_key(services.settings.redis_prefix, user_id)
    if not await redis.sismember(key, sid):
        return None  # signed out
    user = await asyncio.to_thread(services.accounts.get_user, user_id)
    if user is None or not user.active:
        return None
    return StreamGrant(user.tenant_id, user.user_id, None, None, sid)


def gateway_redis(settings: Settings, redis_url: str) -> Any:
    """The gateway's Redis client, its connections shared by every socket of the process.

    Handshakes (session checks) and resumes (XRANGE) share pipelined round trips
    (app/stream/pipelined.py); anything else that finds every connection busy, as in a reconnect
    storm, queues for up to GATEWAY_REDIS_WAIT_S rather than being answered 500, as
    redis-py's default pool does past its 100 connections. On a Redis Cluster the client
    holds up to GATEWAY_REDIS_CONNECTIONS per node (redis-py has no blocking pool there)."""
    return connect_async_redis(
        redis_url,
        settings.gateway_redis_connections,
        settings.gateway_redis_wait_s,
        health_check_interval=30,
    )


@dataclass
class Gateway:
    """Everything a gateway process shares between its sockets."""

    services: Services
    hub: Hub
    tokens: StreamTokens
    cookies: SessionCookies
    direct_writes: bool = False  # the pinned fast path for live frames (app/stream/fastwrite.py)
    embeds: EmbedTokens | None = None  # `?token=` may be an embed token (app/stream/embeds.py)
    draining: bool = False  # SIGTERM: sockets are sent to another gateway (app/drain.py)

    @classmethod
    def build(cls, services: Services) -> Gateway:
        settings = services.settings
        _, redis_url = settings.require_urls()
        redis = gateway_redis(settings, redis_url)
        secret = settings.require_secret()
        return cls(
            services,
            Hub(
                services.live,
                redis,
                frame_interval_s=1 / settings.ws_max_frames_per_s,
                frames_budget_per_s=settings.ws_frames_budget_per_s,
            ),
            StreamTokens(secret, settings.stream_token_ttl_s, clock=services.clock),
            SessionCookies(secret),
            direct_writes=direct_writes_enabled(),
            embeds=embed_store(services),
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the hub and the periodic chores for as long as the context lasts."""
        tasks = [
            asyncio.create_task(self.hub.run(), name="hub"),
            asyncio.create_task(self._chores(), name="gateway-chores"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.hub.commands.aclose()
            await self.hub.redis.aclose()

    def drain(self) -> None:
        """Tell every open socket, and every one opened from now on, to reconnect elsewhere
        (1012): its client resumes from its cursor on whichever gateway it reaches next."""
        self.draining = True
        for client in self.hub.all_clients():
            self.hub.disconnect(client, CLOSE_SERVICE_RESTART, RESTART_REASON)

    async def _chores(self) -> None:
        # monotonic: these are intervals between chores, not moments of the product's clock
        last_ping = last_check = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            await self.hub.drop_slow()
            try:
                await self.recheck_embeds()
            except Exception:  # Redis away: the hub reconnects; the next second tries again
                log.exception("could not re-check the embeds' tokens")
            if now - last_ping >= PING_EVERY_S:
                self.hub.ping_all()
                last_ping = now
            # an expired token, a disabled user or a revoked key is dropped within this
            if now - last_check >= self.services.settings.ws_recheck_s:
                last_check = now
                try:
                    await self.recheck_grants()
                except Exception:  # PostgreSQL away: keep pinging, try again next round
                    log.exception("could not re-check the sockets' credentials")

    async def recheck_grants(self) -> None:
        """Close sockets whose token expired, whose user was disabled or signed out of the
        session the socket came from, or whose key was revoked."""
        accounts = self.services.accounts
        users: dict[str, bool] = {}
        keys: dict[str, bool] = {}
        sessions: dict[tuple[str, str], bool] = {}
        prefix = self.services.settings.redis_prefix
        for client in self.hub.all_clients():
            grant = client.grant
            ok = grant.expires_at is None or grant.expires_at > self.services.clock()
            if ok and grant.user_id and grant.session_id:
                signed_in = (grant.user_id, grant.session_id)
                if signed_in not in sessions:
                    key = session_key(prefix, grant.user_id)
                    sessions[signed_in] = await self.hub.commands.sismember(key, grant.session_id)
                ok = sessions[signed_in]
            if ok and grant.user_id:
                if grant.user_id not in users:
                    user = await asyncio.to_thread(accounts.get_user, grant.user_id)
                    users[grant.user_id] = bool(user and user.active)
                ok = users[grant.user_id]
            if ok and grant.key_id:
                if grant.key_id not in keys:
                    keys[grant.key_id] = await asyncio.to_thread(accounts.is_key_live, grant.key_id)
                ok = keys[grant.key_id]
            if ok and grant.embed_jti:
                ok = await self._embed_live(grant, keys)
            if not ok:
                self.hub.disconnect(client, CLOSE_UNAUTHENTICATED, "credentials expired or revoked")

    async def _embed_live(self, grant: StreamGrant, seen: dict[str, bool]) -> bool:
        """PostgreSQL's word on an embed token, in case Redis lost its revocation."""
        jti = grant.embed_jti
        if jti is None or self.embeds is None:
            return jti is None
        if jti not in seen:
            seen[jti] = await asyncio.to_thread(self.embeds.is_live, jti, grant.tenant_id)
        return seen[jti]

    async def recheck_embeds(self) -> None:
        """Close, within a second, the sockets of embed tokens revoked or expired."""
        embedded = [c for c in self.hub.all_clients() if c.grant.embed_jti]
        if not embedded:
            return
        prefix = self.services.settings.redis_prefix
        revoked = await revoked_jtis(
            self.hub.redis, prefix, (c.grant.embed_jti or "" for c in embedded)
        )
        now = self.services.clock()
        for client in embedded:
            if client.grant.embed_jti in revoked:
                self.hub.disconnect(client, CLOSE_UNAUTHENTICATED, REVOKED_REASON)
            elif client.grant.expires_at is not None and client.grant.expires_at <= now:
                self.hub.disconnect(client, CLOSE_UNAUTHENTICATED, EXPIRED_REASON)

    def origin_allowed(self, ws: HTTPConnection) -> bool:
        """Same origin as the page, or one of EMBED_ALLOWED_ORIGINS; no Origin = not a browser."""
        origin = ws.headers.get("origin")
        if origin is None:
            return True
        if origin in self.services.settings.allowed_origins:
            return True
        return urlsplit(origin).netloc == ws.headers.get("host", "")

    async def authenticate(self, ws: HTTPConnection) -> StreamGrant | None:
        """The grant of a `?token=` or of the session cookie; None when neither is valid."""
        token = ws.query_params.get("token")
        if token:
            grant = self.tokens.verify(token)
            if grant is None and self.embeds is not None:
                grant = await embed_grant(self.embeds, token)
            return grant
        cookie = ws.cookies.get(self.cookies.cookie_name)
        return await session_grant(self.services, self.cookies, self.hub.commands, cookie)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one /ws connection from handshake to close (a plain ASGI app, so that the
        frames it sends pass no middleware)."""
        ws = WebSocket(scope, receive, send)
        if self.draining:  # accepted, so that the client sees the code and reconnects
            await ws.accept()
            await ws.close(CLOSE_SERVICE_RESTART, RESTART_REASON)
            return
        grant, refusal = await self._admission(scope)
        if grant is None:
            await ws.close(*refusal)
            return

        async def send_text(text: str) -> None:
            await send({"type": "websocket.send", "text": text})

        client = Client(
            grant,
            send_text,
            lambda code, reason: ws.close(code, reason),
            fast=FastWriter.of(send) if self.direct_writes else None,
        )
        settings = self.services.settings
        per_user, per_key = settings.ws_max_sockets_per_user, settings.ws_max_sockets_per_key
        # before any await: two handshakes can race
        admitted = self.hub.admit(client, per_user, per_key)
        limit = per_user if grant.user_id else per_key
        try:
            await ws.accept()
            if self.direct_writes:  # ~6 KiB a socket that nothing needs once it is open
                release_handshake(send)
            if not admitted:  # accepted first, so that the client sees the code and reason
                owner = "user" if grant.user_id else "key"
                reason = f"too many open sockets for this {owner} (at most {limit})"
                await ws.close(CLOSE_POLICY, reason)
                return
            await self._serve(ws, client)
        finally:
            self.hub.remove(client)
            client.stop()

    async def _admission(self, scope: Scope) -> tuple[StreamGrant | None, tuple[int, str]]:
        """The grant of the handshake, or the close code and reason refusing it. Read from a
        connection object of its own, which ends here: the WebSocket kept for the socket's
        life caches no parsed headers, cookies or query."""
        handshake = HTTPConnection(scope)
        if not self.origin_allowed(handshake):
            return None, (CLOSE_FORBIDDEN, "origin not allowed")
        grant = await self.authenticate(handshake)
        return grant, (CLOSE_UNAUTHENTICATED, "sign in or pass ?token=")

    async def _serve(self, ws: WebSocket, client: Client) -> None:
        WS_CLIENTS.inc()
        try:
            await self._read_messages(ws, client)
        except WebSocketDisconnect:
            pass
        finally:
            WS_CLIENTS.dec()

    async def _read_messages(self, ws: WebSocket, client: Client) -> None:
        while not client.overflowed:
            received = await ws.receive()  # text or binary frames alike
            if received["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(received.get("code", 1000), received.get("reason"))
            try:
                await self._handle(client, received.get("text") or received.get("bytes") or "")
            except MessageError as exc:
                client.push(error_frame(str(exc)))
        # It sent more than it read: stop reading it, and close without waiting long.
        self.hub.remove(client)
        with contextlib.suppress(Exception, asyncio.TimeoutError):
            await asyncio.wait_for(ws.close(CLOSE_POLICY, OVERFLOW_REASON), OVERFLOW_CLOSE_WAIT_S)

    async def _handle(self, client: Client, text: str | bytes) -> None:
        """Act on one client message; MessageError when it is refused."""
        message = parse_client_message(text)
        if isinstance(message, Unsubscribe):
            client.unsubscribe(message.metrics)
            self.hub.regroup(client)
            return
        cursor = message.cursor
        if cursor:
            # Each resume of a loop would decode and queue another full replay. (A rate
            # limit measures an interval: monotonic time, not the product's clock.)
            if client.replay_in_flight or time.monotonic() - client.resumed_at < RESUME_EVERY_S:
                raise MessageError(RESUME_BUSY)
            client.resumed_at = time.monotonic()
        if isinstance(message, Subscribe):
            if client.grant.embed_jti and not subscription_allowed(
                client.grant, message.metrics, message.sources
            ):
                self.hub.disconnect(client, CLOSE_FORBIDDEN, "outside the embed's resource")
                return
            client.subscribe(message.metrics, message.sources)
            self.hub.regroup(client)
        if cursor and not await self.hub.resume(client, cursor):
            client.push(RESET)
