"""/api/sources: admins of the tenant only, per-field validation, 409 on a taken name,
other tenants' sources are 404, credentials masked, changes audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from app.services import Services
from app.web.factory import create_app
from data.stores.schema import sources
from data.stores.schema_accounts import audit_log
from tests.conftest import signed_in_to, with_settings

PROM = {"name": "node", "kind": "prometheus", "config": {"url": "http://127.0.0.1:9100/metrics"}}


@pytest.fixture
def admin(services: Services, tenant: str, make_user) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A signed-in admin of the test tenant; the tenant's sources are removed afterwards."""
    yield signed_in_to(services, make_user(tenant, "admin"))
    with services.engine.begin() as conn:
        conn.execute(delete(sources).where(sources.c.tenant_id == tenant))


def problems(resp: Any) -> dict[str, str]:
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()["error"]
    assert body["code"] == "invalid_source"
    return {d["field"]: d["message"] for d in body["details"]}


def test_create_list_get_update_delete(admin: Any, services: Services, tenant: str) -> None:
    resp = admin.post("/api/sources", json={**PROM, "interval_s": 15})
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["name"] == "node" and created["kind"] == "prometheus"
    assert (created["interval_s"], created["timeout_s"], created["enabled"]) == (15, 10, True)
    assert created["config"]["include"] == ["*"]  # defaults filled in
    assert created["health"] == {
        "status": "pending",
        "last_success_at": None,
        "last_error_at": None,
        "last_error": None,
        "consecutive_failures": 0,
    }
    source_id = created["id"]
    listed = admin.get("/api/sources").get_json()["sources"]
    assert [s["id"] for s in listed] == [source_id]
    assert admin.get(f"/api/sources/{source_id}").get_json() == created

    resp = admin.put(
        f"/api/sources/{source_id}",
        json={"enabled": False, "config": {**PROM["config"], "max_series": 50}},
    )
    assert resp.status_code == 200, resp.get_json()
    changed = resp.get_json()
    assert changed["enabled"] is False and changed["config"]["max_series"] == 50
    assert changed["interval_s"] == 15 and changed["health"]["status"] == "disabled"

    assert admin.delete(f"/api/sources/{source_id}").status_code == 204
    assert admin.get(f"/api/sources/{source_id}").status_code == 404
    assert admin.delete(f"/api/sources/{source_id}").status_code == 404
    with services.engine.connect() as conn:
        actions = conn.execute(
            select(audit_log.c.action, audit_log.c.target, audit_log.c.details)
            .where(audit_log.c.tenant_id == tenant, audit_log.c.action.like("source.%"))
            .order_by(audit_log.c.audit_id)
        ).all()
    assert [(a, t) for a, t, _ in actions] == [
        ("source.create", "node"),
        ("source.update", "node"),
        ("source.delete", "node"),
    ]
    assert actions[1][2] == {"changed": ["config", "enabled"]}


def test_bad_definitions_answer_422_per_field(admin: Any) -> None:
    assert problems(admin.post("/api/sources", json={"name": "bad name!", "kind": "nope"})) == {
        "name": "must be 1-128 characters of A-Z a-z 0-9 _ . : -",
        "kind": "Input should be 'prometheus', 'http_json', 'sql', 'file_tail' or 'demo'",
    }
    found = problems(
        admin.post(
            "/api/sources",
            json={
                "name": "api",
                "kind": "http_json",
                "interval_s": 0,
                "config": {
                    "url": "ftp://x",
                    "values": [{"path": "a..b", "metric": "m"}],
                    "extra": 1,
                },
            },
        )
    )
    assert set(found) == {"interval_s", "config.url", "config.values.0.path", "config.extra"}
    assert found["config.url"] == "must be an http:// or https:// URL of at most 2000 characters"
    found = problems(
        admin.post(
            "/api/sources",
            json={"name": "db", "kind": "sql", "config": {"url": "not a url", "query": "SELECT 1"}},
        )
    )
    assert set(found) == {"config.url", "config.query"}
    assert "config.format" in problems(
        admin.post(
            "/api/sources", json={"name": "f", "kind": "file_tail", "config": {"path": "x.csv"}}
        )
    )
    resp = admin.post("/api/sources", data="nope", content_type="application/json")
    assert resp.status_code == 400
    assert problems(admin.post("/api/sources", json=[1])) == {"body": "must be a JSON object"}


