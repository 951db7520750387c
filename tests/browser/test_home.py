"""`/` and the personal view in headless Chromium: a new tenant with data lands on the home
generated from its top metrics, one without data is told how to send some; a reader's own
source filter and folded widget survive a reload and change nothing for another analyst."""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from components import ids
from components.overview import format_value
from data.domain.dashboards import Actor
from tests.browser.conftest import by_id, point
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, BUSY, QUIET = "cpu.usage", "web-1", "web-2"
HISTORY = [61.5, 64.0, 70.25, 68.0, 73.125]
QUIET_VALUE = 12.5  # web-2's only point, older than web-1's last


@pytest.fixture
def with_data(live_server: LiveServer, tenant, ingest_key, ingest, stored) -> str:
    """A tenant with a minute of cpu.usage from web-1 and one older point from web-2."""
    now = int(time.time() * 1000)
    busy = [point(METRIC, BUSY, v, now - 5_000 - (4 - i) * 10_000) for i, v in enumerate(HISTORY)]
    ingest(ingest_key, [point(METRIC, QUIET, QUIET_VALUE, now - 50_000), *busy])
    stored(tenant, len(HISTORY) + 1, (METRIC, BUSY), HISTORY[-1])
    return tenant


def actor(user) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(user.tenant_id, user.user_id, user.role)


def sign_in_as(dash_duo, sign_in, user) -> None:  # type: ignore[no-untyped-def]
    dash_duo.driver.delete_all_cookies()
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)


def ops_dashboard(services, owner) -> str:  # type: ignore[no-untyped-def]
    """A shared dashboard of `owner`: the KPI and table of cpu.usage over every source."""
    widgets = [
        {
            "id": "cpu-kpi",
            "type": "kpi",
            "title": "CPU now",
            "query": {"metric": [METRIC], "source": [], "agg": "last", "step": "auto"},
            "layout": {"x": 0, "y": 0, "w": 4, "h": 2},
        },
        {
            "id": "cpu-table",
            "type": "table",
            "title": "CPU by host",
            "query": {"metric": [METRIC], "source": [], "agg": "last", "step": "auto"},
            "layout": {"x": 4, "y": 0, "w": 8, "h": 3},
        },
    ]
    doc = {"title": "Ops", "shared": True, "time": {"start": "now-1h", "end": "now"}}
    return services.dashboards.create(actor(owner), {**doc, "widgets": widgets}).dashboard_id


def open_dashboard(dash_duo, live_server: LiveServer, dashboard_id: str) -> None:
    dash_duo.driver.get(f"{live_server.url}/dashboards/{dashboard_id}")
    dash_duo.wait_for_element(f"#{ids.DASH_BODY} .react-grid-layout", timeout=15)


def kpi_text(dash_duo) -> str:
    return str(dash_duo.find_element(by_id(ids.DASH_KPI, "cpu-kpi")).text)


def folded(dash_duo) -> bool:
    """Whether the table widget (and only it) shows folded: its title bar, no rows."""
    cards = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".pulse-dash-collapsed")
    return len(cards) == 1 and "CPU by host" in cards[0].text


def test_a_new_tenant_with_data_lands_on_its_generated_home(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    sign_in_as(dash_duo, sign_in, make_user(with_data, "viewer"))
    dash_duo.wait_for_text_to_equal(f"#{ids.DASH_TITLE}", "Home", timeout=15)
    assert urlparse(dash_duo.driver.current_url).path == "/"
    dash_duo.wait_for_text_to_equal(by_id(ids.DASH_KPI, "kpi-1"), "73.125", timeout=10)
    assert METRIC in dash_duo.find_element(".pulse-dash-kpi").text
    assert dash_duo.find_elements(".pulse-dash-line .js-plotly-plot")
    dash_duo.find_element("a.nav-link[href='/overview']").click()
    dash_duo.wait_for_element(f"#{ids.OVERVIEW_BODY} .pulse-kpi", timeout=15)


def test_a_tenant_without_data_is_told_how_to_send_some(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in
) -> None:
    sign_in_as(dash_duo, sign_in, make_user(tenant, "admin"))
    dash_duo.wait_for_contains_text(f"#{ids.HOME_EMPTY}", "/api/ingest", timeout=10)
    assert "Authorization: Bearer" in dash_duo.find_element(f"#{ids.HOME_EMPTY}").text
    dash_duo.driver.set_window_size(360, 800)  # the example wraps on a phone
    wide = "return document.documentElement.scrollWidth > window.innerWidth;"
    wait_until(lambda: not dash_duo.driver.execute_script(wide), 5)
    assert dash_duo.get_logs() == []


def test_my_filter_and_folded_widget_survive_a_reload_and_are_mine_only(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    services = live_server.services
    reader = make_user(with_data, "viewer")
    dashboard_id = ops_dashboard(services, make_user(with_data, "analyst"))
    sign_in_as(dash_duo, sign_in, reader)
    open_dashboard(dash_duo, live_server, dashboard_id)
    dash_duo.wait_for_text_to_equal(by_id(ids.DASH_KPI, "cpu-kpi"), "73.125", timeout=10)
    dash_duo.select_dcc_dropdown(f"#{ids.DASH_SOURCES}", value=QUIET)
    dash_duo.find_element("body").send_keys(Keys.ESCAPE)
    wait_until(lambda: kpi_text(dash_duo) == format_value(QUIET_VALUE), 10)
    dash_duo.find_element(by_id(ids.DASH_COLLAPSE, "cpu-table")).click()
    wait_until(lambda: folded(dash_duo), 10)

    open_dashboard(dash_duo, live_server, dashboard_id)  # a reload shows my view again
    wait_until(lambda: kpi_text(dash_duo) == format_value(QUIET_VALUE), 10)
    assert folded(dash_duo)
    assert QUIET in dash_duo.find_element(f"#{ids.DASH_SOURCES}").text

    sign_in_as(dash_duo, sign_in, make_user(with_data, "analyst"))  # another analyst
    open_dashboard(dash_duo, live_server, dashboard_id)
    dash_duo.wait_for_text_to_equal(by_id(ids.DASH_KPI, "cpu-kpi"), "73.125", timeout=10)
    assert not folded(dash_duo)
    saved = services.dashboards.get(actor(reader), dashboard_id)
    assert saved.version == 1 and saved.spec.filters.source == []  # the owner's, untouched
    assert saved.view is not None and saved.view.collapsed == ["cpu-table"]

    sign_in_as(dash_duo, sign_in, reader)  # "Reset my view": the dashboard as saved
    open_dashboard(dash_duo, live_server, dashboard_id)
    wait_until(lambda: folded(dash_duo), 10)
    dash_duo.find_element(f"#{ids.DASH_RESET_VIEW}").click()
    wait_until(lambda: kpi_text(dash_duo) == "73.125" and not folded(dash_duo), 10)
    assert services.dashboards.get(actor(reader), dashboard_id).view is None
