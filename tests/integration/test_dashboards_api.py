"""/api/dashboards (CONTRACT.md §6) over HTTP: every status the section names, tenants and
users kept apart (404, never 403, for what the caller does not see), the version check
of a save, export and import (into another tenant too, by metric names), personal views,
and what a read key may do."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from app.services import Services
from data.stores.accounts import User
from tests.conftest import new_tenant, signed_in
from tests.dashboards_support import WIDGETS, doc

JSON = dict[str, Any]


@pytest.fixture
def analyst(make_user: Callable[..., User], tenant: str) -> User:
    return make_user(tenant, "analyst")


@pytest.fixture
def as_user(web: Any) -> Callable[[User], Any]:
    return lambda user: signed_in(web, user)


def created(client: Any, body: JSON) -> JSON:
    resp = client.post("/api/dashboards", json=body)
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def error(resp: Any, status: int) -> JSON:
    assert resp.status_code == status, resp.get_data(as_text=True)
    return dict(resp.get_json()["error"])


def test_create_read_list_save_delete(analyst: User, as_user: Callable) -> None:
    client = as_user(analyst)
    board = created(client, doc("Sales"))
    assert board["title"] == "Sales" and board["version"] == 1 and board["shared"] is False
    assert board["time"] == {"start": "now-6h", "end": "now"}
    assert [w["id"] for w in board["widgets"]] == ["orders", "cpu"]
    assert board["widgets"][0]["layout"] == {"x": 0, "y": 0, "w": 6, "h": 4}
    assert board["owner"] == analyst.username and board["editable"] is True

    listed = client.get("/api/dashboards").get_json()["dashboards"]
    assert [set(line) for line in listed] == [{"id", "title", "owner", "shared", "updated_at"}]
    assert listed[0]["id"] == board["id"]

    assert client.get(f"/api/dashboards/{board['id']}").get_json() == board
    saved = client.put(f"/api/dashboards/{board['id']}", json={**board, "title": "Sales 2"})
    assert saved.status_code == 200 and saved.get_json()["version"] == 2
    assert saved.get_json()["title"] == "Sales 2"

    assert client.delete(f"/api/dashboards/{board['id']}").status_code == 204
    error(client.get(f"/api/dashboards/{board['id']}"), 404)
    assert client.get("/api/dashboards").get_json() == {"dashboards": []}


def test_a_stale_version_is_409_then_the_fresh_one_saves(
    analyst: User, make_user: Callable, tenant: str, as_user: Callable
) -> None:
    admin = as_user(make_user(tenant, "admin"))
    mine = as_user(analyst)
    board = created(mine, doc("Shared", shared=True))
    path = f"/api/dashboards/{board['id']}"
    first = admin.put(path, json={**board, "title": "By the admin"})
    assert first.status_code == 200 and first.get_json()["version"] == 2

    stale = mine.put(path, json={**board, "title": "Mine"})
    assert error(stale, 409)["code"] == "version_conflict"
    assert mine.get(path).get_json()["title"] == "By the admin"

    fresh = mine.get(path).get_json()
    again = mine.put(path, json={**fresh, "title": "Mine"})
    assert again.status_code == 200 and again.get_json()["version"] == 3
    assert again.get_json()["title"] == "Mine"


def test_bad_fields_are_422_with_one_detail_each(analyst: User, as_user: Callable) -> None:
    client = as_user(analyst)
    widgets = copy.deepcopy(WIDGETS)
    widgets[0]["layout"] = {"x": 8, "y": 0, "w": 6, "h": 4}  # x + w = 14
    widgets[1]["type"] = "gauge"
    body = doc("Bad", widgets=widgets, time={"start": "yesterday", "end": "now"})
    details = error(client.post("/api/dashboards", json=body), 422)["details"]
    fields = sorted(d["field"] for d in details)
    assert fields == ["time.start", "widgets.1.type"], details  # pydantic's, then the grid's
    body = doc("Bad", widgets=[widgets[0]])
    details = error(client.post("/api/dashboards", json=body), 422)["details"]
    assert details == [{"field": "widgets.0.layout.w", "message": "x + w must be at most 12"}]

    many = [{**WIDGETS[0], "id": f"w{i}"} for i in range(51)]
    details = error(client.post("/api/dashboards", json=doc("Many", widgets=many)), 422)
    assert [d["field"] for d in details["details"]] == ["widgets"]

    board = created(client, doc())
    no_version = {k: v for k, v in board.items() if k != "version"}
    refused = error(client.put(f"/api/dashboards/{board['id']}", json=no_version), 422)
    assert refused["details"] == [
        {"field": "version", "message": "the version you loaded is required"}
    ]
    error(client.post("/api/dashboards", json=[doc()]), 400)


def test_who_sees_and_who_changes(
    analyst: User, make_user: Callable, tenant: str, as_user: Callable
) -> None:
    viewer_user = make_user(tenant, "viewer")
    viewer, mine = as_user(viewer_user), as_user(analyst)
    other = as_user(make_user(tenant, "analyst"))
    personal = created(mine, doc("Personal"))
    shared = created(mine, doc("Shared", shared=True))

    error(other.get(f"/api/dashboards/{personal['id']}"), 404)  # another user's personal
    error(other.put(f"/api/dashboards/{personal['id']}", json=personal), 404)
    error(other.delete(f"/api/dashboards/{personal['id']}"), 404)
    assert [d["id"] for d in other.get("/api/dashboards").get_json()["dashboards"]] == [
        shared["id"]
    ]
    seen = viewer.get(f"/api/dashboards/{shared['id']}").get_json()
    assert seen["editable"] is False
    error(viewer.put(f"/api/dashboards/{shared['id']}", json=shared), 403)
    error(other.delete(f"/api/dashboards/{shared['id']}"), 403)

    # any signed-in user makes personal dashboards; sharing needs analyst or admin
    own = created(viewer, doc("Viewer's"))
    assert own["owner"] == viewer_user.username
    error(viewer.post("/api/dashboards", json=doc("Viewer's", shared=True)), 403)
    error(viewer.put(f"/api/dashboards/{own['id']}", json={**own, "shared": True}), 403)


def test_no_session_is_401(client: Any) -> None:
    assert error(client.get("/api/dashboards"), 401)["code"] == "unauthenticated"
    error(client.post("/api/dashboards", json=doc()), 401)


def test_another_tenants_ids_are_404(
    analyst: User, make_user: Callable, services: Services, as_user: Callable
) -> None:
    board = created(as_user(analyst), doc("Theirs", shared=True))
    stranger = as_user(make_user(new_tenant(services), "admin"))
    path = f"/api/dashboards/{board['id']}"
    for resp in (
        stranger.get(path),
        stranger.put(path, json=board),
        stranger.delete(path),
        stranger.post(f"{path}/copy"),
        stranger.get(f"{path}/export"),
        stranger.put(f"{path}/view", json={"collapsed": []}),
    ):
        body = error(resp, 404)
        assert body["code"] == "not_found" and "Theirs" not in resp.get_data(as_text=True)
    assert stranger.get("/api/dashboards").get_json() == {"dashboards": []}
    error(stranger.get("/api/dashboards/not-a-uuid"), 404)


def test_copy_is_personal_and_keeps_edits_of_a_stale_save(
    analyst: User, make_user: Callable, tenant: str, as_user: Callable
) -> None:
    board = created(as_user(analyst), doc("Shared", shared=True))
    viewer = as_user(make_user(tenant, "viewer"))
    resp = viewer.post(f"/api/dashboards/{board['id']}/copy")
    assert resp.status_code == 201
    copied = resp.get_json()
    assert copied["title"] == "Copy of Shared" and copied["shared"] is False
    assert copied["id"] != board["id"] and copied["editable"] is True
    edits = {**board, "title": "My edits"}
    kept = viewer.post(f"/api/dashboards/{board['id']}/copy", json=edits)
    assert kept.status_code == 201 and kept.get_json()["title"] == "My edits"


def test_export_import_round_trip_also_into_another_tenant(
    analyst: User, make_user: Callable, services: Services, as_user: Callable
) -> None:
    mine = as_user(analyst)
    board = created(mine, doc("Ops", shared=True))
    exported = mine.get(f"/api/dashboards/{board['id']}/export").get_json()
    assert exported["schema_version"] == 2
    assert board["id"] not in str(exported) and "owner" not in exported

    back = mine.post("/api/dashboards/import", json=exported)
    assert back.status_code == 201
    again = back.get_json()
    assert again["id"] != board["id"] and again["shared"] is False
    assert again["widgets"] == board["widgets"] and again["time"] == board["time"]

    elsewhere = as_user(make_user(new_tenant(services), "viewer"))
    renamed = {**exported, "rename": {"sales.orders": "shop.orders"}}
    moved = elsewhere.post("/api/dashboards/import", json=renamed)
    assert moved.status_code == 201
    metrics = [w["query"]["metric"] for w in moved.get_json()["widgets"]]
    assert metrics == [["shop.orders"], ["cpu.usage"]]

    error(mine.post("/api/dashboards/import", json={**exported, "schema_version": 9}), 422)
    for rename in ({"sales.orders": "no spaces"}, None, ["sales.orders"]):
        bad_rename = {**exported, "rename": rename}
        details = error(mine.post("/api/dashboards/import", json=bad_rename), 422)["details"]
        assert [d["field"] for d in details] == [
            "rename.sales.orders" if isinstance(rename, dict) else "rename"
        ], details
    v1 = {**exported, "schema_version": 1, "widgets": copy.deepcopy(WIDGETS)}
    v1["widgets"][0]["query"]["metric"] = "sales.orders"  # v1: one name
    migrated = mine.post("/api/dashboards/import", json=v1)
    assert migrated.status_code == 201
    assert migrated.get_json()["widgets"][0]["query"]["metric"] == ["sales.orders"]


def test_a_personal_view_is_the_callers_only(
    analyst: User, make_user: Callable, tenant: str, as_user: Callable
) -> None:
    mine = as_user(analyst)
    board = created(mine, doc("Shared", shared=True))
    viewer = as_user(make_user(tenant, "viewer"))
    path = f"/api/dashboards/{board['id']}/view"
    view = {"time": {"start": "now-1h", "end": "now"}, "collapsed": ["cpu"]}
    resp = viewer.put(path, json=view)
    assert resp.status_code == 200
    seen = resp.get_json()
    assert seen["view"]["collapsed"] == ["cpu"] and seen["version"] == board["version"]
    assert mine.get(f"/api/dashboards/{board['id']}").get_json()["view"] is None
    details = error(viewer.put(path, json={"collapsed": ["nope"]}), 422)["details"]
    assert [d["field"] for d in details] == ["collapsed.0"]
    cleared = viewer.delete(path)
    assert cleared.status_code == 200 and cleared.get_json()["view"] is None


def test_a_read_key_reads_the_shared_dashboards_and_writes_nothing(
    analyst: User, services: Services, tenant: str, web: Any, as_user: Callable
) -> None:
    mine = as_user(analyst)
    shared = created(mine, doc("Shared", shared=True))
    personal = created(mine, doc("Personal"))
    reader = web.test_client()
    read = {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}
    listed = reader.get("/api/dashboards", headers=read).get_json()["dashboards"]
    assert [d["id"] for d in listed] == [shared["id"]]
    got = reader.get(f"/api/dashboards/{shared['id']}", headers=read)
    assert got.status_code == 200 and got.get_json()["editable"] is False
    assert reader.get(f"/api/dashboards/{shared['id']}/export", headers=read).status_code == 200
    error(reader.get(f"/api/dashboards/{personal['id']}", headers=read), 404)
    error(reader.post("/api/dashboards", json=doc(), headers=read), 403)
    error(reader.put(f"/api/dashboards/{shared['id']}", json=shared, headers=read), 403)
    ingest = {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'i', 'ingest')}"}
    error(reader.get("/api/dashboards", headers=ingest), 403)


def test_a_cross_site_cookie_write_is_refused(analyst: User, as_user: Callable) -> None:
    mine = as_user(analyst)
    resp = mine.post("/api/dashboards", json=doc(), headers={"Origin": "https://evil.example"})
    assert error(resp, 403)["code"] == "cross_site"
    assert mine.get("/api/dashboards").get_json() == {"dashboards": []}
