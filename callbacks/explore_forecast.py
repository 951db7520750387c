"""Explore's forecast moving with the live edge: once a live point starts the next bucket,
the browser asks (assets/forecast.js) and the chart is redrawn with a fresh forecast: at
most once per step, never once per point, and the live socket is left as it is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ClientsideFunction, Dash, Input, Output, State
from dash.exceptions import PreventUpdate

from callbacks.binding import bind
from callbacks.explore import FILTER_STATES, chart, filters_of, load_frame
from components import ids
from data.domain.data_query import QueryError
from data.stores.accounts import User
from data.views.explore import data_query, zone

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


def redraw(services: Services, user: User, due: Any, *args: Any) -> tuple[Any, Any, Any]:
    """The chart with its overlay recomputed from the history up to now (the controls as
    FILTER_STATES, then the time zone): figure, redraw plan, note."""
    *controls, tz = args
    f = filters_of(*controls)
    if not due or not f.overlays or not f.is_live:
        raise PreventUpdate
    tz = zone(tz).key
    try:
        query = data_query(f, tz, services.now_ms())
    except QueryError:
        raise PreventUpdate from None
    frame, _ = load_frame(services, user.tenant_id, query)
    drawn = chart(services, user.tenant_id, f, query, frame, tz)
    return drawn["figure"], drawn.get("forecast"), drawn.get("forecast_note")


def register(app: Dash, services: Services) -> None:
    """Attach explore's forecast redraw to `app` (after callbacks/explore.register)."""
    app.clientside_callback(
        ClientsideFunction("pulseForecast", "exploreDue"),
        Output(ids.EXPLORE_FORECAST_DUE, "data"),
        Input(ids.EXPLORE_LIVE_STATE, "data"),
        State(ids.EXPLORE_FORECAST, "data"),
        State(ids.EXPLORE_FORECAST_DUE, "data"),
        prevent_initial_call=True,
    )
    app.callback(
        Output(ids.EXPLORE_GRAPH, "figure", allow_duplicate=True),
        Output(ids.EXPLORE_FORECAST, "data", allow_duplicate=True),
        Output(ids.EXPLORE_FORECAST_NOTE, "children", allow_duplicate=True),
        Input(ids.EXPLORE_FORECAST_DUE, "data"),
        *(State(i, p) for i, p in FILTER_STATES),
        State(ids.EXPLORE_TZ, "data"),
        prevent_initial_call=True,
    )(bind(redraw, services))
