"""The audit log: who changed what, written in the transaction of the change itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert

from data.stores.schema_accounts import audit_log


def record_audit(
    conn: Connection,
    tenant_id: str,
    user_id: str | None,
    action: str,
    target: str,
    details: dict[str, Any],
) -> None:
    """Add one audit entry (e.g. `source.update` of `orders-db`, what changed in `details`)."""
    conn.execute(
        insert(audit_log).values(
            tenant_id=tenant_id, user_id=user_id, action=action, target=target, details=details
        )
    )
