"""An embed's notifications widget (CONTRACT.md §7): the tenant's latest notifications,
read-only, one line per alert event, within the token's locked sources — and nothing of
them for an embed whose resource has no notifications widget (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import Services
from data.stores.accounts import User
from tests.alerts_support import create_rule, firing_incident
from tests.conftest import new_tenant
from tests.integration.test_embed_tokens import WIDGET, dashboard, mint, seed

NOTES = {
    "id": "notes",
    "type": "notifications",
    "title": "Alerts",
    "query": {"metric": []},
    "layout": {"x": 6, "y": 0, "w": 6, "h": 4},
}
HEAT = {**WIDGET, "id": "heat", "type": "heatmap", "title": "CPU heat"}


@pytest.fixture
def analyst(make_user, tenant: str) -> User:  # type: ignore[no-untyped-def]
    return make_user(tenant, "analyst")


def fire(services: Services, tenant: str, series: str) -> str:
    """A firing incident of a CPU rule on `series`; its message."""
    rule = create_rule(services, tenant, name=f"CPU hot on {series}")
    firing_incident(services, rule, series, 93.5)
    return f"{rule.name}: cpu.usage 93.5 > 80 on {series}"


def token_of(web: Any, user: User, board: str, **resource: Any) -> str:
    doc = {"resource": {"type": "dashboard", "dashboard_id": board, **resource}}
    return str(mint(web, user, doc)["token"])


def test_a_dashboard_embed_lists_the_tenants_latest_notifications_once_each(
    client: Any, web: Any, services: Services, make_user, analyst: User
) -> None:  # type: ignore[no-untyped-def]
    make_user(analyst.tenant_id, "viewer")  # a second recipient: still one line
    message = fire(services, analyst.tenant_id, "web-1")
    stranger = make_user(new_tenant(services), "analyst")
    fire(services, stranger.tenant_id, "secret-host")
    token = token_of(web, analyst, dashboard(services, analyst, [HEAT, NOTES]))
    widgets = {w["id"]: w for w in client.get(f"/embed/{token}/data").get_json()["widgets"]}
    listed = widgets["notes"]["notifications"]
    assert [n["message"] for n in listed] == [message]
    nobodys = {"message", "severity", "state", "metric", "source", "value", "timestamp"}
    assert set(listed[0]) == nobodys  # no ids, no read state
    assert "notifications" not in widgets["heat"]
    resp = client.get(f"/embed/{token}/notifications")
    assert resp.status_code == 200 and resp.get_json()["notifications"] == listed
    assert "secret-host" not in resp.get_data(as_text=True)


def test_a_widget_embed_of_a_chart_cannot_read_notifications(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    seed(services, analyst.tenant_id)
    fire(services, analyst.tenant_id, "web-1")
    board = dashboard(services, analyst, [HEAT, NOTES])
    token = token_of(web, analyst, board, type="widget", widget_id="heat")
    resp = client.get(f"/embed/{token}/notifications")
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "forbidden"
    data = client.get(f"/embed/{token}/data")
    assert "93.5" not in data.get_data(as_text=True)
    [widget] = data.get_json()["widgets"]
    assert widget["type"] == "heatmap" and "notifications" not in widget
    assert widget["step_ms"] > 0 and widget["series"]


def test_locked_sources_keep_other_sources_notifications_out(
    client: Any, web: Any, services: Services, analyst: User
) -> None:
    mine = fire(services, analyst.tenant_id, "web-1")
    fire(services, analyst.tenant_id, "web-2")
    board = dashboard(services, analyst, [NOTES])
    doc = {
        "resource": {"type": "widget", "dashboard_id": board, "widget_id": "notes"},
        "filters": {"source": ["web-1"]},
    }
    token = mint(web, analyst, doc)["token"]
    listed = client.get(f"/embed/{token}/notifications").get_json()["notifications"]
    assert [n["message"] for n in listed] == [mine]
    widget_doc = client.get(f"/embed/{token}/data").get_json()["widgets"][0]
    assert widget_doc["notifications"] == listed
