"""Sign-in: flask-login sessions, throttled logins, roles, and API keys on /api."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from flask import Flask, Response, after_this_request, current_app, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from app.errors import ApiError
from app.logs import TENANT
from app.services import Services
from app.tokens import SESSION_ID
from components.login import login_page
from data.domain.jsontext import storable
from data.stores.accounts import ApiKey, User
from data.stores.administration import LAST_USED_EVERY_S, Administration
from data.stores.audit import REQUEST_ADDRESS, AuditLog
from data.stores.sessions import SessionRegistry
from data.stores.throttle import SlidingWindows, Window

# Paths anyone may load; everything else needs a session (or, under /api, a key).
PUBLIC_PREFIXES = (
    "/login",
    "/logout",
    "/signup",  # the public account pages (app/web/account_pages.py)
    "/invite/",
    "/forgot",
    "/reset/",
    "/verify/",  # the e-mail verification link: opened from the mail, maybe signed out
    "/healthz",
    "/readyz",
    "/metrics",
    "/assets/",
    "/_dash-component-suites/",
    "/_favicon.ico",
    "/api/",
    "/embed/",  # opened by its token, never a session (app/web/embed.py)
)
KEY_CACHE_S = 30
ANY_SCOPE = "*"  # principal(scope=ANY_SCOPE): a key of any scope will do
# Where `Authorization: Basic` carries an API key (as the password): the ingest routes,
# since Prometheus, Telegraf, Alloy and Vector all offer basic auth. Elsewhere a Basic
# header may be a proxy's own sign-in, which the browser repeats on every request.
BASIC_KEY_PATHS = ("/api/ingest", "/api/v1/write")


class SessionUser(UserMixin):
    """flask-login's view of a Pulse user."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return self.user.user_id

    @property
    def is_active(self) -> bool:
        return self.user.active


class TlsAwareSessions(SecureCookieSessionInterface):
    """Marks the session cookie Secure exactly when the request came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes an /api request: a signed-in user or an API key, always of one tenant."""

    tenant_id: str
    user: User | None
    key: ApiKey | None


def services() -> Services:
    """The Services of the running app."""
    svc: Services = current_app.extensions["pulse.services"]
    return svc


def sessions(svc: Services) -> SessionRegistry:
    """The registry of live sign-in sessions."""
    return SessionRegistry(svc.redis, svc.settings.redis_prefix)


def init_app(server: Flask, svc: Services) -> None:
    """Attach sessions, the login routes and the sign-in guard to the Flask server."""
    # No ProxyFix: uvicorn already applies X-Forwarded-For/-Proto, and only from the proxies
    # named in FORWARDED_ALLOW_IPS; trusting them from anyone would let a client pick its own
    # address (and escape the sign-in throttle).
    server.session_interface = TlsAwareSessions()
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    manager = LoginManager(server)
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(user_id: str) -> SessionUser | None:
        if not sessions(svc).is_live(user_id, session.get(SESSION_ID)):
            return None  # signed out, or the cookie predates the session record
        user = svc.accounts.get_user(user_id)
        return SessionUser(user) if user and user.active else None

    server.before_request(_note_address)
    server.teardown_request(_forget_address)
    server.before_request(_require_sign_in)
    server.add_url_rule("/login", "login", _login_form, methods=["GET"])
    server.add_url_rule("/login", "login_post", _login_post, methods=["POST"])
    # POST only: a signing-out GET could be triggered by any page's <img src="/logout">
    server.add_url_rule("/logout", "logout", _logout, methods=["POST"])


def _note_address() -> None:
    """Every change a request makes is audited with the address it came from."""
    REQUEST_ADDRESS.set(request.remote_addr)


def _forget_address(_error: BaseException | None) -> None:
    REQUEST_ADDRESS.set(None)  # the thread serves other work next


def _require_sign_in() -> Any:
    if request.path.startswith(PUBLIC_PREFIXES) or current_user.is_authenticated:
        return None
    if request.path.startswith("/_dash-"):
        raise ApiError(401, "unauthenticated", "sign in first")
    return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}))


def _safe_next(target: str | None) -> str:
    """`target` when it is a path on this site, else `/`: browsers read `//host`, `/\\host`
    and paths with tabs or newlines in them (which they strip) as another site."""
    target = target or "/"
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ch == "\\" or not ch.isprintable() or ch.isspace() for ch in target)
    ):
        return "/"
    return target


def _login_form() -> Any:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    return login_page(
        next_url=_safe_next(request.args.get("next")),
        signup=services().settings.signup_enabled,
    )


def _login_post() -> Any:
    svc = services()
    body = request.get_json(silent=True) if request.is_json else request.form
    doc: Any = body if isinstance(body, dict) or hasattr(body, "get") else {}
    username = str(doc.get("username") or "")[:64]
    password = str(doc.get("password") or "")[:1024]
    # No account has a name PostgreSQL cannot store, nor a password no encoder accepts: such
    # input is a wrong credential (a 401, still counted), not a failing query (a 500).
    username = username if storable(username) else ""
    password = password if storable(password) else ""
    next_url = _safe_next(doc.get("next") or request.args.get("next"))
    throttle = LoginThrottle(svc)
    address = request.remote_addr or "unknown"
    attempt = throttle.begin(username, address)
    if attempt is None:
        return _login_refused(
            429,
            "too_many_attempts",
            "Too many failed sign-ins; try again in a few minutes.",
            next_url,
            username,
        )
    user = svc.accounts.authenticate(username, password) if username and password else None
    if user is None:
        throttle.failed(attempt, address)
        if username:
            _audit_failure_once_sent(svc, username, address)
        return _login_refused(
            401, "bad_credentials", "Wrong username or password.", next_url, username
        )
    throttle.succeeded(username, address)
    AuditLog(svc.engine).record_sign_in(username, True, address)
    login_user(SessionUser(user))
    session[SESSION_ID] = sessions(svc).start(user.user_id)
    if request.is_json:
        return {"user": {"username": user.username, "role": user.role, "tenant": user.tenant_id}}
    return redirect(next_url, code=303)


