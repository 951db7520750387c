"""app.stream.client's writer: frames go through `send` inside a task of the client's own, in
order, and a send that waits holds up only its own client."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine
from typing import Any

import pytest

from app.stream.client import Client
from app.tokens import StreamGrant

CALLER = contextvars.ContextVar("caller", default="unset")


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, 10))


async def never_closed(code: int, reason: str) -> None:
    raise AssertionError("the writer never closes a client")


def client(send: Any) -> Client:
    return Client(StreamGrant("t-writer", None, None, None), send, never_closed)


async def until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.001)


def test_a_frame_is_sent_inside_a_task_of_its_own_not_the_callers() -> None:
    """current_task, contextvars and timeouts inside `send` belong to the writer task."""

    async def scenario() -> None:
        seen: list[tuple[asyncio.Task[Any] | None, str]] = []

        async def send(frame: str) -> None:
            seen.append((asyncio.current_task(), CALLER.get()))
            CALLER.set("set by send")

        writer = client(send)
        CALLER.set("caller")
        assert writer.push("hello")
        await until(lambda: seen and writer.writer is None)
        ((task, caller_value),) = seen
        assert task is not None and task is not asyncio.current_task()
        assert caller_value == "caller"  # a task starts with a copy of the caller's context
        assert CALLER.get() == "caller"  # and what it sets stays in its copy

    run(scenario())


def test_frames_pushed_while_a_send_waits_follow_it_in_order() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        sent: list[str] = []

        async def send(frame: str) -> None:
            if not sent and not gate.is_set():
                await gate.wait()
            sent.append(frame)

        writer = client(send)
        writer.push("first")
        await asyncio.sleep(0)  # the writer task starts, and waits inside send
        assert writer.writer is not None and sent == []
        for frame in ("second", "third"):
            writer.push(frame)
        assert list(writer.outbox) == ["second", "third"]
        gate.set()
        await until(lambda: writer.writer is None)
        assert sent == ["first", "second", "third"]
        assert writer.sent_total == writer.queued_total == 2

    run(scenario())


def test_a_send_that_waits_holds_up_only_its_own_client() -> None:
    async def scenario() -> None:
        stalled = asyncio.Event()
        delivered: list[str] = []

        async def stalled_send(frame: str) -> None:
            await stalled.wait()

        async def send(frame: str) -> None:
            delivered.append(frame)

        slow, fast = client(stalled_send), client(send)
        try:
            for frame in ("a", "b"):
                slow.push(frame)
                fast.push(frame)
                await asyncio.sleep(0)
            await until(lambda: delivered == ["a", "b"])
            assert slow.writer is not None and list(slow.outbox) == ["b"]
        finally:
            slow.stop()

    run(scenario())


def test_a_failed_send_frees_the_writer_and_stop_cancels_a_waiting_one() -> None:
    async def scenario() -> None:
        cleaned: list[bool] = []

        async def gone(frame: str) -> None:
            raise ConnectionError("peer gone")

        async def waits_forever(frame: str) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cleaned.append(True)

        failing = client(gone)
        assert failing.push("x")  # the endpoint notices the disconnect, not push
        await until(lambda: failing.writer is None)

        stuck = client(waits_forever)
        stuck.push("y")
        await asyncio.sleep(0)
        task = stuck.writer
        assert task is not None
        stuck.stop()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == [True]

    run(scenario())
