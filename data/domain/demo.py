"""Demo metrics with a daily shape, noise and drift, so a fresh Pulse has a living dashboard."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from data.domain.points import Point

HOSTS = ("web-1", "web-2", "db-1")
DAY_MS = 86_400_000


def daily_shape(ts_ms: int) -> float:
    """0..1: quiet at 04:00 UTC, busiest around 15:00, a smaller bump in the evening."""
    hour = (ts_ms % DAY_MS) / 3_600_000
    main = 0.5 + 0.5 * math.sin((hour - 9.5) / 24 * 2 * math.pi)
    evening = 0.15 * math.exp(-((hour - 20.5) ** 2) / 2)
    return min(1.0, 0.08 + 0.8 * main + evening)


@dataclass
class DemoSource:
    """Generates one tick of demo points; keeps the random walks between ticks."""

    rng: random.Random = field(default_factory=random.Random)
    cpu: dict[str, float] = field(default_factory=lambda: {h: 35.0 for h in HOSTS})
    memory: dict[str, float] = field(default_factory=lambda: {h: 55.0 for h in HOSTS})

    def tick(self, now_ms: int) -> list[Point]:
        """The points of the second `now_ms` falls in; data_ids make a retried tick harmless."""
        ts = now_ms - now_ms % 1000
        load = daily_shape(ts)
        gauss = self.rng.gauss
        traffic = max(0.0, 40 + 260 * load + gauss(0, 12))
        orders = max(0.0, traffic * 0.02 + gauss(0, 0.6))
        values: list[tuple[str, str, float]] = [
            ("site.traffic", "web-frontend", round(traffic, 1)),
            ("users.active", "web-frontend", round(max(0.0, 300 + 2600 * load + gauss(0, 40)))),
            ("sales.orders", "shop", round(orders, 2)),
            ("sales.revenue", "shop", round(orders * max(5.0, gauss(48, 9)), 2)),
            ("errors.rate", "api-gateway", round(max(0.0, 0.4 + 0.6 * load + gauss(0, 0.15)), 3)),
        ]
        for host in HOSTS:
            self.cpu[host] = _walk(self.cpu[host], 15 + 55 * load, gauss(0, 2.5), 1, 99)
            self.memory[host] = _walk(self.memory[host], 50 + 20 * load, gauss(0, 0.6), 5, 98)
            values.append(("cpu.usage", host, round(self.cpu[host], 1)))
            values.append(("memory.usage", host, round(self.memory[host], 1)))
        return [Point(f"demo:{m}:{s}:{ts}", s, m, ts, v) for m, s, v in values]


def _walk(current: float, target: float, noise: float, low: float, high: float) -> float:
    """A step of a random walk pulled towards `target`, kept within [low, high]."""
    return min(high, max(low, current + 0.1 * (target - current) + noise))
