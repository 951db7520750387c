"""The overview journey in headless Chromium: sign in, see the tenant's KPIs, watch them live."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By

from components import ids
from components.overview import format_change, format_value
from tests.browser.conftest import by_id, dash_id, point
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, SOURCE = "cpu.usage", "web-1"
KEY = f"{METRIC}|{SOURCE}"
HISTORY = [61.5, 64.0, 70.25, 68.0, 73.125]  # one point every 10 s, the last 5 s ago
LIVE_WAIT_S = 2  # a new point reaches the KPI card within this


@pytest.fixture
def overview(
    dash_duo, live_server: LiveServer, tenant, make_user, ingest_key, ingest, stored, sign_in
):
    """A viewer of a tenant with a few cpu.usage points, signed in, on the overview (`/` is
    their home)."""
    now = int(time.time() * 1000)
    ingest(
        ingest_key,
        [
            point(METRIC, SOURCE, v, now - 5_000 - (len(HISTORY) - 1 - i) * 10_000)
            for i, v in enumerate(HISTORY)
        ],
    )
    stored(tenant, len(HISTORY), (METRIC, SOURCE), HISTORY[-1])
    user = make_user(tenant, "viewer")
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    dash_duo.driver.get(live_server.url + "/overview")
    dash_duo.wait_for_text_to_equal(
        by_id(ids.KPI_VALUE, KEY), format_value(HISTORY[-1]), timeout=10
    )
    return user


def wait_socket_live(dash_duo) -> None:
    """Wait until the page's own status badge says its /ws socket is open."""
    dash_duo.wait_for_text_to_equal(f"#{ids.WS_STATUS}", "live", timeout=10)


def trace_lengths(dash_duo, metric: str) -> list[int]:
    """How many points each trace of a metric's live chart holds (Plotly keeps `data` on it)."""
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.data ? plot.data.map((t) => t.x.length) : null;",
        dash_id(ids.CHART, metric),
    )


def chart_values(dash_duo, metric: str) -> list[list[float]] | None:
    """The y values of each trace of a metric's live chart, in drawing order."""
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.data ? plot.data.map((t) => Array.from(t.y)) : null;",
        dash_id(ids.CHART, metric),
    )


def text_of(dash_duo, selector: str) -> str:
    """The visible text of the element at a CSS selector."""
    return dash_duo.find_element(selector).text


def absent(dash_duo, element_id: str) -> bool:
    """Whether the page has no element with this id (asked without the implicit wait)."""
    dash_duo.driver.implicitly_wait(0)
    try:
        return not dash_duo.driver.find_elements(By.ID, element_id)
    finally:
        dash_duo.driver.implicitly_wait(2)


def test_viewer_sees_kpi_card_chart_and_own_name(dash_duo, overview) -> None:
    """A viewer signs in and sees a KPI card with the latest value, its chart and their name."""
    card = dash_duo.find_element(by_id(ids.KPI_VALUE, KEY)).find_element(
        By.XPATH, "ancestor::div[contains(@class, 'pulse-kpi')][1]"
    )
    assert METRIC in card.text and SOURCE in card.text
    assert text_of(dash_duo, by_id(ids.KPI_VALUE, KEY)) == "73.125"
    wait_until(lambda: trace_lengths(dash_duo, METRIC) == [len(HISTORY)], 10)
    assert dash_duo.find_element(f"#{ids.NAV_USER}").text.startswith(overview.username)
    assert urlparse(dash_duo.driver.current_url).path == "/overview"


def test_new_point_reaches_kpi_card_within_2s_and_badge_says_live(
    dash_duo, overview, ingest_key, ingest
) -> None:
    """A point POSTed while the overview is open shows on its KPI card within 2 s, badge live."""
    wait_socket_live(dash_duo)
    ingest(ingest_key, [point(METRIC, SOURCE, 4242.5)])
    # "4,242": what the server writes for this value on a reload (ties round to even)
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "4,242", timeout=LIVE_WAIT_S)
    assert format_value(4242.5) == "4,242"
    # the history is younger than an hour: the browser says so in the server's words
    dash_duo.wait_for_text_to_equal(
        by_id(ids.KPI_CHANGE, KEY), format_change(4242.5, None), timeout=2
    )
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_BADGE, KEY), "live", timeout=2)
    wait_until(lambda: trace_lengths(dash_duo, METRIC) == [len(HISTORY) + 1], 2)


