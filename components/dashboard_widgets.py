"""A dashboard's widgets: the card around each, and what each type draws from its series
(kpi, line, area, bar, pie, heatmap, table, notifications). Figures are plain Plotly dicts;
assets/dashboards.js extends the live ones in the browser."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids
from components.dashboard_embed import widget_embed_button
from components.notifications import local_zone
from components.overview import format_value
from data.domain.dashboard_edits import GRID_PREFIX
from data.domain.timefmt import to_datetime
from data.views.dashboards import WidgetData

GRAPH_CONFIG = {"displayModeBar": False, "responsive": True, "scrollZoom": False}
COLORS = ["#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#d63384", "#198754"]
TABLE_ROWS = 20
FORECAST_TYPES = ("line", "area")  # the widgets a forecast or anomaly band is drawn on
HISTORY = "history"  # the widget's own chart, no overlay
FORECAST_MODES = ((HISTORY, "History"), ("forecast", "Forecast"), ("band", "Anomaly band"))


def series_name(series: dict[str, Any]) -> str:
    """How a series is named on a chart: `metric · source`."""
    return f"{series['metric']} · {series['source']}"


def base_layout(**extra: Any) -> dict[str, Any]:
    """The layout every widget chart shares: tight margins, transparent, no mode bar."""
    return {
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "hovermode": "x unified",
        "xaxis": {"type": "date", "showgrid": False},
        "yaxis": {"gridcolor": "#eee", "zeroline": False},
        "uirevision": "live",
        # x values are epoch ms: assets/theme.js shows them in the user's time zone
        "meta": {"pulse_time": "epoch"},
        **extra,
    }


def time_figure(kind: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    """A line, area or bar chart: one trace per series over time."""
    traces = []
    for i, s in enumerate(series):
        xs, ys = [p[0] for p in s["points"]], [p[1] for p in s["points"]]
        trace: dict[str, Any] = {"name": series_name(s), "x": xs, "y": ys}
        if kind == "bar":
            trace.update(type="bar", marker={"color": COLORS[i % len(COLORS)]})
        else:
            trace.update(type="scatter", mode="lines", line={"width": 1.6})
            trace["line"]["color"] = COLORS[i % len(COLORS)]
            if kind == "area":
                trace.update(fill="tozeroy", stackgroup=None)
        traces.append(trace)
    legend = {"showlegend": len(series) > 1, "legend": {"orientation": "h", "y": -0.25}}
    return {"data": traces, "layout": base_layout(**legend)}


def pie_figure(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Each series' share of the total of its buckets over the range."""
    labels = [series_name(s) for s in series]
    values = [sum(p[1] for p in s["points"] if p[1] is not None) for s in series]
    trace = {"type": "pie", "labels": labels, "values": values, "hole": 0.4}
    return {"data": [trace], "layout": base_layout(hovermode="closest", showlegend=True)}


def heatmap_figure(series: list[dict[str, Any]]) -> dict[str, Any]:
    """Series by row, buckets by column, the value as colour."""
    xs = sorted({p[0] for s in series for p in s["points"]})
    column = {ts: i for i, ts in enumerate(xs)}
    z = []
    for s in series:
        row: list[float | None] = [None] * len(xs)
        for ts, value in s["points"]:
            row[column[ts]] = value
        z.append(row)
    trace = {"type": "heatmap", "x": xs, "y": [series_name(s) for s in series], "z": z}
    layout = base_layout(hovermode="closest", yaxis={"automargin": True})
    return {"data": [trace], "layout": layout}


