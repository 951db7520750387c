"""E-mail verification after sign-up (CONTRACT.md §8) against a real SMTP server
(aiosmtpd): with a server configured a new organisation's admin is unverified, may not
invite nor make keys, until the link that arrives by mail is opened; without one the
account counts as verified at once."""

from __future__ import annotations

import re
import uuid
from typing import Any

from app.services import Services
from data.stores.accounts import User
from tests.conftest import PASSWORD, FakeClock, signed_in, with_settings
from tests.integration.test_alerts import Mailbox
from tests.integration.test_invites import actions, browser, mailing, mails_to, smtp

__all__ = ["mailing", "smtp"]  # fixtures this module uses

LINK = re.compile(r"https?://\S+/verify/([A-Za-z0-9_-]+)")


def verify_token(box: Mailbox, address: str, count: int = 1) -> str:
    message = mails_to(box, address, count)[-1]
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def sign_up(server: Any, email: str) -> tuple[Any, dict[str, Any]]:
    """A new organisation through the API: its admin's client and the sign-up's answer."""
    client = browser(server)
    body = {
        "organisation": f"Verify {uuid.uuid4().hex[:8]}",
        "username": f"v{uuid.uuid4().hex[:8]}",
        "email": email,
        "password": PASSWORD,
    }
    resp = client.post("/api/signup", json=body)
    assert resp.status_code == 201, resp.get_json()
    return client, resp.get_json()["user"]


def grows(client: Any) -> tuple[int, int]:
    """The statuses of inviting someone and of making an API key."""
    invited = client.post("/api/invites", json={"email": "next@example.com", "role": "viewer"})
    key = client.post("/api/keys", json={"name": "ingest", "scope": "ingest"})
    return invited.status_code, key.status_code


def test_signup_with_smtp_is_unverified_until_the_link_is_opened(
    mailing: Any, smtp: tuple[Mailbox, int], services: Services
) -> None:
    email = f"boss-{uuid.uuid4().hex[:8]}@example.com"
    client, user = sign_up(mailing, email)
    assert client.get("/api/me").get_json()["email_verified"] is False
    refused = client.post("/api/invites", json={"email": "x@example.com", "role": "viewer"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "email_unverified"
    assert "confirm your e-mail" in refused.get_json()["error"]["message"]
    assert grows(client) == (403, 403)
    assert "verify-banner" in client.get("/_dash-layout").get_data(as_text=True)

    token = verify_token(smtp[0], email)
    opened = browser(mailing).get(f"/verify/{token}")  # signed out: the link is the proof
    assert opened.status_code == 200 and "verify-done" in opened.get_data(as_text=True)
    assert client.get("/api/me").get_json()["email_verified"] is True
    assert grows(client) == (201, 201)
    assert "verify-banner" not in client.get("/_dash-layout").get_data(as_text=True)
    assert "user.email_verified" in actions(services, user["tenant"])
    again = browser(mailing).get(f"/verify/{token}")
    assert again.status_code == 404 and "verify-dead" in again.get_data(as_text=True)


def test_an_expired_link_is_refused(
    mailing: Any, smtp: tuple[Mailbox, int], clock: FakeClock
) -> None:
    email = f"late-{uuid.uuid4().hex[:8]}@example.com"
    client, _ = sign_up(mailing, email)
    token = verify_token(smtp[0], email)
    clock.advance(24 * 3600 + 1)
    assert browser(mailing).get(f"/verify/{token}").status_code == 404
    assert client.get("/api/me").get_json()["email_verified"] is False


def test_without_smtp_a_signup_is_verified_at_once(services: Services) -> None:
    from app.web.factory import create_app

    server = create_app(services=with_settings(services, signup_enabled=True)).server
    client, _ = sign_up(server, f"no-smtp-{uuid.uuid4().hex[:8]}@example.com")
    assert client.get("/api/me").get_json()["email_verified"] is True
    assert grows(client) == (201, 201)
    assert "verify-banner" not in client.get("/_dash-layout").get_data(as_text=True)


def test_a_new_address_is_unverified_until_its_link_is_opened(
    mailing: Any,
    smtp: tuple[Mailbox, int],
    tenant: str,
    make_user: Any,
    clock: FakeClock,
) -> None:
    admin: User = make_user(tenant, "admin")  # made by an operator: verified
    client = signed_in(mailing, admin)
    assert client.get("/api/me").get_json()["email_verified"] is True
    assert client.post("/api/me/verification").status_code == 409  # nothing to prove
    assert not [m for m in smtp[0].messages if m["To"] == admin.email]  # nothing mailed
    new = f"moved-{uuid.uuid4().hex[:8]}@example.com"
    changed = client.put("/api/me", json={"email": new})
    assert changed.status_code == 200 and changed.get_json()["email_verified"] is False
    assert grows(client)[0] == 403
    first = verify_token(smtp[0], new)

    soon = client.post("/api/me/verification")  # at most one link a minute
    assert soon.status_code == 429 and soon.get_json()["error"]["code"] == "too_many_attempts"
    clock.advance(61)
    resent = client.post("/api/me/verification")
    assert resent.status_code == 202 and resent.get_json() == {"email": new}
    second = verify_token(smtp[0], new, count=2)
    assert second != first
    assert browser(mailing).get(f"/verify/{second}").status_code == 200
    assert client.get("/api/me").get_json()["email_verified"] is True


def test_a_link_to_a_former_address_proves_nothing(
    mailing: Any, smtp: tuple[Mailbox, int], tenant: str, make_user: Any
) -> None:
    user: User = make_user(tenant, "viewer")
    client = signed_in(mailing, user)
    first = f"first-{uuid.uuid4().hex[:8]}@example.com"
    client.put("/api/me", json={"email": first})
    token = verify_token(smtp[0], first)
    client.put("/api/me", json={"email": f"second-{uuid.uuid4().hex[:8]}@example.com"})
    assert browser(mailing).get(f"/verify/{token}").status_code == 404
    assert client.get("/api/me").get_json()["email_verified"] is False


def test_the_banners_form_sends_the_link_again(
    mailing: Any, smtp: tuple[Mailbox, int], clock: FakeClock
) -> None:
    email = f"again-{uuid.uuid4().hex[:8]}@example.com"
    client, _ = sign_up(mailing, email)
    verify_token(smtp[0], email)
    clock.advance(61)
    sent = client.post("/verify-again", headers={"Origin": "http://localhost"})
    assert sent.status_code == 200 and email in sent.get_data(as_text=True)
    verify_token(smtp[0], email, count=2)
    assert browser(mailing).post("/verify-again").status_code in (302, 401, 403)


def test_an_invited_user_is_verified_by_accepting(
    mailing: Any, tenant: str, make_user: Any
) -> None:
    """The invitation reached their address: accepting it proves it."""
    admin = signed_in(mailing, make_user(tenant, "admin"))
    email = f"joiner-{uuid.uuid4().hex[:8]}@example.com"
    made = admin.post("/api/invites", json={"email": email, "role": "viewer"}).get_json()
    token = made["url"].rsplit("/", 1)[1]
    joiner = browser(mailing)
    body = {"username": f"j{uuid.uuid4().hex[:8]}", "password": PASSWORD}
    assert joiner.post(f"/api/invites/{token}/accept", json=body).status_code == 201
    assert joiner.get("/api/me").get_json()["email_verified"] is True
