"""Source kinds the worker polls: one module per kind, each a `poll(config, state, ctx)`
returning checked points and the state the next poll starts from (see app/worker/sources/base.py).
The runner (app/worker/sources/runner.py) schedules them, bounds them in time and records health."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.worker.sources import demo, file_tail, http_json, prometheus, sql
from app.worker.sources.base import PollContext, PollResult, SourceError

Poll = Callable[[Any, dict[str, Any], PollContext], PollResult]

POLLERS: dict[str, Poll] = {
    "prometheus": prometheus.poll,
    "http_json": http_json.poll,
    "sql": sql.poll,
    "file_tail": file_tail.poll,
    "demo": demo.poll,
}

__all__ = ["POLLERS", "PollContext", "PollResult", "SourceError"]
