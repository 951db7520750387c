"""The notification centre: list, filter, mark read, acknowledge; reloads on a push."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dash import ALL, Dash, Input, Output, ctx
from flask_login import current_user

from callbacks.settings import display_zone
from components import ids
from components.notifications import PAGE_SIZE, notification_list, since_of, unread_label
from data.stores.incidents import SEVERITY_RANK, Incidents
from data.stores.schema import is_uuid

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


def _clicked() -> bool:
    """Whether the callback ran because a button was really clicked (not re-rendered)."""
    return any(t.get("value") for t in ctx.triggered if t["prop_id"].endswith(".n_clicks"))


def act(incidents: Incidents, tenant: str, user: str) -> None:
    """Do what the clicked button asks, for the signed-in user only."""
    if not _clicked():
        return
    trigger = ctx.triggered_id
    if trigger == ids.NOTIFS_READ_ALL:
        incidents.mark_all_read(tenant, user)
    elif isinstance(trigger, dict) and is_uuid(str(trigger.get("index"))):
        if trigger.get("type") == ids.NOTIF_READ:
            incidents.mark_read(tenant, user, trigger["index"])
        elif trigger.get("type") == ids.NOTIF_ACK:
            incidents.acknowledge(tenant, trigger["index"], user)


def register(app: Dash, services: Services) -> None:
    """Attach the notification centre's callbacks to `app`."""
    incidents = Incidents(services.engine, services.clock)

    @app.callback(
        Output(ids.NOTIFS_LIST, "children"),
        Output(ids.NOTIFS_SUMMARY, "children"),
        Output(ids.NAV_UNREAD, "children", allow_duplicate=True),
        Input(ids.NOTIFS_SEVERITY, "value"),
        Input(ids.NOTIFS_PERIOD, "value"),
        Input({"type": ids.NOTIFY_LAST, "index": ALL}, "data"),
        Input(ids.NOTIFS_READ_ALL, "n_clicks"),
        Input({"type": ids.NOTIF_READ, "index": ALL}, "n_clicks"),
        Input({"type": ids.NOTIF_ACK, "index": ALL}, "n_clicks"),
        prevent_initial_call="initial_duplicate",
    )
    def show(severity: str | None, period: str | None, *_: Any) -> tuple[Any, str, str]:
        user = current_user.user
        act(incidents, user.tenant_id, user.user_id)
        now = datetime.fromtimestamp(services.now_ms() / 1000, UTC)
        items, total, unread = incidents.notifications(
            user.tenant_id,
            user.user_id,
            severity=severity if severity in SEVERITY_RANK else None,
            since=since_of(period, now),
            limit=PAGE_SIZE,
        )
        acked = incidents.acknowledged(
            user.tenant_id, sorted({n["incident_id"] for n in items if n.get("incident_id")})
        )
        shown = f"{len(items)} of {total}" if total > len(items) else str(total)
        summary = f"{unread} unread · {shown} shown"
        zone = display_zone(services.engine, user)
        return notification_list(items, acked, zone), summary, unread_label(unread)
