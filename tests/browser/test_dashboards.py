"""Dashboards in headless Chromium: build one (palette, drag, resize, save, reload), share
it and open it as another analyst and as a viewer (read-only), watch a live point reach a
line widget, and meet the stale-save choice."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from components import ids
from data.domain.dashboards import Actor
from tests.browser.conftest import by_id, dash_id, point
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


def line_dashboard(services, owner, shared: bool = False) -> str:  # type: ignore[no-untyped-def]
    """A dashboard of `owner` with a live line, KPI and table of cpu.usage (made by the store)."""
    widgets = [
        {
            "id": "cpu-line",
            "type": "line",
            "title": "CPU",
            "query": {"metric": [METRIC], "source": [SOURCE], "agg": "avg", "step": "auto"},
            "layout": {"x": 0, "y": 0, "w": 8, "h": 4},
        },
        {
            "id": "cpu-kpi",
            "type": "kpi",
            "title": "CPU now",
            "query": {"metric": [METRIC], "source": [], "agg": "last", "step": "auto"},
            "layout": {"x": 8, "y": 0, "w": 4, "h": 2},
        },
        {
            "id": "cpu-table",
            "type": "table",
            "title": "CPU by host",
            "query": {"metric": [METRIC], "source": [], "agg": "last", "step": "auto"},
            "layout": {"x": 8, "y": 2, "w": 4, "h": 2},
        },
    ]
    doc = {"title": "Ops", "shared": shared, "time": {"start": "now-1h", "end": "now"}}
    return services.dashboards.create(actor(owner), {**doc, "widgets": widgets}).dashboard_id


def trace_length(dash_duo, widget_id: str) -> int | None:
    """How many points the first trace of a chart widget holds."""
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.data && plot.data[0] ? plot.data[0].x.length : null;",
        dash_id(ids.DASH_FIG, widget_id),
    )


def test_shared_dashboard_is_read_only_to_another_analyst_and_a_viewer(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    owner = make_user(with_data, "analyst")
    line_dashboard(live_server.services, owner, shared=True)
    for role in ("analyst", "viewer"):
        reader = make_user(with_data, role)
        sign_in_as(dash_duo, sign_in, reader)
        dash_duo.driver.get(live_server.url + "/dashboards")
        dash_duo.wait_for_contains_text(f"#{ids.DASHES_LIST}", "Ops", timeout=10)
        # the tenant's generated home (made at sign-in, `/`) is listed too
        dash_duo.driver.find_element(By.LINK_TEXT, "Ops").click()
        dash_duo.wait_for_element(".pulse-dash-line .js-plotly-plot", timeout=15)
        dash_duo.wait_for_text_to_equal(by_id(ids.DASH_KPI, "cpu-kpi"), "73.125", timeout=10)
        assert not dash_duo.find_element(f"#{ids.DASH_EDIT}").is_displayed(), role
        assert not dash_duo.find_element(f"#{ids.DASH_SAVE}").is_displayed()
        if role == "viewer":
            keep_my_range_and_home(dash_duo, live_server)
        dash_duo.driver.delete_all_cookies()


def keep_my_range_and_home(dash_duo, live_server: LiveServer) -> None:
    """A reader keeps their own time range (a personal view) and makes the dashboard `/`."""
    Select(dash_duo.find_element(f"#{ids.DASH_RANGE}")).select_by_value("now-15m")
    time.sleep(0.5)  # the personal view is saved by the server; then reload the page
    dash_duo.find_element(f"#{ids.DASH_HOME}").click()
    dash_duo.wait_for_contains_text(f"#{ids.DASH_STATUS}", "your home", timeout=10)
    dash_duo.driver.get(live_server.url + "/")
    dash_duo.wait_for_element(".pulse-dash-line .js-plotly-plot", timeout=15)
    chosen = Select(dash_duo.find_element(f"#{ids.DASH_RANGE}")).first_selected_option
    assert chosen.get_attribute("value") == "now-15m"


def test_personal_dashboard_of_another_user_is_not_found(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    owner = make_user(with_data, "analyst")
    dashboard_id = line_dashboard(live_server.services, owner)
    sign_in_as(dash_duo, sign_in, make_user(with_data, "admin"))
    dash_duo.driver.get(f"{live_server.url}/dashboards/{dashboard_id}")
    dash_duo.wait_for_contains_text(f"#{ids.DASH_BODY}", "Dashboard not found", timeout=10)
    assert "Ops" not in dash_duo.find_element(f"#{ids.DASH_BODY}").text


def test_a_live_point_reaches_the_line_widget(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in, ingest_key, ingest
) -> None:
    owner = make_user(with_data, "viewer")
    dashboard_id = line_dashboard(live_server.services, owner)
    sign_in_as(dash_duo, sign_in, owner)
    open_dashboard(dash_duo, live_server, dashboard_id)
    wait_until(lambda: (trace_length(dash_duo, "cpu-line") or 0) >= 1, 10)
    before = trace_length(dash_duo, "cpu-line") or 0
    wait_until(lambda: dash_duo.driver.execute_script("return window.__pulseDashOpen;"), 10)

    ingest(ingest_key, [point(METRIC, SOURCE, 99.5)])

    wait_until(lambda: (trace_length(dash_duo, "cpu-line") or 0) == before + 1, 10)
    dash_duo.wait_for_text_to_equal(by_id(ids.DASH_KPI, "cpu-kpi"), "99.5", timeout=10)
    dash_duo.wait_for_contains_text(by_id(ids.DASH_ROWS, "cpu-table"), "99.5", timeout=10)


def test_a_stale_save_offers_reload_or_a_copy(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    owner = make_user(with_data, "analyst")
    services = live_server.services
    dashboard_id = line_dashboard(services, owner)
    sign_in_as(dash_duo, sign_in, owner)
    open_dashboard(dash_duo, live_server, dashboard_id)
    for theirs in ("Ops (theirs)", "Ops (third)"):
        dash_duo.find_element(f"#{ids.DASH_EDIT}").click()
        add_widget(dash_duo, "pie")
        other = services.dashboards.get(actor(owner), dashboard_id).as_dict()
        services.dashboards.save(actor(owner), dashboard_id, {**other, "title": theirs})
        dash_duo.find_element(f"#{ids.DASH_SAVE}").click()
        dash_duo.wait_for_element(f"#{ids.DASH_CONFLICT} #{ids.DASH_RELOAD}", timeout=10)
        assert services.dashboards.get(actor(owner), dashboard_id).spec.title == theirs
        if theirs == "Ops (theirs)":  # take theirs: the page shows the saved version
            dash_duo.find_element(f"#{ids.DASH_RELOAD}").click()
            dash_duo.wait_for_text_to_equal(f"#{ids.DASH_TITLE}", theirs, timeout=10)
            assert not dash_duo.find_elements(".pulse-dash-pie")

    dash_duo.find_element(f"#{ids.DASH_CONFLICT_COPY}").click()  # keep mine, as a copy
    wait_until(lambda: dashboard_id not in dash_duo.driver.current_url, 10)
    dash_duo.wait_for_element(".pulse-dash-pie", timeout=15)
    copies = [
        d
        for d in services.dashboards.list_for(actor(owner))
        if d.dashboard_id != dashboard_id and d.owner is not None  # not the tenant's home
    ]
    assert [c.title for c in copies] == ["Ops (theirs)"]


def test_the_side_panel_previews_and_applies_and_undo_takes_it_back(
    dash_duo, live_server: LiveServer, with_data, make_user, sign_in
) -> None:
    owner = make_user(with_data, "analyst")
    dashboard_id = line_dashboard(live_server.services, owner)
    sign_in_as(dash_duo, sign_in, owner)
    open_dashboard(dash_duo, live_server, dashboard_id)
    dash_duo.find_element(f"#{ids.DASH_EDIT}").click()
    dash_duo.find_element(by_id(ids.DASH_CONFIGURE, "cpu-line")).click()
    dash_duo.wait_for_element(f"#{ids.DASH_PREVIEW} .js-plotly-plot", timeout=10)
    title = dash_duo.find_element(by_id(ids.DASH_FIELD, "title"))
    title.clear()
    title.send_keys("CPU, renamed")
    dash_duo.find_element(f"#{ids.DASH_PANEL_APPLY}").click()
    card = "#w-cpu-line .pulse-dash-head"
    dash_duo.wait_for_contains_text(card, "CPU, renamed", timeout=10)
    wait_until(lambda: not dash_duo.find_elements(".offcanvas.show"), 10)
    wait_until(lambda: not dash_duo.find_elements(".offcanvas-backdrop"), 10)
    dash_duo.find_element(f"#{ids.DASH_UNDO_BUTTON}").click()
    wait_until(lambda: "renamed" not in dash_duo.find_element(card).text, 10)
    assert dash_duo.find_element(card).text.startswith("CPU")
