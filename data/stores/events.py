"""The event stream `{prefix}events`: things that happened (a source went down, came back),
for alert rules and other consumers to read; the one place events are published."""

from __future__ import annotations

from typing import Any

from redis import Redis

MAX_EVENTS = 100_000  # the stream is a recent log, not an archive


class Events:
    """Publishes events as flat string fields on one capped Redis stream."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis: Any = redis
        self.key = f"{prefix}events"

    def publish(self, event_type: str, tenant: str, **fields: Any) -> str:
        """XADD one event; returns its id. `None` fields are sent as empty strings."""
        body = {"type": event_type, "tenant": tenant}
        body.update({k: "" if v is None else str(v) for k, v in fields.items()})
        entry_id = self.redis.xadd(self.key, body, maxlen=MAX_EVENTS, approximate=True)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def recent(self, count: int = 100) -> list[dict[str, str]]:
        """The newest events, oldest first (for tests and diagnostics)."""
        raw = self.redis.xrevrange(self.key, count=count)
        return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in reversed(raw)]
