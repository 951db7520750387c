"""Invitations (CONTRACT.md §8): an admin invites an address with a role; the link's token
is single use, expires, can be revoked, and resending it replaces the token (the old link
dies). Only the token's SHA-256 is stored, as for API keys."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from data.domain.account_forms import AcceptForm, InviteForm
from data.domain.errors import Conflict, DomainError, Invalid, NotFound
from data.domain.jsontext import storable
from data.stores.accounts import AccountError, User, insert_user
from data.stores.audit import record_audit
from data.stores.schema import is_uuid
from data.stores.schema_invites import invites

AUDIT_TARGET_CHARS = 200  # audit_log.target's length
DEAD_LINK = "invitation: the link was used, revoked or has expired"


def new_token() -> tuple[str, str]:
    """A fresh random link token (256 bits) and the hash that is stored of it."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """What is stored of a token: random enough that a fast hash will do."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def account_refusal(err: AccountError) -> DomainError:
    """The API's refusal of an account that could not be made: a taken name is a 409, a
    broken rule a 422 naming its field (the message starts with it)."""
    message = str(err)
    if message.endswith("is taken"):
        return Conflict(message, "username_taken")
    return Invalid.field(message.split(" ", 1)[0], message)


@dataclass(frozen=True, slots=True)
class Invite:
    """A pending invitation, as an admin sees it (never its token)."""

    invite_id: str
    tenant_id: str
    email: str
    role: str
    expires_at: datetime
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The API's view of it."""
        return {
            "id": self.invite_id,
            "email": self.email,
            "role": self.role,
            "expires_at": self.expires_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


def _target(email: str) -> str:
    """An address as the audit log's target (at most 200 characters; details hold it all)."""
    return email[:AUDIT_TARGET_CHARS]


def _about(invite: Any) -> dict[str, Any]:
    return {"role": invite.role, "email": invite.email}


def _invite(row: Any) -> Invite:
    return Invite(row.invite_id, row.tenant_id, row.email, row.role, row.expires_at, row.created_at)


class Invites:
    """The invitation store over PostgreSQL."""

    def __init__(self, engine: Engine, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def create(self, tenant_id: str, form: InviteForm, by: str | None) -> tuple[Invite, str]:
        """Invite `form.email` with `form.role`: the invitation and its link's token."""
        token, hashed = new_token()
        now = self._now()
        row = {
            "invite_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "email": form.email,
            "role": form.role,
            "token_hash": hashed,
            "expires_at": now + timedelta(seconds=self.ttl_s),
            "created_by": by,
            "created_at": now,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(invites).values(**row))
            record_audit(conn, tenant_id, by, "invite.create", _target(form.email), _about(form))
        return _invite(_Row(row)), token

    def pending(self, tenant_id: str) -> list[Invite]:
        """The tenant's invitations neither accepted, revoked nor expired, newest first."""
        query = (
            select(invites)
            .where(
                invites.c.tenant_id == tenant_id,
                invites.c.accepted_at.is_(None),
                invites.c.revoked_at.is_(None),
                invites.c.expires_at > self._now(),
            )
            .order_by(invites.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            return [_invite(row) for row in conn.execute(query)]

    def _open(self, conn: Connection, tenant_id: str, invite_id: str) -> Any:
        """The tenant's invitation not yet accepted nor revoked, locked; NotFound else."""
        if not is_uuid(invite_id):  # ids are UUIDs: anything else names no row
            raise NotFound("invitation")
        row = conn.execute(
            select(invites)
            .where(
                invites.c.invite_id == invite_id,
                invites.c.tenant_id == tenant_id,
                invites.c.accepted_at.is_(None),
                invites.c.revoked_at.is_(None),
            )
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound("invitation")
        return row

    def revoke(self, tenant_id: str, invite_id: str, by: str | None) -> None:
        """Revoke an open invitation: its link stops working at once."""
        with self.engine.begin() as conn:
            row = self._open(conn, tenant_id, invite_id)
            conn.execute(
                update(invites)
                .where(invites.c.invite_id == invite_id)
                .values(revoked_at=self._now())
            )
            record_audit(conn, tenant_id, by, "invite.revoke", _target(row.email), _about(row))

    def resend(self, tenant_id: str, invite_id: str, by: str | None) -> tuple[Invite, str]:
        """A new token (the old link dies) and a fresh expiry for an open invitation."""
        token, hashed = new_token()
        expires_at = self._now() + timedelta(seconds=self.ttl_s)
        with self.engine.begin() as conn:
            row = self._open(conn, tenant_id, invite_id)
            conn.execute(
                update(invites)
                .where(invites.c.invite_id == invite_id)
                .values(token_hash=hashed, expires_at=expires_at)
            )
            record_audit(conn, tenant_id, by, "invite.resend", _target(row.email), _about(row))
        return _invite(_Row({**row._asdict(), "expires_at": expires_at})), token

    def accept(self, token: str, form: AcceptForm) -> User:
        """Create the invited user with the invitation's role, once; NotFound when the link
        was used, revoked or has expired."""
        with self.engine.begin() as conn:
            row = self.live_row(conn, token)
            try:
                user = insert_user(
                    conn, row.tenant_id, form.username, row.email, row.role, form.password
                )
            except AccountError as err:
                raise account_refusal(err) from None
            conn.execute(
                update(invites)
                .where(invites.c.invite_id == row.invite_id)
                .values(accepted_at=self._now(), accepted_by=user.user_id)
            )
            details = {"role": row.role, "invite_id": row.invite_id}
            record_audit(conn, row.tenant_id, user.user_id, "invite.accept", user.username, details)
        return user

    def live_row(self, conn: Connection, token: str) -> Any:
        """The open, unexpired invitation of this token, locked; NotFound otherwise."""
        if not storable(token):
            raise NotFound(DEAD_LINK)
        row = conn.execute(
            select(invites)
            .where(
                invites.c.token_hash == token_hash(token),
                invites.c.accepted_at.is_(None),
                invites.c.revoked_at.is_(None),
            )
            .with_for_update()
        ).first()
        if row is None or row.expires_at <= self._now():
            raise NotFound(DEAD_LINK)
        return row

    def find(self, token: str) -> Invite | None:
        """The live invitation of a link, for its page to greet; None when dead."""
        with self.engine.connect() as conn:
            try:
                return _invite(self.live_row(conn, token))
            except NotFound:
                return None


class _Row:
    """A dict read like a result row (what was just written, without reading it back)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
