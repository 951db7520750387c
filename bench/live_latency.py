"""Live latency: ingest over HTTP → worker → gateway → N WebSocket clients.

Prints p50/p99/max ingest-to-client latency, delivered/expected and gateway RSS per client,
then the same latency for the baseline a Dash app would use: polling every second (here
`GET /api/metrics`, the cheapest poll Pulse offers). Usage:

    .venv/bin/python bench/live_latency.py [--clients 1000] [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import threading
import time
import uuid
from typing import Any

import orjson
import psutil
import requests
import uvloop
from harness import Pulse, percentile, running_pulse
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
from redis import Redis

METRIC = "bench.latency"
FULL_CLIENTS = 10


def now_ms() -> float:
    return time.time() * 1000


class Tally:
    """What one client process saw: latencies and the points each of its clients got."""

    def __init__(self, clients: int) -> None:
        self.latencies: list[float] = []
        self.newest: list[float] = []
        self.received = [0] * clients


class BenchListener(WSListener):
    """One client socket: counts the points it receives and times them on arrival.

    picows (Cython) hands over each frame in a callback without a task or a future, so
    the clients cost little next to Pulse on the same two cores."""

    def __init__(self, index: int, full: bool, tally: Tally, opened: Any) -> None:
        self.index, self.full, self.tally, self.opened = index, full, tally, opened

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, b'{"type": "subscribe", "metrics": ["bench.*"]}')
        with self.opened.get_lock():
            self.opened.value += 1

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        arrived = now_ms()
        if frame.msg_type != WSMsgType.TEXT:
            return
        raw = frame.get_payload_as_bytes()
        if not raw.startswith(b'{"type":"points"'):
            return
        # Every point of a few clients is decoded; the others count points and read the
        # newest one's value without decoding the whole frame.
        if self.full:
            points = orjson.loads(raw)["points"]
            self.tally.received[self.index] += len(points)
            self.tally.latencies.extend(arrived - p["value"] for p in points)
        else:
            self.tally.received[self.index] += raw.count(b'"value":')
            newest = raw[raw.rindex(b'"value":') + 8 : raw.rindex(b"}]")]
            self.tally.newest.append(arrived - float(newest))


def client_process(first: int, count: int, url: str, opened: Any, stop: Any, results: Any) -> None:
    """Hold `count` sockets in one event loop until `stop`, then report what they saw."""

    async def main() -> Tally:
        tally = Tally(count)
        tasks = []
        for i in range(count):
            full = first + i < FULL_CLIENTS
            transport, _ = await ws_connect(
                lambda *_, i=i, full=full: BenchListener(i, full, tally, opened),
                url,
                max_frame_size=64 * 1024 * 1024,
            )
            tasks.append(transport)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for transport in tasks:
            transport.disconnect()
        return tally

    tally = uvloop.run(main())
    results.put((tally.latencies, tally.newest, tally.received))


def ingest(
    url: str,
    key: str,
    rate: int,
    batch: int,
    seconds: float,
    sent: Any,
    stamps: list[float] | None = None,
) -> None:
    """Post `rate` points a second in batches; each value is its send time in ms.

    Runs in its own process so that the clients' event loop never waits for its GIL."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.headers["Content-Type"] = "application/json"
    interval = batch / rate
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        ids = [uuid.uuid4().hex for _ in range(batch)]
        stamp = now_ms()  # the clock starts once the points are being encoded and sent
        points = [
            {
                "data_id": ids[i],
                "source": f"s{i % 10}",
                "metric_type": METRIC,
                "timestamp": stamp / 1000,
                "value": stamp,
            }
            for i in range(batch)
        ]
        resp = session.post(url + "/api/ingest", data=orjson.dumps(points), timeout=10)
        resp.raise_for_status()
        sent.value += batch
        if stamps is not None:
            stamps.append(stamp)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def measure_push(pulse: Pulse, args: argparse.Namespace) -> dict[str, float]:
    ingest_key, token = _credentials(pulse)
    gateways, workers = _server_roles(pulse)
    rss_before = sum(p.memory_info().rss for p in gateways)
    opened, stop, results = (
        multiprocessing.Value("l", 0),
        multiprocessing.Event(),
        multiprocessing.Queue(),
    )
    procs = _connect_clients(pulse, args, token, opened, stop, results)
    time.sleep(1.0)
    rss_per_client = (sum(p.memory_info().rss for p in gateways) - rss_before) / args.clients
    watched = {
        "web+gateway": gateways,
        "worker": workers,
        "clients": [psutil.Process(p.pid) for p in procs],
    }
    cpu_before = {name: sum(_cpu(p) for p in group) for name, group in watched.items()}
    sent = multiprocessing.Value("l", 0)
    feeder = multiprocessing.Process(
        target=ingest, args=(pulse.url, ingest_key, args.rate, args.batch, args.seconds, sent)
    )
    published: list[float] = []
    listener = threading.Thread(
        target=listen_published, args=(pulse, "bench", published, args.seconds + 2.0)
    )
    listener.start()
    started = time.monotonic()
    feeder.start()
    feeder.join()
    listener.join()
    elapsed = time.monotonic() - started
    cpu_share = {
        name: (sum(_cpu(p) for p in group) - cpu_before[name]) / elapsed
        for name, group in watched.items()
    }
    time.sleep(3.0)  # let the last points arrive
    stop.set()
    latencies, newest, delivered = _collect(procs, results)
    return {
        "points_sent": sent.value,
        "rate_achieved": sent.value / args.seconds,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies + newest, default=float("nan")),
        "newest_p50_ms": percentile(newest, 50),
        "newest_p99_ms": percentile(newest, 99),
        "delivered": delivered,
        "expected": sent.value * args.clients,
        "rss_per_client_kib": rss_per_client / 1024,
        "published_p50_ms": percentile(published, 50),
        "published_p99_ms": percentile(published, 99),
        "cpu_cores": cpu_share,
    }


