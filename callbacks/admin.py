"""/admin's callbacks: each tab's module registers its own; every callback refuses anyone
but an admin (a forged request from a lesser role changes nothing: PreventUpdate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ctx
from dash.exceptions import PreventUpdate

from data.stores.accounts import User

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from dash import Dash

    from app.services import Services


def admin_only(user: User) -> None:
    """Refuse, by doing nothing, a callback for anyone but an admin."""
    if not user.may("admin"):
        raise PreventUpdate


def fired() -> tuple[Any, Any]:
    """(id, value) of what really changed: a click with a count, a select's new value;
    (None, None) for a first render (a fresh button's 0 clicks, an empty store)."""
    if not ctx.triggered:
        return None, None
    value = ctx.triggered[0].get("value")
    return (ctx.triggered_id, value) if value else (None, None)


def register(app: Dash, services: Services) -> None:
    """Attach every /admin tab's callbacks to `app`."""
    from callbacks import admin_keys, admin_sources, admin_users

    admin_users.register(app, services)
    admin_keys.register(app, services)
    admin_sources.register(app, services)
