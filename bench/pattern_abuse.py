"""Pattern and resume abuse on /ws (issue 10): does /healthz keep answering, is memory flat?

Starts Pulse as real processes, fills the tenant's live stream through POST /api/ingest,
then runs three phases of `--seconds` each while a prober times `GET /healthz` one request
after another and points keep coming (25-character metric names, the issue's trigger):

1. idle: nobody attacks (the baseline of this run);
2. wildcards: clients send subscribes with a 40-wildcard pattern in a loop, and one holds
   the worst pattern still allowed (8 `*`, every part a near-miss) against the live points;
3. resume (`--resume-rounds` times): one client loops `resume` with a 10-minute-old cursor
   reading everything, one sends bursts of it reading nothing (and reconnects once closed).

Prints /healthz p50/p99/max per phase and the gateway process's RSS before and after.
The issue's target: p99 < 100 ms, memory flat. Usage:

    .venv/bin/python bench/pattern_abuse.py [--seconds 20] [--backlog 300] [--resume-rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import orjson
import requests
from harness import Pulse, running_pulse, spread
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

TRIGGER_NAME = "a" * 25  # a near-miss for every pattern below
WORST_ALLOWED = "*a" * 7 + "*b"  # 8 `*`, the most a pattern may hold
FORTY = "*" * 40 + "b"
RESUME_BURST = 300
POINTS_PER_REQUEST = 500


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def ingest_batch(http: requests.Session, pulse: Pulse, key: str, n: int) -> None:
    """One POST /api/ingest of POINTS_PER_REQUEST points over 50 series."""
    now = int(time.time() * 1000)
    body = [
        {
            "source": f"web-{i % 50}",
            "metric_type": TRIGGER_NAME if i % 2 else "cpu.usage",
            "timestamp": stamp(now - i),
            "value": float(n),
            "data_id": f"{n}-{i}",
        }
        for i in range(POINTS_PER_REQUEST)
    ]
    resp = http.post(
        pulse.url + "/api/ingest", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    resp.raise_for_status()


def keep_ingesting(pulse: Pulse, key: str, stop: threading.Event, per_second: float) -> None:
    """Points keep coming while the phases run, so live frames meet the patterns."""
    n = 1_000_000
    with requests.Session() as http:
        while not stop.is_set():
            ingest_batch(http, pulse, key, n)
            n += 1
            stop.wait(1 / per_second)


def probe_healthz(url: str, seconds: float) -> list[float]:
    """Latencies (ms) of back-to-back GET /healthz for `seconds`; a timeout counts as 10 s.

    Run in a process of its own: in the attackers' process it would wait for their GIL."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    with requests.Session() as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                http.get(url + "/healthz", timeout=10).raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
            except requests.RequestException:
                latencies.append(10_000.0)
            time.sleep(0.01)
    return latencies


async def open_socket(pulse: Pulse, token: str) -> ClientConnection:
    return await connect(
        f"{pulse.ws_url}?token={token}",
        proxy=None,
        max_queue=1,
        max_size=None,
        open_timeout=10,
        close_timeout=1,
    )


async def forty_wildcards(pulse: Pulse, token: str, stop: asyncio.Event) -> dict[str, int]:
    """Loop subscribes with a 40-wildcard pattern, reading the refusals."""
    counts = {"sent": 0, "refused": 0}
    async with await open_socket(pulse, token) as ws:
        while not stop.is_set():
            await ws.send(orjson.dumps({"type": "subscribe", "metrics": [FORTY]}).decode())
            counts["sent"] += 1
            if orjson.loads(await ws.recv())["type"] == "error":
                counts["refused"] += 1
    return counts


async def worst_allowed(pulse: Pulse, token: str, stop: asyncio.Event) -> dict[str, int]:
    """Hold the worst allowed pattern against the live points, reading what comes."""
    counts = {"frames": 0}
    async with await open_socket(pulse, token) as ws:
        message = {"type": "subscribe", "metrics": [WORST_ALLOWED, TRIGGER_NAME]}
        await ws.send(orjson.dumps(message).decode())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
                counts["frames"] += 1
    return counts


def old_cursor() -> str:
    return f"{int(time.time() * 1000) - 590_000}-0"  # within the 10-minute window, just


