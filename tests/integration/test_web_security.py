"""What every request passes first: cross-site writes refused, body limits, hostile JSON,
sign-out by POST only, and settings that never print a password."""

from __future__ import annotations

import time
from typing import Any

import pytest

from app.settings import Settings
from tests.alerts_support import rule_doc
from tests.conftest import PASSWORD

EVIL = "https://evil.example"
RULE = rule_doc()


@pytest.fixture
def analyst(client, tenant: str, make_user):  # type: ignore[no-untyped-def]
    """The client, signed in as an analyst of the test tenant."""
    user = make_user(tenant, "analyst")
    resp = client.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200
    return client


def error_code(resp: Any) -> str:
    return str(resp.get_json()["error"]["code"])


def one_point() -> str:
    return f'[{{"source":"s","metric_type":"m","timestamp":{int(time.time())},"value":1}}]'


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- cross-site writes -----------------------------------------------------------------------


def test_a_write_from_another_sites_page_is_refused_and_changes_nothing(analyst) -> None:
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": EVIL + "/page"}):
        resp = analyst.post("/api/alerts", json=RULE, headers=headers)
        assert resp.status_code == 403 and error_code(resp) == "cross_site", headers
    assert analyst.get("/api/alerts").get_json()["alerts"] == []


def test_a_write_from_pulses_own_page_or_a_non_browser_client_goes_through(analyst) -> None:
    own = analyst.post("/api/alerts", json=RULE, headers={"Origin": "http://localhost"})
    assert own.status_code == 201, own.get_data(as_text=True)
    referred = analyst.post("/api/alerts", json=RULE, headers={"Referer": "http://localhost/a"})
    assert referred.status_code == 201
    assert analyst.post("/api/alerts", json=RULE).status_code == 201  # no Origin: not a browser


def test_a_cookie_write_must_be_json_as_no_form_can_send(analyst) -> None:
    body = one_point()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        resp = analyst.post("/api/ingest", data=body, content_type=content_type)
        assert resp.status_code == 415 and error_code(resp) == "unsupported_media_type"
    json_body = analyst.post("/api/ingest", data=body, content_type="application/json")
    assert json_body.status_code == 202


def test_a_key_may_send_any_content_type_from_anywhere(client, ingest_key: str) -> None:
    body = one_point()
    resp = client.post(
        "/api/ingest",
        data=body,
        content_type="application/x-www-form-urlencoded",  # curl -d's default
        headers={"Authorization": f"Bearer {ingest_key}", "Origin": EVIL},
    )
    assert resp.status_code == 202


def test_dash_callbacks_are_writes_too(analyst) -> None:
    resp = analyst.post("/_dash-update-component", json={}, headers={"Origin": EVIL})
    assert resp.status_code == 403


def test_sign_in_from_another_sites_form_is_refused(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "viewer")
    form = {"username": user.username, "password": PASSWORD}
    assert client.post("/login", data=form, headers={"Origin": EVIL}).status_code == 403
    assert client.get("/api/metrics").status_code == 401


def test_sign_out_is_a_post_only(analyst) -> None:
    # a GET (an <img src="/logout"> on any page) signs nobody out
    assert analyst.get("/logout").headers.get("Location") is None
    assert analyst.get("/api/metrics").status_code == 200
    assert analyst.post("/logout", headers={"Origin": EVIL}).status_code == 403
    assert analyst.get("/api/metrics").status_code == 200
    assert analyst.post("/logout").status_code == 303
    assert analyst.get("/api/metrics").status_code == 401


# -- bodies ------------------------------------------------------------------------------------


def test_an_oversized_sign_in_is_refused_before_it_is_read(client) -> None:
    body = b"username=a&password=" + b"x" * (20 * 1024 * 1024)
    resp = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413
    json_resp = client.post("/login", data=body, content_type="application/json")
    assert json_resp.status_code == 413 and error_code(json_resp) == "body_too_large"


def test_json_nested_100000_deep_is_a_400_everywhere(analyst, client, ingest_key: str) -> None:
    deep = nested(100_000)
    signin = client.post("/login", data=nested(20_000), content_type="application/json")
    assert signin.status_code in (400, 401)
    ingest = client.post(
        "/api/ingest",
        data=deep,
        content_type="application/json",
        headers={"Authorization": f"Bearer {ingest_key}"},
    )
    assert ingest.status_code == 400 and error_code(ingest) == "invalid_body"
    ndjson = client.post(
        "/api/ingest",
        data=deep + b"\n",
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {ingest_key}"},
    )
    assert ndjson.status_code == 422
    rule = analyst.post("/api/alerts", data=deep, content_type="application/json")
    assert 400 <= rule.status_code < 500
    callback = analyst.post("/_dash-update-component", data=deep, content_type="application/json")
    assert 400 <= callback.status_code < 500


# -- settings ---------------------------------------------------------------------------------


def test_settings_never_print_passwords() -> None:
    settings = Settings(
        database_url="postgresql+psycopg://pulse:db-secret@db.example/pulse",
        redis_url="redis://:redis-secret@cache.example:6379/0",
        secret_key="signing-secret",
        smtp_password="smtp-secret",
    )
    for text in (repr(settings), str(settings)):
        for secret in ("db-secret", "redis-secret", "signing-secret", "smtp-secret"):
            assert secret not in text
        assert "db.example" in text and "cache.example" in text


# -- expensive queries -----------------------------------------------------------------------


def test_the_web_roles_statements_are_cancelled_past_the_timeout_with_a_422(settings) -> None:
    """The web role's engine carries a statement_timeout; a statement cancelled by it is the
    caller's too-expensive query (422), not a server error."""
    from flask import Flask
    from sqlalchemy import text

    from app import errors
    from app.services import Services

    svc = Services.build(settings, pool_size=1, statement_timeout_ms=200)
    server = Flask("slow")
    errors.init_app(server)

    @server.get("/api/slow")
    def slow() -> str:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        return "done"

    try:
        resp = server.test_client().get("/api/slow")
        assert resp.status_code == 422
        assert resp.get_json()["error"]["code"] == "query_too_expensive"
    finally:
        svc.close()


def test_an_explicit_step_that_reads_raw_points_over_months_is_refused(analyst) -> None:
    resp = analyst.get("/api/data?metric=m&start=now-400d&end=now&step=3457s")
    assert resp.status_code == 422
    (detail,) = resp.get_json()["error"]["details"]
    assert detail["field"] == "step" and "whole number of minutes" in detail["message"]
    assert analyst.get("/api/data?metric=m&start=now-400d&end=now&step=1h").status_code == 200
    assert analyst.get("/api/data?metric=m&start=now-1d&end=now&step=17s").status_code == 200


# -- headers -----------------------------------------------------------------------------------


def directives(resp: Any) -> dict[str, list[str]]:
    policy = resp.headers["Content-Security-Policy"]
    parsed = (part.strip().split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parsed}


def test_every_page_forbids_framing_by_other_sites_and_inline_scripts(web, analyst) -> None:
    for resp in (web.test_client().get("/login"), analyst.get("/"), analyst.get("/alerts")):
        assert resp.status_code == 200
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert resp.headers["Referrer-Policy"] == "same-origin"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        policy = directives(resp)
        assert policy["frame-ancestors"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        scripts = policy["script-src"]
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        assert all(s == "'self'" or s.startswith("'sha256-") for s in scripts)
