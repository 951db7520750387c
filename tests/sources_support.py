"""Helpers of the source tests: small real HTTP servers, poll contexts, isolated services."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.services import Services
from app.worker.sources.base import PollContext
from data.outbound import OutboundPolicy
from data.stores.live import LiveStore

# (status, content type, body) for a request's path and headers; a body given as a list of
# chunks is sent slowly, one chunk per TRICKLE_S (a server that hangs without going silent)
Answer = tuple[int, str, bytes | list[bytes]]
TRICKLE_S = 0.2
Handler = Callable[[str, dict[str, str]], Answer]
# The test servers' loopback and every unix socket opened, sql sources on, and no "own"
# services: the sql tests read scratch databases on the run's own server (over its socket
# when it is embedded). tests/integration/test_outbound.py checks the refusals.
LOOPBACK_OPEN = OutboundPolicy.build("127.0.0.1 /", (), sql_sources_enabled=True)


@contextmanager
def http_server(handler: Handler) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port answering GETs with `handler`;
    yields its base URL and stops it afterwards."""

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            status, content_type, body = handler(self.path, dict(self.headers))
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                chunks = body if isinstance(body, list) else [body]
                self.send_header("Content-Length", str(sum(len(c) for c in chunks)))
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    if isinstance(body, list):
                        time.sleep(TRICKLE_S)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the poller gave up (timeout): expected in the hang tests

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def context(
    name: str = "src",
    now_ms: int | None = None,
    timeout_s: float = 5.0,
    files_dir: Path = Path("."),
    source_id: str | None = None,
    outbound: OutboundPolicy = LOOPBACK_OPEN,
) -> PollContext:
    """A poll context as the runner builds it (retention 14 days); by default its
    outbound policy opens the loopback, where the tests' servers listen."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    return PollContext(
        source_id=source_id or str(uuid.uuid4()),
        tenant_id="t-test",
        name=name,
        now_ms=now,
        oldest_ms=now - 14 * 86_400_000,
        timeout_s=timeout_s,
        files_dir=files_dir,
        outbound=outbound,
    )


def isolated(services: Services, **settings: object) -> Services:
    """Services on an ingest stream of their own (no other consumer of the run reads it)."""
    prefix = f"{services.settings.redis_prefix}src-{uuid.uuid4().hex[:8]}:"
    new_settings = services.settings.model_copy(update={"redis_prefix": prefix, **settings})
    live = LiveStore(services.redis, prefix, new_settings.live_resume_s)
    return dataclasses.replace(services, settings=new_settings, live=live)
