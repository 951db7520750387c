"""Dashboards in real PostgreSQL (data/stores/dashboards.py): tenant and user isolation, the
version counter, sharing and roles, personal views, copies, export/import across tenants,
schema migration on load, limits, and the audit log (homes: test_dashboard_homes.py)."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from app.services import Services
from data.domain.dashboards import Actor
from data.domain.errors import Conflict, Forbidden, Invalid, NotFound
from data.stores.accounts import User
from data.stores.dashboards import DashboardStore
from data.stores.schema import dashboards
from tests.dashboards_support import WIDGETS, as_actor, audit_actions, doc, new_tenant


@pytest.fixture
def store(services: Services) -> DashboardStore:
    return services.dashboards


@pytest.fixture
def actor(make_user: Callable[..., User]) -> Callable[..., Actor]:
    """A new user of a tenant with a role, as the store's Actor."""
    return partial(as_actor, make_user)


@pytest.fixture
def other_tenant(services: Services) -> str:
    return new_tenant(services)


def test_a_created_dashboard_reads_back_as_saved(store: DashboardStore, tenant: str, actor) -> None:
    ann = actor(tenant)
    created = store.create(ann, doc())
    got = store.get(ann, created.dashboard_id)
    assert got.version == 1 and got.editable and got.view is None
    shown = got.as_dict()
    assert shown["id"] == created.dashboard_id and shown["title"] == "Sales"
    assert shown["widgets"][0]["query"] == WIDGETS[0]["query"]
    assert shown["widgets"][1]["layout"] == WIDGETS[1]["layout"]
    assert shown["owner"] is not None and shown["shared"] is False


def test_another_tenants_dashboard_is_not_found_whatever_is_asked(
    store: DashboardStore, tenant: str, other_tenant: str, actor
) -> None:
    """The same id through another tenant is NotFound for every call, and lists nothing."""
    ann = actor(tenant, "admin")
    mine = store.create(ann, doc(shared=True)).dashboard_id
    intruder = actor(other_tenant, "admin")
    calls: list[Callable[[], Any]] = [
        lambda: store.get(intruder, mine),
        lambda: store.export(intruder, mine),
        lambda: store.save(intruder, mine, doc("mine now", version=1)),
        lambda: store.delete(intruder, mine),
        lambda: store.copy(intruder, mine),
        lambda: store.save_view(intruder, mine, {"collapsed": []}),
        lambda: store.clear_view(intruder, mine),
        lambda: store.set_home(intruder, mine),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    assert store.list_for(intruder) == []
    still = store.get(ann, mine)
    assert (still.version, still.spec.title) == (1, "Sales")


def test_another_users_personal_dashboard_is_not_found_even_for_an_admin(
    store: DashboardStore, tenant: str, actor
) -> None:
    ann, admin = actor(tenant, "viewer"), actor(tenant, "admin")
    personal = store.create(ann, doc("Mine")).dashboard_id
    with pytest.raises(NotFound):
        store.get(admin, personal)
    with pytest.raises(NotFound):
        store.delete(admin, personal)
    with pytest.raises(NotFound):
        store.get(admin, "not-a-uuid")
    assert [s.title for s in store.list_for(admin)] == []
    assert [s.title for s in store.list_for(ann)] == ["Mine"]


def test_a_save_with_a_stale_version_is_a_conflict_and_writes_nothing(
    store: DashboardStore, tenant: str, actor
) -> None:
    ann = actor(tenant)
    made = store.create(ann, doc())
    first = store.save(ann, made.dashboard_id, doc("First edit", version=1))
    assert first.version == 2
    with pytest.raises(Conflict) as caught:
        store.save(ann, made.dashboard_id, doc("Second edit, from version 1", version=1))
    assert caught.value.code == "version_conflict"
    kept = store.get(ann, made.dashboard_id)
    assert (kept.version, kept.spec.title) == (2, "First edit")
    with pytest.raises(Invalid) as missing:
        store.save(ann, made.dashboard_id, doc("No version"))
    assert missing.value.details[0]["field"] == "version"


def test_of_two_saves_from_one_version_exactly_one_wins(
    store: DashboardStore, tenant: str, actor
) -> None:
    """Two editors saving at once from version 1: the row lock lets one through, the other
    is a Conflict whatever the timing."""
    owner, admin = actor(tenant), actor(tenant, "admin")
    board = store.create(owner, doc(shared=True)).dashboard_id
    start = threading.Barrier(2)

    def save(who: Actor) -> str:
        start.wait()
        try:
            return store.save(who, board, doc(f"by {who.role}", True, version=1)).spec.title
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(save, [owner, admin]))
    assert outcomes.count("conflict") == 1
    (winner,) = [o for o in outcomes if o != "conflict"]
    assert winner in ("by admin", "by analyst")
    assert store.get(owner, board).spec.title == winner


