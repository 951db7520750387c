"""Password reset links (CONTRACT.md §8): single use, valid an hour, and bound to the
password they were issued against, so a link dies once the password changes by any way.
Only the token's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection

from data.domain.errors import NotFound
from data.stores.accounts import PASSWORDS, User, user_from_row
from data.stores.audit import record_audit
from data.stores.invites import new_token, token_hash
from data.stores.schema import users
from data.stores.schema_invites import password_resets

RESET_TTL_S = 3600
DEAD_LINK = "reset link: it was used, has expired, or the password has changed since"


def fingerprint(password_hash: str) -> str:
    """What a link remembers of the password it may replace (never the hash itself)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


class PasswordResets:
    """Issues and redeems reset links."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def issue_for_email(self, email: str) -> list[tuple[User, str]]:
        """A link for each active account of this address (any case): (user, token) each;
        none for an unknown address, which the caller must not reveal."""
        query = select(users).where(func.lower(users.c.email) == email.strip().lower())
        with self.engine.begin() as conn:
            rows = [row for row in conn.execute(query) if row.active]
            return [(user_from_row(row), self._issue(conn, row)) for row in rows]

    def issue_for(self, tenant_id: str, username: str) -> str:
        """A link for this user of this tenant (an operator's command); NotFound else."""
        query = select(users).where(users.c.tenant_id == tenant_id, users.c.username == username)
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFound("user")
            return self._issue(conn, row)

    def _issue(self, conn: Connection, row: object) -> str:
        token, hashed = new_token()
        conn.execute(
            insert(password_resets).values(
                token_hash=hashed,
                user_id=row.user_id,  # type: ignore[attr-defined]
                password_fingerprint=fingerprint(row.password_hash),  # type: ignore[attr-defined]
                expires_at=self._now() + timedelta(seconds=RESET_TTL_S),
            )
        )
        record_audit(
            conn,
            row.tenant_id,  # type: ignore[attr-defined]
            None,
            "password.reset_request",
            row.username,  # type: ignore[attr-defined]
            {},
        )
        return token

    def reset(self, token: str, password: str) -> User:
        """Set the password of the link's user and spend the link; NotFound when the link
        is used, expired, or its password has changed since. The caller ends the sessions."""
        with self.engine.begin() as conn:
            link = conn.execute(
                select(password_resets)
                .where(
                    password_resets.c.token_hash == token_hash(token),
                    password_resets.c.used_at.is_(None),
                )
                .with_for_update()
            ).first()
            if link is None or link.expires_at <= self._now():
                raise NotFound(DEAD_LINK)
            row = conn.execute(
                select(users).where(users.c.user_id == link.user_id).with_for_update()
            ).first()
            if row is None or fingerprint(row.password_hash) != link.password_fingerprint:
                raise NotFound(DEAD_LINK)
            conn.execute(
                update(users)
                .where(users.c.user_id == row.user_id)
                .values(password_hash=PASSWORDS.hash(password))
            )
            conn.execute(
                update(password_resets)
                .where(password_resets.c.token_hash == link.token_hash)
                .values(used_at=self._now())
            )
            record_audit(conn, row.tenant_id, row.user_id, "password.reset", row.username, {})
        return user_from_row(row)
