"""The forecast toggles in headless Chromium, at 375 and 1280 px: /explore's "Forecast" and
"Anomaly band" and a dashboard line widget's choice draw the dashed forecast, its bands and
the backtest caption, or the past band with red markers, with no console error; too short a
history says how much is needed; a live point in the next bucket moves the forecast on.
Screenshots go to docs/screens/forecast-*.png when PULSE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.support.ui import Select

from components import ids
from components.forecast_charts import BAND_80, BAND_95, FORECAST, OUTSIDE, PAST_95
from data.domain.dashboards import Actor
from tests.browser.conftest import by_id, point
from tests.browser.pagecheck import PageWatch
from tests.browser.test_pages import set_width
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, SHORT, SOURCE = "cpu.usage", "disk.used", "web-1"
MINUTES = 320  # a point a minute, the newest 20 s ago, one spike among them: what a 6-hour
# chart's forecast needs (a day's history read at 1 min: 16 + 3 horizons of 90 steps)
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
TALL = """
const plot = document.querySelector(arguments[0] + ' .js-plotly-plot');
return plot ? plot.clientHeight : 0;
"""
OVERLAY = """
const plot = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!plot || !plot.data || !plot._fullLayout) return null;
const notes = (plot._fullLayout.annotations || []).map((a) => a.text);
return {metas: plot.data.map((t) => t.meta || null), notes: notes,
        drawn: Array.from(plot.querySelectorAll('.annotation-text')).map((n) => n.textContent),
        edge: (plot.data.find((t) => t.meta === 'forecast') || {x: [null]}).x[0],
        red: plot.data.filter((t) => t.meta === 'band-outside').map((t) => t.x.length)};
"""


def shoot(dash_duo, name: str, selector: str) -> None:
    """Keep a screenshot once the chart is laid out: under /tmp/pulse-shots always, in
    docs/screens when asked."""
    wait_until(lambda: dash_duo.driver.execute_script(TALL, selector) > 150, 10)
    time.sleep(0.5)  # the last repaint
    for folder in (Path("/tmp/pulse-shots"), SCREENS):
        if folder == SCREENS and os.environ.get("PULSE_SCREENSHOTS") != "1":
            continue
        folder.mkdir(parents=True, exist_ok=True)
        dash_duo.driver.save_screenshot(str(folder / f"{name}.png"))


@pytest.fixture
def analyst(
    dash_duo, live_server: LiveServer, tenant, make_user, ingest_key, ingest, stored, sign_in
):
    """An analyst of a tenant with MINUTES of cpu.usage, three points of disk.used and a
    dashboard with a line widget of cpu.usage, signed in; (user, dashboard id)."""
    now = int(time.time() * 1000)
    values = [40.0 + (i % 7) + (45.0 if i == 30 else 0.0) for i in range(MINUTES)]
    points = [point(METRIC, SOURCE, v, now - 20_000 - i * 60_000) for i, v in enumerate(values)]
    points += [point(SHORT, SOURCE, 1.0, now - 20_000 - i * 60_000) for i in range(3)]
    ingest(ingest_key, points)
    stored(tenant, len(points), (METRIC, SOURCE), values[0])
    user = make_user(tenant, "analyst")
    line = {
        "id": "cpu",
        "type": "line",
        "title": "CPU",
        "query": {"metric": [METRIC], "source": []},
        "layout": {"x": 0, "y": 0, "w": 12, "h": 5},
    }
    doc = {"title": "Forecasts", "time": {"start": "now-6h", "end": "now"}, "widgets": [line]}
    actor = Actor(user.tenant_id, user.user_id, user.role)
    dashboard = live_server.services.dashboards.create(actor, doc).dashboard_id
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    return user, dashboard


def overlay_of(dash_duo, selector: str) -> dict | None:
    return dash_duo.driver.execute_script(OVERLAY, selector)


def wait_for_overlay(dash_duo, selector: str, wanted: list[str]) -> dict:
    """The graph's overlay once every `wanted` meta is drawn (and nothing else of it)."""
    seen: dict = {}

    def drawn() -> bool:
        seen["overlay"] = found = overlay_of(dash_duo, selector)
        metas = [m for m in (found or {}).get("metas", []) if m and "|" not in m]
        return sorted(metas) == sorted(wanted)

    wait_until(drawn, 15)
    return seen["overlay"]


def switch(dash_duo, control: str) -> None:
    """Flip a dbc.Switch by its label (scrolled into view: phones may hide it)."""
    box = dash_duo.find_element(f"#{control}")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()


def check_caption(found: dict) -> None:
    (note,) = found["notes"]
    assert "backtest" in note, note
    assert any("backtest" in text for text in found["drawn"]), found["drawn"]  # on the chart


