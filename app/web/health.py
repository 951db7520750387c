"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app

from app.drain import FLASK_EXTENSION, readiness
from app.metrics import exposition
from app.web.auth import services


def init_app(server: Flask) -> None:
    """Register /healthz and /readyz."""
    server.add_url_rule("/healthz", "healthz", healthz)
    server.add_url_rule("/readyz", "readyz", readyz)
    server.add_url_rule("/metrics", "metrics", metrics)


def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


def metrics() -> Response:
    """Prometheus exposition of Pulse's own figures."""
    svc = services()
    body, content_type = exposition(svc.live, svc.engine, svc.reads)
    return Response(body, content_type=content_type)


def readyz() -> tuple[dict[str, Any], int]:
    """PostgreSQL and Redis both answer, and the process is not draining (SIGTERM)."""
    return readiness(services(), current_app.extensions.get(FLASK_EXTENSION))
