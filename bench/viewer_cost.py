"""Server CPU per viewer-update, all-in: Pulse's push against the Dash polling norm.

N viewers each watch a few series (`--series`, default 4) of one of `--groups` dashboards;
every series gets one point a second, all of them in one `POST /api/ingest` a second.

- **Pulse**: each viewer holds a `/ws` socket subscribed to its group's series; a
  viewer-update is one `points` frame received.
- **Polling (the Dash norm)**: `bench/dash_poller.py` — a `dcc.Interval` of 1 s whose
  callback runs one PostgreSQL query per poll (the viewer's series, last minute, from
  Pulse's `points` table) and returns a Plotly figure; 2 processes × 8 threads (waitress on a
  shared socket, as gunicorn would: gunicorn is not in the locks); a viewer-update is one
  answered `POST /_dash-update-component`.

Server CPU is measured over a steady window (`--seconds`, after `--warmup`) with
psutil, per process, and attributed as `bench/servercpu.py` says: Pulse's processes (web +
stream gateway in one, the worker), the PostgreSQL backends connected to the bench's
database (Pulse's and the polling app's), a private redis-server started for the run, and
the polling app's two processes. All-in: both figures include the ingest that keeps the
data current (the same feeder runs throughout); "marginal" subtracts a window with the
feeder and no viewers. The viewers' own CPU (client processes) is excluded. The load
average is printed: the machine is shared.

The table's "updates" column says how many viewer-updates each side delivered of the
viewers × seconds expected: a polling app that cannot keep up (on two shared cores it
serves ~60-90 polls a second) answers fewer, and its figure is per answered poll. Where
the polling app's time goes, measured alone on this machine: building the Plotly figure
of 4 × 60 points and encoding it ~3.9 ms, the query ~2-3 ms of PostgreSQL backend, the
rest Dash's dispatch, SQLAlchemy and waitress.

Usage (the machine's PostgreSQL from the environment, or the embedded one):

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
      .venv/bin/python bench/viewer_cost.py [--viewers 100,1000] [--seconds 30] [--warmup 10]
      [--groups 10] [--series 4] [--no-polling]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import time
from typing import Any

import dash_poller
import orjson
import psutil
import requests
import uvloop
from harness import Pulse, running_pulse
from picows import WSMsgType, WSTransport
from servercpu import CpuMeter, load_average, postgres_backends, private_redis
from sqlalchemy.engine import make_url
from wsclients import MessageListener, hold_sockets

METRIC = "bench.viewer"
TENANT = "bench"


def sources_of(groups: int, series: int) -> list[list[str]]:
    return [[f"g{g}s{s}" for s in range(series)] for g in range(groups)]


def ingest_session(pulse: Pulse, key: str) -> requests.Session:
    session = requests.Session()
    session.headers.update(Authorization=f"Bearer {key}", **{"Content-Type": "application/json"})
    return session


def prefill(pulse: Pulse, key: str, names: list[str]) -> None:
    """The last window of every series, so the polling app's figure is full from the start."""
    session = ingest_session(pulse, key)
    now = time.time()
    points = [
        {"source": s, "metric_type": METRIC, "timestamp": now - age, "value": random.random()}
        for age in range(dash_poller.WINDOW_S, 0, -1)
        for s in names
    ]
    for start in range(0, len(points), 5_000):
        body = orjson.dumps(points[start : start + 5_000])
        session.post(pulse.url + "/api/ingest", data=body).raise_for_status()


def feed(url: str, key: str, names: list[str], stop: Any) -> None:
    """One point per series a second, all in one request, until `stop`."""
    session = requests.Session()
    session.headers.update(Authorization=f"Bearer {key}", **{"Content-Type": "application/json"})
    next_at = time.monotonic()
    while not stop.is_set():
        now = time.time()
        body = [
            {"source": s, "metric_type": METRIC, "timestamp": now, "value": random.random()}
            for s in names
        ]
        session.post(url + "/api/ingest", data=orjson.dumps(body), timeout=10).raise_for_status()
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))


class ViewerListener(MessageListener):
    """A viewer's socket: subscribes to its group's series and counts `points` frames."""

    prefix = b'{"type":"points"'

    def __init__(self, sources: list[str], frames: Any, opened: Any) -> None:
        super().__init__(opened)
        self.sources, self.frames = sources, frames

    def on_ws_connected(self, transport: WSTransport) -> None:
        doc = {"type": "subscribe", "metrics": [METRIC], "sources": self.sources}
        transport.send(WSMsgType.TEXT, orjson.dumps(doc))
        super().on_ws_connected(transport)

    def on_message(self, raw: bytes, arrived: float) -> None:
        self.frames.value += 1


def hold_viewers(
    url: str, groups: list[list[str]], n: int, frames: Any, opened: Any, stop: Any
) -> None:
    """Hold `n` viewer sockets (viewer i watches group i mod len(groups)) until `stop`."""
    mine = [groups[i % len(groups)] for i in range(n)]
    listeners = [lambda *_, g=g: ViewerListener(g, frames, opened) for g in mine]
    uvloop.run(hold_sockets(url, listeners, stop, 16 * 1024 * 1024))


def window(meter: CpuMeter, count: Any, seconds: float) -> dict[str, Any]:
    """Measure CPU and the viewer-updates counted in `count` over `seconds`."""
    first = count.value
    meter.start()
    time.sleep(seconds)
    elapsed, used = meter.stop()
    updates = count.value - first
    return {"seconds": elapsed, "updates": updates, "cpu_s": used, "load": load_average()}


