"""One /ws connection: its grant, subscriptions, and an ordered, bounded outbox."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from app.stream.fastwrite import FastWriter
from app.stream.protocol import check_pattern_total, compile_patterns, points_frame
from app.tokens import StreamGrant
from data.domain.cursors import cursor_key
from data.domain.patterns import PatternSet

log = logging.getLogger(__name__)

QUEUE_FRAMES = 32  # live frames a client may have waiting before it is conflated
# Frames of any kind (errors, resets, notifications, pings) waiting after the last replay:
# past this the client sends faster than it reads, and is closed rather than buffered.
MAX_WAITING_FRAMES = QUEUE_FRAMES + 64
OVERFLOW_REASON = "too many frames waiting: the client sends faster than it reads"
Send = Callable[[str], Coroutine[Any, Any, None]]
Close = Callable[[int, str], Awaitable[None]]
Batch = tuple[str, list[dict[str, Any]]]  # one live entry: its cursor and points


@dataclass(eq=False, slots=True)  # slots: one of these per socket, 5,000 a gateway
class Client:
    """A subscriber: what it wants, what it was sent, and what still waits to be sent.

    Frames go out in order. A live frame that finds the client idle is written directly
    when the gateway runs the pinned fast path (app/stream/fastwrite.py); any other frame goes
    through the ASGI `send` inside the client's writer task: a frame that finds the client
    idle starts that task, frames pushed while it runs wait in the outbox, and the task
    drains them before it ends. Past QUEUE_FRAMES live frames the client is conflated: only
    the newest point per series is kept until the outbox drains."""

    grant: StreamGrant
    send: Send
    close: Close
    metrics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("*",)
    # a list, not a deque: an empty deque takes ~600 bytes, and this holds ≤ MAX_WAITING_FRAMES
    outbox: list[str] = field(default_factory=list)
    conflated: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    conflated_cursor: str | None = None
    conflated_since: float | None = None
    replaying: bool = False
    held: list[Batch] = field(default_factory=list)
    last_cursor: str | None = None
    live_since: str | None = None  # the first cursor delivered live: a resume stops there
    writer: asyncio.Task[None] | None = None
    fast: FastWriter | None = None  # writes pre-framed bytes straight to the socket
    queued_total: int = 0  # frames ever put in the outbox
    sent_total: int = 0  # frames ever taken out of it
    replay_until: int = 0  # queued_total after the last replay's frames
    overflowed: bool = False  # refused a frame: the endpoint closes it
    resumed_at: float = float("-inf")  # monotonic time of the last resume accepted
    group_key: Any = None  # the signature the hub filed it under (app/stream/hub.py)
    _metric_matcher: PatternSet | None = None
    _source_matcher: PatternSet | None = None

    def subscribe(self, metrics: tuple[str, ...], sources: tuple[str, ...]) -> None:
        """Add metric patterns and set the source patterns; MessageError past MAX_PATTERNS."""
        merged = tuple(dict.fromkeys(self.metrics + metrics))
        check_pattern_total(merged, sources)
        self.metrics = merged
        self.sources = sources
        self._compile()

    def unsubscribe(self, metrics: tuple[str, ...]) -> None:
        """Drop metric patterns."""
        self.metrics = tuple(m for m in self.metrics if m not in metrics)
        self._compile()

    def _compile(self) -> None:
        self._metric_matcher = compile_patterns(self.metrics)
        self._source_matcher = compile_patterns(self.sources)

    @property
    def signature(self) -> tuple[Any, ...]:
        """Clients with equal signatures receive identical frames (an embed's socket gets
        only its resource's series: its scopes are part of it)."""
        return self.metrics, self.sources, self.grant.embed_scopes

    def wants(self, point: dict[str, Any]) -> bool:
        """Whether the point matches this client's subscriptions."""
        if self._metric_matcher is None or self._source_matcher is None:
            return False
        metric, source = point["metric"], point["source"]
        return (
            self._metric_matcher.matches(metric)
            and self._source_matcher.matches(source)
            and self.grant.allows(metric, source)
        )

    @property
    def replay_in_flight(self) -> bool:
        """Whether frames of the last replay still wait in the outbox."""
        return self.sent_total < self.replay_until

    def push_replay(self, frames: list[str]) -> None:
        """Send a replay's frames in order; they are bounded by the resume window, not
        MAX_WAITING_FRAMES, and a resume is refused until they are out."""
        for frame in frames:
            self.push(frame, replay=True)
        self.replay_until = self.queued_total

    def is_stale(self, cursor: str) -> bool:
        """Whether this cursor was already delivered (after a resume)."""
        return self.last_cursor is not None and cursor_key(cursor) <= cursor_key(self.last_cursor)

    def offer(
        self, frame: str, cursor: str, batches: list[Batch], framed: bytes | None = None
    ) -> None:
        """Send or queue a live frame, or conflate when the client lags.

        `batches` are the entries the frame coalesces; those a resume already sent are left
        out, so that no point reaches the client twice."""
        if self.replaying:
            self.held.extend(batches)
            return
        if self.is_stale(batches[0][0]):
            batches = [(c, batch) for c, batch in batches if not self.is_stale(c)]
            if not batches:
                return
            frame = points_frame(cursor, [p for _, batch in batches for p in batch])
            framed = None
        self.last_cursor = cursor
        self.live_since = self.live_since or batches[0][0]
        if self.conflated_since is None and self.push(frame, bounded=True, framed=framed):
            return
        if self.conflated_since is None:
            self.conflated_since = time.monotonic()
        for _, batch in batches:
            for p in batch:
                self.conflated[(p["metric"], p["source"])] = p
        self.conflated_cursor = cursor

    def push(
        self, frame: str, bounded: bool = False, framed: bytes | None = None, replay: bool = False
    ) -> bool:
        """Send `frame` after everything queued; False if `bounded` and the outbox is full.

        Past MAX_WAITING_FRAMES after the last replay the frame is dropped and the client
        marked `overflowed`. `framed`, the frame's bytes on the wire, lets an idle socket be
        written directly."""
        if self.overflowed:
            return False
        if self.writer is None and not self.outbox:
            if framed is not None and self.fast is not None and self.fast.write(framed):
                return True
            writer = _start_task(self._drain(frame))
            if not writer.done():  # an eager task may have sent it already
                self.writer = writer
            return True
        if bounded and len(self.outbox) >= QUEUE_FRAMES:
            return False
        if not replay and self.queued_total - max(self.sent_total, self.replay_until) >= (
            MAX_WAITING_FRAMES
        ):
            self.overflowed = True
            self.outbox.clear()  # nobody will read them: free the memory now
            return False
        self.outbox.append(frame)
        self.queued_total += 1
        return True

    def take_conflated(self) -> str | None:
        """The conflated frame, once the outbox has drained."""
        if self.conflated_cursor is None or self.outbox:
            return None
        frame = points_frame(self.conflated_cursor, list(self.conflated.values()))
        self.conflated.clear()
        self.conflated_cursor = None
        self.conflated_since = None
        return frame

    async def _drain(self, first: str) -> None:
        """Send `first`, then what was queued meanwhile, until nothing waits."""
        try:
            frame: str | None = first
            while frame is not None:
                await self.send(frame)
                frame = self._next_frame()
        except Exception as exc:  # the peer is gone; the endpoint cleans up
            log.debug("send failed: %r", exc)
        finally:
            self.writer = None

    def _next_frame(self) -> str | None:
        if self.outbox:
            self.sent_total += 1
            return self.outbox.pop(0)
        return self.take_conflated()

    def stop(self) -> None:
        """Cancel the writer, when the connection ends."""
        if self.writer is not None:
            self.writer.cancel()


def _start_task(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task running `coro`; started eagerly where asyncio can (3.12+).

    An eager task runs up to its first wait at once and, as nearly every send completes
    without waiting, is done before it is ever scheduled. Python 3.11 has no eager start,
    so there the task takes its turn in the event loop."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, eager_start=True)
    return loop.create_task(coro)
