"""`GET /api/updates`: the long-poll fallback of `/ws`, served natively on the event loop.

Why not a Flask route like the rest of /api: the web role runs Flask under a2wsgi with a
pool of 16 threads (app/asgi.py), and a poll waits up to 25 s. Sixteen clients without
WebSockets would hold every thread, and pages and `POST /api/ingest` would queue behind
them. Here a waiting poll is a coroutine parked on `XREAD BLOCK` of the tenant's live
stream: no thread, one Redis connection, woken by the very entry it waits for. Auth is the
contract's (session cookie or `Bearer` key of scope `read`), checked as the `/ws` gateway
checks its cookies; errors have the contract's JSON shape.

A cursor is a live-stream entry id, as on `/ws`. Without one the answer is immediate, with
the current cursor. With one, every point after it that matches `metric` / `source` (names,
or patterns where `*` matches anything, as in a `/ws` subscribe) comes back as soon as
there is some; entries for other series only move the cursor on. After the wait the answer
is empty, with the cursor given (or moved past what did not match). A cursor older than the
resume window is answered as `/ws` answers it: `"reset": true` and the current cursor, so
the client reloads from `/api/data` and polls on from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from app.metrics import LONG_POLLS
from app.services import Services
from app.stream.gateway import session_grant
from app.stream.protocol import (
    MAX_PATTERNS,
    PATTERN_RE,
    MessageError,
    check_pattern_total,
    check_wildcards,
    compile_patterns,
)
from app.tokens import SessionCookies
from app.web.auth import verified_key
from data.stores.live import CURSOR_RE, live_entries
from data.stores.redis_connect import connect_async_redis

log = logging.getLogger(__name__)
WAIT_S = 25.0
MAX_WAITING = 1_000  # polls one process keeps waiting (each holds a Redis connection)
ENTRIES_PER_ANSWER = 100  # live entries read at once (each holds ≤ 1,000 points)
# Every method but GET gets a JSON 405 naming GET in `Allow` (RFC 9110), not Flask's 404.
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "TRACE", "QUERY", "OPTIONS"]
ALLOW = "GET, HEAD, OPTIONS"


class Refused(Exception):
    """An answer in the contract's error shape."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": code, "message": message, "details": details or []}}


