"""The /explore page: a filter bar, a chart of the chosen type, trend helpers and export.

The page starts from the filters in its URL (built server-side, so a shared link or a reload
shows the same view with no callback round trip); the tenant's metric and source names are
filled in by a callback once the page is up.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dash_table, dcc, html
from dash_extensions import WebSocket

from components import ids
from data.views.explore import (
    AGGS,
    BREAKDOWNS,
    CUSTOM,
    MOVING_AVERAGES,
    PRESETS,
    STEPS,
    ExploreFilters,
    filters_from_search,
)

GRAPH_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}
CHART_LABELS = {
    "line": "Line",
    "area": "Area",
    "bar": "Bar",
    "pie": "Pie",
    "heatmap": "Heatmap",
    "table": "Table",
}
PAGE_SIZE = 25


def _options(values: list[str]) -> list[dict[str, str]]:
    return [{"label": v, "value": v} for v in values]


def _field(label: str, control: object, class_name: str = "", **col: object) -> dbc.Col:
    return dbc.Col(
        [dbc.Label(label, class_name="small text-muted mb-1"), control],
        class_name=f"mb-2 {class_name}".strip(),
        **col,
    )


def _names(control_id: str, chosen: tuple[str, ...], placeholder: str) -> dcc.Dropdown:
    """A searchable pick of several names; the chosen ones are offered before the tenant's
    names arrive (see callbacks/explore.load_names)."""
    return dcc.Dropdown(
        id=control_id,
        options=_options(list(chosen)),
        value=list(chosen),
        multi=True,
        searchable=True,
        placeholder=placeholder,
    )


def filter_bar(f: ExploreFilters) -> dbc.Row:
    """Metric, source, time range, aggregation and step: what to query."""
    ranges = [{"label": label, "value": key} for key, (label, _) in PRESETS.items()]
    ranges.append({"label": "Custom range", "value": CUSTOM})
    return dbc.Row(
        [
            _field("Metrics", _names(ids.EXPLORE_METRICS, f.metrics, "Pick metrics…"), xs=12, lg=4),
            _field(
                "Sources", _names(ids.EXPLORE_SOURCES, f.sources, "All sources"), xs=12, md=6, lg=3
            ),
            _field(
                "Time range",
                dbc.Select(id=ids.EXPLORE_RANGE, options=ranges, value=f.range),
                xs=12,
                md=6,
                lg=2,
            ),
            _field(
                "Aggregation",
                dbc.Select(id=ids.EXPLORE_AGG, options=_options(list(AGGS)), value=f.agg),
                xs=6,
                lg=1,
            ),
            _field(
                "Step",
                dbc.Select(id=ids.EXPLORE_STEP, options=_options(list(STEPS)), value=f.step),
                xs=6,
                lg=2,
            ),
            _field(
                "Days (your time zone, last day included)",
                dcc.DatePickerRange(
                    id=ids.EXPLORE_DAYS,
                    start_date=f.start_day,
                    end_date=f.end_day,
                    display_format="YYYY-MM-DD",
                    clearable=True,
                    minimum_nights=0,
                    number_of_months_shown=1,
                ),
                xs=12,
                id=ids.EXPLORE_DAYS_COL,
                class_name="" if f.range == CUSTOM else "d-none",
            ),
        ],
        class_name="g-2",
    )


def trend_bar(f: ExploreFilters) -> html.Div:
    """Chart type, trend helpers and the live toggle: how to show it."""
    return html.Div(
        [
            dbc.RadioItems(
                id=ids.EXPLORE_CHART,
                options=[{"label": v, "value": k} for k, v in CHART_LABELS.items()],
                value=f.chart,
                class_name="btn-group btn-group-sm flex-wrap pulse-chart-types",
                input_class_name="btn-check",
                label_class_name="btn btn-outline-primary",
                label_checked_class_name="active",
            ),
            dbc.Select(
                id=ids.EXPLORE_MA,
                options=[{"label": "No moving average", "value": "0"}]
                + [{"label": f"Moving avg · {n}", "value": str(n)} for n in MOVING_AVERAGES[1:]],
                value=str(f.moving_average),
                size="sm",
                class_name="pulse-inline-select",
            ),
            html.Div(
                dbc.Select(
                    id=ids.EXPLORE_BREAKDOWN,
                    options=[{"label": f"By {b}", "value": b} for b in BREAKDOWNS],
                    value=f.breakdown,
                    size="sm",
                    class_name="pulse-inline-select",
                ),
                id=ids.EXPLORE_BREAKDOWN_COL,
                className="" if f.chart == "pie" else "d-none",
            ),
            dbc.Switch(
                id=ids.EXPLORE_COMPARE, label="Previous period", value=f.compare, class_name="mb-0"
            ),
            dbc.Switch(id=ids.EXPLORE_LIVE_SWITCH, label="Live", value=f.live, class_name="mb-0"),
            dbc.Switch(
                id=ids.EXPLORE_FORECAST_SWITCH,
                label="Forecast",
                value=f.forecast,
                class_name="mb-0",
            ),
            dbc.Switch(
                id=ids.EXPLORE_BAND_SWITCH, label="Anomaly band", value=f.band, class_name="mb-0"
            ),
        ],
        className="d-flex flex-wrap align-items-center gap-2 gap-md-3 mb-2",
    )


def header() -> html.Div:
    """Title, live status, the phone's Filters button and the export buttons."""
    return html.Div(
        [
            html.H1("Explore", className="h4 mb-0 me-auto"),
            dbc.Badge("", id=ids.EXPLORE_WS_STATUS, color="secondary", className="pulse-status"),
            dbc.Button(
                "Filters",
                id=ids.EXPLORE_FILTERS_TOGGLE,
                n_clicks=0,
                size="sm",
                color="secondary",
                outline=True,
                class_name="d-md-none",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Download CSV",
                        id=ids.EXPLORE_CSV,
                        n_clicks=0,
                        size="sm",
                        color="primary",
                        outline=True,
                    ),
                    dbc.Button(
                        "Download Excel",
                        id=ids.EXPLORE_XLSX,
                        n_clicks=0,
                        size="sm",
                        color="primary",
                        outline=True,
                    ),
                ],
                id=ids.EXPLORE_EXPORT,
                className="d-none gap-2",  # shown by the page's load callback to analysts
            ),
        ],
        className="d-flex flex-wrap align-items-center gap-2 mb-2",
    )


