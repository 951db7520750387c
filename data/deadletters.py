"""The dead-letter stream: ingest entries that cannot be stored, kept with their reason.

An entry lands here when it cannot be decoded, or when writing it failed `max_deliveries`
times for a reason that retrying does not cure (bad data, not a lost connection). An admin
of its tenant sees it through the API and can replay it into the ingest stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from data.live import GROUP, IngestEntry, LiveStore, PoisonEntry


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One dead-lettered entry, as an admin sees it."""

    dead_id: str
    entry_id: str
    reason: str
    deliveries: int
    points: int
    sample: list[Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.dead_id,
            "entry_id": self.entry_id,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "points": self.points,
            "sample": self.sample,
        }


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class DeadLetters:
    """Moves failing entries aside, lists them per tenant and replays them."""

    def __init__(self, live: LiveStore) -> None:
        self.live = live
        self.redis: Any = live.redis

    def delivery_count(self, entry_id: str) -> int:
        """How many times the entry has been handed to a consumer (0 if not pending)."""
        key = self.live.ingest_key
        found = self.redis.xpending_range(key, GROUP, min=entry_id, max=entry_id, count=1)
        return int(found[0]["times_delivered"]) if found else 0

    def bury_undecodable(self, poison: Sequence[PoisonEntry]) -> None:
        """Move entries that cannot be decoded aside, then acknowledge them."""
        with self.redis.pipeline(transaction=True) as pipe:
            for entry in poison:
                fields = {**entry.fields, "reason": entry.reason, "id": entry.entry_id}
                pipe.xadd(self.live.dead_key, fields)
                pipe.xack(self.live.ingest_key, GROUP, entry.entry_id)
            pipe.execute()

    def bury(self, entry: IngestEntry, reason: str, deliveries: int) -> None:
        """Move an entry that keeps failing aside, then acknowledge it."""
        fields = {
            "t": entry.tenant,
            "p": orjson.dumps([p.packed() for p in entry.points]),
            "reason": reason[:2000],
            "id": entry.entry_id,
            "deliveries": str(deliveries),
        }
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.live.dead_key, fields)
            pipe.xack(self.live.ingest_key, GROUP, entry.entry_id)
            pipe.execute()

    def of_tenant(self, tenant: str, count: int = 100) -> list[DeadLetter]:
        """The tenant's newest dead letters (others' are never shown)."""
        out: list[DeadLetter] = []
        for dead_id, fields in self.redis.xrevrange(self.live.dead_key, count=10_000):
            if _text(fields.get(b"t", b"")) != tenant:
                continue
            try:
                rows = orjson.loads(fields.get(b"p", b"[]"))
            except orjson.JSONDecodeError:
                rows = []
            out.append(
                DeadLetter(
                    _text(dead_id),
                    _text(fields.get(b"id", b"")),
                    _text(fields.get(b"reason", b"")),
                    int(_text(fields.get(b"deliveries", b"0")) or 0),
                    len(rows) if isinstance(rows, list) else 0,
                    rows[:3] if isinstance(rows, list) else [],
                )
            )
            if len(out) >= count:
                break
        return out

    def replay(self, tenant: str, dead_id: str) -> bool:
        """Put the tenant's dead letter back into the ingest stream; False if there is none."""
        found = self.redis.xrange(self.live.dead_key, min=dead_id, max=dead_id, count=1)
        if not found or _text(found[0][1].get(b"t", b"")) != tenant:
            return False
        fields = found[0][1]
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.live.ingest_key,
                {"t": fields[b"t"], "r": fields.get(b"r", b"0"), "p": fields.get(b"p", b"[]")},
            )
            pipe.xdel(self.live.dead_key, dead_id)
            pipe.execute()
        return True
