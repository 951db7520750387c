"""Live latency: ingest over HTTP → worker → gateway → N WebSocket clients.

Prints p50/p99/max ingest-to-client latency, delivered/expected and gateway RSS per client,
then the same latency for the baseline a Dash app would use: polling every second (here
`GET /api/metrics`, the cheapest poll Pulse offers). Usage:

    .venv/bin/python bench/live_latency.py [--clients 1000] [--rate 1000] [--seconds 20]

With `--curve 1000,2500,5000` it runs once per client count with the gateway's pacing
(at most `WS_MAX_FRAMES_PER_S`, 20, frames a second per socket, slowed to share
`WS_FRAMES_BUDGET_PER_S`, 20,000 a second, between the open sockets: 4 each at 5,000) and
once with the baseline pace (`--baseline-fps`, default 20 for every socket whatever their
number: one frame per 50 ms, what the gateway did before), each
on a fresh Pulse, and prints one line per run: latency, frames a second per socket, gateway
RSS per client (after connecting and after the feed), CPU and points missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import threading
import time
import uuid
from typing import Any

import orjson
import psutil
import requests
import uvloop
from harness import Pulse, cpu_seconds, percentile, rss_mib, running_pulse, spread
from picows import WSMsgType, WSTransport
from redis import Redis
from wsclients import MessageListener, hold_sockets, now_ms

METRIC = "bench.latency"
# Every client opens /ws with a stream token of one API key: past WS_MAX_SOCKETS_PER_KEY
# (2,000 by default) the gateway would close the rest at once, and they would count as
# missed points rather than as sockets served.
ALL_SOCKETS_ADMITTED = {"WS_MAX_SOCKETS_PER_KEY": "100000"}
FULL_CLIENTS = 10


class Tally:
    """What one client process saw: latencies and the points each of its clients got."""

    def __init__(self, clients: int) -> None:
        self.latencies: list[float] = []
        self.stamped: list[tuple[float, float]] = []  # (value = send time, arrival) pairs
        self.newest: list[float] = []
        self.received = [0] * clients
        self.frames = [0] * clients


class BenchListener(MessageListener):
    """One client socket: counts the points it receives and times them on arrival."""

    prefix = b'{"type":"points"'

    def __init__(self, index: int, full: bool, tally: Tally, opened: Any, metric: str) -> None:
        super().__init__(opened)
        self.index, self.full, self.tally = index, full, tally
        self.subscribe = orjson.dumps({"type": "subscribe", "metrics": [metric]})

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, self.subscribe)
        super().on_ws_connected(transport)

    def on_message(self, raw: bytes, arrived: float) -> None:
        self.tally.frames[self.index] += 1
        # Every point of a few clients is decoded; the others count points and read the
        # newest one's value without decoding the whole frame.
        if self.full:
            points = orjson.loads(raw)["points"]
            self.tally.received[self.index] += len(points)
            self.tally.latencies.extend(arrived - p["value"] for p in points)
            self.tally.stamped.extend((p["value"], arrived) for p in points)
        else:
            self.tally.received[self.index] += raw.count(b'"value":')
            newest = raw[raw.rindex(b'"value":') + 8 : raw.rindex(b"}]")]
            self.tally.newest.append(arrived - float(newest))


def metric_of(n: int, spread: int) -> str:
    """The metric of the n-th batch, or of the n-th client's subscription (a pattern)."""
    return METRIC if spread == 1 else f"bench.m{n % spread}"


def client_process(
    first: int, count: int, url: str, opened: Any, stop: Any, results: Any, spread: int = 1
) -> None:
    """Hold `count` sockets in one event loop until `stop`, then report what they saw."""
    tally = Tally(count)
    listeners = [
        lambda *_, i=i: BenchListener(
            i,
            first + i < FULL_CLIENTS,
            tally,
            opened,
            "bench.*" if spread == 1 else metric_of(first + i, spread),
        )
        for i in range(count)
    ]
    uvloop.run(hold_sockets(url, listeners, stop, 64 * 1024 * 1024))
    results.put((tally.latencies, tally.newest, tally.received, tally.frames, tally.stamped))


