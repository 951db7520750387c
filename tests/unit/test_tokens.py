"""Signed credentials for /ws (app/tokens.py): stream tokens and Flask session cookies."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from app.tokens import SessionCookies, StreamGrant, StreamTokens

SECRET = "unit-test-secret"
TTL_S = 300
ISSUED_AT = 1_780_000_000.0  # a whole second, as token timestamps are


def flask_cookie(session: dict[str, Any], secret: str = SECRET) -> str:
    """A session cookie exactly as a Flask app with this secret would set it."""
    app = Flask("cookie-maker")
    app.secret_key = secret
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return serializer.dumps(session)


def tamper(token: str) -> str:
    """The token with one character of its payload changed."""
    i = len(token) // 3
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


# -- stream tokens -------------------------------------------------------------------------


def test_stream_token_round_trip_carries_tenant_and_user() -> None:
    tokens = StreamTokens(SECRET, TTL_S)
    before = time.time()
    grant = tokens.verify(tokens.issue("acme", user_id="u-1"))
    assert isinstance(grant, StreamGrant)
    assert (grant.tenant_id, grant.user_id, grant.key_id) == ("acme", "u-1", None)
    assert grant.expires_at is not None
    assert before + TTL_S - 2 <= grant.expires_at <= time.time() + TTL_S + 1


def test_stream_token_is_stamped_by_the_injected_clock() -> None:
    """Issued at the clock's time (not the wall clock's): it expires TTL_S after that."""
    tokens = StreamTokens(SECRET, TTL_S, clock=lambda: ISSUED_AT)
    grant = tokens.verify(tokens.issue("acme", user_id="u-1"))
    assert grant is not None
    assert grant.expires_at == ISSUED_AT + TTL_S


def test_stream_token_round_trip_carries_key_id() -> None:
    tokens = StreamTokens(SECRET, TTL_S)
    grant = tokens.verify(tokens.issue("acme", key_id="k-9"))
    assert grant is not None
    assert (grant.tenant_id, grant.user_id, grant.key_id) == ("acme", None, "k-9")


def test_stream_token_is_valid_until_its_ttl_and_refused_after() -> None:
    now = [ISSUED_AT]
    tokens = StreamTokens(SECRET, TTL_S, clock=lambda: now[0])
    token = tokens.issue("acme", user_id="u-1")
    now[0] = ISSUED_AT + TTL_S - 1
    assert tokens.verify(token) is not None
    now[0] = ISSUED_AT + TTL_S + 1
    assert tokens.verify(token) is None


def test_tampered_stream_token_is_refused() -> None:
    tokens = StreamTokens(SECRET, TTL_S)
    token = tokens.issue("acme", user_id="u-1")
    assert tokens.verify(tamper(token)) is None
    assert tokens.verify(token + "x") is None
    assert tokens.verify("") is None
    assert tokens.verify("not-a-token") is None


def test_stream_token_signed_with_another_secret_is_refused() -> None:
    forged = StreamTokens("another-secret", TTL_S).issue("acme", user_id="u-1")
    assert StreamTokens(SECRET, TTL_S).verify(forged) is None


def test_session_cookie_is_not_a_stream_token() -> None:
    """Both are signed with the same secret; the salts keep one from passing as the other."""
    cookie = flask_cookie({"_user_id": "u-1", "t": "acme"})
    assert StreamTokens(SECRET, TTL_S).verify(cookie) is None


# -- session cookies -----------------------------------------------------------------------


def test_session_cookie_of_a_logged_in_user_gives_the_user_id() -> None:
    cookie = flask_cookie({"_user_id": "6f1c-user", "_fresh": True, "_id": "abc"})
    assert SessionCookies(SECRET).user_id(cookie) == "6f1c-user"


def test_session_cookie_name_is_flasks() -> None:
    assert SessionCookies(SECRET).cookie_name == Flask("x").config["SESSION_COOKIE_NAME"]


def test_anonymous_session_cookie_gives_no_user() -> None:
    assert SessionCookies(SECRET).user_id(flask_cookie({"_fresh": False})) is None
    assert SessionCookies(SECRET).user_id(flask_cookie({"_user_id": 42})) is None


def test_session_cookie_signed_with_another_secret_is_refused() -> None:
    forged = flask_cookie({"_user_id": "admin-id"}, secret="guessed-secret")
    assert SessionCookies(SECRET).user_id(forged) is None


def test_tampered_or_garbage_session_cookie_is_refused() -> None:
    cookie = flask_cookie({"_user_id": "6f1c-user"})
    reader = SessionCookies(SECRET)
    assert reader.user_id(tamper(cookie)) is None
    assert reader.user_id("") is None
    assert reader.user_id("garbage.cookie.value") is None


def test_stream_token_is_not_a_session_cookie() -> None:
    token = StreamTokens(SECRET, TTL_S).issue("acme", user_id="u-1")
    assert SessionCookies(SECRET).user_id(token) is None
