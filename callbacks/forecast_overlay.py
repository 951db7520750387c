"""The forecast and anomaly-band overlay of a chart's series: asked of data/views/forecasts
for each series shown, drawn by components/forecast_charts, with what the page needs to
redraw it once the live edge reaches the next bucket (at most once per step)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from components.forecast_charts import (
    Shift,
    band_traces,
    caption,
    forecast_traces,
    history_note,
)
from data.domain.data_query import DAY_MS
from data.domain.forecasting import NotEnoughHistory
from data.views.forecasts import band_for, forecast_for
from data.views.trends import series_keys, with_local_time

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

MAX_SERIES = 4  # forecasts drawn per chart: each is a model fit and a backtest
MAX_HISTORY_MS = 92 * DAY_MS
MAX_HORIZON_MS = 7 * DAY_MS
SCALED_AGGS = ("sum", "count")  # their values grow with the step
MODES = ("forecast", "band")


@dataclass(frozen=True)
class ChartSeries:
    """One series a chart shows: its key, its colour, and its last bucket (the live edge)."""

    metric: str
    source: str
    color: str
    edge: tuple[int, float] | None

    @property
    def label(self) -> str:
        """How the chart names the series."""
        return f"{self.metric} · {self.source}"


@dataclass(frozen=True)
class Overlay:
    """What a chart adds: traces, captions on the chart, notes beside it, and the time at
    which a live point means a new bucket (and so a new forecast)."""

    traces: list[dict[str, Any]] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    due_ms: int | None = None
    step_ms: int = 0

    def plan(self, series: Sequence[ChartSeries]) -> dict[str, Any] | None:
        """What the browser keeps to ask for a redraw (assets/forecast.js), or None."""
        if self.due_ms is None:
            return None
        keys = [f"{s.metric}|{s.source}" for s in series]
        return {"due_ms": self.due_ms, "step_ms": self.step_ms, "keys": keys}


def horizon_ms(span_ms: int, step_ms: int) -> int:
    """How far ahead to forecast: a quarter of the range shown, at least six steps, at most
    a week (GET /api/forecast's limit)."""
    return min(MAX_HORIZON_MS, max(6 * step_ms, span_ms // 4))


def history_ms(span_ms: int, ahead_ms: int) -> int:
    """How much history the forecast and the band are fitted on: the range shown, and at
    least a day and eight horizons (a backtest needs three windows of the horizon and a
    training window before them), at most GET /api/forecast's 92 days. Read at the step
    `step=auto` picks for it, so a sparse series is not refused as too sparse for the fine
    step of a short range."""
    return min(MAX_HISTORY_MS, max(span_ms, 8 * ahead_ms, DAY_MS))


def as_drawn(doc: dict[str, Any], step_ms: int, agg: str, columns: range) -> dict[str, Any]:
    """A forecast or band answer on the chart's scale: a sum or a count over the engine's
    step is rescaled to the chart's step (an average, a minimum, a maximum or a last value
    needs nothing)."""
    step = int(doc.get("step_ms") or step_ms)
    if agg not in SCALED_AGGS or step == step_ms:
        return doc
    factor = step_ms / step
    rows = [
        [v * factor if i in columns and isinstance(v, int | float) else v for i, v in enumerate(r)]
        for r in doc.get("points") or []
    ]
    return {**doc, "points": rows}


def within(doc: dict[str, Any], span_ms: int) -> dict[str, Any]:
    """A band answer cut to the range shown (it is fitted on a longer history)."""
    rows = doc.get("points") or []
    if not rows:
        return doc
    start = rows[-1][0] - span_ms
    return {**doc, "points": [r for r in rows if r[0] > start]}


def overlay(
    services: Services,
    tenant: str,
    series: Sequence[ChartSeries],
    modes: Sequence[str],
    window: tuple[int, int, str],
    shift: Shift,
) -> Overlay:
    """The overlay of the chart's first MAX_SERIES series over its `window` (span, step, agg):
    the anomaly band and/or the forecast, or a note saying how much history is missing."""
    span_ms, step_ms, agg = window
    traces: list[dict[str, Any]] = []
    captions: list[str] = []
    notes: list[str] = []
    shown = list(series)[:MAX_SERIES]
    ahead = horizon_ms(span_ms, step_ms)
    past = history_ms(span_ms, ahead)
    for s in shown:
        try:
            if "band" in modes:
                band = band_for(services, tenant, s.metric, s.source, past, agg)
                band = within(as_drawn(band, step_ms, agg, range(1, 5)), span_ms)
                traces += band_traces(band, s.color, s.label, shift)
            if "forecast" in modes:
                fc = forecast_for(services, tenant, s.metric, s.source, ahead, past, agg)
                fc = as_drawn(fc, step_ms, agg, range(1, 6))
                traces += forecast_traces(fc, s.color, s.label, s.edge, shift)
                text = caption(fc.get("backtest"))
                captions.append(text if len(shown) == 1 else f"{s.label}: {text}")
        except NotEnoughHistory as exc:
            step = getattr(exc, "step_ms", step_ms)  # the step the history was read at
            notes.append(history_note(s.label, exc.needed_steps, exc.have_steps, step))
    if len(series) > MAX_SERIES:
        notes.append(f"Forecasts are drawn for the first {MAX_SERIES} series of this chart.")
    edges = [s.edge[0] for s in shown if s.edge is not None]
    due = max(edges) + step_ms if edges and traces else None
    return Overlay(traces, captions, notes, due, step_ms)


def frame_series(frame: pl.DataFrame, colors: Sequence[str]) -> list[ChartSeries]:
    """The series of an explore frame, coloured as components/explore_charts draws them."""
    out = []
    for i, (metric, source) in enumerate(series_keys(frame)):
        part = frame.filter(
            (pl.col("metric") == metric)
            & (pl.col("source") == source)
            & pl.col("value").is_not_null()
        )
        edge = (int(part["ts_ms"][-1]), float(part["value"][-1])) if part.height else None
        out.append(ChartSeries(metric, source, colors[i % len(colors)], edge))
    return out


def local_shift(tz: str) -> Shift:
    """Epoch ms → the wall-clock time of zone `tz` as epoch ms, as explore's history is drawn."""

    def shift(xs: list[int]) -> list[int]:
        if not xs:
            return xs
        frame = pl.DataFrame({"ts_ms": xs}, schema={"ts_ms": pl.Int64})
        return with_local_time(frame, tz)["local_ms"].to_list()

    return shift
