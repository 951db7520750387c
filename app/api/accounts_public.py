"""The /api routes anyone may call (CONTRACT.md §8): sign-up when SIGNUP_ENABLED, and the
password reset. A reset request answers 202 whatever the address, so nobody learns which
addresses have accounts; a reset ends every session (and socket) of its user."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, Response, jsonify

from app.api.account_models import SignedIn
from app.api.bodies import json_body
from app.api.document import Operation, documented
from app.api.verification import pending_link
from app.errors import ApiError
from app.services import Services
from app.web.auth import services, sessions
from app.web.sign_in import ThrottledAttempt, sign_in
from data.domain.account_forms import (
    NewPasswordForm,
    ResetRequestForm,
    SignupForm,
    parse_form,
)
from data.domain.errors import DomainError
from data.stores import account_links
from data.stores.accounts import User
from data.stores.password_resets import PasswordResets
from data.stores.signups import sign_up

bp = Blueprint("accounts_public", __name__)


def signup_user(svc: Services, form: SignupForm) -> User:
    """Create the organisation and its admin under the sign-in throttle; 404 when sign-up
    is off, 429 when this address failed too often."""
    if not svc.settings.signup_enabled:
        raise ApiError(404, "not_found", "sign-up is not enabled on this server")
    attempt = ThrottledAttempt(svc, form.username)
    attempt.check()
    link = pending_link(svc, form.email)  # with SMTP: unverified until the mailed link
    try:
        user = sign_up(svc.engine, form, link.issue if link else None)
    except DomainError:
        attempt.failed()
        raise
    attempt.succeeded()
    if link is not None:
        link.mail(user.username)
        return replace(user, email_verified=False)
    return user


def ask_reset(svc: Services, form: ResetRequestForm) -> None:
    """Mail reset links for this address, if it has accounts; 429 when this address asked
    for it too often from here (each request counts: no mail bombing)."""
    ThrottledAttempt(svc, f"reset:{form.email.lower()}").check()
    base = account_links.unprompted_base_url(svc.settings)
    account_links.request_reset(
        PasswordResets(svc.engine, svc.clock), svc.settings, form.email, base
    )


def reset_password(svc: Services, token: str, form: NewPasswordForm) -> User:
    """Set the new password of a live link, and end every session of its user (the
    gateway closes their sockets at its next check)."""
    user = PasswordResets(svc.engine, svc.clock).reset(token, form.password)
    sessions(svc).end_all(user.user_id)
    return user


@bp.post("/signup")
@documented(Operation({201: SignedIn}, body=SignupForm, refusals=(404, 409, 429), public=True))
def signup() -> tuple[Response, int]:
    """Create an organisation (a new tenant) with this user as its admin, signed in.

    Only with SIGNUP_ENABLED=1 (404 otherwise); 409 when the organisation or the username
    is taken."""
    svc = services()
    if not svc.settings.signup_enabled:  # before reading the body: off means no such route
        raise ApiError(404, "not_found", "sign-up is not enabled on this server")
    user = signup_user(svc, parse_form(SignupForm, json_body()))
    return jsonify(sign_in(svc, user)), 201


@bp.post("/password-reset")
@documented(Operation({202: None}, body=ResetRequestForm, refusals=(429,), public=True))
def request_reset() -> tuple[str, int]:
    """Mail a single-use reset link (valid an hour) if an account has this address.

    The answer is the same 202 whether or not one has."""
    svc = services()
    form = parse_form(ResetRequestForm, json_body())
    ask_reset(svc, form)
    return "", 202


@bp.post("/password-reset/<token>")
@documented(Operation({204: None}, body=NewPasswordForm, refusals=(404,), public=True))
def reset(token: str) -> tuple[str, int]:
    """Set a new password with a reset link: every session of the user ends.

    404 when the link was used, has expired, or the password changed since it was sent."""
    svc = services()
    reset_password(svc, token, parse_form(NewPasswordForm, json_body()))
    return "", 204
