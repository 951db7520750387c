"""What every request passes before a route sees it: body limits, JSON that cannot crash a
parser, and refusal of cross-site writes made with the session cookie (CSRF); and the
headers every answer carries (Content-Security-Policy, framing, referrer).

Cross-site writes: a browser attaches the session cookie to a form or fetch another site
sends here (`SameSite=Lax` spares only some of them), so a write carried by the cookie must
come from a page of this origin. Browsers name the page's origin in `Origin` (every POST,
PUT and DELETE) or at least `Referer`; a request with neither is not a browser acting on
its own. Writes to `/api` and Dash callbacks must also be JSON, a content type no form can
send and no other site may use without a CORS preflight, which Pulse never grants. Requests
with `Authorization: Bearer` are exempt: a browser never adds that header by itself; so are
the ingest routes' `Basic` (agents send their key so), which never falls back to the cookie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import dash
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_login import current_user
from flask_talisman import Talisman

from app.errors import ApiError
from app.web.auth import BASIC_KEY_PATHS
from data.domain import jsontext

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = ("application/json", "application/x-ndjson", "application/ndjson", "application/jsonl")
# the largest body each kind of request may send
LOGIN_BODY_BYTES = 64 * 1024
API_BODY_BYTES = 1024 * 1024
DASH_BODY_BYTES = 8 * 1024 * 1024  # callbacks post the state they read (figures, tables)
OTHER_BODY_BYTES = 64 * 1024


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies through `jsontext.loads` (no RecursionError)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return jsontext.loads(s)


def init_app(server: Flask) -> None:
    """Install the body limits, the JSON provider and the cross-site check."""
    server.json = SafeJSONProvider(server)
    server.before_request(limit_body)
    server.before_request(refuse_cross_site_writes)


def body_limit(path: str) -> int | None:
    """The most bytes a request to `path` may send (None: the route enforces its own)."""
    if path in ("/api/ingest", "/api/v1/write"):
        return None  # they read at most one byte past MAX_BODY_BYTES and say 413 themselves
    if path.startswith("/login"):
        return LOGIN_BODY_BYTES
    if path.startswith("/api/"):
        return API_BODY_BYTES
    if path.startswith("/_dash-"):
        return DASH_BODY_BYTES
    return OTHER_BODY_BYTES


def limit_body() -> None:
    """Refuse an over-long body before anything reads it."""
    limit = body_limit(request.path)
    request.max_content_length = limit
    if limit is not None and (request.content_length or 0) > limit:
        raise ApiError(413, "body_too_large", f"the body is over {limit} bytes")


def refuse_cross_site_writes() -> None:
    """Refuse a cookie-carried write whose page is of another origin, or that is not JSON."""
    if request.method not in UNSAFE_METHODS or _has_key():
        return
    origin = _page_origin()
    if origin is not None and origin != _own_origin():
        raise ApiError(403, "cross_site", "writes must come from Pulse's own pages")
    if request.path in BASIC_KEY_PATHS and not current_user.is_authenticated:
        return  # no key and no session: the route answers 401, which tells an agent more
    if request.routing_exception is not None:
        return  # no route takes this method here: its 404 or 405 says more than a 415
    needs_json = request.path.startswith(("/api/", "/_dash-"))
    if needs_json and request.headers.get("Content-Type") and request.mimetype not in JSON_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as application/json (or x-ndjson); line protocol and remote write"
            " take an API key (Authorization: Bearer)",
        )


def _has_key() -> bool:
    """Whether the request names an API key: Bearer, or Basic on the ingest routes, where
    agents send it so. Then the session cookie is never what authenticates it (app/web/auth.py
    `principal`)."""
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") or (
        header.startswith("Basic ") and request.path in BASIC_KEY_PATHS
    )


def _page_origin() -> str | None:
    """The origin of the page that made the request, as the browser told it (None: no
    browser said; `null` from a sandboxed or privacy-stripped page counts as foreign)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin
    referer = request.headers.get("Referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "null"


def _own_origin() -> str:
    return f"{request.scheme}://{request.host}"


def content_security_policy(script_hashes: Sequence[str]) -> dict[str, str | list[str]]:
    """What a page may load and run: its own origin's files, the inline scripts Dash writes
    into every page (allowed by their hashes, nothing else inline), styles inline (React and
    Plotly set them on elements), images and fonts as data: URLs too, and no framing by
    other sites (clickjacking)."""
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",  # fetches and the same-origin /ws
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'self'",
    }


def init_headers(app: dash.Dash) -> None:
    """Security headers on every answer; call once every callback is registered, since the
    hashes cover the inline scripts Dash writes for them."""
    Talisman(
        app.server,
        force_https=False,  # TLS is the proxy's business; Secure cookies follow the scheme
        session_cookie_secure=False,  # the session interface marks it Secure under TLS
        frame_options="SAMEORIGIN",
        content_security_policy=content_security_policy(app.csp_hashes()),
        referrer_policy="same-origin",
    )


def refuse_unknown_callbacks(app: dash.Dash) -> None:
    """Answer a callback request that names no server callback with a 404: clientside
    callbacks run in the browser, anything else is forged, and Dash would raise a KeyError
    (a 500) for either."""
    path = f"{app.config.routes_pathname_prefix}_dash-update-component"

    def check() -> None:
        if request.path != path or request.method != "POST":
            return
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        entry = app.callback_map.get(output) if isinstance(output, str) else None
        if entry is None or "callback" not in entry:
            raise ApiError(404, "no_such_callback", "no server callback has this output")

    app.server.before_request(check)
