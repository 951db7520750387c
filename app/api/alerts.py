"""/api/alerts, /api/incidents and /api/notifications (CONTRACT.md §3 "Alerts and
notifications").

Rules: everyone of the tenant reads them (read keys too); analysts and admins write them
(the webhook secret is shown to them only). Incidents: read by everyone of the tenant; any
signed-in user may acknowledge one (it changes no configuration, and the notification
centre offers it to every recipient). Notifications are a user's own: they need a signed-in
user (a read key has none, and gets 403). Another tenant's rule, incident or notification
answers 404. A bad definition answers 422 with one `{"field", "message"}` detail per field.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from app.api.bodies import json_body
from app.api.definitions import (
    MAX_INCIDENTS,
    MAX_NOTIFICATIONS,
    MAX_OFFSET,
    MAX_SILENCE_S,
    PREVIEW_DAYS,
    AllRead,
    Incident,
    IncidentList,
    IncidentsParams,
    NotificationRead,
    Notifications,
    NotificationsParams,
    PreviewAnswer,
    Rule,
    RulePreview,
    Rules,
    Silence,
)
from app.api.document import Body, Operation, documented
from app.errors import ApiError
from app.outbound import outbound_policy
from app.web.auth import Principal, principal, services
from data.domain.data_query import parse_time_ms
from data.domain.errors import Invalid, NotFound
from data.domain.rule_spec import RuleSpec
from data.domain.timefmt import to_datetime
from data.stores.alert_rules import AlertRules
from data.stores.incidents import SEVERITY_RANK, Incidents
from data.stores.rule_preview import preview
from data.stores.schema import is_uuid

bp = Blueprint("alerts", __name__)
MAX_SILENCE_MS = MAX_SILENCE_S * 1000
RULE_VIEWS = ("get_rule", "update_rule", "silence_rule", "delete_rule")  # of a rule's id


def _rules() -> AlertRules:
    svc = services()
    return AlertRules(
        svc.engine, svc.redis, svc.settings.redis_prefix, outbound_policy(svc.settings), svc.clock
    )


def _incidents() -> Incidents:
    return Incidents(services().engine, services().clock)


def _user_id(who: Principal) -> str | None:
    return who.user.user_id if who.user else None


def _editor(who: Principal) -> bool:
    return who.user is not None and who.user.may("analyst")


def _bad_arg(name: str, message: str) -> Invalid:
    """A refused query parameter: the message names it, the detail says what it must be."""
    return Invalid([{"field": name, "message": message}], "query", f"{name} {message}")


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise _bad_arg(name, f"must be an integer in {low}..{high}")
    return value


def _time_arg(name: str, now_ms: int) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    ts_ms = parse_time_ms(raw, now_ms)
    if ts_ms is None:
        raise _bad_arg(name, "must be RFC 3339, epoch seconds, or relative: now-15m, now-7d")
    return to_datetime(ts_ms)


# -- rules ---------------------------------------------------------------------------------


@bp.get("/alerts")
@documented(Operation({200: Rules}))
def list_rules() -> Response:
    """The tenant's rules, by name."""
    who = principal(scope="read")
    rules = _rules().of_tenant(who.tenant_id)
    return jsonify({"alerts": [r.as_dict(_editor(who)) for r in rules]})


@bp.post("/alerts")
@documented(
    Operation(
        {201: Rule},
        body=RuleSpec,
        refusals=(409,),
        links={f"api.alerts.{view}": "rule_id" for view in RULE_VIEWS},
    )
)
def create_rule() -> tuple[Response, int]:
    """Add a rule (analysts, admins); it is evaluated from the next batch on."""
    who = principal(role="analyst")
    rule = _rules().create(who.tenant_id, json_body(), _user_id(who))
    return jsonify(rule.as_dict(with_secret=True)), 201


