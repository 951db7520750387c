"""The forecast overlay's figure parts (components/forecast_charts.py): a dashed forecast
from the live edge inside shaded 80 % and 95 % bands, the anomaly band with red markers on
the points outside it, the backtest caption on the chart and the note when history is short."""

from __future__ import annotations

from components.forecast_charts import (
    BAND_80,
    BAND_95,
    FORECAST,
    OUTSIDE,
    OUTSIDE_COLOR,
    PAST_95,
    band_traces,
    caption,
    forecast_traces,
    history_note,
    with_overlay,
)

STEP = 60_000
FORECAST_DOC = {
    "step_ms": STEP,
    "points": [[1_000 + h * STEP, 10.0, 8.0, 12.0, 6.0, 14.0] for h in range(1, 7)],
    "backtest": {
        "origins": 12,
        "horizon_steps": 6,
        "mae": 1.5,
        "mase": 0.62,
        "coverage80": 0.81,
        "coverage95": 0.93,
        "baseline": "seasonal_naive",
    },
}
BAND_DOC = {
    "step_ms": STEP,
    "points": [[h * STEP, 50.0 if h == 3 else 10.0, 10.0, 7.0, 13.0, h == 3] for h in range(6)],
}


def test_a_forecast_is_a_dashed_line_from_the_live_edge_inside_two_shaded_bands() -> None:
    traces = forecast_traces(FORECAST_DOC, "#0d6efd", "cpu · web-1", edge=(1_000, 9.0))
    by_meta = {t["meta"]: t for t in traces}
    assert set(by_meta) == {FORECAST, BAND_80, BAND_95}
    line = by_meta[FORECAST]
    assert line["line"]["dash"] == "dash"
    assert line["x"][0] == 1_000 and line["y"][0] == 9.0  # it starts where the series ends
    assert len(line["x"]) == len(FORECAST_DOC["points"]) + 1
    for meta in (BAND_80, BAND_95):
        band = by_meta[meta]
        assert band["fill"] == "toself" and band["fillcolor"].startswith("rgba(13,110,253,")
        assert len(band["x"]) == len(band["y"]) == 2 * len(line["x"])  # up the top, back the bottom
    inner, outer = by_meta[BAND_80]["y"], by_meta[BAND_95]["y"]
    assert max(outer) >= max(inner) and min(outer) <= min(inner)


def test_times_are_shifted_as_the_chart_draws_its_history() -> None:
    traces = forecast_traces(FORECAST_DOC, "#0d6efd", "x", shift=lambda xs: [x + 7 for x in xs])
    assert traces[-1]["x"][0] == FORECAST_DOC["points"][0][0] + 7


def test_the_anomaly_band_covers_the_past_and_marks_the_points_outside_it_in_red() -> None:
    band, outside = band_traces(BAND_DOC, "#20c997", "orders · web-1")
    assert band["meta"] == PAST_95 and band["fill"] == "toself"
    assert len(band["x"]) == 2 * len(BAND_DOC["points"])
    assert outside["meta"] == OUTSIDE and outside["mode"] == "markers"
    assert outside["marker"]["color"] == OUTSIDE_COLOR
    assert outside["x"] == [3 * STEP] and outside["y"] == [50.0]


def test_the_caption_tells_how_good_the_forecast_has_been() -> None:
    text = caption(FORECAST_DOC["backtest"])
    assert text == "MASE 0.62 · 95 % band held 93 % of the time, 12 backtests"
    assert "MAE" in caption({**FORECAST_DOC["backtest"], "mase": None})
    assert "No backtest yet" in caption({"origins": 0}) and "No backtest yet" in caption(None)


def test_the_note_says_how_much_history_a_forecast_needs() -> None:
    note = history_note("cpu · web-1", needed_steps=48, have_steps=5, step_ms=STEP)
    assert "48 min of history" in note and "48 steps of 1m" in note and "5 min so far" in note


def test_the_overlay_comes_after_the_series_and_its_caption_sits_on_the_chart() -> None:
    figure = {"data": [{"name": "cpu", "meta": "cpu|web-1"}], "layout": {"margin": {"t": 12}}}
    traces = forecast_traces(FORECAST_DOC, "#0d6efd", "cpu")
    drawn = with_overlay(figure, traces, ["MASE 0.62 · …"])
    assert drawn["data"][0] == figure["data"][0]  # the live tail's trace indices hold
    assert [t["meta"] for t in drawn["data"][1:]] == [BAND_95, BAND_80, FORECAST]
    (note,) = drawn["layout"]["annotations"]
    assert note["text"] == "MASE 0.62 · …" and note["xref"] == note["yref"] == "paper"
    assert drawn["layout"]["margin"]["t"] >= 20
    assert figure["layout"] == {"margin": {"t": 12}}  # the original is left as it was
