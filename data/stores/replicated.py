"""Queueing ingest entries that a replica holds too before ingest answers (REDIS_WAIT_REPLICAS).

Redis replicates asynchronously: a primary that dies right after acknowledging an XADD may
take the entry with it when its replica is promoted. WAIT n blocks until n replicas have
every write made *on the same connection*, so the script and the WAIT go out in one pipeline
on one connection to the stream's primary (the cluster client would route WAIT, which names
no key, to an arbitrary node). Only then does ingest answer 202.

A shard whose primary has fewer replicas than asked for (its replica was just promoted and
the dead node is not back yet) cannot do better: its points are acknowledged on the primary
alone rather than refused, for UNREPLICATED_RECHECK_S at a time (losing them then takes a
second failure), and a warning says so. Refusing instead would stop that shard's tenants'
ingest until an operator brought a replica back.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from data.stores.ingest_queue import IngestQueue

log = logging.getLogger(__name__)
WAIT_TIMEOUT_MS = 1_000  # how long an enqueue waits for its replicas before failing
UNREPLICATED_RECHECK_S = 5.0  # how long a shard short of replicas is written without WAIT


class NotReplicated(RedisError):
    """Points were queued on a primary but no replica confirmed them in time: the caller is
    told to retry (should the entry survive too, its points are stored once: they are
    deduplicated by series and time)."""


def add_replicated(queue: IngestQueue, tenant: str, payloads: Sequence[tuple[bytes, int]]) -> None:
    """queue.add_entries, then WAIT for queue.wait_replicas replicas on the same connection;
    NotReplicated when they do not confirm within WAIT_TIMEOUT_MS."""
    stream = queue.keys.ingest(tenant)
    node = queue.redis.get_node_from_key(stream) if queue.keys.clustered else None
    name = node.name if node is not None else ""
    if queue.unreplicated_until.get(name, 0.0) > time.monotonic():
        queue.add_entries(tenant, payloads)
        return
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
    if int(replicas) >= queue.wait_replicas:
        return
    role = direct.execute_command("ROLE")
    connected = len(role[2]) if len(role) > 2 and isinstance(role[2], list) else 0
    if connected >= queue.wait_replicas:
        raise NotReplicated(f"{replicas} of {queue.wait_replicas} replicas confirmed")
    log.warning("Redis %s has %d replica(s): ingest is not replicated meanwhile", name, connected)
    queue.unreplicated_until[name] = time.monotonic() + UNREPLICATED_RECHECK_S
