"""The dashboards pages: the list, one dashboard drawn from its widgets' queries and kept
live in the browser (assets/dashboards.js), and "set as my home". Editing is in
callbacks/dashboard_edit.py. Every store call acts as the signed-in user (an Actor), so
another tenant's dashboard, or another user's personal one, is not found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, no_update

from callbacks import dashboard_edit, dashboard_embed, dashboard_forecast, dashboard_view
from callbacks.binding import bind, clicked_id, signed_in
from callbacks.dashboard_draw import Board, actor_of, draw, may_embed
from callbacks.settings import display_zone
from components import ids
from components.dashboards import OWN_RANGE, dashboard_body, dashboards_list, missing_dashboard
from data.domain.errors import Forbidden, Invalid, NotFound, QuotaExceeded
from data.stores.accounts import User

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

NEW_TITLE = "Untitled dashboard"


# -- the list -------------------------------------------------------------------------------


def list_dashboards(board: Board, user: User, search: str | None) -> Any:
    """The user's own and the tenant's shared dashboards whose title holds `search`."""
    zone = display_zone(board.store.engine, user)
    return dashboards_list(board.store.list_for(actor_of(user), search), zone)


def create_dashboard(board: Board, user: User, clicks: int | None) -> tuple[Any, Any]:
    """A new empty dashboard of the user's, opened at once: (path, message)."""
    if not clicks:
        return no_update, no_update
    try:
        made = board.store.create(actor_of(user), {"title": NEW_TITLE, "widgets": []})
    except QuotaExceeded as exc:
        return no_update, str(exc)
    return f"/dashboards/{made.dashboard_id}", None


# -- one dashboard --------------------------------------------------------------------------


def choose_range(board: Board, user: User, start: str | None, doc: Any) -> tuple[Any, ...]:
    """Keep the user's own time range of this dashboard (none: the dashboard's), without
    copying it: (document, grid cards, layouts, live plan)."""
    if not doc or start is None or start == _view_start(doc):
        return (no_update,) * 4
    actor = actor_of(user)
    try:
        if start != OWN_RANGE:
            view = {**(doc.get("view") or {}), "time": {"start": start, "end": "now"}}
            shown = board.store.save_view(actor, doc["id"], view)
        else:
            shown = board.store.clear_view(actor, doc["id"])
    except (NotFound, Invalid):
        return (no_update,) * 4
    new = {**doc, "view": shown.as_dict()["view"]}
    cards, layouts, plan = draw(board, user, new, shown.editable)
    return new, cards, layouts, plan


def _view_start(doc: dict[str, Any]) -> str:
    view = doc.get("view") or {}
    return str((view.get("time") or {}).get("start") or OWN_RANGE)


def load(board: Board, user: User, dashboard_id: str | None, _reloads: Any) -> tuple[Any, ...]:
    """The dashboard the user sees, drawn: (body, body class, document, undo stack,
    editing, live plan); the not-found page for one they may not see."""
    actor = actor_of(user)
    try:
        shown = board.store.get(actor, str(dashboard_id or ""))
    except NotFound:
        return missing_dashboard(), "", None, [], False, None
    doc = shown.as_dict()
    cards, layouts, plan = draw(board, user, doc, shown.editable)
    sources = sorted({source for _, source in board.queries.live.latest(user.tenant_id)})
    body = dashboard_body(
        doc,
        shown.editable,
        actor.may_share,
        cards,
        layouts,
        may_embed(user),
        user.role == "admin",
        sources,
    )
    return body, "", doc, [], False, plan


def set_home(
    board: Board, user: User, clicked: Any, _clicks: Any, doc: dict[str, Any] | None
) -> str:
    """Make this dashboard the user's home (`/`)."""
    if clicked is None or not doc:
        return no_update
    try:
        board.store.set_home(actor_of(user), doc["id"])
    except (NotFound, Forbidden, Invalid):
        return "This dashboard cannot be your home."
    return "This dashboard is now your home page."


def _clientside(app: Dash, name: str, *deps: Any, **options: Any) -> None:
    app.clientside_callback(ClientsideFunction("pulseDash", name), *deps, **options)


def register(app: Dash, services: Services) -> None:
    """Attach the dashboards pages' callbacks to `app`."""
    board = Board.of(services)
    app.callback(
        Output(ids.DASHES_LIST, "children"),
        Input(ids.DASHES_SEARCH, "value"),
    )(bind(list_dashboards, board))
    app.callback(
        Output(ids.URL, "pathname", allow_duplicate=True),
        Output(ids.DASHES_MESSAGE, "children"),
        Input(ids.DASHES_NEW, "n_clicks"),
        prevent_initial_call=True,
    )(bind(create_dashboard, board))
    app.callback(
        Output(ids.DASH_BODY, "children"),
        Output(ids.DASH_BODY, "className"),
        Output(ids.DASH_DOC, "data"),
        Output(ids.DASH_UNDO, "data"),
        Output(ids.DASH_EDITING, "data"),
        Output(ids.DASH_LIVE, "data"),
        Input(ids.DASH_ID, "data"),
        Input(ids.DASH_RELOADS, "data"),
    )(bind(load, board))
    app.callback(
        Output(ids.DASH_STATUS, "children"),
        Input(ids.DASH_HOME, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(set_home, board, at_call=(signed_in, clicked_id)))
    app.callback(
        Output(ids.DASH_DOC, "data", allow_duplicate=True),
        Output(ids.DASH_GRID, "children", allow_duplicate=True),
        Output(ids.DASH_GRID, "layouts", allow_duplicate=True),
        Output(ids.DASH_LIVE, "data", allow_duplicate=True),
        Input(ids.DASH_RANGE, "value"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(choose_range, board))
    dashboard_edit.register(app, board)
    dashboard_view.register(app, board)
    dashboard_embed.register(app, services)
    dashboard_forecast.register(app, services)
    _register_clientside(app)


def _register_clientside(app: Dash) -> None:
    _clientside(
        app,
        "toggleEdit",
        Output(ids.DASH_EDITING, "data", allow_duplicate=True),
        Output(ids.DASH_BODY, "className", allow_duplicate=True),
        Output(ids.DASH_GRID, "isDraggable"),
        Output(ids.DASH_GRID, "isResizable"),
        Output(ids.DASH_EDIT, "children"),
        Input(ids.DASH_EDIT, "n_clicks"),
        State(ids.DASH_EDITING, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "countReload",
        Output(ids.DASH_RELOADS, "data"),
        Input(ids.DASH_RELOAD, "n_clicks"),
        State(ids.DASH_RELOADS, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "connect",
        Output(ids.DASH_WS, "url"),
        Input(ids.DASH_LIVE, "data"),
        Input(ids.DASH_CONNECTION, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onSocketState",
        Output(ids.DASH_WS, "send"),
        Input(ids.DASH_WS, "state"),
        State(ids.DASH_LIVE, "data"),
        State(ids.DASH_CONNECTION, "data"),
        State(ids.DASH_LIVE_STATE, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onMessage",
        Output({"type": ids.DASH_FIG, "index": ALL}, "extendData"),
        Output({"type": ids.DASH_KPI, "index": ALL}, "children"),
        Output({"type": ids.DASH_ROWS, "index": ALL}, "children"),
        Output(ids.DASH_LIVE_STATE, "data"),
        Input(ids.DASH_WS, "message"),
        State(ids.DASH_LIVE, "data"),
        State(ids.DASH_LIVE_STATE, "data"),
        prevent_initial_call=True,
    )