def test_wrong_password_shows_error_and_no_dashboard(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in
) -> None:
    """A wrong password keeps the visitor on /login with the error, and / stays locked."""
    user = make_user(tenant, "viewer")
    sign_in(user.username, "not-" + PASSWORD)
    dash_duo.wait_for_text_to_equal("#login-error", "Wrong username or password.", timeout=5)
    assert urlparse(dash_duo.driver.current_url).path == "/login"
    assert dash_duo.find_element("#username").get_attribute("value") == user.username
    assert dash_duo.find_element("#password").get_attribute("value") == ""
    assert absent(dash_duo, ids.OVERVIEW_BODY) and absent(dash_duo, ids.NAV_USER)
    dash_duo.driver.get(live_server.url + "/")
    dash_duo.wait_for_element("#login-submit", timeout=5)
    assert urlparse(dash_duo.driver.current_url).path == "/login"
    assert absent(dash_duo, ids.OVERVIEW_BODY)


OVERFLOWING = """
const width = window.innerWidth;
return Array.from(document.body.querySelectorAll('*')).filter((el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && box.right > width + 1;
}).map((el) => el.tagName + '#' + el.id + '.' + el.className).slice(0, 5);
"""


def test_phone_width_has_no_horizontal_scroll_and_navbar_collapses(
    dash_duo, overview, screenshot
) -> None:
    """At 375 px nothing scrolls sideways and the navbar hides behind a toggler with Sign out."""
    driver = dash_duo.driver
    wait_until(lambda: trace_lengths(dash_duo, METRIC) == [len(HISTORY)], 10)
    assert dash_duo.find_element("#logout-button").is_displayed()
    assert not dash_duo.find_element(f"#{ids.NAVBAR_TOGGLER}").is_displayed()
    screenshot("overview-1280")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True},
    )
    try:
        wait_until(lambda: driver.execute_script("return window.innerWidth") == 375, 5)
        # the responsive charts redraw at the new width shortly after the resize
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: driver.execute_script(OVERFLOWING) == [], 3)
        widths = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.body.scrollWidth,"
            " window.innerWidth]"
        )
        assert widths[0] <= widths[2] and widths[1] <= widths[2], widths
        assert driver.execute_script(OVERFLOWING) == []
        assert text_of(dash_duo, by_id(ids.KPI_VALUE, KEY)) == "73.125"
        sign_out = dash_duo.find_element("#logout-button")
        assert not sign_out.is_displayed()
        screenshot("overview-375")
        dash_duo.find_element(f"#{ids.NAVBAR_TOGGLER}").click()
        wait_until(sign_out.is_displayed, 3)
        assert sign_out.text == "Sign out"
        screenshot("overview-375-menu")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


RECORD_KPI_TEXTS = """
const el = document.getElementById(arguments[0]);
window.__kpiTexts = [el.textContent];
new MutationObserver(() => window.__kpiTexts.push(el.textContent))
  .observe(el, {childList: true, characterData: true, subtree: true});
"""


def test_other_tenants_points_never_appear(
    dash_duo, overview, live_server: LiveServer, tenant, ingest_key, ingest, stored
) -> None:
    """Another tenant's point for the same metric and source never reaches this tenant's page."""
    services = live_server.services
    other = f"{tenant}-b"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, other)
    other_key = services.accounts.create_api_key(other, "other ingest", "ingest")
    wait_socket_live(dash_duo)
    dash_duo.driver.execute_script(RECORD_KPI_TEXTS, dash_id(ids.KPI_VALUE, KEY))
    ingest(other_key, [point(METRIC, SOURCE, 999.0)])
    stored(other, 1, (METRIC, SOURCE), 999.0)
    ingest(ingest_key, [point(METRIC, SOURCE, 12.5)])  # ours, sent after theirs
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "12.5", timeout=LIVE_WAIT_S)
    assert dash_duo.driver.execute_script("return window.__kpiTexts") == ["73.125", "12.5"]
    assert trace_lengths(dash_duo, METRIC) == [len(HISTORY) + 1]
    dash_duo.driver.refresh()  # a fresh snapshot holds only this tenant's series too
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "12.5", timeout=10)
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pulse-kpi")) == 1
    assert "999" not in dash_duo.find_element(f"#{ids.OVERVIEW_BODY}").text


