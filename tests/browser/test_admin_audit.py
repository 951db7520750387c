"""The audit tab (/admin/audit) in headless Chromium at 1280 and 375 px: an admin sees the
tenant's events newest first, filters them by action and actor, loads the next page, gets
an export link of the filter, and nothing is wider than the screen; an analyst is refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from selenium.webdriver.support.ui import Select

from components import ids
from components.admin_audit import PAGE_SIZE
from data.stores.audit import record_audit
from tests.browser.pagecheck import PageWatch
from tests.browser.test_pages import OVERFLOW, set_width
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

EVENT = ".pulse-audit-event"


def seed(live_server: LiveServer, tenant: str, n: int) -> None:
    """n rule events, the last with long details that must wrap on a phone."""
    for i in range(n):
        details = {"n": i, "changed": ["threshold", "for_s"] * (20 if i == n - 1 else 1)}
        with live_server.services.engine.begin() as conn:
            record_audit(conn, tenant, None, "alert.update", f"rule-{i}", details)


def events_shown(dash_duo) -> int:
    return len(dash_duo.find_elements(EVENT))


@pytest.mark.parametrize("width", (1280, 375))
def test_an_admin_filters_pages_and_exports_the_audit_log(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in, screenshot, width: int
) -> None:
    """(saved under /tmp/pulse-shots)"""
    admin = make_user(tenant, "admin")
    seed(live_server, tenant, PAGE_SIZE + 5)
    sign_in(admin.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    set_width(dash_duo.driver, width)
    watch = PageWatch(dash_duo.driver)
    watch.reset()
    dash_duo.driver.get(live_server.url + "/admin/audit")
    dash_duo.wait_for_contains_text(f"#{ids.AUDIT_LIST}", "auth.sign_in", timeout=15)

    Select(dash_duo.find_element(f"#{ids.AUDIT_ACTION}")).select_by_value("alert.")
    dash_duo.wait_for_contains_text(f"#{ids.AUDIT_LIST}", f"rule-{PAGE_SIZE + 4}", timeout=15)
    wait_until(lambda: events_shown(dash_duo) == PAGE_SIZE, 10)
    assert "auth.sign_in" not in dash_duo.find_element(f"#{ids.AUDIT_LIST}").text
    assert dash_duo.driver.execute_script(OVERFLOW) == [], "wider than the screen"
    screenshot(f"admin-audit-{width}")

    more = dash_duo.find_element(f"#{ids.AUDIT_MORE}")
    # the shell's `html, body { overflow-x: hidden }` makes body the scrolling box, which
    # Selenium's own scrolling misses: the click is the page's own
    dash_duo.driver.execute_script("arguments[0].click();", more)
    wait_until(lambda: events_shown(dash_duo) == PAGE_SIZE + 5, 10)
    assert "rule-0" in dash_duo.find_elements(EVENT)[-1].text
    wait_until(lambda: "d-none" in more.get_attribute("class"), 10)  # nothing more to load

    href = dash_duo.find_element(f"#{ids.AUDIT_EXPORT}").get_attribute("href")
    assert parse_qs(urlsplit(href).query)["action"] == ["alert."]
    cookies = {c["name"]: c["value"] for c in dash_duo.driver.get_cookies()}
    exported = requests.get(href, cookies=cookies, timeout=10)
    assert exported.status_code == 200
    assert len(exported.text.strip().splitlines()) == PAGE_SIZE + 5 + 1  # and the header

    dash_duo.find_element(f"#{ids.AUDIT_ACTOR}").send_keys(admin.username + "\n")
    dash_duo.wait_for_contains_text(f"#{ids.AUDIT_LIST}", "No events", timeout=10)
    watch.settle()
    assert watch.problems() == []


def test_an_analyst_gets_the_not_found_page(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in
) -> None:
    analyst = make_user(tenant, "analyst")
    sign_in(analyst.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    dash_duo.driver.get(live_server.url + "/admin/audit")
    dash_duo.wait_for_contains_text(f"#{ids.PAGE} h1", "Page not found", timeout=15)
    assert dash_duo.find_elements(f"#{ids.AUDIT_LIST}") == []