def test_shared_is_read_only_to_the_tenant_but_its_owner_and_admins_edit_it(
    store: DashboardStore, tenant: str, actor
) -> None:
    owner, analyst, viewer, admin = (
        actor(tenant, r) for r in ("analyst", "analyst", "viewer", "admin")
    )
    board = store.create(owner, doc(shared=True))
    for reader in (analyst, viewer):
        seen = store.get(reader, board.dashboard_id)
        assert seen.spec.title == "Sales" and not seen.editable
        with pytest.raises(Forbidden):
            store.save(reader, board.dashboard_id, doc("Taken over", True, version=1))
        with pytest.raises(Forbidden):
            store.delete(reader, board.dashboard_id)
    assert store.save(admin, board.dashboard_id, doc("By admin", True, version=1)).version == 2
    assert store.save(owner, board.dashboard_id, doc("By owner", True, version=2)).version == 3
    unsaid = {k: v for k, v in doc("Shared still", version=3).items() if k != "shared"}
    assert store.save(owner, board.dashboard_id, unsaid).spec.shared
    assert [s.title for s in store.list_for(viewer, search="STILL")] == ["Shared still"]
    assert store.list_for(viewer, search="100%_\\") == []


def test_a_viewer_keeps_personal_dashboards_but_may_not_share_them(
    store: DashboardStore, tenant: str, actor
) -> None:
    viewer = actor(tenant, "viewer")
    with pytest.raises(Forbidden):
        store.create(viewer, doc(shared=True))
    own = store.create(viewer, doc("Mine"))
    with pytest.raises(Forbidden):
        store.save(viewer, own.dashboard_id, doc("Mine", True, version=1))
    assert store.save(viewer, own.dashboard_id, doc("Still mine", version=1)).version == 2


def test_a_personal_view_is_kept_for_its_user_without_touching_the_dashboard(
    store: DashboardStore, tenant: str, actor
) -> None:
    owner, reader = actor(tenant), actor(tenant, "viewer")
    board = store.create(owner, doc(shared=True))
    view = {
        "time": {"start": "now-7d", "end": "now"},
        "filters": {"source": ["web-*"]},
        "collapsed": ["cpu"],
    }
    mine = store.save_view(reader, board.dashboard_id, view)
    assert mine.view is not None and mine.view.collapsed == ["cpu"]
    assert mine.as_dict()["view"]["time"] == view["time"]
    theirs = store.get(owner, board.dashboard_id)
    assert theirs.view is None and theirs.version == 1
    assert theirs.spec.time.start == "now-6h" and theirs.spec.filters.source == []
    again = store.save_view(reader, board.dashboard_id, {"collapsed": []})
    assert again.view is not None and again.view.time is None
    with pytest.raises(Invalid) as caught:
        store.save_view(reader, board.dashboard_id, {"collapsed": ["gone"]})
    assert caught.value.details[0]["field"] == "collapsed.0"
    assert store.clear_view(reader, board.dashboard_id).view is None


def test_save_as_copy_makes_a_personal_dashboard_of_the_copier(
    store: DashboardStore, tenant: str, actor
) -> None:
    owner, reader = actor(tenant), actor(tenant, "viewer")
    board = store.create(owner, doc(shared=True))
    plain = store.copy(reader, board.dashboard_id)
    assert plain.spec.title == "Copy of Sales" and not plain.spec.shared
    assert plain.owner_id == reader.user_id and plain.version == 1 and plain.editable
    # the 409 path: the reader's edits, refused as stale, kept as their copy
    edited = doc("My edit", shared=True, version=1)
    kept = store.copy(reader, board.dashboard_id, edited)
    assert kept.spec.title == "My edit" and not kept.spec.shared
    assert store.get(owner, board.dashboard_id).spec.title == "Sales"


