"""The public account pages (components/account_pages.py): /signup, /invite/<token>,
/forgot, /reset/<token> and /verify/<token> (with /verify-again, the banner's "send it
again", which needs a session). Their forms post back to the page, which runs what the API
runs (app/api/accounts_public.py, app/api/invites.py) and shows refusals by field."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, redirect, request
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app.api.accounts_public import ask_reset, reset_password, signup_user
from app.api.invites import invites_of
from app.api.verification import send_again, verifications
from app.errors import ApiError
from app.web.auth import services
from app.web.sign_in import sign_in
from components import account_pages as pages
from data.domain.account_forms import (
    AcceptForm,
    NewPasswordForm,
    ResetRequestForm,
    SignupForm,
    parse_form,
)
from data.domain.errors import Conflict, DomainError, Invalid

Errors = dict[str, str]
# A form shown again with its errors answers 200, as the browser's own form handling
# expects; the API says 422 for the same refusals.
SENT = "If an account has this address, a link to reset its password is on its way."
CHANGED = "Your password is changed, and every session of your account has ended."
DEAD_INVITE = "This invitation was used, revoked or has expired: ask for a new one."
DEAD_RESET = "This link was used, has expired, or the password has changed since."
VERIFIED = "Your e-mail address is confirmed. Thank you."
DEAD_VERIFY = "This link was used, has expired, or the address has changed since."
FIELD_OF_CONFLICT = {"username_taken": "username", "organisation_taken": "organisation"}


def init_app(server: Flask) -> None:
    """Add the public account pages to the Flask server."""
    for rule, view in (
        ("/signup", _signup),
        ("/invite/<token>", _invite),
        ("/forgot", _forgot),
        ("/reset/<token>", _reset),
    ):
        server.add_url_rule(rule, f"account_page{rule}", view, methods=["GET", "POST"])
    # opening the link proves the address: a GET, as mail clients open links
    server.add_url_rule("/verify/<token>", "account_page/verify", _verify)
    server.add_url_rule(
        "/verify-again", "account_page/verify-again", _verify_again, methods=["POST"]
    )


def refusal_errors(err: DomainError | ApiError) -> Errors:
    """A refusal as the page shows it: one message per field, "" for the form as a whole."""
    if isinstance(err, Invalid):
        return {d["field"]: d["message"] for d in err.details}
    if isinstance(err, Conflict):
        return {FIELD_OF_CONFLICT.get(err.code, ""): err.message}
    return {"": err.message}


def _posted() -> MultiDict[str, str]:
    return request.form


def _values(names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(_posted().get(name, ""))[:1024] for name in names}


def _signup() -> Any:
    svc = services()
    if not svc.settings.signup_enabled:
        abort(404)
    fields = pages.SIGNUP_FIELDS
    values: dict[str, str] = {}
    errors: Errors = {}
    if request.method == "POST":
        values = _values(("organisation", "username", "email", "password"))
        try:
            user = signup_user(svc, parse_form(SignupForm, values))
        except (DomainError, ApiError) as err:
            errors = refusal_errors(err)
        else:
            sign_in(svc, user)
            return redirect("/", code=303)
    content = pages.form("signup-form", "/signup", fields, "Create organisation", values, errors)
    intro = "Create an organisation; you will be its admin."
    body = pages.page("signup-page", "Sign up", intro, content + pages.back_to_login())
    return body


def _invite(token: str) -> Any:
    svc = services()
    store = invites_of(svc)
    found = store.find(token)
    if found is None:
        dead = pages.notice("invite-dead", DEAD_INVITE)
        return pages.page("invite-page", "Invitation", "Join an organisation.", dead), 404
    values: dict[str, str] = {}
    errors: Errors = {}
    if request.method == "POST":
        values = _values(("username", "password"))
        try:
            user = store.accept(token, parse_form(AcceptForm, values))
        except DomainError as err:
            errors = refusal_errors(err)
        else:
            sign_in(svc, user)
            return redirect("/", code=303)
    intro = f"Join {found.tenant_id} as {found.role} ({found.email}): choose how you sign in."
    content = pages.form(
        "invite-form", f"/invite/{token}", pages.ACCEPT_FIELDS, "Join", values, errors
    )
    return pages.page("invite-page", "Invitation", intro, content)


def _forgot() -> Any:
    svc = services()
    intro = "Forgot your password? We will e-mail you a link to choose a new one."
    values: dict[str, str] = {}
    errors: Errors = {}
    if request.method == "POST":
        values = _values(("email",))
        try:
            ask_reset(svc, parse_form(ResetRequestForm, values))
        except (DomainError, ApiError) as err:
            errors = refusal_errors(err)
        else:
            sent = pages.notice("forgot-sent", SENT)
            return pages.page("forgot-page", "Forgot password", intro, sent)
    content = pages.form("forgot-form", "/forgot", pages.FORGOT_FIELDS, "Send link", values, errors)
    body = pages.page("forgot-page", "Forgot password", intro, content + pages.back_to_login())
    return body


def _reset(token: str) -> Any:
    svc = services()
    intro = "Choose a new password."
    errors: Errors = {}
    if request.method == "POST":
        try:
            reset_password(svc, token, parse_form(NewPasswordForm, _values(("password",))))
        except DomainError as err:
            errors = refusal_errors(err)
            if "password" not in errors:
                dead = pages.notice("reset-dead", DEAD_RESET, "/forgot", "Ask for a new link")
                return pages.page("reset-page", "Reset password", intro, dead), 404
        else:
            done = pages.notice("reset-done", CHANGED)
            return pages.page("reset-page", "Reset password", intro, done)
    content = pages.form(
        "reset-form", f"/reset/{token}", pages.RESET_FIELDS, "Set password", {}, errors
    )
    return pages.page("reset-page", "Reset password", intro, content)


def _verify(token: str) -> Any:
    svc = services()
    intro = "Confirm your e-mail address."
    try:
        verifications(svc).verify(token)
    except DomainError:
        dead = pages.notice("verify-dead", DEAD_VERIFY, "/", "Back to Pulse")
        return pages.page("verify-page", "E-mail address", intro, dead), 404
    done = pages.notice("verify-done", VERIFIED, "/", "Back to Pulse")
    return pages.page("verify-page", "E-mail address", intro, done)


def _verify_again() -> Any:
    user = current_user.user  # a signed-in path: auth lets no one else reach it
    intro = "Confirm your e-mail address."
    try:
        email = send_again(services(), user)
    except ApiError as err:
        refused = pages.notice("verify-again-refused", err.message, "/", "Back to Pulse")
        return pages.page("verify-page", "E-mail address", intro, refused), err.status
    said = f"A new link is on its way to {email}." if email else VERIFIED
    sent = pages.notice("verify-again-sent", said, "/", "Back to Pulse")
    return pages.page("verify-page", "E-mail address", intro, sent)
