"""E-mail verification links (CONTRACT.md §8): when SMTP is configured, a signed-up user
(and one who changes their address) stays unverified until they open the single-use link
mailed to the address, valid a day. Only the token's SHA-256 is stored, and a link proves
only the address it went to: one set since leaves it dead."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import Connection

from data.domain.errors import DomainError, NotFound
from data.stores.accounts import User, user_from_row
from data.stores.audit import record_audit
from data.stores.invites import new_token, token_hash
from data.stores.schema import users
from data.stores.schema_invites import email_verifications

VERIFY_TTL_S = 24 * 3600
RESEND_EVERY_S = 60  # "send it again" at most once a minute: no mail bombing from a session
UNVERIFIED = "confirm your e-mail address first: open the link we sent you (or send it again)"
DEAD_LINK = "verification link: it was used, has expired, or the address has changed since"


class TooSoon(DomainError):
    """A new link was asked for within RESEND_EVERY_S of the last one (the API's 429)."""


class EmailVerifications:
    """Issues and redeems e-mail verification links."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def unverify(self, conn: Connection, user_id: str, email: str) -> str:
        """Mark the user unverified and issue a link to `email`, in the caller's
        transaction (the sign-up or the address change that asks for it); the token."""
        conn.execute(update(users).where(users.c.user_id == user_id).values(email_verified_at=None))
        return self._issue(conn, user_id, email)

    def _issue(self, conn: Connection, user_id: str, email: str) -> str:
        token, hashed = new_token()
        now = self._now()
        conn.execute(
            insert(email_verifications).values(
                token_hash=hashed,
                user_id=user_id,
                email=email,
                expires_at=now + timedelta(seconds=VERIFY_TTL_S),
                created_at=now,
            )
        )
        return token

    def resend(self, user: User) -> tuple[str, str] | None:
        """A new link to the user's current address: (address, token); None when the user
        is verified already; TooSoon within a minute of the last link."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(users).where(users.c.user_id == user.user_id).with_for_update()
            ).first()
            if row is None or row.email_verified_at is not None:
                return None
            last = conn.execute(
                select(func.max(email_verifications.c.created_at)).where(
                    email_verifications.c.user_id == user.user_id
                )
            ).scalar()
            if last is not None and last > self._now() - timedelta(seconds=RESEND_EVERY_S):
                raise TooSoon("a link was sent less than a minute ago", "too_many_attempts")
            return row.email, self._issue(conn, row.user_id, row.email)

    def verify(self, token: str) -> User:
        """Mark the link's user verified and spend the link; NotFound when it was used, has
        expired, or the user's address is no longer the one it went to."""
        with self.engine.begin() as conn:
            link = conn.execute(
                select(email_verifications)
                .where(
                    email_verifications.c.token_hash == token_hash(token),
                    email_verifications.c.used_at.is_(None),
                )
                .with_for_update()
            ).first()
            if link is None or link.expires_at <= self._now():
                raise NotFound(DEAD_LINK)
            row = conn.execute(
                select(users).where(users.c.user_id == link.user_id).with_for_update()
            ).first()
            if row is None or row.email.lower() != link.email.lower():
                raise NotFound(DEAD_LINK)
            now = self._now()
            conn.execute(
                update(users).where(users.c.user_id == row.user_id).values(email_verified_at=now)
            )
            conn.execute(
                update(email_verifications)
                .where(email_verifications.c.token_hash == link.token_hash)
                .values(used_at=now)
            )
            record_audit(conn, row.tenant_id, row.user_id, "user.email_verified", row.username, {})
        return user_from_row(row)


def is_verified(engine: Engine, user_id: str) -> bool:
    """Whether the user's address is proven as stored now (a session's copy may be older);
    an unknown user is not."""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.email_verified_at).where(users.c.user_id == user_id)
        ).first()
    return row is not None and row.email_verified_at is not None
