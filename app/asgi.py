"""The ASGI application: the Dash/Flask web role and the /ws gateway on one origin."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from a2wsgi import WSGIMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from app.drain import DRAIN_ENV, FLASK_EXTENSION, Drain, readiness
from app.metrics import exposition
from app.services import Services
from app.settings import Settings
from app.stream.gateway import Gateway

ROLES_ENV = "PULSE_SERVE_ROLES"  # set by app.cli for the server processes it starts


def from_environment() -> PulseASGI:
    """The ASGI app of one server process, from Settings and the roles app.cli asked for."""
    roles = os.environ.get(ROLES_ENV, "web,stream").split(",")
    settings = Settings()
    timeout_ms = settings.web_statement_timeout_ms if "web" in roles else None
    services = Services.build(settings, pool_size=10, statement_timeout_ms=timeout_ms)
    drains = os.environ.get(DRAIN_ENV) == "1"
    return build_asgi(services, web="web" in roles, stream="stream" in roles, drains=drains)


class PulseASGI:
    """/ws straight to the gateway (its frames pass no middleware); the rest to Starlette."""

    def __init__(self, starlette: Starlette, gateway: Gateway | None, drain: Drain) -> None:
        self.starlette = starlette
        self.gateway = gateway
        self.drain = drain
        self.state = starlette.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gateway is not None and scope["type"] == "websocket" and scope["path"] == "/ws":
            await self.gateway(scope, receive, send)
        else:
            await self.starlette(scope, receive, send)


def build_asgi(
    services: Services, web: bool = True, stream: bool = True, drains: bool = False
) -> PulseASGI:
    """Serve the web role (pages, /api) and/or the stream role (/ws) from one ASGI app;
    `drains`: SIGTERM starts a graceful drain (app/drain.py) instead of a quick stop."""
    gateway = Gateway.build(services) if stream else None
    drain = Drain(services.settings.drain_unready_s)
    if gateway is not None:
        drain.on_begin(gateway.drain)
    long_poll = None
    routes: list[Route | Mount] = []
    if web:
        from app.stream.updates import METHODS, LongPoll
        from app.web.factory import create_app  # the stream role alone never loads Dash

        dash_app = create_app(services=services)
        dash_app.server.extensions[FLASK_EXTENSION] = drain  # for /readyz
        # /api/updates waits up to 25 s per request: served on the event loop, never by
        # one of Flask's 16 threads (see app/stream/updates.py).
        long_poll = LongPoll.build(services)
        drain.on_begin(long_poll.drain)
        routes.append(Route("/api/updates", long_poll.handle, methods=METHODS))
        routes.append(Mount("/", app=WSGIMiddleware(dash_app.server, workers=16)))  # type: ignore[arg-type]
    else:
        routes.append(Route("/healthz", _healthz))
        routes.append(Route("/readyz", _readyz_route(services, drain)))
        routes.append(Route("/metrics", _metrics_route(services)))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if long_poll is not None:
                stack.push_async_callback(long_poll.aclose)
            if gateway is not None:
                await stack.enter_async_context(gateway.running())
            if drains:
                drain.install()
            yield

    starlette = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found})
    starlette.state.gateway = gateway
    return PulseASGI(starlette, gateway, drain)


async def _not_found(request: Request, _: Exception) -> Response:
    """A path no route matches even before Flask sees it (Starlette's catch-all takes no
    newline): under /api/ the contract's JSON 404, elsewhere a plain one."""
    if not request.url.path.startswith("/api/"):
        return Response("Not Found", status_code=404, media_type="text/plain")
    body = {"error": {"code": "not_found", "message": "no such API route", "details": []}}
    return JSONResponse(body, status_code=404)


async def _healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _readyz_route(services: Services, drain: Drain) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(_: Request) -> Response:
        body, status = await asyncio.to_thread(readiness, services, drain)
        return JSONResponse(body, status_code=status)

    return readyz


def _metrics_route(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def metrics(_: Request) -> Response:
        body, content_type = await asyncio.to_thread(exposition, services.live)
        return Response(body, media_type=content_type)

    return metrics
