"""The /settings journey in headless Chromium at phone and desktop widths: switch to dark,
reload, and the page and the charts of /explore and a dashboard are dark; a time zone
moves the charts' axes; a refused field shows its own message. Screenshots of the page,
light and dark, go to docs/screens/ when PULSE_SCREENSHOTS=1 (a test run leaves the
checkout as it found it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from components import ids
from data.stores.profiles import Profiles
from tests.browser.conftest import point
from tests.browser.test_pages import every_widget_dashboard, set_width
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

METRIC, SOURCE = "cpu.usage", "web-1"
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
HOUR_MS = 3_600_000
DARK_FIGURE = """
const plot = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!plot || !plot._fullLayout) return null;
const full = plot._fullLayout;
return {template_bg: full.template && full.template.layout
          ? full.template.layout.paper_bgcolor : null,
        font: full.font.color,
        ours: Boolean(plot.layout.template && plot.layout.template.pulseDark)};
"""
NEWEST_X = """
const plot = document.querySelector(arguments[0] + ' .js-plotly-plot');
if (!plot || !plot.data || !plot.data[0] || !plot.data[0].x || !plot.data[0].x.length) return null;
const xs = Array.from(plot.data[0].x).map((x) => (typeof x === 'number' ? x : Date.parse(x + 'Z')));
return Math.max(...xs);
"""


@pytest.fixture
def analyst(
    dash_duo, live_server: LiveServer, tenant, make_user, ingest_key, ingest, stored, sign_in
):
    """An analyst of a tenant with a day of cpu.usage and a dashboard of every widget, signed
    in; (user, dashboard id)."""
    now = int(time.time() * 1000)
    points = [point(METRIC, SOURCE, 40.0 + i, now - 30_000 - i * HOUR_MS) for i in range(23)]
    ingest(ingest_key, points)
    stored(tenant, len(points), (METRIC, SOURCE), 40.0)
    user = make_user(tenant, "analyst")
    dashboard = every_widget_dashboard(live_server, user)
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    return user, dashboard


def theme_of(dash_duo) -> str | None:
    return dash_duo.driver.execute_script(
        "return document.documentElement.getAttribute('data-bs-theme');"
    )


def open_settings(dash_duo, live_server: LiveServer) -> None:
    dash_duo.driver.get(live_server.url + "/settings")
    dash_duo.wait_for_element(f"#{ids.SET_PREFS_SAVE}", timeout=15)


def click(dash_duo, element) -> None:  # type: ignore[no-untyped-def]
    """Scrolled into view and clicked (on phones the navbar may lie over it while scrolling)."""
    dash_duo.driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element
    )


def pick_theme(dash_duo, label: str) -> None:
    radios = dash_duo.find_element(f"#{ids.SET_THEME}")
    click(dash_duo, radios.find_element(By.XPATH, f".//label[normalize-space()='{label}']"))


def save_preferences(dash_duo, expected: str = "Preferences saved.") -> None:
    click(dash_duo, dash_duo.find_element(f"#{ids.SET_PREFS_SAVE}"))
    dash_duo.wait_for_contains_text(f"#{ids.SET_PREFS_STATUS}", expected, timeout=10)


def shoot(dash_duo, name: str) -> None:
    if os.environ.get("PULSE_SCREENSHOTS") != "1":
        return
    SCREENS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.3)  # the last repaint
    dash_duo.driver.save_screenshot(str(SCREENS / f"{name}.png"))


def dark_figure(dash_duo, selector: str) -> dict | None:
    found: dict = {}

    def drawn_dark() -> bool:
        found["figure"] = dash_duo.driver.execute_script(DARK_FIGURE, selector)
        return bool(found["figure"] and found["figure"]["ours"])

    wait_until(drawn_dark, 15)
    return found["figure"]


@pytest.mark.parametrize("width", [1280, 375])
def test_dark_theme_holds_after_reload_on_pages_and_charts(
    dash_duo, live_server: LiveServer, analyst, screenshot, width: int
) -> None:
    user, dashboard = analyst
    set_width(dash_duo.driver, width)
    open_settings(dash_duo, live_server)
    assert theme_of(dash_duo) == "light"
    shoot(dash_duo, f"settings-light-{width}")
    pick_theme(dash_duo, "Dark")
    save_preferences(dash_duo)
    assert theme_of(dash_duo) == "dark"  # at once, without a reload
    dash_duo.driver.refresh()
    assert theme_of(dash_duo) == "dark"  # written by the server: dark from the first paint
    dash_duo.wait_for_element(f"#{ids.SET_PREFS_SAVE}", timeout=15)
    shoot(dash_duo, f"settings-dark-{width}")
    dash_duo.driver.get(f"{live_server.url}/explore?metric={METRIC}&start=now-24h")
    figure = dark_figure(dash_duo, f"#{ids.EXPLORE_GRAPH}")
    assert figure == {"template_bg": "#212529", "font": "#dee2e6", "ours": True}
    screenshot(f"explore-dark-{width}")
    assert theme_of(dash_duo) == "dark"
    dash_duo.driver.get(f"{live_server.url}/dashboards/{dashboard}")
    figure = dark_figure(dash_duo, ".pulse-dash-line")
    assert figure is not None and figure["template_bg"] == "#212529"
    screenshot(f"dashboard-dark-{width}")
    dash_duo.driver.get(live_server.url + "/")
    wait_until(lambda: theme_of(dash_duo) == "dark", 5)


def test_system_theme_follows_the_browser(dash_duo, live_server: LiveServer, analyst) -> None:
    user, _ = analyst
    Profiles(live_server.services.engine).save_preferences(user, {"theme": "system"})
    for scheme in ("dark", "light"):
        dash_duo.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        open_settings(dash_duo, live_server)
        wait_until(lambda scheme=scheme: theme_of(dash_duo) == scheme, 5)
    dash_duo.driver.execute_cdp_cmd(  # and live, without a reload
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    wait_until(lambda: theme_of(dash_duo) == "dark", 5)
    dash_duo.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_time_zone_moves_chart_axes(dash_duo, live_server: LiveServer, analyst) -> None:
    user, dashboard = analyst
    Profiles(live_server.services.engine).save_preferences(user, {"timezone": "Asia/Tokyo"})
    now = int(time.time() * 1000)
    for path, selector in [
        (f"/explore?metric={METRIC}&start=now-24h", f"#{ids.EXPLORE_GRAPH}"),
        (f"/dashboards/{dashboard}", ".pulse-dash-line"),
    ]:
        dash_duo.driver.get(live_server.url + path)
        wait_until(lambda s=selector: dash_duo.driver.execute_script(NEWEST_X, s), 15)
        newest = dash_duo.driver.execute_script(NEWEST_X, selector)
        # the newest bucket is within the last hour or two; shown 9 h ahead of UTC
        assert 7 * HOUR_MS < newest - now <= 9 * HOUR_MS + 60_000, (path, newest - now)
    dash_duo.driver.get(f"{live_server.url}/explore?metric={METRIC}&start=now-24h")
    dash_duo.wait_for_contains_text(f"#{ids.EXPLORE_SUMMARY}", "Asia/Tokyo", timeout=15)


def test_default_range_starts_explore(dash_duo, live_server: LiveServer, analyst) -> None:
    user, _ = analyst
    Profiles(live_server.services.engine).save_preferences(user, {"default_range": "now-7d"})
    dash_duo.driver.get(f"{live_server.url}/explore?metric={METRIC}")
    dash_duo.wait_for_element(f"#{ids.EXPLORE_RANGE}", timeout=15)
    assert dash_duo.find_element(f"#{ids.EXPLORE_RANGE}").get_attribute("value") == "7d"
    dash_duo.driver.get(f"{live_server.url}/explore?metric={METRIC}&start=now-1h&end=now")
    wait_until(  # a range in the address wins
        lambda: dash_duo.find_element(f"#{ids.EXPLORE_RANGE}").get_attribute("value") == "1h", 15
    )


def test_a_refused_field_shows_its_own_message(dash_duo, live_server: LiveServer, analyst) -> None:
    set_width(dash_duo.driver, 375)
    open_settings(dash_duo, live_server)
    email = dash_duo.find_element(f"#{ids.SET_EMAIL}")
    email.clear()
    email.send_keys("not-an-address")
    click(dash_duo, dash_duo.find_element(f"#{ids.SET_EMAIL_SAVE}"))
    dash_duo.wait_for_contains_text(f"#{ids.SET_EMAIL_STATUS}", "Not saved", timeout=10)
    slot = '[id=\'{"index":"profile-email","type":"' + ids.SET_FEEDBACK + "\"}']"
    dash_duo.wait_for_contains_text(slot, "match pattern", timeout=5)
    dash_duo.find_element(f"#{ids.SET_CURRENT}").send_keys("wrong-password")
    dash_duo.find_element(f"#{ids.SET_NEW}").send_keys("a-new-passphrase")
    click(dash_duo, dash_duo.find_element(f"#{ids.SET_PASSWORD_SAVE}"))
    slot = '[id=\'{"index":"password-current","type":"' + ids.SET_FEEDBACK + "\"}']"
    dash_duo.wait_for_contains_text(slot, "not your current password", timeout=10)


def test_an_admin_sets_the_organisation_default_theme(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in
) -> None:
    admin, viewer = make_user(tenant, "admin"), make_user(tenant, "viewer")
    sign_in(admin.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    open_settings(dash_duo, live_server)
    radios = dash_duo.find_element(f"#{ids.SET_ORG_THEME}")
    click(dash_duo, radios.find_element(By.XPATH, ".//label[normalize-space()='Dark']"))
    click(dash_duo, dash_duo.find_element(f"#{ids.SET_ORG_SAVE}"))
    dash_duo.wait_for_contains_text(f"#{ids.SET_ORG_STATUS}", "saved", timeout=10)
    wait_until(lambda: theme_of(dash_duo) == "dark", 5)  # the admin chose none of their own
    profiles = Profiles(live_server.services.engine)
    assert profiles.resolved(viewer)["theme"] == "dark"
