"""The hub's per-socket pacing: at most one live frame per frame interval, nothing lost.

The hub runs on a hand-driven clock and timer here (FakeTime): frames are counted against
the hub's own clock, never against the wall clock, so the machine's load cannot matter."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis as AsyncRedis

import app.stream.hub as hub_module
from app.services import Services
from app.stream.client import QUEUE_FRAMES, Client
from app.stream.hub import Hub
from app.tokens import StreamGrant
from data.domain.points import Point
from data.stores.live import live_point
from tests.gateway.test_ws import now_ms, run

INTERVAL = 0.25  # the default pace: 4 frames a second


class FakeTime:
    """The hub's clock and timer, moved on only by `advance`."""

    def __init__(self) -> None:
        self.now = 100.0
        self._timers: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self._timers, (self.now + delay, next(self._order), callback, args))

    async def advance(self, seconds: float) -> None:
        """Move the clock on, firing the timers due meanwhile at their own moment, and let
        the clients' writer tasks send what they were given."""
        await settle()  # what was sent before the clock moves is sent at its moment
        until = self.now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _, callback, args = heapq.heappop(self._timers)
            self.now = when
            callback(*args)
            await settle()
        self.now = until
        await settle()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Socket:
    """The socket side of a hub Client: each frame with the hub's time when it was sent."""

    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.open = asyncio.Event()  # clear it to stall the socket, as a client not reading
        self.open.set()
        self.client: Client | None = None

    async def send(self, frame: str) -> None:
        await self.open.wait()
        self.frames.append((self.time.now, orjson.loads(frame)))

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("not closed here")

    def values(self) -> list[float]:
        return [p["value"] for _, frame in self.frames for p in frame["points"]]

    def sent_at(self) -> list[float]:
        return [at for at, _ in self.frames]


def entry(n: int, metric: str = "cpu.usage") -> tuple[str, list[dict[str, Any]]]:
    """The n-th live entry: cursor and one point whose value is n."""
    return f"{1_000 + n}-0", [{"metric": metric, "source": "web-1", "ts": n, "value": float(n)}]


def connect(hub: Hub, time: FakeTime, *metrics: str, tenant: str = "t-pace") -> Socket:
    socket = Socket(time)
    client = Client(StreamGrant(tenant, None, None, None), socket.send, socket.close)
    client.subscribe(metrics, ("*",))
    hub.add(client)
    socket.client = client
    return socket


def paced_hub(time: FakeTime, services: Services | None = None, redis: Any = None) -> Hub:
    live = services.live if services is not None else None
    return Hub(live, redis, INTERVAL, clock=time.clock, call_later=time.call_later)  # type: ignore[arg-type]


def assert_paced(sent_at: list[float]) -> None:
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert all(gap >= INTERVAL - 1e-9 for gap in gaps), gaps


def test_a_steady_stream_is_one_frame_per_interval_in_order_nothing_lost() -> None:
    """100 entries 10 ms apart (20 a frame interval): the first goes out at once, then one
    frame per interval carries everything that arrived meanwhile, in order."""

    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        socket = connect(hub, time, "cpu.*")
        for n in range(100):
            hub.receive("t-pace", *entry(n))
            await time.advance(0.01)
        await time.advance(INTERVAL)
        assert socket.values() == [float(n) for n in range(100)]
        assert socket.sent_at()[0] == 100.0  # the first entry waited for nothing
        assert_paced(socket.sent_at())
        assert len(socket.frames) == 5  # 1 s of entries: at 0, .25, .5, .75 and 1.0
        for _, frame in socket.frames:  # each frame resumes after its newest point
            assert frame["cursor"] == entry(int(frame["points"][-1]["value"]))[0]

    run(scenario(), timeout=10)


def test_updates_slower_than_the_pace_go_out_at_once() -> None:
    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        socket = connect(hub, time, "cpu.*")
        received_at = []
        for n in range(10):
            received_at.append(time.now)
            hub.receive("t-pace", *entry(n))
            await time.advance(0.3)
        assert socket.sent_at() == received_at
        assert socket.values() == [float(n) for n in range(10)]

    run(scenario(), timeout=10)


def test_each_socket_has_its_own_pace() -> None:
    """A socket whose series were quiet gets its update at once, whatever others got."""

    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        busy = connect(hub, time, "cpu.*")
        quiet = connect(hub, time, "disk.*")
        hub.receive("t-pace", *entry(0))
        await time.advance(0.05)
        hub.receive("t-pace", *entry(1, "disk.free"))  # cpu sent a frame 50 ms ago
        await settle()
        assert quiet.sent_at() == [100.05] and busy.sent_at() == [100.0]

    run(scenario(), timeout=10)


