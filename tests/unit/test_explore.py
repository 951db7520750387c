"""The /explore view's pure parts: URL ⇄ filters, the query behind a view, trends, figures."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from callbacks.explore import live_tail
from components.explore import explore_page
from components.explore_charts import view_figure
from data.domain.data_query import HOUR_MS, MINUTE_MS, QueryError
from data.views.explore import (
    DEFAULT,
    ExploreFilters,
    data_query,
    filters_from_search,
    previous_period,
    search_of,
)
from data.views.trends import (
    breakdown,
    frame_of_series,
    hour_by_day,
    moving_average,
    shift_forward,
    table_rows,
    with_local_time,
)

NOW_MS = int(datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp() * 1000)


def frame(rows: list[tuple[str, str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"metric": pl.String, "source": pl.String, "ts_ms": pl.Int64, "value": pl.Float64},
        orient="row",
    )


VIEWS = [
    DEFAULT,
    ExploreFilters(metrics=("cpu.usage",), range="24h"),
    ExploreFilters(
        metrics=("cpu.usage", "sales.orders"),
        sources=("web-1", "-odd"),
        range="7d",
        agg="max",
        step="1h",
        chart="bar",
        moving_average=5,
        compare=True,
        breakdown="metric",
        live=True,
    ),
    ExploreFilters(
        metrics=("a",),
        range="custom",
        start_day="2026-01-02",
        end_day="2026-01-05",
        chart="heatmap",
    ),
    ExploreFilters(metrics=("a b&c=d",), range="15m", chart="pie"),
]


@pytest.mark.parametrize("view", VIEWS)
def test_filters_survive_the_url_round_trip(view: ExploreFilters) -> None:
    assert filters_from_search(search_of(view)) == view


@pytest.mark.parametrize("view", VIEWS)
def test_page_renders_from_the_url(view: ExploreFilters) -> None:
    page = explore_page(search_of(view)).to_plotly_json()
    assert "explore-metrics" in str(page)


def test_preset_link_reads_like_the_api_query_and_omits_defaults() -> None:
    view = ExploreFilters(metrics=("cpu.usage",), range="24h")
    assert search_of(view) == "?metric=cpu.usage&start=now-24h&end=now"
    assert search_of(ExploreFilters(metrics=("m",), chart="table", live=True)).endswith(
        "&chart=table&live=1"
    )


def test_unreadable_url_values_fall_back_to_defaults() -> None:
    view = filters_from_search("?metric=m&agg=median&step=7q&chart=radar&ma=4&compare=yes")
    assert view == ExploreFilters(metrics=("m",))
    assert filters_from_search("") == DEFAULT and filters_from_search(None) == DEFAULT


def test_preset_query_covers_the_range_ending_now() -> None:
    query = data_query(ExploreFilters(metrics=("m",), range="24h"), "UTC", NOW_MS)
    assert query.end_ms >= NOW_MS and query.start_ms <= NOW_MS - 24 * HOUR_MS
    assert query.step_ms == MINUTE_MS  # auto: 1,440 one-minute buckets fit under 1,500


def test_custom_days_are_whole_local_days_with_the_last_included() -> None:
    view = ExploreFilters(
        metrics=("m",), range="custom", start_day="2026-01-02", end_day="2026-01-03", step="1h"
    )
    query = data_query(view, "Europe/Paris", NOW_MS)
    start = datetime(2026, 1, 1, 23, 0, tzinfo=UTC).timestamp() * 1000  # midnight in Paris
    assert (query.start_ms, query.end_ms) == (start, start + 48 * HOUR_MS)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-01-05", "2026-01-02", "end"),
        ("", "2026-01-02", "start"),
        ("2024-01-01", "2026-01-01", "end"),
    ],
)
def test_bad_custom_range_is_a_query_error_naming_the_field(start, end, field) -> None:
    view = ExploreFilters(metrics=("m",), range="custom", start_day=start, end_day=end)
    with pytest.raises(QueryError) as caught:
        data_query(view, "UTC", NOW_MS)
    assert field in [d["field"] for d in caught.value.details]


def test_a_view_without_metric_asks_for_one() -> None:
    with pytest.raises(QueryError) as caught:
        data_query(DEFAULT, "UTC", NOW_MS)
    assert caught.value.details == [{"field": "metric", "message": "pick at least one metric"}]


def test_previous_period_is_the_same_length_just_before() -> None:
    query = data_query(ExploreFilters(metrics=("m",), range="6h"), "UTC", NOW_MS)
    before = previous_period(query)
    assert before.end_ms == query.start_ms
    assert before.end_ms - before.start_ms == query.end_ms - query.start_ms
    assert before.step_ms == query.step_ms and before.metrics == query.metrics
    shifted = shift_forward(frame([("m", "s", before.start_ms, 1.0)]), query, before)
    assert shifted["ts_ms"].to_list() == [query.start_ms]


def test_moving_average_is_trailing_and_per_series() -> None:
    rows = [("m", "a", t, v) for t, v in enumerate([1.0, 3.0, 5.0, 7.0])]
    rows += [("m", "b", t, 100.0) for t in range(2)]
    averaged = moving_average(frame(rows), 2)
    assert averaged["value"].to_list() == [1.0, 2.0, 4.0, 6.0, 100.0, 100.0]


def test_frame_of_series_reads_the_api_answer() -> None:
    series = [
        {
            "metric": "m",
            "source": "s",
            "step": "1m",
            "agg": "count",
            "points": [[60_000, 3], [120_000, None]],
        }
    ]
    assert frame_of_series(series).rows() == [("m", "s", 60_000, 3.0), ("m", "s", 120_000, None)]
    assert frame_of_series([]).is_empty()


def test_breakdown_combines_buckets_with_the_aggregate() -> None:
    data = frame([("m", "a", 0, 1.0), ("m", "a", 1, 3.0), ("m", "b", 0, 10.0), ("n", "a", 2, 5.0)])
    assert breakdown(data, "source", "sum").rows() == [("a", 9.0), ("b", 10.0)]
    assert breakdown(data, "metric", "max").rows() == [("m", 10.0), ("n", 5.0)]
    assert breakdown(data, "source", "last").rows() == [("a", 5.0), ("b", 10.0)]


def test_hour_by_day_uses_the_viewers_zone() -> None:
    ts = int(datetime(2026, 3, 9, 23, 30, tzinfo=UTC).timestamp() * 1000)
    cells = hour_by_day(
        frame([("m", "s", ts, 2.0), ("m", "s", ts + 60_000, 4.0)]), "Asia/Tokyo", "avg"
    )
    assert cells.rows() == [("2026-03-10", 8, 3.0)]


def test_local_time_is_wall_clock_as_epoch_ms() -> None:
    local = with_local_time(frame([("m", "s", NOW_MS, 1.0)]), "America/New_York")
    assert local["local_ms"].to_list() == [NOW_MS - 4 * HOUR_MS]  # EDT since 8 March 2026


SAMPLE = frame(
    [
        ("cpu", "web-1", NOW_MS, 1.5),
        ("cpu", "web-1", NOW_MS + MINUTE_MS, 2.5),
        ("cpu", "web-2", NOW_MS, 7.0),
    ]
)


@pytest.mark.parametrize("kind", ["line", "area", "bar"])
def test_time_series_figure_has_a_trace_per_series_keyed_for_live_points(kind: str) -> None:
    figure = view_figure(kind, SAMPLE, "UTC", "avg")
    assert [t["meta"] for t in figure["data"]] == ["cpu|web-1", "cpu|web-2"]
    assert figure["data"][0]["y"] == [1.5, 2.5]
    assert figure["data"][0]["x"] == [NOW_MS, NOW_MS + MINUTE_MS]
    assert figure["data"][0]["type"] == ("bar" if kind == "bar" else "scatter")
    assert ("fill" in figure["data"][0]) == (kind == "area")


def test_trend_traces_follow_the_series_unkeyed_and_dashed() -> None:
    previous = SAMPLE.with_columns(pl.col("value") * 10)
    figure = view_figure(
        "line",
        SAMPLE,
        "UTC",
        "avg",
        averaged=moving_average(SAMPLE, 3),
        previous=previous,
        window=3,
    )
    names = [t["name"] for t in figure["data"]]
    assert names[2:] == [
        "cpu · web-1 · avg of 3",
        "cpu · web-2 · avg of 3",
        "cpu · web-1 · previous period",
        "cpu · web-2 · previous period",
    ]
    assert [t.get("meta") for t in figure["data"][2:]] == [None] * 4
    assert figure["data"][4]["line"]["dash"] == "dash"
    assert figure["data"][4]["y"] == [15.0, 25.0]


def test_pie_and_heatmap_figures() -> None:
    pie = view_figure("pie", SAMPLE, "UTC", "sum", breakdown_by="source")["data"][0]
    assert (pie["labels"], pie["values"]) == (["web-1", "web-2"], [4.0, 7.0])
    heat = view_figure("heatmap", SAMPLE, "UTC", "max")["data"][0]
    assert heat["x"] == ["2026-03-10"] and len(heat["z"]) == 24
    assert heat["z"][12] == [7.0] and heat["z"][11] == [None]


def test_table_rows_carry_local_iso_times() -> None:
    rows = table_rows(SAMPLE, "Europe/Paris")
    assert rows[0] == {
        "time": "2026-03-10T13:00:00+01:00",
        "metric": "cpu",
        "source": "web-1",
        "value": 1.5,
    }


def test_live_tail_only_for_live_views_ending_now() -> None:
    live = ExploreFilters(metrics=("cpu",), range="1h", live=True)
    tail = live_tail(live, SAMPLE, "123-0", NOW_MS)
    assert tail["traces"] == ["cpu|web-1", "cpu|web-2"] and tail["cursor"] == "123-0"
    assert tail["last"] == {"cpu|web-1": NOW_MS + MINUTE_MS, "cpu|web-2": NOW_MS}
    assert tail["sources"] == ["*"]
    custom = ExploreFilters(
        metrics=("cpu",), range="custom", start_day="2026-01-01", end_day="2026-01-02", live=True
    )
    assert live_tail(custom, SAMPLE, "1-0", NOW_MS) is None
    assert (
        live_tail(ExploreFilters(metrics=("cpu",), live=True, chart="pie"), SAMPLE, "1-0", NOW_MS)
        is None
    )
