"""/api/ingest, /api/metrics, /api/stream-token, /api/dead-letters and /api/openapi.json."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session

from app.api.agent_formats import INGEST_BODY, ingest_lines, precision
from app.api.document import Operation, documented, openapi_document
from app.api.intake import (
    queue_points,
    read_body_capped,
    refuse_problems,
    refuse_too_many,
    window_ms,
)
from app.api.schemas import (
    DeadLetterList,
    IngestAccepted,
    IngestParams,
    MetricsAnswer,
    OpenApiDocument,
    Replayed,
    StreamToken,
    Updates,
    UpdatesParams,
)
from app.errors import ApiError
from app.tokens import SESSION_ID, StreamTokens
from app.web.auth import ANY_SCOPE, principal, services
from data.domain.points import parse_body, validate_points
from data.domain.timefmt import iso_ms
from data.stores.dead_letters import DeadLetters

log = logging.getLogger(__name__)
bp = Blueprint("ingest", __name__)  # nested under /api by app/api/__init__.py
DEAD_ID_RE = re.compile(r"\d{1,20}-\d{1,20}")
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
# /api/updates is served by Starlette on the event loop (app/stream/updates.py), outside
# Flask: described here, where the document is served.
UPDATES = Operation(
    {200: Updates},
    query=UpdatesParams,
    doc="""Long-poll fallback of /ws: points after `cursor`, waiting up to 25 s for some.

    Without `cursor` it answers at once with the current one. A cursor older than the resume
    window answers `reset: true` and the current cursor: reload from /api/data, then poll on
    from it. Session cookie of any role, or a key of scope read.""",
)


@bp.post("/ingest")
@documented(Operation({202: IngestAccepted}, query=IngestParams, body=INGEST_BODY))
def ingest() -> tuple[Response, int]:
    """Validate points and queue them durably, all or none.

    JSON (an array, `{"points": [...]}`, or NDJSON one point a line), or, with an API key,
    Influx line protocol (`text/plain`, `?precision=ns|us|ms|s`): see the README."""
    who = principal(scope="ingest", role="analyst")
    mimetype = request.mimetype or ""
    unit = precision()
    body = read_body_capped()
    # text/plain is line protocol, unless it is plainly JSON: what a browser's fetch() of a
    # JSON string sends, and what this route took before it read line protocol
    if mimetype == "text/plain" and body.lstrip()[:1] not in (b"[", b"{"):
        return ingest_lines(who, unit, body)
    items, problems = parse_body(body, mimetype in NDJSON_TYPES)
    refuse_too_many(len(items))
    if not items:
        raise ApiError(422, "no_points", "the request holds no points")
    now_ms, oldest_ms = window_ms()
    points, found = validate_points(items, now_ms, oldest_ms)
    refuse_problems(problems + found, len(items))
    queue_points(who, points)
    return jsonify({"accepted": len(points)}), 202


@bp.get("/metrics")
@documented(Operation({200: MetricsAnswer}))
def metrics() -> Response:
    """The tenant's metrics with their sources and latest values."""
    who = principal(scope="read")
    latest = services().live.latest(who.tenant_id)
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for (metric, source), (ts_ms, value) in sorted(latest.items()):
        by_metric.setdefault(metric, []).append(
            {"source": source, "value": value, "timestamp": iso_ms(ts_ms)}
        )
    out = []
    for name, series in by_metric.items():
        newest = max(series, key=lambda s: s["timestamp"])
        out.append(
            {
                "name": name,
                "sources": [s["source"] for s in series],
                "latest_value": newest["value"],
                "latest_time": newest["timestamp"],
                "series": series,
            }
        )
    return jsonify({"metrics": out})


@bp.get("/stream-token")
@documented(Operation({200: StreamToken}))
def stream_token() -> Response:
    """A short-lived signed token that opens /ws for the caller's tenant."""
    who = principal(scope="read")
    svc = services()
    tokens = StreamTokens(
        svc.settings.require_secret(), svc.settings.stream_token_ttl_s, clock=svc.clock
    )
    token = tokens.issue(
        who.tenant_id,
        user_id=who.user.user_id if who.user else None,
        key_id=who.key.key_id if who.key else None,
        session_id=session.get(SESSION_ID) if who.user else None,
    )
    return jsonify({"token": token, "expires_in": tokens.ttl_s})


@bp.get("/dead-letters")
@documented(Operation({200: DeadLetterList}))
def dead_letters() -> Response:
    """The tenant's ingest entries that could not be stored, newest first (admins)."""
    who = principal(role="admin")
    letters = DeadLetters(services().live).of_tenant(who.tenant_id)
    return jsonify({"dead_letters": [letter.as_dict() for letter in letters]})


@bp.post("/dead-letters/<dead_id>/replay")
@documented(Operation({202: Replayed}, refusals=(404,)))
def replay_dead_letter(dead_id: str) -> tuple[Response, int]:
    """Put a dead letter back into the ingest stream (admins)."""
    who = principal(role="admin")
    if not DEAD_ID_RE.fullmatch(dead_id):
        raise ApiError(404, "not_found", "no such dead letter")
    if not DeadLetters(services().live).replay(who.tenant_id, dead_id):
        raise ApiError(404, "not_found", "no such dead letter")
    return jsonify({"replayed": dead_id}), 202


@bp.get("/openapi.json")
@documented(Operation({200: OpenApiDocument}))
def openapi() -> Response:
    """The OpenAPI 3 document of every /api route, for any signed-in user or key: the
    contract answers 401 on every /api route without credentials."""
    principal(scope=ANY_SCOPE)
    return jsonify(openapi_document(current_app, {("/api/updates", "get"): UPDATES}))
