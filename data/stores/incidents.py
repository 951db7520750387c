"""Incidents and notifications as the API and the pages read them, always of one tenant
(and user), and the user's actions on them: acknowledging an incident, reading a
notification. The rows are written by data/stores/incident_records.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from data.domain.timefmt import iso_datetime

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def notification_doc(row: Any) -> dict[str, Any]:
    """A notification as the API and /ws show it (CONTRACT.md §3)."""
    return {
        "notification_id": row.notification_id,
        "rule_id": row.rule_id,
        "incident_id": row.incident_id,
        "message": row.message,
        "severity": row.severity,
        "state": row.state,
        "metric": row.metric,
        "source": row.source,
        "value": row.value,
        "timestamp": iso_datetime(row.timestamp),
        "read": bool(row.read),
    }


def _incident_doc(row: Any, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.incident_id,
        "incident_key": row.incident_key,
        "rule_id": row.rule_id,
        "rule_name": row.rule_name,
        "cause": row.cause,
        "metric": row.metric,
        "source": row.source,
        "state": row.state,
        "severity": row.severity,
        "message": row.message,
        "value": row.value,
        "resolved_value": row.resolved_value,
        "started_at": iso_datetime(row.started_at),
        "resolved_at": iso_datetime(row.resolved_at),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": iso_datetime(row.acknowledged_at),
        "deliveries": deliveries,
    }


class Incidents:
    """The API's reads of incidents and notifications, always of one tenant (and user)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock  # epoch seconds: when an acknowledgement is recorded

    def find(
        self,
        tenant_id: str,
        rule_id: str | None = None,
        state: str | None = None,
        limit: int = 50,
        offset: int = 0,
        incident_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The tenant's incidents, newest first, each with its outbound deliveries."""
        where = ["i.tenant_id = :t"]
        params: dict[str, Any] = {"t": tenant_id, "limit": limit, "offset": offset}
        for column, value in (("rule_id", rule_id), ("state", state), ("incident_id", incident_id)):
            if value is not None:
                where.append(f"i.{column} = :{column}")
                params[column] = value
        query = text(
            f"""
            SELECT i.*, r.name AS rule_name FROM incidents i
            JOIN alert_rules r ON r.rule_id = i.rule_id
            WHERE {" AND ".join(where)}
            ORDER BY i.started_at DESC, i.incident_id LIMIT :limit OFFSET :offset
            """
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query, params).all()
            ids = [r.incident_id for r in rows]
            deliveries: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
            if ids:
                for d in conn.execute(
                    text(
                        "SELECT * FROM alert_deliveries WHERE incident_id = ANY(:ids)"
                        " ORDER BY created_at, channel, target"
                    ),
                    {"ids": ids},
                ):
                    deliveries[d.incident_id].append(
                        {
                            "id": d.delivery_id,
                            "state": d.state,
                            "channel": d.channel,
                            "target": d.target,
                            "status": d.status,
                            "attempts": d.attempts,
                            "last_error": d.last_error,
                            "sent_at": iso_datetime(d.sent_at),
                            "next_attempt_at": iso_datetime(d.next_attempt_at)
                            if d.status in ("pending", "retrying")
                            else None,
                        }
                    )
        return [_incident_doc(r, deliveries[r.incident_id]) for r in rows]

    def get(self, tenant_id: str, incident_id: str) -> dict[str, Any] | None:
        found = self.find(tenant_id, incident_id=incident_id, limit=1)
        return found[0] if found else None

    def acknowledge(self, tenant_id: str, incident_id: str, user_id: str | None) -> bool:
        """Mark an incident acknowledged (the first acknowledgement stands); False if the
        tenant has no such incident."""
        with self.engine.begin() as conn:
            found = conn.execute(
                text(
                    "UPDATE incidents SET acknowledged_by = coalesce(acknowledged_by, :u),"
                    " acknowledged_at = coalesce(acknowledged_at, :now)"
                    " WHERE tenant_id = :t AND incident_id = :i RETURNING incident_id"
                ),
                {
                    "t": tenant_id,
                    "i": incident_id,
                    "u": user_id,
                    "now": datetime.fromtimestamp(self.clock(), UTC),
                },
            ).scalar_one_or_none()
        return found is not None

    def notifications(
        self,
        tenant_id: str,
        user_id: str,
        *,
        unread_only: bool = False,
        severity: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int, int]:
        """(page, total matching, unread of the user): unread first, newest first.

        `severity` keeps that level and above (warning → warning and critical)."""
        where = ["tenant_id = :t", "user_id = :u"]
        params: dict[str, Any] = {"t": tenant_id, "u": user_id, "limit": limit, "offset": offset}
        if unread_only:
            where.append("NOT read")
        if severity is not None:
            where.append("severity = ANY(:levels)")
            params["levels"] = [s for s, r in SEVERITY_RANK.items() if r >= SEVERITY_RANK[severity]]
        if since is not None:
            where.append("timestamp >= :since")
            params["since"] = since
        if until is not None:
            where.append("timestamp < :until")
            params["until"] = until
        clause = " AND ".join(where)
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT * FROM notifications WHERE {clause}"
                    " ORDER BY read, timestamp DESC, notification_id LIMIT :limit OFFSET :offset"
                ),
                params,
            ).all()
            total = conn.execute(
                text(f"SELECT count(*) FROM notifications WHERE {clause}"), params
            ).scalar_one()
            unread = self._unread(conn, tenant_id, user_id)
        return [notification_doc(r) for r in rows], int(total), unread

    def acknowledged(self, tenant_id: str, incident_ids: list[str]) -> set[str]:
        """Which of these incidents of the tenant are acknowledged."""
        if not incident_ids:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT incident_id FROM incidents WHERE tenant_id = :t"
                    " AND incident_id = ANY(:ids) AND acknowledged_at IS NOT NULL"
                ),
                {"t": tenant_id, "ids": incident_ids},
            )
            return {r.incident_id for r in rows}

    def unread(self, tenant_id: str, user_id: str) -> int:
        """How many of the user's notifications are unread (the navbar badge)."""
        with self.engine.connect() as conn:
            return self._unread(conn, tenant_id, user_id)

    @staticmethod
    def _unread(conn: Connection, tenant_id: str, user_id: str) -> int:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM notifications"
                    " WHERE tenant_id = :t AND user_id = :u AND NOT read"
                ),
                {"t": tenant_id, "u": user_id},
            ).scalar_one()
        )

    def mark_read(
        self, tenant_id: str, user_id: str, notification_id: str
    ) -> tuple[dict[str, Any], int] | None:
        """Mark the user's notification read: (it, unread left); None if not theirs."""
        with self.engine.begin() as conn:
            row = conn.execute(
                text(
                    "UPDATE notifications SET read = true WHERE tenant_id = :t AND user_id = :u"
                    " AND notification_id = :n RETURNING *"
                ),
                {"t": tenant_id, "u": user_id, "n": notification_id},
            ).first()
            if row is None:
                return None
            return notification_doc(row), self._unread(conn, tenant_id, user_id)

    def mark_all_read(self, tenant_id: str, user_id: str) -> int:
        """Mark every notification of the user read; how many changed."""
        with self.engine.begin() as conn:
            result = conn.execute(
                text(
                    "UPDATE notifications SET read = true"
                    " WHERE tenant_id = :t AND user_id = :u AND NOT read"
                ),
                {"t": tenant_id, "u": user_id},
            )
        return int(result.rowcount or 0)
