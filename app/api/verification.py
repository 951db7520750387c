"""E-mail verification (CONTRACT.md §8): with an SMTP server configured, sign-up and an
address change leave the user unverified until they open the link mailed to them. Until
then they use Pulse but may not grow the tenant (invite, create API keys): the address is
the organisation's only way back in through a password reset, so it must be proven first.
Without SMTP nobody could verify, so accounts count as verified at once."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from app.api.document import Operation, documented
from app.errors import ApiError
from app.services import Services
from app.web.auth import Principal, principal, services
from data.stores import account_links
from data.stores.accounts import User
from data.stores.email_verifications import UNVERIFIED, EmailVerifications, TooSoon, is_verified
from data.stores.mail import SmtpServer

bp = Blueprint("verification", __name__)


class VerificationSent(BaseModel):
    """Where a new verification link went."""

    email: str = Field(description="the address the link was mailed to")


def verifications(svc: Services) -> EmailVerifications:
    """The verification store on the app's database and clock."""
    return EmailVerifications(svc.engine, svc.clock)


def asks_verification(svc: Services) -> bool:
    """Whether new addresses must be proven: only when a server can mail the link."""
    return SmtpServer.of(svc.settings) is not None


class PendingLink:
    """A link to issue inside an account's transaction and mail once it has committed
    (a mail about an account that was then rolled back would point at nothing)."""

    def __init__(self, svc: Services, email: str) -> None:
        self.svc = svc
        self.email = email
        self.token: str | None = None

    def issue(self, conn: Connection, user: User) -> None:
        """Mark the user unverified and make the link, in the caller's transaction."""
        self.token = verifications(self.svc).unverify(conn, user.user_id, self.email)

    def mail(self, username: str) -> None:
        """Mail the link made, if any."""
        if self.token is not None:
            account_links.mail_verification(self.svc.settings, self.email, username, self.token)


def pending_link(svc: Services, email: str) -> PendingLink | None:
    """A link to issue for `email` when SMTP is configured; None when nothing is proven."""
    return PendingLink(svc, email) if asks_verification(svc) else None


def require_verified(who: Principal) -> None:
    """403 for a signed-in user whose address is unproven (keys are made by verified
    admins, so a key passes)."""
    if who.user is not None and not is_verified(services().engine, who.user.user_id):
        raise ApiError(403, "email_unverified", UNVERIFIED)


def send_again(svc: Services, user: User) -> str | None:
    """Mail a new link to the user's address: the address, None when already verified;
    429 within a minute of the last link, 409 when no server could mail it."""
    if not asks_verification(svc):
        raise ApiError(409, "no_smtp", "no SMTP server is configured to mail the link")
    try:
        sent = verifications(svc).resend(user)
    except TooSoon as err:
        raise ApiError(429, "too_many_attempts", err.message) from None
    if sent is None:
        return None
    email, token = sent
    account_links.mail_verification(svc.settings, email, user.username, token)
    return email


@bp.post("/me/verification")
@documented(Operation({202: VerificationSent}, refusals=(409, 429)))
def resend() -> tuple[Response, int]:
    """Mail a new e-mail verification link (at most one a minute); the older links still
    work until they expire. 409 when the address is verified already or no SMTP server is
    configured."""
    user = principal().user
    if user is None:  # principal() without a scope refuses every key, so never here
        raise LookupError("a session user")
    email = send_again(services(), user)
    if email is None:
        raise ApiError(409, "already_verified", "your e-mail address is verified already")
    return jsonify({"email": email}), 202