def figure_of(kind: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    """The figure of a chart widget."""
    if kind == "pie":
        return pie_figure(series)
    if kind == "heatmap":
        return heatmap_figure(series)
    return time_figure(kind, series)


def latest_of(series: list[dict[str, Any]]) -> tuple[float, int] | None:
    """The newest (value, ts_ms) across the series."""
    points = [p for s in series for p in s["points"][-1:] if p[1] is not None]
    if not points:
        return None
    ts, value = max(points, key=lambda p: p[0])
    return value, ts


def kpi_body(widget_id: str, series: list[dict[str, Any]]) -> html.Div:
    """The big number: the newest value of the widget's series."""
    newest = latest_of(series)
    caption = ", ".join(sorted({series_name(s) for s in series})) or "no data yet"
    return html.Div(
        [
            html.Div(
                format_value(newest[0]) if newest else "—",
                id={"type": ids.DASH_KPI, "index": widget_id},
                className="pulse-dash-number",
            ),
            html.Div(caption, className="small text-muted text-truncate"),
        ],
        className="pulse-dash-kpi-wrap",
    )


def table_rows(series: list[dict[str, Any]], zone: str = "UTC") -> list[html.Tr]:
    """One row per series: its newest value and when (the time of day in `zone`)."""
    local = local_zone(zone)
    rows = []
    for s in series[:TABLE_ROWS]:
        last = s["points"][-1] if s["points"] else None
        value = format_value(last[1]) if last and last[1] is not None else "—"
        when = to_datetime(last[0]).astimezone(local).strftime("%H:%M:%S") if last else ""
        rows.append(html.Tr([html.Td(series_name(s)), html.Td(value), html.Td(when)]))
    return rows


def notification_rows(notes: list[dict[str, Any]]) -> list[html.Li]:
    """The latest notifications, newest first."""
    if not notes:
        return [html.Li("No notifications.", className="text-muted")]
    return [
        html.Li(
            [
                dbc.Badge(n["severity"], color="danger" if n["state"] == "firing" else "success"),
                " ",
                n["message"],
            ],
            className="small mb-1",
        )
        for n in notes
    ]


def widget_body(widget: dict[str, Any], data: WidgetData, zone: str = "UTC") -> Any:
    """What a widget shows inside its card (a table's times in `zone`)."""
    wid, kind = widget["id"], widget["type"]
    if kind == "notifications":
        rows = notification_rows(data.notifications)
        return html.Ul(rows, id={"type": ids.DASH_ROWS, "index": wid}, className="list-unstyled")
    if data.problem:
        return html.P(data.problem, className="small text-muted m-2")
    if kind == "kpi":
        return kpi_body(wid, data.series)
    if kind == "table":
        return dbc.Table(
            html.Tbody(table_rows(data.series, zone), id={"type": ids.DASH_ROWS, "index": wid}),
            size="sm",
            className="small mb-0",
        )
    return dcc.Graph(
        id={"type": ids.DASH_FIG, "index": wid},
        figure=figure_of(kind, data.series),
        config=GRAPH_CONFIG,
        className="pulse-dash-graph",
    )


def edit_buttons(widget_id: str) -> html.Div:
    """A widget's edit-mode buttons: change its query, remove it."""
    return html.Div(
        [
            dbc.Button(
                "Edit",
                id={"type": ids.DASH_CONFIGURE, "index": widget_id},
                size="sm",
                color="light",
                className="pulse-touch",
                title="Edit this widget's query",
            ),
            dbc.Button(
                "✕",
                id={"type": ids.DASH_REMOVE, "index": widget_id},
                size="sm",
                color="light",
                className="pulse-touch",
                title="Remove this widget",
            ),
        ],
        className="pulse-edit-only d-flex gap-1 ms-auto",
    )


def forecast_mode(widget_id: str) -> dbc.Select:
    """A chart widget's choice: its history, plus a forecast, or plus its anomaly band."""
    return dbc.Select(
        id={"type": ids.DASH_FORECAST_MODE, "index": widget_id},
        options=[{"label": label, "value": value} for value, label in FORECAST_MODES],
        value=HISTORY,
        size="sm",
        class_name="pulse-touch pulse-view-only pulse-forecast-mode",
    )


def forecast_parts(widget_id: str, body: Any) -> html.Div:
    """A chart widget's body with what its overlay needs: a note (e.g. how much history a
    forecast needs), its redraw plan and the browser's request for a redraw."""
    return html.Div(
        [
            body,
            html.Div(
                id={"type": ids.DASH_FORECAST_NOTE, "index": widget_id},
                className="small text-muted pulse-dash-fc-note",
            ),
            dcc.Store(id={"type": ids.DASH_FORECAST, "index": widget_id}),
            dcc.Store(id={"type": ids.DASH_FORECAST_DUE, "index": widget_id}),
        ],
        className="pulse-dash-fc",
    )


def collapse_button(widget_id: str, collapsed: bool) -> dbc.Button:
    """Fold or unfold a widget in the user's own view of the dashboard."""
    return dbc.Button(
        "▸" if collapsed else "▾",
        id={"type": ids.DASH_COLLAPSE, "index": widget_id},
        size="sm",
        color="link",
        className="pulse-touch pulse-view-only p-0 px-1 text-decoration-none",
        title="Show this widget" if collapsed else "Fold this widget (for you only)",
    )


def widget_card(
    widget: dict[str, Any],
    data: WidgetData,
    phone_hidden: bool = False,
    editable: bool = True,
    may_embed: bool = False,
    collapsed: bool | None = None,
    zone: str = "UTC",
    overlays: bool = False,
) -> html.Div:
    """A widget in its card (with edit mode's buttons for an editor, view mode's "Embed" for
    an analyst or admin, a fold toggle of the user's view unless `collapsed` is None, as in
    an embed, and with `overlays` a line or area chart's forecast choice); the card's id is
    its grid item's key."""
    fold = None if collapsed is None else collapse_button(widget["id"], collapsed)
    body = widget_body(widget, data, zone)
    chooser = None
    if overlays and widget["type"] in FORECAST_TYPES and not data.problem and not collapsed:
        chooser = forecast_mode(widget["id"])
        body = forecast_parts(widget["id"], body)
    header = html.Div(
        [
            fold,
            html.Span(widget["title"] or widget["type"], className="text-truncate"),
            chooser,
            widget_embed_button(widget["id"]) if may_embed else None,
            edit_buttons(widget["id"]) if editable else None,
        ],
        className="pulse-dash-head d-flex align-items-center gap-2",
    )
    hidden = " pulse-phone-hidden" if phone_hidden else ""
    hidden += " pulse-dash-collapsed" if collapsed else ""
    return html.Div(
        [header, html.Div(body, className="pulse-dash-content")],
        id=GRID_PREFIX + widget["id"],
        className=f"pulse-dash-widget card shadow-sm pulse-dash-{widget['type']}{hidden}",
    )