SET_HIDDEN = """
const hidden = arguments[0];
Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
Object.defineProperty(document, 'visibilityState', {configurable: true,
                      get: () => (hidden ? 'hidden' : 'visible')});
document.dispatchEvent(new Event('visibilitychange'));
"""


def sockets_of(live_server: LiveServer, tenant: str) -> list[tuple[str, ...]]:
    """The metric subscriptions of each subscribed /ws socket the gateway holds for a tenant
    (the shell's notification socket subscribes to nothing and stays open while hidden)."""

    async def read() -> list[tuple[str, ...]]:
        return [c.metrics for c in live_server.gateway.hub.clients.get(tenant, ()) if c.metrics]

    return asyncio.run_coroutine_threadsafe(read(), live_server.loop).result(5)


def test_points_sent_while_tab_hidden_appear_once_visible(
    dash_duo, overview, live_server: LiveServer, tenant, ingest_key, ingest, stored
) -> None:
    """A hidden tab closes its socket; shown again, it resumes by cursor with nothing missed."""
    driver = dash_duo.driver
    wait_socket_live(dash_duo)
    wait_until(lambda: sockets_of(live_server, tenant) == [(METRIC,)], 5)
    driver.execute_script(SET_HIDDEN, True)
    dash_duo.wait_for_text_to_equal(f"#{ids.WS_STATUS}", "paused", timeout=3)
    wait_until(lambda: sockets_of(live_server, tenant) == [], 5)
    now = int(time.time() * 1000)
    missed = [81.0, 82.5, 84.0]
    ingest(
        ingest_key, [point(METRIC, SOURCE, v, now - 300 + i * 100) for i, v in enumerate(missed)]
    )
    stored(tenant, len(HISTORY) + len(missed), (METRIC, SOURCE), missed[-1])
    assert text_of(dash_duo, by_id(ids.KPI_VALUE, KEY)) == "73.125"
    driver.execute_script(SET_HIDDEN, False)
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "84", timeout=5)
    wait_until(lambda: chart_values(dash_duo, METRIC) == [HISTORY + missed], 3)
    dash_duo.wait_for_text_to_equal(f"#{ids.WS_STATUS}", "live", timeout=3)


def test_page_reconnects_after_server_drops_socket_and_misses_nothing(
    dash_duo, overview, live_server: LiveServer, tenant, ingest_key, ingest, stored
) -> None:
    """When the server drops the socket the page reconnects, replays what it missed, goes on."""
    wait_socket_live(dash_duo)
    wait_until(lambda: sockets_of(live_server, tenant) == [(METRIC,)], 5)

    async def drop() -> None:
        hub = live_server.gateway.hub
        for client in list(hub.clients.get(tenant, ())):
            hub.disconnect(client, 1012, "restarting")

    asyncio.run_coroutine_threadsafe(drop(), live_server.loop).result(5)
    ingest(ingest_key, [point(METRIC, SOURCE, 90.5)])  # while the page is reconnecting
    stored(tenant, len(HISTORY) + 1, (METRIC, SOURCE), 90.5)
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "90.5", timeout=5)
    wait_until(lambda: sockets_of(live_server, tenant) == [(METRIC,)], 5)
    ingest(ingest_key, [point(METRIC, SOURCE, 91.5)])  # and live again afterwards
    dash_duo.wait_for_text_to_equal(by_id(ids.KPI_VALUE, KEY), "91.5", timeout=LIVE_WAIT_S)
    assert chart_values(dash_duo, METRIC) == [HISTORY + [90.5, 91.5]]
