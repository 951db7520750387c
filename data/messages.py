"""The /ws message schema: what clients may send, and how server frames are built."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

MAX_PATTERNS = 200
PATTERN_RE = re.compile(r"[A-Za-z0-9_.:\-*]{1,128}")
PING = orjson.dumps({"type": "ping"}).decode()
RESET = orjson.dumps({"type": "reset"}).decode()


class MessageError(ValueError):
    """A client message that does not follow the protocol."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Add metric patterns; with a cursor (our extension), also resume from it atomically."""

    metrics: tuple[str, ...]
    sources: tuple[str, ...]
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    metrics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resume:
    cursor: str


ClientMessage = Subscribe | Unsubscribe | Resume


def _patterns(doc: dict[str, Any], field: str, default: Sequence[str] | None) -> tuple[str, ...]:
    raw = doc.get(field, default)
    if not isinstance(raw, list) or not raw or len(raw) > MAX_PATTERNS:
        raise MessageError(f"{field} must be a list of 1-{MAX_PATTERNS} names or patterns")
    if not all(isinstance(p, str) and PATTERN_RE.fullmatch(p) for p in raw):
        raise MessageError(f"{field}: each entry is a name where * matches anything")
    return tuple(raw)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """A validated client message, or MessageError saying what is wrong."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise MessageError("messages are JSON objects") from None
    if not isinstance(doc, dict):
        raise MessageError("messages are JSON objects")
    kind = doc.get("type")
    if kind == "subscribe":
        cursor = _cursor(doc) if "cursor" in doc else None
        return Subscribe(_patterns(doc, "metrics", None), _patterns(doc, "sources", ["*"]), cursor)
    if kind == "unsubscribe":
        return Unsubscribe(_patterns(doc, "metrics", None))
    if kind == "resume":
        return Resume(_cursor(doc))
    raise MessageError("type must be subscribe, unsubscribe or resume")


def _cursor(doc: dict[str, Any]) -> str:
    cursor = doc.get("cursor")
    if not isinstance(cursor, str) or not re.fullmatch(r"\d{1,20}-\d{1,20}", cursor):
        raise MessageError("cursor must be the cursor of a points message")
    return cursor


def compile_patterns(patterns: Sequence[str]) -> re.Pattern[str]:
    """One regex matching any of the patterns, `*` standing for any run of characters."""
    parts = (re.escape(p).replace(r"\*", ".*") for p in patterns)
    return re.compile("|".join(f"(?:{p})" for p in parts) or "(?!)")


def points_frame(cursor: str, points: Sequence[dict[str, Any]]) -> str:
    """The server's `points` message."""
    return orjson.dumps({"type": "points", "cursor": cursor, "points": points}).decode()


def notification_frame(notification: dict[str, Any], unread: int | None = None) -> str:
    """The server's `notification` message; `unread` (our extension) is the recipient's
    unread count after it, for the navbar badge."""
    doc: dict[str, Any] = {"type": "notification", "notification": notification}
    if unread is not None:
        doc["unread"] = unread
    return orjson.dumps(doc).decode()


def error_frame(message: str) -> str:
    """A message telling the client what was wrong with what it sent."""
    return orjson.dumps({"type": "error", "message": message}).decode()


@functools.lru_cache(maxsize=4096)  # a flush compares one cursor against every client's
def cursor_key(cursor: str) -> tuple[int, int]:
    """A stream-id cursor as a sortable pair."""
    ms, _, seq = cursor.partition("-")
    return int(ms), int(seq or 0)
