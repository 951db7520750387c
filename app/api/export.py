"""`GET /api/export`: the query of `/api/data` as a CSV or Excel file (CONTRACT §3).

Analysts and admins (exports are an analyst right), or a `read` key. The parameters are
those of /api/data plus `format=csv|xlsx` and `tz` (an IANA zone; else the user's
preference, else UTC). An explicit step is not capped at /api/data's 10,000 buckets per
series: a file streams whatever the range holds (buckets without points are absent, so the
rows never outnumber the stored points). Everything is checked before the first byte: bad
parameters, and for Excel a series over a sheet's row limit, answer a JSON 422. Each
export is recorded in the audit log once sent (`export.data`, with its row count)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request, stream_with_context

from app.api.document import File, Operation, documented
from app.api.schemas import ExportParams
from app.web.auth import Principal, principal, services
from data.domain.data_query import DataQuery, QueryError, parse_query
from data.domain.preferences import resolve
from data.stores.audit import AuditLog
from data.stores.profiles import Profiles
from data.views import export, export_xlsx
from data.views.audit_csv import recorded_download

bp = Blueprint("export", __name__)  # nested under /api by app.api.ingest
FORMATS = ("csv", "xlsx")
FILE = File(
    {
        export.MIMETYPES["csv"]: {"schema": {"type": "string"}},
        export.MIMETYPES["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
    },
    "the file, as an attachment (CSV streamed)",
)


@bp.get("/export")
@documented(Operation({200: FILE}, query=ExportParams))
def export_file() -> Response:
    """The file of the query for the caller's tenant; another tenant's metric exports no
    rows, exactly as /api/data answers no series for it."""
    who = principal(scope="read", role="analyst")
    svc = services()
    args = request.args.to_dict(flat=False)
    problems: list[dict[str, str]] = []
    fmt = (args.get("format") or ["csv"])[0].strip().lower()
    if fmt not in FORMATS or len(args.get("format", [])) > 1:
        problems.append({"field": "format", "message": "give it once: csv or xlsx"})
    query = zone = None
    try:
        query = parse_query(args, svc.now_ms(), max_buckets=None)
    except QueryError as exc:
        problems += exc.details
    try:
        tz = args.get("tz")
        # the reader's zone: theirs, else their organisation's (a key: the organisation's)
        profiles = Profiles(svc.engine)
        preferences = (
            profiles.resolved(who.user)
            if who.user
            else resolve({}, profiles.tenant_preferences(who.tenant_id))
        )
        zone = export.resolve_zone(tz[0] if tz else None, preferences)
    except QueryError as exc:
        problems += exc.details
    if problems or query is None or zone is None:
        raise QueryError(problems)
    tally = export.Tally()
    if fmt == "xlsx":  # TooManyRows is raised here, before the first byte
        chunks = export_xlsx.export_xlsx(
            svc.history_engine(),
            who.tenant_id,
            query,
            zone,
            svc.now_ms(),
            max_rows=export_xlsx.XLSX_MAX_ROWS,
            tally=tally,
        )
    else:
        chunks = export.export_csv(svc.history_engine(), who.tenant_id, query, zone, tally)
    name = export.filename(query, zone, fmt)
    audited = recorded_download(chunks, tally, _recorder(who, query, fmt, name))
    return Response(
        audited if fmt == "xlsx" else stream_with_context(audited),  # a workbook is built
        content_type=export.MIMETYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _recorder(who: Principal, query: DataQuery, fmt: str, name: str) -> Callable[[int, bool], None]:
    """What records the export in the audit log once sent, with its row count."""
    log = AuditLog(services().engine)
    user_id = who.user.user_id if who.user else None
    key = who.key.name if who.key else None
    address = request.remote_addr

    def record(rows: int, complete: bool) -> None:
        details = export.audit_details(query, fmt, rows, complete)
        if key:
            details["key"] = key
        log.record(who.tenant_id, user_id, export.EXPORT_ACTION, name, details, address)

    return record
