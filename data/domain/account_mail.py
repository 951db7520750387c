"""The links and e-mail texts of invitations, password resets and e-mail verifications."""

from __future__ import annotations

INVITE_PATH = "/invite/"
RESET_PATH = "/reset/"
VERIFY_PATH = "/verify/"


def link(base_url: str, path: str, token: str) -> str:
    """The absolute link of a token's page: `base_url` (PUBLIC_URL or the request's own
    address) without its trailing slash, then the page's path."""
    return f"{base_url.rstrip('/')}{path}{token}"


def invite_text(url: str, tenant_id: str, role: str, hours: int) -> tuple[str, str]:
    """(subject, body) of an invitation."""
    subject = f"You are invited to {tenant_id} on Pulse"
    body = (
        f"You have been invited to join {tenant_id} on Pulse as {role}.\n\n"
        f"Choose a username and a password here:\n{url}\n\n"
        f"The link works once and for {hours} hours. If you did not expect it, ignore it.\n"
    )
    return subject, body


def reset_text(url: str, username: str) -> tuple[str, str]:
    """(subject, body) of a password reset."""
    subject = "Reset your Pulse password"
    body = (
        f"Someone asked to reset the password of {username} on Pulse.\n\n"
        f"Choose a new password here:\n{url}\n\n"
        "The link works once and for one hour. If it was not you, ignore this message:\n"
        "your password stays as it is.\n"
    )
    return subject, body


def verify_text(url: str, username: str) -> tuple[str, str]:
    """(subject, body) of an e-mail verification."""
    subject = "Confirm your e-mail address on Pulse"
    body = (
        f"Please confirm that this address belongs to {username} on Pulse:\n{url}\n\n"
        "The link works once and for 24 hours. It is how you get back in should you\n"
        "forget your password. If you did not sign up, ignore this message.\n"
    )
    return subject, body
