"""A user's own view of a dashboard they see, kept for them without copying it (the store's
personal view): the source filter over every widget, folded widgets, "Reset my view"; and
an admin's "Make the tenant's home". The time range is in callbacks/dashboards.py."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, no_update

from callbacks.binding import bind, clicked_id, signed_in
from callbacks.dashboard_draw import Board, actor_of, draw
from components import ids
from components.dashboards import OWN_RANGE
from data.domain.errors import Forbidden, Invalid, NotFound
from data.stores.accounts import User

REDRAW = 4  # (document, grid cards, grid layouts, live plan)


def _view_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The page's personal view, less folds of widgets no longer on the dashboard."""
    view = dict(doc.get("view") or {})
    present = {w["id"] for w in doc.get("widgets") or []}
    view["collapsed"] = [w for w in view.get("collapsed") or [] if w in present]
    return view


def _keep(board: Board, user: User, doc: dict[str, Any], view: dict[str, Any]) -> tuple:
    """Save the user's view and redraw the page through it: REDRAW outputs."""
    try:
        shown = board.store.save_view(actor_of(user), doc["id"], view)
    except (NotFound, Invalid):
        return (no_update,) * REDRAW
    new = {**doc, "view": shown.as_dict()["view"]}
    cards, layouts, plan = draw(board, user, new, shown.editable)
    return new, cards, layouts, plan


def choose_sources(board: Board, user: User, sources: Any, doc: Any) -> tuple:
    """Keep the user's own source filter over every widget (none: every source)."""
    if not doc or sources is None:
        return (no_update,) * REDRAW
    view = _view_of(doc)
    chosen = sorted({str(s) for s in sources})
    if chosen == sorted((view.get("filters") or {}).get("source") or []):
        return (no_update,) * REDRAW
    view["filters"] = {"source": chosen} if chosen else None
    return _keep(board, user, doc, view)


def fold(board: Board, user: User, clicked: Any, _clicks: Any, doc: Any) -> tuple:
    """Fold a widget in the user's view, or unfold it."""
    if not isinstance(clicked, dict) or not doc:
        return (no_update,) * REDRAW
    view, widget_id = _view_of(doc), clicked.get("index")
    folded = view["collapsed"]
    view["collapsed"] = (
        [w for w in folded if w != widget_id] if widget_id in folded else [*folded, widget_id]
    )
    return _keep(board, user, doc, view)


def reset_view(board: Board, user: User, clicks: Any, doc: Any) -> tuple:
    """Drop the user's view: the dashboard as saved, every widget unfolded; the range and
    source controls go back too."""
    if not clicks or not doc:
        return (no_update,) * (REDRAW + 2)
    try:
        shown = board.store.clear_view(actor_of(user), doc["id"])
    except NotFound:
        return (no_update,) * (REDRAW + 2)
    new = {**doc, "view": None}
    cards, layouts, plan = draw(board, user, new, shown.editable)
    return new, cards, layouts, plan, OWN_RANGE, []


def make_tenant_home(board: Board, user: User, clicks: Any, doc: Any) -> Any:
    """An admin makes this shared dashboard the tenant's home (`/` of whoever chose none)."""
    if not clicks or not doc:
        return no_update
    try:
        board.store.set_tenant_home(actor_of(user), doc["id"])
    except Forbidden:
        return "Only an admin chooses the tenant's home."
    except (NotFound, Invalid):
        return "Only a shared dashboard can be the tenant's home."
    return "This dashboard is now the tenant's home page."


def _redraw_outputs() -> list[Output]:
    return [
        Output(ids.DASH_DOC, "data", allow_duplicate=True),
        Output(ids.DASH_GRID, "children", allow_duplicate=True),
        Output(ids.DASH_GRID, "layouts", allow_duplicate=True),
        Output(ids.DASH_LIVE, "data", allow_duplicate=True),
    ]


def register(app: Dash, board: Board) -> None:
    """Attach the personal view's and the tenant home's callbacks to `app`."""
    app.callback(
        *_redraw_outputs(),
        Input(ids.DASH_SOURCES, "value"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(choose_sources, board))
    app.callback(
        *_redraw_outputs(),
        Input({"type": ids.DASH_COLLAPSE, "index": ALL}, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(fold, board, at_call=(signed_in, clicked_id)))
    app.callback(
        *_redraw_outputs(),
        Output(ids.DASH_RANGE, "value", allow_duplicate=True),
        Output(ids.DASH_SOURCES, "value", allow_duplicate=True),
        Input(ids.DASH_RESET_VIEW, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(reset_view, board))
    app.callback(
        Output(ids.DASH_STATUS, "children", allow_duplicate=True),
        Input(ids.DASH_TENANT_HOME, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(make_tenant_home, board))
