"""File exports of a `GET /api/data` query: CSV and Excel (CONTRACT §3, `GET /api/export`).

An export is exactly the query of /api/data (data.stores.queries: the same parsing, tier and SQL),
read through a server-side cursor in batches so that neither format holds the rows in
memory: the CSV is produced batch by batch as the response is sent; the workbook is written
by xlsxwriter in `constant_memory` mode (each sheet's rows go to a temporary file as they
come) into a spooled temporary file, and only that file is then sent in chunks. A workbook
has to be finished before its first byte can leave (the zip's directory comes last), which
is what lets an oversized one be refused with a JSON error instead of a broken download.

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
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import xlsxwriter
from sqlalchemy import Engine, text

from data.stores.queries import (
    NICE_STEPS_MS,
    DataQuery,
    QueryError,
    iter_buckets,
    statement,
    step_label,
    tune,
)

XLSX_MAX_ROWS = 1_048_576  # rows of an Excel sheet, its header row included
XLSX_MAX_SHEETS = 500  # series of one workbook: past it a workbook is no way to read them
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
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_MAX = 31
_DESCRIPTION_SHEET = "query"


class TooManyRows(QueryError):
    """An Excel export with a series over a sheet's row limit; nothing was sent."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(details)
        self.code = "too_many_rows"  # a page treats it as a query to change; the API names it


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


def _number(value: float, agg: str) -> int | float | None:
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


