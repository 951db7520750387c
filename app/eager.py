"""Start a coroutine at once and finish it in a task only if it has to wait.

A gateway sends one frame to each of thousands of sockets per flush; nearly every send
completes without waiting, so a task (or a queue and a writer task) per frame would cost
more than the send itself. Python 3.12's eager task factory does this; Pulse runs on 3.11.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class _Rest:
    """The remainder of a coroutine that yielded `waiting_on` when it was started."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting_on = self.waiting_on
        while True:
            try:
                value = yield waiting_on  # the event loop resumes us when it is done
            except BaseException as exc:  # cancellation: pass it on to the coroutine
                try:
                    waiting_on = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                waiting_on = self.coro.send(value)
            except StopIteration as stop:
                return stop.value


def start(coro: Coroutine[Any, Any, Any]) -> _Rest | None:
    """Run `coro` until it first waits: None if it finished, else an awaitable for the rest.

    Exceptions raised before the first wait propagate to the caller."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return _Rest(coro, waiting_on)


async def finish(rest: _Rest) -> Any:
    """Await the rest of a started coroutine (for asyncio.create_task)."""
    return await rest
