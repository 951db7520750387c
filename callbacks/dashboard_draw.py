"""What the dashboards pages share: the stores they act through, the signed-in user as the
store's Actor, and a document drawn into grid cards, layouts and the one-socket live plan."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callbacks.settings import display_zone
from components.dashboard_widgets import widget_card
from data.domain.dashboard_edits import grid_places, phone_places
from data.domain.dashboards import (
    Actor,
    PersonalView,
    parse_dashboard,
    phone_sequence,
    with_view,
)
from data.stores.accounts import User
from data.stores.dashboards import DashboardStore
from data.stores.incidents import Incidents
from data.stores.queries import DataQueries
from data.views.dashboards import WidgetData, dashboard_data, live_plan

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


@dataclass(frozen=True)
class Board:
    """What the dashboards pages read and write through."""

    store: DashboardStore
    queries: DataQueries
    incidents: Incidents
    now_ms: Callable[[], int]

    @classmethod
    def of(cls, services: Services) -> Board:
        """The pages' stores over the app's services."""
        return cls(
            services.dashboards,
            DataQueries(services.history_engine(), services.live),
            Incidents(services.engine, services.clock),
            services.now_ms,
        )


def actor_of(user: User) -> Actor:
    """The store's actor for the signed-in user."""
    return Actor(user.tenant_id, user.user_id, user.role)


def may_embed(user: User) -> bool:
    """Whether the user may mint embed links (CONTRACT.md §2: analysts and admins)."""
    return user.role in ("analyst", "admin")


def grid_content(
    doc: dict[str, Any],
    data: dict[str, WidgetData],
    editable: bool = True,
    may_embed: bool = False,
    zone: str = "UTC",
) -> tuple[list[Any], dict]:
    """The grid's widget cards and its layouts: the saved places on wide screens, the phone
    sequence (hidden ones last, and not shown) in one column on phones; widgets the user
    folded in their view show their title bar only."""
    spec = parse_dashboard(doc)
    shown = [w.id for w in phone_sequence(spec)]
    hidden = {w.id for w in spec.widgets} - set(shown)
    order = shown + [w.id for w in spec.widgets if w.id in hidden]
    view = personal_view(doc)
    folded = set(view.collapsed) if view else set()
    cards = [
        widget_card(
            w,
            data.get(w["id"], WidgetData()),
            w["id"] in hidden,
            editable,
            may_embed,
            w["id"] in folded,
            zone,
            overlays=True,
        )
        for w in doc["widgets"]
    ]
    return cards, {"lg": grid_places(doc), "xxs": phone_places(doc, order)}


def draw(
    board: Board, user: User, doc: dict[str, Any], editable: bool = True
) -> tuple[list[Any], dict, dict]:
    """(cards, layouts, live plan) of a document as the page holds it, over the user's own
    time range and filters when they keep a personal view of it."""
    view = personal_view(doc)
    spec = with_view(parse_dashboard(doc), view)
    if view and view.collapsed:  # a folded widget shows its title only: nothing to query
        folded = set(view.collapsed)
        spec = spec.model_copy(update={"widgets": [w for w in spec.widgets if w.id not in folded]})
    data, cursor = dashboard_data(
        board.queries, board.incidents, (user.tenant_id, user.user_id), spec, board.now_ms()
    )
    zone = display_zone(board.store.engine, user)
    cards, layouts = grid_content(doc, data, editable, may_embed(user), zone)
    plan = live_plan(spec, data, cursor)
    plan["rev"] = uuid.uuid4().hex  # a new plan, a new socket subscribed to it
    plan["rows"] = {wid: d.notifications for wid, d in data.items() if d.notifications}
    return cards, layouts, plan


def personal_view(doc: dict[str, Any]) -> PersonalView | None:
    """The user's personal view the page holds with the document (the store's, checked)."""
    view = doc.get("view")
    return PersonalView.model_validate(view) if view else None