def _credentials(pulse: Pulse) -> tuple[str, str]:
    """An ingest key for the feeder and a /ws token of a read key for the clients."""
    ingest_key = pulse.admin(
        "create-api-key", "--tenant", "bench", "--name", "in", "--scope", "ingest"
    ).splitlines()[-1]
    read_key = pulse.admin(
        "create-api-key", "--tenant", "bench", "--name", "rd", "--scope", "read"
    ).splitlines()[-1]
    token = requests.get(
        pulse.url + "/api/stream-token", timeout=5, headers={"Authorization": f"Bearer {read_key}"}
    ).json()["token"]
    return ingest_key, token


def _server_roles(pulse: Pulse) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(web and gateway processes, worker processes) of the running Pulse."""
    # The server processes are uvicorn's children; the worker role's is app.py worker.
    supervisor = psutil.Process(pulse.process.pid)
    gateways = [supervisor] + [
        p for p in supervisor.children(recursive=True) if "worker" not in p.cmdline()
    ]
    workers = [p for p in supervisor.children(recursive=True) if "worker" in p.cmdline()]
    return gateways, workers


def _connect_clients(
    pulse: Pulse, args: argparse.Namespace, token: str, opened: Any, stop: Any, results: Any
) -> list[multiprocessing.Process]:
    """Start the client processes and wait (three minutes at most) until every client has
    its socket open."""
    share = -(-args.clients // args.client_procs)
    procs = []
    for first in range(0, args.clients, share):
        count = min(share, args.clients - first)
        procs.append(
            multiprocessing.Process(
                target=client_process,
                args=(first, count, f"{pulse.ws_url}?token={token}", opened, stop, results),
            )
        )
        procs[-1].start()
    deadline = time.monotonic() + 180
    while opened.value < args.clients and time.monotonic() < deadline:
        time.sleep(0.2)
    if opened.value < args.clients:
        raise RuntimeError(f"only {opened.value} of {args.clients} clients connected")
    return procs


def _collect(
    procs: list[multiprocessing.Process], results: Any
) -> tuple[list[float], list[float], int]:
    """(latencies, latencies of the newest point, points delivered) of every client process,
    once each has reported and ended."""
    latencies: list[float] = []
    newest: list[float] = []
    delivered = 0
    for _ in procs:
        full, newest_part, received = results.get(timeout=120)
        latencies += full
        newest += newest_part
        delivered += sum(received)
    for proc in procs:
        proc.join(30)
    return latencies, newest, delivered


def listen_published(pulse: Pulse, tenant: str, out: list[float], seconds: float) -> None:
    """Ingest-to-publish latency of each batch, read straight off the tenant's channel:
    what the pipeline costs before the gateway's fan-out."""
    redis = Redis.from_url(pulse.env["REDIS_URL"])
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{pulse.env['REDIS_PREFIX']}chan:{tenant}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message:
            arrived = now_ms()
            out.append(arrived - orjson.loads(message["data"])["points"][-1]["value"])
    pubsub.close()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure_polling(pulse: Pulse, pollers: int, seconds: float) -> dict[str, float]:
    """Baseline: clients polling the newest value once a second, as dcc.Interval would.

    A batch's latency is the time until a poller first shows it (or something newer)."""
    read_key = pulse.admin(
        "create-api-key", "--tenant", "bench", "--name", "poll", "--scope", "read"
    ).splitlines()[-1]
    ingest_key = pulse.admin(
        "create-api-key", "--tenant", "bench", "--name", "in2", "--scope", "ingest"
    ).splitlines()[-1]
    seen: list[list[tuple[float, float]]] = [[] for _ in range(pollers)]
    stop = threading.Event()

    def poll(index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {read_key}"
        time.sleep(index / pollers)
        while not stop.is_set():
            doc = session.get(pulse.url + "/api/metrics", timeout=5).json()
            for metric in doc["metrics"]:
                if metric["name"] == METRIC:
                    seen[index].append((now_ms(), metric["latest_value"]))
            time.sleep(1.0)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(pollers)]
    for t in threads:
        t.start()
    stamps: list[float] = []
    ingest(pulse.url, ingest_key, 100, 10, seconds, multiprocessing.Value("l", 0), stamps)
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    latencies = []
    for observations in seen:
        for stamp in stamps:
            shown = next((at for at, value in observations if value >= stamp), None)
            if shown is not None:
                latencies.append(shown - stamp)
    return {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "samples": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000, help="points per second")
    parser.add_argument("--batch", type=int, default=50, help="points per ingest request")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument(
        "--client-procs", type=int, default=1, help="processes holding the client sockets"
    )
    args = parser.parse_args()
    with running_pulse() as pulse:
        push = measure_push(pulse, args)
        poll = measure_polling(pulse, args.pollers, min(args.seconds, 10.0))
    print(
        f"\nlive latency, {args.clients} WebSocket clients, {args.rate} points/s "
        f"in batches of {args.batch}, {args.seconds:.0f} s"
    )
    print(
        f"  push  p50 {push['p50_ms']:7.1f} ms  p99 {push['p99_ms']:7.1f} ms  "
        f"max {push['max_ms']:7.1f} ms  delivered {push['delivered']:,}/{push['expected']:,}"
        f"  ({push['rate_achieved']:.0f} points/s sent)"
    )
    print(
        f"  newest point of each frame, all clients: p50 {push['newest_p50_ms']:.1f} ms  "
        f"p99 {push['newest_p99_ms']:.1f} ms"
    )
    print(
        f"  ingest → published on Redis (before fan-out): p50 {push['published_p50_ms']:.1f} ms"
        f"  p99 {push['published_p99_ms']:.1f} ms"
    )
    print("  CPU cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in push["cpu_cores"].items()))
    print(f"  gateway RSS per client {push['rss_per_client_kib']:.1f} KiB")
    print(
        f"  baseline: {args.pollers} clients polling /api/metrics every 1 s: "
        f"p50 {poll['p50_ms']:.1f} ms  p99 {poll['p99_ms']:.1f} ms  max {poll['max_ms']:.1f} ms"
    )
    print(json.dumps({"push": push, "polling_baseline": poll}))


if __name__ == "__main__":
    main()
