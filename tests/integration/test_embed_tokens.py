"""Embed tokens (CONTRACT.md §7): every status of /api/embed-tokens, what `/embed/<token>`
and its data answer (only the resource's own series, within the locked sources, whatever
the query string says), expired and revoked tokens, tenants kept apart, and the framing
headers of embeds and of every other page."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from app.services import Services
from data.domain.dashboards import Actor
from data.domain.points import Point
from data.stores.accounts import User
from tests.conftest import FakeClock, new_tenant, signed_in, signed_in_to, with_settings

WIDGET = {
    "id": "cpu",
    "type": "line",
    "title": "CPU",
    "query": {"metric": ["cpu.*"], "source": [], "agg": "avg", "step": "auto"},
    "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
}
OTHER_WIDGET = {**WIDGET, "id": "mem", "title": "Memory", "query": {"metric": ["mem.used"]}}


def dashboard(services: Services, user: User, widgets: list[dict] | None = None) -> str:
    """A dashboard of the user's with a CPU widget and a memory widget; its id."""
    actor = Actor(user.tenant_id, user.user_id, user.role)
    doc = {"title": "Ops", "widgets": widgets or [WIDGET, OTHER_WIDGET]}
    return services.dashboards.create(actor, doc).dashboard_id


def seed(services: Services, tenant: str, mark: str = "") -> None:
    """Points of cpu.usage on web-1 and web-2 and of mem.used on web-1, stored and live."""
    now = int(time.time() * 1000)
    points = [
        Point(uuid.uuid4().hex, f"web-1{mark}", f"cpu.usage{mark}", now - 60_000, 11.0),
        Point(uuid.uuid4().hex, f"web-2{mark}", f"cpu.usage{mark}", now - 60_000, 22.0),
        Point(uuid.uuid4().hex, f"web-1{mark}", "mem.used", now - 60_000, 33.0),
    ]
    services.history.write_points([(tenant, p) for p in points])
    services.live.publish_points(tenant, points)


def body(dashboard_id: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": {"type": "widget", "dashboard_id": dashboard_id, "widget_id": "cpu"},
        "ttl_s": 600,
        "filters": {"source": ["web-1"]},
    }
    return {**doc, **changes}


@pytest.fixture
def analyst(make_user, tenant: str) -> User:  # type: ignore[no-untyped-def]
    return make_user(tenant, "analyst")


def mint(web: Any, user: User, doc: dict[str, Any]) -> dict[str, Any]:
    resp = signed_in(web, user).post("/api/embed-tokens", json=doc)
    assert resp.status_code == 201, resp.get_json()
    out: dict[str, Any] = resp.get_json()
    return out


def error_code(resp: Any) -> str:
    code: str = resp.get_json()["error"]["code"]
    return code


# -- POST /api/embed-tokens --------------------------------------------------------------


def test_an_analyst_mints_a_token_and_the_audit_log_says_so(
    web: Any, services: Services, analyst: User
) -> None:
    board = dashboard(services, analyst)
    minted = mint(web, analyst, body(board))
    assert set(minted) == {"token", "jti", "expires_at", "url"}
    assert minted["url"] == f"/embed/{minted['token']}"
    rows = services.engine.connect().exec_driver_sql(
        "SELECT action, target FROM audit_log WHERE tenant_id = %(t)s AND action LIKE 'embed%%'",
        {"t": analyst.tenant_id},
    )
    assert [tuple(r) for r in rows] == [("embed_token.create", minted["jti"])]


