"""/api/users and /api/keys (CONTRACT.md §8): admins of the tenant only, other tenants' ids
404, one 422 detail per bad field, an admin never locks the tenant out (409), a disabled
user's sessions end at once, a revoked or expired key is refused within 30 s, and every
change is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from app.services import Services
from app.web.auth import KEY_CACHE_S
from data.stores.accounts import User
from data.stores.schema_accounts import api_keys, audit_log
from tests.conftest import PASSWORD, FakeClock, signed_in

Make = Callable[..., User]


@pytest.fixture
def admin_user(tenant: str, make_user: Make) -> User:
    return make_user(tenant, "admin")


@pytest.fixture
def admin(web: Any, admin_user: User) -> Any:
    """A signed-in admin of the test tenant."""
    return signed_in(web, admin_user)


def actions(services: Services, tenant: str) -> list[tuple[str, str]]:
    """(action, target) of the tenant's audit entries, oldest first."""
    query = (
        select(audit_log.c.action, audit_log.c.target)
        .where(audit_log.c.tenant_id == tenant)
        .order_by(audit_log.c.audit_id)
    )
    with services.engine.connect() as conn:
        return [(row.action, row.target) for row in conn.execute(query)]


def problems(resp: Any, code: str) -> dict[str, str]:
    assert resp.status_code == 422, resp.get_json()
    body = resp.get_json()["error"]
    assert body["code"] == code
    return {d["field"]: d["message"] for d in body["details"]}


# -- users ---------------------------------------------------------------------------------


def test_list_users_shows_the_tenants_users_only(
    admin: Any, admin_user: User, tenant: str, new_tenant_user: User, make_user: Make
) -> None:
    viewer = make_user(tenant, "viewer")
    listed = admin.get("/api/users").get_json()["users"]
    assert {u["id"] for u in listed} == {admin_user.user_id, viewer.user_id}
    entry = next(u for u in listed if u["id"] == viewer.user_id)
    assert entry["role"] == "viewer" and entry["active"] is True
    assert entry["username"] == viewer.username and entry["email"] == viewer.email
    assert "password_hash" not in entry and entry["created_at"]


@pytest.fixture
def new_tenant_user(services: Services, make_user: Make) -> User:
    from tests.conftest import new_tenant

    return make_user(new_tenant(services), "admin")


