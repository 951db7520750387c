"""Tenants, users and API keys: creation, lookup and credential checks."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from data.stores.audit import record_audit
from data.stores.schema import ROLES, tenants, users
from data.stores.schema_accounts import api_keys

# OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
PASSWORDS = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
SCOPES = ("ingest", "read", "embed")
TENANT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
# Verified against when the user does not exist, so both answers take as long.
_DUMMY_HASH = PASSWORDS.hash("pulse-timing-equaliser")


class AccountError(ValueError):
    """A request about accounts that cannot be carried out, with a user-facing reason."""


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person, as the web and gateway roles need them."""

    user_id: str
    tenant_id: str
    username: str
    email: str
    role: str
    active: bool
    preferences: dict[str, Any]
    # False while a mailed verification link is unopened (data/stores/email_verifications.py)
    email_verified: bool = True

    def may(self, role: str) -> bool:
        """Whether this user's role includes `role`."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A verified API key."""

    key_id: str
    tenant_id: str
    name: str
    scope: str
    expires_at: float | None = None  # epoch seconds; None: never

    def expired(self, now: float) -> bool:
        """Whether the key has outlived its expiry at `now` (epoch seconds)."""
        return self.expires_at is not None and self.expires_at <= now


def _user(row: Any) -> User:
    return User(
        row.user_id,
        row.tenant_id,
        row.username,
        row.email,
        row.role,
        row.active,
        dict(row.preferences or {}),
        getattr(row, "email_verified_at", True) is not None,
    )


def user_from_row(row: Any) -> User:
    """The User a row of the users table describes."""
    return _user(row)


class Accounts:
    """The account store over PostgreSQL."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock  # epoch seconds: when a revocation is recorded

    def ensure_tenant(self, conn: Connection, tenant_id: str) -> None:
        """Create the tenant if it does not exist yet."""
        if not TENANT_RE.fullmatch(tenant_id):
            raise AccountError("tenant must be 1-64 of a-z 0-9 _ - starting with a letter or digit")
        if conn.execute(
            select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)
        ).first():
            return
        conn.execute(insert(tenants).values(tenant_id=tenant_id, name=tenant_id))

    def create_user(
        self, tenant_id: str, username: str, email: str, role: str, password: str
    ) -> User:
        """Create a user (and its tenant if new) with an argon2id password hash."""
        with self.engine.begin() as conn:
            self.ensure_tenant(conn, tenant_id)
            return insert_user(conn, tenant_id, username, email, role, password)

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with these credentials, or None; equally slow either way."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        try:
            PASSWORDS.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or not row.active:
            return None
        if PASSWORDS.check_needs_rehash(row.password_hash):
            self._set_hash(row.user_id, PASSWORDS.hash(password))
        return _user(row)

    def _set_hash(self, user_id: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(users).where(users.c.user_id == user_id).values(password_hash=password_hash)
            )

    def get_user(self, user_id: str) -> User | None:
        """The user with this id, active or not."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.user_id == user_id)).first()
        return _user(row) if row else None

    def tenant_exists(self, tenant_id: str) -> bool:
        """Whether the tenant exists."""
        with self.engine.connect() as conn:
            query = select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id)
            return conn.execute(query).first() is not None

    def has_users(self, tenant_id: str) -> bool:
        """Whether the tenant has any user."""
        with self.engine.connect() as conn:
            query = select(users.c.user_id).where(users.c.tenant_id == tenant_id).limit(1)
            return conn.execute(query).first() is not None

    def set_active(self, user_id: str, active: bool) -> None:
        """Enable or disable a user."""
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.user_id == user_id).values(active=active))

    def create_api_key(
        self,
        tenant_id: str,
        name: str,
        scope: str,
        expires_at: datetime | None = None,
        created_by: str | None = None,
    ) -> str:
        """Create a key and return it in full; only its hash is stored."""
        if scope not in SCOPES:
            raise AccountError(f"scope must be one of {', '.join(SCOPES)}")
        if not 1 <= len(name) <= 100:
            raise AccountError("name must be 1-100 characters")
        key_id = secrets.token_hex(8)
        key = f"pk_{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            self.ensure_tenant(conn, tenant_id)
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    tenant_id=tenant_id,
                    name=name,
                    scope=scope,
                    key_hash=_key_hash(key),
                    expires_at=expires_at,
                    created_by=created_by,
                )
            )
            details = {"scope": scope, "key_id": key_id}
            if expires_at is not None:
                details["expires_at"] = expires_at.isoformat()
            record_audit(conn, tenant_id, created_by, "api_key.create", name, details)
        return key

    def verify_api_key(self, key: str) -> ApiKey | None:
        """The live key this secret belongs to, or None."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "pk":
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.key_id == parts[1])).first()
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, _key_hash(key)):
            return None
        expires_at = row.expires_at.timestamp() if row.expires_at else None
        found = ApiKey(row.key_id, row.tenant_id, row.name, row.scope, expires_at)
        return None if found.expired(self.clock()) else found

    def is_key_live(self, key_id: str) -> bool:
        """Whether the key exists, is not revoked and has not expired."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.revoked_at, api_keys.c.expires_at).where(
                    api_keys.c.key_id == key_id
                )
            ).first()
        if row is None or row.revoked_at is not None:
            return False
        return row.expires_at is None or row.expires_at.timestamp() > self.clock()

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key; requests and sockets using it stop being served."""
        revoked_at = datetime.fromtimestamp(self.clock(), UTC)
        with self.engine.begin() as conn:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=revoked_at)
            )


def insert_user(
    conn: Connection, tenant_id: str, username: str, email: str, role: str, password: str
) -> User:
    """Add a user to an existing tenant in the caller's transaction (audited); AccountError
    when a field breaks the rules or the username is taken."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not USERNAME_RE.fullmatch(username):
        raise AccountError("username must be 1-64 of A-Z a-z 0-9 _ . @ -")
    if "@" not in email or len(email) > 254:
        raise AccountError("email must be an e-mail address")
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    if conn.execute(select(users.c.user_id).where(users.c.username == username)).first():
        raise AccountError(f"username {username!r} is taken")
    user_id = str(uuid.uuid4())
    try:
        with conn.begin_nested():  # a racing twin's insert fails alone, not the transaction
            conn.execute(
                insert(users).values(
                    user_id=user_id,
                    tenant_id=tenant_id,
                    username=username,
                    email=email,
                    role=role,
                    password_hash=PASSWORDS.hash(password),
                )
            )
    except IntegrityError:
        raise AccountError(f"username {username!r} is taken") from None
    record_audit(conn, tenant_id, None, "user.create", username, {"role": role})
    return User(user_id, tenant_id, username, email, role, True, {})


def _key_hash(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough; argon2 would cost every request.
    return hashlib.sha256(key.encode()).hexdigest()
