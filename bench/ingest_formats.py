"""The request bodies bench/ingest.py posts, in each format Pulse takes: JSON (the contract's),
Influx line protocol (`text/plain`) and Prometheus remote write (`/api/v1/write`).

JSON bodies without client ids are encoded once and posted again and again (Pulse stores
each point sent without a data_id). Line protocol and remote write points always carry a
resend key (`lp:<ns past the ms>`, `rw`), unique with the series and ms, so that an agent's
retry is stored once: their bodies are made for each request, every series' timestamps
rising by at least a millisecond, and each sender owns its own sources so that two senders
never send one series at one instant."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from data.domain import remote_write  # noqa: E402

SOURCES = 50
METRICS = 20
BODIES = 8  # pre-encoded JSON bodies per sender
FORMATS = ("json", "lp", "rw")
PATHS = {"json": "/api/ingest", "lp": "/api/ingest?precision=ms", "rw": "/api/v1/write"}
TYPES = {
    "json": {"Content-Type": "application/json"},
    "lp": {"Content-Type": "text/plain"},
    "rw": {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
}


def make_points(batch: int, seed: int) -> list[list[dict[str, Any]]]:
    """`BODIES` batches of `batch` points over SOURCES × METRICS series, stamped now."""
    rng = random.Random(seed)
    now = time.time()
    return [
        [
            {
                "source": f"host-{rng.randrange(SOURCES)}",
                "metric_type": f"bench.m{rng.randrange(METRICS)}",
                "timestamp": round(now - rng.random() * 5, 3),
                "value": round(rng.random() * 100, 3),
            }
            for _ in range(batch)
        ]
        for _ in range(BODIES)
    ]


def with_ids(points: list[dict[str, Any]], prefix: str) -> bytes:
    """The body with a fresh `data_id` (32 characters, like a UUID's hex) on every point."""
    for i, point in enumerate(points):
        point["data_id"] = f"{prefix}{i:08x}"
    return orjson.dumps(points)


class Bodies:
    """One sender's request bodies in one format: `next()` gives the next one."""

    def __init__(self, fmt: str, batch: int, index: int, senders: int, client_ids: bool) -> None:
        self.fmt, self.batch, self.client_ids = fmt, batch, client_ids
        self.batches = make_points(batch, index)
        self.encoded = [orjson.dumps(points) for points in self.batches]
        self.run = f"{index:04x}{int(time.time()) & 0xFFFFFFF:08x}"
        self.count = 0
        rng = random.Random(index)
        # this sender's sources only (a share of SOURCES), so its series are its own
        own = [s for s in range(SOURCES) if s % senders == index % senders] or [0]
        self.series = [
            (f"bench.m{rng.randrange(METRICS)}", f"host-{rng.choice(own)}") for _ in range(batch)
        ]
        self.values = [round(rng.random() * 100, 3) for _ in range(batch)]
        self.last_ms: dict[tuple[str, str], int] = {}

    def next(self) -> bytes:
        """The body of the next request."""
        self.count += 1
        if self.fmt == "json":
            i = self.count % BODIES
            if self.client_ids:
                return with_ids(self.batches[i], f"{self.run}{self.count:012x}")
            return self.encoded[i]
        stamped = self._stamped()
        if self.fmt == "lp":
            lines = (f"{m},host={src} value={value} {ts}" for m, src, value, ts in stamped)
            return "\n".join(lines).encode()
        by_series: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for metric, source, value, ts in stamped:
            by_series.setdefault((metric, source), []).append((value, ts))
        return remote_write.encode(
            [
                ({"__name__": metric.replace(".", "_"), "instance": source}, samples)
                for (metric, source), samples in by_series.items()
            ]
        )

    def _stamped(self) -> list[tuple[str, str, float, int]]:
        """The batch's points, each series' timestamps (ms) rising from now."""
        now_ms = int(time.time() * 1000)
        out = []
        for (metric, source), value in zip(self.series, self.values, strict=True):
            ts = max(now_ms, self.last_ms.get((metric, source), 0) + 1)
            self.last_ms[(metric, source)] = ts
            out.append((metric, source, value, ts))
        return out