def test_a_new_role_holds_from_the_next_request(
    web: Any, admin: Any, services: Services, tenant: str, make_user: Make
) -> None:
    viewer = make_user(tenant, "viewer")
    as_viewer = signed_in(web, viewer)
    assert as_viewer.get("/api/sources").status_code == 403
    resp = admin.put(f"/api/users/{viewer.user_id}", json={"role": "admin"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["role"] == "admin"
    assert as_viewer.get("/api/sources").status_code == 200  # same session, new role
    admin.put(f"/api/users/{viewer.user_id}", json={"role": "viewer"})
    assert as_viewer.get("/api/sources").status_code == 403
    assert actions(services, tenant)[-2:] == [
        ("user.role", viewer.username),
        ("user.role", viewer.username),
    ]


def test_disabling_a_user_ends_their_sessions_at_once_and_enabling_lets_them_back(
    web: Any, admin: Any, services: Services, tenant: str, make_user: Make
) -> None:
    viewer = make_user(tenant, "viewer")
    as_viewer = signed_in(web, viewer)
    assert as_viewer.get("/api/metrics").status_code == 200
    resp = admin.put(f"/api/users/{viewer.user_id}", json={"active": False})
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    assert as_viewer.get("/api/metrics").status_code == 401
    login = web.test_client().post(
        "/login", json={"username": viewer.username, "password": PASSWORD}
    )
    assert login.status_code == 401
    assert admin.put(f"/api/users/{viewer.user_id}", json={"active": True}).status_code == 200
    assert signed_in(web, viewer).get("/api/metrics").status_code == 200
    changes = [entry for entry in actions(services, tenant) if entry[0].startswith("user.")]
    assert changes[-2:] == [  # among sign-ins, which are audited too
        ("user.disable", viewer.username),
        ("user.enable", viewer.username),
    ]


def test_an_unchanged_field_writes_no_audit_entry(
    admin: Any, services: Services, tenant: str, make_user: Make
) -> None:
    viewer = make_user(tenant, "viewer")
    before = actions(services, tenant)
    resp = admin.put(f"/api/users/{viewer.user_id}", json={"role": "viewer", "active": True})
    assert resp.status_code == 200
    assert actions(services, tenant) == before


def test_an_admin_cannot_demote_disable_or_delete_themselves(
    admin: Any, admin_user: User, tenant: str, make_user: Make
) -> None:
    make_user(tenant, "admin")  # not the last admin: the refusal is about oneself
    for resp in (
        admin.put(f"/api/users/{admin_user.user_id}", json={"role": "analyst"}),
        admin.put(f"/api/users/{admin_user.user_id}", json={"active": False}),
        admin.delete(f"/api/users/{admin_user.user_id}"),
    ):
        assert resp.status_code == 409, resp.get_json()
        error = resp.get_json()["error"]
        assert error["code"] == "own_account" and "yourself" in error["message"]
    assert admin.get("/api/users").get_json()["users"][0]["role"] == "admin"


def test_the_tenants_last_admin_cannot_be_demoted_disabled_or_deleted(
    services: Services, tenant: str, make_user: Make
) -> None:
    """Through the store (the actor is no user, as from the CLI): the API adds the
    self-check on top, so an admin can only ever reach another admin."""
    from data.domain.errors import Conflict
    from data.stores.administration import Administration

    only = make_user(tenant, "admin")
    admin = Administration(services.accounts, services.clock)
    for change in ({"role": "viewer"}, {"active": False}):
        with pytest.raises(Conflict, match="last admin") as refused:
            admin.change_user(tenant, None, only.user_id, **change)
        assert refused.value.code == "last_admin"
    with pytest.raises(Conflict, match="last admin"):
        admin.delete_user(tenant, None, only.user_id)
    other = make_user(tenant, "admin")
    admin.change_user(tenant, None, other.user_id, active=False)  # a disabled admin…
    with pytest.raises(Conflict, match="last admin"):  # …counts for nothing
        admin.change_user(tenant, None, only.user_id, role="analyst")


def test_an_admin_may_demote_or_disable_another_admin(
    web: Any, admin: Any, tenant: str, make_user: Make
) -> None:
    other = make_user(tenant, "admin")
    as_other = signed_in(web, other)
    resp = admin.put(f"/api/users/{other.user_id}", json={"role": "analyst"})
    assert resp.status_code == 200, resp.get_json()
    assert as_other.get("/api/users").status_code == 403
    admin.put(f"/api/users/{other.user_id}", json={"role": "admin"})
    assert admin.put(f"/api/users/{other.user_id}", json={"active": False}).status_code == 200
    assert as_other.get("/api/users").status_code == 401


def test_deleting_a_user_removes_them_ends_their_sessions_and_is_audited(
    web: Any, admin: Any, services: Services, tenant: str, make_user: Make
) -> None:
    analyst = make_user(tenant, "analyst")
    as_analyst = signed_in(web, analyst)
    assert admin.delete(f"/api/users/{analyst.user_id}").status_code == 204
    assert as_analyst.get("/api/metrics").status_code == 401
    assert services.accounts.get_user(analyst.user_id) is None
    assert admin.delete(f"/api/users/{analyst.user_id}").status_code == 404
    assert actions(services, tenant)[-1] == ("user.delete", analyst.username)


def test_another_tenants_users_are_not_found(
    admin: Any, new_tenant_user: User, services: Services
) -> None:
    target = new_tenant_user.user_id
    for resp in (
        admin.put(f"/api/users/{target}", json={"role": "viewer"}),
        admin.delete(f"/api/users/{target}"),
        admin.put("/api/users/no-such-user", json={"active": False}),
    ):
        assert resp.status_code == 404, resp.get_json()
        assert resp.get_json()["error"]["code"] == "not_found"
    assert services.accounts.get_user(target) is not None


def test_a_bad_user_change_names_each_bad_field(admin: Any, tenant: str, make_user: Make) -> None:
    viewer = make_user(tenant, "viewer")
    resp = admin.put(f"/api/users/{viewer.user_id}", json={"role": "owner", "active": "no", "x": 1})
    found = problems(resp, "invalid_user")
    assert set(found) == {"role", "active", "x"}
    assert admin.put(f"/api/users/{viewer.user_id}", json=[1]).status_code == 400


def test_lesser_roles_and_keys_may_not_administer(
    web: Any, tenant: str, make_user: Make, ingest_key: str
) -> None:
    target = make_user(tenant, "viewer").user_id
    for role in ("viewer", "analyst"):
        client = signed_in(web, make_user(tenant, role))
        assert client.get("/api/users").status_code == 403
        assert client.put(f"/api/users/{target}", json={"role": "admin"}).status_code == 403
        assert client.delete(f"/api/users/{target}").status_code == 403
        assert client.get("/api/keys").status_code == 403
        assert client.post("/api/keys", json={"name": "k", "scope": "read"}).status_code == 403
    bearer = {"Authorization": f"Bearer {ingest_key}"}
    assert web.test_client().get("/api/users", headers=bearer).status_code == 403
    assert web.test_client().get("/api/keys").status_code == 401


# -- keys ----------------------------------------------------------------------------------


def test_a_new_key_is_shown_once_then_listed_without_its_secret(
    admin: Any, admin_user: User, services: Services, tenant: str
) -> None:
    resp = admin.post("/api/keys", json={"name": "telegraf", "scope": "ingest"})
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["secret"].startswith("pk_") and created["scope"] == "ingest"
    assert created["created_by"] == admin_user.username and created["revoked"] is False
    assert created["expires_at"] and created["last_used_at"] is None
    listed = admin.get("/api/keys").get_json()["keys"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "secret" not in listed[0] and created["secret"] not in str(listed)
    assert {k: v for k, v in created.items() if k != "secret"} == listed[0]
    assert actions(services, tenant)[-1] == ("api_key.create", "telegraf")
    never = admin.post(
        "/api/keys", json={"name": "forever", "scope": "read", "expires_in_days": None}
    )
    assert never.status_code == 201 and never.get_json()["expires_at"] is None


def test_a_bad_key_request_names_each_bad_field(admin: Any) -> None:
    resp = admin.post("/api/keys", json={"name": "", "scope": "write", "expires_in_days": 0})
    assert set(problems(resp, "invalid_api_key")) == {"name", "scope", "expires_in_days"}
    assert set(problems(admin.post("/api/keys", json={}), "invalid_api_key")) == {
        "name",
        "scope",
    }
    resp = admin.post("/api/keys", json={"name": "  ", "scope": "read"})
    assert problems(resp, "invalid_api_key") == {"name": "must not be blank"}
    resp = admin.post("/api/keys", json={"name": "a\u0000b", "scope": "read"})
    assert set(problems(resp, "invalid_api_key")) == {"name"}


def test_a_revoked_key_is_refused_within_the_cache_time(
    web: Any, admin: Any, services: Services, tenant: str
) -> None:
    secret = admin.post("/api/keys", json={"name": "reader", "scope": "read"}).get_json()
    bearer = {"Authorization": f"Bearer {secret['secret']}"}
    assert web.test_client().get("/api/metrics", headers=bearer).status_code == 200
    assert KEY_CACHE_S <= 30
    cached = [
        k
        for k in services.redis.scan_iter(f"{services.settings.redis_prefix}api-key:*")
        if 0 < services.redis.ttl(k) <= 30
    ]
    assert cached, "the verified key is cached for at most 30 s"
    assert admin.delete(f"/api/keys/{secret['id']}").status_code == 204
    for key in cached:  # what 30 s of waiting does to the cache
        services.redis.delete(key)
    resp = web.test_client().get("/api/metrics", headers=bearer)
    assert resp.status_code == 401
    listed = admin.get("/api/keys").get_json()["keys"]
    assert listed[0]["revoked"] is True
    assert admin.delete(f"/api/keys/{secret['id']}").status_code == 204  # again: no change
    assert actions(services, tenant).count(("api_key.revoke", "reader")) == 1


def test_an_expired_key_is_refused_even_from_the_cache(
    web: Any, admin: Any, clock: FakeClock
) -> None:
    created = admin.post(
        "/api/keys", json={"name": "short", "scope": "read", "expires_in_days": 1}
    ).get_json()
    bearer = {"Authorization": f"Bearer {created['secret']}"}
    assert web.test_client().get("/api/metrics", headers=bearer).status_code == 200
    clock.advance(86_400 + 1)
    assert web.test_client().get("/api/metrics", headers=bearer).status_code == 401


def test_last_used_at_is_kept_at_most_once_a_minute(
    web: Any, admin: Any, services: Services, clock: FakeClock
) -> None:
    created = admin.post("/api/keys", json={"name": "used", "scope": "read"}).get_json()
    bearer = {"Authorization": f"Bearer {created['secret']}"}

    def last_used() -> Any:
        with services.engine.connect() as conn:
            query = select(api_keys.c.last_used_at).where(api_keys.c.key_id == created["id"])
            return conn.execute(query).scalar_one()

    web.test_client().get("/api/metrics", headers=bearer)
    first = last_used()
    assert first is not None
    clock.advance(30)
    web.test_client().get("/api/metrics", headers=bearer)
    assert last_used() == first  # within the minute: no write
    listed = admin.get("/api/keys").get_json()["keys"]
    assert listed[0]["last_used_at"] == first.isoformat()


def test_another_tenants_keys_are_not_found(
    web: Any, admin: Any, services: Services, new_tenant_user: User
) -> None:
    other = signed_in(web, new_tenant_user)
    theirs = other.post("/api/keys", json={"name": "theirs", "scope": "read"}).get_json()
    assert admin.delete(f"/api/keys/{theirs['id']}").status_code == 404
    assert admin.delete("/api/keys/nope").status_code == 404
    assert theirs["id"] not in str(admin.get("/api/keys").get_json())
    assert other.get("/api/keys").get_json()["keys"][0]["revoked"] is False


def test_the_routes_are_in_the_openapi_document(admin: Any) -> None:
    paths = admin.get("/api/openapi.json").get_json()["paths"]
    assert set(paths["/api/users"]) == {"get"}
    assert set(paths["/api/users/{user_id}"]) == {"put", "delete"}
    assert set(paths["/api/keys"]) == {"get", "post"}
    assert set(paths["/api/keys/{key_id}"]) == {"delete"}
    assert set(paths["/api/sources/{source_id}/test"]) == {"post"}


def test_forged_ids_are_not_found_never_a_server_error(admin: Any) -> None:
    for path in ("/api/users/a%00b", "/api/users/" + "9" * 300, "/api/keys/a%00b"):
        resp = admin.delete(path)
        assert resp.status_code == 404, (path, resp.get_data(as_text=True)[:200])
    assert admin.put("/api/users/a%00b", json={"role": "viewer"}).status_code == 404


def test_only_an_admins_navbar_links_to_the_admin_page(
    web: Any, admin: Any, tenant: str, make_user: Make
) -> None:
    assert "'href': '/admin'" in str(admin.get("/_dash-layout").get_json())
    for role in ("viewer", "analyst"):
        layout = signed_in(web, make_user(tenant, role)).get("/_dash-layout")
        assert layout.status_code == 200 and "/admin" not in str(layout.get_json())