def test_a_taken_name_is_409_and_a_rename_onto_it_too(admin: Any) -> None:
    assert admin.post("/api/sources", json=PROM).status_code == 201
    resp = admin.post("/api/sources", json=PROM)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "name_taken"
    other = admin.post("/api/sources", json={**PROM, "name": "node-2"}).get_json()
    assert admin.put(f"/api/sources/{other['id']}", json={"name": "node"}).status_code == 409
    bad = admin.put(f"/api/sources/{other['id']}", json={"kind": "sql"})
    assert set(problems(bad)) >= {"config.query"}


def test_other_tenants_and_lesser_roles_get_nothing(
    admin: Any, services: Services, tenant: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    source_id = admin.post("/api/sources", json=PROM).get_json()["id"]
    stranger_tenant = f"t-{uuid.uuid4().hex[:12]}"
    stranger = signed_in_to(services, make_user(stranger_tenant, "admin"))
    assert stranger.get("/api/sources").get_json() == {"sources": []}
    for method in ("get", "put", "delete"):
        resp = getattr(stranger, method)(f"/api/sources/{source_id}", json={"enabled": False})
        assert resp.status_code == 404, method
    assert stranger.get("/api/sources/not-a-uuid").status_code == 404
    for role in ("viewer", "analyst"):
        client = signed_in_to(services, make_user(tenant, role))
        assert client.get("/api/sources").status_code == 403
        assert client.post("/api/sources", json={**PROM, "name": "x"}).status_code == 403
    anonymous = create_app(services=services).server.test_client()
    assert anonymous.get("/api/sources").status_code == 401
    key = services.accounts.create_api_key(tenant, "reader", "read")
    keyed = anonymous.get("/api/sources", headers={"Authorization": f"Bearer {key}"})
    assert keyed.status_code == 403
    assert admin.get(f"/api/sources/{source_id}").get_json()["enabled"] is True


@pytest.fixture
def sql_admin(services: Services, tenant: str, make_user) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A signed-in admin of the test tenant on a Pulse with SQL_SOURCES_ENABLED=1."""
    yield signed_in_to(
        with_settings(services, sql_sources_enabled=True), make_user(tenant, "admin")
    )
    with services.engine.begin() as conn:
        conn.execute(delete(sources).where(sources.c.tenant_id == tenant))


SHOP_QUERY = "SELECT ts, 'm', s, v FROM t WHERE ts > :since"


def test_credentials_are_masked_and_kept_when_sent_back(sql_admin: Any, services: Services) -> None:
    admin = sql_admin
    url = "postgresql+psycopg://reader:hunter2@db.internal:5432/shop"
    resp = admin.post(
        "/api/sources",
        json={
            "name": "shop-db",
            "kind": "sql",
            "config": {"url": url, "query": SHOP_QUERY},
        },
    )
    shown = resp.get_json()
    assert "hunter2" not in resp.get_data(as_text=True)
    assert shown["config"]["url"] == "postgresql+psycopg://reader:***@db.internal:5432/shop"
    config = {**shown["config"], "max_rows": 500}  # an edit of what GET showed
    assert admin.put(f"/api/sources/{shown['id']}", json={"config": config}).status_code == 200
    with services.engine.connect() as conn:
        stored = conn.execute(
            select(sources.c.config).where(sources.c.source_id == shown["id"])
        ).scalar_one()
    assert stored["url"] == url and stored["max_rows"] == 500

    api = admin.post(
        "/api/sources",
        json={
            "name": "api",
            "kind": "http_json",
            "config": {
                "url": "https://api.example/stats",
                "headers": {"Authorization": "Bearer tok-1", "Accept-Language": "en"},
                "values": [{"path": "a", "metric": "m"}],
            },
        },
    ).get_json()
    assert api["config"]["headers"] == {"Authorization": "***", "Accept-Language": "en"}
    admin.put(f"/api/sources/{api['id']}", json={"config": api["config"]})
    with services.engine.connect() as conn:
        stored = conn.execute(
            select(sources.c.config).where(sources.c.source_id == api["id"])
        ).scalar_one()
    assert stored["headers"] == {"Authorization": "Bearer tok-1", "Accept-Language": "en"}


def stored_config(services: Services, source_id: str) -> dict[str, Any]:
    with services.engine.connect() as conn:
        return dict(
            conn.execute(
                select(sources.c.config).where(sources.c.source_id == source_id)
            ).scalar_one()
        )


def test_a_masked_sql_password_follows_only_the_same_server_database_and_user(
    sql_admin: Any, services: Services
) -> None:
    url = "postgresql+psycopg://reader:hunter2@db.internal:5432/shop"
    created = sql_admin.post(
        "/api/sources",
        json={"name": "shop-db", "kind": "sql", "config": {"url": url, "query": SHOP_QUERY}},
    ).get_json()
    masked = created["config"]["url"]
    for moved in (
        masked.replace("db.internal", "evil.example"),
        masked.replace(":5432", ":5433"),
        masked.replace("/shop", "/other"),
        masked.replace("reader:", "admin:"),
    ):
        resp = sql_admin.put(
            f"/api/sources/{created['id']}", json={"config": {**created["config"], "url": moved}}
        )
        assert problems(resp) == {
            "config.url": "a changed server, database or user needs its own password (not ***)"
        }
    assert stored_config(services, created["id"])["url"] == url
    moved_with_password = url.replace("db.internal", "db2.internal")
    resp = sql_admin.put(
        f"/api/sources/{created['id']}",
        json={"config": {**created["config"], "url": moved_with_password}},
    )
    assert resp.status_code == 200
    assert stored_config(services, created["id"])["url"] == moved_with_password


def test_credentials_in_http_urls_are_masked_and_kept_only_for_the_same_host(
    admin: Any, services: Services
) -> None:
    url = "https://user:pa55@api.example/stats?token=t0k&api_key=k3y&apikey=k4&access_token=a"
    url += "&password=pw&page=2"
    resp = admin.post(
        "/api/sources",
        json={
            "name": "api",
            "kind": "http_json",
            "config": {"url": url, "values": [{"path": "a", "metric": "m"}]},
        },
    )
    assert resp.status_code == 201, resp.get_json()
    text = resp.get_data(as_text=True)
    for secret in ("pa55", "t0k", "k3y", "k4", "=a&", "pw"):
        assert secret not in text
    shown = resp.get_json()["config"]
    assert shown["url"] == (
        "https://user:***@api.example/stats?token=***&api_key=***&apikey=***"
        "&access_token=***&password=***&page=2"
    )
    source_id = resp.get_json()["id"]
    assert admin.put(f"/api/sources/{source_id}", json={"config": shown}).status_code == 200
    assert stored_config(services, source_id)["url"] == url
    elsewhere = {**shown, "url": shown["url"].replace("api.example", "collector.example")}
    resp = admin.put(f"/api/sources/{source_id}", json={"config": elsewhere})
    assert "config.url" in problems(resp)
    assert stored_config(services, source_id)["url"] == url


def test_a_tenant_has_at_most_its_quota_of_sources_and_timeouts_of_60_s(
    services: Services, tenant: str, make_user: Any
) -> None:
    admin = signed_in_to(
        with_settings(services, max_sources_per_tenant=2), make_user(tenant, "admin")
    )
    try:
        for name in ("a", "b"):
            assert admin.post("/api/sources", json={**PROM, "name": name}).status_code == 201
        resp = admin.post("/api/sources", json={**PROM, "name": "c"})
        assert resp.status_code == 409
        assert resp.get_json()["error"]["code"] == "too_many_sources"
        assert "at most 2 sources" in resp.get_json()["error"]["message"]
        assert len(admin.get("/api/sources").get_json()["sources"]) == 2
        first = admin.get("/api/sources").get_json()["sources"][0]["id"]
        assert "timeout_s" in problems(admin.put(f"/api/sources/{first}", json={"timeout_s": 61}))
        assert admin.put(f"/api/sources/{first}", json={"timeout_s": 60}).status_code == 200
    finally:
        with services.engine.begin() as conn:
            conn.execute(delete(sources).where(sources.c.tenant_id == tenant))


def test_a_changed_config_starts_from_a_fresh_state(admin: Any, services: Services) -> None:
    source_id = admin.post("/api/sources", json=PROM).get_json()["id"]
    with services.engine.begin() as conn:
        conn.execute(
            sources.update()
            .where(sources.c.source_id == source_id)
            .values(state={"at": 1, "counters": {"x|y": 2.0}})
        )
    kept = admin.put(f"/api/sources/{source_id}", json={"interval_s": 30}).get_json()
    assert kept["state"] == {"at": 1, "counters": {"x|y": 2.0}}
    reset = admin.put(
        f"/api/sources/{source_id}", json={"config": {"url": "http://127.0.0.1:9101/metrics"}}
    ).get_json()
    assert reset["state"] == {}
