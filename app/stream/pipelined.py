"""Redis commands of many sockets sent together, one pipelined round trip at a time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class PipelinedCommands:
    """Runs commands that many sockets issue at once (session checks, resumes) in shared
    round trips.

    In a reconnect storm thousands of handshakes and resumes reach Redis together; each
    borrowing a pooled connection of its own would make them queue behind one another for
    the pool. Here the commands issued while one round trip is under way go out together
    in the next one, over a single connection."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, *command: Any) -> Any:
        """The reply to one command (e.g. "SISMEMBER", key, member), as redis-py parses it."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((command, future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="redis-pipelined")
        return await future

    async def sismember(self, key: str, member: str) -> bool:
        """Whether `member` is in the set at `key`."""
        return bool(await self.run("SISMEMBER", key, member))

    async def _send_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._send(batch)
                finally:  # cancelled mid-batch: its commands fail rather than hang
                    for _, future in batch:
                        future.cancel()
        finally:
            self._sender = None
            for _, future in self._waiting:  # cancelled at shutdown: nobody waits forever
                future.cancel()

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for command, _ in batch:
                    pipe.execute_command(*command)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # Redis away: every command of the batch fails with it
            replies = [exc] * len(batch)
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its socket went away meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def aclose(self) -> None:
        """Stop sending; commands still waiting are cancelled."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