def _json(doc: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


class LongPoll:
    """The `/api/updates` endpoint of one web process."""

    def __init__(self, services: Services, redis: AsyncRedis, wait_s: float = WAIT_S) -> None:
        self.services = services
        self.live = services.live
        # redis-py's annotations are unions of sync and async replies; treat replies as Any.
        self.redis: Any = redis
        self.cookies = SessionCookies(services.settings.require_secret())
        self.wait_s = wait_s
        self.waiting = 0
        self.draining = asyncio.Event()  # set on SIGTERM: polls answer now (app/drain.py)

    @classmethod
    def build(cls, services: Services) -> LongPoll:
        _, redis_url = services.settings.require_urls()
        # redis-py times a reply out after 5 s by default: a blocking read needs longer.
        redis = connect_async_redis(
            redis_url, 2 * MAX_WAITING, health_check_interval=30, socket_timeout=WAIT_S + 10
        )
        return cls(services, redis)

    def drain(self) -> None:
        """Answer every waiting poll now, and the next ones at once: the client asks
        again, from the cursor it got, and the load balancer sends it elsewhere."""
        self.draining.set()

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def handle(self, request: Request) -> Response:
        """Answer one poll (a bound method, so that Starlette wraps it as a request handler)."""
        try:
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": ALLOW})
            if request.method not in ("GET", "HEAD"):
                raise Refused(405, "method_not_allowed", "/api/updates takes GET")
            tenant = await self._tenant(request)
            cursor, wanted = _parse(request)
            if cursor is None:
                return _json({"cursor": await self._current(tenant), "points": []})
            return _json(await self._wait_while_connected(request, tenant, cursor, wanted))
        except Refused as refused:
            response = _json(refused.body, refused.status)
            if refused.status == 405:
                response.headers["Allow"] = ALLOW
            return response
        except RedisError as exc:
            log.warning("/api/updates could not read the live store: %r", exc)
            return _json(Refused(503, "unavailable", "the live store is unavailable").body, 503)

    async def _tenant(self, request: Request) -> str:
        """The caller's tenant: a `read` key, or a live session of any role."""
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            key = await asyncio.to_thread(verified_key, self.services, header[7:].strip())
            if key is None:
                raise Refused(401, "unauthenticated", "unknown or revoked API key")
            if key.scope != "read":
                raise Refused(403, "forbidden", "this route needs a key of scope read")
            return key.tenant_id
        cookie = request.cookies.get(self.cookies.cookie_name)
        grant = await session_grant(self.services, self.cookies, self.redis, cookie)
        if grant is None:
            raise Refused(401, "unauthenticated", "sign in or send Authorization: Bearer <key>")
        return grant.tenant_id

    async def _current(self, tenant: str) -> str:
        newest = await self.redis.xrevrange(self.live.live_key(tenant), count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _wait_while_connected(
        self, request: Request, tenant: str, cursor: str, wanted: Wanted
    ) -> dict[str, Any]:
        """The poll, given up early when the client hangs up (its connection is freed)."""
        if self.waiting >= MAX_WAITING:
            raise Refused(503, "busy", "too many polls are waiting; retry in a few seconds")
        self.waiting += 1
        LONG_POLLS.inc()
        poll = asyncio.ensure_future(self.poll(tenant, cursor, wanted))
        gone = asyncio.ensure_future(_disconnected(request))
        drained = asyncio.ensure_future(self.draining.wait())
        try:
            await asyncio.wait({poll, gone, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.waiting -= 1
            LONG_POLLS.dec()
            gone.cancel()
            drained.cancel()
            if not poll.done():
                poll.cancel()
        if not poll.done() or poll.cancelled():
            return {"cursor": cursor, "points": []}  # nobody is left, or asked again elsewhere
        return poll.result()

    async def poll(self, tenant: str, cursor: str, wanted: Wanted) -> dict[str, Any]:
        """Points after `cursor` that the caller wants, waiting up to `wait_s` for some."""
        if not self.live.can_resume(cursor):
            return {"cursor": await self._current(tenant), "points": [], "reset": True}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        key = self.live.live_key(tenant)
        while (block_ms := int((deadline - loop.time()) * 1000)) > 0:
            reply = await self.redis.xread({key: cursor}, count=ENTRIES_PER_ANSWER, block=block_ms)
            if not reply:
                break
            entries = live_entries(reply[0][1])
            cursor = entries[-1][0]
            points = [p for _, batch in entries for p in batch if wanted.wants(p)]
            if points:
                return {"cursor": cursor, "points": points}
        return {"cursor": cursor, "points": []}


class Wanted:
    """The metric and source patterns of a poll."""

    def __init__(self, metrics: list[str], sources: list[str]) -> None:
        self._metrics = compile_patterns(metrics)
        self._sources = compile_patterns(sources)

    def wants(self, point: dict[str, Any]) -> bool:
        return self._metrics.matches(point["metric"]) and self._sources.matches(point["source"])


def _parse(request: Request) -> tuple[str | None, Wanted]:
    """The cursor (None when absent) and the wanted series, or a 422 naming each problem."""
    problems: list[dict[str, str]] = []
    params = request.query_params
    cursors = params.getlist("cursor")
    if len(cursors) > 1 or (cursors and not CURSOR_RE.fullmatch(cursors[0])):
        problems.append({"field": "cursor", "message": "must be one cursor of an earlier answer"})
    metrics = params.getlist("metric")
    sources = params.getlist("source") or ["*"]
    for field, names in (("metric", metrics), ("source", sources)):
        if not names or len(names) > MAX_PATTERNS:
            problems.append({"field": field, "message": f"give 1-{MAX_PATTERNS} of them"})
        for name in names:
            if not PATTERN_RE.fullmatch(name):
                message = f"{name[:140]!r} is not a name, or a pattern where * matches anything"
                problems.append({"field": field, "message": message})
        problems.extend(_refusal(field, check_wildcards, field, names))
    problems.extend(_refusal("metric", check_pattern_total, metrics, sources))
    if problems:
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        raise Refused(422, "invalid_query", message, problems)
    return (cursors[0] if cursors else None), Wanted(metrics, sources)


def _refusal(field: str, check: Callable[..., None], *args: Any) -> list[dict[str, str]]:
    """The problem `check(*args)` raises as a MessageError, as a 422 detail."""
    try:
        check(*args)
    except MessageError as exc:
        return [{"field": field, "message": str(exc)}]
    return []


async def _disconnected(request: Request) -> None:
    """Return once the client has hung up."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
