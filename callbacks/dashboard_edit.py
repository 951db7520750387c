"""Edit mode of a dashboard: add a widget from the palette, move and resize it on the grid,
remove it, change its query in the side panel (with a live preview), undo, save with the
loaded version (a stale one offers "Reload" or "Save as copy"), save as a copy, share.

The edits change the document the page holds (DASH_DOC) and push the one before onto the
undo stack (DASH_UNDO); nothing is written until Save. The grid's positions are taken only
while it shows the 12-column layout ("lg"): on a phone it reports the one-column stack."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.binding import bind, clicked_id, signed_in
from callbacks.dashboard_draw import Board, actor_of, draw
from components import ids
from components.dashboard_widgets import widget_body
from components.dashboards import PANEL_FIELDS
from data.domain.dashboard_edits import (
    add_widget,
    pop_undo,
    push_undo,
    remove_widget,
    update_widget,
    widget_changes,
    with_grid_layout,
)
from data.domain.dashboards import parse_dashboard
from data.domain.errors import Conflict, Forbidden, Invalid, NotFound, QuotaExceeded
from data.stores.accounts import User
from data.views.dashboards import WidgetData, widget_data

WIDE = "lg"  # the grid's breakpoint whose positions are the saved ones
NOTHING = (no_update,) * 7


def _problems(exc: Invalid) -> str:
    return "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)


def _busiest(board: Board, user: User) -> str | None:
    """The tenant's metric a new widget starts with, so it draws at once."""
    names = sorted({metric for metric, _ in board.queries.live.latest(user.tenant_id)})
    return names[0] if names else None


def changed_doc(
    board: Board, user: User, trigger: Any, doc: dict[str, Any], undo: list, fields: dict
) -> tuple[dict[str, Any], list]:
    """The document after the clicked edit, and the undo stack; Invalid for a panel edit
    the dashboard would refuse."""
    kind = trigger.get("type") if isinstance(trigger, dict) else trigger
    if kind == ids.DASH_UNDO_BUTTON:
        return pop_undo(undo, doc)
    if kind == ids.DASH_ADD:
        new = add_widget(doc, str(trigger["index"]), _busiest(board, user))
    elif kind == ids.DASH_REMOVE:
        new = remove_widget(doc, str(trigger["index"]))
    elif kind == ids.DASH_PANEL_APPLY and fields.get("_widget"):
        new = update_widget(doc, fields["_widget"], widget_changes(fields))
    else:
        return doc, undo
    parse_dashboard(new)  # a widget without a metric (a tenant with no data yet) is refused
    return new, push_undo(undo, doc)


def edit(
    board: Board,
    user: User,
    trigger: Any,
    *values: Any,
) -> tuple[Any, ...]:
    """One edit of the page's document: (document, undo stack, grid cards, grid layouts,
    live plan, status, panel open)."""
    *_, layout, breakpoint, held, undo, panel_widget, field_values = values
    if trigger is None or not held:
        return NOTHING
    doc = with_grid_layout(held, layout) if breakpoint == WIDE else held
    if trigger == ids.DASH_GRID:
        if doc is held:  # nothing moved, or a phone's one-column layout
            return NOTHING
        return (doc, push_undo(undo, held), *(no_update,) * 5)
    fields = {**dict(zip(PANEL_FIELDS, field_values or [], strict=False)), "_widget": panel_widget}
    try:
        new, stack = changed_doc(board, user, trigger, doc, undo, fields)
    except Invalid as exc:
        return (*(no_update,) * 5, _problems(exc), no_update)
    if new is doc:
        return NOTHING
    cards, layouts, plan = draw(board, user, new)
    return new, stack, cards, layouts, plan, "", False


def open_panel(board: Board, user: User, trigger: Any, _clicks: Any, doc: Any) -> tuple:
    """The side panel for the clicked widget: open, its id, its fields, the tenant's metric
    and source names to pick from."""
    if not isinstance(trigger, dict) or not doc:
        raise PreventUpdate  # a new button, not a click (the fields' output takes a list)
    widget = next((w for w in doc["widgets"] if w["id"] == trigger["index"]), None)
    if widget is None:
        raise PreventUpdate
    query = widget["query"]
    values = [
        widget["title"],
        widget["type"],
        query["metric"],
        query["source"],
        query["agg"],
        query["step"],
        widget["live"],
        widget.get("phone", {}).get("order"),
        widget.get("phone", {}).get("hidden", False),
    ]
    latest = board.queries.live.latest(user.tenant_id)
    metrics = sorted({m for m, _ in latest} | set(query["metric"]))
    sources = sorted({s for _, s in latest} | set(query["source"]))
    return True, widget["id"], values, metrics, sources


