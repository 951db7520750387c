"""Homes in real PostgreSQL (data/stores/dashboards.py): the dashboard generated for a
tenant from its top metrics, made once however many ask, made again while untouched and
empty; each user's chosen home and the fall back when they no longer see it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from app.services import Services
from data.domain.dashboards import Actor
from data.domain.errors import Invalid
from data.stores.accounts import User
from data.stores.dashboards import DashboardStore
from tests.dashboards_support import as_actor, audit_actions, doc, write_points


@pytest.fixture
def store(services: Services) -> DashboardStore:
    return services.dashboards


@pytest.fixture
def actor(make_user: Callable[..., User]) -> Callable[..., Actor]:
    """A new user of a tenant with a role, as the store's Actor."""
    return partial(as_actor, make_user)


def test_a_new_tenant_gets_a_home_of_its_top_metrics_once(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    write_points(services, tenant, {"busy": 9, "quiet": 2, "middling": 5, "rare": 1, "rarest": 1})
    viewer = actor(tenant, "viewer")
    home = store.home(viewer)
    assert home.tenant_home and home.spec.shared and not home.editable
    kpis = [w.query.metric[0] for w in home.spec.widgets if w.type == "kpi"]
    lines = [w.query.metric[0] for w in home.spec.widgets if w.type == "line"]
    assert kpis == lines == ["busy", "middling", "quiet", "rare"]
    with ThreadPoolExecutor(4) as pool:  # asked for at once: still made once
        assert set(pool.map(store.tenant_home_id, [tenant] * 4)) == {home.dashboard_id}
    assert audit_actions(services, tenant).count("dashboard.generate") == 1


def test_a_home_made_before_any_data_is_made_again_until_someone_edits_it(
    store: DashboardStore, services: Services, tenant: str, actor
) -> None:
    admin = actor(tenant, "admin")
    empty = store.home(admin)
    assert [w.type for w in empty.spec.widgets] == ["notifications"]
    write_points(services, tenant, {"orders": 3})
    filled = store.home(admin)
    assert filled.dashboard_id == empty.dashboard_id
    assert [w.type for w in filled.spec.widgets] == ["kpi", "line", "notifications"]
    edited = store.save(admin, filled.dashboard_id, {**filled.as_dict(), "title": "Ours"})
    write_points(services, tenant, {"more": 9})
    assert store.home(admin).spec == edited.spec
    with pytest.raises(Invalid) as caught:  # nobody could ever reach it again
        store.save(admin, filled.dashboard_id, {**edited.as_dict(), "shared": False})
    assert caught.value.details[0]["field"] == "shared"


def test_a_user_chooses_their_home_and_falls_back_when_it_is_unshared(
    store: DashboardStore, tenant: str, actor
) -> None:
    owner, reader = actor(tenant), actor(tenant, "viewer")
    board = store.create(owner, doc("Team", shared=True))
    store.set_home(reader, board.dashboard_id)
    assert store.home(reader).dashboard_id == board.dashboard_id
    store.save(owner, board.dashboard_id, doc("Team", shared=False, version=1))
    assert store.home(reader).tenant_home
    assert store.home(owner).tenant_home  # the owner never chose it as home
    store.set_home(owner, board.dashboard_id)
    assert store.home(owner).dashboard_id == board.dashboard_id
    store.set_home(owner, None)
    assert store.home(owner).tenant_home
