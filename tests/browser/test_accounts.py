"""Browser journeys of the public account pages at phone and desktop widths: sign up,
accept an invitation, reset a password — each ends signed in (or able to), with no
console error and no failed request on the way."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from components import ids
from data.domain.account_forms import InviteForm
from data.stores.invites import Invites
from data.stores.password_resets import PasswordResets
from tests.browser.pagecheck import PageWatch
from tests.browser.test_pages import OVERFLOW, set_width, unverified
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser
WIDTHS = (375, 1280)


def fill(dash_duo: Any, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = dash_duo.find_element(f"#{name}")
        field.clear()
        field.send_keys(value)


def nav_user(dash_duo: Any) -> str:
    """The navbar's "user · role · tenant" (read as text content: on a phone the navbar is
    collapsed, and a hidden element shows no text)."""
    return str(dash_duo.find_element(f"#{ids.NAV_USER}").get_attribute("textContent"))


def signed_in_as(dash_duo: Any, username: str) -> None:
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=15)
    wait_until(lambda: username in nav_user(dash_duo), 15)


def clean(watch: PageWatch) -> list[str]:
    """The problems of the page shown, once it settled; forgotten by the watch afterwards
    (the next page starts afresh: leaving mid-load would leave a request unfinished)."""
    watch.settle()
    found = watch.problems()
    watch.requests.clear()
    watch.console.clear()
    return found


def start(dash_duo: Any, live_server: LiveServer, width: int) -> PageWatch:
    """The sign-in page at `width` (a mobile viewport applies to a loaded page), watched."""
    watch = PageWatch(dash_duo.driver)
    dash_duo.driver.get(live_server.url + "/login")
    set_width(dash_duo.driver, width)
    watch.reset()  # what the first load left in flight is forgotten
    dash_duo.driver.get(live_server.url + "/login")
    dash_duo.wait_for_element("#login-submit")
    return watch


def new_name() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("width", WIDTHS)
def test_sign_up_shows_field_errors_then_signs_in(
    dash_duo: Any, live_server: LiveServer, signup_on: None, width: int
) -> None:
    watch = start(dash_duo, live_server, width)
    found = clean(watch)
    dash_duo.wait_for_element("#login-signup").click()
    dash_duo.wait_for_element("#signup-form-submit")
    username = new_name()
    org = f"Browser Org {uuid.uuid4().hex[:6]}"
    fill(dash_duo, {"organisation": org, "username": username, "email": "b@example.com"})
    fill(dash_duo, {"password": "short"})
    dash_duo.find_element("#signup-form-submit").click()
    dash_duo.wait_for_contains_text("#password-error", "at least 8", timeout=10)
    found += clean(watch)
    assert dash_duo.find_element("#organisation").get_attribute("value") == org
    fill(dash_duo, {"password": PASSWORD})
    dash_duo.find_element("#signup-form-submit").click()
    signed_in_as(dash_duo, username)
    assert " · admin · " in nav_user(dash_duo)
    found += clean(watch)
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found == []


@pytest.mark.parametrize("width", WIDTHS)
def test_accepting_an_invitation_signs_in(
    dash_duo: Any, live_server: LiveServer, tenant: str, width: int
) -> None:
    svc = live_server.services
    invites = Invites(svc.engine, svc.settings.invite_ttl_s, svc.clock)
    _, token = invites.create(tenant, InviteForm(email="joiner@example.com", role="analyst"), None)
    watch = start(dash_duo, live_server, width)
    clean(watch)
    dash_duo.driver.get(f"{live_server.url}/invite/{token}")
    dash_duo.wait_for_contains_text("#invite-page", "as analyst", timeout=10)
    found = clean(watch)
    username = new_name()
    fill(dash_duo, {"username": username, "password": PASSWORD})
    dash_duo.find_element("#invite-form-submit").click()
    signed_in_as(dash_duo, username)
    assert f" · analyst · {tenant}" in nav_user(dash_duo)
    found += clean(watch)
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found == []


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reset_link_sets_the_password(
    dash_duo: Any, live_server: LiveServer, tenant: str, make_user: Any, sign_in: Any, width: int
) -> None:
    user = make_user(tenant, "viewer")
    token = PasswordResets(live_server.services.engine).issue_for(tenant, user.username)
    watch = start(dash_duo, live_server, width)
    found = clean(watch)
    dash_duo.wait_for_element("#login-forgot").click()
    dash_duo.wait_for_element("#forgot-form-submit")
    fill(dash_duo, {"email": user.email})
    dash_duo.find_element("#forgot-form-submit").click()
    dash_duo.wait_for_contains_text("#forgot-sent", "on its way", timeout=10)
    found += clean(watch)
    dash_duo.driver.get(f"{live_server.url}/reset/{token}")
    dash_duo.wait_for_element("#reset-form-submit")
    found += clean(watch)
    fill(dash_duo, {"password": "chosen-in-the-browser"})
    dash_duo.find_element("#reset-form-submit").click()
    dash_duo.wait_for_contains_text("#reset-done", "password is changed", timeout=10)
    found += clean(watch)
    sign_in(user.username, "chosen-in-the-browser")
    signed_in_as(dash_duo, user.username)
    found += clean(watch)
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found == []


@pytest.mark.parametrize("width", WIDTHS)
def test_an_admin_invites_copies_the_link_and_revokes(
    dash_duo: Any, live_server: LiveServer, tenant: str, make_user: Any, sign_in: Any, width: int
) -> None:
    admin = make_user(tenant, "admin")
    watch = start(dash_duo, live_server, width)
    clean(watch)
    sign_in(admin.username, PASSWORD)
    signed_in_as(dash_duo, admin.username)
    dash_duo.driver.get(live_server.url + "/admin/invitations")
    dash_duo.wait_for_contains_text(f"#{ids.INVITES_SMTP}", "no SMTP server", timeout=15)
    email = f"{new_name()}@example.com"
    dash_duo.find_element(f"#{ids.INVITES_EMAIL}").send_keys(email)
    dash_duo.find_element(f"#{ids.INVITES_SEND}").click()
    wait_until(
        lambda: (
            "/invite/" in str(dash_duo.find_element(f"#{ids.INVITES_LINK}").get_attribute("value"))
        ),
        15,
    )
    dash_duo.wait_for_contains_text(f"#{ids.INVITES_LIST}", email, timeout=15)
    dash_duo.find_element(f"#{ids.INVITES_LIST} .btn-outline-danger").click()
    dash_duo.wait_for_contains_text(f"#{ids.INVITES_LIST}", "No pending invitations", timeout=15)
    found = clean(watch)
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found == []


def test_an_unverified_user_sees_the_banner_until_the_link_is_opened(
    dash_duo: Any, live_server: LiveServer, tenant: str, make_user: Any, sign_in: Any
) -> None:
    """At phone width: the banner names the address and offers to send the link again,
    fits the screen, and is gone once the link is opened."""
    user = make_user(tenant, "admin")
    token = unverified(live_server.services, user)
    watch = start(dash_duo, live_server, 375)
    found = clean(watch)
    sign_in(user.username, PASSWORD)
    signed_in_as(dash_duo, user.username)
    dash_duo.wait_for_contains_text("#verify-banner", f"we sent a link to {user.email}", 10)
    assert dash_duo.find_element("#verify-again").is_displayed()
    found += clean(watch)
    found += dash_duo.driver.execute_script(OVERFLOW)
    dash_duo.driver.get(live_server.url + "/settings")
    dash_duo.wait_for_contains_text(f"#{ids.PAGE}", "Not confirmed yet", timeout=15)
    found += clean(watch)
    dash_duo.driver.get(f"{live_server.url}/verify/{token}")
    dash_duo.wait_for_contains_text("#verify-done", "is confirmed", timeout=10)
    found += clean(watch)
    dash_duo.driver.get(live_server.url + "/settings")
    signed_in_as(dash_duo, user.username)
    dash_duo.wait_for_element(f"#{ids.SET_EMAIL}", timeout=15)
    found += clean(watch)
    assert not dash_duo.driver.find_elements("css selector", "#verify-banner")
    assert "Not confirmed yet" not in dash_duo.find_element(f"#{ids.PAGE}").text
    dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found == []