def preview(board: Board, user: User, field_values: Any, doc: Any, widget_id: Any) -> Any:
    """The widget as the panel's fields would make it, drawn from its query."""
    if not doc or not widget_id:
        return no_update
    fields = dict(zip(PANEL_FIELDS, field_values or [], strict=False))
    new = update_widget(doc, widget_id, widget_changes(fields))
    try:
        spec = parse_dashboard(new)
    except Invalid as exc:
        return _problems(exc)
    widget = next((w for w in spec.widgets if w.id == widget_id), None)
    if widget is None:
        return no_update
    if widget.type == "notifications":
        data = WidgetData(
            notifications=board.incidents.notifications(user.tenant_id, user.user_id, limit=5)[0]
        )
    else:
        data = widget_data(board.queries, user.tenant_id, spec, widget, board.now_ms())
    return widget_body(widget.model_dump(mode="json") | {"id": f"preview-{widget.id}"}, data)


def save(board: Board, user: User, trigger: Any, *values: Any) -> tuple[Any, ...]:
    """Save (with the loaded version) or save as a copy: (document, status, conflict shown,
    the path to open)."""
    *_, doc, layout, breakpoint, title, shared = values
    if trigger is None or not doc:
        return (no_update,) * 4
    body = with_grid_layout(doc, layout) if breakpoint == WIDE else dict(doc)
    body = {**body, "title": title if title is not None else doc["title"], "shared": bool(shared)}
    actor = actor_of(user)
    try:
        if trigger == ids.DASH_SAVE:
            saved = board.store.save(actor, doc["id"], body)
            message = f"Saved (version {saved.version})."
            return saved.as_dict(), message, False, no_update
        copied = board.store.copy(actor, doc["id"], {**body, "shared": False})
        return no_update, "Saved as a copy.", False, f"/dashboards/{copied.dashboard_id}"
    except Conflict:
        return no_update, "Not saved: a newer version exists.", True, no_update
    except Invalid as exc:
        return no_update, f"Not saved: {_problems(exc)}", no_update, no_update
    except (Forbidden, NotFound, QuotaExceeded) as exc:
        return no_update, f"Not saved: {exc}", no_update, no_update


def register(app: Dash, board: Board) -> None:
    """Attach edit mode's callbacks to `app`."""
    fields = {"type": ids.DASH_FIELD, "index": ALL}
    clicking = (signed_in, clicked_id)
    app.callback(
        Output(ids.DASH_DOC, "data", allow_duplicate=True),
        Output(ids.DASH_UNDO, "data", allow_duplicate=True),
        Output(ids.DASH_GRID, "children"),
        Output(ids.DASH_GRID, "layouts"),
        Output(ids.DASH_LIVE, "data", allow_duplicate=True),
        Output(ids.DASH_STATUS, "children", allow_duplicate=True),
        Output(ids.DASH_PANEL, "is_open", allow_duplicate=True),
        Input({"type": ids.DASH_ADD, "index": ALL}, "n_clicks"),
        Input({"type": ids.DASH_REMOVE, "index": ALL}, "n_clicks"),
        Input(ids.DASH_PANEL_APPLY, "n_clicks"),
        Input(ids.DASH_UNDO_BUTTON, "n_clicks"),
        Input(ids.DASH_GRID, "layout"),
        State(ids.DASH_GRID, "breakpoint"),
        State(ids.DASH_DOC, "data"),
        State(ids.DASH_UNDO, "data"),
        State(ids.DASH_PANEL_WIDGET, "data"),
        State(fields, "value"),
        prevent_initial_call=True,
    )(bind(edit, board, at_call=clicking))
    app.callback(
        Output(ids.DASH_PANEL, "is_open"),
        Output(ids.DASH_PANEL_WIDGET, "data"),
        Output(fields, "value"),
        Output({"type": ids.DASH_FIELD, "index": "metric"}, "options"),
        Output({"type": ids.DASH_FIELD, "index": "source"}, "options"),
        Input({"type": ids.DASH_CONFIGURE, "index": ALL}, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(open_panel, board, at_call=clicking))
    app.callback(
        Output(ids.DASH_PREVIEW, "children"),
        Input(fields, "value"),
        State(ids.DASH_DOC, "data"),
        State(ids.DASH_PANEL_WIDGET, "data"),
        prevent_initial_call=True,
    )(bind(preview, board))
    app.callback(
        Output(ids.DASH_DOC, "data", allow_duplicate=True),
        Output(ids.DASH_STATUS, "children", allow_duplicate=True),
        Output(ids.DASH_CONFLICT, "is_open"),
        Output(ids.URL, "pathname", allow_duplicate=True),
        Input(ids.DASH_SAVE, "n_clicks"),
        Input(ids.DASH_COPY, "n_clicks"),
        Input(ids.DASH_CONFLICT_COPY, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        State(ids.DASH_GRID, "layout"),
        State(ids.DASH_GRID, "breakpoint"),
        State(ids.DASH_TITLE_INPUT, "value"),
        State(ids.DASH_SHARED, "value"),
        prevent_initial_call=True,
    )(bind(save, board, at_call=clicking))
