"""Write one pre-framed WebSocket message to many uvicorn connections, skipping the layers.

A flush sends the same frame to every subscriber of a tenant. Through ASGI each send
re-encodes the text, frames it (websockets), and passes three layers of wrappers before
the socket write, which is itself the dearest part; measured at 1,000 sockets, the layers
cost as much again as the write. Server frames are not masked, so one frame's bytes serve
every connection: the hub frames once and writes those bytes to each transport.

This reaches into uvicorn's `websockets-sansio` protocol (the object behind the ASGI `send`
it hands to the app): `transport`, `writable`, `close_sent`, `disconnected`. Where those
are missing (another server or protocol), `FastWriter.of` answers None and the ordinary
ASGI send is used; a test pins that the locked uvicorn takes the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode

_NEEDED = ("transport", "writable", "close_sent", "disconnected")


def text_frame(text: str) -> bytes:
    """The bytes of a complete, unmasked text frame carrying `text`."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FastWriter:
    """Writes framed bytes to one connection when it can take them at once."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, send: Callable[..., Any]) -> FastWriter | None:
        """A writer for the connection behind uvicorn's ASGI `send`, or None."""
        protocol = getattr(send, "__self__", None)
        if protocol is None or not all(hasattr(protocol, name) for name in _NEEDED):
            return None
        return cls(protocol)

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
        return True
