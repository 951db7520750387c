"""/admin in headless Chromium at a phone's and a desktop's width: an admin changes a role,
creates a key (its secret shown once) and revokes it, and disables a user, whose session
ends at once; nothing scrolls sideways and every button is a 44 px touch target."""

from __future__ import annotations

import pytest
import requests
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from components import ids
from components.admin_keys import SECRET_WARNING
from components.admin_sources import error_id, field_id
from data.stores.accounts import User
from data.stores.sources import SourceStore
from tests.browser.conftest import by_id
from tests.browser.test_pages import set_width
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

WIDTHS = (375, 1280)


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def admin_page(request, dash_duo, live_server: LiveServer, tenant, make_user, sign_in) -> User:
    """A signed-in admin on /admin at the width of the test's parameter."""
    admin = make_user(tenant, "admin")
    sign_in(admin.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    set_width(dash_duo.driver, request.param)
    dash_duo.driver.get(live_server.url + "/admin")
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_USERS_LIST}", "(you)", timeout=15)
    yield admin
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def fits_the_screen(dash_duo) -> None:
    """No sideways scroll, and every visible button at least 44 px tall."""
    driver = dash_duo.driver
    assert driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth;"
    )
    small = driver.execute_script(
        """return Array.from(document.querySelectorAll('.pulse-admin .btn, .pulse-admin select'))
          .filter((el) => el.offsetParent !== null)
          .filter((el) => el.getBoundingClientRect().height < 44)
          .map((el) => el.outerHTML.slice(0, 80));"""
    )
    assert small == []


def open_tab(dash_duo, label: str) -> None:
    dash_duo.driver.find_element(By.LINK_TEXT, label).click()


def click(dash_duo, selector: str) -> None:
    """Click once the element takes clicks (a dialog's button while it fades in does not),
    found afresh each try: a list re-rendered meanwhile replaces its buttons."""
    dash_duo.wait_for_element(selector, timeout=10)
    refusals: list[str] = []

    def clicked() -> bool:
        try:
            element = dash_duo.driver.find_element(By.CSS_SELECTOR, selector)
            dash_duo.driver.execute_script(
                "arguments[0].scrollIntoView({block: 'center'});", element
            )
            element.click()
        except (ElementClickInterceptedException, StaleElementReferenceException) as exc:
            refusals.append(exc.msg or type(exc).__name__)
            return False
        return True

    try:
        wait_until(clicked, 10)
    except TimeoutError:
        raise AssertionError(f"{selector} never took the click: {refusals[-1:]}") from None


def session_of(live_server: LiveServer, user: User) -> requests.Session:
    http = requests.Session()
    resp = http.post(
        live_server.url + "/login",
        json={"username": user.username, "password": PASSWORD},
        timeout=10,
    )
    assert resp.status_code == 200
    return http


def test_an_admin_changes_a_role(
    dash_duo, live_server: LiveServer, tenant, make_user, admin_page: User
) -> None:
    viewer = make_user(tenant, "viewer")
    dash_duo.driver.refresh()
    role = by_id(ids.ADMIN_USER_ROLE, viewer.user_id)
    dash_duo.wait_for_element(role, timeout=15)
    fits_the_screen(dash_duo)
    Select(dash_duo.find_element(role)).select_by_value("analyst")
    dash_duo.wait_for_contains_text(
        f"#{ids.ADMIN_USERS_MESSAGE}", f"{viewer.username} is now analyst", timeout=10
    )
    wait_until(lambda: live_server.services.accounts.get_user(viewer.user_id).role == "analyst", 5)


