"""Validation of ingested points: pure functions, no I/O, one error entry per bad point."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from data.domain import jsontext
from data.domain.errors import Unreadable

NAME_RE = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")
FIELDS = ("data_id", "source", "metric_type", "timestamp", "value")
MAX_POINTS = 10_000
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_FUTURE_MS = 5 * 60 * 1000
MAX_DATA_ID = 64


class Point(NamedTuple):
    """One validated point; `data_id` is the client's key or one generated at ingest.

    A tuple rather than a frozen dataclass: tens of thousands are built per second on both
    sides of the ingest stream, and a tuple costs a third as much to make."""

    data_id: str
    source: str
    metric: str
    ts_ms: int
    value: float

    def packed(self) -> list[Any]:
        """The compact list form carried in the ingest stream."""
        return list(self)

    @classmethod
    def unpack_many(cls, payload: bytes) -> list[Point]:
        """The inverse of `packed` for a whole ingest entry (a JSON array of packed points),
        decoded and type-checked in C by msgspec; anything else raises ValueError."""
        try:
            return _PACKED_POINTS.decode(payload)
        except msgspec.DecodeError as exc:
            raise ValueError(str(exc)) from None


_PACKED_POINTS = msgspec.json.Decoder(list[Point])


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one point (or one NDJSON line) of a request."""

    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The contract's `details` entry."""
        return {"index": self.index, "field": self.field, "message": self.message}


# Stands in for an NDJSON line that is no JSON at all (its problem is already reported); a
# sentinel rather than None, since `null` is a point the client did send and must be refused.
UNREADABLE_LINE: Any = object()


class BodyError(Unreadable):
    """The request body as a whole cannot be read as points (a 400 `invalid_body`)."""


