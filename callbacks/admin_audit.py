"""The audit tab of /admin: reads the tenant's audit log for admins, a page at a time, and
refuses everyone else (the callback is reachable by any signed-in user who posts to it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, Patch, State

from callbacks.binding import bind, signed_in, triggered_id
from components import ids
from components.admin_audit import (
    HIDDEN,
    empty_state,
    event_card,
    export_href,
    filter_args,
    refused,
)
from data.domain.audit_chain import parse_audit_filter
from data.domain.errors import Invalid
from data.stores.accounts import User
from data.stores.audit import AuditLog

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

Answer = tuple[Any, str | None, str, str, Any]  # list, next cursor, more's class, href, message


def show(
    services: Services,
    user: User,
    trigger: Any,
    actor: str | None,
    action: str | None,
    period: str | None,
    _more: int | None,
    cursor: str | None,
) -> Answer:
    """The events of the filters (the next page appended when "Load more" was clicked)."""
    if not user.may("admin"):
        return [], None, HIDDEN, "", refused()
    more = trigger == ids.AUDIT_MORE and bool(cursor)
    args = filter_args(actor, action, period, cursor if more else None)
    try:
        wanted = parse_audit_filter(args, services.now_ms())
    except Invalid as exc:
        return [], None, HIDDEN, export_href({}), dbc.Alert(exc.message, color="warning")
    events, after = AuditLog(services.engine).page(user.tenant_id, wanted)
    cards = [event_card(event.as_dict()) for event in events]
    if more:
        appended = Patch()
        appended.extend(cards)
        listed: Any = appended
    else:
        listed = cards or [empty_state()]
    return listed, after, "" if after else HIDDEN, export_href(args), None


def register(app: Dash, services: Services) -> None:
    """Attach the audit tab's callback to `app`."""
    app.callback(
        Output(ids.AUDIT_LIST, "children"),
        Output(ids.AUDIT_NEXT, "data"),
        Output(ids.AUDIT_MORE, "className"),
        Output(ids.AUDIT_EXPORT, "href"),
        Output(ids.AUDIT_MESSAGE, "children"),
        Input(ids.AUDIT_ACTOR, "value"),
        Input(ids.AUDIT_ACTION, "value"),
        Input(ids.AUDIT_PERIOD, "value"),
        Input(ids.AUDIT_MORE, "n_clicks"),
        State(ids.AUDIT_NEXT, "data"),
    )(bind(show, services, at_call=(signed_in, triggered_id)))