async def resume_reading(pulse: Pulse, token: str, stop: asyncio.Event) -> dict[str, int]:
    """Loop `resume` with a 10-minute-old cursor, reading everything it is sent."""
    counts = {"resumes": 0, "frames": 0, "refused": 0}
    async with await open_socket(pulse, token) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "metrics": ["*"]}).decode())

        async def read() -> None:
            async for raw in ws:  # the type leads each frame: no need to decode megabytes
                counts["frames"] += raw.startswith('{"type":"points"')
                counts["refused"] += raw.startswith('{"type":"error"')

        reader = asyncio.create_task(read())
        while not stop.is_set():
            await ws.send(orjson.dumps({"type": "resume", "cursor": old_cursor()}).decode())
            counts["resumes"] += 1
            await asyncio.sleep(0.001)
        reader.cancel()
    return counts


async def resume_not_reading(pulse: Pulse, token: str, stop: asyncio.Event) -> dict[str, int]:
    """Send bursts of RESUME_BURST resumes with a 10-minute-old cursor reading nothing, then
    read what comes until the server closes the socket (counted by close code); again."""
    counts: dict[str, int] = {"resumes": 0}
    while not stop.is_set():
        try:
            async with await open_socket(pulse, token) as ws:
                await ws.send(orjson.dumps({"type": "subscribe", "metrics": ["*"]}).decode())
                for _ in range(RESUME_BURST):
                    await ws.send(orjson.dumps({"type": "resume", "cursor": old_cursor()}).decode())
                    counts["resumes"] += 1
                    await asyncio.sleep(0.001)
                # Everything may fit in the kernel's buffers: then nothing overflowed.
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    async with asyncio.timeout(5):
                        while True:
                            await ws.recv()
                outcome = f"closed {ws.close_code}" if ws.close_code else "still open after 5 s"
        except (InvalidStatus, OSError) as exc:
            outcome = f"refused {exc!r}"[:60]
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


Attack = Callable[[Pulse, str, asyncio.Event], Awaitable[dict[str, int]]]


async def run_phase(pulse: Pulse, token: str, attacks: list[Attack], seconds: float) -> None:
    """Run the attacks for `seconds` while probing /healthz; print the figures."""
    before = pulse.server_rss_mib()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(attack(pulse, token, stop)) for attack in attacks]
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1) as prober:
        latencies = await loop.run_in_executor(prober, probe_healthz, pulse.url, seconds)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    after = pulse.server_rss_mib()
    names = ", ".join(a.__name__ for a in attacks) or "none"
    print(f"attack: {names}")
    healthz = spread(latencies)
    print(
        f"  /healthz p50 {healthz['p50_ms']:.1f} ms  p99 {healthz['p99_ms']:.1f} ms"
        f"  max {healthz['max_ms']:.1f} ms  ({len(latencies)} requests)"
    )
    print(f"  gateway RSS {before:.1f} → {after:.1f} MiB  ({after - before:+.1f})")
    for attack, result in zip(attacks, results, strict=True):
        print(f"  {attack.__name__}: {result}")


async def bench(token_of: Callable[[], str], pulse: Pulse, seconds: float, rounds: int) -> None:
    await run_phase(pulse, token_of(), [], seconds)
    await run_phase(pulse, token_of(), [forty_wildcards, worst_allowed], seconds)
    for _ in range(rounds):  # several rounds: is the memory flat, or growing per round?
        await run_phase(pulse, token_of(), [resume_reading, resume_not_reading], seconds)
    await run_phase(pulse, token_of(), [], seconds)  # memory after the attacks have ended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--resume-rounds", type=int, default=3)
    parser.add_argument(
        "--backlog",
        type=int,
        default=300,
        help=f"requests of {POINTS_PER_REQUEST} points in the live stream first",
    )
    args = parser.parse_args()
    with running_pulse() as pulse:
        ingest_key = pulse.api_key("ingest", "i")
        read_key = pulse.api_key("read", "r")
        with requests.Session() as http:
            for n in range(args.backlog):
                ingest_batch(http, pulse, ingest_key, n)
        time.sleep(3)  # let the worker publish the backlog to the live stream

        def token_of() -> str:
            return pulse.stream_token(read_key)

        stop = threading.Event()
        feeder = threading.Thread(
            target=keep_ingesting, args=(pulse, ingest_key, stop, 5.0), daemon=True
        )
        feeder.start()
        try:
            print(
                f"backlog: {args.backlog * POINTS_PER_REQUEST:,} points; then 5 requests/s of "
                f"{POINTS_PER_REQUEST}; {args.seconds:.0f} s a phase"
            )
            asyncio.run(bench(token_of, pulse, args.seconds, args.resume_rounds))
        finally:
            stop.set()
            feeder.join(10)


if __name__ == "__main__":
    main()
