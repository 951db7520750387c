"""Invitations, password resets and sign-up (CONTRACT.md §8) against a real SMTP server
(aiosmtpd): the links that arrive by mail are the ones followed."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.services import Services
from data.stores.accounts import User
from data.stores.schema_accounts import audit_log
from tests.conftest import PASSWORD, FakeClock, free_port, signed_in, with_settings
from tests.integration.test_alerts import Mailbox
from tests.integration.test_cli import run_cli

__all__ = ["run_cli"]  # a fixture this module uses

LINK = re.compile(r"https?://\S+/(invite|reset)/([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def mailing(services: Services, smtp: tuple[Mailbox, int]) -> Any:
    """The web role with an SMTP server and sign-up on."""
    from app.web.factory import create_app

    svc = with_settings(services, smtp_host="127.0.0.1", smtp_port=smtp[1], signup_enabled=True)
    return create_app(services=svc).server


def browser(server: Any) -> Any:
    """A test client of its own address (throttles of other tests never reach it)."""
    client = server.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    return client


def mails_to(box: Mailbox, address: str, count: int = 1, timeout: float = 10.0) -> list[Message]:
    """The messages to `address`, once there are `count` (resets are mailed in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in box.messages if m["To"] == address]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} mail(s) to {address}")


def mail_to(box: Mailbox, address: str) -> Message:
    return mails_to(box, address)[-1]


def token_in(message: Message) -> str:
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    found = LINK.search(body)
    assert found, body
    return found.group(2)


def sign_in(server: Any, username: str, password: str) -> int:
    resp = browser(server).post("/login", json={"username": username, "password": password})
    return int(resp.status_code)


def actions(services: Services, tenant: str) -> list[str]:
    with services.engine.connect() as conn:
        rows = conn.execute(select(audit_log.c.action).where(audit_log.c.tenant_id == tenant))
        return [row.action for row in rows]


@pytest.fixture
def admin_of(mailing: Any, tenant: str, make_user: Callable[..., User]) -> tuple[Any, User]:
    admin = make_user(tenant, "admin")
    return signed_in(mailing, admin), admin


def invite(admin: Any, email: str, role: str = "analyst") -> dict[str, Any]:
    resp = admin.post("/api/invites", json={"email": email, "role": role})
    assert resp.status_code == 201, resp.get_json()
    return dict(resp.get_json())


