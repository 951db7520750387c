"""The audit log: who changed what, written in the transaction of the change itself, each
row chained to the tenant's previous one (data/domain/audit_chain.py); and its reading."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, func, insert, or_, select, text

from data.domain.audit_chain import (
    AuditFilter,
    ChainBreak,
    ChainedFields,
    StoredRow,
    cursor_of,
    first_break,
    row_hash,
)
from data.stores.schema import users
from data.stores.schema_accounts import audit_log

# The address of the request being served (set by the web role around each request), so
# that every change a request makes is recorded with where it came from.
REQUEST_ADDRESS: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "audit_request_address", default=None
)
# Appends of one tenant wait for each other (pg_advisory_xact_lock(int, int): the two-key
# space, apart from the migrations' one-key lock); tenants hashing alike only share a queue.
_LOCK_SPACE = 0x41554454
_LOCK = text("SELECT pg_advisory_xact_lock(:space, hashtext(:tenant))")
# The chain's end and the time and details as they will be stored, read after the lock:
# in READ COMMITTED each statement sees what committed before it, so the previous holder's
# row is seen. clock_timestamp(), not now(): a row waiting for the lock still comes later.
_CHAIN_END = text(
    "SELECT clock_timestamp() AS at, CAST(:details AS jsonb) AS details, "
    "(SELECT hash FROM audit_log WHERE tenant_id = :tenant "
    "ORDER BY audit_id DESC LIMIT 1) AS prev_hash"
)
MAX_ADDRESS = 64
SIGN_IN, SIGN_IN_FAILED = "auth.sign_in", "auth.sign_in_failed"


def record_audit(
    conn: Connection,
    tenant_id: str,
    user_id: str | None,
    action: str,
    target: str,
    details: dict[str, Any],
    address: str | None = None,
) -> None:
    """Add one audit entry (e.g. `source.update` of `orders-db`, what changed in `details`),
    from `address` or else the request's, chained to the tenant's last entry. Call it last
    in the transaction: the tenant's appends wait for it to commit (a row lock taken after
    it could deadlock with a writer waiting for the tenant's turn)."""
    conn.execute(_LOCK, {"space": _LOCK_SPACE, "tenant": tenant_id})
    end = conn.execute(_CHAIN_END, {"details": json.dumps(details), "tenant": tenant_id}).one()
    where = (address or REQUEST_ADDRESS.get() or "")[:MAX_ADDRESS] or None
    fields = ChainedFields(tenant_id, user_id, action, target, where, end.details, end.at)
    conn.execute(
        insert(audit_log).values(
            tenant_id=tenant_id,
            user_id=user_id,
            action=action,
            target=target,
            details=fields.details,
            address=fields.address,
            at=fields.at,
            prev_hash=end.prev_hash,
            hash=row_hash(fields, end.prev_hash),
        )
    )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event as an admin reads it (`actor`: the user's name, else their id)."""

    audit_id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    ip: str | None
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The contract's event: at (RFC 3339, UTC), actor, action, target, ip, details."""
        return {
            "id": cursor_of(self.audit_id),
            "at": self.at.astimezone(UTC).isoformat(timespec="milliseconds"),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "ip": self.ip,
            "details": self.details,
        }


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class AuditLog:
    """Reading and verifying the audit log; sign-ins, which no other store writes."""

    BATCH = 1_000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _events(self, tenant_id: str, f: AuditFilter) -> Select[Any]:
        actor = func.coalesce(users.c.username, audit_log.c.user_id)
        joined = audit_log.outerjoin(
            users,
            and_(users.c.user_id == audit_log.c.user_id, users.c.tenant_id == tenant_id),
        )
        query = (
            select(
                audit_log.c.audit_id,
                audit_log.c.at,
                actor.label("actor"),
                audit_log.c.action,
                audit_log.c.target,
                audit_log.c.address,
                audit_log.c.details,
            )
            .select_from(joined)
            .where(audit_log.c.tenant_id == tenant_id)
            .order_by(audit_log.c.audit_id.desc())
        )
        if f.before is not None:
            query = query.where(audit_log.c.audit_id < f.before)
        if f.actor is not None:
            query = query.where(or_(users.c.username == f.actor, audit_log.c.user_id == f.actor))
        if f.action is not None:
            query = query.where(audit_log.c.action.startswith(f.action, autoescape=True))
        if f.since_ms is not None:
            query = query.where(audit_log.c.at >= _ms(f.since_ms))
        if f.until_ms is not None:
            query = query.where(audit_log.c.at < _ms(f.until_ms))
        return query

    def page(self, tenant_id: str, f: AuditFilter) -> tuple[list[AuditEvent], str | None]:
        """Up to `f.limit` events newest first, and the `before` of the next page (None: the
        last page)."""
        with self.engine.connect() as conn:
            rows = conn.execute(self._events(tenant_id, f).limit(f.limit + 1)).all()
        events = [AuditEvent(*row) for row in rows[: f.limit]]
        more = len(rows) > f.limit
        return events, cursor_of(events[-1].audit_id) if more and events else None

    def stream(self, tenant_id: str, f: AuditFilter) -> Iterator[AuditEvent]:
        """Every event the filter matches (its limit aside), newest first, read in batches."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=self.BATCH).execute(
                self._events(tenant_id, f)
            )
            for row in result:
                yield AuditEvent(*row)

    def verify(self, tenant_id: str | None = None) -> tuple[int, ChainBreak | None]:
        """Check every tenant's chain (or one's): rows checked, and the first break."""
        query = select(audit_log).order_by(audit_log.c.tenant_id, audit_log.c.audit_id)
        if tenant_id is not None:
            query = query.where(audit_log.c.tenant_id == tenant_id)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=self.BATCH).execute(
                query
            )
            return first_break(stored_row(row) for row in result)

    def record(
        self,
        tenant_id: str,
        user_id: str | None,
        action: str,
        target: str,
        details: dict[str, Any],
        address: str | None = None,
    ) -> None:
        """One event in a transaction of its own (what it records changed nothing stored:
        a download)."""
        with self.engine.begin() as conn:
            record_audit(conn, tenant_id, user_id, action, target, details, address)

    def record_sign_in(self, username: str, ok: bool, address: str | None) -> None:
        """A sign-in, or a failed one, of an existing user name, in its tenant's log (a name
        no one has belongs to no tenant: the sign-in throttle deals with those)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(users.c.tenant_id, users.c.user_id).where(users.c.username == username)
            ).first()
            if row is None:
                return
            action = SIGN_IN if ok else SIGN_IN_FAILED
            user_id = row.user_id if ok else None  # a failure is anyone's, not the user's
            record_audit(conn, row.tenant_id, user_id, action, username, {}, address)


def stored_row(row: Any) -> StoredRow:
    """An audit_log row as the chain reads it."""
    fields = ChainedFields(
        row.tenant_id, row.user_id, row.action, row.target, row.address, row.details, row.at
    )
    return StoredRow(row.audit_id, fields, row.prev_hash, row.hash)
