"""`GET /api/export`: the query of `/api/data` as a CSV or Excel file (CONTRACT §3).

Analysts and admins (exports are an analyst right), or a `read` key. The parameters are
those of /api/data plus `format=csv|xlsx` and `tz` (an IANA zone; else the user's
preference, else UTC). An explicit step is not capped at /api/data's 10,000 buckets per
series: a file streams whatever the range holds (buckets without points are absent, so the
rows never outnumber the stored points). Everything is checked before the first byte: bad
parameters, and for Excel a series over a sheet's row limit, answer a JSON 422."""

from __future__ import annotations

from flask import Blueprint, Response, request, stream_with_context

from app.api.document import File, Operation, documented
from app.api.schemas import ExportParams
from app.web.auth import principal, services
from data.domain.data_query import QueryError, parse_query
from data.domain.preferences import resolve
from data.stores.profiles import Profiles
from data.views import export, export_xlsx

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
    if fmt == "xlsx":  # TooManyRows is raised here, before the first byte
        chunks = export_xlsx.export_xlsx(
            svc.engine, who.tenant_id, query, zone, svc.now_ms(), max_rows=export_xlsx.XLSX_MAX_ROWS
        )
    else:
        chunks = stream_with_context(export.export_csv(svc.engine, who.tenant_id, query, zone))
    name = export.filename(query, zone, fmt)
    return Response(
        chunks,
        content_type=export.MIMETYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
