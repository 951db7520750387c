"""The forecast toggles' callbacks called directly, on real PostgreSQL and Redis: explore's
"Forecast" and "Anomaly band" add their traces and caption after the series, a short
history answers with a note saying how much is needed (never an error), the live edge's
redraw recomputes them, and a dashboard widget's choice draws the same overlay."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dash.exceptions import PreventUpdate

from app.services import Services
from callbacks.dashboard_draw import Board, actor_of
from callbacks.dashboard_forecast import redraw_widget
from callbacks.explore import show
from callbacks.explore_forecast import redraw
from components import ids
from components.forecast_charts import BAND_80, BAND_95, FORECAST, OUTSIDE, PAST_95
from data.domain.points import Point
from data.stores.accounts import User
from tests.dashboards_support import doc

MINUTE_MS = 60_000
LONG, SHORT = "cpu.usage", "disk.used"
CONTROLS = {
    "metrics": [LONG],
    "sources": [],
    "range": "1h",
    "start_day": None,
    "end_day": None,
    "agg": "avg",
    "step": "1m",
    "chart": "line",
    "ma": "0",
    "compare": False,
    "breakdown": "source",
    "live": False,
    "forecast": False,
    "band": False,
}


def controls(**changes: Any) -> list[Any]:
    """The controls' values with `changes`, in FILTER_STATES order."""
    return list({**CONTROLS, **changes}.values())


def metas(figure: dict[str, Any]) -> list[Any]:
    return [t.get("meta") for t in figure["data"]]


@pytest.fixture(autouse=True)
def stored(services: Services, tenant: str) -> str:
    """LONG (web-1): a point every 5 s over the last 70 minutes, one whole minute of them
    far off; SHORT: 4 points; sales.orders: a point a minute over the last 5 hours (what a
    6-hour widget's forecast needs)."""
    now_ms = services.now_ms()
    batch = []
    for i in range(70 * 12):
        value = 40.0 + (i % 5) + (60.0 if 240 <= i < 252 else 0.0)
        batch.append(
            (tenant, Point(uuid.uuid4().hex, "web-1", LONG, now_ms - (i + 1) * 5_000, value))
        )
    batch += [
        (tenant, Point(uuid.uuid4().hex, "web-1", SHORT, now_ms - (i + 1) * MINUTE_MS, 1.0))
        for i in range(4)
    ]
    batch += [
        (
            tenant,
            Point(uuid.uuid4().hex, "web-1", "sales.orders", now_ms - i * MINUTE_MS, 5.0 + i % 9),
        )
        for i in range(1, 300)
    ]
    services.history.write_points(batch)
    return tenant


def test_forecast_adds_a_dashed_line_two_bands_and_the_backtest_caption(
    services: Services, viewer: User
) -> None:
    plain = show(services, viewer, *controls(), "UTC", 0)
    answer = show(services, viewer, *controls(forecast=True), "UTC", 0)
    figure = answer["figure"]
    assert metas(figure)[: len(plain["figure"]["data"])] == metas(plain["figure"])
    assert metas(figure)[len(plain["figure"]["data"]) :] == [BAND_95, BAND_80, FORECAST]
    line = figure["data"][-1]
    assert line["line"]["dash"] == "dash" and len(line["x"]) > 2
    assert line["x"][0] == plain["figure"]["data"][0]["x"][-1]  # from the series' edge
    (note,) = figure["layout"]["annotations"]
    assert "backtest" in note["text"]  # its figures, or why there are none yet
    assert answer["forecast_note"] is None
    assert answer["forecast"]["keys"] == [f"{LONG}|web-1"]
    assert answer["forecast"]["due_ms"] > line["x"][0]
    assert "forecast=1" in answer["search"]


def test_the_anomaly_band_marks_points_outside_it(services: Services, viewer: User) -> None:
    figure = show(services, viewer, *controls(band=True), "UTC", 0)["figure"]
    assert metas(figure)[-2:] == [PAST_95, OUTSIDE]
    band, outside = figure["data"][-2:]
    assert band["fill"] == "toself" and len(band["x"]) > 10
    assert outside["mode"] == "markers" and outside["x"]  # the spike, at least
    assert len(outside["x"]) == len(outside["y"])
    assert not figure["layout"].get("annotations")  # a band alone has no backtest to tell


