"""Sign-in, sessions, throttling, tenant isolation of /api, stream tokens and probes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from app.services import Services
from app.tokens import StreamTokens
from app.web.auth import LoginThrottle
from data.domain.points import Point
from tests.conftest import PASSWORD

BAD_CREDENTIALS = "Wrong username or password."


def set_cookies(resp: Any) -> list[str]:
    return resp.headers.getlist("Set-Cookie")


def session_cookie_header(resp: Any) -> str | None:
    """The Set-Cookie header that sets a non-empty session cookie, if any."""
    for header in set_cookies(resp):
        name, _, rest = header.partition("=")
        if name == "session" and not rest.startswith(";"):
            return header
    return None


def login_form(client: Any, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/login", data={"username": username, "password": password, **extra})


def login_json(client: Any, username: str, password: str = PASSWORD) -> Any:
    return client.post("/login", json={"username": username, "password": password})


def signed_in(client: Any) -> bool:
    """Whether the client's session is accepted by the API."""
    return client.get("/api/metrics").status_code == 200


# -- the login page and form ---------------------------------------------------------------


def test_login_page_renders_a_form(client) -> None:
    resp = client.get("/login")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<form method="post" action="/login"' in html
    assert 'name="username"' in html and 'name="password"' in html and 'type="password"' in html
    assert 'id="login-error"' not in html


def test_good_form_login_redirects_with_httponly_lax_session_cookie(
    client, tenant: str, make_user
) -> None:
    user = make_user(tenant, "viewer")
    resp = login_form(client, user.username)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/"
    header = session_cookie_header(resp)
    assert header is not None, set_cookies(resp)
    attributes = [a.strip().lower() for a in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # plain HTTP here
    assert signed_in(client)


def test_session_cookie_is_secure_behind_tls(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "viewer")
    # uvicorn sets the scheme from a trusted proxy's X-Forwarded-Proto; Flask sees https
    resp = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD},
        base_url="https://pulse.example",
    )
    assert resp.status_code == 303
    header = session_cookie_header(resp)
    assert header is not None
    assert "secure" in [a.strip().lower() for a in header.split(";")[1:]]


def test_login_returns_to_next_but_never_to_another_site(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "viewer")
    assert login_form(client, user.username, next="/explore?x=1").headers["Location"] == (
        "/explore?x=1"
    )
    for target in (
        "https://evil.example/",
        "//evil.example/x",
        "////evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
    ):
        resp = login_form(client, user.username, next=target)
        assert resp.headers["Location"] == "/", target
    assert signed_in(client)


def test_wrong_password_is_401_with_the_error_and_no_session(
    client, tenant: str, make_user
) -> None:
    user = make_user(tenant, "viewer")
    resp = login_form(client, user.username, "wrong-password")
    assert resp.status_code == 401
    assert BAD_CREDENTIALS in resp.get_data(as_text=True)
    assert 'id="login-error"' in resp.get_data(as_text=True)
    assert session_cookie_header(resp) is None
    assert not signed_in(client)


def test_unknown_user_gets_exactly_the_wrong_password_answer(
    client, tenant: str, make_user
) -> None:
    """Only the typed username (echoed back into the form) may differ between the two."""
    user = make_user(tenant, "viewer")
    nobody = f"nobody-{uuid.uuid4().hex[:6]}"
    wrong_password = login_form(client, user.username, "wrong-password")
    unknown_user = login_form(client, nobody, "wrong-password")
    assert unknown_user.status_code == wrong_password.status_code == 401
    assert unknown_user.get_data(as_text=True).replace(nobody, "{typed}") == (
        wrong_password.get_data(as_text=True).replace(user.username, "{typed}")
    )
    assert session_cookie_header(unknown_user) is None


def test_json_login_returns_the_user_and_a_session(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "analyst")
    resp = login_json(client, user.username)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "user": {"username": user.username, "role": "analyst", "tenant": tenant}
    }
    assert session_cookie_header(resp) is not None
    assert signed_in(client)


def test_json_login_with_bad_credentials_is_a_json_401(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "viewer")
    resp = login_json(client, user.username, "wrong-password")
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": {"code": "bad_credentials", "message": BAD_CREDENTIALS, "details": []}
    }
    assert session_cookie_header(resp) is None


def test_empty_credentials_are_refused(client) -> None:
    assert login_form(client, "", "").status_code == 401
    assert login_json(client, "", "").status_code == 401


# -- throttling ----------------------------------------------------------------------------


def test_after_max_failures_even_the_right_password_is_429(
    client, settings, tenant: str, make_user
) -> None:
    user = make_user(tenant, "viewer")
    for _ in range(settings.login_max_failures):
        assert login_form(client, user.username, "wrong-password").status_code == 401
    resp = login_form(client, user.username)
    assert resp.status_code == 429
    assert "Too many failed sign-ins" in resp.get_data(as_text=True)
    assert session_cookie_header(resp) is None
    json_resp = login_json(client, user.username)
    assert json_resp.status_code == 429
    assert json_resp.get_json()["error"]["code"] == "too_many_attempts"
    assert not signed_in(client)


