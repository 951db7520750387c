"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response

from app.metrics import exposition
from app.web.auth import services
from data.stores.db import ping


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
    """PostgreSQL and Redis both answer."""
    svc = services()
    checks: dict[str, str] = {}
    for name, probe in (("postgres", lambda: ping(svc.engine)), ("redis", svc.redis.ping)):
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
