"""The Redis live store: latest values and per-tenant live feeds, on top of the ingest
queue (data/stores/ingest_queue.py) that LiveStore also is.

Keys (all under the configured prefix `p`):
- `p latest:{tenant}`  hash `metric|source` → `ts_ms|value`, the newest point per series.
- `p live:{tenant}`    stream of what was committed, kept for the resume window; its entry
                        ids are the cursors of `/ws` and `/api/updates`.
- `p chan:{tenant}`    pub/sub channel carrying each live entry as it is added.
- `p notice:{tenant}`  pub/sub channel carrying in-app notifications for the tenant's users
                        (`{"users": {user_id: {"notification": {...}, "unread": n}}}`).

On a Redis Cluster each name carries the tenant's partition tag (data/stores/redis_keys.py),
so the publish script's keys and channel share a slot, and channels are shard channels
(SPUBLISH): a message goes only to the shard that owns the tenant.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from redis import Redis

from data.domain.cursors import cursor_key
from data.domain.points import Point
from data.stores.ingest_queue import IngestQueue, text_of
from data.stores.redis_keys import RedisKeys

CURSOR_RE = re.compile(r"\d{1,20}-\d{1,20}")

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
redis.call('{publish}', ARGV[3], '{"cursor":"' .. id .. '","points":' .. ARGV[1] .. '}')
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


def live_point(point: Point) -> dict[str, Any]:
    """A point as `/ws` and `/api/updates` show it."""
    return {"metric": point.metric, "source": point.source, "ts": point.ts_ms, "value": point.value}


def cursor_of_live_message(data: bytes) -> str:
    """The cursor of a message of a live channel without decoding its points (the gateway
    skips the points of tenants nobody watches). The publish script writes the cursor
    first: `{"cursor":"<id>","points":[...]}`."""
    start = len(b'{"cursor":"')
    return data[start : data.index(b'"', start)].decode()


def live_entries(raw: Iterable[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(cursor, points) pairs from an XRANGE reply of a tenant's live stream."""
    return [(text_of(entry_id), orjson.loads(fields[b"p"])) for entry_id, fields in raw]


class LiveStore(IngestQueue):
    """Everything Pulse keeps in Redis about live data, behind product-level verbs."""

    def __init__(
        self,
        redis: Redis,
        prefix: str = "pulse:",
        resume_s: int = 600,
        books_days: int = 15,
        clock: Callable[[], float] = time.time,
        keys: RedisKeys | None = None,
        wait_replicas: int = 0,
    ) -> None:
        super().__init__(redis, prefix, books_days, clock, keys, wait_replicas)
        self.resume_ms = resume_s * 1000
        # shard channels on a cluster: a message goes to the tenant's shard, not to all
        self.publish_command = "SPUBLISH" if self.keys.clustered else "PUBLISH"
        self._publish = redis.register_script(
            _PUBLISH_LUA.replace("{publish}", self.publish_command)
        )
        self._repair = redis.register_script(_REPAIR_LUA)

    def latest_key(self, tenant: str) -> str:
        return self.keys.latest(tenant)

    def live_key(self, tenant: str) -> str:
        return self.keys.live(tenant)

    def channel(self, tenant: str) -> str:
        return self.keys.channel(tenant)

    @property
    def channel_pattern(self) -> str:
        """The pattern matching every tenant's channel (one server: no pattern on a cluster)."""
        return self.keys.channel_pattern()

    def tenant_of_channel(self, channel: str) -> str:
        """The tenant whose channel this is."""
        return self.keys.tenant_of(channel, "chan") or ""

    def notice_channel(self, tenant: str) -> str:
        return self.keys.notice_channel(tenant)

    @property
    def notice_pattern(self) -> str:
        """The pattern matching every tenant's notification channel."""
        return self.keys.notice_pattern()

    def tenant_of_notice_channel(self, channel: str) -> str | None:
        """The tenant of a notification channel; None for any other channel."""
        return self.keys.tenant_of(channel, "notice")

    def publish_notices(self, tenant: str, by_user: dict[str, dict[str, Any]]) -> None:
        """Push notifications to the tenant's users' open sockets (best effort: they are
        stored, and a client that missed one finds it in GET /api/notifications)."""
        if by_user:
            publish = self.redis.spublish if self.keys.clustered else self.redis.publish
            publish(self.notice_channel(tenant), orjson.dumps({"users": by_user}))

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
