"""The personal view's callbacks called directly (callbacks/dashboard_view.py): a reader's
source filter, folded widgets and "Reset my view" are kept for them only, the dashboard is
untouched; only an admin makes a shared dashboard the tenant's home."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dash import no_update

from app.services import Services
from callbacks.dashboard_draw import Board, actor_of
from callbacks.dashboard_view import choose_sources, fold, make_tenant_home, reset_view
from components import ids
from components.dashboards import OWN_RANGE
from data.stores.accounts import User
from tests.dashboards_support import doc


@pytest.fixture
def board(services: Services) -> Board:
    return Board.of(services)


@pytest.fixture
def shared(board: Board, analyst: User) -> dict:
    return board.store.create(actor_of(analyst), doc("Team", shared=True)).as_dict()


def folded_cards(cards: list) -> list[str]:
    return [c.id for c in cards if "pulse-dash-collapsed" in c.className]


def test_my_sources_and_folds_are_kept_for_me_and_reset_drops_them(
    board: Board, viewer: User, analyst: User, shared: dict
) -> None:
    page, cards, _, _ = choose_sources(board, viewer, ["web-2"], shared)
    assert page["view"]["filters"] == {"source": ["web-2"]}
    assert choose_sources(board, viewer, ["web-2"], page)[0] is no_update  # nothing new
    clicked = {"type": ids.DASH_COLLAPSE, "index": "cpu"}
    page, cards, _, plan = fold(board, viewer, clicked, [None, 1], page)
    assert page["view"]["collapsed"] == ["cpu"] and len(folded_cards(cards)) == 1
    assert [w["id"] for w in plan["widgets"]] == ["orders"]  # folded: not queried, not live
    mine = board.store.get(actor_of(viewer), shared["id"])
    assert mine.view is not None and mine.view.filters is not None
    assert mine.view.filters.source == ["web-2"] and mine.view.collapsed == ["cpu"]
    theirs = board.store.get(actor_of(analyst), shared["id"])
    assert theirs.view is None and theirs.version == 1 and theirs.spec.filters.source == []
    unfolded = fold(board, viewer, clicked, [None, 2], page)
    assert unfolded[0]["view"]["collapsed"] == [] and folded_cards(unfolded[1]) == []
    assert [w["id"] for w in unfolded[3]["widgets"]] == ["orders", "cpu"]
    page, cards, _, _, start, sources = reset_view(board, viewer, 1, page)
    assert page["view"] is None and (start, sources) == (OWN_RANGE, [])
    assert board.store.get(actor_of(viewer), shared["id"]).view is None


def test_only_an_admin_makes_the_tenants_home(
    board: Board,
    viewer: User,
    analyst: User,
    shared: dict,
    tenant: str,
    make_user: Callable[..., User],
) -> None:
    assert "Only an admin" in make_tenant_home(board, analyst, 1, shared)
    assert "Only an admin" in make_tenant_home(board, viewer, 1, shared)
    admin = make_user(tenant, "admin")
    assert "now the tenant's home" in make_tenant_home(board, admin, 1, shared)
    assert board.store.home_id(actor_of(viewer)) == shared["id"]
    mine = board.store.create(actor_of(admin), doc("Mine")).as_dict()
    assert "Only a shared" in make_tenant_home(board, admin, 1, mine)
    assert make_tenant_home(board, admin, None, shared) is no_update
