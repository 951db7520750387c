"""The explore journey in headless Chromium: pick a metric and a range, switch charts,
download, reload, phone width, empty and bad ranges, and the live tail."""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import openpyxl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from components import ids
from tests.browser.conftest import point
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, SOURCE, OTHER = "cpu.usage", "web-1", "sales.orders"
HOURS = 23  # one cpu.usage point per hour over the last day, the newest 30 s ago

PLOT = """
const plot = document.querySelector('#explore-graph .js-plotly-plot');
return plot && plot.data ? plot.data.map((t) => [t.type, (t.x || t.values).length]) : null;
"""


@pytest.fixture
def explore(
    dash_duo, live_server: LiveServer, tenant, make_user, ingest_key, ingest, stored, sign_in
):
    """An analyst of a tenant with a day of cpu.usage and one sales.orders point, signed in."""
    now = int(time.time() * 1000)
    points = [point(METRIC, SOURCE, 50.0 + i, now - 30_000 - i * 3_600_000) for i in range(HOURS)]
    ingest(ingest_key, [*points, point(OTHER, "shop", 3.0, now - 60_000)])
    stored(tenant, HOURS + 1, (METRIC, SOURCE), 50.0)
    user = make_user(tenant, "analyst")
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    return user


def open_explore(dash_duo, live_server: LiveServer, search: str = "") -> None:
    dash_duo.driver.get(live_server.url + "/explore" + search)
    dash_duo.wait_for_element(f"#{ids.EXPLORE_METRICS}", timeout=10)


def traces(dash_duo) -> list[list] | None:
    return dash_duo.driver.execute_script(PLOT)


def y_values(dash_duo) -> list[float]:
    """The y values of the graph's first trace (none before it is drawn)."""
    return dash_duo.driver.execute_script(
        "const plot = document.querySelector('#explore-graph .js-plotly-plot');"
        "return plot && plot.data && plot.data[0] ? Array.from(plot.data[0].y || []) : [];"
    )


def query_of(dash_duo) -> dict[str, list[str]]:
    return parse_qs(urlparse(dash_duo.driver.current_url).query)


def pick_chart(dash_duo, label: str) -> None:
    chart = dash_duo.find_element(f"#{ids.EXPLORE_CHART}")
    chart.find_element(By.XPATH, f".//label[normalize-space()='{label}']").click()


def message_text(dash_duo) -> str:
    return dash_duo.find_element(f"#{ids.EXPLORE_MESSAGE}").text


def test_pick_metric_and_day_switch_charts_download_and_reload(
    dash_duo, explore, live_server: LiveServer, screenshot
) -> None:
    """Metric + last 24 h draws the day; bar and table show it; CSV downloads; reload keeps it."""
    open_explore(dash_duo, live_server)
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_MESSAGE}", "Pick one or more metrics", 10)
    dash_duo.select_dcc_dropdown(f"#{ids.EXPLORE_METRICS}", value=METRIC)
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    Select(dash_duo.find_element(f"#{ids.EXPLORE_RANGE}")).select_by_value("24h")
    wait_until(lambda: traces(dash_duo) == [["scatter", HOURS]], 10)
    # laid out after it is shown: wait for the height rather than read it at once
    wait_until(lambda: dash_duo.find_element(f"#{ids.EXPLORE_GRAPH}").size["height"] > 300, 10)
    wait_until(lambda: query_of(dash_duo).get("start") == ["now-24h"], 5)
    assert query_of(dash_duo)["metric"] == [METRIC]
    screenshot("explore-1280")

    pick_chart(dash_duo, "Bar")
    wait_until(lambda: traces(dash_duo) == [["bar", HOURS]], 10)
    pick_chart(dash_duo, "Pie")
    wait_until(lambda: traces(dash_duo) == [["pie", 1]], 10)  # one source
    screenshot("explore-pie-1280")
    pick_chart(dash_duo, "Heatmap")
    wait_until(lambda: (traces(dash_duo) or [[None]])[0][0] == "heatmap", 10)
    screenshot("explore-heatmap-1280")
    pick_chart(dash_duo, "Table")
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_TABLE}", METRIC, timeout=10)
    wait_until(lambda: not shown(dash_duo, f"#{ids.EXPLORE_GRAPH}"), 5)
    assert "23 buckets of 1m" in dash_duo.find_element(f"#{ids.EXPLORE_SUMMARY}").text
    screenshot("explore-table-1280")

    dash_duo.find_element(f"#{ids.EXPLORE_CSV}").click()
    downloads = Path(dash_duo.download_path)
    wait_until(lambda: [p for p in downloads.glob("*.csv")], 10)
    with next(downloads.glob("*.csv")).open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["time", "time_zone", "metric", "source", "agg", "step", "value"]
    assert len(rows) == HOURS + 1 and {r[2] for r in rows[1:]} == {METRIC}

    dash_duo.find_element(f"#{ids.EXPLORE_XLSX}").click()
    wait_until(lambda: [p for p in downloads.glob("*.xlsx")], 10)
    book = openpyxl.load_workbook(next(downloads.glob("*.xlsx")), read_only=True)
    assert book.sheetnames[0] == "query" and len(book.sheetnames) == 2
    values = [r[1] for r in book[book.sheetnames[1]].iter_rows(min_row=2, values_only=True)]
    assert len(values) == HOURS and all(isinstance(v, float | int) for v in values)

    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_TABLE}", METRIC, timeout=10)
    assert Select(dash_duo.find_element(f"#{ids.EXPLORE_RANGE}")).first_selected_option.text == (
        "Last 24 h"
    )
    assert METRIC in dash_duo.find_element(f"#{ids.EXPLORE_METRICS}").text
    assert query_of(dash_duo)["chart"] == ["table"]


