"""The /explore callbacks called directly, on real PostgreSQL and Redis: the view each set
of controls answers with, the names offered, and the export per role."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from dash import no_update
from dash.exceptions import PreventUpdate

from app.services import Services
from callbacks.explore import HIDDEN, SHOW_OUTPUTS, SHOWN, download, load_names, show
from components import ids
from data.domain.points import Point
from data.stores.accounts import User
from tests.unit.page_text import text_of

METRIC = "cpu.usage"
SOURCES = ("web-1", "web-2")
MINUTE_MS = 60_000
POINTS_PER_SOURCE = 5
# the controls in FILTER_STATES order, as a first visit shows them
CONTROLS = {
    "metrics": [METRIC],
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
}


def controls(**changes: Any) -> list[Any]:
    """The controls' values with `changes`, in the order the callbacks take them."""
    return list({**CONTROLS, **changes}.values())


@pytest.fixture(autouse=True)
def stored(services: Services, tenant: str) -> str:
    """The test tenant, with POINTS_PER_SOURCE points a minute apart per source in the last
    hour."""
    now_ms = services.now_ms()
    batch = [
        (tenant, Point(uuid.uuid4().hex, s, METRIC, now_ms - (10 + i) * MINUTE_MS, 40.0 + i))
        for s in SOURCES
        for i in range(POINTS_PER_SOURCE)
    ]
    services.history.write_points(batch)
    return tenant


def test_nothing_is_shown_before_the_browser_tells_its_time_zone(
    services: Services, viewer: User
) -> None:
    with pytest.raises(PreventUpdate):
        show(services, viewer, *controls(), None, 0)


def test_a_table_view_answers_every_output_with_the_buckets(
    services: Services, viewer: User
) -> None:
    answer = show(services, viewer, *controls(chart="table"), "UTC", 0)
    assert answer.keys() == SHOW_OUTPUTS.keys()
    assert (answer["table_class"], answer["graph_class"]) == (SHOWN, HIDDEN)
    assert len(answer["rows"]) == len(SOURCES) * POINTS_PER_SOURCE
    assert {r["source"] for r in answer["rows"]} == set(SOURCES)
    assert answer["summary"] == "10 buckets of 1m · avg · times in UTC"
    assert "metric=cpu.usage" in answer["search"] and "chart=table" in answer["search"]
    assert answer["figure"] == {} and answer["message"] is None and answer["live"] is None


def test_a_line_view_draws_one_trace_per_source_and_the_previous_period(
    services: Services, viewer: User
) -> None:
    answer = show(services, viewer, *controls(), "UTC", 0)
    assert (answer["graph_class"], answer["table_class"]) == (SHOWN, HIDDEN)
    assert answer["rows"] == [] and answer["message"] is None
    assert sorted(t["name"] for t in answer["figure"]["data"]) == [
        f"{METRIC} · {s}" for s in SOURCES
    ]
    hour_before = services.now_ms() - 70 * MINUTE_MS
    services.history.write_points(
        [(viewer.tenant_id, Point(uuid.uuid4().hex, SOURCES[0], METRIC, hour_before, 1.0))]
    )
    compared = show(services, viewer, *controls(compare=True), "UTC", 0)
    names = [t["name"] for t in compared["figure"]["data"]]
    assert names == [
        *(f"{METRIC} · {s}" for s in SOURCES),
        f"{METRIC} · {SOURCES[0]} · previous period",
    ]
    assert answer["days_class"] == "mb-2 d-none" and answer["breakdown_class"] == HIDDEN


def test_views_that_cannot_be_drawn_say_why(services: Services, viewer: User) -> None:
    cases = [
        ({"metrics": []}, "Pick one or more metrics"),
        ({"metrics": ["disk.used"]}, "No data in this range"),
        ({"chart": "heatmap", "step": "6h", "range": "7d"}, "Step too coarse for a heatmap"),
    ]
    for changes, said in cases:
        answer = show(services, viewer, *controls(**changes), "UTC", 0)
        assert said in text_of(answer["message"]), changes
        assert (answer["graph_class"], answer["table_class"]) == (HIDDEN, HIDDEN)


def test_the_controls_of_a_pie_and_a_custom_range_are_shown(
    services: Services, viewer: User
) -> None:
    pie = show(services, viewer, *controls(chart="pie"), "UTC", 0)
    assert pie["breakdown_class"] == SHOWN and pie["graph_class"] == SHOWN
    custom = controls(range="custom", start_day="2026-01-01", end_day="2026-01-02")
    assert show(services, viewer, *custom, "UTC", 0)["days_class"] == "mb-2"


def test_names_offered_are_the_tenants_and_the_ones_asked_for(
    services: Services, viewer: User, analyst: User
) -> None:
    metrics, sources, export = load_names(services, viewer, 0, ["from.url"], None)
    assert metrics == sorted([METRIC, "from.url"]) and sources == list(SOURCES)
    assert export == HIDDEN
    assert load_names(services, analyst, 0, None, None)[2] == "d-flex gap-2"


def test_exports_are_for_analysts_and_hold_what_is_shown(
    services: Services, viewer: User, analyst: User
) -> None:
    sent, refused = download(services, viewer, ids.EXPLORE_CSV, 1, 0, *controls(), "UTC")
    assert sent is no_update and "Exports are for analysts" in text_of(refused)
    sent, note = download(services, analyst, ids.EXPLORE_CSV, 1, 0, *controls(), "UTC")
    assert note is no_update and sent["filename"].endswith(".csv")
    csv = base64.b64decode(sent["content"]).decode()
    assert csv.count(METRIC) == len(SOURCES) * POINTS_PER_SOURCE
    workbook, _ = download(services, analyst, ids.EXPLORE_XLSX, 0, 1, *controls(), "UTC")
    assert workbook["filename"].startswith("pulse_cpu.usage_")
    assert workbook["filename"].endswith(".xlsx")
    _, problem = download(services, analyst, ids.EXPLORE_CSV, 1, 0, *controls(metrics=[]), "UTC")
    assert "Pick one or more metrics" in text_of(problem)
