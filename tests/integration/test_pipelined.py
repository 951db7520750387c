"""Redis commands of many sockets share round trips (app/stream/pipelined.py), on the real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis import Redis
from redis.asyncio import ConnectionPool
from redis.asyncio import Redis as AsyncRedis

from app.settings import Settings
from app.stream.pipelined import PipelinedCommands


@pytest.fixture
def members_key(settings: Settings):  # type: ignore[no-untyped-def]
    """A set of members m0…m499 under the run's prefix, removed afterwards."""
    url = settings.require_urls()[1]
    key = f"{settings.redis_prefix}pipelined:{uuid.uuid4().hex}"
    sync = Redis.from_url(url)
    sync.sadd(key, *(f"m{i}" for i in range(500)))
    yield url, key
    sync.delete(key)
    sync.close()


def test_a_thousand_concurrent_checks_share_two_connections_and_each_gets_its_answer(
    members_key: tuple[str, str],
) -> None:
    """Through a pool that refuses a third connection, every check still succeeds."""
    url, key = members_key

    async def scenario() -> list[bool]:
        pool = ConnectionPool.from_url(url, max_connections=2)
        commands = PipelinedCommands(AsyncRedis.from_pool(pool))
        try:
            return await asyncio.gather(*(commands.sismember(key, f"m{i}") for i in range(1000)))
        finally:
            await commands.aclose()
            await commands.redis.aclose()

    assert asyncio.run(scenario()) == [True] * 500 + [False] * 500


def test_a_failing_command_fails_only_its_caller(members_key: tuple[str, str]) -> None:
    url, key = members_key

    async def scenario() -> list[object]:
        commands = PipelinedCommands(AsyncRedis.from_url(url))
        try:
            return await asyncio.gather(
                commands.sismember(key, "m1"),
                commands.run("XRANGE", key, "-", "+"),  # a set is not a stream: WRONGTYPE
                commands.sismember(key, "nobody"),
                return_exceptions=True,
            )
        finally:
            await commands.aclose()
            await commands.redis.aclose()

    first, wrong, last = asyncio.run(scenario())
    assert (first, last) == (True, False)
    assert "WRONGTYPE" in str(wrong)
