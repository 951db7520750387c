"""/api/ingest, /api/metrics, /api/stream-token, /api/dead-letters and /api/openapi.json."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session
from redis.exceptions import RedisError

from app.api.document import Body, Operation, documented, openapi_document
from app.api.schemas import (
    Accepted,
    DeadLetterList,
    IngestBody,
    MetricsAnswer,
    OpenApiDocument,
    Replayed,
    StreamToken,
    Updates,
    UpdatesParams,
)
from app.errors import ApiError
from app.metrics import POINTS_ACCEPTED, POINTS_REFUSED
from app.tokens import SESSION_ID, StreamTokens
from app.web.auth import ANY_SCOPE, principal, services
from data.domain.points import MAX_BODY_BYTES, MAX_POINTS, parse_body, validate_points
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


def _read_body_capped() -> bytes:
    """The request body, refusing with 413 before reading when it is over the limit."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    return body


@bp.post("/ingest")
@documented(Operation({202: Accepted}, body=Body(IngestBody, ndjson=True)))
def ingest() -> tuple[Response, int]:
    """Validate points and queue them durably, all or none."""
    who = principal(scope="ingest", role="analyst")
    body = _read_body_capped()
    ndjson = (request.mimetype or "") in NDJSON_TYPES
    items, problems = parse_body(body, ndjson)
    if len(items) > MAX_POINTS:
        POINTS_REFUSED.labels("too_many_points").inc(len(items))
        raise ApiError(413, "too_many_points", f"at most {MAX_POINTS} points per request")
    if not items:
        raise ApiError(422, "no_points", "the request holds no points")
    svc = services()
    now_ms = svc.now_ms()
    oldest_ms = now_ms - svc.settings.retention_raw_days * 86_400_000
    points, found = validate_points(items, now_ms, oldest_ms)
    problems += found
    if problems:
        details = [p.as_dict() for p in sorted(problems, key=lambda p: p.index)]
        POINTS_REFUSED.labels("invalid").inc(len(items))
        log.info("refused %d points: %d problem(s)", len(items), len(details))
        raise ApiError(
            422, "invalid_points", f"{len(details)} problem(s); nothing was stored", details
        )
    try:
        svc.live.enqueue(who.tenant_id, points)
    except RedisError:
        POINTS_REFUSED.labels("queue_unavailable").inc(len(points))
        raise ApiError(503, "queue_unavailable", "points could not be queued; retry") from None
    POINTS_ACCEPTED.inc(len(points))
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
