"""The /ws message schema: what clients may send, and how server frames are built."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from data.domain.patterns import MAX_WILDCARDS, PatternSet, wildcards

MAX_PATTERNS = 100  # metrics + sources patterns of one socket, or of one /api/updates poll
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
    check_wildcards(field, raw)
    return tuple(raw)


def check_wildcards(field: str, patterns: Sequence[str]) -> None:
    """MessageError naming the first pattern with more than MAX_WILDCARDS `*`."""
    for pattern in patterns:
        if wildcards(pattern) > MAX_WILDCARDS:
            raise MessageError(
                f"{field}: {pattern[:40]!r} has more than {MAX_WILDCARDS} * (at most"
                f" {MAX_WILDCARDS} a pattern)"
            )


def check_pattern_total(metrics: Sequence[str], sources: Sequence[str]) -> None:
    """MessageError when a socket or a poll would hold more than MAX_PATTERNS patterns."""
    total = len(metrics) + len(sources)
    if total > MAX_PATTERNS:
        raise MessageError(
            f"at most {MAX_PATTERNS} metrics and sources patterns in all, not {total}"
        )


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


def compile_patterns(patterns: Sequence[str]) -> PatternSet:
    """A matcher of any of the patterns, `*` standing for any run of characters."""
    return PatternSet(patterns)


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
