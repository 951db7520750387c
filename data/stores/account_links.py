"""Invitation and reset links as the API and the admin page hand them out: the token made
a link to its page, and the link mailed when an SMTP server is configured. The link of an
invitation is always shown to the admin too, so a missing server never blocks onboarding."""

from __future__ import annotations

import smtplib
from typing import Any

from data.domain.account_forms import InviteForm
from data.domain.account_mail import (
    INVITE_PATH,
    RESET_PATH,
    VERIFY_PATH,
    invite_text,
    link,
    reset_text,
    verify_text,
)
from data.stores.invites import Invite, Invites
from data.stores.mail import SmtpServer, compose, send, send_in_background
from data.stores.password_resets import PasswordResets


def base_url(settings: Any, request_url: str) -> str:
    """Where links an admin is handed point: PUBLIC_URL, else the address their request
    came to."""
    return str(settings.public_url or request_url)


def unprompted_base_url(settings: Any) -> str:
    """Where links mailed at an anonymous request point: PUBLIC_URL, else HOST:PORT, never
    the request's Host header, which the requester chooses: a reset asked for a victim's
    address with `Host: evil.example` would mail them a link that hands the token over."""
    return str(settings.public_url or f"http://{settings.host}:{settings.port}/")


def handed_out(invite: Invite, url: str, mailed: bool) -> dict[str, Any]:
    """The API's answer to a created or resent invitation."""
    return {
        "id": invite.invite_id,
        "url": url,
        "expires_at": invite.expires_at.isoformat(),
        "mailed": mailed,
    }


def mail_invite(settings: Any, invite: Invite, url: str, ttl_s: int) -> bool:
    """Mail the invitation if a server is configured; whether it was handed over."""
    server = SmtpServer.of(settings)
    if server is None:
        return False
    subject, body = invite_text(url, invite.tenant_id, invite.role, max(1, ttl_s // 3600))
    try:
        send(server, compose(invite.email, subject, body))
    except (OSError, smtplib.SMTPException):
        return False  # the admin still has the link to copy, and sees it was not mailed
    return True


def invite(
    invites: Invites, settings: Any, tenant_id: str, form: InviteForm, by: str | None, base: str
) -> dict[str, Any]:
    """Create an invitation, mail it when possible, and return what the admin is shown."""
    created, token = invites.create(tenant_id, form, by)
    url = link(base, INVITE_PATH, token)
    return handed_out(created, url, mail_invite(settings, created, url, invites.ttl_s))


def resend(
    invites: Invites, settings: Any, tenant_id: str, invite_id: str, by: str | None, base: str
) -> dict[str, Any]:
    """Give an invitation a new token (the old link dies), mail it when possible."""
    renewed, token = invites.resend(tenant_id, invite_id, by)
    url = link(base, INVITE_PATH, token)
    return handed_out(renewed, url, mail_invite(settings, renewed, url, invites.ttl_s))


def request_reset(resets: PasswordResets, settings: Any, email: str, base: str) -> int:
    """Mail a reset link to each account of this address, in the background so that an
    unknown address answers as fast; the number of links made (never told to the asker)."""
    server = SmtpServer.of(settings)
    issued = resets.issue_for_email(email)
    for user, token in issued:
        subject, body = reset_text(link(base, RESET_PATH, token), user.username)
        if server is not None:
            send_in_background(server, compose(user.email, subject, body))
    return len(issued)


def mail_verification(settings: Any, email: str, username: str, token: str) -> bool:
    """Mail a verification link in the background (the request does not wait on the
    server); whether a server is configured to take it."""
    server = SmtpServer.of(settings)
    if server is None:
        return False
    subject, body = verify_text(link(unprompted_base_url(settings), VERIFY_PATH, token), username)
    send_in_background(server, compose(email, subject, body))
    return True
