"""Incidents, notifications and outbound deliveries in PostgreSQL.

`record` turns one transition of the state machine into rows, in one transaction, so that
either all of an incident state's rows exist or none: the incident (unique `incident_key`;
and at most one open incident per rule and series), one notification per recipient
(unique (incident_id, state, user_id)) and one delivery per channel target (unique
(incident_id, state, channel, target)). Replaying a transition after a crash inserts
nothing and reports nothing new, so nothing is pushed or sent twice.

Recipients (CONTRACT.md §3): every active user of the rule's tenant, whatever the role,
each with their own read state.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from data.domain.alert_replay import replay
from data.domain.alert_rule import RuleDef, Transition
from data.domain.timefmt import iso_datetime, iso_ms, to_datetime
from data.stores.alert_rules import parse_rule, spec_def

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Recorded:
    """What one transition wrote: the incident and the rows that are new this time."""

    incident_id: str | None
    incident_key: str | None  # the key of the incident it belongs to (may be an older one)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # new rows, with user_id
    unread: dict[str, int] = field(default_factory=dict)  # user_id → unread count
    deliveries: int = 0


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


# C901 allowed: one branch per state transition
def record(  # noqa: C901
    conn: Connection, rule: RuleDef, t: Transition, targets: list[tuple[str, str]]
) -> Recorded:
    """Write one transition's rows (see the module doc); `targets` are the rule's outbound
    (channel, target) pairs."""
    base = {"rule": rule.rule_id, "cause": t.cause, "metric": t.metric, "source": t.source}
    if t.state == "firing":
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
        if inserted is None:  # already recorded (a replay), or an open one of this series
            if _by_key(conn, t.incident_key) is not None:
                return Recorded(_by_key(conn, t.incident_key), t.incident_key)
            row = conn.execute(_OPEN_INCIDENT, base).first()
            return Recorded(row.incident_id, row.incident_key) if row else Recorded(None, None)
        incident_id = new_id
    else:
        incident_id = _by_key(conn, t.incident_key) or ""
        if not incident_id:  # the state forgot its key: the series' open incident, if any
            row = conn.execute(_OPEN_INCIDENT, base).first()
            incident_id = row.incident_id if row else ""
        if not incident_id:
            return Recorded(None, None)
        resolved = conn.execute(
            _RESOLVE, {"id": incident_id, "at": to_datetime(t.at_ms), "value": t.value}
        ).scalar_one_or_none()
        if resolved is None:
            return Recorded(incident_id, t.incident_key)  # resolved already: a replay
    out = Recorded(incident_id, t.incident_key)
    state = t.state
    if "in_app" in rule.channels:
        rows = conn.execute(
            _NOTIFY,
            {
                "rule": rule.rule_id,
                "incident": incident_id,
                "message": t.message,
                "severity": rule.severity,
                "state": state,
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
    if targets:
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
        for channel, target in targets:
            added = conn.execute(
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
            out.deliveries += added is not None
    return out


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


# -- reads and the user's actions --------------------------------------------------------


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


# -- preview -------------------------------------------------------------------------------

PREVIEW_MAX_SERIES = 50


def preview_history(
    engine: Engine,
    tenant_id: str,
    metric: str,
    source: str,
    since_ms: int,
    until_ms: int,
    column: str,
) -> dict[str, list[tuple[int, float]]]:
    """Per source, the 1-minute rollup of one metric over [since, until): `column` is
    `max`, `min`, `avg` or `bucket` (presence only), what a rule kind replays best."""
    value = {"max": "max", "min": "min", "avg": "sum / count", "bucket": "count"}[column]
    where = "tenant_id = :t AND metric_type = :m AND bucket >= :since AND bucket < :until"
    params: dict[str, Any] = {
        "t": tenant_id,
        "m": metric,
        "since": to_datetime(since_ms),
        "until": to_datetime(until_ms),
    }
    if source != "*":
        where += " AND source = :s"
        params["s"] = source
    query = text(
        f"""
        SELECT source, bucket, {value} AS v FROM rollup_1m WHERE {where}
          AND source IN (SELECT DISTINCT source FROM rollup_1m WHERE {where}
                         ORDER BY source LIMIT {PREVIEW_MAX_SERIES})
        ORDER BY source, bucket
        """
    )
    out: dict[str, list[tuple[int, float]]] = {}
    with engine.connect() as conn:
        for src, bucket, v in conn.execute(query, params):
            out.setdefault(src, []).append((int(bucket.timestamp() * 1000), float(v)))
    return out


def preview(
    engine: Engine, tenant_id: str, doc: dict[str, Any], now_ms: int, days: int = 7
) -> dict[str, Any]:
    """Replay a rule definition over the last `days` of the 1-minute rollup: when it would
    have fired and resolved, per series. Invalid when the definition is bad."""
    spec = parse_rule({"name": "preview", **doc})
    rule = spec_def(spec, tenant_id)
    # History is per minute: shorter windows are judged at that resolution.
    if rule.kind in ("rate", "spike"):
        rule = dataclasses.replace(rule, window_s=max(rule.window_s, 120.0))
    if rule.kind == "nodata":
        rule = dataclasses.replace(rule, window_s=max(rule.window_s, 60.0))
    column = {"threshold": "min" if rule.op == "<" else "max", "nodata": "bucket"}.get(
        rule.kind, "avg"
    )
    since_ms = now_ms - days * 86_400_000
    history = preview_history(engine, tenant_id, rule.metric, rule.source, since_ms, now_ms, column)
    series = []
    fired = 0
    for source, points in history.items():
        firings = replay(rule, source, points, now_ms)
        fired += len(firings)
        series.append(
            {
                "source": source,
                "points": len(points),
                "firings": [
                    {
                        "fired_at": iso_ms(f.fired_ms),
                        "resolved_at": iso_ms(f.resolved_ms) if f.resolved_ms else None,
                        "value": f.value,
                        "message": f.message,
                    }
                    for f in firings
                ],
            }
        )
    return {
        "from": iso_ms(since_ms),
        "to": iso_ms(now_ms),
        "step": "1m",
        "fired": fired,
        "series": series,
    }
