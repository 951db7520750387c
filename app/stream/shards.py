"""The hub's feed on a Redis Cluster: sharded pub/sub, one subscription per watched tenant.

On one server the hub PSUBSCRIBEs `chan:*` and `notice:*`: one command, every tenant, and
the messages of unwatched tenants are skipped without decoding (a pattern is the cheaper
choice there: no subscribe round trip per tenant joining or leaving, and PUBLISH reaches the
one server anyway). A cluster's PUBLISH is broadcast to every node, so a cluster uses shard
channels (SPUBLISH/SSUBSCRIBE), which reach only the shard owning the tenant's slot, and
have no patterns: the gateway subscribes to the channels of the tenants it has sockets for,
when the first socket arrives, and unsubscribes after the last one leaves.

A tenant's first socket is served live once its subscription lands (within POLL_S); a
client that resumes from a cursor gets what it missed meanwhile from the live stream, and a
tenant subscribed again after a reconnect has its gap filled from the hub's last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import orjson

from data.stores.live import live_entries

if TYPE_CHECKING:
    from app.stream.hub import Hub

# How long one node's subscription is waited on before the next node's is read (redis-py
# reads a cluster's shard subscriptions one node after another), and how often the set of
# watched tenants is compared with the subscriptions.
POLL_S = 0.01
IDLE_S = 0.05


async def listen_sharded(hub: Hub) -> None:
    """Follow the shard channels of every tenant with a socket here, until an error."""
    await hub.redis.initialize()  # the slot map, which ssubscribe reads without fetching it
    pubsub = hub.redis.pubsub()
    subscribed: set[str] = set()
    try:
        await _follow(hub, pubsub, subscribed)
    except Exception:
        # A subscription broken by a dead primary is retried on the slot map as it was,
        # which still names that primary until a keyed command fails: nothing here sends
        # one, so the gateway would retry the dead node for good and its tenants go dark.
        # Asking the cluster again makes the next attempt find the promoted replica.
        with contextlib.suppress(Exception):
            await hub.redis.nodes_manager.initialize()
        raise
    finally:
        await pubsub.aclose()


async def _follow(hub: Hub, pubsub: Any, subscribed: set[str]) -> None:
    """Subscribe as tenants come and go; hand each message to the hub."""
    await _sync(hub, pubsub, subscribed)
    hub.connected.set()
    while True:
        await _sync(hub, pubsub, subscribed)
        if not subscribed:
            await asyncio.sleep(IDLE_S)
            continue
        message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=POLL_S)
        if message is not None and message.get("type") in ("smessage", b"smessage"):
            _dispatch(hub, _text(message["channel"]), message["data"])


async def _sync(hub: Hub, pubsub: Any, subscribed: set[str]) -> None:
    """Subscribe to the tenants that gained a socket, unsubscribe from those that lost all."""
    watched = set(hub.clients)
    joined, left = watched - subscribed, subscribed - watched
    for tenant in left:
        await pubsub.sunsubscribe(hub.live.channel(tenant), hub.live.notice_channel(tenant))
        subscribed.discard(tenant)
    for tenant in joined:
        await pubsub.ssubscribe(hub.live.channel(tenant), hub.live.notice_channel(tenant))
        subscribed.add(tenant)
        await _fill_gap(hub, tenant)


async def _fill_gap(hub: Hub, tenant: str) -> None:
    """Deliver what the tenant published since the hub last saw it (if it ever did)."""
    cursor = hub._last_cursor.get(tenant)
    if cursor is None:
        return
    raw = await hub.redis.xrange(hub.live.live_key(tenant), min=f"({cursor}")
    for entry_cursor, points in live_entries(raw):
        hub.receive(tenant, entry_cursor, points)


def _dispatch(hub: Hub, channel: str, data: bytes) -> None:
    noticed = hub.live.tenant_of_notice_channel(channel)
    if noticed is not None:
        hub.notify(noticed, orjson.loads(data)["users"])
        return
    doc = orjson.loads(data)
    hub.receive(hub.live.tenant_of_channel(channel), doc["cursor"], doc["points"])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
