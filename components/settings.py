"""The /settings page: profile (e-mail), password, preferences (theme, time zone, default
range, home dashboard) and, for admins, the organisation's defaults. The forms talk to
/api/me… and /api/tenant/preferences from the browser (assets/settings.js), so the API's
checks are the page's checks, and each refused field shows the API's own message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

RANGES = (
    ("now-15m", "Last 15 minutes"),
    ("now-1h", "Last hour"),
    ("now-6h", "Last 6 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-7d", "Last 7 days"),
    ("now-30d", "Last 30 days"),
)
THEMES = (("light", "Light"), ("dark", "Dark"), ("system", "Follow the system"))
INHERIT = "inherit"  # a choice of "the organisation's default" (sent as null)
ZONE_HINT = "Charts, tables and exports show times in it."


@dataclass(frozen=True)
class SettingsView:
    """What the page shows: the user, their own stored choices, what applies, the choices."""

    username: str
    email: str
    role: str
    tenant: str
    own: dict[str, Any]  # users.preferences as stored
    tenant_defaults: dict[str, Any]  # tenants.preferences as stored
    resolved: dict[str, str]  # what applies: own, else the organisation's, else Pulse's
    home: str | None
    dashboards: list[tuple[str, str]]  # (id, title) the user sees
    zones: tuple[str, ...]
    email_verified: bool = True  # False: the banner's link is still unopened


def feedback(form: str, field: str) -> html.Div:
    """The place of a field's message (assets/settings.js writes it)."""
    return html.Div(
        id={"type": ids.SET_FEEDBACK, "index": f"{form}-{field}"},
        className="small text-danger mt-1",
        role="alert",
    )


def _range_options(current: str | None, inherit_label: str) -> list[dict[str, str]]:
    options = [{"label": inherit_label, "value": INHERIT}]
    options += [{"label": f"{label} ({value})", "value": value} for value, label in RANGES]
    if current and current not in dict(RANGES):
        options.append({"label": current, "value": current})
    return options


def _theme_options(inherit_label: str | None) -> list[dict[str, str]]:
    options = [{"label": label, "value": value} for value, label in THEMES]
    return ([{"label": inherit_label, "value": INHERIT}] if inherit_label else []) + options


def _field(label: str, control: Any, form: str, name: str, hint: str = "") -> html.Div:
    parts = [dbc.Label(label, className="fw-semibold mb-1"), control]
    if hint:
        parts.append(html.Div(hint, className="form-text"))
    return html.Div([*parts, feedback(form, name)], className="mb-3")


def _status(status_id: str) -> html.Div:
    return html.Div(id=status_id, className="small mt-2", role="status")


def _unconfirmed(view: SettingsView) -> str:
    if view.email_verified:
        return ""
    return "Not confirmed yet: open the link we sent to this address."


def profile_card(view: SettingsView) -> dbc.Card:
    """Who the user is, and their e-mail address to change."""
    email = dbc.Input(id=ids.SET_EMAIL, type="email", value=view.email, maxLength=254)
    return dbc.Card(
        [
            dbc.CardHeader("Profile"),
            dbc.CardBody(
                [
                    html.P(
                        [html.Strong(view.username), f" · {view.role} · {view.tenant}"],
                        className="mb-3 text-break",
                    ),
                    _field("E-mail", email, "profile", "email", _unconfirmed(view)),
                    dbc.Button("Save e-mail", id=ids.SET_EMAIL_SAVE, color="primary"),
                    _status(ids.SET_EMAIL_STATUS),
                ]
            ),
        ],
        className="mb-3",
    )


def password_card() -> dbc.Card:
    """A password change, which asks for the current password."""
    current = dbc.Input(id=ids.SET_CURRENT, type="password", autocomplete="current-password")
    new = dbc.Input(id=ids.SET_NEW, type="password", autocomplete="new-password")
    hint = "At least 8 characters. Your other sessions are signed out."
    return dbc.Card(
        [
            dbc.CardHeader("Password"),
            dbc.CardBody(
                [
                    _field("Current password", current, "password", "current"),
                    _field("New password", new, "password", "new", hint),
                    dbc.Button("Change password", id=ids.SET_PASSWORD_SAVE, color="primary"),
                    _status(ids.SET_PASSWORD_STATUS),
                ]
            ),
        ],
        className="mb-3",
    )