def stores() -> list[object]:
    """The page's client-side state and its live socket."""
    return [
        dcc.Store(id=ids.EXPLORE_TZ),
        dcc.Store(id=ids.EXPLORE_SEARCH),
        dcc.Store(id=ids.EXPLORE_LIVE),
        dcc.Store(id=ids.EXPLORE_LIVE_STATE, data={}),
        dcc.Store(id=ids.EXPLORE_RELOAD, data=0),
        dcc.Store(id=ids.EXPLORE_CONNECTION, data={"attempt": 0, "nonce": 0}),
        dcc.Store(id=ids.EXPLORE_FORECAST),
        dcc.Store(id=ids.EXPLORE_FORECAST_DUE),
        WebSocket(id=ids.EXPLORE_WS),
        dcc.Download(id=ids.EXPLORE_DOWNLOAD),
    ]


def results() -> dcc.Loading:
    """Where the view shows: a message, the chart or the table, behind a loading state."""
    return dcc.Loading(
        html.Div(
            [
                html.Div(id=ids.EXPLORE_MESSAGE),
                html.Div(  # hidden by its wrapper: the Graph does not re-render on className
                    dcc.Graph(
                        id=ids.EXPLORE_GRAPH,
                        figure={},
                        config=GRAPH_CONFIG,
                        className="pulse-explore-graph",
                    ),
                    id=ids.EXPLORE_GRAPH_WRAP,
                    className="d-none",
                ),
                html.Div(
                    dash_table.DataTable(
                        id=ids.EXPLORE_TABLE,
                        data=[],
                        page_size=PAGE_SIZE,
                        columns=[
                            {"name": n.capitalize(), "id": n}
                            for n in ("time", "metric", "source", "value")
                        ],
                        sort_action="native",
                        page_action="native",
                        style_table={"overflowX": "auto"},
                        style_cell={
                            "fontFamily": "inherit",
                            "fontSize": ".85rem",
                            "padding": "4px 8px",
                            "textAlign": "left",
                        },
                        style_header={"fontWeight": "600"},
                    ),
                    id=ids.EXPLORE_TABLE_WRAP,
                    className="d-none",
                ),
                html.Div(id=ids.EXPLORE_FORECAST_NOTE, className="small text-muted mt-1"),
                html.Div(id=ids.EXPLORE_SUMMARY, className="small text-muted mt-1"),
            ],
            className="pulse-explore-results",
        ),
        type="dot",
        delay_show=300,
        target_components={ids.EXPLORE_GRAPH: "figure", ids.EXPLORE_TABLE: "data"},
    )


def explore_page(search: str | None = None, default_range: str | None = None) -> html.Div:
    """The /explore page, its filters read from the URL's query string (its range, when
    the URL names none, from the user's default range)."""
    f = filters_from_search(search, default_range)
    return html.Div(
        [
            *stores(),
            header(),
            dbc.Collapse(
                dbc.Card(dbc.CardBody(filter_bar(f), class_name="p-2 pb-0"), class_name="mb-2"),
                id=ids.EXPLORE_FILTERS,
                is_open=False,
                class_name="pulse-filters",
            ),
            trend_bar(f),
            results(),
        ],
        className="pulse-explore",
    )
