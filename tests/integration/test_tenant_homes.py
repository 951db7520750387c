"""What `/` shows, in real PostgreSQL (DashboardStore.home_id): the user's chosen home, else
the tenant's default (one an admin chose, else the one generated from its top metrics once
it has data, made once and capped), else nothing yet; and who may choose the default."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest
from sqlalchemy import select

from app.services import Services
from data.domain.dashboard_documents import HOME_METRICS
from data.domain.dashboards import Actor
from data.domain.errors import Forbidden, Invalid, NotFound
from data.stores.accounts import User
from data.stores.dashboards import DashboardStore
from data.stores.schema_homes import tenant_homes
from tests.conftest import signed_in
from tests.dashboards_support import as_actor, audit_actions, doc, new_tenant, write_points


@pytest.fixture
def store(services: Services) -> DashboardStore:
    return services.dashboards


@pytest.fixture
def actor(make_user: Callable[..., User]) -> Callable[..., Actor]:
    """A new user of a tenant with a role, as the store's Actor."""
    return partial(as_actor, make_user)


def test_a_tenant_without_data_has_no_home_until_data_arrives(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    viewer = actor(tenant, "viewer")
    assert store.home_id(viewer) is None  # `/` then tells how to send data
    assert audit_actions(services, tenant).count("dashboard.generate") == 0
    write_points(services, tenant, {"orders": 2})
    made = store.home_id(viewer)
    assert made is not None and store.get(viewer, made).tenant_home
    assert store.home_id(actor(tenant, "admin")) == made  # generated once, for everyone
    assert audit_actions(services, tenant).count("dashboard.generate") == 1


def test_the_generated_home_is_capped_whatever_the_number_of_metrics(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    write_points(services, tenant, {f"metric.{i:02d}": 30 - i for i in range(30)})
    home = store.get(actor(tenant), str(store.home_id(actor(tenant))))
    kinds = [w.type for w in home.spec.widgets]
    assert kinds.count("kpi") == kinds.count("line") == HOME_METRICS
    assert kinds.count("notifications") == 1 and len(kinds) == 2 * HOME_METRICS + 1
    busiest = [w.query.metric[0] for w in home.spec.widgets if w.type == "kpi"]
    assert busiest == [f"metric.{i:02d}" for i in range(HOME_METRICS)]


def test_my_choice_wins_over_the_tenants_default_which_wins_over_the_generated(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    write_points(services, tenant, {"orders": 3})
    admin, analyst, viewer = actor(tenant, "admin"), actor(tenant), actor(tenant, "viewer")
    generated = store.home_id(viewer)
    team = store.create(analyst, doc("Team", shared=True)).dashboard_id
    mine = store.create(analyst, doc("Mine", shared=True)).dashboard_id
    store.set_tenant_home(admin, team)
    assert store.home_id(viewer) == store.home_id(analyst) == team
    assert store.home(viewer).dashboard_id == team
    store.set_home(viewer, mine)
    assert store.home_id(viewer) == mine and store.home_id(analyst) == team
    store.set_home(viewer, None)
    assert store.home_id(viewer) == team
    store.set_tenant_home(admin, str(generated))  # back to the generated one
    assert store.home_id(viewer) == generated
    assert audit_actions(services, tenant).count("dashboard.tenant_home") == 2


def test_an_unshared_or_deleted_default_falls_back_to_the_generated_home(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    write_points(services, tenant, {"orders": 3})
    admin, analyst = actor(tenant, "admin"), actor(tenant)
    generated = store.home_id(admin)
    team = store.create(analyst, doc("Team", shared=True))
    store.set_tenant_home(admin, team.dashboard_id)
    store.save(analyst, team.dashboard_id, doc("Team", shared=False, version=1))
    assert store.home_id(actor(tenant, "viewer")) == generated  # nobody else sees it now
    store.delete(analyst, team.dashboard_id)
    with services.engine.connect() as conn:  # the choice went with the dashboard
        rows = (
            conn.execute(
                select(tenant_homes.c.dashboard_id).where(tenant_homes.c.tenant_id == tenant)
            )
            .scalars()
            .all()
        )
    assert rows == []
    assert store.home_id(admin) == generated


def test_only_an_admin_makes_a_shared_dashboard_the_tenants_home(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    owner, admin = actor(tenant), actor(tenant, "admin")
    shared = store.create(owner, doc("Team", shared=True)).dashboard_id
    personal = store.create(admin, doc("Mine")).dashboard_id
    for who in (owner, actor(tenant, "viewer")):
        with pytest.raises(Forbidden):
            store.set_tenant_home(who, shared)
    with pytest.raises(Invalid) as caught:  # nobody else could see it
        store.set_tenant_home(admin, personal)
    assert caught.value.details[0]["field"] == "shared"
    assert "dashboard.tenant_home" not in audit_actions(services, tenant)


def test_another_tenants_home_is_never_mine(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    other = new_tenant(services)
    write_points(services, tenant, {"ours": 2})
    write_points(services, other, {"theirs": 2})
    ours, theirs = actor(tenant, "admin"), actor(other, "admin")
    team = store.create(actor(tenant), doc("Ours", shared=True)).dashboard_id
    with pytest.raises(NotFound):
        store.set_tenant_home(theirs, team)
    store.set_tenant_home(ours, team)
    home = store.get(theirs, str(store.home_id(theirs)))
    assert home.dashboard_id != team and home.tenant_home
    assert [w.query.metric for w in home.spec.widgets if w.type == "kpi"] == [["theirs"]]
    assert store.home_id(ours) == team


def test_the_api_lets_only_an_admin_choose_the_tenants_home(
    web, services: Services, tenant: str, make_user: Callable[..., User]
) -> None:
    """PUT /api/dashboards/{id}/tenant-home: 204 for an admin, 403 for an analyst, 422 for
    a personal dashboard, 404 for another tenant's admin; every refusal in the §3 shape."""
    analyst, admin = make_user(tenant, "analyst"), make_user(tenant, "admin")
    stranger = make_user(new_tenant(services), "admin")
    shared = signed_in(web, analyst).post("/api/dashboards", json=doc("Team", shared=True))
    personal = signed_in(web, admin).post("/api/dashboards", json=doc("Mine"))
    path = "/api/dashboards/{}/tenant-home"
    team, mine = path.format(shared.get_json()["id"]), path.format(personal.get_json()["id"])
    for who, target, status in ((analyst, team, 403), (stranger, team, 404), (admin, mine, 422)):
        resp = signed_in(web, who).put(target)
        assert resp.status_code == status, resp.get_data(as_text=True)
        assert set(resp.get_json()["error"]) == {"code", "message", "details"}
    assert signed_in(web, admin).put(team).status_code == 204
    admin_actor = Actor(tenant, admin.user_id, admin.role)
    assert services.dashboards.home_id(admin_actor) == shared.get_json()["id"]
