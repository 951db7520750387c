"""The /api routes of the contract: one module per resource, nested under one blueprint."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, request
from werkzeug.exceptions import HTTPException

from app.api.alerts import bp as alerts_bp
from app.api.data import bp as data_bp
from app.api.embed_tokens import bp as embed_tokens_bp
from app.api.export import bp as export_bp
from app.api.ingest import bp as ingest_bp
from app.api.pipeline import bp as pipeline_bp
from app.api.sources import bp as sources_bp
from app.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_blueprint(ingest_bp)  # /api/ingest, /api/metrics, /api/stream-token, …
bp.register_blueprint(data_bp)  # /api/data
bp.register_blueprint(export_bp)  # /api/export
bp.register_blueprint(pipeline_bp)
bp.register_blueprint(sources_bp)  # /api/sources…
bp.register_blueprint(alerts_bp)  # /api/alerts…, /api/incidents…, /api/notifications…
bp.register_blueprint(embed_tokens_bp)  # /api/embed-tokens…


def init_app(server: Flask) -> None:
    """Register the /api blueprint."""
    server.register_blueprint(bp)
    server.before_request(_api_routes_only)


def _api_routes_only() -> None:
    """Under /api/, answer a JSON 404 rather than Dash's page catch-all serving HTML."""
    rule = request.url_rule
    if not request.path.startswith("/api/") or (rule and rule.rule.startswith("/api/")):
        return
    adapter = current_app.url_map.bind("localhost")
    allowed = []
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if str(endpoint).startswith("api."):
            allowed.append(method)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{request.path} takes {', '.join(allowed)}")
    raise ApiError(404, "not_found", f"no API route {request.method} {request.path}")
