"""Explore: filters → the /api/data query (data/stores/queries.py, in process) → chart; live tail
and the address bar are kept in the browser (assets/explore.js)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import orjson
import polars as pl
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from callbacks.binding import bind, signed_in, triggered_id
from callbacks.forecast_overlay import frame_series, local_shift, overlay
from components import ids
from components.explore_charts import COLORS, view_figure
from components.forecast_charts import with_overlay
from data.domain.data_query import HOUR_MS, DataQuery, QueryError, step_label
from data.stores.accounts import User
from data.stores.audit import AuditLog
from data.stores.queries import DataQueries
from data.views.explore import (
    CUSTOM,
    ExploreFilters,
    data_query,
    previous_period,
    search_of,
    series_names,
    zone,
)
from data.views.export import EXPORT_ACTION, Tally, audit_details, export_csv, filename
from data.views.export_xlsx import export_xlsx
from data.views.trends import (
    frame_of_series,
    moving_average,
    series_keys,
    shift_forward,
    table_rows,
)

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

FILTER_STATES = (
    (ids.EXPLORE_METRICS, "value"),
    (ids.EXPLORE_SOURCES, "value"),
    (ids.EXPLORE_RANGE, "value"),
    (ids.EXPLORE_DAYS, "start_date"),
    (ids.EXPLORE_DAYS, "end_date"),
    (ids.EXPLORE_AGG, "value"),
    (ids.EXPLORE_STEP, "value"),
    (ids.EXPLORE_CHART, "value"),
    (ids.EXPLORE_MA, "value"),
    (ids.EXPLORE_COMPARE, "value"),
    (ids.EXPLORE_BREAKDOWN, "value"),
    (ids.EXPLORE_LIVE_SWITCH, "value"),
    (ids.EXPLORE_FORECAST_SWITCH, "value"),
    (ids.EXPLORE_BAND_SWITCH, "value"),
)
HIDDEN, SHOWN = "d-none", ""
MODE_BAR_PX = 28  # the chart's tool bar, over its top edge: captions go below it
# What the explore page's `show` answers, by name.
SHOW_OUTPUTS = {
    "figure": Output(ids.EXPLORE_GRAPH, "figure"),
    "graph_class": Output(ids.EXPLORE_GRAPH_WRAP, "className"),
    "rows": Output(ids.EXPLORE_TABLE, "data"),
    "table_class": Output(ids.EXPLORE_TABLE_WRAP, "className"),
    "message": Output(ids.EXPLORE_MESSAGE, "children"),
    "summary": Output(ids.EXPLORE_SUMMARY, "children"),
    "search": Output(ids.EXPLORE_SEARCH, "data"),
    "live": Output(ids.EXPLORE_LIVE, "data"),
    "days_class": Output(ids.EXPLORE_DAYS_COL, "class_name"),
    "breakdown_class": Output(ids.EXPLORE_BREAKDOWN_COL, "className"),
    "forecast": Output(ids.EXPLORE_FORECAST, "data"),
    "forecast_note": Output(ids.EXPLORE_FORECAST_NOTE, "children"),
}
NOTHING_SHOWN = {
    "figure": {},
    "graph_class": HIDDEN,
    "rows": [],
    "table_class": HIDDEN,
    "message": None,
    "summary": "",
    "live": None,
    "forecast": None,
    "forecast_note": None,
}


def filters_of(
    metrics: list[str] | None,
    sources: list[str] | None,
    range_: str,
    start_day: str | None,
    end_day: str | None,
    agg: str,
    step: str,
    chart: str,
    ma: str,
    compare: bool,
    breakdown: str,
    live: bool,
    forecast: bool = False,
    band: bool = False,
) -> ExploreFilters:
    """The filters the controls show."""
    custom = range_ == CUSTOM
    return ExploreFilters(
        metrics=tuple(metrics or ()),
        sources=tuple(sources or ()),
        range=range_,
        start_day=start_day if custom else None,
        end_day=end_day if custom else None,
        agg=agg,
        step=step,
        chart=chart,
        moving_average=int(ma or 0),
        compare=bool(compare),
        breakdown=breakdown,
        live=bool(live),
        forecast=bool(forecast),
        band=bool(band),
    )


def message(text: str, color: str = "light", title: str | None = None) -> dbc.Alert:
    """What shows instead of a chart: a hint, an empty range or an error."""
    body = [html.Strong(title, className="d-block")] if title else []
    return dbc.Alert([*body, text], color=color, class_name="border mb-2")


def query_problem(exc: QueryError) -> dbc.Alert:
    """A bad filter, in words (never a stack trace)."""
    if [d["field"] for d in exc.details] == ["metric"]:
        return message("Pick one or more metrics to see their history.", title="Nothing to show")
    text = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
    return message(text, color="warning", title="This range cannot be shown")


def load_frame(services: Services, tenant: str, query: DataQuery) -> tuple[pl.DataFrame, Any]:
    """The buckets of a query and the live cursor read before it, through /api/data's own
    cached reader."""
    doc = orjson.loads(DataQueries(services.history_engine(), services.live).answer(tenant, query))
    return frame_of_series(doc["series"]), doc.get("cursor")


def live_tail(f: ExploreFilters, frame: pl.DataFrame, cursor: str | None, now_ms: int) -> Any:
    """What the browser needs to append live points after the history, or None."""
    if not f.is_live or cursor is None:
        return None
    last = frame.group_by("metric", "source").agg(pl.col("ts_ms").max())
    return {
        "nonce": now_ms,
        "cursor": cursor,
        "metrics": list(f.metrics),
        "sources": list(f.sources) or ["*"],
        "last": {f"{m}|{s}": ts for m, s, ts in last.iter_rows()},
        # the figure's first traces, in this order (components/explore_charts.py)
        "traces": [f"{m}|{s}" for m, s in series_keys(frame)],
    }


def export_file(services: Services, user: User, query: DataQuery, tz: str, fmt: str) -> dict:
    """The file of what is on screen, written by the same code as GET /api/export, and
    recorded in the audit log with its row count as that route records its files."""
    local, tally = zone(tz), Tally()
    if fmt == "xlsx":
        chunks = export_xlsx(
            services.history_engine(), user.tenant_id, query, local, services.now_ms(), tally=tally
        )
    else:
        chunks = export_csv(services.history_engine(), user.tenant_id, query, local, tally)
    name = filename(query, local, fmt)
    content = b"".join(chunks)
    details = audit_details(query, fmt, tally.rows, complete=True)
    AuditLog(services.engine).record(user.tenant_id, user.user_id, EXPORT_ACTION, name, details)
    return dcc.send_bytes(content, name)


def load_names(
    services: Services,
    user: User,
    _reload: int,
    metrics: list[str] | None,
    sources: list[str] | None,
) -> tuple[list[str], list[str], str]:
    """The metric and source dropdowns' options, and the export buttons' class."""
    names = series_names(services.history_engine(), services.live, user.tenant_id)
    # what the URL asked for stays offered, so the dropdowns keep it even when unknown
    metric_names = sorted({m for m, _ in names} | set(metrics or ()))
    source_names = sorted({s for _, s in names} | set(sources or ()))
    export = "d-flex gap-2" if user.may("analyst") else HIDDEN
    return metric_names, source_names, export


def show(services: Services, user: User, *args: Any) -> dict[str, Any]:
    """The chart, table or message for the controls (FILTER_STATES, then the browser's time
    zone and the reload counter), keyed as SHOW_OUTPUTS."""
    *controls, tz, _ = args
    if tz is None:
        raise PreventUpdate  # the browser tells its time zone first
    f = filters_of(*controls)
    tz = zone(tz).key
    # what every answer holds: the controls' state, and no chart, table or live tail
    base = {
        "search": search_of(f),
        "days_class": "mb-2" if f.range == CUSTOM else "mb-2 d-none",
        "breakdown_class": SHOWN if f.chart == "pie" else HIDDEN,
        **NOTHING_SHOWN,
    }
    if (f.forecast or f.band) and not f.overlays:
        base["forecast_note"] = "Forecasts and anomaly bands show on line, area and bar charts."
    try:
        query = data_query(f, tz, services.now_ms())
    except QueryError as exc:
        return {**base, "message": query_problem(exc)}
    frame, cursor = load_frame(services, user.tenant_id, query)
    live = live_tail(f, frame, cursor, services.now_ms())
    if frame.is_empty() and not live:
        empty = message(
            "Try a longer range, another metric or all sources.", title="No data in this range"
        )
        return {**base, "message": empty}
    base["summary"] = (
        f"{frame.height:,} buckets of {step_label(query.step_ms)} · {query.agg} · times in {tz}"
    )
    if f.chart == "heatmap" and query.step_ms > HOUR_MS:
        coarse = message(
            "Pick a step of 1 h or less (or auto) for the hour-by-day heatmap.",
            color="warning",
            title="Step too coarse for a heatmap",
        )
        return {**base, "message": coarse}
    if f.chart == "table":
        return {**base, "rows": table_rows(frame, tz), "table_class": SHOWN}
    return {**base, **chart(services, user.tenant_id, f, query, frame, tz), "live": live}


def chart(
    services: Services,
    tenant: str,
    f: ExploreFilters,
    query: DataQuery,
    frame: pl.DataFrame,
    tz: str,
) -> dict[str, Any]:
    """The figure of a chart view (with the previous period, moving average, forecast and
    anomaly band it asks for), shown, and a notice while the range is still empty."""
    previous = None
    if f.compare and f.chart in ("line", "area", "bar"):
        before = previous_period(query)
        previous = shift_forward(load_frame(services, tenant, before)[0], query, before)
    averaged = moving_average(frame, f.moving_average) if f.moving_average else None
    figure = view_figure(
        f.chart, frame, tz, f.agg, f.breakdown, averaged, previous, f.moving_average
    )
    drawn: dict[str, Any] = {}  # what the overlay adds; a note said on charts that take none
    if f.overlays and not frame.is_empty():
        series = frame_series(frame, COLORS)
        window = (query.end_ms - query.start_ms, query.step_ms, query.agg)
        extra = overlay(services, tenant, series, f.overlays, window, local_shift(tz))
        figure = with_overlay(figure, extra.traces, extra.captions, clear_top=MODE_BAR_PX)
        drawn = {"forecast": extra.plan(series), "forecast_note": " ".join(extra.notes) or None}
    notice = None
    if frame.is_empty():
        notice = message(
            "Nothing yet: new points will appear here as they arrive.",
            title="No data in this range",
        )
    return {"figure": figure, "graph_class": SHOWN, "message": notice, **drawn}


def download(
    services: Services, user: User, trigger: Any, _csv: int, _xlsx: int, *args: Any
) -> tuple[Any, Any]:
    """The file of what is on screen (CSV or, when `trigger` is the XLSX button, a
    workbook) for analysts and admins; a message instead when refused or too large."""
    *controls, tz = args
    if not user.may("analyst"):
        return no_update, message("Exports are for analysts and admins.", color="warning")
    fmt = "xlsx" if trigger == ids.EXPLORE_XLSX else "csv"
    tz = zone(tz).key
    try:
        query = data_query(filters_of(*controls), tz, services.now_ms())
        return export_file(services, user, query, tz, fmt), no_update
    except QueryError as exc:  # TooManyRows too: the message says what to change
        return no_update, query_problem(exc)


def register(app: Dash, services: Services) -> None:
    """Attach the explore page's callbacks to `app`."""
    app.callback(
        Output(ids.EXPLORE_METRICS, "options"),
        Output(ids.EXPLORE_SOURCES, "options"),
        Output(ids.EXPLORE_EXPORT, "className"),
        Input(ids.EXPLORE_RELOAD, "data"),
        State(ids.EXPLORE_METRICS, "value"),
        State(ids.EXPLORE_SOURCES, "value"),
    )(bind(load_names, services))
    app.callback(
        output=SHOW_OUTPUTS,
        inputs=[
            *(Input(i, p) for i, p in FILTER_STATES),
            Input(ids.EXPLORE_TZ, "data"),
            Input(ids.EXPLORE_RELOAD, "data"),
        ],
    )(bind(show, services))
    app.callback(
        Output(ids.EXPLORE_DOWNLOAD, "data"),
        Output(ids.EXPLORE_MESSAGE, "children", allow_duplicate=True),
        Input(ids.EXPLORE_CSV, "n_clicks"),
        Input(ids.EXPLORE_XLSX, "n_clicks"),
        *(State(i, p) for i, p in FILTER_STATES),
        State(ids.EXPLORE_TZ, "data"),
        prevent_initial_call=True,
    )(bind(download, services, at_call=(signed_in, triggered_id)))
    _register_clientside(app)


