"""Graceful drain of a web or stream process on SIGTERM (`python app.py web|stream`).

At SIGTERM, /readyz answers 503 at once, so that load balancers stop sending; every /ws
socket is closed with 1012 (service restart) and its client reconnects, through the load
balancer, to another gateway and resumes from its cursor (cursors live in Redis: any gateway
serves any of them); waiting long polls are answered, to be asked again elsewhere. The
process goes on serving for DRAIN_UNREADY_S (health checks see the 503), then stops
listening and lets the requests in flight finish (an ingest included), all within
DRAIN_TIMEOUT_S, and exits 0. A second SIGTERM, or a SIGINT, stops at once as before.

`python app.py` (all roles in one) keeps its quick stop: there is nowhere else to drain to.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from data.stores.db import ping

if TYPE_CHECKING:
    from app.services import Services
    from app.settings import Settings

log = logging.getLogger(__name__)

DRAIN_ENV = "PULSE_DRAIN"  # set by app.cli for the web and stream roles' server processes
FLASK_EXTENSION = "pulse_drain"  # where the web role's Flask app finds the process's Drain
CLOSE_SERVICE_RESTART = 1012  # RFC 6455 §7.4.1 as registered by IANA: reconnect later
RESTART_REASON = "service restart: reconnect and resume"


class Drain:
    """One server process's drain: whether it has begun, and what it does then."""

    def __init__(self, unready_s: float = 2.0) -> None:
        """Nothing drains until begin() (or SIGTERM once install()ed)."""
        self.unready_s = unready_s
        self.started_at: float | None = None
        self._hooks: list[Callable[[], None]] = []

    @property
    def draining(self) -> bool:
        """Whether the process is draining: /readyz then answers 503."""
        return self.started_at is not None

    def on_begin(self, hook: Callable[[], None]) -> None:
        """Run `hook` on the event loop when the drain begins (close sockets, end polls)."""
        self._hooks.append(hook)

    def begin(self) -> None:
        """Start draining: readiness fails at once, then every hook runs (on the loop)."""
        if self.started_at is not None:
            return
        self.started_at = time.monotonic()
        for hook in self._hooks:
            try:
                hook()
            except Exception:  # one part failing to drain must not keep the others serving
                log.exception("a drain hook failed")

    def install(self, stop_server: Callable[[], None] | None = None) -> bool:
        """Take SIGTERM over in this process (from the running event loop, on the main
        thread); False where signals cannot be handled (a server run in a thread).

        `stop_server` ends the server DRAIN_UNREADY_S after the drain began; by default
        uvicorn's own handler's server is told to exit, without the signal being kept
        for re-raising (so the process exits 0)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
        stop = stop_server or (lambda: _stop_uvicorn(previous))

        def handle(signum: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: stop now, as uvicorn would
                if callable(previous):
                    previous(signum, frame)
                return
            log.info("SIGTERM: draining for %.1f s, then stopping", self.unready_s)
            loop.call_soon_threadsafe(self._begin_then_stop, loop, stop)

        signal.signal(signal.SIGTERM, handle)
        return True

    def _begin_then_stop(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
        self.begin()
        loop.call_later(self.unready_s, stop)


def _stop_uvicorn(handler: Any) -> None:
    """Ask the uvicorn server whose signal handler this is to exit (its `should_exit`, the
    attribute uvicorn documents for stopping a server from code)."""
    server = getattr(handler, "__self__", None)
    if server is not None and hasattr(server, "should_exit"):
        server.should_exit = True
    elif callable(handler):
        handler(signal.SIGTERM, None)
    else:
        raise SystemExit(0)


def in_flight_wait_s(settings: Settings) -> int:
    """How long a draining server waits for the requests in flight once it stops listening:
    the drain's bound less its unready time and a second to close and exit (uvicorn's
    timeout_graceful_shutdown takes whole seconds)."""
    return max(1, int(settings.drain_timeout_s - settings.drain_unready_s - 1))


def readiness(services: Services, drain: Drain | None) -> tuple[dict[str, Any], int]:
    """/readyz's body and status: 503 while draining, else whether PostgreSQL and Redis
    both answer."""
    if drain is not None and drain.draining:
        return {"status": "draining", "checks": {}}, 503
    checks: dict[str, str] = {}
    probes: dict[str, Callable[[], object]] = {
        "postgres": lambda: ping(services.engine),
        "redis": services.redis.ping,
    }
    for name, probe in probes.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
