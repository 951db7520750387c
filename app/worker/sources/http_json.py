"""HTTP JSON polls: each configured path in the document becomes one point.

A path is dotted keys with list indexes (`data.items.0.cpu`). The poll fails, and nothing
is queued, when the answer is not JSON or a configured path is missing or not a number:
a changed API should turn the source red, not thin its data out silently. Without a
`timestamp_path` the points are stamped with the poll's time."""

from __future__ import annotations

from typing import Any

import orjson

from app.worker.sources.base import PollContext, PollResult, SourceError, checked_point, fetch
from data.domain.source_spec import HttpJsonConfig

ACCEPT = "application/json"
_MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (keys and list indexes), or _MISSING."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.lstrip("-").isdigit():
            index = int(part)
            node = node[index] if -len(node) <= index < len(node) else _MISSING
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def poll(config: HttpJsonConfig, state: dict[str, Any], ctx: PollContext) -> PollResult:
    """Fetch the document once and read every configured value out of it."""
    body = fetch(config.url, config.headers, ctx, ACCEPT)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SourceError("the answer is not JSON") from None
    timestamp: Any = ctx.now_ms / 1000
    if config.timestamp_path:
        timestamp = lookup(doc, config.timestamp_path)
        if timestamp is _MISSING:
            raise SourceError(f"timestamp_path {config.timestamp_path!r} is not in the answer")
    points = []
    for spec in config.values:
        value = lookup(doc, spec.path)
        if value is _MISSING:
            raise SourceError(f"path {spec.path!r} is not in the answer")
        source = spec.source or ctx.name
        point, problem = checked_point(ctx, (), spec.metric, source, timestamp, value)
        if point is None:
            raise SourceError(f"path {spec.path!r}: {problem}")
        points.append(point)
    return PollResult(points, {"at": ctx.now_ms})