def _zone_dropdown(control_id: str, value: str | None, placeholder: str, zones: tuple) -> Any:
    return dcc.Dropdown(
        id=control_id,
        options=list(zones),
        value=value,
        searchable=True,
        clearable=True,
        placeholder=placeholder,
    )


def preferences_card(view: SettingsView) -> dbc.Card:
    """Theme, time zone, default range and home dashboard; unset ones follow the
    organisation's defaults, which the labels name."""
    org = view.tenant_defaults
    org_theme = dict(THEMES).get(org.get("theme") or "light", "Light")
    org_zone = org.get("timezone") or "UTC"
    org_range = org.get("default_range") or "now-6h"
    theme = dbc.RadioItems(
        id=ids.SET_THEME,
        options=_theme_options(f"Organisation default ({org_theme})"),
        value=view.own.get("theme") or INHERIT,
    )
    zone = _zone_dropdown(
        ids.SET_TZ, view.own.get("timezone"), f"Organisation default ({org_zone})", view.zones
    )
    span = dbc.Select(
        id=ids.SET_RANGE,
        options=_range_options(
            view.own.get("default_range"), f"Organisation default ({org_range})"
        ),
        value=view.own.get("default_range") or INHERIT,
    )
    homes = [{"label": "The organisation's home", "value": INHERIT}]
    homes += [{"label": title, "value": dashboard_id} for dashboard_id, title in view.dashboards]
    home = dbc.Select(id=ids.SET_HOME, options=homes, value=view.home or INHERIT)
    return dbc.Card(
        [
            dbc.CardHeader("Preferences"),
            dbc.CardBody(
                [
                    _field("Theme", theme, "preferences", "theme"),
                    _field(
                        "Time zone",
                        zone,
                        "preferences",
                        "timezone",
                        "Charts, tables and exports show times in it.",
                    ),
                    _field("Default time range", span, "preferences", "default_range"),
                    _field("Home dashboard", home, "preferences", "home_dashboard"),
                    dbc.Button("Save preferences", id=ids.SET_PREFS_SAVE, color="primary"),
                    _status(ids.SET_PREFS_STATUS),
                ]
            ),
        ],
        className="mb-3",
    )


def organisation_card(view: SettingsView) -> dbc.Card:
    """The organisation's defaults (admins): what a user without a choice gets."""
    org = view.tenant_defaults
    theme = dbc.RadioItems(
        id=ids.SET_ORG_THEME,
        options=_theme_options("Pulse's default (Light)"),
        value=org.get("theme") or INHERIT,
    )
    zone = _zone_dropdown(ids.SET_ORG_TZ, org.get("timezone"), "Pulse's default (UTC)", view.zones)
    span = dbc.Select(
        id=ids.SET_ORG_RANGE,
        options=_range_options(org.get("default_range"), "Pulse's default (now-6h)"),
        value=org.get("default_range") or INHERIT,
    )
    return dbc.Card(
        [
            dbc.CardHeader("Organisation defaults"),
            dbc.CardBody(
                [
                    html.P(
                        "Everyone in the organisation who has not chosen their own gets these.",
                        className="small text-body-secondary",
                    ),
                    _field("Theme", theme, "organisation", "theme"),
                    _field("Time zone", zone, "organisation", "timezone"),
                    _field("Default time range", span, "organisation", "default_range"),
                    dbc.Button("Save organisation defaults", id=ids.SET_ORG_SAVE, color="primary"),
                    _status(ids.SET_ORG_STATUS),
                ]
            ),
        ],
        className="mb-3",
    )


def settings_page(view: SettingsView) -> html.Div:
    """The whole page: two columns from md up, one on phones."""
    left = [profile_card(view), password_card()]
    right = [preferences_card(view)]
    if view.role == "admin":
        right.append(organisation_card(view))
    return html.Div(
        [
            html.H1("Settings", className="h4 mb-3"),
            # preferences first on phones, on the right from md up
            dbc.Row(
                [
                    dbc.Col(right, md={"size": 7, "order": 2}, lg=6),
                    dbc.Col(left, md={"size": 5, "order": 1}, lg=4),
                ]
            ),
        ],
        className="pulse-settings",
    )
