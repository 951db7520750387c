"""API errors: raised anywhere in a request, rendered as the contract's JSON in one place."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A refusal with its HTTP status, machine code, message and optional details."""

    def __init__(
        self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []

    def response(self) -> Response:
        """The JSON answer for this error."""
        body = {"error": {"code": self.code, "message": self.message, "details": self.details}}
        resp = jsonify(body)
        resp.status_code = self.status
        return resp


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/_dash-")) or request.is_json


def init_app(server: Flask) -> None:
    """Render ApiError, and any HTTP error under /api, as JSON."""

    @server.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        return err.response()

    @server.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Any:
        if not _wants_json():
            return err
        code = (err.name or "error").lower().replace(" ", "_")
        return ApiError(err.code or 500, code, err.description or err.name).response()

    @server.errorhandler(Exception)
    def _unexpected(err: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "internal", "internal error; it has been logged").response()