def test_invite_accept_sign_in(
    mailing: Any,
    smtp: tuple[Mailbox, int],
    admin_of: tuple[Any, User],
    tenant: str,
    services: Services,
) -> None:
    admin, _ = admin_of
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    made = invite(admin, email)
    assert set(made) >= {"id", "url", "expires_at"} and made["mailed"] is True
    token = token_in(mail_to(smtp[0], email))
    assert made["url"].endswith(f"/invite/{token}")
    pending = admin.get("/api/invites").get_json()["invites"]
    assert [p["id"] for p in pending] == [made["id"]] and "url" not in pending[0]

    username = f"u{uuid.uuid4().hex[:8]}"
    guest = browser(mailing)
    resp = guest.post(
        f"/api/invites/{token}/accept", json={"username": username, "password": PASSWORD}
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["user"] == {"username": username, "role": "analyst", "tenant": tenant}
    assert guest.get("/api/invites").status_code == 403  # signed in, as the analyst it is
    assert sign_in(mailing, username, PASSWORD) == 200
    again = browser(mailing).post(
        f"/api/invites/{token}/accept", json={"username": username + "x", "password": PASSWORD}
    )
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"
    assert admin.get("/api/invites").get_json()["invites"] == []
    assert {"invite.create", "invite.accept"} <= set(actions(services, tenant))


def test_revoked_resent_and_expired_links_are_refused(
    mailing: Any, admin_of: tuple[Any, User], clock: FakeClock, services: Services, tenant: str
) -> None:
    admin, _ = admin_of
    body = {"username": f"u{uuid.uuid4().hex[:8]}", "password": PASSWORD}
    revoked = invite(admin, "a@example.com")
    assert admin.delete(f"/api/invites/{revoked['id']}").status_code == 204
    token = revoked["url"].rsplit("/", 1)[1]
    assert browser(mailing).post(f"/api/invites/{token}/accept", json=body).status_code == 404
    assert admin.delete(f"/api/invites/{revoked['id']}").status_code == 404

    first = invite(admin, "b@example.com")
    resent = admin.post(f"/api/invites/{first['id']}/resend")
    assert resent.status_code == 201 and resent.get_json()["id"] == first["id"]
    old = first["url"].rsplit("/", 1)[1]
    assert browser(mailing).post(f"/api/invites/{old}/accept", json=body).status_code == 404

    expiring = invite(admin, "c@example.com")
    clock.advance(services.settings.invite_ttl_s + 1)
    token = expiring["url"].rsplit("/", 1)[1]
    assert browser(mailing).post(f"/api/invites/{token}/accept", json=body).status_code == 404
    assert {"invite.revoke", "invite.resend"} <= set(actions(services, tenant))


def test_another_tenants_invitation_is_not_found(
    mailing: Any, admin_of: tuple[Any, User], make_user: Callable[..., User], services: Services
) -> None:
    from tests.conftest import new_tenant

    admin, _ = admin_of
    made = invite(admin, "d@example.com")
    other = signed_in(mailing, make_user(new_tenant(services), "admin"))
    assert other.delete(f"/api/invites/{made['id']}").status_code == 404
    assert other.post(f"/api/invites/{made['id']}/resend").status_code == 404
    assert other.get("/api/invites").get_json()["invites"] == []


def test_the_longest_address_is_invited_and_audited(admin_of: tuple[Any, User]) -> None:
    admin, _ = admin_of
    email = "0@" + "0" * 252  # found by schemathesis: longer than the audit log's target
    assert invite(admin, email)["id"]


def test_without_smtp_the_link_is_still_handed_out(
    web: Any, tenant: str, make_user: Callable[..., User]
) -> None:
    admin = signed_in(web, make_user(tenant, "admin"))
    made = invite(admin, "e@example.com", "viewer")
    assert made["mailed"] is False and "/invite/" in made["url"]


def test_reset_changes_the_password_once_and_ends_sessions(
    mailing: Any,
    smtp: tuple[Mailbox, int],
    tenant: str,
    make_user: Callable[..., User],
    services: Services,
) -> None:
    user = make_user(tenant, "viewer")
    session = signed_in(mailing, user)
    assert (
        browser(mailing).post("/api/password-reset", json={"email": user.email}).status_code == 202
    )
    token = token_in(mail_to(smtp[0], user.email))
    new = "a-brand-new-password"
    assert (
        browser(mailing).post(f"/api/password-reset/{token}", json={"password": new}).status_code
        == 204
    )
    assert session.get("/api/dashboards").status_code == 401  # its session has ended
    assert sign_in(mailing, user.username, PASSWORD) == 401
    assert sign_in(mailing, user.username, new) == 200
    reused = browser(mailing).post(
        f"/api/password-reset/{token}", json={"password": "another-one-1"}
    )
    assert reused.status_code == 404
    assert {"password.reset_request", "password.reset"} <= set(actions(services, tenant))


def test_a_reset_link_never_points_where_the_requests_host_header_says(
    mailing: Any, smtp: tuple[Mailbox, int], tenant: str, make_user: Callable[..., User]
) -> None:
    """Anyone may ask a reset for anyone's address: were the link built from the request's
    Host header, `Host: evil.example` would mail the victim a link handing their token over."""
    user = make_user(tenant, "viewer")
    asked = browser(mailing).post(
        "/api/password-reset", json={"email": user.email}, headers={"Host": "evil.example"}
    )
    assert asked.status_code == 202
    body = mail_to(smtp[0], user.email).get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "evil.example" not in body
    assert LINK.search(body)


def test_a_link_dies_when_the_password_changes_another_way(
    mailing: Any, smtp: tuple[Mailbox, int], tenant: str, make_user: Callable[..., User]
) -> None:
    user = make_user(tenant, "viewer")
    browser(mailing).post("/api/password-reset", json={"email": user.email})
    browser(mailing).post("/api/password-reset", json={"email": user.email})
    first, second = [token_in(m) for m in mails_to(smtp[0], user.email, 2)]
    assert (
        browser(mailing)
        .post(f"/api/password-reset/{second}", json={"password": "changed-once"})
        .status_code
        == 204
    )
    # the first link was made for the old password: dead, though never used nor expired
    assert (
        browser(mailing)
        .post(f"/api/password-reset/{first}", json={"password": "changed-twice"})
        .status_code
        == 404
    )


def test_an_expired_reset_link_is_refused(
    mailing: Any,
    smtp: tuple[Mailbox, int],
    tenant: str,
    make_user: Callable[..., User],
    clock: FakeClock,
) -> None:
    user = make_user(tenant, "viewer")
    browser(mailing).post("/api/password-reset", json={"email": user.email})
    token = token_in(mail_to(smtp[0], user.email))
    clock.advance(3601)
    assert (
        browser(mailing)
        .post(f"/api/password-reset/{token}", json={"password": "too-late-now"})
        .status_code
        == 404
    )


def test_an_unknown_address_answers_the_same(
    mailing: Any, smtp: tuple[Mailbox, int], tenant: str, make_user: Callable[..., User]
) -> None:
    user = make_user(tenant, "viewer")
    known = browser(mailing).post("/api/password-reset", json={"email": user.email})
    unknown = browser(mailing).post("/api/password-reset", json={"email": "nobody@nowhere.example"})
    assert (known.status_code, known.data) == (unknown.status_code, unknown.data) == (202, b"")
    mail_to(smtp[0], user.email)
    assert not [m for m in smtp[0].messages if m["To"] == "nobody@nowhere.example"]


def test_signup_creates_a_tenant_and_its_signed_in_admin(mailing: Any, services: Services) -> None:
    org = f"Acme {uuid.uuid4().hex[:6]}"
    username = f"u{uuid.uuid4().hex[:8]}"
    client = browser(mailing)
    body = {
        "organisation": org,
        "username": username,
        "email": "boss@example.com",
        "password": PASSWORD,
    }
    resp = client.post("/api/signup", json=body)
    assert resp.status_code == 201, resp.get_json()
    user = resp.get_json()["user"]
    assert user["role"] == "admin" and user["tenant"] == org.lower().replace(" ", "-")
    assert client.get("/api/invites").status_code == 200  # signed in, as an admin
    assert "signup" in actions(services, user["tenant"])
    again = browser(mailing).post("/api/signup", json={**body, "username": username + "x"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "organisation_taken"
    taken = browser(mailing).post("/api/signup", json={**body, "organisation": org + " 2"})
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "username_taken"


def test_signup_is_off_by_default(client: Any) -> None:
    body = {"organisation": "X", "username": "x", "email": "x@example.com", "password": PASSWORD}
    resp = client.post("/api/signup", json=body)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "not_found"
    assert client.get("/signup").status_code == 404
    assert 'href="/signup"' not in client.get("/login").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/signup",
            {"organisation": "", "username": "a b", "email": "no", "password": "short"},
        ),
        ("/api/signup", {"organisation": 3}),
        ("/api/password-reset", {"email": 7}),
        ("/api/password-reset", {"email": "a\x00@example.com"}),
        (
            "/api/signup",
            {
                "organisation": "\ud800",
                "username": "ok",
                "email": "a@b.c",
                "password": "long-enough",
            },
        ),
        ("/api/password-reset/nothing", {"password": "short"}),
        ("/api/invites/nothing/accept", {"username": "ok", "password": "short"}),
    ],
)
def test_bad_bodies_are_refused_by_field(mailing: Any, path: str, body: dict[str, Any]) -> None:
    resp = browser(mailing).post(path, json=body)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["error"]["details"]
    not_json = browser(mailing).post(path, data="[", content_type="application/json")
    assert not_json.status_code == 400


