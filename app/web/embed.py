"""`/embed/<token>` (CONTRACT.md §7): one dashboard or widget, no chrome, read-only, live,
for another site's iframe, opened by its signed token alone: no session cookie, since
browsers block third-party cookies in iframes.

Not a Dash page: a Dash page's callbacks would each need the token re-checked against the
resource, and Dash's own routes answer for any page of the app. The embed is a static page
and script (plotly.js, as Dash ships it) whose one data request, `/embed/<token>/data`,
answers the resource's own queries (its widgets', within the token's locked sources) and
nothing else; its live points come from /ws opened with the same token, where the gateway
holds the socket to the same series (app/stream/embeds.py). Query parameters may narrow an
answer, never widen it: a metric or source outside the resource is 403. A notifications
widget shows the tenant's latest notifications (read-only, within the locked sources), in
the data and from `/embed/<token>/notifications`, which the page asks again every few
seconds (an embed's socket is nobody's, so no notification reaches it); an embed whose
resource has no notifications widget gets 403 there.

Framing: `/embed/…` may be framed by EMBED_ALLOWED_ORIGINS only (`'self'` when none is
listed); every other page keeps `frame-ancestors 'self'` and `X-Frame-Options: SAMEORIGIN`.
"""

from __future__ import annotations

import re
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, request, send_file
from redis.exceptions import RedisError

from app.errors import ApiError
from app.logs import TENANT
from app.web.auth import services
from data.domain.dashboards import Widget
from data.domain.data_query import parse_query
from data.domain.embeds import (
    EmbedClaims,
    EmbedSigner,
    EmbedTokenError,
    SeriesScope,
    check_narrowing,
    embed_scopes,
    series_in_scope,
)
from data.domain.errors import Forbidden
from data.stores.embed_notifications import latest_notifications
from data.stores.embed_tokens import EmbedTokens
from data.stores.queries import DataQueries

PREFIX = "/embed/"
STATIC = Path(__file__).with_name("embed_static")
_FRAME_ANCESTORS = re.compile(r"frame-ancestors [^;]*")
MESSAGES = {
    "expired": "This embed has expired.",
    "revoked": "This embed was revoked.",
    "invalid": "This embed link is not valid.",
}
PAGE = """<!DOCTYPE html>
<html lang="en" data-theme="{theme}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Pulse embed</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/embed/_/embed.css"></head>
<body data-state="{state}"><main id="embed-root"><p id="embed-message">{message}</p></main>
{scripts}</body></html>
"""
SCRIPTS = '<script src="/embed/_/plotly.min.js"></script><script src="/embed/_/embed.js"></script>'


def embed_tokens() -> EmbedTokens:
    """The embed tokens of the running app."""
    svc = services()
    signer = EmbedSigner(svc.settings.require_secret())
    return EmbedTokens(svc.engine, svc.redis, svc.settings.redis_prefix, signer, svc.clock)


def init_app(server: Flask) -> None:
    """Add the embed page, its data, its files, and its framing headers."""
    server.add_url_rule("/embed/_/<name>", "embed_file", _file)
    server.add_url_rule("/embed/<token>", "embed_page", _page)
    server.add_url_rule("/embed/<token>/data", "embed_data", _data)
    server.add_url_rule("/embed/<token>/notifications", "embed_notifications", _notifications)
    # anything else under /embed/ is no page: Dash's catch-all would serve its shell
    server.add_url_rule("/embed/", "embed_none", _nothing, defaults={"rest": ""})
    server.add_url_rule("/embed/<path:rest>", "embed_nothing", _nothing)
    # registered before Talisman's (app/web/security.py), so it runs after it
    server.after_request(_framing_headers)


def _page(token: str) -> tuple[str, int, dict[str, str]]:
    try:
        embed_tokens().verify(token)
    except EmbedTokenError as err:
        status = 404 if err.reason == "invalid" else 401
        return _html(err.reason, MESSAGES[err.reason], ""), status, _no_store()
    return _html("loading", "Loading…", SCRIPTS), 200, _no_store()


def _nothing(rest: str) -> tuple[str, int, dict[str, str]]:
    return _html("invalid", MESSAGES["invalid"], ""), 404, _no_store()


def _html(state: str, message: str, scripts: str) -> str:
    # light unless the embedding page asks for dark (`?theme=dark` on the iframe's URL)
    theme = "dark" if request.args.get("theme") == "dark" else "light"
    return PAGE.format(state=escape(state), message=escape(message), scripts=scripts, theme=theme)


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8"}


def _file(name: str) -> Response:
    if name == "plotly.min.js":
        path = resources.files("plotly") / "package_data" / "plotly.min.js"
        return send_file(str(path), mimetype="text/javascript", max_age=86_400)
    if name not in ("embed.js", "embed.css"):
        raise ApiError(404, "not_found", "no such file")
    kind = "text/javascript" if name.endswith(".js") else "text/css"
    return send_file(STATIC / name, mimetype=kind, max_age=300)


