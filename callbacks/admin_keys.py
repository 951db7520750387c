"""The API keys tab: create (the secret shown once, hidden again at the next action),
list with last use, revoke after a confirm (refused by the API within 30 s)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dash import ALL, Dash, Input, Output, State, no_update

from callbacks.admin import admin_only, fired
from callbacks.binding import bind, signed_in
from components import ids
from components.admin_keys import key_table
from components.admin_parts import message
from data.domain.admin_requests import parse_key_request
from data.domain.errors import DomainError, Invalid
from data.stores.accounts import User
from data.stores.administration import Administration
from data.stores.email_verifications import UNVERIFIED, is_verified

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

NOTHING_NEW = (False, "", False, "")  # secret panel shut and empty, the name field fine


def _days(expiry: Any) -> Any:
    """The select's choice as the API's expires_in_days; anything forged is passed on as it
    is, for the check to name."""
    if expiry == "never":
        return None
    return int(expiry) if isinstance(expiry, str) and expiry.isdigit() else expiry


def _create(
    admin: Administration, user: User, name: Any, scope: Any, expiry: Any
) -> tuple[Any, ...]:
    """(panel open, secret, name invalid, name problem, message, colour) of a create."""
    doc = {
        "name": name or "",
        "scope": scope,
        "expires_in_days": _days(expiry),
    }
    try:
        request = parse_key_request(doc)
    except Invalid as exc:
        problems = {d["field"]: d["message"] for d in exc.details}
        others = "; ".join(f"{f}: {m}" for f, m in problems.items() if f != "name")
        return False, "", "name" in problems, problems.get("name", ""), others, "danger"
    if not is_verified(admin.engine, user.user_id):  # as POST /api/keys
        return False, "", False, "", UNVERIFIED, "danger"
    entry, secret = admin.create_key(
        user.tenant_id, user.user_id, request.name, request.scope, request.expires_in_days
    )
    return True, secret, False, "", f"Key {entry.name} created.", "success"


def keys_view(
    admin: Administration, user: User, trigger: tuple[Any, Any], *args: Any
) -> tuple[Any, ...]:
    """The list after doing what was asked (args: reload, create, confirm; name, scope,
    expiry, target)."""
    admin_only(user)
    name, scope, expiry, target = args[-4:]
    clicked, _value = trigger
    outcome: tuple[Any, ...] = (*NOTHING_NEW, "", "success")
    try:
        if clicked == ids.ADMIN_KEY_CREATE:
            outcome = _create(admin, user, name, scope, expiry)
        elif clicked == ids.ADMIN_KEY_CONFIRM_YES and target:
            revoked = admin.revoke_key(user.tenant_id, user.user_id, str(target))
            outcome = (*NOTHING_NEW, f"Key {revoked.name} is revoked.", "success")
    except DomainError as exc:
        outcome = (*NOTHING_NEW, exc.message, "danger")
    now = datetime.fromtimestamp(admin.clock(), UTC)
    keys = [k.as_dict() for k in admin.keys(user.tenant_id)]
    *form, said, color = outcome
    return (key_table(keys, now), *form, message(said, color))


def ask_revoke(
    admin: Administration, user: User, trigger: tuple[Any, Any], *_: Any
) -> tuple[bool, Any, Any]:
    """Open the confirm dialog for the clicked key; close it on either answer."""
    admin_only(user)
    clicked, _value = trigger
    if isinstance(clicked, dict) and clicked.get("type") == ids.ADMIN_KEY_REVOKE:
        found = {k.key_id: k for k in admin.keys(user.tenant_id)}.get(clicked["index"])
        if found is None:
            return False, no_update, None
        text = f"Revoke {found.name}? Requests with it are refused within 30 seconds."
        return True, text, found.key_id
    return False, no_update, no_update


def register(app: Dash, services: Services) -> None:
    """Attach the API keys tab's callbacks to `app`."""
    admin = Administration(services.accounts, services.clock)
    at_call = (signed_in, fired)
    app.callback(
        Output(ids.ADMIN_KEYS_LIST, "children"),
        Output(ids.ADMIN_KEY_SECRET_PANEL, "is_open"),
        Output(ids.ADMIN_KEY_SECRET, "value"),
        Output(ids.ADMIN_KEY_NAME, "invalid"),
        Output(ids.ADMIN_KEY_NAME_ERROR, "children"),
        Output(ids.ADMIN_KEYS_MESSAGE, "children"),
        Input(ids.ADMIN_KEYS_RELOAD, "data"),
        Input(ids.ADMIN_KEY_CREATE, "n_clicks"),
        Input(ids.ADMIN_KEY_CONFIRM_YES, "n_clicks"),
        State(ids.ADMIN_KEY_NAME, "value"),
        State(ids.ADMIN_KEY_SCOPE, "value"),
        State(ids.ADMIN_KEY_EXPIRY, "value"),
        State(ids.ADMIN_KEY_TARGET, "data"),
    )(bind(keys_view, admin, at_call=at_call))
    app.callback(
        Output(ids.ADMIN_KEY_CONFIRM, "is_open"),
        Output(ids.ADMIN_KEY_CONFIRM_TEXT, "children"),
        Output(ids.ADMIN_KEY_TARGET, "data"),
        Input({"type": ids.ADMIN_KEY_REVOKE, "index": ALL}, "n_clicks"),
        Input(ids.ADMIN_KEY_CONFIRM_YES, "n_clicks"),
        Input(ids.ADMIN_KEY_CONFIRM_NO, "n_clicks"),
        prevent_initial_call=True,
    )(bind(ask_revoke, admin, at_call=at_call))