def test_a_key_of_scope_embed_mints_for_any_dashboard_of_its_tenant(
    client: Any, services: Services, analyst: User
) -> None:
    key = services.accounts.create_api_key(analyst.tenant_id, "intranet", "embed")
    resource = {"type": "dashboard", "dashboard_id": dashboard(services, analyst)}
    resp = client.post(
        "/api/embed-tokens",
        json={"resource": resource, "ttl_s": 60},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 201, resp.get_json()


@pytest.mark.parametrize("caller", ["anonymous", "viewer", "ingest key", "read key"])
def test_callers_who_may_not_embed_are_refused(
    client: Any, web: Any, services: Services, make_user, analyst: User, caller: str
) -> None:  # type: ignore[no-untyped-def]
    doc = body(dashboard(services, analyst))
    headers = {}
    if caller == "viewer":
        client = signed_in(web, make_user(analyst.tenant_id, "viewer"))
    elif caller.endswith("key"):
        key = services.accounts.create_api_key(analyst.tenant_id, "k", caller.split()[0])
        headers = {"Authorization": f"Bearer {key}"}
    for method, path in [
        ("POST", "/api/embed-tokens"),
        ("GET", "/api/embed-tokens"),
        ("DELETE", "/api/embed-tokens/abc"),
    ]:
        resp = client.open(path, method=method, json=doc, headers=headers)
        assert resp.status_code == (401 if caller == "anonymous" else 403), (method, resp.data)
        assert "error" in resp.get_json()


def test_another_tenants_dashboard_or_a_missing_widget_is_404(
    web: Any, services: Services, make_user, analyst: User
) -> None:  # type: ignore[no-untyped-def]
    board = dashboard(services, analyst)
    stranger = make_user(new_tenant(services), "admin")
    resp = signed_in(web, stranger).post("/api/embed-tokens", json=body(board))
    assert resp.status_code == 404 and analyst.tenant_id not in resp.get_data(as_text=True)
    for resource in [
        {"type": "widget", "dashboard_id": board, "widget_id": "nope"},
        {"type": "dashboard", "dashboard_id": str(uuid.uuid4())},
        {"type": "dashboard", "dashboard_id": "not-a-uuid"},
    ]:
        me = signed_in(web, analyst)
        resp = me.post("/api/embed-tokens", json=body(board, resource=resource))
        assert resp.status_code == 404, resource
    # another analyst's personal dashboard is not theirs to embed either
    colleague = make_user(analyst.tenant_id, "analyst")
    assert signed_in(web, colleague).post("/api/embed-tokens", json=body(board)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ttl_s": 59}, "ttl_s"),
        ({"ttl_s": 30 * 86_400 + 1}, "ttl_s"),
        ({"ttl_s": "600"}, "ttl_s"),
        ({"ttl_s": 1.5}, "ttl_s"),
        ({"filters": {"source": ["web-*"]}}, "filters.source.0"),
        ({"filters": {"source": "web-1"}}, "filters.source"),
        ({"filters": {"metric": ["x"]}}, "filters.metric"),
        ({"resource": {"type": "chart", "dashboard_id": "x"}}, "resource.type"),
        ({"resource": {"type": "widget", "dashboard_id": "x"}}, "resource.widget_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_fields_are_422_one_detail_each(
    web: Any, services: Services, analyst: User, changes: dict, field: str
) -> None:
    resp = signed_in(web, analyst).post(
        "/api/embed-tokens", json=body(dashboard(services, analyst), **changes)
    )
    assert resp.status_code == 422, resp.get_json()
    assert field in [d["field"] for d in resp.get_json()["error"]["details"]]


def test_a_body_that_is_not_an_object_is_400(web: Any, analyst: User) -> None:
    resp = signed_in(web, analyst).post("/api/embed-tokens", json=[1, 2])
    assert resp.status_code == 400 and error_code(resp) == "invalid_body"


# -- GET and DELETE ----------------------------------------------------------------------


def test_the_list_shows_live_tokens_without_secrets_and_revocation_is_per_tenant(
    web: Any, services: Services, make_user, analyst: User
) -> None:  # type: ignore[no-untyped-def]
    board = dashboard(services, analyst)
    first, second = mint(web, analyst, body(board)), mint(web, analyst, body(board))
    me = signed_in(web, analyst)
    listed = me.get("/api/embed-tokens").get_json()["embed_tokens"]
    assert {t["jti"] for t in listed} == {first["jti"], second["jti"]}
    assert first["token"] not in str(listed) and "token" not in listed[0]
    stranger = signed_in(web, make_user(new_tenant(services), "admin"))
    assert stranger.get("/api/embed-tokens").get_json() == {"embed_tokens": []}
    assert stranger.delete(f"/api/embed-tokens/{first['jti']}").status_code == 404
    assert me.delete("/api/embed-tokens/" + "0" * 32).status_code == 404
    assert me.delete(f"/api/embed-tokens/{first['jti']}").status_code == 204
    listed = me.get("/api/embed-tokens").get_json()["embed_tokens"]
    assert [t["jti"] for t in listed] == [second["jti"]]


# -- /embed/<token> and its data ----------------------------------------------------------


def test_the_data_holds_only_the_widgets_series_within_the_locked_sources(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    seed(services, analyst.tenant_id)
    token = mint(web, analyst, body(dashboard(services, analyst)))["token"]
    doc = client.get(f"/embed/{token}/data").get_json()
    [widget] = doc["widgets"]
    assert [(s["metric"], s["source"]) for s in widget["series"]] == [("cpu.usage", "web-1")]
    assert widget["series"][0]["points"][0][1] == 11.0
    # query parameters narrow, never widen
    for query in ["source=web-2", "metric=mem.used", "source=web-1&source=web-2"]:
        resp = client.get(f"/embed/{token}/data?{query}")
        assert resp.status_code == 403, query
    assert client.get(f"/embed/{token}/data?source=web-1").status_code == 200


def test_a_dashboard_embed_without_filters_shows_each_widgets_own_series(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    seed(services, analyst.tenant_id)
    resource = {"type": "dashboard", "dashboard_id": dashboard(services, analyst)}
    token = mint(web, analyst, {"resource": resource, "ttl_s": 600})["token"]
    widgets = client.get(f"/embed/{token}/data").get_json()["widgets"]
    shown = {w["id"]: sorted((s["metric"], s["source"]) for s in w["series"]) for w in widgets}
    assert shown == {
        "cpu": [("cpu.usage", "web-1"), ("cpu.usage", "web-2")],
        "mem": [("mem.used", "web-1")],
    }


def test_another_tenants_token_never_reads_this_tenants_data(
    client: Any, web: Any, services: Services, make_user, analyst: User
) -> None:  # type: ignore[no-untyped-def]
    seed(services, analyst.tenant_id, mark="secretmark")
    stranger = make_user(new_tenant(services), "analyst")
    seed(services, stranger.tenant_id)
    # the stranger's dashboard asks for the very series names this tenant has
    widget = {**WIDGET, "query": {"metric": ["cpu.*"], "source": []}}
    board = dashboard(services, stranger, [widget])
    token = mint(web, stranger, {"resource": {"type": "dashboard", "dashboard_id": board}})
    text = client.get(f"/embed/{token['token']}/data").get_data(as_text=True)
    assert "secretmark" not in text and analyst.tenant_id not in text


def test_a_forged_or_foreign_token_opens_nothing(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    token = mint(web, analyst, body(dashboard(services, analyst)))["token"]
    payload, _, signature = token.rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in [forged, "garbage", token + "x"]:
        resp = client.get(f"/embed/{bad}/data")
        assert resp.status_code == 401 and error_code(resp) == "embed_invalid"
        page = client.get(f"/embed/{bad}")
        assert page.status_code == 404 and "not valid" in page.get_data(as_text=True)
    for path in ["/embed/", f"/embed/{token}/data/more", f"/embed/{token}/_dash-layout"]:
        resp = client.get(path)
        assert resp.status_code == 404 and "not valid" in resp.get_data(as_text=True), path
    # an embed token is no API key, and opens no /api route
    resp = client.get("/api/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_an_expired_token_shows_expired_never_the_login_page(
    client: Any, web: Any, services: Services, analyst: User, clock: FakeClock
) -> None:
    token = mint(web, analyst, body(dashboard(services, analyst), ttl_s=60))["token"]
    assert client.get(f"/embed/{token}").status_code == 200
    clock.advance(61)
    page = client.get(f"/embed/{token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 401 and "expired" in text and "password" not in text
    assert "Location" not in page.headers
    assert error_code(client.get(f"/embed/{token}/data")) == "embed_expired"


def test_a_revoked_token_shows_revoked(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    minted = mint(web, analyst, body(dashboard(services, analyst)))
    signed_in(web, analyst).delete(f"/api/embed-tokens/{minted['jti']}")
    page = client.get(minted["url"])
    assert page.status_code == 401 and "revoked" in page.get_data(as_text=True)
    assert error_code(client.get(minted["url"] + "/data")) == "embed_revoked"


def test_a_deleted_widget_is_404_for_its_embed(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    board = dashboard(services, analyst)
    token = mint(web, analyst, body(board))["token"]
    actor = Actor(analyst.tenant_id, analyst.user_id, analyst.role)
    doc = {"title": "Ops", "widgets": [OTHER_WIDGET], "version": 1}
    services.dashboards.save(actor, board, doc)
    assert client.get(f"/embed/{token}/data").status_code == 404


# -- framing headers ---------------------------------------------------------------------


def test_embeds_may_be_framed_by_the_allowed_origins_and_nothing_else_may(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    token = mint(web, analyst, body(dashboard(services, analyst)))["token"]
    for path in [f"/embed/{token}", f"/embed/{token}/data", "/embed/garbage"]:
        resp = client.get(path)
        assert "frame-ancestors https://intranet.example" in resp.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in resp.headers, path
    for path in ["/login", "/healthz", "/api/metrics"]:
        resp = client.get(path)
        assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"], path
        assert resp.headers["X-Frame-Options"] == "SAMEORIGIN", path


def test_with_no_allowed_origin_an_embed_may_be_framed_by_pulse_only(
    services: Services, analyst: User
) -> None:
    client = signed_in_to(with_settings(services, embed_allowed_origins=""), analyst)
    token = mint(client.application, analyst, body(dashboard(services, analyst)))["token"]
    policy = client.get(f"/embed/{token}").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy


def test_the_embed_is_light_unless_the_embedding_page_asks_for_dark(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    token = mint(web, analyst, body(dashboard(services, analyst)))["token"]
    assert 'data-theme="light"' in client.get(f"/embed/{token}").get_data(as_text=True)
    page = client.get(f"/embed/{token}?theme=dark").get_data(as_text=True)
    assert 'data-theme="dark"' in page
    odd = client.get(f"/embed/{token}?theme=%22%3E%3Cscript%3E").get_data(as_text=True)
    assert 'data-theme="light"' in odd and "<script>" not in odd.split("<body")[0]
