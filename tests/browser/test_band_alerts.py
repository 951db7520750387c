"""A forecast_band rule made on /alerts in headless Chromium: the editor shows only its
parameters, the preview says what the week lacked, and the list shows its condition."""

from __future__ import annotations

import pytest
from selenium.webdriver.support.ui import Select

from components import ids
from tests.alerts_support import METRIC, rules_of
from tests.browser.conftest import by_id
from tests.browser.test_alerts import field, type_into
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser


def test_analyst_makes_a_forecast_band_rule(
    dash_duo, live_server: LiveServer, tenant, make_user, sign_in, screenshot
) -> None:
    sign_in(make_user(tenant, "analyst").username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_UNREAD}", timeout=10)
    dash_duo.driver.set_window_size(1280, 900)
    dash_duo.driver.get(live_server.url + "/alerts")
    dash_duo.wait_for_contains_text(f"#{ids.ALERTS_RULES}", "No alert rules yet", timeout=10)
    dash_duo.find_element(f"#{ids.ALERTS_NEW}").click()
    dash_duo.wait_for_element(by_id(ids.RULE_FIELD, "name"), timeout=5)
    Select(field(dash_duo, "kind")).select_by_value("forecast_band")
    row = dash_duo.find_element(by_id(ids.RULE_ROW, "threshold"))
    wait_until(lambda: "d-none" in row.get_attribute("class").split(), 5)
    assert field(dash_duo, "for_s").is_displayed()
    assert field(dash_duo, "clear_threshold").is_displayed()
    assert not field(dash_duo, "window_s").is_displayed()
    type_into(dash_duo, "name", "Odd CPU")
    type_into(dash_duo, "metric", METRIC)
    type_into(dash_duo, "for_s", "1800")
    dash_duo.find_element(f"#{ids.ALERTS_PREVIEW}").click()
    dash_duo.wait_for_contains_text(
        "#alerts-preview-summary", "No history of this metric", timeout=10
    )
    screenshot("alerts-band-editor-1280")
    dash_duo.find_element(f"#{ids.ALERTS_SAVE}").click()
    dash_duo.wait_for_contains_text(
        f"#{ids.ALERTS_RULES}", "outside its 95 % forecast band for 1800 s", timeout=10
    )
    (rule,) = rules_of(live_server.services).of_tenant(tenant)
    assert rule.kind == "forecast_band"
