"""Recording the alert state machine's transitions in PostgreSQL: incidents, notifications
and outbound deliveries.

`record` turns one transition into rows, in one transaction, so that either all of an
incident state's rows exist or none: the incident (unique `incident_key`; and at most one
open incident per rule and series), one notification per recipient (unique (incident_id,
state, user_id)) and one delivery per channel target (unique (incident_id, state, channel,
target)). Replaying a transition after a crash inserts nothing and reports nothing new, so
nothing is pushed or sent twice.

Recipients (CONTRACT.md §3): every active user of the rule's tenant, whatever the role,
each with their own read state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from data.domain.alert_rule import RuleDef, Transition
from data.domain.timefmt import iso_ms, to_datetime
from data.stores.incidents import notification_doc


@dataclass
class Recorded:
    """What one transition wrote: the incident and the rows that are new this time."""

    incident_id: str | None
    incident_key: str | None  # the key of the incident it belongs to (may be an older one)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # new rows, with user_id
    unread: dict[str, int] = field(default_factory=dict)  # user_id → unread count
    deliveries: int = 0


_INSERT_INCIDENT = text(
    """
    INSERT INTO incidents (incident_id, tenant_id, rule_id, incident_key, metric, source,
                           cause, state, value, severity, message, started_at)
    VALUES (:id, :tenant, :rule, :key, :metric, :source, :cause, 'firing', :value,
            :severity, :message, :at)
    ON CONFLICT DO NOTHING
    RETURNING incident_id
    """
)
_OPEN_INCIDENT = text(
    """
    SELECT incident_id, incident_key FROM incidents
    WHERE rule_id = :rule AND cause = :cause AND metric = :metric AND source = :source
      AND state = 'firing'
    """
)
_RESOLVE = text(
    """
    UPDATE incidents SET state = 'resolved', resolved_at = :at, resolved_value = :value
    WHERE incident_id = :id AND state = 'firing'
    RETURNING incident_id
    """
)
_NOTIFY = text(
    """
    INSERT INTO notifications (notification_id, tenant_id, user_id, rule_id, incident_id,
                               message, severity, state, metric, source, value, timestamp)
    SELECT gen_random_uuid()::text, u.tenant_id, u.user_id, :rule, :incident, :message,
           :severity, :state, :metric, :source, :value, :at
    FROM users u WHERE u.tenant_id = :tenant AND u.active
    ON CONFLICT DO NOTHING
    RETURNING notification_id, user_id, rule_id, incident_id, message, severity, state,
              metric, source, value, timestamp, read
    """
)
_UNREAD = text(
    """
    SELECT user_id, count(*) FROM notifications
    WHERE tenant_id = :tenant AND user_id = ANY(:users) AND NOT read GROUP BY user_id
    """
)
_DELIVERY = text(
    """
    INSERT INTO alert_deliveries (delivery_id, tenant_id, incident_id, state, channel, target,
                                  payload)
    VALUES (:id, :tenant, :incident, :state, :channel, :target, CAST(:payload AS jsonb))
    ON CONFLICT DO NOTHING
    RETURNING delivery_id
    """
)


def _by_key(conn: Connection, key: str) -> str | None:
    return conn.execute(
        text("SELECT incident_id FROM incidents WHERE incident_key = :key"), {"key": key}
    ).scalar_one_or_none()


def record(
    conn: Connection, rule: RuleDef, t: Transition, targets: list[tuple[str, str]]
) -> Recorded:
    """Write one transition's rows (see the module doc); `targets` are the rule's outbound
    (channel, target) pairs."""
    found = _open(conn, rule, t) if t.state == "firing" else _resolve(conn, t, rule.rule_id)
    if isinstance(found, Recorded):
        return found  # nothing new: a replay, or no incident to resolve
    out = Recorded(found, t.incident_key)
    if "in_app" in rule.channels:
        _notify(conn, rule, t, out)
    if targets:
        out.deliveries = _queue_deliveries(conn, rule, t, found, targets)
    return out


def _series(rule_id: str, t: Transition) -> dict[str, Any]:
    return {"rule": rule_id, "cause": t.cause, "metric": t.metric, "source": t.source}


def _open(conn: Connection, rule: RuleDef, t: Transition) -> str | Recorded:
    """The id of the incident this firing opens, or what was recorded before: the incident
    of this key (a replay) or the series' incident still open."""
    base = _series(rule.rule_id, t)
    new_id = str(uuid.uuid4())
    inserted = conn.execute(
        _INSERT_INCIDENT,
        {
            **base,
            "id": new_id,
            "tenant": rule.tenant_id,
            "key": t.incident_key,
            "value": t.value,
            "severity": rule.severity,
            "message": t.message,
            "at": to_datetime(t.at_ms),
        },
    ).scalar_one_or_none()
    if inserted is not None:
        return new_id
    if _by_key(conn, t.incident_key) is not None:
        return Recorded(_by_key(conn, t.incident_key), t.incident_key)
    row = conn.execute(_OPEN_INCIDENT, base).first()
    return Recorded(row.incident_id, row.incident_key) if row else Recorded(None, None)