def ingest(
    url: str,
    key: str,
    rate: int,
    batch: int,
    seconds: float,
    sent: Any,
    stamps: list[float] | None = None,
    spread: int = 1,
) -> None:
    """Post `rate` points a second in batches; each value is its send time in ms. With
    `spread` > 1 the n-th batch is of metric bench.m{n % spread}: a client subscribed to one
    of them gets one batch in `spread`.

    Runs in its own process so that the clients' event loop never waits for its GIL."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.headers["Content-Type"] = "application/json"
    interval = batch / rate
    deadline = time.monotonic() + seconds
    next_at = time.monotonic()
    for n in itertools.count():
        if time.monotonic() >= deadline:
            break
        metric = metric_of(n, spread)
        ids = [uuid.uuid4().hex for _ in range(batch)]
        stamp = now_ms()  # the clock starts once the points are being encoded and sent
        points = [
            {
                "data_id": ids[i],
                "source": f"s{i % 10}",
                "metric_type": metric,
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


def open_clients(url: str, args: argparse.Namespace) -> tuple[list[Any], Any, Any]:
    """Start the client processes and wait until every socket is open; (processes, stop
    event, results queue)."""
    opened, stop, results = (
        multiprocessing.Value("l", 0),
        multiprocessing.Event(),
        multiprocessing.Queue(),
    )
    share = -(-args.clients // args.client_procs)
    procs = []
    for first in range(0, args.clients, share):
        count = min(share, args.clients - first)
        procs.append(
            multiprocessing.Process(
                target=client_process,
                args=(first, count, url, opened, stop, results, args.spread),
            )
        )
        procs[-1].start()
    deadline = time.monotonic() + 180
    while opened.value < args.clients and time.monotonic() < deadline:
        time.sleep(0.2)
    if opened.value < args.clients:
        raise RuntimeError(f"only {opened.value} of {args.clients} clients connected")
    return procs, stop, results


def gather(
    procs: list[Any], results: Any
) -> tuple[list[float], list[float], int, int, list[tuple[float, float]]]:
    """What the client processes saw: every decoded latency, each frame's newest point's
    latency, the points delivered, the frames, and each decoded point's (stamp, arrival)."""
    latencies: list[float] = []
    newest: list[float] = []
    stamped: list[tuple[float, float]] = []
    delivered = frames = 0
    for _ in procs:
        full, newest_part, received, framed, stamped_part = results.get(timeout=120)
        latencies += full
        stamped += stamped_part
        newest += newest_part
        delivered += sum(received)
        frames += sum(framed)
    for proc in procs:
        proc.join(30)
    return latencies, newest, delivered, frames, stamped


def measure_push(pulse: Pulse, args: argparse.Namespace) -> dict[str, Any]:
    ingest_key = pulse.api_key("ingest", "in")
    token = pulse.stream_token(pulse.api_key("read", "rd"))
    gateways, workers = pulse.processes()
    rss_before = rss_mib(gateways)
    procs, stop, results = open_clients(f"{pulse.ws_url}?token={token}", args)
    time.sleep(1.0)
    rss_per_client_kib = (rss_mib(gateways) - rss_before) * 1024 / args.clients
    watched = {
        "web+gateway": gateways,
        "worker": workers,
        "clients": [psutil.Process(p.pid) for p in procs],
    }
    cpu_before = {name: cpu_seconds(group) for name, group in watched.items()}
    sent = multiprocessing.Value("l", 0)
    feeder = multiprocessing.Process(
        target=ingest,
        args=(pulse.url, ingest_key, args.rate, args.batch, args.seconds, sent, None, args.spread),
    )
    published: list[float] = []
    published_at: dict[float, float] = {}
    listener = threading.Thread(
        target=listen_published,
        args=(pulse, "bench", published, args.seconds + 2.0, published_at),
    )
    listener.start()
    started = time.monotonic()
    feeder.start()
    feeder.join()
    listener.join()
    elapsed = time.monotonic() - started
    rss_end_kib = (rss_mib(gateways) - rss_before) * 1024 / args.clients
    cpu_share = {
        name: (cpu_seconds(group) - cpu_before[name]) / elapsed for name, group in watched.items()
    }
    time.sleep(3.0)  # let the last points arrive
    stop.set()
    latencies, newest, delivered, frames, stamped = gather(procs, results)
    expected = expected_points(sent.value, args)
    return {
        "load_1min": os.getloadavg()[0],
        "frames_per_socket_s": frames / args.clients / args.seconds,
        "rss_end_per_client_kib": rss_end_kib,
        "missed": expected - delivered,
        "points_sent": sent.value,
        "rate_achieved": sent.value / args.seconds,
        **spread(latencies),
        "max_ms": max(latencies + newest, default=float("nan")),
        "newest_p50_ms": percentile(newest, 50),
        "newest_p99_ms": percentile(newest, 99),
        "delivered": delivered,
        "expected": expected,
        "rss_per_client_kib": rss_per_client_kib,
        **channel_to_socket(stamped, published_at),
        "published_p50_ms": percentile(published, 50),
        "published_p99_ms": percentile(published, 99),
        "cpu_cores": cpu_share,
    }


def channel_to_socket(
    stamped: list[tuple[float, float]], published_at: dict[float, float]
) -> dict[str, float]:
    """p50/p99 from the worker's publish to the socket: the gateway's share of the latency,
    whatever the ingest path before it took."""
    fanout = [at - published_at[v] for v, at in stamped if v in published_at]
    return {"fanout_p50_ms": percentile(fanout, 50), "fanout_p99_ms": percentile(fanout, 99)}


def expected_points(sent: int, args: argparse.Namespace) -> int:
    """The points the clients should get: each the batches of the metric it subscribed to."""
    batches = sent // args.batch
    per_metric = [
        batches // args.spread + (1 if m < batches % args.spread else 0) for m in range(args.spread)
    ]
    return sum(per_metric[i % args.spread] * args.batch for i in range(args.clients))


