"""API errors: raised anywhere in a request, rendered as the contract's JSON in one place."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from flask import Flask, Response, jsonify, request
from psycopg.errors import QueryCanceled
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from data.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    QuotaExceeded,
    Unreadable,
)

log = logging.getLogger(__name__)
RETRY_AFTER_S = 1


class ApiError(Exception):
    """A refusal with its HTTP status, machine code, message and optional details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def response(self) -> Response:
        """The JSON answer for this error."""
        body = {"error": {"code": self.code, "message": self.message, "details": self.details}}
        resp = jsonify(body)
        resp.status_code = self.status
        resp.headers.update(self.headers)
        if self.status == 503:  # a store is away: say when a retry makes sense
            resp.headers["Retry-After"] = str(RETRY_AFTER_S)
        return resp


# Redis or PostgreSQL away (restarting, unreachable): the request may succeed when retried.
# A Redis ConnectionError also covers "loading the dataset" after a restart.
_OUTAGES = (RedisConnectionError, RedisTimeoutError, psycopg.OperationalError)


def is_outage(err: BaseException) -> bool:
    """Whether `err` says a backing service is unreachable, not that the request is wrong."""
    if isinstance(err, DBAPIError):  # SQLAlchemy wraps the driver's error
        return err.connection_invalidated or isinstance(err.orig, psycopg.OperationalError)
    return isinstance(err, _OUTAGES)


# The contract's status of each domain refusal (the most specific class listed first wins).
_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (Unreadable, 400),
    (Invalid, 422),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (QuotaExceeded, 409),
)
# A refused rule, source or silence is summed up by its count of problems (the details name
# each); a refused query by the problems themselves, as a page shows them.
_COUNTED_SUBJECTS = ("rule", "source", "silence")


def domain_response(err: DomainError) -> ApiError:
    """The contract's answer to a domain refusal."""
    status = next((code for kind, code in _STATUS if isinstance(err, kind)), 422)
    if isinstance(err, Invalid):
        message = err.message
        if err.subject in _COUNTED_SUBJECTS:
            message = f"{len(err.details)} problem(s)"
        return ApiError(status, err.code, message, err.details)
    return ApiError(status, err.code, err.message)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/_dash-")) or request.is_json


def init_app(server: Flask) -> None:
    """Render ApiError, domain refusals, and any HTTP error under /api, as JSON."""

    @server.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        return err.response()

    @server.errorhandler(DomainError)
    def _domain_error(err: DomainError) -> Response:
        return domain_response(err).response()

    @server.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        if not _wants_json():
            return err
        if isinstance(err, RequestEntityTooLarge):  # a body without Content-Length, cut off
            limit = request.max_content_length
            return ApiError(413, "body_too_large", f"the body is over {limit} bytes").response()
        code = (err.name or "error").lower().replace(" ", "_")
        allowed = getattr(err, "valid_methods", None)  # a 405 names what the route takes
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        return ApiError(
            err.code or 500, code, err.description or err.name, headers=headers
        ).response()

    @server.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        if isinstance(err, DBAPIError) and isinstance(err.orig, QueryCanceled):
            log.warning("%s %s: statement timeout", request.method, request.path)
            message = "the query took too long; narrow the range or choose a coarser step"
            return ApiError(422, "query_too_expensive", message).response()
        if is_outage(err):
            log.warning("%s %s: service unavailable: %s", request.method, request.path, err)
            message = "a backing service is unavailable; retry"
            return ApiError(503, "service_unavailable", message).response()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "internal", "internal error; it has been logged").response()
