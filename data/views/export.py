"""File exports of a `GET /api/data` query (CONTRACT §3, `GET /api/export`): the CSV, and
what every export shares: text cells, time zones, file names. The workbook is in
data/views/export_xlsx.py.

An export is exactly the query of /api/data (data.domain.data_query and data.stores.queries:
the same parsing, tier and SQL), read through a server-side cursor in batches so that neither
format holds the rows in memory: the CSV is produced batch by batch as the response is sent.

Times are bucket starts in the caller's time zone, named: the CSV carries ISO 8601 with the
offset and a `time_zone` column; the workbook carries real date cells in naive local time
(what spreadsheets understand) under a header naming the zone, next to the ISO 8601 text,
which stays unambiguous in the repeated hour when clocks go back.

Spreadsheets run text that looks like a formula (CSV injection): every text cell passes
through `neutralise`, which prefixes `'` to text starting with `= + - @` or a control
character. Metric and source names are restricted to `A-Z a-z 0-9 _ . : -` and may start
with `-`, so this is not only a theory. Numbers are written as numbers, never as text.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from data.domain.data_query import DataQuery, QueryError
from data.stores.queries import iter_buckets

CSV_COLUMNS = ("time", "time_zone", "metric", "source", "agg", "step", "value")
CHUNK_BYTES = 64 * 1024  # what a streamed file is sent in
BATCH_ROWS = 5_000  # rows fetched from the server-side cursor at a time
FORMULA_STARTS = frozenset("=+-@")
ZONE_RE = re.compile(r"[A-Za-z0-9_+\-]{1,32}(?:/[A-Za-z0-9_+\-]{1,32}){0,2}")
PREFERENCE_KEY = "timezone"  # users.preferences: the IANA zone a user reads times in
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class Tally:
    """The rows a file export wrote, complete once its last chunk is out (the audit log
    records exports with their row counts)."""

    rows: int = 0


EXPORT_ACTION = "export.data"  # the audit log's name for a file export of data


def audit_details(query: DataQuery, fmt: str, rows: int, complete: bool) -> dict[str, Any]:
    """What the audit log records of an export: its query, format and rows sent."""
    return {
        "format": fmt,
        "rows": rows,
        "complete": complete,
        "metrics": list(query.metrics),
        "sources": list(query.sources),
        "start_ms": query.start_ms,
        "end_ms": query.end_ms,
    }


# -- text cells and time zones -------------------------------------------------------------


def neutralise(value: str) -> str:
    """Text a spreadsheet shows as text: a leading `= + - @` or control character (tab, CR,
    …) would make it a formula, so such text gets a `'` in front."""
    if value and (value[0] in FORMULA_STARTS or ord(value[0]) < 0x20 or value[0] == "\x7f"):
        return "'" + value
    return value


def resolve_zone(requested: str | None, preferences: Mapping[str, Any] | None) -> ZoneInfo:
    """The zone of the export: the `tz` parameter, else the user's preference, else UTC.
    An unknown `tz` is a QueryError; an unusable stored preference falls back to UTC (the
    user asked for nothing wrong in this request)."""
    if requested is not None:
        zone = _zone(requested.strip())
        if zone is None:
            raise QueryError(
                [
                    {
                        "field": "tz",
                        "message": "must be an IANA time zone such as Europe/Paris or UTC",
                    }
                ]
            )
        return zone
    preferred = (preferences or {}).get(PREFERENCE_KEY)
    zone = _zone(preferred) if isinstance(preferred, str) else None
    return zone or ZoneInfo("UTC")


def _zone(name: str) -> ZoneInfo | None:
    if not ZONE_RE.fullmatch(name):
        return None
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # unknown, or a file that is not a zone
        return None


def local_time(ts_ms: int, zone: ZoneInfo) -> datetime:
    """The aware local time of epoch milliseconds."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=zone)


def iso_local(ts_ms: int, zone: ZoneInfo) -> str:
    """ISO 8601 with the zone's offset: `2026-11-28T10:00:00+01:00`."""
    return local_time(ts_ms, zone).isoformat(timespec="seconds")


def cell_number(value: float, agg: str) -> int | float | None:
    """The value as /api/data gives it: counts are integers; an overflowed sum is empty."""
    if agg == "count":
        return int(value)
    return value if math.isfinite(value) else None


# -- file names -----------------------------------------------------------------------------


def filename(query: DataQuery, zone: ZoneInfo, fmt: str) -> str:
    """`pulse_cpu.usage_20261101T0000_20261201T0000.csv` (local times of the range)."""
    label = query.metrics[0] if len(query.metrics) == 1 else f"{len(query.metrics)}-metrics"
    first, last = (
        local_time(ms, zone).strftime("%Y%m%dT%H%M") for ms in (query.start_ms, query.end_ms)
    )
    return f"pulse_{label.replace(':', '_')}_{first}_{last}.{fmt}"


# -- CSV ------------------------------------------------------------------------------------


def export_csv(
    engine: Engine, tenant: str, query: DataQuery, zone: ZoneInfo, tally: Tally | None = None
) -> Iterator[bytes]:
    """The CSV of the query, UTF-8 with a header, one row per (metric, source, bucket), as
    chunks of bytes produced while it is read: a generator, nothing runs before iteration.
    `tally` counts the rows written."""
    tally = tally if tally is not None else Tally()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow([neutralise(column) for column in CSV_COLUMNS])
    zone_name, agg, step = (neutralise(v) for v in (zone.key, query.agg, query.step))
    series: tuple[str, str] | None = None
    names = ("", "")
    for batch in iter_buckets(engine, tenant, query, BATCH_ROWS):
        tally.rows += len(batch)
        for metric, source, ts_ms, value in batch:
            if (metric, source) != series:
                series, names = (metric, source), (neutralise(metric), neutralise(source))
            number = cell_number(value, query.agg)
            writer.writerow(
                (
                    iso_local(ts_ms, zone),
                    zone_name,
                    *names,
                    agg,
                    step,
                    "" if number is None else number,
                )
            )
        if buffer.tell() >= CHUNK_BYTES:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk
