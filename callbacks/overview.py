"""Overview: the server sends a snapshot once; the browser draws it and keeps it live."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State
from flask_login import current_user

from components import ids
from components.overview import overview_body
from data.views.overview import load_overview

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


def _pattern(kind: str) -> dict[str, Any]:
    return {"type": kind, "index": ALL}


def _clientside(app: Dash, name: str, *deps: Any, **options: Any) -> None:
    app.clientside_callback(ClientsideFunction("pulse", name), *deps, **options)


def register(app: Dash, services: Services) -> None:
    """Attach the overview's callbacks to `app`."""

    @app.callback(
        Output(ids.OVERVIEW_BODY, "children"),
        Output(ids.OVERVIEW_DATA, "data"),
        Input(ids.RELOAD, "data"),
    )
    def load(_: int) -> tuple[list[object], dict[str, Any]]:
        tenant = current_user.user.tenant_id
        snapshot = load_overview(services.live, services.history_reads(), tenant, services.now_ms())
        return overview_body(snapshot), snapshot.as_dict()

    _register_clientside(app)


def _register_clientside(app: Dash) -> None:
    _clientside(
        app,
        "drawFigures",
        Output(_pattern(ids.KPI_SPARK), "figure"),
        Output(_pattern(ids.CHART), "figure"),
        Output(ids.LIVE_STATE, "data", allow_duplicate=True),
        Input(ids.OVERVIEW_DATA, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "connect",
        Output(ids.WS, "url"),
        Input(ids.OVERVIEW_DATA, "data"),
        Input(ids.VISIBLE, "data"),
        Input(ids.CONNECTION, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onSocketState",
        Output(ids.WS, "send"),
        Input(ids.WS, "state"),
        State(ids.OVERVIEW_DATA, "data"),
        State(ids.CONNECTION, "data"),
        State(ids.VISIBLE, "data"),
        State(ids.LIVE_STATE, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onMessage",
        Output(_pattern(ids.KPI_VALUE), "children"),
        Output(_pattern(ids.KPI_CHANGE), "children"),
        Output(_pattern(ids.KPI_SPARK), "extendData"),
        Output(_pattern(ids.CHART), "extendData"),
        Output(ids.LIVE_STATE, "data"),
        Output(ids.RELOAD, "data"),
        Input(ids.WS, "message"),
        State(ids.OVERVIEW_DATA, "data"),
        State(ids.LIVE_STATE, "data"),
        State(ids.RELOAD, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "freshness",
        Output(_pattern(ids.KPI_BADGE), "children"),
        Output(_pattern(ids.KPI_BADGE), "color"),
        Output(_pattern(ids.CHART_BADGE), "children"),
        Output(_pattern(ids.CHART_BADGE), "color"),
        Output(ids.WS_STATUS, "children"),
        Output(ids.WS_STATUS, "color"),
        Input(ids.FRESHNESS_TICK, "n_intervals"),
        State(ids.LIVE_STATE, "data"),
        State(ids.OVERVIEW_DATA, "data"),
        State(ids.WS, "state"),
        State(ids.VISIBLE, "data"),
    )
