"""The demo generator as a source kind; its random walks are kept in the state, so a
restarted worker carries on from where the charts were."""

from __future__ import annotations

import random
from typing import Any

from app.worker.sources.base import PollContext, PollResult
from data.domain.demo import HOSTS, DemoSource
from data.domain.source_spec import DemoConfig


def poll(config: DemoConfig, state: dict[str, Any], ctx: PollContext) -> PollResult:
    """One tick of demo points; the tick's data_ids make a repeated second harmless."""
    rng = random.Random(None if config.seed is None else config.seed + ctx.now_ms)
    demo = DemoSource(rng)
    for walk in ("cpu", "memory"):
        saved = state.get(walk) or {}
        getattr(demo, walk).update({h: float(saved[h]) for h in HOSTS if h in saved})
    points = demo.tick(ctx.now_ms)
    return PollResult(points, {"cpu": dict(demo.cpu), "memory": dict(demo.memory)})