def test_one_frame_is_encoded_per_subscription_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five sockets, two subscription sets: each flush encodes two frames, not five."""
    encoded: list[str] = []
    real = hub_module.points_frame

    def counting(cursor: str, points: Any) -> str:
        encoded.append(cursor)
        return real(cursor, points)

    monkeypatch.setattr(hub_module, "points_frame", counting)

    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        same = [connect(hub, time, "cpu.*") for _ in range(3)]
        others = [connect(hub, time, "cpu.usage", "disk.*") for _ in range(2)]
        for n in range(10):
            hub.receive("t-pace", *entry(n))
            await time.advance(0.05)
        await time.advance(INTERVAL)
        assert len(encoded) == 2 * len(same[0].frames)
        for socket in same + others:
            assert socket.values() == [float(n) for n in range(10)]
            assert socket.frames == same[0].frames

    run(scenario(), timeout=10)


def test_a_stalled_socket_never_holds_back_the_others() -> None:
    """Same subscriptions, one socket stops reading: the other still gets every frame on
    pace; the stalled one is conflated, its outbox bounded."""

    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        stalled, healthy = connect(hub, time, "cpu.*"), connect(hub, time, "cpu.*")
        stalled.open.clear()
        total = (QUEUE_FRAMES + 8) * 5  # 5 entries a frame: more frames than an outbox holds
        for n in range(total):
            hub.receive("t-pace", *entry(n))
            await time.advance(0.05)
        await time.advance(INTERVAL)
        assert healthy.values() == [float(n) for n in range(total)]
        assert_paced(healthy.sent_at())
        assert stalled.frames == []
        lagging = stalled.client
        assert lagging is not None
        assert len(lagging.outbox) <= QUEUE_FRAMES and lagging.conflated_since is not None
        lagging.stop()

    run(scenario(), timeout=20)


def test_changing_subscriptions_mid_interval_loses_nothing() -> None:
    """Entries held for a socket's old subscription set reach it when it subscribes to more."""

    async def scenario() -> None:
        time = FakeTime()
        hub = paced_hub(time)
        socket = connect(hub, time, "cpu.*")
        client = socket.client
        assert client is not None
        hub.receive("t-pace", *entry(0))  # sent at once
        hub.receive("t-pace", *entry(1))  # held for the next frame
        client.subscribe(("disk.*",), ("*",))
        hub.regroup(client)
        hub.receive("t-pace", *entry(2, "disk.free"))
        hub.receive("t-pace", *entry(3))
        await time.advance(INTERVAL * 2)
        assert socket.values() == [0.0, 1.0, 2.0, 3.0]

    run(scenario(), timeout=10)


def publish(services: Services, tenant: str, value: float) -> tuple[str, list[dict[str, Any]]]:
    """Commit one point to the tenant's live stream as the worker does: (cursor, points)."""
    stored = Point(uuid.uuid4().hex, "web-1", "cpu.usage", now_ms(), value)
    return services.live.publish_points(tenant, [stored]), [live_point(stored)]


def test_the_cursor_of_a_coalesced_frame_resumes_after_its_newest_point(
    services: Services, tenant: str
) -> None:
    """A socket that drops after a coalesced frame resumes from its cursor: every later
    point comes once, none of the frame's own again."""

    async def scenario() -> None:
        redis = AsyncRedis.from_url(services.settings.require_urls()[1])
        time = FakeTime()
        hub = paced_hub(time, services, redis)
        first = connect(hub, time, "cpu.*", tenant=tenant)
        try:
            for n in range(12):
                hub.receive(tenant, *publish(services, tenant, float(n)))
                await time.advance(0.1)
            assert len(first.frames) >= 3
            cursor = first.frames[1][1]["cursor"]  # a frame carrying several entries
            seen = [p["value"] for _, f in first.frames[:2] for p in f["points"]]
            assert len(first.frames[1][1]["points"]) > 1
            again = connect(hub, time, "cpu.*", tenant=tenant)
            assert again.client is not None
            assert await hub.resume(again.client, cursor)
            await settle()
            assert again.values() == [float(n) for n in range(len(seen), 12)]
        finally:
            await redis.aclose()

    run(scenario(), timeout=10)


def test_the_pace_slows_as_sockets_are_added_to_share_the_process_budget() -> None:
    """A budget of 400 frames/s: with 20 sockets each may have 20 a second (the ceiling of
    0.05 s apart); with 200 sockets, 2 a second each — the same entries, fewer frames."""

    async def scenario() -> None:
        time = FakeTime()
        hub = Hub(
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            0.05,
            clock=time.clock,
            call_later=time.call_later,
            frames_budget_per_s=400,
        )
        sockets = [connect(hub, time, "cpu.*", tenant=f"t-{n}") for n in range(20)]
        assert hub.frame_interval_s() == pytest.approx(0.05)
        crowd = [connect(hub, time, "cpu.*", tenant=f"t-{n}") for n in range(20, 200)]
        assert hub.frame_interval_s() == pytest.approx(0.5)
        for n in range(100):  # 1 s of entries, 10 ms apart, to the first socket's tenant
            hub.receive("t-0", *entry(n))
            await time.advance(0.01)
        await time.advance(0.5)
        first = sockets[0]
        assert first.values() == [float(n) for n in range(100)]  # nothing lost
        assert len(first.frames) == 3  # at 0, 0.5 and 1.0: two a second, not twenty
        for socket in crowd[-10:]:
            hub.remove(socket.client)
        assert hub.open_sockets == 190

    run(scenario(), timeout=10)
