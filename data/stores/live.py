"""The Redis live store: the ingest stream, latest values, and per-tenant live feeds.

Keys (all under the configured prefix `p`):
- `p ingest`           stream of accepted points, one entry per ≤1,000 points of one tenant;
                        read by the worker's consumer group `writers`.
- `p latest:{tenant}`  hash `metric|source` → `ts_ms|value`, the newest point per series.
- `p live:{tenant}`    stream of what was committed, kept for the resume window; its entry
                        ids are the cursors of `/ws` and `/api/updates`.
- `p chan:{tenant}`    pub/sub channel carrying each live entry as it is added.
- `p notice:{tenant}`  pub/sub channel carrying in-app notifications for the tenant's users
                        (`{"users": {user_id: {"notification": {...}, "unread": n}}}`).
- `p books:{tenant}:{day}` hash of the tenant's books for one UTC day (days since the epoch):
                        `a:{minute_ms}` points accepted and `d:{minute_ms}` points
                        dead-lettered in the minute of their ingest entry's id. Counted in
                        the same atomic step as the XADD (or the bury), so they are exact.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import ResponseError

from data.domain.cursors import cursor_key
from data.domain.points import Point

GROUP = "writers"
CURSOR_RE = re.compile(r"\d{1,20}-\d{1,20}")
LAG_CAP = 10_000
ENTRY_POINTS = 1_000
DAY_MS = 86_400_000
MINUTE_MS = 60_000

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

# Updates the latest values (only when newer), appends to the tenant's live stream
# (trimmed to the resume window) and publishes it, atomically so that the pub/sub
# order is the cursor order.
_PUBLISH_LUA = """
local id = redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[2], '*', 'p', ARGV[1])
for i = 4, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local newer = true
  if cur then
    local cur_ts = tonumber(string.match(cur, '^[^|]+'))
    newer = tonumber(ARGV[i + 1]) >= cur_ts
  end
  if newer then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
end
redis.call('PUBLISH', ARGV[3], '{"cursor":"' .. id .. '","points":' .. ARGV[1] .. '}')
return id
"""


# Sets latest values only where they are newer than what the hash holds.
_REPAIR_LUA = """
local repaired = 0
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if (not cur) or tonumber(string.match(cur, '^[^|]+')) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
    repaired = repaired + 1
  end
end
return repaired
"""


@dataclass(frozen=True, slots=True)
class IngestEntry:
    """One entry read from the ingest stream by a consumer."""

    entry_id: str
    tenant: str
    points: list[Point]
    redelivered: bool


@dataclass(frozen=True, slots=True)
class PoisonEntry:
    """An ingest entry that cannot be decoded, with the reason."""

    entry_id: str
    reason: str
    fields: dict[str, bytes]


def live_point(point: Point) -> dict[str, Any]:
    """A point as `/ws` and `/api/updates` show it."""
    return {"metric": point.metric, "source": point.source, "ts": point.ts_ms, "value": point.value}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cursor_of_live_message(data: bytes) -> str:
    """The cursor of a message of a live channel without decoding its points (the gateway
    skips the points of tenants nobody watches). The publish script writes the cursor
    first: `{"cursor":"<id>","points":[...]}`."""
    start = len(b'{"cursor":"')
    return data[start : data.index(b'"', start)].decode()


def live_entries(raw: Iterable[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(cursor, points) pairs from an XRANGE reply of a tenant's live stream."""
    return [(_text(entry_id), orjson.loads(fields[b"p"])) for entry_id, fields in raw]