def test_throttling_is_per_username_and_ignores_case(
    client, settings, tenant: str, make_user
) -> None:
    victim = make_user(tenant, "viewer")
    other = make_user(tenant, "viewer")
    for _ in range(settings.login_max_failures):
        login_form(client, victim.username.upper(), "wrong-password")
    assert login_form(client, victim.username).status_code == 429
    assert login_form(client, other.username).status_code == 303


def test_failing_on_purpose_locks_nobody_else_out(
    client, web, settings, tenant: str, make_user
) -> None:
    """Throttling counts per username *and address*: an attacker failing as `victim` from
    their own address is refused, while the victim, from theirs, still signs in."""
    victim = make_user(tenant, "viewer")
    for _ in range(settings.login_max_failures + 3):
        login_form(client, victim.username, "wrong-password")
    assert login_form(client, victim.username).status_code == 429
    elsewhere = web.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert login_form(elsewhere, victim.username).status_code == 303


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(
    web, settings, tenant: str, make_user
) -> None:
    """The attempt is counted before the password is checked, atomically."""
    user = make_user(tenant, "viewer")
    address = "198.51.100." + str(uuid.uuid4().int % 250)

    def guess(_: int) -> int:
        attacker = web.test_client()
        attacker.environ_base["REMOTE_ADDR"] = address
        return int(login_form(attacker, user.username, "wrong-password").status_code)

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(guess, range(24)))
    assert answers.count(401) == settings.login_max_failures
    assert answers.count(429) == 24 - settings.login_max_failures


def test_failures_slide_out_of_the_window(client, services, settings, tenant, make_user) -> None:
    user = make_user(tenant, "viewer")
    throttle = LoginThrottle(services)
    for _ in range(settings.login_max_failures):
        assert throttle.begin(user.username, "203.0.113.5") is not None
    assert throttle.begin(user.username, "203.0.113.5") is None
    later = LoginThrottle(services)
    now = services.now_ms()
    later.windows.clock_ms = lambda: now + settings.login_window_s * 1000 + 1
    assert later.begin(user.username, "203.0.113.5") is not None


def test_a_successful_login_forgets_earlier_failures(
    client, settings, tenant: str, make_user
) -> None:
    user = make_user(tenant, "viewer")
    for _ in range(2):
        for _ in range(settings.login_max_failures - 1):
            assert login_form(client, user.username, "wrong-password").status_code == 401
        assert login_form(client, user.username).status_code == 303


# -- what needs a session ------------------------------------------------------------------


def test_pages_without_a_session_redirect_to_login(client) -> None:
    resp = client.get("/")
    assert resp.status_code in (302, 303)
    assert resp.headers["Location"].startswith("/login")


def test_login_after_redirect_returns_to_the_whole_original_address(
    client, tenant: str, make_user
) -> None:
    """The original query survives the trip through /login, `&` and all."""
    resp = client.get("/explore?metric=cpu.usage&range=1h")
    login_url = resp.headers["Location"]
    assert login_url.startswith("/login?next=")
    page = client.get(login_url).get_data(as_text=True)
    assert 'value="/explore?metric=cpu.usage&amp;range=1h"' in page
    resp = client.post(
        login_url, data={"username": make_user(tenant, "viewer").username, "password": PASSWORD}
    )
    assert resp.headers["Location"] == "/explore?metric=cpu.usage&range=1h"


def test_overview_page_loads_with_a_session(client, tenant: str, make_user) -> None:
    login_form(client, make_user(tenant, "viewer").username)
    resp = client.get("/")
    assert resp.status_code == 200
    assert "<title>Pulse</title>" in resp.get_data(as_text=True)


def route_callback() -> dict[str, Any]:
    """The Dash request the browser makes to render the page at /."""
    return {
        "output": "..page.children...nav-user.children...nav-unread.children..",
        "outputs": [
            {"id": "page", "property": "children"},
            {"id": "nav-user", "property": "children"},
            {"id": "nav-unread", "property": "children"},
        ],
        "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
        "changedPropIds": ["url.pathname"],
        "state": [{"id": "url", "property": "search", "value": ""}],
    }


def test_dash_callback_without_a_session_is_a_json_401(client) -> None:
    resp = client.post("/_dash-update-component", json=route_callback())
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthenticated"


def test_dash_callback_with_a_session_names_the_user(client, tenant: str, make_user) -> None:
    user = make_user(tenant, "analyst")
    login_form(client, user.username)
    resp = client.post("/_dash-update-component", json=route_callback())
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    nav_user = resp.get_json()["response"]["nav-user"]["children"]
    assert nav_user == f"{user.username} · analyst · {tenant}"


# -- /api/metrics: tenant isolation and key scopes -----------------------------------------


@pytest.fixture
def two_tenants(services: Services, tenant: str) -> tuple[str, str]:
    """The test tenant with cpu.usage on two hosts; another tenant with secret.revenue."""
    other = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, other)
    now = services.now_ms()
    services.live.publish_points(
        tenant,
        [
            Point("a1", "web-1", "cpu.usage", now - 2000, 10.0),
            Point("a2", "web-1", "cpu.usage", now - 1000, 11.5),
            Point("a3", "web-2", "cpu.usage", now - 1500, 20.0),
        ],
    )
    services.live.publish_points(other, [Point("b1", "vault", "secret.revenue", now, 99.0)])
    return tenant, other


