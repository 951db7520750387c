"""The Embed dialog in headless Chromium: an analyst opens it on a dashboard, creates a
token for one hour, gets an `<iframe>` snippet whose URL opens the embed, and revokes it,
after which the embed page says so; a viewer sees no Embed button."""

from __future__ import annotations

import re

import pytest
import requests
from selenium.webdriver.support.ui import Select

from components import ids
from tests.browser.test_dashboards import line_dashboard, open_dashboard, sign_in_as
from tests.conftest import LiveServer, wait_until

pytestmark = pytest.mark.browser


def test_analyst_creates_an_embed_and_revokes_it(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in, screenshot
) -> None:
    user = make_user(tenant, "analyst")
    dashboard_id = line_dashboard(live_server.services, user, shared=True)
    dash_duo.driver.set_window_size(375, 812)  # a phone: the dialog must work there too
    sign_in_as(dash_duo, sign_in, user)
    open_dashboard(dash_duo, live_server, dashboard_id)
    dash_duo.wait_for_element(f"#{ids.DASH_EMBED_OPEN}", timeout=10).click()
    dash_duo.wait_for_contains_text(f"#{ids.DASH_EMBED_HEADING}", "Embed this dashboard", 10)
    dash_duo.wait_for_contains_text(f"#{ids.DASH_EMBED_LIST}", "No live embed links", 10)
    Select(dash_duo.find_element(f"#{ids.DASH_EMBED_TTL}")).select_by_visible_text("1 hour")
    dash_duo.find_element(f"#{ids.DASH_EMBED_CREATE}").click()
    snippet = dash_duo.find_element(f"#{ids.DASH_EMBED_SNIPPET}")
    wait_until(lambda: "/embed/" in (snippet.get_attribute("value") or ""), 10)
    screenshot("dashboard-embed-created")
    url = re.search(r'src="([^"]+)"', snippet.get_attribute("value") or "")
    assert url and url.group(1).startswith(live_server.url + "/embed/"), url
    assert requests.get(url.group(1), timeout=10).status_code == 200
    dash_duo.wait_for_contains_text(f"#{ids.DASH_EMBED_EXPIRY}", "Expires", 10)
    dash_duo.wait_for_contains_text(f"#{ids.DASH_EMBED_LIST}", "whole dashboard", 10)

    revoke = dash_duo.find_element(f"#{ids.DASH_EMBED_LIST} button")
    for button in (revoke, dash_duo.find_element(f"#{ids.DASH_EMBED_CREATE}")):
        assert min(button.size["width"], button.size["height"]) >= 44, button.size
    revoke.click()
    dash_duo.wait_for_contains_text(f"#{ids.DASH_EMBED_LIST}", "No live embed links", 10)
    revoked = requests.get(url.group(1), timeout=10)
    assert "This embed was revoked." in revoked.text, revoked.text[:300]
    assert dash_duo.get_logs() == []


def test_a_viewer_sees_no_embed_button(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in
) -> None:
    owner = make_user(tenant, "analyst")
    dashboard_id = line_dashboard(live_server.services, owner, shared=True)
    sign_in_as(dash_duo, sign_in, make_user(tenant, "viewer"))
    open_dashboard(dash_duo, live_server, dashboard_id)
    assert not dash_duo.find_element(f"#{ids.DASH_EMBED_OPEN}").is_displayed()
    assert dash_duo.find_elements(".pulse-dash-widget")
    assert not dash_duo.find_elements(f"[id*='{ids.DASH_EMBED_WIDGET}']")
    assert dash_duo.get_logs() == []
