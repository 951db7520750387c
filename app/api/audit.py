"""/api/audit (CONTRACT.md §8 Audit): the tenant's audit log, for admins signed in.

Events come newest first, `limit` at a time (default 100, at most 500). `before` is an
opaque cursor: pass the `next` of the page before to get the one after it (null on the last
page); rows are numbered as they are appended, so paging never skips nor repeats an event
even while new ones arrive. `actor` is a username (or a user id), `action` a prefix
(`user.` matches `user.create`), `since` (inclusive) and `until` (exclusive) are times:
RFC 3339, epoch seconds, or relative such as now-7d. /api/audit/export streams the same
filter as CSV, every matching event (its limit aside), and is itself audited. API keys are
refused (403): the audit log is for people.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from pydantic import BaseModel, Field

from app.api.document import File, Operation, documented
from app.api.schemas import Query
from app.web.auth import Principal, principal, services
from data.domain.audit_chain import (
    CURSOR_RE,
    DEFAULT_LIMIT,
    MAX_ACTION,
    MAX_ACTOR,
    MAX_LIMIT,
    TIME_HELP,
    AuditFilter,
    parse_audit_filter,
)
from data.stores.audit import AuditLog
from data.views.audit_csv import audit_csv, recorded_download
from data.views.export import MIMETYPES, Tally

bp = Blueprint("audit", __name__, url_prefix="/audit")
EXPORT_ACTION = "export.audit"


class AuditParams(Query):
    """Which events: newest first, filtered, a page at a time."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    before: str | None = Field(
        None, pattern=f"^{CURSOR_RE.pattern}$", description="the `next` of the previous page"
    )
    actor: str | None = Field(None, max_length=MAX_ACTOR, description="a username")
    action: str | None = Field(
        None, max_length=MAX_ACTION, description="a prefix of the action: user. or rule.create"
    )
    since: str | None = Field(None, description=f"inclusive; {TIME_HELP}")
    until: str | None = Field(None, description=f"exclusive; {TIME_HELP}")


class AuditExportParams(AuditParams):
    """The same filter as /api/audit; every matching event, the limit aside."""


class AuditEventModel(BaseModel):
    """One event: who (`actor`, null for Pulse itself) did what (`action`) to what
    (`target`), from where (`ip`), with what changed (`details`)."""

    id: str = Field(description="this event's cursor: `before` continues after it")
    at: datetime
    actor: str | None
    action: str = Field(examples=["auth.sign_in", "source.update", "export.data"])
    target: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """Events newest first, and the `before` of the next page (null: none left)."""

    events: list[AuditEventModel]
    next: str | None


CSV = File({MIMETYPES["csv"]: {"schema": {"type": "string"}}}, "the events as CSV, streamed")


def _admin_and_filter() -> tuple[Principal, AuditFilter]:
    who = principal(role="admin")  # no scope: no key may read it
    return who, parse_audit_filter(request.args.to_dict(flat=False), services().now_ms())


@bp.get("")
@documented(Operation({200: AuditPage}, query=AuditParams))
def list_events() -> Response:
    """The tenant's audit events, newest first, a page at a time."""
    who, wanted = _admin_and_filter()
    events, after = AuditLog(services().engine).page(who.tenant_id, wanted)
    return jsonify({"events": [e.as_dict() for e in events], "next": after})


@bp.get("/export")
@documented(Operation({200: CSV}, query=AuditExportParams))
def export_events() -> Response:
    """The tenant's audit events of the filter, as a CSV file."""
    who, wanted = _admin_and_filter()
    log = AuditLog(services().engine)
    user_id = who.user.user_id if who.user else None
    address = request.remote_addr
    tally = Tally()

    def record(rows: int, complete: bool) -> None:
        details = {"rows": rows, "complete": complete, "filter": request_filter(wanted)}
        log.record(who.tenant_id, user_id, EXPORT_ACTION, "audit.csv", details, address)

    chunks = recorded_download(audit_csv(log.stream(who.tenant_id, wanted), tally), tally, record)
    return Response(
        stream_with_context(chunks),
        content_type=MIMETYPES["csv"],
        headers={
            "Content-Disposition": 'attachment; filename="pulse_audit.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def request_filter(wanted: AuditFilter) -> dict[str, Any]:
    """The filter as the audit of an export records it (what was asked, not defaults)."""
    doc = {
        "actor": wanted.actor,
        "action": wanted.action,
        "since_ms": wanted.since_ms,
        "until_ms": wanted.until_ms,
        "before": wanted.before,
    }
    return {name: value for name, value in doc.items() if value is not None}
