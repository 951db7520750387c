"""The tenant's latest notifications as an embed's notifications widget shows them: one
line per alert event (a notification is stored once per recipient), with nothing of any
user's (no ids, no read state), and only of the token's locked sources when it locks any
(a notification of another source is a series the embed may not show)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from data.domain.timefmt import iso_datetime

SHOWN = 8

# one row per (incident, state) — the same event reaches every recipient — newest first
_LATEST = """
SELECT message, severity, state, metric, source, value, timestamp FROM (
    SELECT DISTINCT ON (coalesce(incident_id, notification_id), state)
           message, severity, state, metric, source, value, timestamp
    FROM notifications
    WHERE tenant_id = :t {locked}
    ORDER BY coalesce(incident_id, notification_id), state, timestamp DESC
) events
ORDER BY timestamp DESC
LIMIT :limit
"""


def latest_notifications(
    engine: Engine, tenant_id: str, locked_sources: tuple[str, ...], limit: int = SHOWN
) -> list[dict[str, Any]]:
    """The tenant's newest alert events, read-only, within the locked sources if any."""
    params: dict[str, Any] = {"t": tenant_id, "limit": limit}
    locked = ""
    if locked_sources:
        locked = "AND source = ANY(:sources)"
        params["sources"] = list(locked_sources)
    with engine.connect() as conn:
        rows = conn.execute(text(_LATEST.format(locked=locked)), params).all()
    return [
        {
            "message": r.message,
            "severity": r.severity,
            "state": r.state,
            "metric": r.metric,
            "source": r.source,
            "value": r.value,
            "timestamp": iso_datetime(r.timestamp),
        }
        for r in rows
    ]
