"""What every ingest format shares (JSON, line protocol, remote write): the capped body,
the all-or-nothing refusal of bad points, and the durable queueing (CONTRACT §3 Points)."""

from __future__ import annotations

import logging

from flask import request
from redis.exceptions import RedisError

from app.errors import ApiError
from app.metrics import POINTS_ACCEPTED, POINTS_REFUSED
from app.web.auth import Principal, services
from data.domain.points import MAX_BODY_BYTES, MAX_POINTS, Point, Problem

log = logging.getLogger(__name__)


def read_body_capped() -> bytes:
    """The request body, refusing with 413 before reading when it is over the limit."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    return body


def window_ms() -> tuple[int, int]:
    """Now and the oldest time a point may have (the retention window), epoch ms."""
    svc = services()
    now_ms = svc.now_ms()
    return now_ms, now_ms - svc.settings.retention_raw_days * 86_400_000


def refuse_too_many(count: int) -> None:
    """413 when a request holds more points than one may."""
    if count > MAX_POINTS:
        POINTS_REFUSED.labels("too_many_points").inc(count)
        raise ApiError(413, "too_many_points", f"at most {MAX_POINTS} points per request")


def refuse_problems(problems: list[Problem], count: int) -> None:
    """422 naming every problem when there is any: nothing of the request is queued."""
    if not problems:
        return
    details = [p.as_dict() for p in sorted(problems, key=lambda p: p.index)]
    POINTS_REFUSED.labels("invalid").inc(count)
    log.info("refused %d points: %d problem(s)", count, len(details))
    raise ApiError(422, "invalid_points", f"{len(details)} problem(s); nothing was stored", details)


def queue_points(who: Principal, points: list[Point]) -> None:
    """Queue the points durably for the caller's tenant (503 when the queue is away)."""
    try:
        services().live.enqueue(who.tenant_id, points)
    except RedisError:
        POINTS_REFUSED.labels("queue_unavailable").inc(len(points))
        raise ApiError(503, "queue_unavailable", "points could not be queued; retry") from None
    POINTS_ACCEPTED.inc(len(points))
