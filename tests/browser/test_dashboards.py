"""Dashboards in headless Chromium: build one (palette, drag, resize, save, reload), share
it and open it as another analyst and as a viewer (read-only), watch a live point reach a
line widget, and meet the stale-save choice."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from components import ids
from data.domain.dashboards import Actor
from tests.browser.conftest import by_id, point
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, SOURCE = "cpu.usage", "web-1"
GRID = f"#{ids.DASH_BODY} .react-grid-layout"
HISTORY = [61.5, 64.0, 70.25, 68.0, 73.125]


@pytest.fixture
def with_data(live_server: LiveServer, tenant, ingest_key, ingest, stored) -> str:
    """A tenant with a minute of cpu.usage."""
    now = int(time.time() * 1000)
    ingest(
        ingest_key,
        [point(METRIC, SOURCE, v, now - 5_000 - (4 - i) * 10_000) for i, v in enumerate(HISTORY)],
    )
    stored(tenant, len(HISTORY), (METRIC, SOURCE), HISTORY[-1])
    return tenant


def actor(user) -> Actor:  # type: ignore[no-untyped-def]
    return Actor(user.tenant_id, user.user_id, user.role)


def sign_in_as(dash_duo, sign_in, user) -> None:  # type: ignore[no-untyped-def]
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)


def open_dashboard(dash_duo, live_server: LiveServer, dashboard_id: str) -> None:
    dash_duo.driver.get(f"{live_server.url}/dashboards/{dashboard_id}")
    dash_duo.wait_for_element(GRID, timeout=15)


def add_widget(dash_duo, kind: str) -> None:
    """Pick `kind` from the palette and wait for its card."""
    before = len(dash_duo.find_elements(".pulse-dash-widget"))
    dash_duo.find_element(f"#{ids.DASH_TOOLBAR} .dropdown-toggle").click()
    item = by_id(ids.DASH_ADD, kind)
    WebDriverWait(dash_duo.driver, 5).until(EC.element_to_be_clickable((By.CSS_SELECTOR, item)))
    dash_duo.find_element(item).click()
    wait_until(lambda: len(dash_duo.find_elements(".pulse-dash-widget")) == before + 1, 10)


def drag(dash_duo, element, dx: int, dy: int) -> None:
    """Press, move in small steps (react-grid-layout needs moves), release."""
    chain = ActionChains(dash_duo.driver).move_to_element(element).click_and_hold().pause(0.2)
    chain.move_by_offset(10, 10).pause(0.1).move_by_offset(dx - 10, dy - 10).pause(0.2)
    chain.release().perform()


def test_build_drag_resize_save_and_reload(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in, screenshot
) -> None:
    user = make_user(with_data, "analyst")
    sign_in_as(dash_duo, sign_in, user)
    dash_duo.driver.get(live_server.url + "/dashboards")
    dash_duo.wait_for_element(f"#{ids.DASHES_NEW}", timeout=10).click()
    dash_duo.wait_for_element(GRID, timeout=15)
    dashboard_id = dash_duo.driver.current_url.rsplit("/", 1)[-1]

    dash_duo.find_element(f"#{ids.DASH_EDIT}").click()
    add_widget(dash_duo, "line")
    add_widget(dash_duo, "kpi")
    dash_duo.wait_for_element(".pulse-dash-line .js-plotly-plot", timeout=10)
    cards = dash_duo.find_elements(".pulse-dash-widget")
    kpi = next(c for c in cards if "pulse-dash-kpi" in c.get_attribute("class"))
    drag(dash_duo, kpi.find_element(By.CSS_SELECTOR, ".pulse-dash-head span"), 0, 330)
    handle = dash_duo.find_element(
        ".react-grid-item:has(> .pulse-dash-line) > .react-resizable-handle"
    )
    drag(dash_duo, handle, 200, 70)
    time.sleep(0.5)  # the grid reports its layout after the drag settles
    dash_duo.find_element(f"#{ids.DASH_SAVE}").click()
    dash_duo.wait_for_contains_text(f"#{ids.DASH_STATUS}", "Saved (version 2)", timeout=10)

    saved = live_server.services.dashboards.get(actor(user), dashboard_id)
    places = {w.type: w.layout for w in saved.spec.widgets}
    assert set(places) == {"line", "kpi"}
    assert places["line"].w > 6 or places["line"].h > 4, places  # resized
    assert places["kpi"].y >= places["line"].y + places["line"].h, places  # moved below

    dash_duo.driver.refresh()
    dash_duo.wait_for_element(".pulse-dash-kpi", timeout=15)
    assert len(dash_duo.find_elements(".pulse-dash-widget")) == 2
    dash_duo.wait_for_text_to_equal(
        by_id(ids.DASH_KPI, saved.spec.widgets[1].id), "73.125", timeout=10
    )