def test_delete_removes_the_dashboard_views_and_home_choices(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    owner, reader = actor(tenant), actor(tenant, "viewer")
    board = store.create(owner, doc(shared=True)).dashboard_id
    store.save_view(reader, board, {"collapsed": ["cpu"]})
    store.set_home(reader, board)
    store.delete(owner, board)
    with pytest.raises(NotFound):
        store.get(owner, board)
    assert store.home(reader).spec.title == "Home"  # the tenant's again
    with services.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM dashboard_views WHERE dashboard_id = :d"), {"d": board}
        ).scalar_one()
    assert left == 0


def test_export_and_import_move_a_dashboard_between_tenants_by_metric_names(
    store: DashboardStore, tenant: str, other_tenant: str, actor
) -> None:
    ann, bob = actor(tenant), actor(other_tenant)
    board = store.create(ann, doc(shared=True))
    exported = json.loads(json.dumps(store.export(ann, board.dashboard_id)))
    assert exported["schema_version"] == 2
    assert tenant not in json.dumps(exported) and board.dashboard_id not in json.dumps(exported)
    moved = store.import_document(bob, exported, {"cpu.usage": "host.cpu"})
    assert moved.dashboard_id != board.dashboard_id and moved.version == 1
    assert moved.owner_id == bob.user_id and not moved.spec.shared
    assert [w.query.metric for w in moved.spec.widgets] == [["sales.orders"], ["host.cpu"]]
    assert [w.layout for w in moved.spec.widgets] == [w.layout for w in board.spec.widgets]
    assert store.export(bob, moved.dashboard_id)["widgets"][0] == exported["widgets"][0]
    with pytest.raises(NotFound):
        store.get(ann, moved.dashboard_id)


def test_a_stored_v1_document_is_migrated_when_read(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    ann = actor(tenant)
    board = store.create(ann, doc())
    v1 = {
        "title": "Old",
        "time": {"start": "now-1h", "end": "now"},
        "widgets": copy.deepcopy(WIDGETS),
    }
    v1["widgets"][0]["query"]["metric"] = "sales.orders"  # v1 allowed one name as a string
    with services.engine.begin() as conn:
        conn.execute(
            update(dashboards)
            .where(dashboards.c.dashboard_id == board.dashboard_id)
            .values(doc=v1, schema_version=1)
        )
    old = store.get(ann, board.dashboard_id)
    assert old.spec.title == "Old" and old.spec.widgets[0].query.metric == ["sales.orders"]
    assert [w.phone.order for w in old.spec.widgets] == [0, 1]
    saved = store.save(ann, board.dashboard_id, {**old.as_dict(), "title": "Old, saved"})
    assert saved.version == 2
    with services.engine.connect() as conn:
        row = conn.execute(
            select(dashboards.c.schema_version).where(
                dashboards.c.dashboard_id == board.dashboard_id
            )
        ).scalar_one()
    assert row == 2


def test_limits_are_refused_with_a_detail_per_field_and_nothing_stored(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    ann = actor(tenant)
    bad = doc("t" * 201)
    bad["widgets"][0]["layout"]["w"] = 13
    bad["widgets"][1]["query"]["agg"] = "median"
    with pytest.raises(Invalid) as caught:
        store.create(ann, bad)
    assert {d["field"] for d in caught.value.details} == {
        "title",
        "widgets.0.layout.w",
        "widgets.1.query.agg",
    }
    too_many = doc(
        widgets=[
            {**WIDGETS[1], "id": f"w{i}", "layout": {"x": 0, "y": i, "w": 1, "h": 1}}
            for i in range(51)
        ]
    )
    with pytest.raises(Invalid) as caught:
        store.create(ann, too_many)
    assert [d["field"] for d in caught.value.details] == ["widgets"]
    with services.engine.connect() as conn:
        stored = conn.execute(
            select(func.count()).select_from(dashboards).where(dashboards.c.tenant_id == tenant)
        ).scalar_one()
    assert stored == 0


def test_every_change_is_in_the_audit_log(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    ann = actor(tenant)
    board = store.create(ann, doc())
    store.save(ann, board.dashboard_id, doc("Edited", version=1))
    copied = store.copy(ann, board.dashboard_id)
    store.import_document(ann, store.export(ann, board.dashboard_id))
    store.delete(ann, copied.dashboard_id)
    store.save_view(ann, board.dashboard_id, {"collapsed": ["cpu"]})  # personal: not
    assert audit_actions(services, tenant) == [
        "dashboard.create",
        "dashboard.update",
        "dashboard.copy",
        "dashboard.import",
        "dashboard.delete",
    ]