def measure_pulse(
    pulse: Pulse, meter: CpuMeter, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    token = pulse.stream_token(pulse.api_key("read", f"view{n}"))
    frames, opened = multiprocessing.RawValue("q", 0), multiprocessing.Value("l", 0)
    stop = multiprocessing.Event()
    groups = sources_of(args.groups, args.series)
    clients = multiprocessing.Process(
        target=hold_viewers, args=(f"{pulse.ws_url}?token={token}", groups, n, frames, opened, stop)
    )
    clients.start()
    deadline = time.monotonic() + 120
    while opened.value < n and time.monotonic() < deadline:
        time.sleep(0.2)
    if opened.value < n:
        raise RuntimeError(f"only {opened.value} of {n} viewers connected")
    time.sleep(args.warmup)
    result = window(meter, frames, args.seconds)
    stop.set()
    clients.join(30)
    return result


def measure_polling(
    pulse: Pulse, meter: CpuMeter, args: argparse.Namespace, n: int, app: list[psutil.Process]
) -> dict[str, Any]:
    database_url = pulse.env["DATABASE_URL"]
    app_args = (database_url, TENANT, METRIC, sources_of(args.groups, args.series))
    port, servers = dash_poller.start_app(app_args)
    app[:] = [psutil.Process(p.pid) for p in servers]
    answered = multiprocessing.Value("q", 0)
    pollers = multiprocessing.Process(
        target=dash_poller.poll,
        args=(port, n, args.groups, args.warmup + args.seconds + 1, answered),
    )
    try:
        pollers.start()
        time.sleep(args.warmup)
        result = window(meter, answered, args.seconds)
        pollers.join(60)
    finally:
        app.clear()
        for server in servers:
            server.terminate()
            server.join(10)
    return result


def per_update_ms(result: dict[str, Any], base: dict[str, Any] | None = None) -> float:
    """ms of server CPU per viewer-update; with `base`, its CPU rate taken off first."""
    cpu = sum(result["cpu_s"].values())
    if base is not None:
        cpu -= sum(base["cpu_s"].values()) / base["seconds"] * result["seconds"]
    return 1000 * cpu / max(1, result["updates"])


def run(args: argparse.Namespace, pulse: Pulse, redis: psutil.Process) -> dict[str, Any]:
    ingest_key = pulse.api_key("ingest", "feed")
    names = [s for group in sources_of(args.groups, args.series) for s in group]
    prefill(pulse, ingest_key, names)
    database = make_url(pulse.env["DATABASE_URL"]).database or ""
    servers, workers = pulse.processes()
    app: list[psutil.Process] = []
    meter = CpuMeter(
        {
            "pulse web+gateway": lambda: servers,
            "pulse worker": lambda: workers,
            "postgres backends": lambda: postgres_backends(database),
            "redis": lambda: [redis],
            "polling app": lambda: list(app),
        }
    )
    stop = multiprocessing.Event()
    feeder = multiprocessing.Process(target=feed, args=(pulse.url, ingest_key, names, stop))
    feeder.start()
    try:
        time.sleep(args.warmup)
        nothing = multiprocessing.Value("q", 0)
        out: dict[str, Any] = {"ingest only": window(meter, nothing, args.seconds)}
        for n in args.viewers:
            out[f"pulse {n}"] = measure_pulse(pulse, meter, args, n)
            if not args.no_polling:
                out[f"polling {n}"] = measure_polling(pulse, meter, args, n, app)
    finally:
        stop.set()
        feeder.join(10)
    return out


def cores(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v / result['seconds']:.3f}" for k, v in result["cpu_s"].items())


def report(args: argparse.Namespace, out: dict[str, Any]) -> None:
    base = out["ingest only"]
    print(f"\nserver CPU per viewer-update, all-in ({args.series} series per viewer, 1 point/s")
    print(f"each; window {args.seconds:.0f} s after {args.warmup:.0f} s warm-up)")
    print(f"  ingest only (cores): {cores(base)}")
    heads = ("viewers", "Pulse ms", "polling ms", "ratio", "marginal P / poll ms")
    heads += ("updates P / poll",)
    print("  " + " | ".join(heads) + " | load P / poll")
    for n in args.viewers:
        push, poll = out[f"pulse {n}"], out.get(f"polling {n}")
        expected = round(n * push["seconds"])
        cells = [f"{n:>7}", f"{per_update_ms(push):8.4f}", "-", "-", "-", str(push["updates"])]
        loads = push["load"]
        if poll is not None:
            cells[2] = f"{per_update_ms(poll):10.3f}"
            cells[3] = f"{per_update_ms(poll) / per_update_ms(push):5.1f}×"
            cells[4] = f"{per_update_ms(push, base):.4f} / {per_update_ms(poll, base):.3f}"
            cells[5] = f"{push['updates']} / {poll['updates']} of {expected}"
            loads = f"{push['load']} / {poll['load']}"
        print("  " + " | ".join(cells) + f" | {loads}")
    for name, result in out.items():
        print(f"  {name} (cores): {cores(result)}")
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="100,1000", help="comma-separated viewer counts")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--groups", type=int, default=10, help="distinct dashboards")
    parser.add_argument("--series", type=int, default=4, help="series per viewer")
    parser.add_argument("--no-polling", action="store_true", help="skip the Dash baseline")
    args = parser.parse_args()
    args.viewers = [int(n) for n in args.viewers.split(",")]
    print(f"load average at start: {load_average()}")
    with private_redis() as (redis_url, redis):
        os.environ["REDIS_URL"] = redis_url
        with running_pulse() as pulse:
            out = run(args, pulse, redis)
    report(args, out)


if __name__ == "__main__":
    main()
