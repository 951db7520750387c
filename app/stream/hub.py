"""Fan-out of live points from Redis to the /ws clients of one gateway process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis as AsyncRedis

from app.metrics import WS_FRAMES
from app.stream.client import OVERFLOW_REASON, Batch, Client
from app.stream.fastwrite import text_frame
from app.stream.pipelined import PipelinedCommands
from app.stream.protocol import PING, notification_frame, points_frame
from app.stream.shards import listen_sharded
from app.tokens import StreamGrant
from data.stores.live import LiveStore, cursor_of_live_message, live_entries

log = logging.getLogger(__name__)

SLOW_CLIENT_S = 30.0  # a client conflated this long is disconnected
# At most 4 live frames a second per socket: the gateway's cost is frames × sockets, and a
# chart redraws no faster than people read it. Updates coming faster share a frame.
FRAME_INTERVAL_S = 0.25
RESUME_PAGE_ENTRIES = 10  # live entries (one worker commit each) a resume reads at once
# Replays decoded at the same time by one process; the others wait (their sockets' reads
# wait with them), so resumes share the CPU with the rest of the process, never take it all.
MAX_CONCURRENT_REPLAYS = 1


async def _close_quietly(client: Client, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # already closed, or the peer is gone
        await client.close(code, reason)


@dataclass(eq=False)
class _Group:
    """The sockets of one tenant with the same subscriptions: their frames are identical,
    so each is encoded once for all of them, and sent at most once per frame interval.

    The first entry after a quiet interval goes out at once; entries arriving within the
    interval after a frame wait for the next one, which carries them all, in order."""

    members: set[Client] = field(default_factory=set)
    pending: list[Batch] = field(default_factory=list)
    last_flush: float = float("-inf")
    scheduled: bool = False

    def wanted(self, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The points the members subscribed to (any member answers for all)."""
        for member in self.members:
            return [p for p in points if member.wants(p)]
        return []


