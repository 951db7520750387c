"""The signed-in user's own account: preferences (theirs and their organisation's
defaults), e-mail and password. Home dashboards stay with DashboardStore.set_home."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from data.domain.errors import Invalid
from data.domain.preferences import merged, password_problems, resolve
from data.stores.accounts import PASSWORDS, User
from data.stores.audit import record_audit
from data.stores.schema import tenants, users


class Profiles:
    """Reads and changes one user's profile, each change in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def tenant_preferences(self, tenant_id: str) -> dict[str, Any]:
        """The organisation's defaults as stored."""
        with self.engine.connect() as conn:
            return _tenant_preferences(conn, tenant_id)

    def resolved(self, user: User) -> dict[str, str]:
        """The user's theme, timezone and default_range, their organisation's defaults
        filling what they left unset."""
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(users.c.preferences).where(users.c.user_id == user.user_id)
            ).scalar_one_or_none()
            return resolve(dict(stored or {}), _tenant_preferences(conn, user.tenant_id))

    def save_preferences(self, user: User, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply `changes` (None clears a key) to the user's stored preferences."""
        with self.engine.begin() as conn:
            stored = conn.execute(
                select(users.c.preferences).where(users.c.user_id == user.user_id).with_for_update()
            ).scalar_one()
            preferences = merged(dict(stored or {}), changes)
            conn.execute(
                update(users).where(users.c.user_id == user.user_id).values(preferences=preferences)
            )
        return preferences

    def save_tenant_preferences(
        self, tenant_id: str, actor_id: str | None, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply `changes` to the organisation's defaults, with an audit entry."""
        with self.engine.begin() as conn:
            stored = conn.execute(
                select(tenants.c.preferences)
                .where(tenants.c.tenant_id == tenant_id)
                .with_for_update()
            ).scalar_one()
            preferences = merged(dict(stored or {}), changes)
            conn.execute(
                update(tenants)
                .where(tenants.c.tenant_id == tenant_id)
                .values(preferences=preferences)
            )
            record_audit(conn, tenant_id, actor_id, "tenant.preferences", tenant_id, changes)
        return preferences

    def set_email(
        self, user: User, email: str, on_changed: Callable[[Connection, User], None] | None = None
    ) -> None:
        """Change the user's e-mail address, with an audit entry; `on_changed` runs in the
        same transaction (the verification link of the new address)."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.user_id == user.user_id).values(email=email))
            record_audit(conn, user.tenant_id, user.user_id, "user.email", user.username, {})
            if on_changed is not None:
                on_changed(conn, user)

    def change_password(self, user: User, current: str, new: str) -> None:
        """Replace the password when `current` is right and `new` follows the rules;
        Invalid (field `current` or `new`) otherwise. The caller ends other sessions."""
        with self.engine.begin() as conn:
            stored = conn.execute(
                select(users.c.password_hash).where(users.c.user_id == user.user_id)
            ).scalar_one()
            try:
                PASSWORDS.verify(stored, current)
            except (VerificationError, InvalidHashError):
                raise Invalid.field("current", "is not your current password", "password") from None
            problems = password_problems(new, user.username)
            if problems:
                raise Invalid(problems, "password")
            conn.execute(
                update(users)
                .where(users.c.user_id == user.user_id)
                .values(password_hash=PASSWORDS.hash(new))
            )
            record_audit(conn, user.tenant_id, user.user_id, "user.password", user.username, {})


def _tenant_preferences(conn: Connection, tenant_id: str) -> dict[str, Any]:
    stored = conn.execute(
        select(tenants.c.preferences).where(tenants.c.tenant_id == tenant_id)
    ).scalar_one_or_none()
    return dict(stored or {})
