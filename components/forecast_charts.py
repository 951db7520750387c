"""Forecast and anomaly-band overlays drawn onto a time-series figure (explore and widgets).

A forecast is a dashed line from the series' last bucket (the live edge) over the horizon,
inside shaded 80 % and 95 % bands; its backtest is written on the chart as a caption. An
anomaly band is the 95 % band over the past with the points outside it marked in red.
Overlay traces come after the series' own, so the live tail's trace indices stay valid;
each carries `meta` naming what it is (FORECAST, BAND_80, …) for the pages and the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from data.domain.data_query import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, step_label

FORECAST, BAND_80, BAND_95, PAST_95, OUTSIDE = (
    "forecast",
    "forecast-80",
    "forecast-95",
    "band-95",
    "band-outside",
)
OUTSIDE_COLOR = "#dc3545"
Shift = Callable[[list[int]], list[int]]


def _same(xs: list[int]) -> list[int]:
    return xs


def rgba(color: str, alpha: float) -> str:
    """A `#rrggbb` colour with some transparency, for shaded bands."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _shaded(
    meta: str, label: str, xs: list[int], lo: list[float], hi: list[float], fill: str
) -> dict[str, Any]:
    """A band as one closed shape: along the upper edge, back along the lower one."""
    return {
        "type": "scatter",
        "mode": "lines",
        "meta": meta,
        "name": label,
        "x": xs + xs[::-1],
        "y": hi + lo[::-1],
        "fill": "toself",
        "fillcolor": fill,
        "line": {"width": 0},
        "hoverinfo": "skip",
        "showlegend": False,
    }


def forecast_traces(
    forecast: dict[str, Any],
    color: str,
    label: str,
    edge: tuple[int, float] | None = None,
    shift: Shift = _same,
) -> list[dict[str, Any]]:
    """The 95 % and 80 % bands and the dashed forecast line, starting at `edge` (the last
    bucket drawn, so the forecast visibly continues the series; points before it are left
    out)."""
    rows = [list(p) for p in forecast.get("points") or []]
    if edge is not None and rows:
        ts, value = edge  # a forecast at a coarser step may start before the edge drawn
        rows = [[ts, value, value, value, value, value], *(r for r in rows if r[0] > ts)]
    xs = shift([int(r[0]) for r in rows])
    yhat, lo80, hi80, lo95, hi95 = ([r[i] for r in rows] for i in range(1, 6))
    line = {
        "type": "scatter",
        "mode": "lines",
        "meta": FORECAST,
        "name": f"{label} · forecast",
        "x": xs,
        "y": yhat,
        "line": {"width": 2, "color": color, "dash": "dash"},
        "showlegend": False,
    }
    return [
        _shaded(BAND_95, f"{label} · 95 %", xs, lo95, hi95, rgba(color, 0.12)),
        _shaded(BAND_80, f"{label} · 80 %", xs, lo80, hi80, rgba(color, 0.25)),
        line,
    ]


def band_traces(
    band: dict[str, Any], color: str, label: str, shift: Shift = _same
) -> list[dict[str, Any]]:
    """The 95 % band over the past, and red markers on the points outside it."""
    rows = band.get("points") or []
    xs = shift([int(r[0]) for r in rows])
    lo, hi = [r[3] for r in rows], [r[4] for r in rows]
    outside = [(x, r[1]) for x, r in zip(xs, rows, strict=True) if r[5]]
    markers = {
        "type": "scatter",
        "mode": "markers",
        "meta": OUTSIDE,
        "name": f"{label} · outside the 95 % band",
        "x": [x for x, _ in outside],
        "y": [y for _, y in outside],
        "marker": {"color": OUTSIDE_COLOR, "size": 7, "line": {"width": 1, "color": "#fff"}},
        "showlegend": False,
    }
    return [_shaded(PAST_95, f"{label} · 95 % band", xs, lo, hi, rgba(color, 0.14)), markers]


def _percent(share: float | None) -> str:
    if share is None:
        return "?"
    return f"{share * 100 if share <= 1 else share:.0f} %"


def caption(backtest: dict[str, Any] | None) -> str:
    """How good the forecast has been, in one line: "MASE 0.62 · 95 % band held 93 % of the
    time, 12 backtests"."""
    origins = int((backtest or {}).get("origins") or 0)
    if not backtest or not origins:
        return "No backtest yet: too little history to score this forecast"
    mase, mae = backtest.get("mase"), backtest.get("mae")
    score = f"MASE {mase:.2f}" if mase is not None else f"MAE {mae:.3g}"
    held = _percent(backtest.get("coverage95"))
    return f"{score} · 95 % band held {held} of the time, {origins} backtests"


def duration(ms: int) -> str:
    """A span in the largest unit that reads well: "45 min", "6 h", "2.5 d"."""
    for unit_ms, unit in ((DAY_MS, "d"), (HOUR_MS, "h"), (MINUTE_MS, "min")):
        if ms >= unit_ms:
            return f"{ms / unit_ms:.3g} {unit}"
    return f"{max(ms, 0) / SECOND_MS:.3g} s"


def history_note(label: str, needed_steps: int, have_steps: int, step_ms: int) -> str:
    """Why there is no forecast yet: how much history it needs and how much there is."""
    needed, have = duration(needed_steps * step_ms), duration(have_steps * step_ms)
    return (
        f"{label}: a forecast needs {needed} of history ({needed_steps} steps of "
        f"{step_label(step_ms)}); there is {have} so far. It appears here once there is enough."
    )


def with_overlay(
    figure: dict[str, Any],
    traces: Sequence[dict[str, Any]],
    captions: Sequence[str],
    clear_top: int = 0,
) -> dict[str, Any]:
    """The figure with the overlay traces after its own, and the captions on the chart's top
    left, reaching into the y axis' margin so a phone's narrow chart holds them; the top
    margin grows to hold them, and `clear_top` more pixels above them (a mode bar's)."""
    layout = dict(figure.get("layout") or {})
    if captions:
        margin = dict(layout.get("margin") or {})
        note = {
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": 1,
            "xanchor": "left",
            "yanchor": "bottom",
            "xshift": -max(int(margin.get("l") or 0) - 8, 0),
            "align": "left",
            "showarrow": False,
            "text": "<br>".join(captions),
            "font": {"size": 10},
            "name": "backtest",
        }
        layout["annotations"] = [*(layout.get("annotations") or []), note]
        margin["t"] = max(int(margin.get("t") or 0), 8 + clear_top + 14 * len(captions))
        layout["margin"] = margin
    return {**figure, "data": [*figure.get("data", []), *traces], "layout": layout}
