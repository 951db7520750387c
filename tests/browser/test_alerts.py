"""Alerts in headless Chromium: a breach pushes a toast and raises the navbar badge, the
notification centre lists it and marks it read; /alerts edits rules (viewers only read)."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from components import ids
from tests.alerts_support import HOT_NOW, METRIC, SOURCE, create_rule, rules_of
from tests.browser.conftest import by_id, point
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

PUSH_WAIT_S = 15  # generous: a behaviour test, not a latency one (bench/alert_latency.py is)


def badge(dash_duo) -> str:
    return dash_duo.find_element(f"#{ids.NAV_UNREAD}").text


def no_horizontal_scroll(dash_duo) -> bool:
    return dash_duo.driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"
    )


def on_a_phone(dash_duo, screenshot, name: str) -> None:
    """At a phone's width, take screenshot `name` and check that nothing scrolls sideways."""
    dash_duo.driver.set_window_size(375, 800)
    time.sleep(0.5)  # let the page settle at its new width before it is captured
    screenshot(name)
    assert no_horizontal_scroll(dash_duo)


def shell_socket_open(dash_duo) -> None:
    """Wait until the shell's notification socket is open (assets/notify.js says so)."""
    wait_until(lambda: dash_duo.driver.execute_script("return window.__pulseShellOpen;"), 10)


@pytest.fixture
def analyst(dash_duo, live_server: LiveServer, tenant, make_user, sign_in):
    user = make_user(tenant, "analyst")
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_UNREAD}", timeout=10)
    return user


def test_breach_toasts_raises_badge_and_is_listed_then_read(
    dash_duo, live_server: LiveServer, tenant, analyst, ingest_key, ingest, screenshot
) -> None:
    create_rule(live_server.services, tenant, **HOT_NOW)
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_UNREAD}", "", timeout=10)
    shell_socket_open(dash_duo)

    ingest(ingest_key, [point(METRIC, SOURCE, 95.5)])

    dash_duo.wait_for_contains_text(f"#{ids.TOAST}", "CPU hot", timeout=PUSH_WAIT_S)
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_UNREAD}", "1", timeout=PUSH_WAIT_S)
    link = dash_duo.find_element(f"#{ids.TOAST_LINK}").get_attribute("href")
    assert "/explore?metric=cpu.usage&source=web-1&start=" in link
    dash_duo.driver.set_window_size(1280, 900)
    screenshot("alerts-toast-1280")

    dash_duo.find_element(".pulse-bell").click()
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_LIST}", "CPU hot", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_SUMMARY}", "1 unread", timeout=10)
    screenshot("notifications-1280")
    on_a_phone(dash_duo, screenshot, "notifications-375")
    dash_duo.driver.set_window_size(1280, 900)

    dash_duo.find_element(f"#{ids.NOTIFS_LIST} button").click()  # its "Mark read"
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_UNREAD}", "", timeout=10)
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_SUMMARY}", "0 unread", timeout=10)
    services = live_server.services
    from data.stores.incidents import Incidents

    assert Incidents(services.engine).unread(tenant, analyst.user_id) == 0
    buttons = dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.NOTIFS_LIST} button")
    assert [b.text for b in buttons] == ["Acknowledge"]
    buttons[0].click()
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_LIST}", "acknowledged", timeout=10)


def field(dash_duo, name: str):
    return dash_duo.find_element(by_id(ids.RULE_FIELD, name))


def type_into(dash_duo, name: str, text: str) -> None:
    element = field(dash_duo, name)
    element.clear()
    element.send_keys(text)


def test_analyst_creates_previews_and_is_alerted_by_a_rule(
    dash_duo, live_server: LiveServer, tenant, analyst, ingest_key, ingest, stored, screenshot
) -> None:
    now = int(time.time() * 1000)
    steps = ((40, 50), (30, 91), (20, 55))  # minutes ago, value: one breach
    history = [point(METRIC, SOURCE, v, now - m * 60_000) for m, v in steps]
    ingest(ingest_key, history)
    stored(tenant, 3, (METRIC, SOURCE), 55)
    dash_duo.driver.set_window_size(1280, 900)
    dash_duo.driver.get(live_server.url + "/alerts")
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_RULES}", "No alert rules yet", timeout=10)
    dash_duo.find_element(f"#{ids.ALERTS_NEW}").click()
    dash_duo.wait_for_element(by_id(ids.RULE_FIELD, "name"), timeout=5)
    type_into(dash_duo, "name", "CPU hot")
    type_into(dash_duo, "metric", METRIC)
    type_into(dash_duo, "threshold", "lots")
    dash_duo.find_element(f"#{ids.ALERTS_SAVE}").click()
    dash_duo.wait_for_contains_text(by_id(ids.RULE_ERROR, "threshold"), "number", timeout=5)
    assert "is-invalid" in field(dash_duo, "threshold").get_attribute("class")

    type_into(dash_duo, "threshold", "80")
    dash_duo.find_element(f"#{ids.ALERTS_PREVIEW}").click()
    dash_duo.wait_for_contains_text(
        "#alerts-preview-summary", "would have fired 1 time", timeout=10
    )
    screenshot("alerts-editor-1280")
    dash_duo.find_element(f"#{ids.ALERTS_SAVE}").click()
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_RULES}", "CPU hot", timeout=10)
    assert len(rules_of(live_server.services).of_tenant(tenant)) == 1
    shell_socket_open(dash_duo)

    ingest(ingest_key, [point(METRIC, SOURCE, 97.0)])
    dash_duo.wait_for_contains_text(f"#{ids.TOAST}", "CPU hot", timeout=PUSH_WAIT_S)
    dash_duo.wait_for_text_to_equal(f"#{ids.NAV_UNREAD}", "1", timeout=PUSH_WAIT_S)
    dash_duo.driver.get(live_server.url + "/alerts")
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_INCIDENTS}", "firing", timeout=10)
    screenshot("alerts-1280")
    on_a_phone(dash_duo, screenshot, "alerts-375")


def test_viewer_sees_alerts_read_only(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in, screenshot
) -> None:
    rules_of(live_server.services).create(
        tenant, {"name": "Disk full", "metric": "disk.used", "kind": "threshold", "threshold": 90}
    )
    viewer = make_user(tenant, "viewer")
    sign_in(viewer.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_UNREAD}", timeout=10)
    dash_duo.driver.get(live_server.url + "/alerts")
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_RULES}", "Disk full", timeout=10)
    assert "d-none" in dash_duo.find_element(f"#{ids.ALERTS_NEW}").get_attribute("class")
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.ALERTS_RULES} button") == []
    on_a_phone(dash_duo, screenshot, "alerts-viewer-375")


def test_open_notification_centre_lists_a_pushed_notification_without_reload(
    dash_duo, live_server: LiveServer, tenant, analyst, ingest_key, ingest
) -> None:
    """The page's own store of the last push reloads the list; other pages have no such store."""
    create_rule(live_server.services, tenant, **HOT_NOW)
    dash_duo.find_element(".pulse-bell").click()
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_SUMMARY}", "0 unread", timeout=10)
    shell_socket_open(dash_duo)
    dash_duo.driver.execute_script("window.__notRefreshed = true;")  # gone on a page reload

    ingest(ingest_key, [point(METRIC, SOURCE, 95.5)])

    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_LIST}", "CPU hot", timeout=PUSH_WAIT_S)
    dash_duo.wait_for_contains_text(f"#{ids.NOTIFS_SUMMARY}", "1 unread", timeout=PUSH_WAIT_S)
    assert dash_duo.driver.execute_script("return window.__notRefreshed;") is True
