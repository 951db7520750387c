"""The benches' /ws clients: picows sockets held in one event loop of their own process.

picows (Cython) hands over each frame in a callback without a task or a future, so the
clients cost little next to Pulse on the same two cores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


def now_ms() -> float:
    """Wall-clock time in ms: what the benches stamp points and arrivals with."""
    return time.time() * 1000


class MessageListener(WSListener):
    """A socket that counts itself in `opened` once connected, and hands each text frame of
    one message type (its JSON starts with `prefix`) to `on_message` with its arrival."""

    prefix = b""

    def __init__(self, opened: Any) -> None:
        self.opened = opened

    def on_ws_connected(self, transport: WSTransport) -> None:
        with self.opened.get_lock():
            self.opened.value += 1

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        arrived = now_ms()
        if frame.msg_type != WSMsgType.TEXT:
            return
        raw = frame.get_payload_as_bytes()
        if raw.startswith(self.prefix):
            self.on_message(raw, arrived)

    def on_message(self, raw: bytes, arrived: float) -> None:
        """One frame of the listened-for type, received at `arrived` (ms)."""
        raise NotImplementedError


async def hold_sockets(
    url: str, listeners: list[Callable[[], WSListener]], stop: Any, max_frame_size: int
) -> None:
    """Open one socket per listener factory, keep them until `stop` is set, close them."""
    transports = []
    for make in listeners:
        transport, _ = await ws_connect(make, url, max_frame_size=max_frame_size)
        transports.append(transport)
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for transport in transports:
        transport.disconnect()
