"""Every Redis key and channel name that belongs to a tenant, in one place.

On one server (or behind Sentinel, one primary) the names are those Pulse always used:
`p ingest`, `p dead`, `p latest:{tenant}`, `p live:{tenant}`, `p chan:{tenant}`, … so an
upgraded deployment finds the entries it had queued under them, with nothing to migrate.

On a Redis Cluster the names carry a hash tag, and it is the tenant's ingest *partition*
rather than the tenant itself: `p {p7}:ingest`, `p {p7}:latest:{tenant}`,
`p {p7}:chan:{tenant}`, where 7 = crc32(tenant) % REDIS_PARTITIONS. Why a partition:

- the worker must read every ingest stream; one per tenant would make that set unbounded
  (and a blocking read cannot span slots), N per cluster keeps it fixed and small;
- one tenant's ingest stream, books, dead letters, live stream, latest values, channels and
  caches still share one slot, so the ingest script (XADD + books), the publish script
  (latest + live + SPUBLISH) and the dead-letter transactions (XADD dead + XACK + books)
  each touch one slot, as a cluster requires;
- N (default 16) slots spread over the shards (the tags below were checked to land on
  every shard of a 3-primary cluster); more partitions spread further at the cost of more
  streams per worker read.

Keys that belong to a user, a rule or a token rather than a tenant (sessions, embed
revocations, alert states, login throttles, source leases) are single keys touched by
single-key commands: they keep their names everywhere.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    """The names of a tenant's keys and channels, and of the ingest streams."""

    prefix: str = "pulse:"
    partitions: int = 1
    clustered: bool = False

    def partition(self, tenant: str) -> int:
        """The ingest partition of a tenant (always 0 on one server)."""
        if not self.clustered:
            return 0
        return zlib.crc32(tenant.encode()) % self.partitions

    def head(self, tenant: str) -> str:
        """What every key of the tenant starts with: the prefix, and on a cluster its tag."""
        return self._partition_head(self.partition(tenant))

    def _partition_head(self, partition: int) -> str:
        return f"{self.prefix}{{p{partition}}}:" if self.clustered else self.prefix

    def ingest_streams(self) -> list[str]:
        """Every ingest stream the writers read (one on a single server)."""
        count = self.partitions if self.clustered else 1
        return [f"{self._partition_head(i)}ingest" for i in range(count)]

    def ingest(self, tenant: str) -> str:
        """The ingest stream the tenant's points are queued on."""
        return f"{self.head(tenant)}ingest"

    def dead_for(self, ingest_stream: str) -> str:
        """The dead-letter stream beside an ingest stream (the same slot)."""
        return ingest_stream.removesuffix("ingest") + "dead"

    def dead_streams(self) -> list[str]:
        return [self.dead_for(stream) for stream in self.ingest_streams()]

    def books_prefix(self, tenant: str) -> str:
        """The tenant's books keys without their day."""
        return f"{self.head(tenant)}books:{tenant}:"

    def latest(self, tenant: str) -> str:
        return f"{self.head(tenant)}latest:{tenant}"

    def live(self, tenant: str) -> str:
        return f"{self.head(tenant)}live:{tenant}"

    def channel(self, tenant: str) -> str:
        return f"{self.head(tenant)}chan:{tenant}"

    def notice_channel(self, tenant: str) -> str:
        return f"{self.head(tenant)}notice:{tenant}"

    def data_cache(self, tenant: str, digest: str) -> str:
        return f"{self.head(tenant)}data-cache:{tenant}:{digest}"

    def reconcile(self, tenant: str | None) -> str:
        """The last reconcile result of a tenant, or (None) the sums over all tenants."""
        return f"{self.head(tenant)}reconcile:{tenant}" if tenant else f"{self.prefix}reconcile"

    def channel_pattern(self) -> str:
        """The pattern matching every tenant's live channel (PSUBSCRIBE, one server only)."""
        return f"{self.prefix}chan:*"

    def notice_pattern(self) -> str:
        return f"{self.prefix}notice:*"

    def tenant_of(self, channel: str, kind: str) -> str | None:
        """The tenant of a `chan` or `notice` channel; None for any other channel."""
        rest = channel[len(self.prefix) :] if channel.startswith(self.prefix) else ""
        if self.clustered:
            rest = rest.partition("}:")[2] if rest.startswith("{p") else ""
        head = f"{kind}:"
        return rest[len(head) :] if rest.startswith(head) else None