def _audit_failure_once_sent(svc: Services, username: str, address: str) -> None:
    """Record the failed sign-in after the answer has left: recording it only for names that
    exist would otherwise make those answers slower, telling a guesser which names do."""

    @after_this_request
    def _when_sent(response: Response) -> Response:
        response.call_on_close(
            lambda: AuditLog(svc.engine).record_sign_in(username, False, address)
        )
        return response


def _login_refused(status: int, code: str, message: str, next_url: str, username: str) -> Any:
    if request.is_json:
        raise ApiError(status, code, message)
    signup = services().settings.signup_enabled
    return login_page(next_url=next_url, error=message, username=username, signup=signup), status


def _logout() -> Any:
    if current_user.is_authenticated:
        sessions(services()).end(current_user.user.user_id, session.get(SESSION_ID))
    logout_user()
    session.pop(SESSION_ID, None)
    return redirect("/login", code=303)


class LoginThrottle:
    """Sign-in attempts per (username, address) and per address, in sliding windows.

    Throttling a username by itself would let anyone keep its owner locked out by failing on
    purpose; per pair, a guesser is slowed while the owner, from their own address, is not.
    A pair's attempt is counted before the password is checked (so a burst of parallel
    guesses at one account cannot all slip under the limit) and forgotten when it succeeds.
    The address counts failures only, after the fact: counting its attempts in flight would
    refuse an office behind one address whose people all sign in at the same moment.
    """

    def __init__(self, svc: Services) -> None:
        self.windows = SlidingWindows(svc.redis, svc.settings.login_window_s, svc.now_ms)
        self.prefix = f"{svc.settings.redis_prefix}login-attempts:"
        self.max_pair = svc.settings.login_max_failures
        self.max_address = svc.settings.login_max_failures_per_ip

    def _pair(self, username: str, address: str) -> Window:
        return Window(f"{self.prefix}pair:{address}:{username.lower()}", self.max_pair)

    def _address(self, address: str) -> Window:
        return Window(f"{self.prefix}addr:{address}", self.max_address)

    def begin(self, username: str, address: str) -> str | None:
        """Count an attempt; None when this user from this address, or this address, has
        failed too often lately."""
        if self.windows.full(self._address(address)):
            return None
        return self.windows.reserve([self._pair(username, address)])

    def failed(self, attempt: str, address: str) -> None:
        """Count the failure against the address too."""
        self.windows.add(attempt, self._address(address))

    def succeeded(self, username: str, address: str) -> None:
        """Forget the pair's failures."""
        self.windows.clear(self._pair(username, address))


def principal(scope: str | None = None, role: str = "viewer") -> Principal:
    """The caller of an /api route: a key with `scope` (any with ANY_SCOPE), or a session
    user with `role`."""
    secret = _key_secret(request.headers.get("Authorization", ""))
    if secret is not None:
        key = verified_key(services(), secret)
        if key is None:
            raise ApiError(401, "unauthenticated", "unknown or revoked API key")
        if scope is None or scope not in (ANY_SCOPE, key.scope):
            raise ApiError(403, "forbidden", f"this route needs a key of scope {scope or 'none'}")
        TENANT.set(key.tenant_id)
        return Principal(key.tenant_id, None, key)
    if not current_user.is_authenticated:
        raise ApiError(401, "unauthenticated", "sign in or send Authorization: Bearer <key>")
    user: User = current_user.user
    TENANT.set(user.tenant_id)
    if not user.may(role):
        raise ApiError(403, "forbidden", f"this route needs the {role} role")
    return Principal(user.tenant_id, user, None)


def _key_secret(header: str) -> str | None:
    """The API key an Authorization header names: Bearer's token, or on the ingest routes
    Basic's password (its user name when the password is empty); None: no key named."""
    if header.startswith("Bearer "):
        return header[7:].strip()
    if not header.startswith("Basic ") or request.path not in BASIC_KEY_PATHS:
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""  # names a key, an unknown one: a 401
    user, _, password = decoded.partition(":")
    return password or user


def verified_key(svc: Services, secret: str) -> ApiKey | None:
    """The live key of this secret, remembered in Redis for at most KEY_CACHE_S (never past
    its expiry) to spare PostgreSQL a query per ingest request: a revocation takes effect
    within that time. Its last use is recorded at most once a minute."""
    cache_key = f"{svc.settings.redis_prefix}api-key:{hashlib.sha256(secret.encode()).hexdigest()}"
    cached = svc.redis.get(cache_key)
    if cached is not None:
        doc = orjson.loads(cached)
        key = ApiKey(**doc) if doc else None
    else:
        key = svc.accounts.verify_api_key(secret)
        ttl = KEY_CACHE_S
        if key is not None and key.expires_at is not None:
            ttl = max(1, min(ttl, math.ceil(key.expires_at - svc.clock())))
        svc.redis.set(cache_key, orjson.dumps(asdict(key) if key else None), ex=ttl)
    if key is None or key.expired(svc.clock()):
        return None
    _note_use(svc, key)
    return key


def _note_use(svc: Services, key: ApiKey) -> None:
    # SET NX with a TTL: one request a minute per key, across every web process, writes
    marker = f"{svc.settings.redis_prefix}api-key-used:{key.key_id}"
    if svc.redis.set(marker, 1, nx=True, ex=LAST_USED_EVERY_S):
        Administration(svc.accounts, svc.clock).mark_used(key.key_id)
