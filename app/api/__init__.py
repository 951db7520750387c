"""The /api routes of the contract: one module per resource, nested under one blueprint."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from app.api.accounts_public import bp as accounts_public_bp
from app.api.admin import bp as admin_bp
from app.api.agent_formats import bp as agent_formats_bp
from app.api.alerts import bp as alerts_bp
from app.api.audit import bp as audit_bp
from app.api.dashboards import bp as dashboards_bp
from app.api.data import bp as data_bp
from app.api.embed_tokens import bp as embed_tokens_bp
from app.api.export import bp as export_bp
from app.api.forecast import bp as forecast_bp
from app.api.ingest import bp as ingest_bp
from app.api.invites import bp as invites_bp
from app.api.me import bp as me_bp
from app.api.pipeline import bp as pipeline_bp
from app.api.source_trials import bp as source_trials_bp
from app.api.sources import bp as sources_bp
from app.api.verification import bp as verification_bp
from app.errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api")
bp.register_blueprint(ingest_bp)  # /api/ingest, /api/metrics, /api/stream-token, …
bp.register_blueprint(agent_formats_bp)  # /api/v1/write (and line protocol's parser)
bp.register_blueprint(data_bp)  # /api/data
bp.register_blueprint(export_bp)  # /api/export
bp.register_blueprint(forecast_bp)  # /api/forecast, /api/forecast/band
bp.register_blueprint(pipeline_bp)
bp.register_blueprint(sources_bp)  # /api/sources…
bp.register_blueprint(alerts_bp)  # /api/alerts…, /api/incidents…, /api/notifications…
bp.register_blueprint(embed_tokens_bp)  # /api/embed-tokens…
bp.register_blueprint(dashboards_bp)  # /api/dashboards…
bp.register_blueprint(audit_bp)  # /api/audit, /api/audit/export
bp.register_blueprint(me_bp)  # /api/me…, /api/tenant/preferences
bp.register_blueprint(verification_bp)  # /api/me/verification
bp.register_blueprint(admin_bp)  # /api/users…, /api/keys…
bp.register_blueprint(source_trials_bp)  # /api/sources/{id}/test
bp.register_blueprint(accounts_public_bp)  # /api/signup, /api/password-reset…
bp.register_blueprint(invites_bp)  # /api/invites…


def init_app(server: Flask) -> None:
    """Register the /api blueprint."""
    server.register_blueprint(bp)
    server.before_request(_api_routes_only)


def _api_routes_only() -> Response | None:
    """Under /api/, answer for the API's own routes only: a JSON 404 rather than Dash's page
    catch-all serving HTML, a JSON 405 naming the methods in `Allow`, and OPTIONS with the
    API's methods (Flask's own would count the page catch-all's GET)."""
    if not request.path.startswith("/api/"):
        return None
    rule = request.url_rule
    ours = rule is not None and rule.rule.startswith("/api/")
    if ours and not rule.arguments and request.method != "OPTIONS":  # type: ignore[union-attr]
        return None  # a literal path: the route is exactly the one asked for
    allowed = api_methods(request.path)
    if request.method == "OPTIONS" and allowed:
        return Response(status=204, headers={"Allow": ", ".join([*allowed, "OPTIONS"])})
    if ours and request.method in allowed:
        return None
    if allowed:
        message = f"{request.path} takes {', '.join(m for m in allowed if m != 'HEAD')}"
        raise ApiError(405, "method_not_allowed", message, headers={"Allow": ", ".join(allowed)})
    raise ApiError(404, "not_found", f"no API route {request.method} {request.path}")


def api_methods(path: str) -> list[str]:
    """The methods the API's routes take at `path`. A literal route owns its path: at
    /api/alerts/preview only its POST, not the GET of /api/alerts/<rule_id>."""
    adapter = current_app.url_map.bind("localhost")
    found: dict[str, Rule] = {}
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except HTTPException:
            continue
        if str(rule.endpoint).startswith("api."):
            found[method] = rule
    literal = [method for method, rule in found.items() if not rule.arguments]
    methods = literal or list(found)
    return [*methods, "HEAD"] if "GET" in methods else methods