def assert_only_own_metrics(resp: Any) -> None:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    metrics = resp.get_json()["metrics"]
    assert [m["name"] for m in metrics] == ["cpu.usage"]
    [cpu] = metrics
    assert cpu["sources"] == ["web-1", "web-2"]
    assert cpu["latest_value"] == 11.5
    assert cpu["latest_time"].endswith("Z")


def test_metrics_with_a_session_show_only_the_callers_tenant(
    client, two_tenants, make_user
) -> None:
    mine, _ = two_tenants
    login_form(client, make_user(mine, "viewer").username)
    assert_only_own_metrics(client.get("/api/metrics"))


def test_metrics_with_a_read_key_show_only_the_keys_tenant(
    client, services: Services, two_tenants
) -> None:
    mine, _ = two_tenants
    key = services.accounts.create_api_key(mine, "reader", "read")
    assert_only_own_metrics(client.get("/api/metrics", headers={"Authorization": f"Bearer {key}"}))


def test_metrics_with_an_ingest_key_is_403(client, ingest_key: str) -> None:
    resp = client.get("/api/metrics", headers={"Authorization": f"Bearer {ingest_key}"})
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden"


def test_metrics_without_credentials_is_401(client) -> None:
    resp = client.get("/api/metrics")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthenticated"


# -- stream tokens -------------------------------------------------------------------------


def test_stream_token_of_a_session_verifies_for_its_tenant_and_user(
    client, settings, tenant: str, make_user
) -> None:
    user = make_user(tenant, "viewer")
    login_form(client, user.username)
    resp = client.get("/api/stream-token")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["expires_in"] == settings.stream_token_ttl_s
    grant = StreamTokens(settings.require_secret(), settings.stream_token_ttl_s).verify(
        body["token"]
    )
    assert grant is not None
    assert (grant.tenant_id, grant.user_id, grant.key_id) == (tenant, user.user_id, None)
    assert StreamTokens("another-secret", 300).verify(body["token"]) is None


def test_stream_token_of_a_read_key_names_the_key(
    client, settings, services: Services, tenant: str
) -> None:
    key = services.accounts.create_api_key(tenant, "reader", "read")
    resp = client.get("/api/stream-token", headers={"Authorization": f"Bearer {key}"})
    grant = StreamTokens(settings.require_secret(), settings.stream_token_ttl_s).verify(
        resp.get_json()["token"]
    )
    assert grant is not None
    assert (grant.tenant_id, grant.user_id, grant.key_id) == (tenant, None, key.split("_")[1])


def test_stream_token_needs_credentials(client, ingest_key: str) -> None:
    assert client.get("/api/stream-token").status_code == 401
    headers = {"Authorization": f"Bearer {ingest_key}"}
    assert client.get("/api/stream-token", headers=headers).status_code == 403


# -- ending sessions -----------------------------------------------------------------------


def test_logout_ends_the_session(client, tenant: str, make_user) -> None:
    login_form(client, make_user(tenant, "viewer").username)
    assert signed_in(client)
    resp = client.post("/logout")
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/login"
    assert not signed_in(client)
    assert client.get("/").headers["Location"].startswith("/login")


def test_a_copy_of_the_cookie_taken_before_logout_no_longer_works(
    client, web, tenant: str, make_user
) -> None:
    """Signing out ends the session on the server, not only in the browser that did it."""
    login_form(client, make_user(tenant, "viewer").username)
    stolen = client.get_cookie("session").value
    other = web.test_client()
    other.set_cookie("session", stolen)
    assert signed_in(other)
    client.post("/logout")
    assert not signed_in(other)
    assert other.get("/").headers["Location"].startswith("/login")


def test_each_sign_in_is_its_own_session(client, web, tenant: str, make_user) -> None:
    """Signing out in one browser leaves the user's other sessions alone."""
    user = make_user(tenant, "viewer")
    login_form(client, user.username)
    laptop = web.test_client()
    login_form(laptop, user.username)
    client.post("/logout")
    assert signed_in(laptop) and not signed_in(client)


def test_disabled_user_can_no_longer_use_its_session(
    client, services: Services, tenant: str, make_user
) -> None:
    user = make_user(tenant, "analyst")
    login_form(client, user.username)
    assert signed_in(client)
    services.accounts.set_active(user.user_id, False)
    assert client.get("/api/metrics").status_code == 401
    assert client.get("/api/stream-token").status_code == 401
    assert client.get("/").headers["Location"].startswith("/login")
    assert client.post("/_dash-update-component", json=route_callback()).status_code == 401
    assert login_form(client, user.username).status_code == 401
    services.accounts.set_active(user.user_id, True)
    assert login_form(client, user.username).status_code == 303


# -- probes --------------------------------------------------------------------------------


def test_healthz_answers_without_a_session(client) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_readyz_checks_postgres_and_redis(client) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}
