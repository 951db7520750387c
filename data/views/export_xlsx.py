"""Excel exports of a `GET /api/data` query (CONTRACT §3, `GET /api/export?format=xlsx`):
a first sheet describing the query, then one sheet per series.

The workbook is written by xlsxwriter in `constant_memory` mode (each sheet's rows go to a
temporary file as they come) into a spooled temporary file, and only that file is then sent
in chunks. A workbook has to be finished before its first byte can leave (the zip's
directory comes last), which is what lets an oversized one be refused with a JSON error
instead of a broken download. Cells follow data/views/export.py: real date cells in naive
local time under a header naming the zone, the ISO 8601 text beside them, text neutralised.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from zoneinfo import ZoneInfo

import xlsxwriter
from sqlalchemy import Engine, text

from data.domain.data_query import NICE_STEPS_MS, DataQuery, QueryError, step_label
from data.stores.queries import iter_buckets, statement, tune
from data.views.export import (
    BATCH_ROWS,
    CHUNK_BYTES,
    Tally,
    cell_number,
    iso_local,
    local_time,
    neutralise,
)

XLSX_MAX_ROWS = 1_048_576  # rows of an Excel sheet, its header row included
XLSX_MAX_SHEETS = 500  # series of one workbook: past it a workbook is no way to read them
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_MAX = 31
_DESCRIPTION_SHEET = "query"


class TooManyRows(QueryError):
    """An Excel export with a series over a sheet's row limit; nothing was sent."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(details)
        self.code = "too_many_rows"  # a page treats it as a query to change; the API names it


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
    tally: Tally | None = None,
) -> Iterator[bytes]:
    """The workbook of the query as chunks of bytes: a first sheet describing the query,
    then one sheet per series. It is built before this returns (in constant memory, into a
    temporary file), so TooManyRows is raised here, before any byte is sent, when a series
    has more rows than a sheet holds (`max_rows`, header included). `tally` gets its rows."""
    if query.buckets >= max_rows:  # only then can a series overflow: count exactly first
        _refuse_oversized(engine, tenant, query, max_rows)
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _chunks once sent
    try:
        rows = _write_workbook(spool, engine, tenant, query, zone, generated_ms, max_rows)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    if tally is not None:
        tally.rows = rows
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
) -> int:
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
            return _fill_workbook(book, engine, tenant, query, zone, generated_ms, max_rows)
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
) -> int:
    """Write every sheet and close the book; the rows written."""
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
            number = cell_number(value, query.agg)
            if number is not None:
                worksheet.write_number(row, 1, number)
            worksheet.write_string(row, 2, neutralise(iso_local(ts_ms, zone)))
    _describe(description, query, zone, generated_ms, sheets, date, bold)
    book.close()
    return sum(sheet.rows for sheet in sheets)


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
