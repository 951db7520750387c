"""The Redis ingest queue: the stream of accepted points the worker's writers consume, its
dead letters, and each tenant's books of points accepted and dead-lettered per minute.

Keys (all under the configured prefix `p`):
- `p ingest`           stream of accepted points, one entry per ≤1,000 points of one tenant;
                        read by the worker's consumer group `writers`.
- `p dead`             stream of the ingest entries the writers gave up on (dead letters).
- `p books:{tenant}:{day}` hash of the tenant's books for one UTC day (days since the epoch):
                        `a:{minute_ms}` points accepted and `d:{minute_ms}` points
                        dead-lettered in the minute of their ingest entry's id. Counted in
                        the same atomic step as the XADD (or the bury), so they are exact.
On a Redis Cluster, an ingest and a dead-letter stream per partition of tenants
(data/stores/redis_keys.py): every method here reads, claims, acks and trims each of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from data.domain.cursors import cursor_key
from data.domain.points import Point
from data.stores.redis_keys import RedisKeys
from data.stores.replicated import add_replicated

GROUP = "writers"
LAG_CAP = 10_000
ENTRY_POINTS = 1_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000
IDLE_POLL_S = 0.05  # a worker reading many partitions polls them this often when all are empty

# Adds the ingest entries of one tenant and counts their points as accepted in the minute of
# each entry's id (which Redis assigns, so it is only known here). ARGV: tenant, received
# ms, the tenant's books key without its day, the books' lifetime in seconds, then
# (payload, points) pairs.
_ENQUEUE_LUA = """
for i = 5, #ARGV, 2 do
  local id = redis.call('XADD', KEYS[1], '*', 't', ARGV[1], 'r', ARGV[2], 'p', ARGV[i])
  local ms = tonumber(string.match(id, '^%d+'))
  local books = ARGV[3] .. string.format('%d', math.floor(ms / 86400000))
  redis.call('HINCRBY', books, 'a:' .. string.format('%d', ms - ms % 60000), ARGV[i + 1])
  redis.call('EXPIRE', books, ARGV[4])