@bp.post("/alerts/preview")
@documented(Operation({200: PreviewAnswer}, body=Body(RulePreview, ("name",))))
def preview_rule() -> Response:
    """Replay a rule definition over the last 7 days of the 1-minute rollup: when it would
    have fired and resolved, per series (analysts, admins)."""
    who = principal(role="analyst")
    doc = json_body()
    days = doc.pop("days", PREVIEW_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= PREVIEW_DAYS:
        raise Invalid.field("days", f"must be an integer in 1..{PREVIEW_DAYS}", "rule")
    found = preview(services().engine, who.tenant_id, doc, services().now_ms(), days)
    return jsonify(found)


@bp.get("/alerts/<rule_id>")
@documented(Operation({200: Rule}, refusals=(404,)))
def get_rule(rule_id: str) -> Response:
    """One rule."""
    who = principal(scope="read")
    rule = _rules().get(who.tenant_id, rule_id)
    if rule is None:
        raise NotFound("alert rule")
    return jsonify(rule.as_dict(_editor(who)))


@bp.put("/alerts/<rule_id>")
@documented(Operation({200: Rule}, body=Body(RuleSpec, "all", "RuleChange"), refusals=(404,)))
def update_rule(rule_id: str) -> Response:
    """Change a rule; fields left out keep their value (analysts, admins)."""
    who = principal(role="analyst")
    rule = _rules().update(who.tenant_id, rule_id, json_body(), _user_id(who))
    if rule is None:
        raise NotFound("alert rule")
    return jsonify(rule.as_dict(with_secret=True))


@bp.delete("/alerts/<rule_id>")
@documented(Operation({204: None}, refusals=(404,)))
def delete_rule(rule_id: str) -> tuple[str, int]:
    """Remove a rule with its incidents (analysts, admins)."""
    who = principal(role="analyst")
    if not _rules().delete(who.tenant_id, rule_id, _user_id(who)):
        raise NotFound("alert rule")
    return "", 204


@bp.post("/alerts/<rule_id>/silence")
@documented(Operation({200: Rule}, body=Silence, refusals=(404,)))
def silence_rule(rule_id: str) -> Response:
    """Silence a rule until `until` (RFC 3339, epoch seconds or now+2h), or for `for_s`
    seconds; `{"until": null}` lifts it (analysts, admins)."""
    who = principal(role="analyst")
    doc = json_body()
    now_ms = services().now_ms()
    until: datetime | None
    if "for_s" in doc:
        seconds = doc["for_s"]
        if (
            not isinstance(seconds, int | float)
            or isinstance(seconds, bool)
            or not (0 < seconds * 1000 <= MAX_SILENCE_MS)
        ):
            message = "must be a number of seconds, at most a year"
            raise Invalid.field("for_s", message, "silence")
        until = to_datetime(now_ms + int(seconds * 1000))
    elif "until" in doc:
        raw = doc["until"]
        if raw is None:
            until = None
        else:
            ts_ms = parse_time_ms(str(raw), now_ms) if isinstance(raw, str | int | float) else None
            if ts_ms is None or not now_ms < ts_ms <= now_ms + MAX_SILENCE_MS:
                message = "must be a time within the next year"
                raise Invalid.field("until", message, "silence")
            until = to_datetime(ts_ms)
    else:
        message = "give until (a time, or null) or for_s"
        raise Invalid.field("until", message, "silence")
    rule = _rules().silence(who.tenant_id, rule_id, until, _user_id(who))
    if rule is None:
        raise NotFound("alert rule")
    return jsonify(rule.as_dict(with_secret=True))


# -- incidents -----------------------------------------------------------------------------


@bp.get("/incidents")
@documented(Operation({200: IncidentList}, query=IncidentsParams))
def list_incidents() -> Response:
    """The tenant's incidents, newest first, with their webhook/e-mail deliveries."""
    who = principal(scope="read")
    state = request.args.get("state")
    if state not in (None, "firing", "resolved"):
        raise _bad_arg("state", "must be firing or resolved")
    limit = _int_arg("limit", 50, 1, MAX_INCIDENTS)
    offset = _int_arg("offset", 0, 0, MAX_OFFSET)
    rule_id = request.args.get("rule_id")
    if rule_id is not None and not is_uuid(rule_id):  # checked first: a bad page is a 422
        return jsonify({"incidents": []})
    found = _incidents().find(
        who.tenant_id, rule_id=rule_id, state=state, limit=limit, offset=offset
    )
    return jsonify({"incidents": found})


@bp.get("/incidents/<incident_id>")
@documented(Operation({200: Incident}, refusals=(404,)))
def get_incident(incident_id: str) -> Response:
    """One incident with its deliveries."""
    who = principal(scope="read")
    found = _incidents().get(who.tenant_id, incident_id) if is_uuid(incident_id) else None
    if found is None:
        raise NotFound("incident")
    return jsonify(found)


@bp.post("/incidents/<incident_id>/ack")
@documented(Operation({200: Incident}, refusals=(404,)))
def acknowledge_incident(incident_id: str) -> Response:
    """Acknowledge an incident (any signed-in user of the tenant; the first one stands)."""
    who = principal()
    incidents = _incidents()
    if not is_uuid(incident_id) or not incidents.acknowledge(
        who.tenant_id, incident_id, _user_id(who)
    ):
        raise NotFound("incident")
    found = incidents.get(who.tenant_id, incident_id)
    return jsonify(found)


# -- notifications -------------------------------------------------------------------------


def _recipient() -> tuple[str, str]:
    who = principal()
    if who.user is None:
        raise ApiError(403, "forbidden", "notifications belong to users: sign in")
    return who.tenant_id, who.user.user_id


@bp.get("/notifications")
@documented(Operation({200: Notifications}, query=NotificationsParams))
def list_notifications() -> Response:
    """The caller's notifications: unread first, then newest; filters `unread=1`,
    `severity` (that level and above), `since`/`until`; paging `limit`/`offset`."""
    tenant_id, user_id = _recipient()
    severity = request.args.get("severity")
    if severity is not None and severity not in SEVERITY_RANK:
        raise _bad_arg("severity", "must be info, warning or critical")
    unread = request.args.get("unread", "").lower() in ("1", "true", "yes")
    now_ms = services().now_ms()
    page, total, unread_count = _incidents().notifications(
        tenant_id,
        user_id,
        unread_only=unread,
        severity=severity,
        since=_time_arg("since", now_ms),
        until=_time_arg("until", now_ms),
        limit=_int_arg("limit", 50, 1, MAX_NOTIFICATIONS),
        offset=_int_arg("offset", 0, 0, MAX_OFFSET),
    )
    return jsonify({"notifications": page, "total": total, "unread": unread_count})


@bp.post("/notifications/<notification_id>/read")
@documented(Operation({200: NotificationRead}, refusals=(404,)))
def read_notification(notification_id: str) -> Response:
    """Mark one of the caller's notifications read."""
    tenant_id, user_id = _recipient()
    found = (
        _incidents().mark_read(tenant_id, user_id, notification_id)
        if is_uuid(notification_id)
        else None
    )
    if found is None:
        raise NotFound("notification")
    doc, unread = found
    return jsonify({"notification": doc, "unread": unread})


@bp.post("/notifications/read-all")
@documented(Operation({200: AllRead}))
def read_all_notifications() -> Response:
    """Mark every notification of the caller read."""
    tenant_id, user_id = _recipient()
    changed = _incidents().mark_all_read(tenant_id, user_id)
    return jsonify({"marked": changed, "unread": 0})
