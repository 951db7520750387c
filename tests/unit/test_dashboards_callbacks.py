"""The dashboards pages' callbacks called directly, on real PostgreSQL and Redis: what each
shows to whom, what the edits do to the page's document and its undo stack, and what a save
writes (the permission matrix posts the same through Dash)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dash import no_update

from app.services import Services
from callbacks.dashboard_draw import Board, actor_of, grid_content
from callbacks.dashboard_edit import edit, open_panel, preview, save
from callbacks.dashboards import (
    choose_range,
    create_dashboard,
    list_dashboards,
    load,
    set_home,
)
from components import ids
from data.domain.dashboard_edits import GRID_PREFIX, grid_places, pop_undo, with_grid_layout
from data.domain.points import Point
from data.stores.accounts import User
from data.views.dashboards import WidgetData, metric_names
from tests.dashboards_support import doc, new_tenant
from tests.unit.page_text import text_of


def visible_text(component: object) -> str:
    """The text of a component tree without its hidden parts."""
    if getattr(component, "hidden", False) or getattr(component, "style", None) == {
        "display": "none"
    }:
        return ""
    if isinstance(component, list | tuple):
        return " ".join(visible_text(c) for c in component)
    children = getattr(component, "children", component)
    if children is component:
        return text_of(component)
    return visible_text(children)


@pytest.fixture
def board(services: Services) -> Board:
    return Board.of(services)


@pytest.fixture
def with_points(services: Services, tenant: str) -> str:
    """The tenant with a few sales.orders and cpu.usage points, stored and latest."""
    now = services.now_ms()
    points = [
        Point(f"u-{m}-{i}", "web-1", m, now - i * 1000, 10.0 + i)
        for m in ("sales.orders", "cpu.usage")
        for i in range(5)
    ]
    from data.stores.partitions import ensure_for_times

    ensure_for_times(services.engine, [now - 60_000, now])
    services.history.write_points([(tenant, p) for p in points])
    services.live.publish_points(tenant, points)
    return tenant


def made(board: Board, user: User, shared: bool = False, title: str = "Sales") -> dict:
    return board.store.create(actor_of(user), doc(title, shared)).as_dict()


def edit_args(document: dict, **changes: object) -> list:
    """edit()'s inputs and states after the trigger, in register()'s order."""
    values = {
        "add": [],
        "remove": [],
        "apply": None,
        "undo": None,
        "layout": None,
        "breakpoint": "lg",
        "doc": document,
        "stack": [],
        "panel_widget": None,
        "fields": [],
        **changes,
    }
    return list(values.values())


def test_the_list_shows_mine_and_the_shared_ones_only(
    board: Board, analyst: User, viewer: User, make_user: Callable[..., User], tenant: str
) -> None:
    made(board, analyst, title="Mine")
    made(board, analyst, shared=True, title="Ours")
    other = made(board, make_user(tenant, "analyst"), title="Theirs")
    assert "Mine" in text_of(list_dashboards(board, analyst, None))
    shown = text_of(list_dashboards(board, viewer, None))
    assert "Ours" in shown and "Mine" not in shown and other["title"] not in shown
    assert text_of(list_dashboards(board, analyst, "our")).count("Ours") == 1
    assert "Mine" not in text_of(list_dashboards(board, analyst, "our"))


def test_any_signed_in_user_creates_a_dashboard_and_opens_it(board: Board, viewer: User) -> None:
    path, message = create_dashboard(board, viewer, 1)
    assert path.startswith("/dashboards/") and message is None
    assert create_dashboard(board, viewer, None) == (no_update, no_update)
    body, _, document, undo, editing, plan = load(board, viewer, path.rsplit("/", 1)[1], 0)
    assert document["title"] == "Untitled dashboard" and undo == [] and editing is False
    assert plan["widgets"] == []


def test_another_users_personal_or_another_tenants_dashboard_is_not_found(
    services: Services, board: Board, analyst: User, viewer: User, make_user: Callable[..., User]
) -> None:
    personal = made(board, analyst, title="Secret plans")
    shared = made(board, analyst, shared=True, title="Team board")
    stranger = make_user(new_tenant(services), "admin")
    for who, dashboard in ((viewer, personal), (stranger, personal), (stranger, shared)):
        body, _, document, _, _, plan = load(board, who, dashboard["id"], 0)
        assert "Dashboard not found" in text_of(body) and document is None and plan is None
        assert dashboard["title"] not in text_of(body)
    body, _, document, *_ = load(board, viewer, shared["id"], 0)
    assert document["title"] == "Team board" and document["editable"] is False
    assert "Save" not in visible_text(body)  # no edit tools shown to a reader


def test_load_draws_each_widget_from_history_and_plans_one_socket(
    board: Board, analyst: User, with_points: str
) -> None:
    dashboard = made(board, analyst)
    _, _, document, _, _, plan = load(board, analyst, dashboard["id"], 0)
    assert plan["metrics"] == ["cpu.usage", "sales.orders"]
    line = next(w for w in plan["widgets"] if w["id"] == "orders")
    assert line["traces"] == ["sales.orders|web-1"] and line["latest"]["sales.orders|web-1"]
    assert plan["cursor"]


def test_edits_change_the_page_document_and_undo_takes_them_back(
    board: Board, analyst: User, with_points: str
) -> None:
    start = made(board, analyst)
    trigger = {"type": ids.DASH_ADD, "index": "pie"}
    document, stack, cards, layouts, plan, status, _ = edit(
        board, analyst, trigger, *edit_args(start)
    )
    assert [w["type"] for w in document["widgets"]] == ["line", "kpi", "pie"]
    assert stack == [start] and len(cards) == 3 and status == ""
    assert document["widgets"][2]["query"]["metric"] == ["cpu.usage"]  # a metric with data
    assert len(layouts["lg"]) == 3 and all(p["w"] == 1 for p in layouts["xxs"])

    undone, rest, *_ = edit(board, analyst, ids.DASH_UNDO_BUTTON, *edit_args(document, stack=stack))
    assert undone["widgets"] == start["widgets"] and rest == []


def test_the_grid_moves_widgets_only_at_its_wide_layout(board: Board, analyst: User) -> None:
    start = made(board, analyst)
    moved = grid_places(start)
    moved[1] = {**moved[1], "x": 0, "y": 4}
    out = edit(board, analyst, ids.DASH_GRID, *edit_args(start, layout=moved))
    assert out[0]["widgets"][1]["layout"] == {"x": 0, "y": 4, "w": 6, "h": 2}
    assert out[1] == [start] and out[2] is no_update  # no redraw for a move
    phone = edit(board, analyst, ids.DASH_GRID, *edit_args(start, layout=moved, breakpoint="xxs"))
    assert all(v is no_update for v in phone)


def test_a_panel_edit_previews_and_applies_or_says_why_not(
    board: Board, analyst: User, with_points: str
) -> None:
    start = made(board, analyst)
    trigger = {"type": ids.DASH_CONFIGURE, "index": "orders"}
    is_open, widget_id, values, metrics, _ = open_panel(board, analyst, trigger, [1], start)
    assert is_open and widget_id == "orders" and values[2] == ["sales.orders"]
    assert {"cpu.usage", "sales.orders"} <= set(metrics)
    fields = ["Busy", "bar", ["cpu.usage"], [], "max", "1m", False, 1, True]
    shown = preview(board, analyst, fields, start, "orders")
    assert shown.id == {"type": ids.DASH_FIG, "index": "preview-orders"}
    applied = edit(
        board,
        analyst,
        ids.DASH_PANEL_APPLY,
        *edit_args(start, panel_widget="orders", fields=fields),
    )
    widget = applied[0]["widgets"][0]
    assert (widget["title"], widget["type"], widget["live"]) == ("Busy", "bar", False)
    assert widget["phone"] == {"order": 1, "hidden": True}
    bad = ["Busy", "bar", ["cpu.usage"], [], "max", "soon", False, None, False]
    assert "step" in str(preview(board, analyst, bad, start, "orders"))
    refused = edit(
        board, analyst, ids.DASH_PANEL_APPLY, *edit_args(start, panel_widget="orders", fields=bad)
    )
    assert refused[0] is no_update and "widgets.0.query.step" in refused[5]


def save_args(document: dict, title: str = "Renamed", shared: bool = False) -> list:
    return [None, None, None, document, None, "lg", title, shared]


def test_save_writes_with_the_version_and_a_stale_one_offers_the_choice(
    board: Board, analyst: User
) -> None:
    start = made(board, analyst)
    saved, status, conflict, path = save(board, analyst, ids.DASH_SAVE, *save_args(start))
    assert saved["version"] == start["version"] + 1 and saved["title"] == "Renamed"
    assert "Saved" in status and conflict is False and path is no_update
    again = save(board, analyst, ids.DASH_SAVE, *save_args(start, title="Stale"))
    assert again[0] is no_update and again[2] is True
    assert board.store.get(actor_of(analyst), start["id"]).spec.title == "Renamed"
    _, _, _, path = save(board, analyst, ids.DASH_CONFLICT_COPY, *save_args(start, "Mine too"))
    copy = board.store.get(actor_of(analyst), path.rsplit("/", 1)[1])
    assert copy.spec.title == "Mine too" and copy.spec.shared is False


def test_a_viewer_saves_nothing_of_a_shared_dashboard_but_may_copy_it_and_make_it_home(
    board: Board, analyst: User, viewer: User
) -> None:
    shared = made(board, analyst, shared=True)
    out = save(board, viewer, ids.DASH_SAVE, *save_args(shared, title="Hijacked", shared=True))
    assert out[0] is no_update and "Not saved" in out[1]
    assert board.store.get(actor_of(viewer), shared["id"]).spec.title == "Sales"
    assert "now your home" in set_home(board, viewer, ids.DASH_HOME, 1, shared)
    assert board.store.home(actor_of(viewer)).dashboard_id == shared["id"]


def test_phones_show_the_phone_order_and_leave_hidden_widgets_out(board: Board) -> None:
    document = doc()
    document["widgets"][0]["phone"] = {"order": 1, "hidden": False}
    document["widgets"][1]["phone"] = {"order": 0, "hidden": True}
    cards, layouts = grid_content(document, {})
    assert [p["i"] for p in layouts["xxs"]] == [GRID_PREFIX + "orders", GRID_PREFIX + "cpu"]
    assert "pulse-phone-hidden" in cards[1].className
    assert "pulse-phone-hidden" not in cards[0].className


def test_pure_helpers() -> None:
    document = doc()
    assert with_grid_layout(document, grid_places(document)) is document
    assert with_grid_layout(document, None) is document
    assert pop_undo([], document) == (document, [])
    assert metric_names(["sales.*", "cpu.usage"], {"sales.a", "sales.b", "mem"}) == [
        "cpu.usage",
        "sales.a",
        "sales.b",
    ]
    assert WidgetData().series == []


def test_every_widget_type_draws(
    board: Board, analyst: User, viewer: User, with_points: str
) -> None:
    kinds = ("line", "kpi", "area", "bar", "pie", "heatmap", "table", "notifications")
    widgets = [
        {
            "id": kind,
            "type": kind,
            "title": kind,
            "query": {"metric": [] if kind == "notifications" else ["cpu.usage"], "source": []},
            "layout": {"x": (i % 2) * 6, "y": (i // 2) * 4, "w": 6, "h": 4},
        }
        for i, kind in enumerate(kinds)
    ]
    shared = {"title": "Every", "shared": True, "widgets": widgets}
    made_id = board.store.create(actor_of(analyst), shared).dashboard_id
    body, _, document, _, _, plan = load(board, viewer, made_id, 0)
    assert [w["type"] for w in document["widgets"]] == list(kinds)
    assert {w["type"] for w in plan["widgets"]} == {"line", "kpi", "area", "table", "notifications"}
    shown = text_of(body)
    assert "no data yet" not in shown and shown.count("cpu.usage · web-1") == 2  # KPI, table


def test_my_own_range_is_kept_for_me_without_copying_the_dashboard(
    board: Board, analyst: User, viewer: User, with_points: str
) -> None:
    shared = made(board, analyst, shared=True)
    document, cards, _, plan = choose_range(board, viewer, "now-15m", shared)
    assert document["view"]["time"] == {"start": "now-15m", "end": "now"} and len(cards) == 2
    again = board.store.get(actor_of(viewer), shared["id"])
    assert again.version == shared["version"] and again.spec.time.start == "now-6h"
    assert again.view is not None and again.view.time.start == "now-15m"
    assert board.store.get(actor_of(analyst), shared["id"]).view is None  # mine only
    assert choose_range(board, viewer, "now-15m", document) == (no_update,) * 4
    cleared, *_ = choose_range(board, viewer, "dashboard", document)
    assert cleared["view"] is None


def test_the_chosen_home_is_mine_while_i_still_see_it(
    board: Board, analyst: User, viewer: User
) -> None:
    assert board.store.chosen_home(actor_of(viewer)) is None  # `/` is then the tenant's home
    shared = made(board, analyst, shared=True)
    set_home(board, viewer, ids.DASH_HOME, 1, shared)
    assert board.store.chosen_home(actor_of(viewer)) == shared["id"]
    assert board.store.chosen_home(actor_of(analyst)) is None
    unshared = {**board.store.get(actor_of(analyst), shared["id"]).as_dict(), "shared": False}
    board.store.save(actor_of(analyst), shared["id"], unshared)
    assert board.store.chosen_home(actor_of(viewer)) is None
