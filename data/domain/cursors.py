"""Cursors: the ids of Redis stream entries (`<ms>-<seq>`), as `/ws` and the live store
order them."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4096)  # a flush compares one cursor against every client's
def cursor_key(cursor: str) -> tuple[int, int]:
    """A stream-id cursor as a sortable pair."""
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)
