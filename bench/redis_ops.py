"""Redis commands per ingested point and per viewer-update, counted by Redis itself.

Starts Pulse (web + stream in one process, the worker as its child) on a fresh database and
a redis-server of its own, so that nothing else runs commands there, and reads Redis's own
per-command counts (`INFO commandstats`, reset before each phase; commands that Pulse's Lua
scripts run are counted by name as well as the script call). Phases, each over the same
kind of window:

- idle: no ingest, no viewer: the worker's scheduled jobs and blocking reads (subtracted
  from the two others, per second);
- baseline: `--requests` bodies of `--points` points over `--series` series, one at a time,
  each given time to be written and published (so each is one worker batch), no viewer;
- viewers: the same with `--viewers` `/ws` sockets subscribed to those series, each request
  waiting until every socket got its points.

The difference between the last two, per viewer-update delivered, is Redis's cost of a
viewer-update. docs/capacity.md uses these counts.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
      .venv/bin/python bench/redis_ops.py [--requests 20] [--points 100] [--series 100] \\
      [--viewers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import orjson
import requests
from harness import Pulse, running_pulse
from redis import Redis
from servercpu import load_average, private_redis
from websockets.asyncio.client import ClientConnection, connect

SETTLE_S = 0.4  # enough for one batch to be written and published on a quiet machine


def command_counts(redis: Redis) -> Counter[str]:
    """Calls per command since the last reset, from INFO commandstats."""
    stats = redis.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def body(args: argparse.Namespace, round_: int) -> list[dict]:
    now = time.time()
    return [
        {
            "source": f"s{i % 10}",
            "metric_type": f"ops.m{(i // 10) % max(args.series // 10, 1)}",
            "timestamp": now - i * 0.001,
            "value": round_ * 1_000 + i,
        }
        for i in range(args.points)
    ]


def post(pulse: Pulse, key: str, points: list[dict]) -> None:
    resp = requests.post(
        pulse.url + "/api/ingest",
        json=points,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    resp.raise_for_status()


async def receive_points(ws: ClientConnection, count: int) -> None:
    got = 0
    while got < count:
        message = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
        if message["type"] == "points":
            got += len(message["points"])


async def ingest_rounds(
    pulse: Pulse, key: str, token: str, args: argparse.Namespace, viewers: int
) -> None:
    """Post the rounds with `viewers` sockets watching (opened with `token`)."""
    sockets = [
        await connect(f"{pulse.ws_url}?token={token}", proxy=None, max_size=None)
        for _ in range(viewers)
    ]
    for ws in sockets:
        await ws.send(orjson.dumps({"type": "subscribe", "metrics": ["ops.*"]}).decode())
    await asyncio.sleep(1.0)
    for round_ in range(args.requests):
        await asyncio.to_thread(post, pulse, key, body(args, round_))
        await asyncio.gather(*(receive_points(ws, args.points) for ws in sockets))
        await asyncio.sleep(SETTLE_S)
    for ws in sockets:
        await ws.close()


def phase(
    redis: Redis, run: Coroutine[Any, Any, None] | None, seconds: float
) -> tuple[Counter[str], float]:
    """Redis's command counts over one phase: `run` to its end, else `seconds` idle."""
    redis.config_resetstat()
    started = time.monotonic()
    if run is None:
        time.sleep(seconds)
    else:
        asyncio.run(run)
    return command_counts(redis), time.monotonic() - started


def net(counts: Counter[str], elapsed: float, idle: Counter[str], idle_s: float) -> dict:
    """Counts minus the idle background over the same time (never below zero)."""
    return {
        name: max(calls - idle[name] * elapsed / idle_s, 0.0)
        for name, calls in counts.items()
        if name not in ("info", "config|resetstat")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=20)
    args = parser.parse_args()
    print(f"load average at start: {load_average()}")
    with private_redis() as (redis_url, _):
        os.environ["REDIS_URL"] = redis_url
        with running_pulse() as pulse:
            redis = Redis.from_url(redis_url)
            key = pulse.api_key("ingest", "ops-ingest")
            token = pulse.stream_token(pulse.api_key("read", "ops-read"))
            time.sleep(3)  # the worker's first jobs (partitions, groups) are done
            idle, idle_s = phase(redis, None, 10.0)
            alone = phase(redis, ingest_rounds(pulse, key, token, args, 0), 0)
            viewed = phase(redis, ingest_rounds(pulse, key, token, args, args.viewers), 0)
    base, with_viewers = net(*alone, idle, idle_s), net(*viewed, idle, idle_s)
    points = args.requests * args.points
    updates = args.requests * args.points * args.viewers
    print(f"\n{args.requests} requests of {args.points} points over {args.series} series")
    print(f"{'command':>22} {'idle /s':>9} {'per request':>12} {'per point':>10} {'+viewers':>10}")
    for name in sorted(set(base) | set(with_viewers) | set(idle) - {"info", "config|resetstat"}):
        extra = with_viewers.get(name, 0.0) - base.get(name, 0.0)
        print(
            f"{name:>22} {idle[name] / idle_s:9.2f} {base.get(name, 0.0) / args.requests:12.2f}"
            f" {base.get(name, 0.0) / points:10.3f} {extra:10.1f}"
        )
    total, extra = sum(base.values()), sum(with_viewers.values()) - sum(base.values())
    print(f"all commands: {total / points:.3f} a point, {total / args.requests:.1f} a request")
    print(f"with {args.viewers} viewers: {extra:+.1f} commands for {updates} viewer-updates")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