def export_csv(engine: Engine, tenant: str, query: DataQuery, zone: ZoneInfo) -> Iterator[bytes]:
    """The CSV of the query, UTF-8 with a header, one row per (metric, source, bucket), as
    chunks of bytes produced while it is read: a generator, nothing runs before iteration."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow([neutralise(column) for column in CSV_COLUMNS])
    zone_name, agg, step = (neutralise(v) for v in (zone.key, query.agg, query.step))
    series: tuple[str, str] | None = None
    names = ("", "")
    for batch in iter_buckets(engine, tenant, query, BATCH_ROWS):
        for metric, source, ts_ms, value in batch:
            if (metric, source) != series:
                series, names = (metric, source), (neutralise(metric), neutralise(source))
            number = _number(value, query.agg)
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


# -- Excel ----------------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    metric: str
    source: str
    rows: int = 0
    first_ms: int | None = None
    last_ms: int | None = None


def export_xlsx(
    engine: Engine,
    tenant: str,
    query: DataQuery,
    zone: ZoneInfo,
    generated_ms: int,
    max_rows: int = XLSX_MAX_ROWS,
) -> Iterator[bytes]:
    """The workbook of the query as chunks of bytes: a first sheet describing the query,
    then one sheet per series. It is built before this returns (in constant memory, into a
    temporary file), so TooManyRows is raised here, before any byte is sent, when a series
    has more rows than a sheet holds (`max_rows`, header included)."""
    if query.buckets >= max_rows:  # only then can a series overflow: count exactly first
        _refuse_oversized(engine, tenant, query, max_rows)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _chunks once sent
    try:
        _write_workbook(spool, engine, tenant, query, zone, generated_ms, max_rows)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _chunks(spool)


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


def _refuse_oversized(engine: Engine, tenant: str, query: DataQuery, max_rows: int) -> None:
    sql, params = statement(tenant, query)
    counted = (
        f"SELECT metric_type, source, count(*) FROM ({sql}) AS q "
        "GROUP BY 1, 2 HAVING count(*) > :rows_limit ORDER BY 1, 2"
    )
    with engine.connect() as conn:
        tune(conn)
        over = conn.execute(text(counted), {**params, "rows_limit": max_rows - 1}).all()
    if over:
        raise _too_many_rows(query, [(m, s, int(n)) for m, s, n in over], max_rows)


def _too_many_rows(
    query: DataQuery, over: list[tuple[str, str, int]], max_rows: int
) -> TooManyRows:
    coarser = next(
        (
            step
            for step in NICE_STEPS_MS
            if step > query.step_ms and (query.end_ms - query.start_ms) // step < max_rows - 1
        ),
        None,
    )
    hint = f"a step of {step_label(coarser)} or more, or " if coarser else ""
    details = [
        {
            "field": "format",
            "metric": metric,
            "source": source,
            "rows": str(rows),
            "message": f"{metric} on {source} has {rows:,} rows; an Excel sheet holds"
            f" {max_rows - 1:,} below its header",
        }
        for metric, source, rows in over
    ]
    error = TooManyRows(details)
    error.args = (
        f"{len(over)} series over Excel's {max_rows - 1:,} rows per sheet (the largest has"
        f" {max(rows for _, _, rows in over):,}): ask for {hint}format=csv",
    )
    return error


def _too_many_sheets(query: DataQuery) -> TooManyRows:
    message = (
        f"more than {XLSX_MAX_SHEETS} series (one sheet each): choose fewer metrics"
        " or sources, or ask for format=csv"
    )
    error = TooManyRows([{"field": "format", "message": message}])
    error.args = (message,)
    return error


def sheet_name(metric: str, source: str, taken: set[str]) -> str:
    """A valid, unique sheet name (≤ 31 characters, none of `[]:*?/\\`, not starting or
    ending with `'`; uniqueness is case-insensitive, as in Excel); `taken` is updated."""
    base = _SHEET_FORBIDDEN.sub("_", f"{metric} | {source}").strip("'") or "series"
    name, n = base[:_SHEET_MAX], 1
    while name.lower() in taken:
        n += 1
        suffix = f"~{n}"
        name = base[: _SHEET_MAX - len(suffix)].rstrip("'") + suffix
    taken.add(name.lower())
    return name


def _write_workbook(
    out: IO[bytes],
    engine: Engine,
    tenant: str,
    query: DataQuery,
    zone: ZoneInfo,
    generated_ms: int,
    max_rows: int,
) -> None:
    with tempfile.TemporaryDirectory(prefix="pulse-xlsx-") as tmpdir:
        book = xlsxwriter.Workbook(
            out,
            {
                "constant_memory": True,  # rows go to a temporary file per sheet as they come
                "tmpdir": tmpdir,  # removed whole, also when the export is refused half-way
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "use_zip64": True,
            },
        )
        try:
            _fill_workbook(book, engine, tenant, query, zone, generated_ms, max_rows)
        finally:
            for worksheet in book.worksheets():  # open row files of an unfinished book
                if worksheet.row_data_fh is not None and not worksheet.row_data_fh.closed:
                    worksheet.row_data_fh.close()


def _fill_workbook(
    book: Any,
    engine: Engine,
    tenant: str,
    query: DataQuery,
    zone: ZoneInfo,
    generated_ms: int,
    max_rows: int,
) -> None:
    date = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    bold = book.add_format({"bold": True})
    description = book.add_worksheet(_DESCRIPTION_SHEET)  # first; filled in at the end
    taken = {_DESCRIPTION_SHEET}
    sheets: list[_Sheet] = []
    worksheet: Any = None
    current: _Sheet | None = None
    for batch in iter_buckets(engine, tenant, query, BATCH_ROWS):
        for metric, source, ts_ms, value in batch:
            if current is None or (metric, source) != (current.metric, current.source):
                if len(sheets) == XLSX_MAX_SHEETS:
                    raise _too_many_sheets(query)
                current = _Sheet(sheet_name(metric, source, taken), metric, source)
                sheets.append(current)
                worksheet = _series_sheet(book, current, zone, bold)
            current.rows += 1
            if current.rows >= max_rows:  # written meanwhile, past the exact count's check
                raise _too_many_rows(query, [(metric, source, current.rows)], max_rows)
            current.first_ms = current.first_ms if current.first_ms is not None else ts_ms
            current.last_ms = ts_ms
            row = current.rows
            worksheet.write_datetime(row, 0, local_time(ts_ms, zone).replace(tzinfo=None), date)
            number = _number(value, query.agg)
            if number is not None:
                worksheet.write_number(row, 1, number)
            worksheet.write_string(row, 2, neutralise(iso_local(ts_ms, zone)))
    _describe(description, query, zone, generated_ms, sheets, date, bold)
    book.close()


def _series_sheet(book: Any, sheet: _Sheet, zone: ZoneInfo, bold: Any) -> Any:
    worksheet = book.add_worksheet(sheet.name)
    worksheet.set_column(0, 0, 20)
    worksheet.set_column(1, 1, 16)
    worksheet.set_column(2, 2, 27)
    worksheet.freeze_panes(1, 0)
    for col, header in enumerate((f"time ({zone.key})", "value", "time (ISO 8601)")):
        worksheet.write_string(0, col, neutralise(header), bold)
    return worksheet


def _describe(
    worksheet: Any,
    query: DataQuery,
    zone: ZoneInfo,
    generated_ms: int,
    sheets: list[_Sheet],
    date: Any,
    bold: Any,
) -> None:
    """The first sheet: what was asked, in which zone, when, and what each sheet holds."""
    worksheet.set_column(0, 0, 18)
    worksheet.set_column(1, 2, 27)
    worksheet.set_column(3, 3, 12)
    worksheet.set_column(4, 5, 27)
    times = {"start": query.start_ms, "end (exclusive)": query.end_ms, "generated at": generated_ms}
    facts: list[tuple[str, Any]] = [
        ("metrics", ", ".join(query.metrics)),
        ("sources", ", ".join(query.sources) or "all"),
        *times.items(),
        ("step", query.step),
        ("agg", query.agg),
        ("time zone", zone.key),
        ("series", len(sheets)),
        ("rows", sum(sheet.rows for sheet in sheets)),
    ]
    for row, (label, value) in enumerate(facts):
        worksheet.write_string(row, 0, neutralise(label), bold)
        if label in times:
            worksheet.write_datetime(row, 1, local_time(value, zone).replace(tzinfo=None), date)
            worksheet.write_string(row, 2, neutralise(iso_local(value, zone)))
        elif isinstance(value, int):
            worksheet.write_number(row, 1, value)
        else:
            worksheet.write_string(row, 1, neutralise(value))
    top = len(facts) + 1
    headers = ("sheet", "metric", "source", "rows", f"first ({zone.key})", f"last ({zone.key})")
    for col, header in enumerate(headers):
        worksheet.write_string(top, col, neutralise(header), bold)
    for row, sheet in enumerate(sheets, start=top + 1):
        for col, name in enumerate((sheet.name, sheet.metric, sheet.source)):
            worksheet.write_string(row, col, neutralise(name))
        worksheet.write_number(row, 3, sheet.rows)
        for col, ms in ((4, sheet.first_ms), (5, sheet.last_ms)):
            if ms is not None:
                worksheet.write_datetime(row, col, local_time(ms, zone).replace(tzinfo=None), date)
