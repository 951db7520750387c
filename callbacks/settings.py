"""The /settings page: its content for the signed-in user, and its forms' clientside
callbacks (assets/settings.js), which send each form to the JSON API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State
from sqlalchemy import Engine

from components import ids
from components.settings import SettingsView, settings_page
from data.domain.dashboards import Actor
from data.domain.preferences import time_zones
from data.stores.accounts import User
from data.stores.email_verifications import is_verified
from data.stores.profiles import Profiles

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

PATH = "/settings"


def display_zone(engine: Engine, user: User) -> str:
    """The time zone the user reads times in: theirs, else their organisation's, else UTC."""
    return Profiles(engine).resolved(user)["timezone"]


def settings_content(services: Services, user: User) -> Any:
    """The page as this user sees it now."""
    profiles = Profiles(services.engine)
    actor = Actor(user.tenant_id, user.user_id, user.role)
    view = SettingsView(
        username=user.username,
        email=user.email,
        role=user.role,
        tenant=user.tenant_id,
        own=user.preferences,
        tenant_defaults=profiles.tenant_preferences(user.tenant_id),
        resolved=profiles.resolved(user),
        home=services.dashboards.chosen_home(actor),
        dashboards=[(d.dashboard_id, d.title) for d in services.dashboards.list_for(actor)],
        zones=time_zones(),
        email_verified=is_verified(services.engine, user.user_id),
    )
    return settings_page(view)


def _clientside(app: Dash, name: str, *deps: Any) -> None:
    app.clientside_callback(
        ClientsideFunction("pulseSettings", name), *deps, prevent_initial_call=True
    )


def register(app: Dash) -> None:
    """Attach the page's form callbacks to `app` (all in the browser)."""
    feedback = Output({"type": ids.SET_FEEDBACK, "index": ALL}, "children")
    _clientside(
        app,
        "saveEmail",
        Output(ids.SET_EMAIL_STATUS, "children"),
        feedback,
        Input(ids.SET_EMAIL_SAVE, "n_clicks"),
        State(ids.SET_EMAIL, "value"),
    )
    _clientside(
        app,
        "changePassword",
        Output(ids.SET_PASSWORD_STATUS, "children"),
        Output({"type": ids.SET_FEEDBACK, "index": ALL}, "children", allow_duplicate=True),
        Output(ids.SET_CURRENT, "value"),
        Output(ids.SET_NEW, "value"),
        Input(ids.SET_PASSWORD_SAVE, "n_clicks"),
        State(ids.SET_CURRENT, "value"),
        State(ids.SET_NEW, "value"),
    )
    _clientside(
        app,
        "savePreferences",
        Output(ids.SET_PREFS_STATUS, "children"),
        Output({"type": ids.SET_FEEDBACK, "index": ALL}, "children", allow_duplicate=True),
        Input(ids.SET_PREFS_SAVE, "n_clicks"),
        State(ids.SET_THEME, "value"),
        State(ids.SET_TZ, "value"),
        State(ids.SET_RANGE, "value"),
        State(ids.SET_HOME, "value"),
    )
    _clientside(
        app,
        "saveOrganisation",
        Output(ids.SET_ORG_STATUS, "children"),
        Output({"type": ids.SET_FEEDBACK, "index": ALL}, "children", allow_duplicate=True),
        Input(ids.SET_ORG_SAVE, "n_clicks"),
        State(ids.SET_ORG_THEME, "value"),
        State(ids.SET_ORG_TZ, "value"),
        State(ids.SET_ORG_RANGE, "value"),
    )
