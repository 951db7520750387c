"""Signing a new account in at once (sign-up, an accepted invitation), and the sign-in
throttle applied to sign-ups: the same session record and limits as /login."""

from __future__ import annotations

from typing import Any

from flask import request, session
from flask_login import current_user, login_user

from app.errors import ApiError
from app.services import Services
from app.tokens import SESSION_ID
from app.web.auth import LoginThrottle, SessionUser, sessions
from data.stores.accounts import User

TOO_MANY = "Too many attempts from here; try again in a few minutes."


def sign_in(svc: Services, user: User) -> dict[str, Any]:
    """Give this request's browser a live session of `user`; what the API answers. A
    session the browser held (someone else's account) ends: one browser, one sign-in."""
    if current_user.is_authenticated:
        sessions(svc).end(current_user.user.user_id, session.get(SESSION_ID))
    login_user(SessionUser(user))
    session[SESSION_ID] = sessions(svc).start(user.user_id)
    return {"user": {"username": user.username, "role": user.role, "tenant": user.tenant_id}}


class ThrottledAttempt:
    """One throttled attempt of `username` from this request's address: refused with 429
    when too many failed lately; a failure counts against the address as a sign-in's does."""

    def __init__(self, svc: Services, username: str) -> None:
        self.throttle = LoginThrottle(svc)
        self.username = username
        self.address = request.remote_addr or "unknown"
        self.attempt = self.throttle.begin(username, self.address)

    def refused(self) -> bool:
        """Whether the throttle refuses this attempt outright."""
        return self.attempt is None

    def check(self) -> None:
        """Raise the API's 429 when refused."""
        if self.refused():
            raise ApiError(429, "too_many_attempts", TOO_MANY)

    def failed(self) -> None:
        """Count the failure."""
        if self.attempt is not None:
            self.throttle.failed(self.attempt, self.address)

    def succeeded(self) -> None:
        """Forget the pair's failures."""
        self.throttle.succeeded(self.username, self.address)
