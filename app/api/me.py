"""/api/me (CONTRACT.md §8): the signed-in user, their preferences and their password;
/api/tenant/preferences: the organisation's defaults (admins).

Only a session reaches these routes (a key is no person: 403). A preference refused is a
422 with one detail per bad field; a home dashboard the user does not see is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, session
from pydantic import BaseModel, Field

from app.api.bodies import json_body
from app.api.document import Body, Operation, documented
from app.api.verification import pending_link
from app.tokens import SESSION_ID
from app.web.auth import principal, services, sessions
from data.domain.dashboards import Actor
from data.domain.preferences import (
    EmailChange,
    PasswordChange,
    TenantPreferences,
    UserPreferences,
    changes_of,
    parse_model,
)
from data.stores.accounts import User
from data.stores.profiles import Profiles

bp = Blueprint("me", __name__)


class ResolvedPreferences(BaseModel):
    """Preferences as they apply: the user's own, else the organisation's default."""

    theme: str = Field(description="light, dark or system")
    timezone: str = Field(description="IANA zone times are shown in")
    default_range: str = Field(description="start of a page's range when it names none")
    home_dashboard: str | None = Field(description="the dashboard `/` shows; null: the tenant's")


class Me(BaseModel):
    """The signed-in user."""

    id: str
    username: str
    email: str
    role: str
    tenant: str
    email_verified: bool = Field(description="false while a mailed verification link is unopened")
    preferences: ResolvedPreferences


class OrganisationDefaults(BaseModel):
    """The organisation's defaults as stored (unset keys are absent)."""

    preferences: dict[str, str]


def _user(role: str = "viewer") -> User:
    user = principal(role=role).user
    if user is None:  # principal() without a scope refuses every key, so never here
        raise LookupError("a session user")
    return user


def describe(user: User) -> dict[str, Any]:
    """The contract's view of a user with their resolved preferences."""
    svc = services()
    fresh = svc.accounts.get_user(user.user_id) or user
    actor = Actor(user.tenant_id, user.user_id, user.role)
    preferences = {
        **Profiles(svc.engine).resolved(fresh),
        "home_dashboard": svc.dashboards.chosen_home(actor),
    }
    return {
        "id": fresh.user_id,
        "username": fresh.username,
        "email": fresh.email,
        "role": fresh.role,
        "tenant": fresh.tenant_id,
        "email_verified": fresh.email_verified,
        "preferences": preferences,
    }


def _stored_email(user: User) -> str:
    fresh = services().accounts.get_user(user.user_id)
    return fresh.email if fresh else user.email


@bp.get("/me")
@documented(Operation({200: Me}))
def me() -> Response:
    """The signed-in user: who they are and their preferences as they apply."""
    return jsonify(describe(_user()))


@bp.put("/me")
@documented(Operation({200: Me}, body=EmailChange))
def change_email() -> Response:
    """Change the signed-in user's e-mail address; with an SMTP server configured it is
    unverified until the link mailed to it is opened."""
    user = _user()
    change = parse_model(EmailChange, json_body(), "profile")
    svc = services()
    link = pending_link(svc, change.email) if change.email != _stored_email(user) else None
    Profiles(svc.engine).set_email(user, change.email, link.issue if link else None)
    if link is not None:
        link.mail(user.username)
    return jsonify(describe(user))


@bp.put("/me/preferences")
@documented(Operation({200: Me}, body=Body(UserPreferences, optional="all"), refusals=(404,)))
def save_preferences() -> Response:
    """Change some of the user's preferences; a field left out keeps its value, null sets
    it back to the organisation's default. 404: a home dashboard the user does not see."""
    user = _user()
    update = parse_model(UserPreferences, json_body(), "preferences")
    svc = services()
    if "home_dashboard" in update.model_fields_set:  # checked (404) before anything is saved
        actor = Actor(user.tenant_id, user.user_id, user.role)
        svc.dashboards.set_home(actor, update.home_dashboard)
    Profiles(svc.engine).save_preferences(user, changes_of(update))
    return jsonify(describe(user))


@bp.post("/me/password")
@documented(Operation({204: None}, body=PasswordChange))
def change_password() -> tuple[str, int]:
    """Change the password, given the current one; every other session of the user ends
    (this one goes on)."""
    user = _user()
    change = parse_model(PasswordChange, json_body(), "password")
    svc = services()
    Profiles(svc.engine).change_password(user, change.current, change.new)
    registry = sessions(svc)
    registry.end_all(user.user_id)
    session[SESSION_ID] = registry.start(user.user_id)
    return "", 204


@bp.get("/tenant/preferences")
@documented(Operation({200: OrganisationDefaults}))
def tenant_preferences() -> Response:
    """The organisation's defaults for theme, time zone and default range."""
    tenant_id = _user().tenant_id
    return jsonify({"preferences": Profiles(services().engine).tenant_preferences(tenant_id)})


@bp.put("/tenant/preferences")
@documented(Operation({200: OrganisationDefaults}, body=Body(TenantPreferences, optional="all")))
def save_tenant_preferences() -> Response:
    """Change the organisation's defaults (admins); null removes one."""
    user = _user(role="admin")
    update = parse_model(TenantPreferences, json_body(), "preferences")
    saved = Profiles(services().engine).save_tenant_preferences(
        user.tenant_id, user.user_id, changes_of(update)
    )
    return jsonify({"preferences": saved})