def parse_body(body: bytes, ndjson: bool) -> tuple[list[Any], list[Problem]]:
    """Raw point objects from a JSON array, `{"points": [...]}` or NDJSON, plus line errors."""
    if ndjson:
        return _parse_ndjson(body)
    try:
        doc = jsontext.loads(body)
    except ValueError as exc:
        raise BodyError(f"body is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and set(doc) == {"points"}:
        doc = doc["points"]
    if not isinstance(doc, list):
        raise BodyError('body must be a JSON array of points or {"points": [...]}')
    return doc, []


def _parse_ndjson(body: bytes) -> tuple[list[Any], list[Problem]]:
    items: list[Any] = []
    problems: list[Problem] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            items.append(jsontext.loads(line))
        except ValueError as exc:
            problems.append(Problem(len(items), "", f"line is not valid JSON: {exc}"))
            items.append(UNREADABLE_LINE)
    return items, problems


def validate_points(
    items: list[Any], now_ms: int, oldest_ms: int
) -> tuple[list[Point], list[Problem]]:
    """Check every raw point; return the valid ones and one problem per bad field.

    Well-formed points take a quick path (names a request repeats are checked once); any
    point it doubts goes through the full check, which names every problem. Points without
    a `data_id` keep "" (a client's is never empty): they are stored without a per-point
    check, exactly once per ingest entry (data/stores/point_writes.py)."""
    valid: list[Point] = []
    problems: list[Problem] = []
    names: set[str] = set()
    newest_ms = now_ms + MAX_FUTURE_MS
    for index, item in enumerate(items):
        point = _quick_point(item, names, oldest_ms, newest_ms)
        if point is None:
            point, found = _checked_point(index, item, now_ms, oldest_ms)
            if point is None:
                problems.extend(found)
                continue
        valid.append(point)
    return valid, problems


# C901 allowed: ingest's hot path, inlined on purpose (bench/ingest.py)
def _quick_point(item: Any, names: set[str], oldest_ms: int, newest_ms: int) -> Point | None:  # noqa: C901
    """The point when it is plainly valid, else None (the full check decides)."""
    if type(item) is not dict or not 4 <= len(item) <= 5:
        return None
    source, metric = item.get("source"), item.get("metric_type")
    raw_ts, value = item.get("timestamp"), item.get("value")
    data_id = item.get("data_id")
    if len(item) == 5 and "data_id" not in item:
        return None  # an unknown field
    if type(source) is not str or type(metric) is not str:
        return None
    for name in (source, metric):
        if name not in names:
            if not NAME_RE.fullmatch(name):
                return None
            names.add(name)
    if data_id is None:
        data_id = ""
    elif type(data_id) is not str or not 0 < len(data_id) <= MAX_DATA_ID:
        return None
    if not data_id.isprintable():
        return None
    if type(value) is int and -(2**53) <= value <= 2**53:
        value = float(value)
    if type(value) is not float or not math.isfinite(value):
        return None
    ts_ms = parse_timestamp_ms(raw_ts)
    if ts_ms is None or not oldest_ms <= ts_ms <= newest_ms:
        return None
    return Point(data_id, source, metric, ts_ms, value)


def _checked_point(
    index: int, item: Any, now_ms: int, oldest_ms: int
) -> tuple[Point | None, list[Problem]]:
    """One raw point checked against the contract, field by field (`data_id` "" if absent)."""
    if item is UNREADABLE_LINE:
        return None, []
    if not isinstance(item, dict):
        return None, [Problem(index, "", "a point must be a JSON object")]
    problems = [
        Problem(index, key, f"unknown field {key!r}; expected one of {', '.join(FIELDS)}")
        for key in item
        if key not in FIELDS
    ]
    data_id = _check_data_id(index, item.get("data_id"), problems)
    source = _check_name(index, "source", item.get("source"), problems)
    metric = _check_name(index, "metric_type", item.get("metric_type"), problems)
    ts_ms = _check_timestamp(index, item.get("timestamp"), now_ms, oldest_ms, problems)
    value = _check_value(index, item.get("value"), problems)
    if problems:
        return None, problems
    assert source and metric and ts_ms is not None and value is not None
    return Point(data_id or "", source, metric, ts_ms, value), []


def _check_data_id(index: int, raw: Any, problems: list[Problem]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_DATA_ID or not raw.isprintable():
        problems.append(Problem(index, "data_id", f"must be 1-{MAX_DATA_ID} printable characters"))
        return None
    return raw


def _check_name(index: int, field: str, raw: Any, problems: list[Problem]) -> str | None:
    if raw is None:
        problems.append(Problem(index, field, "is required"))
    elif not isinstance(raw, str) or not NAME_RE.fullmatch(raw):
        problems.append(Problem(index, field, "must be 1-128 characters of A-Z a-z 0-9 _ . : -"))
    else:
        return raw
    return None


def _check_timestamp(
    index: int, raw: Any, now_ms: int, oldest_ms: int, problems: list[Problem]
) -> int | None:
    ts_ms = parse_timestamp_ms(raw)
    if raw is None:
        problems.append(Problem(index, "timestamp", "is required"))
    elif ts_ms is None:
        problems.append(
            Problem(index, "timestamp", "must be an RFC 3339 string with a zone, or epoch seconds")
        )
    elif (outside := window_problem(ts_ms, now_ms, oldest_ms)) is not None:
        problems.append(Problem(index, "timestamp", outside))
    else:
        return ts_ms
    return None


def window_problem(ts_ms: int, now_ms: int, oldest_ms: int) -> str | None:
    """Why a point at `ts_ms` may not be stored now (None: it may): every format's rule."""
    if ts_ms > now_ms + MAX_FUTURE_MS:
        return "is more than 5 minutes in the future"
    if ts_ms < oldest_ms:
        return "is older than the retention window"
    return None


def parse_timestamp_ms(raw: Any) -> int | None:
    """Epoch milliseconds from an RFC 3339 string or epoch seconds; None when unreadable."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        seconds = float(raw)
        if not math.isfinite(seconds) or abs(seconds) > 1e11:
            return None
        return round(seconds * 1000)
    if isinstance(raw, str) and 10 < len(raw) <= 40 and ("T" in raw or "t" in raw):
        try:
            parsed = datetime.fromisoformat(raw.replace("z", "Z"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return round(parsed.timestamp() * 1000)
    return None


def _check_value(index: int, raw: Any, problems: list[Problem]) -> float | None:
    if raw is None:
        problems.append(Problem(index, "value", "is required"))
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        problems.append(Problem(index, "value", "must be a number"))
        return None
    try:
        value = float(raw)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        problems.append(Problem(index, "value", "must be a finite number within double range"))
        return None
    return value
