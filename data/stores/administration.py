"""What an admin does to the tenant's users and API keys: list them, change a role,
disable, delete, issue and revoke keys. Each change is one transaction with its audit
entry; another tenant's ids are not found.

An admin may not demote, disable or delete themselves, nor the tenant's last active admin:
either would lock the tenant out of its own administration. The tenant's admin rows are
locked first, so two admins demoting each other at once cannot both succeed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.engine import Connection

from data.domain.errors import Conflict, NotFound
from data.stores.accounts import Accounts
from data.stores.audit import record_audit
from data.stores.schema import is_uuid, users
from data.stores.schema_accounts import api_keys

KEY_ID_RE = re.compile(r"[0-9a-f]{16}")  # as Accounts.create_api_key makes them
LAST_USED_EVERY_S = 60  # a key's last_used_at is written at most this often


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


@dataclass(frozen=True, slots=True)
class UserEntry:
    """A user as the admin page lists them."""

    user_id: str
    username: str
    email: str
    role: str
    active: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The API's view of the user."""
        return {
            "id": self.user_id,
            "username": self.username,
            "email": self.email,
            "role": self.role,
            "active": self.active,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """An API key as the admin page lists it: never its secret."""

    key_id: str
    name: str
    scope: str
    created_at: datetime
    created_by: str | None  # the creator's username; None: the CLI, or a deleted user
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked: bool

    def as_dict(self) -> dict[str, Any]:
        """The API's view of the key."""
        return {
            "id": self.key_id,
            "name": self.name,
            "scope": self.scope,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "last_used_at": _iso(self.last_used_at),
            "expires_at": _iso(self.expires_at),
            "revoked": self.revoked,
        }


def _user_entry(row: Any) -> UserEntry:
    return UserEntry(row.user_id, row.username, row.email, row.role, row.active, row.created_at)


class Administration:
    """The admin's store of users and keys over PostgreSQL."""

    def __init__(self, accounts: Accounts, clock: Callable[[], float] = time.time) -> None:
        self.accounts = accounts
        self.engine: Engine = accounts.engine
        self.clock = clock

    def now(self) -> datetime:
        """The clock's moment as an aware datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- users -------------------------------------------------------------------------

    def users(self, tenant_id: str) -> list[UserEntry]:
        """The tenant's users by username."""
        query = select(users).where(users.c.tenant_id == tenant_id).order_by(users.c.username)
        with self.engine.connect() as conn:
            return [_user_entry(row) for row in conn.execute(query)]

    def user_named(self, tenant_id: str, username: str) -> UserEntry:
        """The tenant's user of this name; NotFound otherwise."""
        query = select(users).where(users.c.tenant_id == tenant_id, users.c.username == username)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"user {username!r} in tenant {tenant_id!r}")
        return _user_entry(row)

    def change_user(
        self,
        tenant_id: str,
        actor_id: str | None,
        user_id: str,
        role: str | None = None,
        active: bool | None = None,
    ) -> UserEntry:
        """Set a user's role and/or active flag; Conflict when it would demote or disable
        the actor or the tenant's last active admin."""
        with self.engine.begin() as conn:
            row = self._locked_user(conn, tenant_id, user_id)
            losing_admin = row.role == "admin" and row.active
            demoted = role is not None and role != "admin"
            disabled = active is False
            if losing_admin and (demoted or disabled):
                self._keep_an_admin(conn, tenant_id, actor_id, user_id, "demote or disable")
            values: dict[str, Any] = {}
            if role is not None and role != row.role:
                values["role"] = role
                details = {"from": row.role, "to": role}
                record_audit(conn, tenant_id, actor_id, "user.role", row.username, details)
            if active is not None and active != row.active:
                values["active"] = active
                action = "user.enable" if active else "user.disable"
                record_audit(conn, tenant_id, actor_id, action, row.username, {})
            if values:
                conn.execute(update(users).where(users.c.user_id == user_id).values(**values))
            changed = conn.execute(select(users).where(users.c.user_id == user_id)).one()
        return _user_entry(changed)

    def delete_user(self, tenant_id: str, actor_id: str | None, user_id: str) -> UserEntry:
        """Delete a user; Conflict when it is the actor or the tenant's last active admin."""
        with self.engine.begin() as conn:
            row = self._locked_user(conn, tenant_id, user_id)
            if row.role == "admin" and row.active or user_id == actor_id:
                self._keep_an_admin(conn, tenant_id, actor_id, user_id, "delete")
            conn.execute(delete(users).where(users.c.user_id == user_id))
            details = {"role": row.role}
            record_audit(conn, tenant_id, actor_id, "user.delete", row.username, details)
        return _user_entry(row)

    def _locked_user(self, conn: Connection, tenant_id: str, user_id: str) -> Any:
        if not is_uuid(str(user_id)):  # a forged id (NUL, any length) is no user, not a query error
            raise NotFound("user")
        # the tenant's admins first, always in the same order: concurrent changes queue up
        admins = select(users.c.user_id).where(
            users.c.tenant_id == tenant_id, users.c.role == "admin"
        )
        conn.execute(admins.order_by(users.c.user_id).with_for_update())
        query = select(users).where(users.c.tenant_id == tenant_id, users.c.user_id == user_id)
        row = conn.execute(query.with_for_update()).first()
        if row is None:
            raise NotFound("user")
        return row

    def _keep_an_admin(
        self, conn: Connection, tenant_id: str, actor_id: str | None, user_id: str, verb: str
    ) -> None:
        if user_id == actor_id:
            raise Conflict(f"you cannot {verb} yourself: ask another admin to do it", "own_account")
        count = conn.execute(
            select(func.count()).where(
                users.c.tenant_id == tenant_id, users.c.role == "admin", users.c.active
            )
        ).scalar_one()
        if count <= 1:
            raise Conflict(
                f"cannot {verb} the tenant's last admin: make another user admin first",
                "last_admin",
            )

    # -- API keys ------------------------------------------------------------------------

    def keys(self, tenant_id: str) -> list[KeyEntry]:
        """The tenant's keys, newest first."""
        creator = users.c.username.label("creator")
        query = (
            select(api_keys, creator)
            .select_from(api_keys.outerjoin(users, users.c.user_id == api_keys.c.created_by))
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.name)
        )
        with self.engine.connect() as conn:
            return [self._key_entry(row) for row in conn.execute(query)]

    def _key_entry(self, row: Any) -> KeyEntry:
        return KeyEntry(
            row.key_id,
            row.name,
            row.scope,
            row.created_at,
            row.creator,
            row.last_used_at,
            row.expires_at,
            row.revoked_at is not None,
        )

    def create_key(
        self,
        tenant_id: str,
        actor_id: str | None,
        name: str,
        scope: str,
        expires_in_days: int | None,
    ) -> tuple[KeyEntry, str]:
        """Issue a key; (its entry, its secret), the secret shown this once."""
        expires_at = None
        if expires_in_days is not None:
            expires_at = self.now() + timedelta(days=expires_in_days)
        secret = self.accounts.create_api_key(tenant_id, name, scope, expires_at, actor_id)
        key_id = secret.split("_", 2)[1]
        entry = next(k for k in self.keys(tenant_id) if k.key_id == key_id)
        return entry, secret

    def key_named(self, tenant_id: str, name: str) -> list[KeyEntry]:
        """The tenant's live (unrevoked) keys of this name."""
        return [k for k in self.keys(tenant_id) if k.name == name and not k.revoked]

    def revoke_key(self, tenant_id: str, actor_id: str | None, key_id: str) -> KeyEntry:
        """Revoke a key (again: no change); NotFound for another tenant's or no key."""
        if not KEY_ID_RE.fullmatch(str(key_id)):
            raise NotFound("API key")
        with self.engine.begin() as conn:
            query = select(api_keys).where(
                api_keys.c.tenant_id == tenant_id, api_keys.c.key_id == key_id
            )
            row = conn.execute(query.with_for_update()).first()
            if row is None:
                raise NotFound("API key")
            if row.revoked_at is None:
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.key_id == key_id)
                    .values(revoked_at=self.now())
                )
                details = {"key_id": key_id, "scope": row.scope}
                record_audit(conn, tenant_id, actor_id, "api_key.revoke", row.name, details)
        return next(k for k in self.keys(tenant_id) if k.key_id == key_id)

    def mark_used(self, key_id: str) -> None:
        """Record that the key was used now (callers limit this to once a minute a key)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=self.now())
            )