class LiveStore:
    """Everything Pulse keeps in Redis about live data, behind product-level verbs."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "pulse:",
        resume_s: int = 600,
        books_days: int = 15,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # redis-py's annotations are unions of sync and async replies; treat replies as Any.
        self.redis: Any = redis
        self.clock = clock
        self.prefix = prefix
        self.resume_ms = resume_s * 1000
        self.books_ttl_s = books_days * 86_400
        self.ingest_key = f"{prefix}ingest"
        self.dead_key = f"{prefix}dead"
        self._publish = redis.register_script(_PUBLISH_LUA)
        self._repair = redis.register_script(_REPAIR_LUA)
        self._enqueue = redis.register_script(_ENQUEUE_LUA)

    def now_ms(self) -> int:
        """The current time in epoch milliseconds, from the injected clock."""
        return int(self.clock() * 1000)

    def latest_key(self, tenant: str) -> str:
        return f"{self.prefix}latest:{tenant}"

    def live_key(self, tenant: str) -> str:
        return f"{self.prefix}live:{tenant}"

    def books_key(self, tenant: str, day: int) -> str:
        """The tenant's books of one UTC day (days since the epoch)."""
        return f"{self._books_prefix(tenant)}{day}"

    def _books_prefix(self, tenant: str) -> str:
        return f"{self.prefix}books:{tenant}:"

    def channel(self, tenant: str) -> str:
        return f"{self.prefix}chan:{tenant}"

    @property
    def channel_pattern(self) -> str:
        """The pattern matching every tenant's channel."""
        return f"{self.prefix}chan:*"

    def tenant_of_channel(self, channel: str) -> str:
        """The tenant whose channel this is."""
        return channel[len(self.prefix) + len("chan:") :]

    def notice_channel(self, tenant: str) -> str:
        return f"{self.prefix}notice:{tenant}"

    @property
    def notice_pattern(self) -> str:
        """The pattern matching every tenant's notification channel."""
        return f"{self.prefix}notice:*"

    def tenant_of_notice_channel(self, channel: str) -> str | None:
        """The tenant of a notification channel; None for any other channel."""
        head = f"{self.prefix}notice:"
        return channel[len(head) :] if channel.startswith(head) else None

    def publish_notices(self, tenant: str, by_user: dict[str, dict[str, Any]]) -> None:
        """Push notifications to the tenant's users' open sockets (best effort: they are
        stored, and a client that missed one finds it in GET /api/notifications)."""
        if by_user:
            self.redis.publish(self.notice_channel(tenant), orjson.dumps({"users": by_user}))

    # -- ingest side -------------------------------------------------------------------

    def enqueue(self, tenant: str, points: Sequence[Point]) -> None:
        """Durably queue points for the writers, all of them or none, and count them as
        accepted in the same atomic step (one script)."""
        payloads = []
        for start in range(0, len(points), ENTRY_POINTS):
            chunk = list(map(list, points[start : start + ENTRY_POINTS]))  # Point.packed, en bloc
            payloads.append((orjson.dumps(chunk), len(chunk)))
        self.add_entries(tenant, payloads)

    def add_entries(
        self, tenant: str, payloads: Sequence[tuple[bytes, int]], client: Any = None
    ) -> None:
        """Add ingest entries (packed points, how many) and count them as accepted, atomically;
        `client` may be a transaction pipeline the script call joins."""
        if not payloads:
            return
        args: list[Any] = [
            tenant,
            str(self.now_ms()),
            self._books_prefix(tenant),
            self.books_ttl_s,
        ]
        for payload, count in payloads:
            args += [payload, count]
        self._enqueue(keys=[self.ingest_key], args=args, client=client)

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
                kind, _, minute_text = _text(field).partition(":")
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
        """Create the writers' consumer group (and the stream) if missing."""
        try:
            self.redis.xgroup_create(self.ingest_key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_ingest(
        self, consumer: str, count: int, block_ms: int, pending: bool = False
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """New entries for this consumer, or (pending=True) the ones it holds unacknowledged."""
        start = "0" if pending else ">"
        reply = self.redis.xreadgroup(
            GROUP,
            consumer,
            {self.ingest_key: start},
            count=count,
            block=None if pending else block_ms,
        )
        raw = reply[0][1] if reply else []
        return self._decode(raw, redelivered=pending)

    def claim_stale(
        self, consumer: str, min_idle_ms: int, count: int = 100
    ) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """Take over entries a dead consumer left unacknowledged for `min_idle_ms`."""
        reply = self.redis.xautoclaim(
            self.ingest_key, GROUP, consumer, min_idle_time=min_idle_ms, start_id="0", count=count
        )
        return self._decode(reply[1], redelivered=True)

    def _decode(
        self, raw: Iterable[Any], redelivered: bool
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
                poison.append(PoisonEntry(eid, f"undecodable entry: {exc!r}", dict(fields)))
                continue
            entries.append(IngestEntry(eid, tenant, points, redelivered))
        return entries, poison

    def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge entries whose points are committed to PostgreSQL."""
        if entry_ids:
            self.redis.xack(self.ingest_key, GROUP, *entry_ids)

    def trim_acknowledged(self) -> int:
        """Drop the ingest entries that every consumer group has acknowledged."""
        try:
            groups = self.redis.xinfo_groups(self.ingest_key)
        except ResponseError:
            return 0  # no stream yet
        floors = []
        for group in groups:
            pending = self.redis.xpending(self.ingest_key, group["name"])
            if pending["pending"]:
                floors.append(cursor_key(_text(pending["min"])))
            else:
                ms, seq = cursor_key(_text(group["last-delivered-id"]))
                floors.append((ms, seq + 1))
        if not floors:
            return 0
        ms, seq = min(floors)
        return int(self.redis.xtrim(self.ingest_key, minid=f"{ms}-{seq}", approximate=False))

    def pipeline_state(self) -> dict[str, int]:
        """Length of the ingest stream, entries pending and not yet delivered, dead letters,
        and the age in ms of the oldest entry not yet acknowledged (0 when there is none)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.ingest_key)
            pipe.xlen(self.dead_key)
            length, dead = pipe.execute()
        pending = lag = 0
        try:
            groups = self.redis.xinfo_groups(self.ingest_key)
        except ResponseError:
            groups = []
        for group in groups:
            pending += int(group["pending"])
            if group.get("lag") is not None:
                lag += int(group["lag"])
            else:  # Redis before 7 (the embedded one) keeps no lag: count, up to a bound
                last = _text(group["last-delivered-id"])
                lag += len(self.redis.xrange(self.ingest_key, min=f"({last}", count=LAG_CAP))
        oldest = self.oldest_unacknowledged_ms(groups)
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
        or not yet delivered; None when every entry is acknowledged."""
        if groups is None:
            try:
                groups = self.redis.xinfo_groups(self.ingest_key)
            except ResponseError:
                groups = []
        candidates: list[str] = []
        for group in groups:
            if int(group["pending"]):
                # acknowledged since XINFO, maybe: then the summary has no oldest entry
                oldest = self.redis.xpending(self.ingest_key, group["name"])["min"]
                candidates += [_text(oldest)] if oldest is not None else []
            last = _text(group["last-delivered-id"])
            after = self.redis.xrange(self.ingest_key, min=f"({last}", count=1)
            candidates += [_text(entry_id) for entry_id, _ in after]
        if not groups:  # nobody reads the stream yet: all of it waits
            first = self.redis.xrange(self.ingest_key, count=1)
            candidates += [_text(entry_id) for entry_id, _ in first]
        times = [cursor_key(c)[0] for c in candidates]
        return min(times) if times else None

    def pending_count(self) -> int:
        """How many ingest entries are delivered but not yet acknowledged."""
        try:
            info = self.redis.xpending(self.ingest_key, GROUP)
        except ResponseError:
            return 0
        return int(info["pending"])

    # -- live side ---------------------------------------------------------------------

    def publish_points(self, tenant: str, points: Sequence[Point]) -> str:
        """Record committed points as the tenant's newest live entry; return its cursor."""
        newest: dict[str, Point] = {}
        for p in points:
            key = f"{p.metric}|{p.source}"
            if key not in newest or p.ts_ms >= newest[key].ts_ms:
                newest[key] = p
        args: list[Any] = [
            orjson.dumps([live_point(p) for p in points]),
            str(self.now_ms() - self.resume_ms),
            self.channel(tenant),
        ]
        for key, p in newest.items():
            args += [key, p.ts_ms, repr(p.value)]
        cursor = self._publish(keys=[self.latest_key(tenant), self.live_key(tenant)], args=args)
        return cursor.decode() if isinstance(cursor, bytes) else str(cursor)

    def latest(self, tenant: str) -> dict[tuple[str, str], tuple[int, float]]:
        """The newest (ts_ms, value) of every series of the tenant."""
        out: dict[tuple[str, str], tuple[int, float]] = {}
        for field, raw in self.redis.hgetall(self.latest_key(tenant)).items():
            metric, _, source = field.decode().partition("|")
            ts, _, value = raw.decode().partition("|")
            out[(metric, source)] = (int(ts), float(value))
        return out

    def repair_latest(self, tenant: str, newest: dict[tuple[str, str], tuple[int, float]]) -> int:
        """Raise the tenant's latest values to `newest` where the store is behind or missing
        a series; return how many were repaired."""
        args: list[Any] = []
        for (metric, source), (ts_ms, value) in newest.items():
            args += [f"{metric}|{source}", ts_ms, repr(value)]
        if not args:
            return 0
        return int(self._repair(keys=[self.latest_key(tenant)], args=args))

    def current_cursor(self, tenant: str) -> str:
        """The cursor of the tenant's newest live entry ('0-0' when there is none)."""
        newest = self.redis.xrevrange(self.live_key(tenant), count=1)
        if not newest:
            return "0-0"
        entry_id = newest[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    def can_resume(self, cursor: str) -> bool:
        """Whether every entry after `cursor` is still kept ('0-0' means from the start)."""
        if not CURSOR_RE.fullmatch(cursor):
            return False
        return cursor == "0-0" or cursor_key(cursor)[0] >= self.now_ms() - self.resume_ms

    def read_since(
        self, tenant: str, cursor: str, count: int = 10_000
    ) -> list[tuple[str, list[dict[str, Any]]]] | None:
        """Every live entry after `cursor`, oldest first; None when the cursor is too old."""
        if not self.can_resume(cursor):
            return None
        return live_entries(self.redis.xrange(self.live_key(tenant), min=f"({cursor}", count=count))