class Hub:
    """Reads every tenant's live channel once and fans frames out to subscribed clients."""

    def __init__(
        self,
        live: LiveStore,
        redis: AsyncRedis,
        frame_interval_s: float = FRAME_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        call_later: Callable[..., object] | None = None,
        frames_budget_per_s: float | None = None,
    ) -> None:
        self.live = live
        # A socket's frames come at most every min_interval_s; with a budget, the process's
        # frames a second all sockets together, the interval stretches as sockets are added
        # (interval = sockets / budget): a few viewers see every update within a blink, and
        # thousands share what one event loop can write (4 frames/s each at 5,000).
        self.min_interval_s = frame_interval_s
        self.frames_budget_per_s = frames_budget_per_s
        self.open_sockets = 0
        # What paces each group's frames: monotonic seconds, and a timer on the same clock
        # (the event loop's by default; tests drive both by hand).
        self.clock = clock
        self._call_later = call_later
        # redis-py's annotations are unions of sync and async replies; treat replies as Any.
        self.redis: Any = redis
        self.commands = PipelinedCommands(redis)  # resumes and session checks, batched
        self.clients: dict[str, set[Client]] = {}
        self._per_owner: Counter[str] = Counter()  # open sockets per user or key
        self._groups: dict[str, dict[Any, _Group]] = {}  # tenant → signature → group
        self._last_cursor: dict[str, str] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()
        self._replays = asyncio.Semaphore(MAX_CONCURRENT_REPLAYS)

    def frame_interval_s(self) -> float:
        """The least time between two frames of one socket, for as many sockets as are open."""
        if not self.frames_budget_per_s:
            return self.min_interval_s
        return max(self.min_interval_s, self.open_sockets / self.frames_budget_per_s)

    def admit(self, client: Client, max_per_user: int, max_per_key: int) -> bool:
        """Add the client, unless its user already holds `max_per_user` sockets, or its key
        (a kiosk fleet, an intranet page showing a chart to everyone) `max_per_key`."""
        owner = _owner(client.grant)
        limit = max_per_user if client.grant.user_id else max_per_key
        if owner is not None and self._per_owner[owner] >= limit:
            return False
        self.add(client)
        return True

    def add(self, client: Client) -> None:
        tenant_clients = self.clients.setdefault(client.grant.tenant_id, set())
        if client not in tenant_clients:
            tenant_clients.add(client)
            self.open_sockets += 1
            self._count(client, 1)
            self._join(client)

    def remove(self, client: Client) -> None:
        tenant_clients = self.clients.get(client.grant.tenant_id)
        if tenant_clients is not None and client in tenant_clients:
            tenant_clients.discard(client)
            self.open_sockets -= 1
            self._count(client, -1)
            self._leave(client)
            if not tenant_clients:
                del self.clients[client.grant.tenant_id]

    def regroup(self, client: Client) -> None:
        """File a client that changed its subscriptions with the sockets it now matches.

        What its old group still held for it goes out at once (one frame more than the
        pace, on a subscription change only): the new group's pending entries began
        before it joined and lack the points of its old patterns."""
        if client.group_key == client.signature or client not in self.clients.get(
            client.grant.tenant_id, ()
        ):
            return
        old = self._leave(client)
        self._join(client)
        if old is not None and (left := _wanted(client, old.pending)):
            cursor = left[-1][0]
            client.offer(points_frame(cursor, [p for _, b in left for p in b]), cursor, left)

    def _join(self, client: Client) -> None:
        groups = self._groups.setdefault(client.grant.tenant_id, {})
        client.group_key = client.signature
        groups.setdefault(client.group_key, _Group()).members.add(client)

    def _leave(self, client: Client) -> _Group | None:
        groups = self._groups.get(client.grant.tenant_id, {})
        group = groups.get(client.group_key)
        if group is None:
            return None
        group.members.discard(client)
        if not group.members:
            del groups[client.group_key]
            if not groups:
                del self._groups[client.grant.tenant_id]
        return group

    def _count(self, client: Client, change: int) -> None:
        owner = _owner(client.grant)
        if owner is None:
            return
        self._per_owner[owner] += change
        if self._per_owner[owner] <= 0:
            del self._per_owner[owner]

    def all_clients(self) -> list[Client]:
        return [c for group in self.clients.values() for c in group]

    def disconnect(self, client: Client, code: int, reason: str) -> None:
        """Stop serving a client and close its socket without waiting for it.

        A stalled socket takes even the close frame only once it drains: awaiting it would
        hold up the caller (the gateway's chores) for as long as the client stalls."""
        self.remove(client)
        task = asyncio.get_running_loop().create_task(_close_quietly(client, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def run(self) -> None:
        """Listen to every tenant's channel, reconnecting (and filling the gap) after errors."""
        backoff = 0.2
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: retry, then replay what was missed
                self.connected.clear()
                log.warning("live channel lost (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _listen(self) -> None:
        if self.live.keys.clustered:  # shard channels have no patterns (app/stream/shards.py)
            await listen_sharded(self)
            return
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(self.live.channel_pattern, self.live.notice_pattern)
            await self._fill_gaps()
            self.connected.set()
            while True:
                message = await pubsub.get_message(timeout=5.0)
                if message is None:
                    continue
                channel = message["channel"].decode()
                noticed = self.live.tenant_of_notice_channel(channel)
                if noticed is not None:
                    self.notify(noticed, orjson.loads(message["data"])["users"])
                    continue
                tenant = self.live.tenant_of_channel(channel)
                if tenant not in self.clients:  # nobody watches: keep the cursor, skip the rest
                    self._last_cursor[tenant] = cursor_of_live_message(message["data"])
                    continue
                doc = orjson.loads(message["data"])
                self.receive(tenant, doc["cursor"], doc["points"])
        finally:
            await pubsub.aclose()

    async def _fill_gaps(self) -> None:
        """After a reconnect, deliver what each watched tenant published meanwhile."""
        for tenant, cursor in list(self._last_cursor.items()):
            if tenant not in self.clients:
                continue
            raw = await self.redis.xrange(self.live.live_key(tenant), min=f"({cursor}")
            for entry_cursor, points in live_entries(raw):
                self.receive(tenant, entry_cursor, points)

    def receive(self, tenant: str, cursor: str, points: list[dict[str, Any]]) -> None:
        """Take one live entry: each group wanting some of it sends it at once, or with
        what else arrives before its next frame is due (at most one per frame interval)."""
        self._last_cursor[tenant] = cursor
        groups = self._groups.get(tenant)
        if not groups:
            return
        now = self.clock()
        for group in list(groups.values()):
            wanted = group.wanted(points)
            if not wanted:
                continue
            group.pending.append((cursor, wanted))
            if group.scheduled:
                continue
            due = group.last_flush + self.frame_interval_s()
            if due <= now:
                self._flush(group, now)
            else:
                group.scheduled = True
                call_later = self._call_later or asyncio.get_running_loop().call_later
                call_later(due - now, self._flush, group, due)

    def notify(self, tenant: str, by_user: dict[str, dict[str, Any]]) -> None:
        """Send each recipient's notification to every socket of theirs, whatever it
        subscribed to (CONTRACT.md §4); never conflated or dropped for a lagging client."""
        for client in self.clients.get(tenant, ()):
            mine = by_user.get(client.grant.user_id or "")
            if mine is not None:
                client.push(notification_frame(mine["notification"], mine.get("unread")))

    def _flush(self, group: _Group, due: float) -> None:
        """Send a group's pending entries as one frame, encoded and framed once for all.

        The pace counts from when the frame was due, not from when the timer fired: a
        feed as fast as the pace would otherwise be pushed later by every timer's lateness
        and wait longer and longer (the queue of a server busy all the time)."""
        group.scheduled = False
        group.last_flush = due
        batches, group.pending = group.pending, []
        if not batches or not group.members:
            return
        cursor = batches[-1][0]
        frame = points_frame(cursor, [p for _, batch in batches for p in batch])
        framed = text_frame(frame)
        for client in list(group.members):
            client.offer(frame, cursor, batches, framed)
        WS_FRAMES.inc(len(group.members))

    async def resume(self, client: Client, cursor: str) -> bool:
        """Send the client every point after `cursor` it has not had live; False if too old.

        Frames arriving meanwhile are held and released afterwards, so nothing is lost
        or sent twice; subscribing with a cursor makes the replay come first. The replay is
        read a page at a time: ten minutes of entries decoded at once would hold up every
        other socket and request of the process."""
        if not self.live.can_resume(cursor):
            return False
        client.replaying = True
        try:
            async with self._replays:
                last = cursor
                tenant = client.grant.tenant_id
                async for raw in self._pages_since(tenant, cursor, client.live_since):
                    # Decoding and filtering a page is most of a replay's cost: in a thread,
                    # the event loop still gets the GIL every few milliseconds meanwhile.
                    frames, last = await asyncio.to_thread(_replay_frames, client, raw)
                    client.push_replay(frames)
            if client.live_since is None:
                client.last_cursor = last
        finally:
            client.replaying = False
            held, client.held = client.held, []
        if released := _wanted(client, held):
            held_points = [p for _, batch in released for p in batch]
            client.offer(points_frame(held[-1][0], held_points), held[-1][0], released)
        return True

    async def _pages_since(
        self, tenant: str, cursor: str, until: str | None
    ) -> AsyncIterator[list[Any]]:
        """The live entries after `cursor` (before `until`, else up to the newest now), in
        pages of RESUME_PAGE_ENTRIES; the newest is fixed first so that the replay ends. The
        reads share pipelined round trips: a storm of resumes queues in batches, not for
        pooled connections."""
        key = self.live.live_key(tenant)
        if until is not None:
            end = f"({until}"
        else:
            newest = await self.commands.run("XREVRANGE", key, "+", "-", "COUNT", 1)
            if not newest:
                return
            end = _entry_id(newest[0])
        start = f"({cursor}"
        while True:
            raw = await self.commands.run("XRANGE", key, start, end, "COUNT", RESUME_PAGE_ENTRIES)
            if not raw:
                return
            yield raw
            if len(raw) < RESUME_PAGE_ENTRIES:
                return
            start = f"({_entry_id(raw[-1])}"

    def ping_all(self) -> None:
        """Send a ping to every client (a lagging one is already being written to).

        The frame's bytes are built once and written straight to idle sockets, as live
        frames are: a task and an ASGI send per socket was most of an idle gateway's CPU."""
        framed = text_frame(PING)
        for client in self.all_clients():
            if client.conflated_since is None:
                client.push(PING, bounded=True, framed=framed)

    async def drop_slow(self) -> None:
        """Disconnect clients conflated for too long, or that overflowed their outbox."""
        lagging_since = time.monotonic() - SLOW_CLIENT_S
        # one pass that keeps only the offenders (runs every second over every socket)
        offenders = [
            client
            for group in self.clients.values()
            for client in group
            if client.overflowed
            or (client.conflated_since is not None and client.conflated_since < lagging_since)
        ]
        for client in offenders:
            reason = OVERFLOW_REASON if client.overflowed else "too slow to keep up"
            self.disconnect(client, 1008, reason)


def _entry_id(entry: Any) -> str:
    """The id of one entry of an XRANGE reply."""
    entry_id = entry[0]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _replay_frames(client: Client, raw: list[Any]) -> tuple[list[str], str]:
    """The `points` frames of one page of a replay, and the page's last cursor."""
    entries = live_entries(raw)
    frames = [
        points_frame(entry_cursor, wanted)
        for entry_cursor, points in entries
        if (wanted := [p for p in points if client.wants(p)])
    ]
    return frames, entries[-1][0]


def _owner(grant: StreamGrant) -> str | None:
    """Whose sockets count together towards the per-user cap: the user's, else the key's."""
    if grant.user_id:
        return f"user:{grant.user_id}"
    if grant.embed_jti:
        return f"embed:{grant.embed_jti}"  # an embed token counts as a key does
    return f"key:{grant.key_id}" if grant.key_id else None


def _wanted(client: Client, batches: list[Batch]) -> list[Batch]:
    """The batches narrowed to the points the client subscribed to, empty ones dropped."""
    narrowed = [(cursor, [p for p in batch if client.wants(p)]) for cursor, batch in batches]
    return [(cursor, batch) for cursor, batch in narrowed if batch]
