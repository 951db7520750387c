"""Sliding-window attempt counters in Redis.

Sign-in throttling needs the check and the count of an attempt at one account to be one step
(else a burst of parallel guesses all pass the check before any is counted): `reserve` counts
an attempt in every window it names by one Lua script, refused as a whole if any is full.
Windows that should count only what went wrong are checked with `full` and fed with `add`
after the fact. Each window is a sorted set of attempt ids scored by time: a true sliding
window, with no boundary at which a burst of twice the limit gets through.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# KEYS: the windows; ARGV: now_ms, window_ms, attempt id, then one limit per key.
_RESERVE = """
local now, window, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    return 0
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, id)
  redis.call('PEXPIRE', key, window)
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One sliding window: its Redis key and how many attempts it holds."""

    key: str
    limit: int


class SlidingWindows:
    """Reserves and refunds attempts in sliding windows of `window_s` seconds."""

    def __init__(
        self, redis: Any, window_s: int, clock_ms: Callable[[], int] | None = None
    ) -> None:
        self.redis = redis
        self.window_ms = window_s * 1000
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._reserve = redis.register_script(_RESERVE)

    def reserve(self, windows: Sequence[Window]) -> str | None:
        """Count one attempt in every window and return its id, or None (and count
        nothing) when any of them is full."""
        attempt = secrets.token_hex(8)
        args = [self.clock_ms(), self.window_ms, attempt, *(w.limit for w in windows)]
        ok = self._reserve(keys=[w.key for w in windows], args=args)
        return attempt if ok else None

    def full(self, window: Window) -> bool:
        """Whether the window holds its limit of attempts now."""
        with self.redis.pipeline() as pipe:
            pipe.zremrangebyscore(window.key, "-inf", self.clock_ms() - self.window_ms)
            pipe.zcard(window.key)
            _, held = pipe.execute()
        return int(held) >= window.limit

    def add(self, attempt: str, window: Window) -> None:
        """Count an attempt in a window after the fact."""
        with self.redis.pipeline() as pipe:
            pipe.zadd(window.key, {attempt: self.clock_ms()})
            pipe.pexpire(window.key, self.window_ms)
            pipe.execute()

    def clear(self, window: Window) -> None:
        """Forget every attempt in a window."""
        self.redis.delete(window.key)
