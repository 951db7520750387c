"""The Users tab: change a role, enable/disable, delete after a confirm. Disabling or
deleting ends the user's sessions at once; their /ws sockets close at the gateway's next
re-check. The store refuses (409) what would lock the tenant out; the page says why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, Dash, Input, Output, State, no_update

from callbacks.admin import admin_only, fired
from callbacks.binding import bind, signed_in
from components import ids
from components.admin_parts import message
from components.admin_users import user_table
from data.domain.admin_requests import parse_user_change
from data.domain.errors import DomainError
from data.stores.accounts import User
from data.stores.administration import Administration
from data.stores.sessions import SessionRegistry

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


def _act(
    admin: Administration,
    sessions: SessionRegistry,
    user: User,
    trigger: Any,
    value: Any,
    target: str | None,
) -> str:
    """Carry out what was clicked or chosen; the message saying so."""
    tenant, me = user.tenant_id, user.user_id
    kind = trigger.get("type") if isinstance(trigger, dict) else trigger
    if kind == ids.ADMIN_USER_ROLE:
        current = {u.user_id: u for u in admin.users(tenant)}.get(trigger["index"])
        if current is None or current.role == value:
            return ""  # a re-render, not a choice
        role = parse_user_change({"role": value}).role  # a forged role is refused here
        changed = admin.change_user(tenant, me, current.user_id, role=role)
        return f"{changed.username} is now {changed.role}."
    if kind == ids.ADMIN_USER_TOGGLE:
        current = {u.user_id: u for u in admin.users(tenant)}.get(trigger["index"])
        if current is None:
            return "There is no such user."
        changed = admin.change_user(tenant, me, current.user_id, active=not current.active)
        if not changed.active:
            sessions.end_all(changed.user_id)
            return f"{changed.username} is disabled and signed out."
        return f"{changed.username} is enabled."
    if kind == ids.ADMIN_USER_CONFIRM_YES and target:
        gone = admin.delete_user(tenant, me, str(target))
        sessions.end_all(gone.user_id)
        return f"{gone.username} is deleted."
    return ""


def users_view(
    admin: Administration,
    sessions: SessionRegistry,
    user: User,
    trigger: tuple[Any, Any],
    *args: Any,
) -> tuple[Any, Any]:
    """The list after doing what was asked (args: reload, roles, toggles, confirm, target)."""
    admin_only(user)
    target = args[-1]
    try:
        done, color = _act(admin, sessions, user, *trigger, target), "success"
    except DomainError as exc:
        done, color = exc.message, "danger"
    users = [u.as_dict() for u in admin.users(user.tenant_id)]
    return user_table(users, user.user_id), message(done, color)


def ask_delete(
    admin: Administration, user: User, trigger: tuple[Any, Any], *_: Any
) -> tuple[bool, Any, Any]:
    """Open the confirm dialog for the clicked user; close it on either answer."""
    admin_only(user)
    clicked, _value = trigger
    if isinstance(clicked, dict) and clicked.get("type") == ids.ADMIN_USER_DELETE:
        found = {u.user_id: u for u in admin.users(user.tenant_id)}.get(clicked["index"])
        if found is None:
            return False, no_update, None
        text = f"Delete {found.username}? Their sessions end now; this cannot be undone."
        return True, text, found.user_id
    return False, no_update, no_update


def register(app: Dash, services: Services) -> None:
    """Attach the Users tab's callbacks to `app`."""
    admin = Administration(services.accounts, services.clock)
    sessions = SessionRegistry(services.redis, services.settings.redis_prefix)
    at_call = (signed_in, fired)
    app.callback(
        Output(ids.ADMIN_USERS_LIST, "children"),
        Output(ids.ADMIN_USERS_MESSAGE, "children"),
        Input(ids.ADMIN_USERS_RELOAD, "data"),
        Input({"type": ids.ADMIN_USER_ROLE, "index": ALL}, "value"),
        Input({"type": ids.ADMIN_USER_TOGGLE, "index": ALL}, "n_clicks"),
        Input(ids.ADMIN_USER_CONFIRM_YES, "n_clicks"),
        State(ids.ADMIN_USER_TARGET, "data"),
    )(bind(users_view, admin, sessions, at_call=at_call))
    app.callback(
        Output(ids.ADMIN_USER_CONFIRM, "is_open"),
        Output(ids.ADMIN_USER_CONFIRM_TEXT, "children"),
        Output(ids.ADMIN_USER_TARGET, "data"),
        Input({"type": ids.ADMIN_USER_DELETE, "index": ALL}, "n_clicks"),
        Input(ids.ADMIN_USER_CONFIRM_YES, "n_clicks"),
        Input(ids.ADMIN_USER_CONFIRM_NO, "n_clicks"),
        prevent_initial_call=True,
    )(bind(ask_delete, admin, at_call=at_call))
