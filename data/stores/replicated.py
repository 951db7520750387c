"""Queueing ingest entries that a replica holds too before ingest answers (REDIS_WAIT_REPLICAS).

Redis replicates asynchronously: a primary that dies right after acknowledging an XADD may
take the entry with it when its replica is promoted. WAIT n blocks until n replicas have
every write made *on the same connection*, so the script and the WAIT go out in one pipeline
on one connection to the stream's primary (the cluster client would route WAIT, which names
no key, to an arbitrary node). Only then does ingest answer 202.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from data.stores.ingest_queue import IngestQueue

WAIT_TIMEOUT_MS = 1_000  # how long an enqueue waits for its replicas before failing


class NotReplicated(RedisError):
    """Points were queued on a primary but no replica confirmed them in time: the caller is
    told to retry (should the entry survive too, its points are stored once: they are
    deduplicated by series and time)."""


def add_replicated(queue: IngestQueue, tenant: str, payloads: Sequence[tuple[bytes, int]]) -> None:
    """queue.add_entries, then WAIT for queue.wait_replicas replicas on the same connection;
    NotReplicated when they do not confirm within WAIT_TIMEOUT_MS."""
    stream = queue.keys.ingest(tenant)
    node = queue.redis.get_node_from_key(stream) if queue.keys.clustered else None
    direct = node.redis_connection if node is not None else queue.redis
    try:
        with direct.pipeline(transaction=False) as pipe:
            queue.add_entries(tenant, payloads, client=pipe)
            pipe.execute_command("WAIT", queue.wait_replicas, WAIT_TIMEOUT_MS)
            replicas = pipe.execute()[-1]
    except (RedisConnectionError, RedisTimeoutError, ResponseError):
        if node is not None:  # a failover, maybe: a routed command refreshes the slot map
            with contextlib.suppress(RedisError):
                queue.redis.exists(stream)
        raise
    if int(replicas) < queue.wait_replicas:
        raise NotReplicated(f"{replicas} of {queue.wait_replicas} replicas confirmed")
