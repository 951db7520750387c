"""Signed credentials for /ws: short-lived stream tokens and Flask session cookies."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from data.domain.embeds import SeriesScope

TOKEN_SALT = "pulse.stream-token"
SESSION_ID = "pulse_sid"  # the key of the session id in the Flask session


@dataclass(frozen=True, slots=True)
class StreamGrant:
    """Who may use a /ws connection, and until when."""

    tenant_id: str
    user_id: str | None
    key_id: str | None
    expires_at: float | None
    # the sign-in session it came from (a cookie, or a token fetched with one): signing out
    # of that session ends the socket too
    session_id: str | None = None
    # an embed token's socket (app/stream/embeds.py): its jti, and the only series it gets
    embed_jti: str | None = None
    embed_scopes: tuple[SeriesScope, ...] = ()

    def allows(self, metric: str, source: str) -> bool:
        """Whether the grant may receive this series: any, except for an embed's socket."""
        if self.embed_jti is None:
            return True
        return any(scope.allows(metric, source) for scope in self.embed_scopes)


def _signer_on(clock: Callable[[], float]) -> type[TimestampSigner]:
    """A TimestampSigner that signs and checks ages by `clock` instead of the wall clock."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockedSigner


class StreamTokens:
    """Issues and checks the tokens of `GET /api/stream-token`."""

    def __init__(self, secret: str, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        # itsdangerous stamps and ages tokens by its signer's clock: make it ours
        self._serializer = URLSafeTimedSerializer(secret, salt=TOKEN_SALT, signer=_signer_on(clock))
        self.ttl_s = ttl_s
        self.clock = clock

    def issue(
        self,
        tenant_id: str,
        user_id: str | None = None,
        key_id: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """A token for this tenant and user (or read key), valid for `ttl_s`; a user's token
        names the sign-in session it was fetched with, and dies with it."""
        return self._serializer.dumps({"t": tenant_id, "u": user_id, "k": key_id, "s": session_id})

    def verify(self, token: str) -> StreamGrant | None:
        """The grant inside a genuine token unexpired by the clock; None otherwise."""
        try:
            payload, signed_at = self._serializer.loads(
                token, max_age=self.ttl_s, return_timestamp=True
            )
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("t"), str):
            return None
        expires = signed_at.timestamp() + self.ttl_s
        if self.clock() > expires:
            return None
        return StreamGrant(
            payload["t"], payload.get("u"), payload.get("k"), expires, payload.get("s")
        )


class SessionCookies:
    """Reads the user id out of a Flask (flask-login) session cookie, outside Flask."""

    def __init__(self, secret: str) -> None:
        holder = Flask("pulse-session-reader")
        holder.secret_key = secret
        serializer = SecureCookieSessionInterface().get_signing_serializer(holder)
        assert serializer is not None
        self._serializer = serializer
        self.cookie_name = holder.config["SESSION_COOKIE_NAME"]

    def user_id(self, cookie: str) -> str | None:
        """The logged-in user of this cookie, or None when it is forged or anonymous."""
        identity = self.identity(cookie)
        return identity[0] if identity else None

    def identity(self, cookie: str) -> tuple[str, str | None] | None:
        """(user id, session id) of a genuine signed-in cookie, else None."""
        try:
            session = self._serializer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(session, dict) or not isinstance(session.get("_user_id"), str):
            return None
        sid = session.get(SESSION_ID)
        return session["_user_id"], sid if isinstance(sid, str) else None
