"""The dead-letter stream: ingest entries that cannot be stored, kept with their reason.

An entry lands here when it cannot be decoded, or when writing it failed `max_deliveries`
times for a reason that retrying does not cure (bad data, not a lost connection). An admin
of its tenant sees it through the API and can replay it into the ingest stream.

The books (see data/stores/accounting.py) stay balanced: burying counts the entry's points as
dead-lettered in the minute of its id, in the same MULTI as the move; a replay is a new
acceptance, counted as accepted in the minute of the new entry's id, in the same MULTI as
the re-queueing. So the old minute keeps accepted = dead-lettered, and the new one balances
once the replayed entry is stored (or buried again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from data.stores.ingest_queue import GROUP, IngestEntry, PoisonEntry
from data.stores.live import LiveStore


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

    def delivery_count(self, entry_id: str, stream: str = "") -> int:
        """How many times the entry (of `stream`, "" the only one) has been handed to a
        consumer (0 if not pending)."""
        key = stream or self.live.ingest_key
        found = self.redis.xpending_range(key, GROUP, min=entry_id, max=entry_id, count=1)
        return int(found[0]["times_delivered"]) if found else 0

    def bury_undecodable(self, poison: Sequence[PoisonEntry]) -> None:
        """Move entries that cannot be decoded aside, then acknowledge them. Their points are
        counted as dead-lettered when the tenant and the list of points can still be read,
        as a replay would count them accepted. One transaction per stream: on a cluster each
        partition's streams and books share a slot, two partitions' do not."""
        by_stream: dict[str, list[PoisonEntry]] = {}
        for entry in poison:
            by_stream.setdefault(entry.stream or self.live.ingest_key, []).append(entry)
        for stream, entries in by_stream.items():
            with self.redis.pipeline(transaction=True) as pipe:
                for entry in entries:
                    fields = {**entry.fields, "reason": entry.reason, "id": entry.entry_id}
                    pipe.xadd(self.live.keys.dead_for(stream), fields)
                    pipe.xack(stream, GROUP, entry.entry_id)
                    tenant, count = _tenant_and_count(entry.fields)
                    if tenant is not None and self.live.keys.ingest(tenant) == stream:
                        self.live.count_dead(pipe, tenant, entry.entry_id, count)
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
        stream = entry.stream or self.live.ingest_key
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.live.keys.dead_for(stream), fields)
            pipe.xack(stream, GROUP, entry.entry_id)
            self.live.count_dead(pipe, entry.tenant, entry.entry_id, len(entry.points))
            pipe.execute()

    def of_tenant(self, tenant: str, count: int = 100) -> list[DeadLetter]:
        """The tenant's newest dead letters (others' are never shown)."""
        out: list[DeadLetter] = []
        dead_key = self.live.keys.dead_for(self.live.keys.ingest(tenant))
        for dead_id, fields in self.redis.xrevrange(dead_key, count=10_000):
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
        dead_key = self.live.keys.dead_for(self.live.keys.ingest(tenant))
        found = self.redis.xrange(dead_key, min=dead_id, max=dead_id, count=1)
        if not found or _text(found[0][1].get(b"t", b"")) != tenant:
            return False
        fields = found[0][1]
        _, count = _tenant_and_count(fields)
        with _slot_pipeline(self.live, dead_key) as pipe:
            self.live.add_entries(tenant, [(fields.get(b"p", b"[]"), count)], client=pipe)
            pipe.xdel(dead_key, dead_id)
            pipe.execute()
        return True


def _slot_pipeline(live: LiveStore, key: str) -> Any:
    """A MULTI pipeline for keys of one slot, scripts included: on a cluster, on the
    connection of the node owning the slot (redis-py's cluster pipelines take no scripts)."""
    if live.keys.clustered:
        return live.redis.get_node_from_key(key).redis_connection.pipeline(transaction=True)
    return live.redis.pipeline(transaction=True)


def _tenant_and_count(fields: dict[Any, Any]) -> tuple[str | None, int]:
    """The tenant of an entry's fields and how many points its payload lists, as far as they
    can be read (None, 0 when there is no readable tenant)."""
    try:
        tenant = fields[b"t"].decode()
    except (KeyError, AttributeError, UnicodeDecodeError):
        return None, 0
    try:
        rows = orjson.loads(fields.get(b"p", b"[]"))
    except orjson.JSONDecodeError:
        return tenant, 0
    return tenant, len(rows) if isinstance(rows, list) else 0