def test_times_follow_the_viewers_zone_like_the_history(services: Services, viewer: User) -> None:
    figure = show(services, viewer, *controls(forecast=True), "Asia/Tokyo", 0)["figure"]
    series, *_, line = figure["data"]
    assert line["x"][0] == series["x"][-1]


def test_too_little_history_answers_a_note_saying_how_much_is_needed(
    services: Services, viewer: User
) -> None:
    answer = show(services, viewer, *controls(metrics=[SHORT], forecast=True), "UTC", 0)
    assert answer["graph_class"] == "" and answer["message"] is None  # the chart still shows
    assert metas(answer["figure"]) == [f"{SHORT}|web-1"]
    assert "a forecast needs" in answer["forecast_note"] and "of history" in answer["forecast_note"]
    assert answer["forecast"] is None  # nothing to move with the live edge


def test_charts_without_time_series_draw_no_overlay(services: Services, viewer: User) -> None:
    for chart in ("pie", "heatmap"):
        answer = show(services, viewer, *controls(chart=chart, forecast=True), "UTC", 0)
        assert not any(m in (FORECAST, PAST_95) for m in metas(answer["figure"]))
        assert "line, area and bar charts" in answer["forecast_note"]


def test_the_live_edge_redraws_a_live_view_with_a_fresh_forecast(
    services: Services, viewer: User
) -> None:
    live = controls(forecast=True, live=True)
    figure, plan, note = redraw(services, viewer, 123, *live, "UTC")
    assert metas(figure)[-1] == FORECAST and plan["due_ms"] and note is None
    with pytest.raises(PreventUpdate):  # not live, or nothing to forecast: nothing to redraw
        redraw(services, viewer, 123, *controls(forecast=True), "UTC")
    with pytest.raises(PreventUpdate):
        redraw(services, viewer, 123, *controls(live=True), "UTC")


def _widget_doc(services: Services, analyst: User) -> dict[str, Any]:
    return Board.of(services).store.create(actor_of(analyst), doc("Fc")).as_dict()


def test_a_widget_draws_its_forecast_or_band_and_back_to_history(
    services: Services, viewer: User, analyst: User
) -> None:
    page = _widget_doc(services, analyst)
    chosen = {"type": ids.DASH_FORECAST_MODE, "index": "orders"}
    figure, plan, note = redraw_widget(services, viewer, chosen, "forecast", None, page)
    assert metas(figure)[-3:] == [BAND_95, BAND_80, FORECAST] and note is None
    assert "backtest" in figure["layout"]["annotations"][0]["text"]
    assert plan["keys"] == ["sales.orders|web-1"]
    assert figure["layout"]["meta"] == {"pulse_time": "epoch"}  # theme.js shifts to the zone
    band, _, _ = redraw_widget(services, viewer, chosen, "band", None, page)
    assert metas(band)[-2:] == [PAST_95, OUTSIDE]
    history, plan, _ = redraw_widget(services, viewer, chosen, "history", None, page)
    assert all(m is None for m in metas(history)) and plan is None
    due = {"type": ids.DASH_FORECAST_DUE, "index": "orders"}
    assert metas(redraw_widget(services, viewer, due, "forecast", 1, page)[0])[-1] == FORECAST
    with pytest.raises(PreventUpdate):  # the live edge moved, but no overlay is chosen
        redraw_widget(services, viewer, due, "history", 1, page)
    with pytest.raises(PreventUpdate):  # a kpi has no chart to forecast on
        redraw_widget(services, viewer, {**chosen, "index": "cpu"}, "forecast", None, page)


def test_a_widget_on_a_short_history_says_how_much_is_needed(
    services: Services, viewer: User, analyst: User
) -> None:
    short = doc("Short")
    short["widgets"][0]["query"] = {"metric": [SHORT], "source": [], "agg": "avg", "step": "1m"}
    page = Board.of(services).store.create(actor_of(analyst), short).as_dict()
    chosen = {"type": ids.DASH_FORECAST_MODE, "index": "orders"}
    figure, plan, note = redraw_widget(services, viewer, chosen, "forecast", None, page)
    assert all(m is None for m in metas(figure)) and plan is None  # the chart, no overlay
    assert "a forecast needs" in note and "of history" in note
