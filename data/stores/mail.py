"""Sending e-mail through the operator's SMTP server (SMTP_HOST…): alert deliveries,
invitations and password resets all go out here, under one policy: STARTTLS verifies the
server's certificate and name, and a password never travels unencrypted."""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

log = logging.getLogger(__name__)
NO_SMTP = "no SMTP server: copy the link and send it yourself"


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to hand mail over."""

    host: str
    port: int
    sender: str
    starttls: bool
    username: str | None
    password: str
    timeout_s: float

    @classmethod
    def of(cls, settings: Any) -> SmtpServer | None:
        """The server the settings name; None when SMTP_HOST is unset."""
        if not settings.smtp_host:
            return None
        secret = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.smtp_starttls,
            settings.smtp_username,
            secret,
            settings.webhook_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class MailStatus:
    """Whether Pulse can send e-mail, said so an admin can act on it."""

    configured: bool
    message: str


def mail_status(settings: Any) -> MailStatus:
    """What an admin page shows about e-mail: a missing server is said, never swallowed."""
    server = SmtpServer.of(settings)
    if server is None:
        return MailStatus(False, NO_SMTP)
    tls = "STARTTLS" if server.starttls else "no TLS"
    return MailStatus(True, f"e-mail goes out through {server.host}:{server.port} ({tls})")


def send(server: SmtpServer, message: EmailMessage) -> None:
    """Hand one message to the server (From is set here); raises on any failure."""
    if "From" not in message:
        message["From"] = server.sender
    with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
        if server.starttls:
            # verify the server's certificate and name: an unverified upgrade would hand
            # the login and the mail to whoever sits in between
            smtp.starttls(context=ssl.create_default_context())
        if server.username:
            smtp.login(server.username, server.password)
        smtp.send_message(message)


def send_in_background(server: SmtpServer, message: EmailMessage) -> threading.Thread:
    """Send without keeping the request waiting (a reset must answer as fast for an
    unknown address as for a known one); a failure is logged, never shown to the asker."""

    def run() -> None:
        try:
            send(server, message)
        except (OSError, smtplib.SMTPException):
            log.warning("could not send e-mail to %s through %s", message["To"], server.host)

    thread = threading.Thread(target=run, name="pulse-mail", daemon=True)
    thread.start()
    return thread


def compose(to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text message."""
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message