def claims_or_refuse(token: str) -> EmbedClaims:
    """The claims of a live token; 401 naming why not (expired, revoked, invalid)."""
    try:
        claims = embed_tokens().verify(token)
    except EmbedTokenError as err:
        raise ApiError(401, f"embed_{err.reason}", MESSAGES[err.reason]) from None
    TENANT.set(claims.tenant_id)
    return claims


def _data(token: str) -> Response:
    """The resource's widgets with their history, as its own queries read it."""
    claims = claims_or_refuse(token)
    svc = services()
    spec = embed_tokens().dashboard_spec(claims.tenant_id, claims.resource.dashboard_id)
    scopes = embed_scopes(spec, claims.resource, claims.sources)
    metrics, sources = request.args.getlist("metric"), request.args.getlist("source")
    check_narrowing([s for _, s in scopes], metrics, sources)
    # read before the queries: going live from it may repeat a point, never miss one
    cursor = _current_cursor(claims.tenant_id)
    known = {
        pair
        for pair in svc.live.latest(claims.tenant_id)
        if (not metrics or pair[0] in metrics) and (not sources or pair[1] in sources)
    }
    widgets = []
    for widget, scope in scopes:
        time = widget.time or spec.time
        doc: dict[str, Any] = {
            "id": widget.id,
            "type": widget.type,
            "title": widget.title,
            "live": widget.live,
            "layout": widget.layout.model_dump(),
            "scope": {"metric": list(scope.metrics), "source": list(scope.sources)},
        }
        if widget.type == "notifications":
            doc["series"] = []
            doc["notifications"] = latest_notifications(svc.engine, *_notes_of(claims))
        else:
            window = (time.start, time.end)
            doc["series"], doc["step_ms"] = _history(claims.tenant_id, scope, known, window, widget)
        widgets.append(doc)
    body = {
        "title": spec.title,
        "resource": claims.resource.as_dict(),
        "locked_sources": list(claims.sources),
        "expires_at": claims.expires_at,
        "widgets": widgets,
        "cursor": cursor,
    }
    return Response(orjson.dumps(body), mimetype="application/json", headers=_no_cache())


def _current_cursor(tenant_id: str) -> str | None:
    try:
        return services().live.current_cursor(tenant_id)
    except RedisError:
        return None  # the page goes live from now on instead


def _no_cache() -> dict[str, str]:
    return {"Cache-Control": "no-store"}


def _history(
    tenant_id: str,
    scope: SeriesScope,
    known: set[tuple[str, str]],
    window: tuple[str, str],
    widget: Widget,
) -> tuple[list[dict[str, Any]], int | None]:
    """The widget's series over its range, only those of its scope (none: nothing asked),
    and the bucket width in ms (a live heatmap puts its points in buckets of it)."""
    metrics, sources = series_in_scope(scope, known)
    if not metrics:
        return [], None
    svc = services()
    args: dict[str, list[str]] = {
        "metric": list(metrics),
        "source": list(sources),
        "start": [window[0]],
        "end": [window[1]],
        "step": [widget.query.step],
        "agg": [widget.query.agg],
    }
    query = parse_query(args, svc.now_ms())
    answer = orjson.loads(DataQueries(svc.history_engine(), svc.live).answer(tenant_id, query))
    series = [s for s in answer["series"] if scope.allows(s["metric"], s["source"])]
    return series, query.step_ms


def _notes_of(claims: EmbedClaims) -> tuple[str, tuple[str, ...]]:
    return claims.tenant_id, claims.sources


def _notifications(token: str) -> Response:
    """The tenant's latest notifications, for an embed whose resource has a notifications
    widget; 403 for any other (a widget embed of a chart reads no notifications)."""
    claims = claims_or_refuse(token)
    spec = embed_tokens().dashboard_spec(claims.tenant_id, claims.resource.dashboard_id)
    scopes = embed_scopes(spec, claims.resource, claims.sources)
    if not any(widget.type == "notifications" for widget, _ in scopes):
        raise Forbidden("this embed shows no notifications")
    notes = latest_notifications(services().engine, *_notes_of(claims))
    body = {"notifications": notes}
    return Response(orjson.dumps(body), mimetype="application/json", headers=_no_cache())


def _framing_headers(response: Response) -> Response:
    """Who may frame an embed: EMBED_ALLOWED_ORIGINS, else only Pulse itself."""
    if not request.path.startswith(PREFIX):
        return response
    origins = services().settings.allowed_origins
    ancestors = "frame-ancestors " + (" ".join(origins) if origins else "'self'")
    policy = response.headers.get("Content-Security-Policy")
    if policy:
        response.headers["Content-Security-Policy"] = _FRAME_ANCESTORS.sub(ancestors, policy)
    response.headers.pop("X-Frame-Options", None)
    return response