def listen_published(
    pulse: Pulse,
    tenant: str,
    out: list[float],
    seconds: float,
    published_at: dict[float, float] | None = None,
) -> None:
    """Ingest-to-publish latency of each batch, read straight off the tenant's channel:
    what the pipeline costs before the gateway's fan-out; `published_at` gets each batch's
    stamp → when it was seen published."""
    redis = Redis.from_url(pulse.env["REDIS_URL"])
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{pulse.env['REDIS_PREFIX']}chan:{tenant}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message:
            arrived = now_ms()
            stamp = orjson.loads(message["data"])["points"][-1]["value"]
            out.append(arrived - stamp)
            if published_at is not None:
                published_at.setdefault(stamp, arrived)
    pubsub.close()


def measure_polling(pulse: Pulse, pollers: int, seconds: float) -> dict[str, float]:
    """Baseline: clients polling the newest value once a second, as dcc.Interval would.

    A batch's latency is the time until a poller first shows it (or something newer)."""
    read_key = pulse.api_key("read", "poll")
    ingest_key = pulse.api_key("ingest", "in2")
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
    return {**spread(latencies), "samples": len(latencies)}


def run_curve(args: argparse.Namespace) -> None:
    """Each client count with the gateway's pace and with the baseline pace, in turn."""
    rows = []
    for clients in [int(n) for n in args.curve.split(",")]:
        for label, fps in (("paced", None), ("baseline", args.baseline_fps)):
            run = argparse.Namespace(**vars(args))
            run.clients = clients
            run.client_procs = max(args.client_procs, math.ceil(clients / 2500))
            env = dict(ALL_SOCKETS_ADMITTED)
            if fps is not None:  # a fixed pace: a budget no socket count reaches
                env["WS_MAX_FRAMES_PER_S"] = str(fps)
                env["WS_FRAMES_BUDGET_PER_S"] = "1e9"
            load = os.getloadavg()[0]
            with running_pulse(env) as pulse:
                push = measure_push(pulse, run)
            rows.append({"clients": clients, "pace": label, "load_start": load, **push})
            print_curve_row(rows[-1])
    print(
        f"\ncurve, {args.rate} points/s in batches of {args.batch}, {args.seconds:.0f} s a run,"
        f" each client watching 1 metric in {args.spread}"
    )
    print(CURVE_HEADER)
    for row in rows:
        print_curve_row(row)
    print(json.dumps(rows))


CURVE_HEADER = (
    "clients  pace      load   p50 ms   p99 ms  newest p50/p99 ms  channel→socket p50/p99 ms"
    "  frames/s/socket  RSS/client KiB (open/end)  CPU web+gw  missed"
)


def print_curve_row(row: dict[str, Any]) -> None:
    print(
        f"{row['clients']:7,}  {row['pace']:8}  {row['load_start']:4.1f}  {row['p50_ms']:7.1f}"
        f"  {row['p99_ms']:7.1f}  {row['newest_p50_ms']:7.1f} / {row['newest_p99_ms']:7.1f}"
        f"  {row['fanout_p50_ms']:11.1f} / {row['fanout_p99_ms']:7.1f}"
        f"  {row['frames_per_socket_s']:15.2f}  {row['rss_per_client_kib']:12.1f} /"
        f" {row['rss_end_per_client_kib']:5.1f}     {row['cpu_cores']['web+gateway']:9.2f}"
        f"  {row['missed']:,}",
        flush=True,
    )


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
    parser.add_argument(
        "--spread",
        type=int,
        default=1,
        help="metrics the batches take turns at; each client subscribes to one (1: all)",
    )
    parser.add_argument(
        "--curve", help="client counts, e.g. 1000,2500,5000: paced against the baseline pace"
    )
    parser.add_argument(
        "--baseline-fps", type=float, default=20.0, help="the baseline's frames/s per socket"
    )
    args = parser.parse_args()
    if args.curve:
        run_curve(args)
        return
    with running_pulse(ALL_SOCKETS_ADMITTED) as pulse:
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
        f"  p99 {push['published_p99_ms']:.1f} ms; published → socket (10 clients, every"
        f" point) p50 {push['fanout_p50_ms']:.1f} ms  p99 {push['fanout_p99_ms']:.1f} ms"
    )
    print("  CPU cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in push["cpu_cores"].items()))
    print(
        f"  gateway RSS per client {push['rss_per_client_kib']:.1f} KiB (after the feed"
        f" {push['rss_end_per_client_kib']:.1f}); {push['frames_per_socket_s']:.2f} frames/s"
        f" per socket; load average {push['load_1min']:.2f}"
    )
    print(
        f"  baseline: {args.pollers} clients polling /api/metrics every 1 s: "
        f"p50 {poll['p50_ms']:.1f} ms  p99 {poll['p99_ms']:.1f} ms  max {poll['max_ms']:.1f} ms"
    )
    print(json.dumps({"push": push, "polling_baseline": poll}))


if __name__ == "__main__":
    main()