def _clientside(app: Dash, name: str, *deps: Any, **options: Any) -> None:
    app.clientside_callback(ClientsideFunction("pulseExplore", name), *deps, **options)


def _register_clientside(app: Dash) -> None:
    _clientside(app, "timeZone", Output(ids.EXPLORE_TZ, "data"), Input(ids.EXPLORE_RELOAD, "data"))
    _clientside(
        app,
        "toggle",
        Output(ids.EXPLORE_FILTERS, "is_open"),
        Input(ids.EXPLORE_FILTERS_TOGGLE, "n_clicks"),
        State(ids.EXPLORE_FILTERS, "is_open"),
    )
    _clientside(
        app,
        "writeSearch",
        Output(ids.EXPLORE_SEARCH, "modified_timestamp"),
        Input(ids.EXPLORE_SEARCH, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "connect",
        Output(ids.EXPLORE_WS, "url"),
        Input(ids.EXPLORE_LIVE, "data"),
        Input(ids.EXPLORE_CONNECTION, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onSocketState",
        Output(ids.EXPLORE_WS, "send"),
        Input(ids.EXPLORE_WS, "state"),
        State(ids.EXPLORE_LIVE, "data"),
        State(ids.EXPLORE_LIVE_STATE, "data"),
        State(ids.EXPLORE_CONNECTION, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onMessage",
        Output(ids.EXPLORE_GRAPH, "extendData"),
        Output(ids.EXPLORE_LIVE_STATE, "data"),
        Output(ids.EXPLORE_RELOAD, "data"),
        Input(ids.EXPLORE_WS, "message"),
        State(ids.EXPLORE_LIVE, "data"),
        State(ids.EXPLORE_LIVE_STATE, "data"),
        State(ids.EXPLORE_RELOAD, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "status",
        Output(ids.EXPLORE_WS_STATUS, "children"),
        Output(ids.EXPLORE_WS_STATUS, "color"),
        Input(ids.EXPLORE_WS, "state"),
        Input(ids.EXPLORE_LIVE, "data"),
    )