def test_invite_bodies_are_refused_by_field(admin_of: tuple[Any, User]) -> None:
    admin, _ = admin_of
    resp = admin.post("/api/invites", json={"email": "x", "role": "owner"})
    assert resp.status_code == 422
    assert {d["field"] for d in resp.get_json()["error"]["details"]} == {"email", "role"}
    for odd in ("%00", "not-a-uuid", "%ED%A0%80"):
        assert admin.delete(f"/api/invites/{odd}").status_code == 404
        assert admin.post(f"/api/invites/{odd}/resend").status_code == 404
        accept = admin.post(
            f"/api/invites/{odd}/accept", json={"username": "ok", "password": PASSWORD}
        )
        assert accept.status_code == 404


def test_the_pages_show_errors_by_field(
    mailing: Any, smtp: tuple[Mailbox, int], admin_of: tuple[Any, User]
) -> None:
    page = browser(mailing).post(
        "/signup", data={"organisation": "Y", "username": "a b", "email": "x", "password": "1"}
    )
    text = page.get_data(as_text=True)
    assert (
        page.status_code == 200 and 'id="username-error"' in text and 'id="password-error"' in text
    )
    admin, _ = admin_of
    token = invite(admin, "f@example.com")["url"].rsplit("/", 1)[1]
    guest = browser(mailing)
    assert guest.get(f"/invite/{token}").status_code == 200
    username = f"u{uuid.uuid4().hex[:8]}"
    joined = guest.post(f"/invite/{token}", data={"username": username, "password": PASSWORD})
    assert joined.status_code == 303 and guest.get("/api/invites").status_code == 403
    assert browser(mailing).get(f"/invite/{token}").status_code == 404
    assert browser(mailing).get("/forgot").status_code == 200
    sent = browser(mailing).post("/forgot", data={"email": "nobody@example.com"})
    assert sent.status_code == 200 and 'id="forgot-sent"' in sent.get_data(as_text=True)
    assert 'href="/signup"' in browser(mailing).get("/login").get_data(as_text=True)


def test_the_cli_prints_a_one_time_reset_link(
    run_cli: Any, client: Any, tenant: str, make_user: Callable[..., User]
) -> None:
    user = make_user(tenant, "viewer")
    result = run_cli("reset-password", "--tenant", tenant, "--username", user.username)
    assert result.returncode == 0, result.stderr
    found = LINK.search(result.stdout)
    assert found and found.group(1) == "reset"
    path = f"/api/password-reset/{found.group(2)}"
    assert client.post(path, json={"password": "set-by-operator"}).status_code == 204
    assert client.post(path, json={"password": "set-by-operator"}).status_code == 404
    unknown = run_cli("reset-password", "--tenant", tenant, "--username", "nobody-here")
    assert unknown.returncode == 2 and "no such user" in unknown.stderr


def test_asking_for_the_same_address_too_often_is_throttled(mailing: Any) -> None:
    asker = browser(mailing)
    email = f"bombed-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        asker.post("/api/password-reset", json={"email": email}).status_code for _ in range(30)
    ]
    assert answers[0] == 202 and answers[-1] == 429
    assert answers.index(429) == answers.count(202)  # once refused, refused from then on
    page = asker.post("/forgot", data={"email": email}).get_data(as_text=True)
    assert 'id="forgot-form-error"' in page and "Too many" in page