def test_phone_width_folds_filters_and_chart_fits(
    dash_duo, explore, live_server: LiveServer, screenshot
) -> None:
    """At 375 px the filters hide behind a button, the chart fits, nothing scrolls sideways."""
    driver = dash_duo.driver
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        wait_until(lambda: driver.execute_script("return window.innerWidth") == 375, 5)
        open_explore(dash_duo, live_server, f"?metric={METRIC}&start=now-24h&end=now")
        wait_until(lambda: traces(dash_duo) == [["scatter", HOURS]], 10)
        metrics = dash_duo.find_element(f"#{ids.EXPLORE_METRICS}")
        toggle = dash_duo.find_element(f"#{ids.EXPLORE_FILTERS_TOGGLE}")
        assert toggle.is_displayed() and not metrics.is_displayed()
        with contextlib.suppress(TimeoutError):  # the responsive chart redraws shortly
            wait_until(lambda: _fits(driver), 3)
        widths = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('#explore-graph .main-svg').getBoundingClientRect().right]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
        screenshot("explore-375")
        toggle.click()
        wait_until(metrics.is_displayed, 3)
        time.sleep(0.5)  # the collapse finishes opening
        assert _fits(driver)
        screenshot("explore-375-filters")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _fits(driver) -> bool:
    return driver.execute_script(
        "const w = window.innerWidth;"
        "return document.documentElement.scrollWidth <= w && Array.from("
        "document.querySelectorAll('.pulse-explore *')).every((el) => {"
        " const b = el.getBoundingClientRect(); return b.width === 0 || b.right <= w + 1; });"
    )


def shown(dash_duo, selector: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the element is laid out (not display:none itself or within), asked in the page
    at once: a reference held across a re-render would go stale."""
    return bool(
        dash_duo.driver.execute_script(
            "const el = document.querySelector(arguments[0]);"
            "return !!el && el.getClientRects().length > 0;",
            selector,
        )
    )


def test_empty_range_and_bad_range_say_so(dash_duo, explore, live_server: LiveServer) -> None:
    """A range without points says "No data in this range"; an inverted one explains itself."""
    open_explore(dash_duo, live_server, f"?metric={METRIC}&start=2025-01-01&end=2025-01-02")
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_MESSAGE}", "No data in this range", 10)
    wait_until(lambda: not shown(dash_duo, f"#{ids.EXPLORE_GRAPH}"), 5)
    open_explore(dash_duo, live_server, f"?metric={METRIC}&start=2025-01-05&end=2025-01-02")
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_MESSAGE}", "cannot be shown", 10)
    assert "the last day is before the first" in message_text(dash_duo)
    wait_until(lambda: shown(dash_duo, f"#{ids.EXPLORE_DAYS}"), 5)
    Select(dash_duo.find_element(f"#{ids.EXPLORE_RANGE}")).select_by_value("1h")
    wait_until(lambda: not shown(dash_duo, f"#{ids.EXPLORE_DAYS}"), 5)
    wait_until(lambda: traces(dash_duo) == [["scatter", 1]], 10)  # the newest point only
    assert message_text(dash_duo) == ""
    Select(dash_duo.find_element(f"#{ids.EXPLORE_RANGE}")).select_by_value("custom")
    wait_until(lambda: shown(dash_duo, f"#{ids.EXPLORE_DAYS}"), 5)


def test_live_tail_appends_new_points_once(
    dash_duo, explore, live_server: LiveServer, ingest_key, ingest, stored, tenant
) -> None:
    """With live on, a point ingested after the history is drawn is appended exactly once."""
    open_explore(dash_duo, live_server, f"?metric={METRIC}&start=now-24h&end=now&live=1")
    wait_until(lambda: traces(dash_duo) == [["scatter", HOURS]], 10)
    dash_duo.wait_for_text_to_equal(f"#{ids.EXPLORE_WS_STATUS}", "live", timeout=10)
    ingest(ingest_key, [point(METRIC, SOURCE, 99.5)])
    stored(tenant, HOURS + 2, (METRIC, SOURCE), 99.5)
    wait_until(lambda: traces(dash_duo) == [["scatter", HOURS + 1]], 5)
    # A replayed duplicate of 99.5 would reach the page before a point published after it:
    # once that point is drawn, the absence of the duplicate is proven.
    ingest(ingest_key, [point(METRIC, SOURCE, 99.75)])
    wait_until(lambda: 99.75 in y_values(dash_duo), 5)
    assert traces(dash_duo) == [["scatter", HOURS + 2]]
    assert y_values(dash_duo).count(99.5) == 1