def test_an_admin_creates_a_key_sees_its_secret_once_and_revokes_it(
    dash_duo, live_server: LiveServer, admin_page: User
) -> None:
    open_tab(dash_duo, "API keys")
    dash_duo.wait_for_element(f"#{ids.ADMIN_KEY_NAME}", timeout=10)
    fits_the_screen(dash_duo)
    click(dash_duo, f"#{ids.ADMIN_KEY_CREATE}")  # no name: the field says so
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_KEY_NAME_ERROR}", "at least 1", timeout=10)
    dash_duo.find_element(f"#{ids.ADMIN_KEY_NAME}").send_keys("collector")
    Select(dash_duo.find_element(f"#{ids.ADMIN_KEY_SCOPE}")).select_by_value("read")
    click(dash_duo, f"#{ids.ADMIN_KEY_CREATE}")
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_KEY_SECRET_PANEL}", SECRET_WARNING, timeout=10)
    secret = dash_duo.find_element(f"#{ids.ADMIN_KEY_SECRET}").get_attribute("value")
    assert secret.startswith("pk_")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(live_server.url + "/api/metrics", headers=bearer, timeout=10).ok
    fits_the_screen(dash_duo)
    key_id = secret.split("_")[1]
    click(dash_duo, by_id(ids.ADMIN_KEY_REVOKE, key_id))
    click(dash_duo, f"#{ids.ADMIN_KEY_CONFIRM_YES}")
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_KEYS_MESSAGE}", "is revoked", timeout=10)
    dash_duo.wait_for_contains_text(f"#key-{key_id}", "revoked", timeout=10)
    # shown once only: the panel fades out with the next action, and the secret with it
    wait_until(lambda: not dash_duo.driver.find_elements(By.ID, ids.ADMIN_KEY_SECRET), 5)
    assert secret not in dash_duo.driver.page_source
    assert live_server.services.accounts.verify_api_key(secret) is None


def test_an_admin_disables_a_user_whose_session_ends(
    dash_duo, live_server: LiveServer, tenant, make_user, admin_page: User
) -> None:
    analyst = make_user(tenant, "analyst")
    their_browser = session_of(live_server, analyst)
    assert their_browser.get(live_server.url + "/api/metrics", timeout=10).ok
    dash_duo.driver.refresh()
    toggle = by_id(ids.ADMIN_USER_TOGGLE, analyst.user_id)
    click(dash_duo, toggle)
    dash_duo.wait_for_contains_text(
        f"#{ids.ADMIN_USERS_MESSAGE}", "is disabled and signed out", timeout=10
    )
    dash_duo.wait_for_contains_text(f"#user-{analyst.user_id}", "disabled", timeout=10)
    assert their_browser.get(live_server.url + "/api/metrics", timeout=10).status_code == 401
    fits_the_screen(dash_duo)


def test_an_admin_cannot_act_on_their_own_row(dash_duo, admin_page: User) -> None:
    own = by_id(ids.ADMIN_USER_ROLE, admin_page.user_id)
    assert dash_duo.find_element(own).get_attribute("disabled") is not None
    assert not dash_duo.driver.find_elements(
        By.CSS_SELECTOR, by_id(ids.ADMIN_USER_TOGGLE, admin_page.user_id)
    )


def test_an_admin_adds_a_source_fixing_what_the_form_refuses_then_tests_it(
    dash_duo, live_server: LiveServer, tenant, admin_page: User
) -> None:
    open_tab(dash_duo, "Sources")
    click(dash_duo, f"#{ids.ADMIN_SOURCE_NEW}")
    name = dash_duo.wait_for_element(f"#{field_id('name')}", timeout=10)
    name.send_keys("demo feed")
    Select(dash_duo.find_element(f"#{field_id('kind')}")).select_by_value("demo")
    interval = dash_duo.find_element(f"#{field_id('interval_s')}")
    interval.clear()
    interval.send_keys("0")
    click(dash_duo, f"#{ids.ADMIN_SOURCE_SAVE}")
    dash_duo.wait_for_contains_text(f"#{error_id('interval_s')}", "interval_s", timeout=10)
    dash_duo.wait_for_contains_text(f"#{error_id('name')}", "A-Z a-z 0-9", timeout=10)
    fits_the_screen(dash_duo)
    name.clear()
    name.send_keys("demo-feed")
    interval.clear()
    interval.send_keys("30")
    click(dash_duo, f"#{ids.ADMIN_SOURCE_SAVE}")
    dash_duo.wait_for_contains_text(f"#{ids.ADMIN_SOURCES_LIST}", "demo-feed", timeout=10)
    (created,) = SourceStore(live_server.services.engine).of_tenant(tenant)
    click(dash_duo, by_id(ids.ADMIN_SOURCE_TEST, created.source_id))
    dash_duo.wait_for_contains_text(
        f"#{ids.ADMIN_SOURCE_TEST_RESULT}", "Nothing was stored", timeout=15
    )
    assert "Test of demo-feed:" in dash_duo.find_element(f"#{ids.ADMIN_SOURCE_TEST_RESULT}").text
    fits_the_screen(dash_duo)
