"""Write one pre-framed WebSocket message to many uvicorn connections, and let go of a
connection's handshake once it is open: the two places that reach past a public API,
pinned to the versions they were written for.

Why it exists: a flush sends the same frame to every subscriber of a tenant. The public
path (the ASGI `send`, in a task per idle socket, as Python 3.11 has no eager tasks)
re-encodes and re-frames the text per socket and passes the server's layers before the
socket write; measured with `bench/live_latency.py` at 1,000 clients it cost the web +
gateway process ~0.1 core more (0.23-0.27 against 0.13-0.14) and its best run was p50
31 ms / p99 166 ms, against the target of p50 <= 25 ms, p99 <= 100 ms, which this path
meets on a quiet machine (bench/RESULTS.md, issue 11). Server frames are not masked, so
one frame's bytes serve every connection: the hub frames once and writes those bytes to
each idle transport.

Why the handshake is let go (`release_handshake`): uvicorn keeps the parsed request and
the response of the opening handshake (both with their headers), the scope's header list
and a copy of the app's state for as long as the socket is open, though nothing reads them
after the handshake; its queue of received messages is an asyncio.Queue, ~3 KiB of deques
for one reader (`Inbox` takes over). ~6 KiB of each connection's ~23 in all, and the issue
14 target is 20 KiB a socket (bench/socket_memory.py). (websockets' handshake parser keeps
another reference to the request, in the frame of the generator that goes on parsing
frames: that one stays.)

What it relies on: uvicorn's `websockets-sansio` protocol (the object behind the ASGI
`send` it hands to the app) and its attributes `transport`, `writable`, `close_sent` and
`disconnected`; `handshake_complete`, and `request`, `response` and `scope`, which it reads
only while the handshake runs; `queue`, of which it calls `put_nowait`, `get` and `empty`.
They carry no underscore but are not a documented API, so both are used only with the
exact versions below (checked once when the gateway starts, which logs the path it takes);
any other install takes the public ASGI path and keeps the handshake. When upgrading
uvicorn or websockets, re-read `WebSocketsSansIOProtocol.send`, `asgi_send` and
`asgi_receive` and every use of `queue`, and bump PINNED;
tests/gateway/test_ws.py counts the frames that went through here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from websockets.frames import Frame, Opcode

log = logging.getLogger(__name__)

# The versions whose WebSocketsSansIOProtocol.send this was checked against.
PINNED: Mapping[str, str] = {"uvicorn": "0.54.0", "websockets": "17.4"}


def text_frame(text: str) -> bytes:
    """The bytes of a complete, unmasked text frame carrying `text`."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def installed_versions() -> dict[str, str | None]:
    """The installed version of each pinned package (None when it is not installed)."""
    found: dict[str, str | None] = {}
    for package in PINNED:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def direct_writes_enabled(installed: Mapping[str, str | None] | None = None) -> bool:
    """Whether the installed versions are the pinned ones; logs which path /ws takes."""
    installed = installed_versions() if installed is None else installed
    if all(installed.get(package) == pinned for package, pinned in PINNED.items()):
        log.info("/ws frames: direct writes for uvicorn websockets-sansio (%s)", _list(PINNED))
        return True
    log.warning(
        "/ws frames: the ASGI send path; direct writes are written for %s, installed: %s",
        _list(PINNED),
        _list(installed),
    )
    return False


def _list(versions: Mapping[str, str | None]) -> str:
    return ", ".join(f"{package} {found}" for package, found in versions.items())


def _sansio_protocol(send: Callable[..., Any]) -> Any:
    """The uvicorn websockets-sansio protocol behind an ASGI `send`, or None."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    protocol = getattr(send, "__self__", None)
    return protocol if type(protocol) is WebSocketsSansIOProtocol else None


def release_handshake(send: Callable[..., Any]) -> bool:
    """Drop what the server keeps of a completed opening handshake (the request, the
    response, the scope's headers and state copy) and give its queue of received messages
    to an `Inbox`; False when `send` is not a pinned uvicorn connection's or the handshake
    is not over."""
    protocol = _sansio_protocol(send)
    if protocol is None or not protocol.handshake_complete:
        return False
    protocol.request = protocol.response = None
    protocol.scope["headers"] = []
    protocol.scope["state"] = {}  # a copy of the app's lifespan state; /ws reads none of it
    protocol.queue = Inbox.taking_over(protocol.queue)
    return True


class Inbox:
    """What uvicorn's protocol uses of its asyncio.Queue of received messages (`put_nowait`,
    `get`, `empty`), for its one reader, the endpoint: the Queue's three deques and event
    take ~3 KiB a socket, this a list and a future while it waits."""

    __slots__ = ("_items", "_waiter")

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    def taking_over(cls, queue: asyncio.Queue[Any]) -> Inbox:
        """An inbox holding what `queue` holds (nobody may be waiting on it)."""
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return cls(items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class FastWriter:
    """Writes framed bytes to one connection when it can take them at once."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.frames_written = 0  # proof, for the tests, that frames really went this way

    @classmethod
    def of(cls, send: Callable[..., Any]) -> FastWriter | None:
        """A writer for the connection behind uvicorn's ASGI `send`, or None when `send`
        belongs to anything else (another protocol or server, a middleware's wrapper)."""
        protocol = _sansio_protocol(send)
        return None if protocol is None else cls(protocol)

    def write(self, framed: bytes) -> bool:
        """Write now and return True, or return False when the ordinary path must be used
        (the socket is closing, or its buffer is full and the write would have to wait)."""
        protocol = self.protocol
        if protocol.disconnected or protocol.close_sent or not protocol.writable.is_set():
            return False
        transport = protocol.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(framed)
        self.frames_written += 1
        return True
