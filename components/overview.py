"""The overview page: KPI cards and live charts, filled and kept live in the browser."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash_extensions import WebSocket

from components import ids
from data.views.overview import ChartData, OverviewSnapshot, SeriesCard

STATIC_GRAPH = {"displayModeBar": False, "staticPlot": True, "responsive": True}
LIVE_GRAPH = {"displayModeBar": False, "responsive": True, "scrollZoom": False}


def overview_page() -> html.Div:
    """The overview skeleton; the body arrives from the server, live data over /ws."""
    return html.Div(
        [
            dcc.Store(id=ids.OVERVIEW_DATA),
            dcc.Store(id=ids.LIVE_STATE, data={}),
            dcc.Store(id=ids.RELOAD, data=0),
            dcc.Store(id=ids.VISIBLE, data=True),
            dcc.Store(id=ids.CONNECTION, data={"attempt": 0, "nonce": 0}),
            WebSocket(id=ids.WS),
            dcc.Interval(id=ids.FRESHNESS_TICK, interval=1000),
            html.Div(
                [
                    html.H1("Overview", className="h4 mb-0 me-auto"),
                    dbc.Badge(
                        "connecting", id=ids.WS_STATUS, color="secondary", className="pulse-status"
                    ),
                ],
                className="d-flex align-items-center gap-2 mb-3",
            ),
            dcc.Loading(
                html.Div(id=ids.OVERVIEW_BODY, className="pulse-overview"),
                type="dot",
                delay_show=300,
            ),
        ]
    )


def overview_body(snapshot: OverviewSnapshot) -> list[object]:
    """Cards and chart frames for a snapshot; figures are drawn by the browser."""
    if not snapshot.cards:
        return [empty_state()]
    cards = [
        dbc.Col(kpi_card(card), xs=6, md=4, xl=3, xxl=2, className="mb-3")
        for card in snapshot.cards
    ]
    charts = [
        dbc.Col(chart_card(chart), xs=12, lg=6, className="mb-3") for chart in snapshot.charts
    ]
    return [dbc.Row(cards, className="g-2 g-md-3"), dbc.Row(charts, className="g-2 g-md-3")]


def empty_state() -> dbc.Alert:
    """What a tenant without data sees instead of blank charts."""
    return dbc.Alert(
        [
            html.H2("No data yet", className="h5"),
            html.P(
                [
                    "Send points to ",
                    html.Code("POST /api/ingest"),
                    " with an ingest key; they appear here as they arrive.",
                ],
                className="mb-0",
            ),
        ],
        color="light",
        className="border",
    )


def freshness_badge(kind: str, key: str) -> dbc.Badge:
    """A badge the browser keeps saying live, stale, reconnecting or paused."""
    return dbc.Badge(
        "…", id={"type": kind, "index": key}, color="secondary", className="pulse-fresh ms-auto"
    )


def format_value(value: float) -> str:
    """A KPI number: compact past a million, grouped thousands, at most three decimals."""
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def format_change(value: float, hour_ago: float | None) -> str:
    """The change against an hour ago, as the browser also writes it; a dash where there is
    no percentage: nothing stored an hour ago, or a zero there (the series has data now)."""
    if hour_ago is None:
        return "— vs 1 h ago (no value then)"
    if hour_ago == 0:
        return "— vs 1 h ago (was 0)"
    pct = (value - hour_ago) / abs(hour_ago) * 100
    arrow = "▲" if pct > 0 else "▼" if pct < 0 else "■"
    return f"{arrow} {abs(pct):.1f}% vs 1 h ago"


def kpi_card(card: SeriesCard) -> dbc.Card:
    """One KPI: latest value, change over the last hour, sparkline, freshness."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Div(
                            [
                                html.Div(card.metric, className="pulse-kpi-metric"),
                                html.Div(card.source, className="pulse-kpi-source"),
                            ],
                            className="text-truncate",
                        ),
                        freshness_badge(ids.KPI_BADGE, card.key),
                    ],
                    className="d-flex align-items-start gap-1",
                ),
                html.Div(
                    format_value(card.value),
                    id={"type": ids.KPI_VALUE, "index": card.key},
                    className="pulse-kpi-value",
                ),
                html.Div(
                    format_change(card.value, card.hour_ago),
                    id={"type": ids.KPI_CHANGE, "index": card.key},
                    className="pulse-kpi-change small",
                ),
                dcc.Graph(
                    id={"type": ids.KPI_SPARK, "index": card.key},
                    config=STATIC_GRAPH,
                    className="pulse-spark",
                    style={"height": "40px"},
                ),
            ],
            className="p-2 p-md-3",
        ),
        className="h-100 shadow-sm pulse-kpi",
    )


def chart_card(chart: ChartData) -> dbc.Card:
    """One live line chart of a metric, a trace per source."""
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span(chart.metric, className="fw-semibold"),
                        freshness_badge(ids.CHART_BADGE, chart.metric),
                    ],
                    className="d-flex align-items-center",
                ),
            ),
            dbc.CardBody(
                dcc.Graph(
                    id={"type": ids.CHART, "index": chart.metric},
                    config=LIVE_GRAPH,
                    style={"height": "260px"},
                ),
                className="p-1",
            ),
        ],
        className="h-100 shadow-sm",
    )
