"""The rule editor's 7-day preview: the metric's history with each would-be firing shaded,
a sentence and the firings listed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from components.notifications import local_zone, parse_time, when
from data.domain.timefmt import to_datetime


def preview_view(
    history: dict[str, list[tuple[int, float]]], found: dict[str, Any], zone: str = "UTC"
) -> html.Div:
    """What the preview shows for `found` (data.stores.incidents.preview's answer) over the
    metric's `history` per source, times in `zone`."""
    times = [f for s in found["series"] for f in s["firings"]]
    summary = (
        f"Over the last 7 days this rule would have fired {found['fired']} time(s)"
        if history
        else "No history of this metric in the last 7 days."
    )
    listed = html.Ul(
        [
            html.Li(
                f"{when(f['fired_at'], zone)} → "
                f"{when(f['resolved_at'], zone) or 'still firing'}: {f['message']}"
            )
            for f in times[:20]
        ],
        className="small mb-0",
    )
    notes = sorted({s["note"] for s in found["series"] if s.get("note")})
    noted = html.P(
        "Not judged yet where the forecast lacked history: " + "; ".join(notes),
        className="small text-muted mb-1",
        id="alerts-preview-note",
    )
    graph = (
        dcc.Graph(
            figure=preview_figure(history, found, zone),
            config={"displayModeBar": False},
            className="pulse-preview-graph",
        )
        if history
        else None
    )
    return html.Div(
        [
            html.P(summary, className="small mb-1", id="alerts-preview-summary"),
            noted if notes else None,
            graph,
            listed,
        ]
    )


def preview_figure(
    history: dict[str, list[tuple[int, float]]], found: dict[str, Any], zone: str = "UTC"
) -> Any:
    """The metric's history per source with each would-be firing shaded, on an axis of
    `zone`'s wall-clock times (Plotly shows a time's own digits, whatever its offset)."""
    local = local_zone(zone)

    def wall(moment: datetime | None) -> datetime | None:
        return moment.astimezone(local).replace(tzinfo=None) if moment else None

    fig = go.Figure()
    for source, points in history.items():
        fig.add_scatter(
            x=[wall(to_datetime(t)) for t, _ in points],
            y=[v for _, v in points],
            mode="lines",
            name=source,
            line={"width": 1.4},
        )
    end = parse_time(found["to"])
    for series in found["series"]:
        for f in series["firings"]:
            fig.add_vrect(
                x0=wall(parse_time(f["fired_at"])),
                x1=wall(parse_time(f["resolved_at"]) or end),
                fillcolor="#dc3545",
                opacity=0.18,
                line_width=0,
            )
    fig.update_layout(
        height=260,
        margin={"l": 40, "r": 10, "t": 10, "b": 30},
        showlegend=len(history) > 1,
        legend={"orientation": "h", "y": -0.25},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig
