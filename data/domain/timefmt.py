"""Time as the API writes it: RFC 3339 UTC text, and aware datetimes of epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload

Timespec = Literal["seconds", "milliseconds"]


def to_datetime(ts_ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC)


@overload
def iso_datetime(at: datetime) -> str: ...
@overload
def iso_datetime(at: datetime | None) -> str | None: ...
def iso_datetime(at: datetime | None) -> str | None:
    """RFC 3339 text of an aware datetime to the millisecond, `Z` for UTC; None stays None
    (a column that may be empty is shown as null)."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z") if at else None


def iso_ms(ts_ms: int, timespec: Timespec = "milliseconds") -> str:
    """RFC 3339 UTC text of epoch milliseconds (the pipeline's books count whole seconds)."""
    return to_datetime(ts_ms).isoformat(timespec=timespec).replace("+00:00", "Z")
