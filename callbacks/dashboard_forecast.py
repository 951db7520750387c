"""A chart widget's forecast or anomaly band, chosen per widget in view mode: the widget's
figure redrawn with the overlay, and redrawn again (assets/forecast.js) once its live edge
reaches the next bucket, so the forecast moves with it at most once per step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, MATCH, ClientsideFunction, Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.binding import bind, signed_in, triggered_id
from callbacks.dashboard_draw import Board, personal_view
from callbacks.forecast_overlay import ChartSeries, overlay
from components import ids
from components.dashboard_widgets import COLORS, FORECAST_TYPES, HISTORY, figure_of
from components.forecast_charts import with_overlay
from data.domain.dashboards import DashboardSpec, Widget, parse_dashboard, with_view
from data.domain.data_query import QueryError, parse_query
from data.domain.errors import Invalid
from data.stores.accounts import User
from data.views.dashboards import metric_names, query_args, widget_data

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


def widget_series(series: list[dict[str, Any]]) -> list[ChartSeries]:
    """A widget's series as the overlay takes them, coloured as the widget draws them."""
    out = []
    for i, s in enumerate(series):
        drawn = [p for p in s["points"] if p[1] is not None]
        edge = (int(drawn[-1][0]), float(drawn[-1][1])) if drawn else None
        out.append(ChartSeries(s["metric"], s["source"], COLORS[i % len(COLORS)], edge))
    return out


def _window(board: Board, spec: DashboardSpec, widget: Widget, series: list[dict]) -> tuple:
    """(span, step, agg) of the widget's query, as the history it draws was read."""
    metrics = metric_names(list(widget.query.metric), {s["metric"] for s in series})
    query = parse_query(query_args(widget, spec, metrics), board.now_ms())
    return query.end_ms - query.start_ms, query.step_ms, query.agg


def redraw_widget(
    services: Services, user: User, trigger: Any, mode: str | None, _due: Any, doc: Any
) -> tuple[Any, Any, Any]:
    """(figure, redraw plan, note) of the widget whose choice or live edge ran this."""
    if not isinstance(trigger, dict) or not doc:
        raise PreventUpdate
    mode = None if mode == HISTORY else mode
    if trigger.get("type") == ids.DASH_FORECAST_DUE and not mode:
        raise PreventUpdate
    board = Board.of(services)
    try:
        spec = with_view(parse_dashboard(doc), personal_view(doc))
    except Invalid:
        raise PreventUpdate from None
    widget = next((w for w in spec.widgets if w.id == trigger.get("index")), None)
    if widget is None or widget.type not in FORECAST_TYPES:
        raise PreventUpdate
    data = widget_data(board.queries, user.tenant_id, spec, widget, board.now_ms())
    if data.problem:
        return no_update, None, data.problem
    figure = figure_of(widget.type, data.series)
    if not mode or not data.series:
        return figure, None, None
    try:
        window = _window(board, spec, widget, data.series)
    except (QueryError, Invalid):
        return figure, None, None
    series = widget_series(data.series)
    modes = ("forecast",) if mode == "forecast" else ("band",)
    extra = overlay(services, user.tenant_id, series, modes, window, lambda xs: xs)
    figure = with_overlay(figure, extra.traces, extra.captions)
    return figure, extra.plan(series), " ".join(extra.notes) or None


def register(app: Dash, services: Services) -> None:
    """Attach the widgets' forecast choice and its redraws to `app`."""
    app.clientside_callback(
        ClientsideFunction("pulseForecast", "dashDue"),
        Output({"type": ids.DASH_FORECAST_DUE, "index": ALL}, "data"),
        Input(ids.DASH_LIVE_STATE, "data"),
        State({"type": ids.DASH_FORECAST, "index": ALL}, "data"),
        State({"type": ids.DASH_FORECAST_DUE, "index": ALL}, "data"),
        prevent_initial_call=True,
    )
    app.callback(
        Output({"type": ids.DASH_FIG, "index": MATCH}, "figure", allow_duplicate=True),
        Output({"type": ids.DASH_FORECAST, "index": MATCH}, "data"),
        Output({"type": ids.DASH_FORECAST_NOTE, "index": MATCH}, "children"),
        Input({"type": ids.DASH_FORECAST_MODE, "index": MATCH}, "value"),
        Input({"type": ids.DASH_FORECAST_DUE, "index": MATCH}, "data"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(redraw_widget, services, at_call=(signed_in, triggered_id)))