end
return #ARGV
"""


@dataclass(frozen=True, slots=True)
class IngestEntry:
    """One entry read from the ingest stream by a consumer."""

    entry_id: str
    tenant: str
    points: list[Point]
    redelivered: bool
    stream: str = ""  # the ingest stream it was read from ("" : the only one)


@dataclass(frozen=True, slots=True)
class PoisonEntry:
    """An ingest entry that cannot be decoded, with the reason."""

    entry_id: str
    reason: str
    fields: dict[str, bytes]
    stream: str = ""


def text_of(value: bytes | str) -> str:
    """A Redis reply as text (replies are bytes unless the client decodes them)."""
    return value.decode() if isinstance(value, bytes) else value


class IngestQueue:
    """The ingest side of the live store: queueing points for the writers, reading and
    acknowledging them, and the books of what was accepted and dead-lettered."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "pulse:",
        books_days: int = 15,
        clock: Callable[[], float] = time.time,
        keys: RedisKeys | None = None,
        wait_replicas: int = 0,
    ) -> None:
        # redis-py's annotations are unions of sync and async replies; treat replies as Any.
        self.redis: Any = redis
        self.clock = clock
        self.prefix = prefix
        self.keys = keys or RedisKeys(prefix)
        self.books_ttl_s = books_days * 86_400
        self.ingest_streams = self.keys.ingest_streams()
        self.ingest_key = self.ingest_streams[0]  # the only one on a single server
        self.dead_key = self.keys.dead_for(self.ingest_key)
        # replicas that must hold an accepted entry before enqueue returns (REDIS_WAIT_REPLICAS)
        self.wait_replicas = wait_replicas
        self.unreplicated_until: dict[str, float] = {}  # shards short of replicas (replicated.py)
        self._turn = self._claim_turn = 0  # the partition the next read (claim) starts at
        self._enqueue = redis.register_script(_ENQUEUE_LUA)

    def now_ms(self) -> int:
        """The current time in epoch milliseconds, from the injected clock."""
        return int(self.clock() * 1000)

    def books_key(self, tenant: str, day: int) -> str:
        """The tenant's books of one UTC day (days since the epoch)."""
        return f"{self._books_prefix(tenant)}{day}"

    def _books_prefix(self, tenant: str) -> str:
        return self.keys.books_prefix(tenant)

    def _stream_of(self, entry: IngestEntry | PoisonEntry) -> str:
        return entry.stream or self.ingest_key

    def enqueue(self, tenant: str, points: Sequence[Point]) -> None:
        """Durably queue points for the writers, all of them or none, and count them as
        accepted in the same atomic step (one script)."""
        payloads = []
        for start in range(0, len(points), ENTRY_POINTS):
            chunk = list(map(list, points[start : start + ENTRY_POINTS]))  # Point.packed, en bloc
            payloads.append((orjson.dumps(chunk), len(chunk)))
        if self.wait_replicas:
            add_replicated(self, tenant, payloads)
        else:
            self.add_entries(tenant, payloads)

    def add_entries(
        self, tenant: str, payloads: Sequence[tuple[bytes, int]], client: Any = None
    ) -> None:
        """Add ingest entries (packed points, how many) and count them as accepted, atomically;
        `client` may be a transaction pipeline the script call joins."""
        if payloads:
            args = self.enqueue_args(tenant, payloads)
            self._enqueue(keys=[self.keys.ingest(tenant)], args=args, client=client)

    def enqueue_args(self, tenant: str, payloads: Sequence[tuple[bytes, int]]) -> list[Any]:
        args: list[Any] = [
            tenant,
            str(self.now_ms()),
            self._books_prefix(tenant),
            self.books_ttl_s,
        ]
        for payload, count in payloads:
            args += [payload, count]
        return args

    def count_dead(self, pipe: Any, tenant: str, entry_id: str, points: int) -> None:
        """Queue, on a transaction pipeline, the count of an entry's points as dead-lettered
        in the minute of its id."""
        ms = cursor_key(entry_id)[0]
        key = self.books_key(tenant, ms // DAY_MS)
        pipe.hincrby(key, f"d:{ms - ms % MINUTE_MS}", points)
        pipe.expire(key, self.books_ttl_s)

    def books(self, tenant: str, since_ms: int, until_ms: int) -> dict[int, tuple[int, int]]:
        """(accepted, dead-lettered) points per minute (epoch ms) of [since_ms, until_ms)."""
        days = range(since_ms // DAY_MS, (until_ms - 1) // DAY_MS + 1)
        with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(self.books_key(tenant, day))
            replies = pipe.execute()
        out: dict[int, tuple[int, int]] = {}
        for reply in replies:
            for field, raw in reply.items():
                kind, _, minute_text = text_of(field).partition(":")
                minute = int(minute_text)
                if not since_ms <= minute < until_ms:
                    continue
                accepted, dead = out.get(minute, (0, 0))
                if kind == "a":
                    accepted += int(raw)
                elif kind == "d":
                    dead += int(raw)
                out[minute] = (accepted, dead)
        return out

    def ensure_group(self) -> None:
        """Create the writers' consumer group (and the stream) on every ingest stream."""
        for stream in self.ingest_streams:
            try:
                self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read_ingest(
        self, consumer: str, count: int, block_ms: int, pending: bool = False
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """New entries for this consumer, or (pending=True) the ones it holds unacknowledged."""
        start = "0" if pending else ">"
        if len(self.ingest_streams) == 1:
            reply = self.redis.xreadgroup(
                GROUP,
                consumer,
                {self.ingest_key: start},
                count=count,
                block=None if pending else block_ms,
            )
            raw = reply[0][1] if reply else []
            return self._decode(raw, redelivered=pending)
        return self._read_partitions(consumer, count, block_ms, start)

    def _read_partitions(
        self, consumer: str, count: int, block_ms: int, start: str
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """The first partition's entries found, reading them in turn: a batch holds one
        stream's entries (two streams may hand out the same id; the writers tell a batch's
        entries apart by id). All empty: wait a short poll rather than `block_ms`."""
        streams = self.ingest_streams
        for step in range(len(streams)):
            turn = (self._turn + step) % len(streams)
            reply = self._read_one(consumer, streams[turn], start, count)
            found = self._decode(reply[0][1] if reply else [], start == "0", streams[turn])
            if found[0] or found[1]:
                self._turn = (turn + 1) % len(streams)  # the next read starts at the next one
                return found
        if block_ms:
            time.sleep(min(block_ms / 1000, IDLE_POLL_S))
        return [], []

    def _read_one(self, consumer: str, stream: str, start: str, count: int) -> Any:
        """XREADGROUP straight to the stream's node (redis-py would first ask for its keys
        with COMMAND GETKEYS: a round trip per read)."""
        node = self.redis.get_node_from_key(stream)
        return self.redis.execute_command(
            "XREADGROUP",
            "GROUP",
            GROUP,
            consumer,
            "COUNT",
            count,
            "STREAMS",
            stream,
            start,
            target_nodes=node,
        )

    def claim_stale(
        self, consumer: str, min_idle_ms: int, count: int = 100
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """Take over entries a dead consumer left unacknowledged for `min_idle_ms` (those of
        one stream at a time, as every batch)."""
        streams = self.ingest_streams
        for step in range(len(streams)):
            turn = (self._claim_turn + step) % len(streams)
            reply = self.redis.xautoclaim(
                streams[turn], GROUP, consumer, min_idle_time=min_idle_ms, start_id="0", count=count
            )
            named = streams[turn] if len(streams) > 1 else ""
            entries, poison = self._decode(reply[1], redelivered=True, stream=named)
            if entries or poison:
                self._claim_turn = (turn + 1) % len(streams)
                return entries, poison
        return [], []

    def _decode(
        self, raw: Iterable[Any], redelivered: bool, stream: str = ""
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        entries: list[IngestEntry] = []
        poison: list[PoisonEntry] = []
        for entry_id, fields in raw:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if not fields:
                continue  # deleted while pending: nothing left to write
            try:
                tenant = fields[b"t"].decode()
                points = Point.unpack_many(fields[b"p"])
            except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
                reason = f"undecodable entry: {exc!r}"
                poison.append(PoisonEntry(eid, reason, dict(fields), stream))
                continue
            entries.append(IngestEntry(eid, tenant, points, redelivered, stream))
        return entries, poison

    def ack(self, entry_ids: Sequence[str], stream: str = "") -> None:
        """Acknowledge entries (of one stream) whose points are committed to PostgreSQL."""
        if entry_ids:
            self.redis.xack(stream or self.ingest_key, GROUP, *entry_ids)

    def ack_entries(self, entries: Sequence[IngestEntry]) -> None:
        """Acknowledge entries whose points are committed, each on the stream it came from."""
        if len(self.ingest_streams) == 1:
            self.ack([e.entry_id for e in entries])
            return
        by_stream: dict[str, list[str]] = {}
        for entry in entries:
            by_stream.setdefault(self._stream_of(entry), []).append(entry.entry_id)
        for stream, ids in by_stream.items():
            self.ack(ids, stream)

    def trim_acknowledged(self) -> int:
        """Drop the ingest entries that every consumer group has acknowledged."""
        return sum(self._trim_stream(stream) for stream in self.ingest_streams)

    def _trim_stream(self, stream: str) -> int:
        try:
            groups = self.redis.xinfo_groups(stream)
        except ResponseError:
            return 0  # no stream yet
        floors = []
        for group in groups:
            pending = self.redis.xpending(stream, group["name"])
            if pending["pending"]:
                floors.append(cursor_key(text_of(pending["min"])))
            else:
                ms, seq = cursor_key(text_of(group["last-delivered-id"]))
                floors.append((ms, seq + 1))
        if not floors:
            return 0
        ms, seq = min(floors)
        return int(self.redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=False))

    def pipeline_state(self) -> dict[str, int]:
        """Length of the ingest stream, entries pending and not yet delivered, dead letters,
        and the age in ms of the oldest entry not yet acknowledged (0 when there is none),
        summed over the streams of every partition."""
        states = [self._stream_state(stream) for stream in self.ingest_streams]
        total = {name: sum(state[name] for state in states) for name in states[0]}
        total["age_ms"] = max(state["age_ms"] for state in states)
        return total

    def _stream_state(self, stream: str) -> dict[str, int]:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(stream)
            pipe.xlen(self.keys.dead_for(stream))
            length, dead = pipe.execute()
        pending = lag = 0
        try:
            groups = self.redis.xinfo_groups(stream)
        except ResponseError:
            groups = []
        for group in groups:
            pending += int(group["pending"])
            if group.get("lag") is not None:
                lag += int(group["lag"])
            else:  # Redis before 7 (the embedded one) keeps no lag: count, up to a bound
                last = text_of(group["last-delivered-id"])
                lag += len(self.redis.xrange(stream, min=f"({last}", count=LAG_CAP))
        oldest = self._oldest_in(stream, groups)
        age = max(0, self.now_ms() - oldest) if oldest is not None else 0
        return {
            "length": int(length),
            "pending": pending,
            "lag": lag,
            "dead": int(dead),
            "age_ms": age,
        }

    def oldest_unacknowledged_ms(self, groups: list[Any] | None = None) -> int | None:
        """The id time (ms) of the oldest ingest entry some group has not acknowledged, pending
        or not yet delivered; None when every entry is acknowledged. `groups`: the XINFO
        GROUPS reply of the (only) stream, when the caller has it."""
        if groups is not None:
            return self._oldest_in(self.ingest_key, groups)
        oldest = [self._oldest_in(stream) for stream in self.ingest_streams]
        known = [ms for ms in oldest if ms is not None]
        return min(known) if known else None

    def _oldest_in(self, stream: str, groups: list[Any] | None = None) -> int | None:
        if groups is None:
            try:
                groups = self.redis.xinfo_groups(stream)
            except ResponseError:
                groups = []
        candidates: list[str] = []
        for group in groups:
            if int(group["pending"]):
                # acknowledged since XINFO, maybe: then the summary has no oldest entry
                oldest = self.redis.xpending(stream, group["name"])["min"]
                candidates += [text_of(oldest)] if oldest is not None else []
            last = text_of(group["last-delivered-id"])
            after = self.redis.xrange(stream, min=f"({last}", count=1)
            candidates += [text_of(entry_id) for entry_id, _ in after]
        if not groups:  # nobody reads the stream yet: all of it waits
            first = self.redis.xrange(stream, count=1)
            candidates += [text_of(entry_id) for entry_id, _ in first]
        times = [cursor_key(c)[0] for c in candidates]
        return min(times) if times else None

    def pending_count(self) -> int:
        """How many ingest entries are delivered but not yet acknowledged."""
        return sum(self._pending_in(stream) for stream in self.ingest_streams)

    def _pending_in(self, stream: str) -> int:
        try:
            info = self.redis.xpending(stream, GROUP)
        except ResponseError:
            return 0
        return int(info["pending"])
