"""What the page benches share: a signed-in analyst, a tenant's history, a dashboard of
twelve live widgets, a steady HTTP feed whose values are their send times, and /ws clients
that present a Cookie or an embed token as a browser does and time each point on arrival."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from typing import Any

import orjson
import requests
import uvloop
from harness import Pulse
from picows import WSMsgType, WSTransport, ws_connect
from wsclients import MessageListener, now_ms

TENANT = "bench"
METRICS = [f"bench.m{i}" for i in range(6)]
SOURCES = [f"host-{i}" for i in range(4)]
# twelve widgets of every data type, with a notifications list: 3 + 4 + 4 + 1 per row
KINDS = ["kpi", "kpi", "line", "line", "line", "area", "area", "bar", "pie", "heatmap", "table"]


def sign_in(pulse: Pulse, username: str = "bench-analyst") -> requests.Session:
    """A new analyst of the bench tenant, signed in as a browser is (POST /login); the
    session also sends this origin, as the browser's writes do."""
    password = secrets.token_hex(12)
    pulse.admin(
        "create-user",
        "--tenant",
        TENANT,
        "--username",
        username,
        "--email",
        f"{username}@bench.example",
        "--role",
        "analyst",
        stdin=password,
    )
    session = requests.Session()
    session.headers["Origin"] = pulse.url
    resp = session.post(
        pulse.url + "/login", json={"username": username, "password": password}, timeout=30
    )
    resp.raise_for_status()
    return session


def cookie_header(session: requests.Session) -> str:
    """The Cookie header a browser holding this session sends."""
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def seed_history(pulse: Pulse, ingest_key: str, minutes: int = 30) -> None:
    """`minutes` of every bench metric on every source, a point each 10 s, stored before
    returning (the widgets' queries read them)."""
    now = time.time()
    points = [
        {
            "data_id": uuid.uuid4().hex,
            "source": source,
            "metric_type": metric,
            "timestamp": now - age,
            "value": float((age * 7 + m * 13 + s) % 100),
        }
        for age in range(10, minutes * 60, 10)
        for m, metric in enumerate(METRICS)
        for s, source in enumerate(SOURCES)
    ]
    headers = {"Authorization": f"Bearer {ingest_key}"}
    for i in range(0, len(points), 1000):
        resp = requests.post(
            pulse.url + "/api/ingest", json=points[i : i + 1000], headers=headers, timeout=30
        )
        resp.raise_for_status()
    read = {"Authorization": f"Bearer {pulse.api_key('read', 'seed-check')}"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc = requests.get(pulse.url + "/api/metrics", headers=read, timeout=10).json()
        if len(doc["metrics"]) >= len(METRICS):
            time.sleep(2.0)  # the last batches' rows, after the newest values
            return
        time.sleep(0.5)
    raise TimeoutError("the seeded history was not stored within 120 s")


def twelve_widgets() -> list[dict[str, Any]]:
    """Eleven live widgets of every chart type, each on its own metric pattern, and the
    notifications list: twelve, on a 12-column grid four wide a row."""
    widgets = []
    for i, kind in enumerate([*KINDS, "notifications"]):
        metric = [] if kind == "notifications" else [METRICS[i % len(METRICS)]]
        widgets.append(
            {
                "id": f"w{i}",
                "type": kind,
                "title": f"{kind} {i}",
                "query": {"metric": metric, "source": [], "agg": "avg", "step": "auto"},
                "live": True,
                "layout": {"x": (i % 3) * 4, "y": (i // 3) * 4, "w": 4, "h": 4},
            }
        )
    return widgets


def create_dashboard(pulse: Pulse, session: requests.Session, widgets: list[dict]) -> str:
    """A dashboard of the signed-in analyst, over the last 30 minutes; its id."""
    doc = {"title": "Bench board", "time": {"start": "now-30m", "end": "now"}, "widgets": widgets}
    resp = session.post(pulse.url + "/api/dashboards", json=doc, timeout=30)
    resp.raise_for_status()
    return str(resp.json()["id"])


def feed(url: str, key: str, rate: int, batch: int, seconds: float, sent: Any) -> None:
    """Post `rate` points a second over the bench metrics and sources, in batches; each
    value is its send time in ms (the clients time each point by it). Runs in a process
    of its own, so the clients never wait for its GIL."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.headers["Content-Type"] = "application/json"
    interval, deadline = batch / rate, time.monotonic() + seconds
    next_at, n = time.monotonic(), 0
    while time.monotonic() < deadline:
        stamp = now_ms()
        points = []
        for _ in range(batch):
            points.append(
                {
                    "data_id": uuid.uuid4().hex,
                    "source": SOURCES[n % len(SOURCES)],
                    "metric_type": METRICS[(n // len(SOURCES)) % len(METRICS)],
                    "timestamp": stamp / 1000,
                    "value": stamp,
                }
            )
            n += 1
        session.post(url + "/api/ingest", data=orjson.dumps(points), timeout=10).raise_for_status()
        sent.value += batch
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


class PageSocket(MessageListener):
    """One page's /ws: sends its subscribe frames once open, then counts frames and, when
    timed, keeps (sent, latency) in ms of every point that arrives (its value is its send
    time)."""

    prefix = b'{"type":"points"'

    def __init__(self, sends: list[bytes], tally: dict[str, Any], opened: Any) -> None:
        super().__init__(opened)
        self.sends, self.tally = sends, tally

    def on_ws_connected(self, transport: WSTransport) -> None:
        for frame in self.sends:
            transport.send(WSMsgType.TEXT, frame)
        super().on_ws_connected(transport)

    def on_message(self, raw: bytes, arrived: float) -> None:
        self.tally["frames"] += 1
        if self.tally["timed"]:
            points = orjson.loads(raw)["points"]
            self.tally["latencies"].extend((p["value"], arrived - p["value"]) for p in points)


def hold_pages(
    sockets: list[tuple[str, dict[str, str], list[bytes]]],
    timed: bool,
    opened: Any,
    stop: Any,
    results: Any,
) -> None:
    """Open each (url, headers, subscribe frames) socket, hold them all until `stop`, then
    report {"frames", "latencies"} ((sent, latency) pairs, only when `timed`). A process of
    its own."""
    tally: dict[str, Any] = {"frames": 0, "latencies": [], "timed": timed}

    async def main() -> None:
        transports = []
        for url, headers, sends in sockets:
            transport, _ = await ws_connect(
                lambda sends=sends: PageSocket(sends, tally, opened),
                url,
                extra_headers=headers,
                max_frame_size=64 * 1024 * 1024,
            )
            transports.append(transport)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for transport in transports:
            transport.disconnect()

    uvloop.run(main())
    results.put({"frames": tally["frames"], "latencies": tally["latencies"]})


def wait_opened(opened: Any, count: int, seconds: float = 120) -> None:
    """Until `count` sockets are open; RuntimeError after `seconds`."""
    deadline = time.monotonic() + seconds
    while opened.value < count and time.monotonic() < deadline:
        time.sleep(0.1)
    if opened.value < count:
        raise RuntimeError(f"only {opened.value} of {count} sockets opened")
