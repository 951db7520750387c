"""The agents' front doors: Influx line protocol on `POST /api/ingest` (`text/plain`, as
Telegraf and Grafana Live's push send it) and Prometheus remote write on
`POST /api/v1/write` (snappy protobuf, as Prometheus, Grafana Alloy and Vector send it).

Both map into the points of the JSON ingest (data/domain/line_protocol.py and
remote_write.py say how) and go the same way: the same limits, all or nothing, a 422
naming each bad line (series), the same durable queue. Both take an API key of scope
ingest (Bearer, or Basic with the key as password); a session cookie cannot send them,
as writes carried by a cookie must be JSON (app/web/security.py)."""

from __future__ import annotations

import zlib

from flask import Blueprint, Response, jsonify, request

from app.api.document import Body, Operation, documented
from app.api.intake import (
    queue_points,
    read_body_capped,
    refuse_problems,
    refuse_too_many,
    window_ms,
)
from app.api.schemas import AgentAccepted, IngestBody
from app.errors import ApiError
from app.web.auth import Principal, principal
from data.domain import remote_write
from data.domain.agent_points import Parsed
from data.domain.line_protocol import PRECISIONS, parse_lines
from data.domain.points import MAX_BODY_BYTES

bp = Blueprint("agent_formats", __name__)  # nested under /api by app/api/__init__.py
LINE_PROTOCOL = "text/plain"
PROTOBUF = "application/x-protobuf"
INGEST_BODY = Body(
    IngestBody,
    ndjson=True,
    media={
        LINE_PROTOCOL: {
            "type": "string",
            "description": "Influx line protocol, one point a line (API key only)",
        }
    },
)
WRITE_BODY = Body(
    None,
    media={
        PROTOBUF: {
            "type": "string",
            "format": "binary",
            "description": "a snappy-compressed (block) prometheus.WriteRequest",
        }
    },
)


def precision() -> str:
    """The `precision` parameter of a line-protocol request (422 when unknown)."""
    value = request.args.get("precision", "ns")
    if value not in PRECISIONS:
        raise ApiError(
            422,
            "invalid_parameter",
            "precision must be one of ns, us, ms, s",
            [{"field": "precision", "message": "must be one of ns, us, ms, s"}],
        )
    return value


def ingest_lines(who: Principal, unit: str, body: bytes) -> tuple[Response, int]:
    """`POST /api/ingest` with line protocol: queue its points, all or none."""
    encoding = request.headers.get("Content-Encoding", "identity").lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, "unsupported_media_type", "line protocol may be gzip-compressed only")
    if encoding == "gzip":  # Telegraf's content_encoding = "gzip"
        body = _gunzipped(body)
    now_ms, oldest_ms = window_ms()
    parsed = parse_lines(body, unit, now_ms, oldest_ms)
    if not parsed.points and not parsed.problems and not parsed.skipped:
        raise ApiError(422, "no_points", "the request holds no points")
    return _accept(who, parsed)


def _gunzipped(body: bytes) -> bytes:
    """The text of a gzip body, held to the body limit once unpacked too (413)."""
    unpack = zlib.decompressobj(wbits=31)
    try:
        text = unpack.decompress(body, MAX_BODY_BYTES)
    except zlib.error:
        raise ApiError(400, "invalid_body", "the body is not gzip-compressed") from None
    if unpack.unconsumed_tail:
        raise ApiError(413, "body_too_large", f"the body unpacks to over {MAX_BODY_BYTES} bytes")
    if not unpack.eof:
        raise ApiError(400, "invalid_body", "the gzip body is cut short")
    return text


@bp.post("/v1/write")
@documented(Operation({202: AgentAccepted}, body=WRITE_BODY))
def write() -> tuple[Response, int]:
    """Prometheus remote write 1.0: queue the samples as points, all or none.

    Snappy-compressed protobuf `WriteRequest`, with an API key of scope ingest (Bearer, or
    Basic with the key as password). `__name__` is the metric, `instance` (else `job`) the
    source, other labels are folded into the metric; NaN and stale markers are skipped."""
    who = principal(scope="ingest", role="analyst")
    proto = request.mimetype_params.get("proto", "prometheus.WriteRequest")
    if (request.mimetype or "") != PROTOBUF or proto != "prometheus.WriteRequest":
        raise ApiError(
            415, "unsupported_media_type", "send remote write 1.0: application/x-protobuf"
        )
    if request.headers.get("Content-Encoding", "snappy").lower() != "snappy":
        raise ApiError(415, "unsupported_media_type", "the body must be snappy-compressed")
    body = read_body_capped()
    try:
        decoded = remote_write.decode(body)
    except remote_write.DecodedTooLarge as exc:
        raise ApiError(413, "body_too_large", str(exc)) from None
    refuse_too_many(remote_write.sample_count(decoded))
    now_ms, oldest_ms = window_ms()
    return _accept(who, remote_write.to_points(decoded, now_ms, oldest_ms))


def _accept(who: Principal, parsed: Parsed) -> tuple[Response, int]:
    """Refuse the request if any of it is bad; else queue its points."""
    count = len(parsed.points) + parsed.skipped
    refuse_too_many(count)
    refuse_problems(parsed.problems, count)
    if parsed.points:
        queue_points(who, parsed.points)
    return jsonify({"accepted": len(parsed.points), "skipped": parsed.skipped}), 202
