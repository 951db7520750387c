"""/api/me (CONTRACT.md §8) against real PostgreSQL and Redis: the signed-in user, their
preferences (each field validated, partial updates, the organisation's defaults under
them, home dashboards of their own tenant only) and a password change that ends their
other sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from app.services import Services
from data.stores.accounts import User
from data.stores.schema_accounts import audit_log
from tests.conftest import PASSWORD, signed_in


def audit_actions(services: Services, tenant: str) -> list[str]:
    query = select(audit_log.c.action).where(audit_log.c.tenant_id == tenant)
    with services.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def details(resp: Any) -> dict[str, str]:
    assert resp.status_code == 422, resp.get_json()
    return {d["field"]: d["message"] for d in resp.get_json()["error"]["details"]}


def test_me_describes_the_user_with_defaults_resolved(web, tenant, make_user) -> None:
    user = make_user(tenant, "analyst")
    body = signed_in(web, user).get("/api/me").get_json()
    assert body == {
        "id": user.user_id,
        "username": user.username,
        "email": user.email,
        "role": "analyst",
        "tenant": tenant,
        "email_verified": True,  # made by an operator: counts as verified
        "preferences": {
            "theme": "light",
            "timezone": "UTC",
            "default_range": "now-6h",
            "home_dashboard": None,
        },
    }


def test_preferences_update_partially_and_null_falls_back(web, tenant, make_user) -> None:
    browser = signed_in(web, make_user(tenant))
    resp = browser.put("/api/me/preferences", json={"theme": "dark", "timezone": "Europe/Paris"})
    assert resp.status_code == 200, resp.get_json()
    resp = browser.put("/api/me/preferences", json={"default_range": "now-7d"})
    prefs = resp.get_json()["preferences"]
    assert prefs == {
        "theme": "dark",
        "timezone": "Europe/Paris",
        "default_range": "now-7d",
        "home_dashboard": None,
    }
    prefs = browser.put("/api/me/preferences", json={"theme": None}).get_json()["preferences"]
    assert prefs["theme"] == "light" and prefs["timezone"] == "Europe/Paris"


def test_every_bad_field_has_its_own_detail_and_nothing_is_saved(web, tenant, make_user) -> None:
    browser = signed_in(web, make_user(tenant))
    bad = {
        "theme": "purple",
        "timezone": "Mars/Olympus",
        "default_range": "yesterday",
        "home_dashboard": 7,
        "colour": "red",
    }
    found = details(browser.put("/api/me/preferences", json=bad))
    assert set(found) == set(bad)
    assert "IANA" in found["timezone"] and "now-6h" in found["default_range"]
    for field, value in [("default_range", "now+1h"), ("default_range", "now-999d")]:
        assert set(details(browser.put("/api/me/preferences", json={field: value}))) == {field}
    assert browser.get("/api/me").get_json()["preferences"]["theme"] == "light"
    assert browser.put("/api/me/preferences", json=[1]).status_code == 400


def test_home_dashboard_must_be_one_the_user_sees(
    web, services: Services, tenant, make_user: Callable[..., User]
) -> None:
    owner, viewer = make_user(tenant, "analyst"), make_user(tenant)
    own = signed_in(web, owner)
    mine = own.post("/api/dashboards", json={"title": "Mine", "widgets": []}).get_json()
    resp = own.put("/api/me/preferences", json={"home_dashboard": mine["id"]})
    assert resp.get_json()["preferences"]["home_dashboard"] == mine["id"]
    other = signed_in(web, viewer)
    refused = other.put("/api/me/preferences", json={"home_dashboard": mine["id"], "theme": "dark"})
    assert refused.status_code == 404
    assert other.get("/api/me").get_json()["preferences"]["theme"] == "light"
    outsider = signed_in(web, make_user(f"{tenant}-x"))
    assert (
        outsider.put("/api/me/preferences", json={"home_dashboard": mine["id"]}).status_code == 404
    )
    cleared = own.put("/api/me/preferences", json={"home_dashboard": None}).get_json()
    assert cleared["preferences"]["home_dashboard"] is None


def test_tenant_defaults_sit_under_the_users_own_and_stay_in_their_tenant(
    web, tenant, make_user
) -> None:
    admin, viewer = signed_in(web, make_user(tenant, "admin")), signed_in(web, make_user(tenant))
    assert viewer.put("/api/tenant/preferences", json={"theme": "dark"}).status_code == 403
    resp = admin.put("/api/tenant/preferences", json={"theme": "dark", "timezone": "Asia/Tokyo"})
    assert resp.get_json() == {"preferences": {"theme": "dark", "timezone": "Asia/Tokyo"}}
    assert set(details(admin.put("/api/tenant/preferences", json={"home_dashboard": None})))
    assert viewer.get("/api/me").get_json()["preferences"]["timezone"] == "Asia/Tokyo"
    viewer.put("/api/me/preferences", json={"timezone": "Europe/Paris"})
    assert viewer.get("/api/me").get_json()["preferences"]["timezone"] == "Europe/Paris"
    elsewhere = signed_in(web, make_user(f"{tenant}-y"))
    assert elsewhere.get("/api/me").get_json()["preferences"]["theme"] == "light"


def test_password_change_checks_the_current_one_and_ends_other_sessions(
    web, services: Services, tenant, make_user
) -> None:
    user = make_user(tenant)
    here, there = signed_in(web, user), signed_in(web, user)
    wrong = details(here.post("/api/me/password", json={"current": "nope", "new": "x" * 12}))
    assert set(wrong) == {"current"}
    short = details(here.post("/api/me/password", json={"current": PASSWORD, "new": "short"}))
    assert set(short) == {"new"}
    same = {"current": PASSWORD, "new": user.username}
    if len(user.username) >= 8:
        assert set(details(here.post("/api/me/password", json=same))) == {"new"}
    assert set(details(here.post("/api/me/password", json={"current": PASSWORD}))) == {"new"}
    resp = here.post("/api/me/password", json={"current": PASSWORD, "new": "a-new-passphrase"})
    assert resp.status_code == 204
    assert here.get("/api/me").status_code == 200  # this session goes on
    assert there.get("/api/me").status_code == 401  # the other one is over
    assert services.accounts.authenticate(user.username, PASSWORD) is None
    assert services.accounts.authenticate(user.username, "a-new-passphrase") is not None
    assert "user.password" in audit_actions(services, tenant)


def test_email_change_and_keys_are_no_person(web, services: Services, tenant, make_user) -> None:
    browser = signed_in(web, make_user(tenant))
    assert set(details(browser.put("/api/me", json={"email": "not-an-address"}))) == {"email"}
    resp = browser.put("/api/me", json={"email": "new@example.org"})
    assert resp.get_json()["email"] == "new@example.org"
    key = services.accounts.create_api_key(tenant, "reader", "read")
    answer = web.test_client().get("/api/me", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403
    assert web.test_client().get("/api/me").status_code == 401


@pytest.mark.parametrize("zone", ["UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_every_iana_zone_form_is_taken(web, tenant, make_user, zone: str) -> None:
    browser = signed_in(web, make_user(tenant))
    assert browser.put("/api/me/preferences", json={"timezone": zone}).status_code == 200