def _resolve(conn: Connection, t: Transition, rule_id: str) -> str | Recorded:
    """The id of the incident this resolution closes, or what was recorded before: nothing
    (no incident to close) or the incident, already resolved (a replay)."""
    incident_id = _by_key(conn, t.incident_key) or ""
    if not incident_id:  # the state forgot its key: the series' open incident, if any
        row = conn.execute(_OPEN_INCIDENT, _series(rule_id, t)).first()
        incident_id = row.incident_id if row else ""
    if not incident_id:
        return Recorded(None, None)
    resolved = conn.execute(
        _RESOLVE, {"id": incident_id, "at": to_datetime(t.at_ms), "value": t.value}
    ).scalar_one_or_none()
    if resolved is None:
        return Recorded(incident_id, t.incident_key)  # resolved already: a replay
    return incident_id


def _notify(conn: Connection, rule: RuleDef, t: Transition, out: Recorded) -> None:
    """One notification per recipient into `out`, with each recipient's unread count."""
    rows = conn.execute(
        _NOTIFY,
        {
            "rule": rule.rule_id,
            "incident": out.incident_id,
            "message": t.message,
            "severity": rule.severity,
            "state": t.state,
            "metric": t.metric,
            "source": t.source,
            "value": t.value,
            "at": to_datetime(t.at_ms),
            "tenant": rule.tenant_id,
        },
    ).all()
    out.notifications = [{**notification_doc(r), "user_id": r.user_id} for r in rows]
    users = [r.user_id for r in rows]
    if users:
        counts = conn.execute(_UNREAD, {"tenant": rule.tenant_id, "users": users}).all()
        out.unread = {user: int(count) for user, count in counts}


def _queue_deliveries(
    conn: Connection,
    rule: RuleDef,
    t: Transition,
    incident_id: str,
    targets: list[tuple[str, str]],
) -> int:
    """One outbound delivery per (channel, target); how many are new."""
    state = t.state
    payload = orjson.dumps(
        {
            "event": f"incident.{state}",
            "idempotency_key": f"{t.incident_key}|{state}",
            "incident_id": incident_id,
            "rule_id": rule.rule_id,
            "rule": rule.name,
            "severity": rule.severity,
            "state": state,
            "message": t.message,
            "metric": t.metric,
            "source": t.source,
            "value": t.value,
            "timestamp": iso_ms(t.at_ms),
            "tenant": rule.tenant_id,
        }
    ).decode()
    added = 0
    for channel, target in targets:
        row = conn.execute(
            _DELIVERY,
            {
                "id": str(uuid.uuid4()),
                "tenant": rule.tenant_id,
                "incident": incident_id,
                "state": state,
                "channel": channel,
                "target": target,
                "payload": payload,
            },
        ).scalar_one_or_none()
        added += row is not None
    return added


def open_incidents(
    conn: Connection, series: list[tuple[str, str]]
) -> dict[tuple[str, str, str, str], tuple[str, int]]:
    """(rule_id, cause, metric, source) → (incident_key, fired at ms) of the open incidents
    of these (rule_id, source) series: only those, through the index of open incidents, so
    the cost follows the series asked about, not how many incidents are open."""
    if not series:
        return {}
    rows = conn.execute(
        text(
            "SELECT i.rule_id, i.cause, i.metric, i.source, i.incident_key, i.started_at"
            " FROM incidents i JOIN unnest(CAST(:rules AS text[]), CAST(:sources AS text[]))"
            " AS wanted(rule_id, source)"
            " ON i.rule_id = wanted.rule_id AND i.source = wanted.source"
            " WHERE i.state = 'firing'"
        ),
        {"rules": [r for r, _ in series], "sources": [s for _, s in series]},
    )
    return {
        (r.rule_id, r.cause, r.metric or "", r.source): (
            r.incident_key,
            int(r.started_at.timestamp() * 1000),
        )
        for r in rows
    }
