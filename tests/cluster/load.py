"""Clients of a loopback cluster, through nginx as people's would be: senders that ingest
points in batches (each point with a data_id, so a batch resent after a 5xx or a broken
connection is stored once) and viewers that watch on /ws and resume from their cursor when
their socket breaks. Used by the chaos test and bench/cluster.py."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

METRIC = "chaos.load"
RESEND_PAUSE_S = 0.2
GIVE_UP_S = 60.0  # a batch nobody accepts for this long is left unacknowledged


@dataclass
class Sender:
    """`count` points of source `chaos-<index>` in batches of `batch`; value i is the point's
    index, so a viewer knows which it got. Acknowledged batches are those answered 202."""

    base_url: str
    key: str
    index: int
    count: int
    batch: int = 100
    pause_s: float = 0.0
    start_ts: float = field(default_factory=lambda: time.time() - 30)
    stamp_now: bool = False  # timestamp = when sent (for latency), else start_ts + i ms
    acknowledged: list[str] = field(default_factory=list)
    resends: int = 0
    refused: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def source(self) -> str:
        return f"chaos-{self.index}"

    def points(self, first: int, last: int) -> list[dict[str, Any]]:
        now = time.time()
        return [
            {
                "data_id": f"{self.index}-{i}",
                "source": self.source,
                "metric_type": METRIC,
                "timestamp": now if self.stamp_now else self.start_ts + i / 1000,
                "value": float(i),
            }
            for i in range(first, last)
        ]

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.key}"
        for first in range(0, self.count, self.batch):
            body = self.points(first, min(first + self.batch, self.count))
            if self._send(session, body):
                self.acknowledged += [point["data_id"] for point in body]
            if self.pause_s:
                time.sleep(self.pause_s)

    def _send(self, session: requests.Session, body: list[dict[str, Any]]) -> bool:
        """POST until a 202 (True); a 4xx is a refusal (False); 5xx or no answer: resend."""
        deadline = time.monotonic() + GIVE_UP_S
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                resp = session.post(f"{self.base_url}/api/ingest", json=body, timeout=10)
            except requests.RequestException:
                resp = None
            if resp is not None and resp.status_code == 202:
                self.latencies_ms.append((time.monotonic() - sent) * 1000)
                return True
            if resp is not None and resp.status_code < 500 and resp.status_code != 429:
                self.refused.append(f"{resp.status_code} {resp.text[:200]}")
                return False
            self.resends += 1
            session = _fresh(session)  # a kept-alive connection may be to a dead process
            time.sleep(RESEND_PAUSE_S)
        return False


def _fresh(session: requests.Session) -> requests.Session:
    fresh = requests.Session()
    fresh.headers.update(session.headers)
    session.close()
    return fresh


@dataclass
class Viewer:
    """One /ws socket through nginx subscribed to the load's metric; on a broken socket it
    reconnects (any gateway) and resumes from the last cursor it got."""

    ws_url: str
    token: str
    cursor: str
    received: set[tuple[str, float]] = field(default_factory=set)
    arrivals: list[tuple[float, float]] = field(default_factory=list)  # (point ts ms, now ms)
    reconnects_s: list[float] = field(default_factory=list)
    resets: int = 0
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        broke: float | None = None  # when the socket broke, until a reconnect resumes
        while not self.stop.is_set():
            try:
                with connect(self.url, open_timeout=5, close_timeout=1) as ws:
                    subscribe = {"type": "subscribe", "metrics": [METRIC], "sources": ["*"]}
                    ws.send(json.dumps({**subscribe, "cursor": self.cursor}))
                    if broke is not None:
                        self.reconnects_s.append(time.monotonic() - broke)
                        broke = None
                    self._listen(ws)
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as err:
                if broke is None:
                    broke = time.monotonic()
                    self.errors.append(repr(err)[:200])
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"{self.ws_url}?token={self.token}"

    def _listen(self, ws: ClientConnection) -> None:
        """Take frames until the run ends (or the socket breaks: ConnectionClosed)."""
        while not self.stop.is_set():
            try:
                raw = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            self._take(json.loads(raw))

    def _take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "reset":
            self.resets += 1
        if frame.get("type") != "points":
            return
        now_ms = time.time() * 1000
        for point in frame["points"]:
            self.received.add((point["source"], point["value"]))
            self.arrivals.append((point["ts"], now_ms))
        self.cursor = frame["cursor"]


def current_cursor(base_url: str, read_key: str) -> str:
    """The live stream's cursor now (the long-poll answers at once without one)."""
    auth = {"Authorization": f"Bearer {read_key}"}
    resp = requests.get(
        f"{base_url}/api/updates", params={"metric": METRIC}, headers=auth, timeout=10
    )
    resp.raise_for_status()
    return str(resp.json()["cursor"])


def stream_token(base_url: str, read_key: str) -> str:
    auth = {"Authorization": f"Bearer {read_key}"}
    resp = requests.get(f"{base_url}/api/stream-token", headers=auth, timeout=10)
    resp.raise_for_status()
    return str(resp.json()["token"])


def started(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target.run, daemon=True)
    thread.start()
    return thread
