"""The audit log as CSV (GET /api/audit/export, the admin page's "Export CSV"), and the
audit of file downloads themselves, recorded once the last byte is out with its row count."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator

from data.stores.audit import AuditEvent
from data.views.export import CHUNK_BYTES, Tally, neutralise

AUDIT_CSV_COLUMNS = ("at", "actor", "action", "target", "ip", "details")


def audit_csv(events: Iterable[AuditEvent], tally: Tally) -> Iterator[bytes]:
    """UTF-8 CSV with a header, one row per event as GET /api/audit gives it (details as
    JSON), produced while the events are read; text cells neutralised for spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(AUDIT_CSV_COLUMNS)
    for event in events:
        doc = event.as_dict()
        doc["details"] = json.dumps(doc["details"], sort_keys=True, ensure_ascii=False)
        writer.writerow([neutralise(str(doc[column] or "")) for column in AUDIT_CSV_COLUMNS])
        tally.rows += 1
        if buffer.tell() >= CHUNK_BYTES:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk


def recorded_download(
    chunks: Iterable[bytes], tally: Tally, record: Callable[[int, bool], None]
) -> Iterator[bytes]:
    """`chunks`, then `record(rows, complete)`: complete unless the download stopped early
    (the client went away), which is recorded too, with the rows sent so far."""
    complete = False
    try:
        yield from chunks
        complete = True
    finally:
        record(tally.rows, complete)