@pytest.mark.parametrize("width", [375, 1280])
def test_explore_forecast_and_anomaly_band_toggles(
    dash_duo, analyst, live_server: LiveServer, width: int
) -> None:
    set_width(dash_duo.driver, width)
    watch = PageWatch(dash_duo.driver)
    watch.reset()
    dash_duo.driver.get(f"{live_server.url}/explore?metric={METRIC}&start=now-6h&end=now")
    wait_for_overlay(dash_duo, f"#{ids.EXPLORE_GRAPH}", [])
    switch(dash_duo, ids.EXPLORE_FORECAST_SWITCH)
    found = wait_for_overlay(dash_duo, f"#{ids.EXPLORE_GRAPH}", [BAND_95, BAND_80, FORECAST])
    check_caption(found)
    wait_until(lambda: "forecast=1" in dash_duo.driver.current_url, 5)
    shoot(dash_duo, f"forecast-explore-{width}", f"#{ids.EXPLORE_GRAPH}")
    switch(dash_duo, ids.EXPLORE_BAND_SWITCH)
    both = [PAST_95, OUTSIDE, BAND_95, BAND_80, FORECAST]
    found = wait_for_overlay(dash_duo, f"#{ids.EXPLORE_GRAPH}", both)
    assert found["red"] and found["red"][0] >= 1  # the spike, at least
    switch(dash_duo, ids.EXPLORE_FORECAST_SWITCH)
    wait_for_overlay(dash_duo, f"#{ids.EXPLORE_GRAPH}", [PAST_95, OUTSIDE])
    shoot(dash_duo, f"forecast-explore-band-{width}", f"#{ids.EXPLORE_GRAPH}")

    dash_duo.driver.get(f"{live_server.url}/explore?metric={SHORT}&start=now-6h&end=now&forecast=1")
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_FORECAST_NOTE}", "of history", timeout=15)
    assert "needs" in dash_duo.find_element(f"#{ids.EXPLORE_FORECAST_NOTE}").text
    assert not dash_duo.find_element(f"#{ids.EXPLORE_MESSAGE}").text  # a note, not an error
    watch.settle()
    assert watch.problems() == []


@pytest.mark.parametrize("width", [375, 1280])
def test_a_dashboard_widget_draws_its_forecast_and_band(
    dash_duo, analyst, live_server: LiveServer, width: int
) -> None:
    _, dashboard = analyst
    set_width(dash_duo.driver, width)
    watch = PageWatch(dash_duo.driver)
    watch.reset()
    dash_duo.driver.get(f"{live_server.url}/dashboards/{dashboard}")
    figure = by_id(ids.DASH_FIG, "cpu")
    wait_for_overlay(dash_duo, figure, [])
    mode = dash_duo.find_element(by_id(ids.DASH_FORECAST_MODE, "cpu"))
    Select(mode).select_by_value("forecast")
    check_caption(wait_for_overlay(dash_duo, figure, [BAND_95, BAND_80, FORECAST]))
    shoot(dash_duo, f"forecast-dashboard-{width}", figure)
    Select(mode).select_by_value("band")
    found = wait_for_overlay(dash_duo, figure, [PAST_95, OUTSIDE])
    assert found["red"] and found["red"][0] >= 1
    shoot(dash_duo, f"forecast-dashboard-band-{width}", figure)
    Select(mode).select_by_value("history")
    wait_for_overlay(dash_duo, figure, [])
    watch.settle()
    assert watch.problems() == []


def test_a_live_point_in_the_next_bucket_moves_the_forecast_on(
    dash_duo, analyst, live_server: LiveServer, ingest_key, ingest
) -> None:
    dash_duo.driver.get(
        f"{live_server.url}/explore?metric={METRIC}&start=now-1h&end=now&live=1&forecast=1"
    )
    graph = f"#{ids.EXPLORE_GRAPH}"
    before = wait_for_overlay(dash_duo, graph, [BAND_95, BAND_80, FORECAST])["edge"]
    dash_duo.wait_for_text_to_equal(f"#{ids.EXPLORE_WS_STATUS}", "live", timeout=10)
    for attempt in range(4):  # the point reaches PostgreSQL a moment after the socket
        ingest(ingest_key, [point(METRIC, SOURCE, 44.0 + attempt)])
        try:
            wait_until(lambda: (overlay_of(dash_duo, graph) or {}).get("edge") != before, 6)
            break
        except TimeoutError:
            continue
    after = overlay_of(dash_duo, graph)
    assert after is not None and after["edge"] != before
    assert sorted(m for m in after["metas"] if m and "|" not in m) == sorted(
        [BAND_95, BAND_80, FORECAST]
    )
    assert after["edge"] > before  # later: the forecast starts from the new live edge
