"""Plotly figures of the /explore charts, built from the frames of data.views.trends.

Figures are plain dicts (what dcc.Graph takes). Time-series traces carry `meta` = the
series key "metric|source", which assets/explore.js reads to append live points to the
right trace; trend traces (moving average, previous period) carry none and stay as drawn.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from data.views.trends import SERIES, breakdown, hour_by_day, with_local_time

COLORS = (
    "#0d6efd",
    "#20c997",
    "#fd7e14",
    "#6f42c1",
    "#d63384",
    "#198754",
    "#0dcaf0",
    "#6c757d",
    "#ffc107",
    "#dc3545",
)
TIME_SERIES = {"line", "area", "bar"}


def base_layout(**extra: Any) -> dict[str, Any]:
    """The layout every explore chart shares: tight margins, legend below, no background."""
    layout: dict[str, Any] = {
        "margin": {"l": 48, "r": 12, "t": 12, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": {"orientation": "h", "y": -0.18, "x": 0},
        "hovermode": "x unified",
        "uirevision": "explore",
        "autosize": True,
    }
    layout.update(extra)
    return layout


def series_label(metric: str, source: str) -> str:
    """A trace's name: the metric and its source."""
    return f"{metric} · {source}"


def _trace(kind: str, part: pl.DataFrame, color: str) -> dict[str, Any]:
    xy = {"x": part["local_ms"].to_list(), "y": part["value"].to_list()}
    if kind == "bar":
        return {"type": "bar", "marker": {"color": color}, **xy}
    trace = {"type": "scatter", "mode": "lines", "line": {"width": 1.8, "color": color}, **xy}
    if kind == "area":
        trace |= {"fill": "tozeroy", "fillcolor": color + "22"}
    return trace


def _by_series(frame: pl.DataFrame) -> dict[tuple[str, str], pl.DataFrame]:
    if frame.is_empty():
        return {}
    parts = frame.partition_by(SERIES, maintain_order=True, as_dict=True)
    return {(str(k[0]), str(k[1])): v for k, v in parts.items()}


def time_series_figure(
    frame: pl.DataFrame,
    kind: str,
    averaged: pl.DataFrame | None = None,
    previous: pl.DataFrame | None = None,
    window: int = 0,
) -> dict[str, Any]:
    """Line, area or bar: a trace per series, then its moving average and previous period.

    Frames carry `local_ms` (data.views.trends.with_local_time); `previous` is already shifted
    onto the current period."""
    traces: list[dict[str, Any]] = []
    colors: dict[tuple[str, str], str] = {}
    for i, (key, part) in enumerate(_by_series(frame).items()):
        colors[key] = COLORS[i % len(COLORS)]
        trace = _trace(kind, part, colors[key])
        traces.append(trace | {"name": series_label(*key), "meta": "|".join(key)})
    for key, part in _by_series(averaged if averaged is not None else frame.clear()).items():
        color = colors.get(key, COLORS[0])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{series_label(*key)} · avg of {window}",
                "line": {"width": 2.4, "color": color, "dash": "dot"},
                "x": part["local_ms"].to_list(),
                "y": part["value"].to_list(),
            }
        )
    for key, part in _by_series(previous if previous is not None else frame.clear()).items():
        color = colors.get(key, COLORS[0])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "opacity": 0.7,
                "name": f"{series_label(*key)} · previous period",
                "line": {"width": 1.5, "color": color, "dash": "dash"},
                "x": part["local_ms"].to_list(),
                "y": part["value"].to_list(),
            }
        )
    layout = base_layout(
        xaxis={"type": "date", "showgrid": False},
        yaxis={"gridcolor": "#e9ecef", "zeroline": False, "automargin": True},
        showlegend=len(traces) > 1,
        barmode="group",
    )
    return {"data": traces, "layout": layout}


def pie_figure(slices: pl.DataFrame, by: str) -> dict[str, Any]:
    """A pie of one value per metric or source over the range (data.views.trends.breakdown)."""
    trace = {
        "type": "pie",
        "labels": slices["label"].to_list(),
        "values": slices["value"].to_list(),
        "hole": 0.45,
        "sort": False,
        "marker": {"colors": list(COLORS)},
        "textinfo": "percent",
        "hovertemplate": f"{by}: %{{label}}<br>%{{value}}<extra></extra>",
    }
    return {"data": [trace], "layout": base_layout(hovermode="closest")}


def heatmap_figure(cells: pl.DataFrame) -> dict[str, Any]:
    """Hour of day (rows) by day (columns) from data.views.trends.hour_by_day; empty cells blank."""
    days = sorted(set(cells["day"].to_list()))
    column = {day: i for i, day in enumerate(days)}
    z: list[list[float | None]] = [[None] * len(days) for _ in range(24)]
    for day, hour, value in cells.iter_rows():
        z[hour][column[day]] = value
    trace = {
        "type": "heatmap",
        "x": days,
        "y": [f"{h:02d}:00" for h in range(24)],
        "z": z,
        "colorscale": "Blues",
        "reversescale": True,  # Plotly's Blues runs dark to light: darker is more
        "hoverongaps": False,
        "hovertemplate": "%{x} %{y}<br>%{z}<extra></extra>",
    }
    layout = base_layout(
        hovermode="closest",
        xaxis={"type": "category", "showgrid": False},
        yaxis={"autorange": "reversed", "showgrid": False, "automargin": True},
        showlegend=False,
    )
    return {"data": [trace], "layout": layout}


def view_figure(
    chart: str,
    frame: pl.DataFrame,
    tz: str,
    agg: str,
    breakdown_by: str = "source",
    averaged: pl.DataFrame | None = None,
    previous: pl.DataFrame | None = None,
    window: int = 0,
) -> dict[str, Any]:
    """The figure of a non-table chart type for a frame of buckets (UTC `ts_ms`)."""
    if chart == "pie":
        return pie_figure(breakdown(frame, breakdown_by, agg), breakdown_by)
    if chart == "heatmap":
        return heatmap_figure(hour_by_day(frame, tz, agg))
    return time_series_figure(
        with_local_time(frame, tz), chart, _local(averaged, tz), _local(previous, tz), window
    )


def _local(frame: pl.DataFrame | None, tz: str) -> pl.DataFrame | None:
    return None if frame is None else with_local_time(frame, tz)
