"""The API keys tab of /admin: create (the secret shown once, to copy), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids
from components.admin_parts import action, confirm_dialog, stacked_table, when
from components.notifications import parse_time

SCOPES = [
    {"label": "ingest: write points", "value": "ingest"},
    {"label": "read: query data", "value": "read"},
    {"label": "embed: mint embed links", "value": "embed"},
]
EXPIRIES = [
    {"label": "30 days", "value": "30"},
    {"label": "90 days", "value": "90"},
    {"label": "1 year", "value": "365"},
    {"label": "never", "value": "never"},
]
SECRET_WARNING = "Copy this key now: it is shown this once and cannot be shown again."


def keys_tab() -> html.Div:
    """The tab's frame: the form, the once-shown secret, the list the callback fills."""
    form = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Name", html_for=ids.ADMIN_KEY_NAME),
                    dbc.Input(id=ids.ADMIN_KEY_NAME, maxLength=100, placeholder="e.g. telegraf"),
                    dbc.FormFeedback(id=ids.ADMIN_KEY_NAME_ERROR, type="invalid"),
                ],
                xs=12,
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Scope", html_for=ids.ADMIN_KEY_SCOPE),
                    dbc.Select(id=ids.ADMIN_KEY_SCOPE, options=SCOPES, value="ingest"),
                ],
                xs=12,
                md=3,
            ),
            dbc.Col(
                [
                    dbc.Label("Expires after", html_for=ids.ADMIN_KEY_EXPIRY),
                    dbc.Select(id=ids.ADMIN_KEY_EXPIRY, options=EXPIRIES, value="90"),
                ],
                xs=12,
                md=3,
            ),
            dbc.Col(
                dbc.Button("Create key", id=ids.ADMIN_KEY_CREATE, color="primary", n_clicks=0),
                xs=12,
                md=2,
                className="d-flex align-items-end",
            ),
        ],
        className="g-2 mb-3",
    )
    return html.Div(
        [
            dcc.Store(id=ids.ADMIN_KEYS_RELOAD, data=0),
            dcc.Store(id=ids.ADMIN_KEY_TARGET),
            form,
            secret_panel(),
            html.Div(id=ids.ADMIN_KEYS_MESSAGE),
            html.Div(id=ids.ADMIN_KEYS_LIST),
            confirm_dialog(
                ids.ADMIN_KEY_CONFIRM,
                ids.ADMIN_KEY_CONFIRM_TEXT,
                ids.ADMIN_KEY_CONFIRM_YES,
                ids.ADMIN_KEY_CONFIRM_NO,
                "Revoke key",
            ),
        ]
    )


def secret_panel() -> dbc.Alert:
    """Where a new key's secret appears, read-only with a copy button."""
    return dbc.Alert(
        [
            html.Strong(SECRET_WARNING, className="d-block mb-2"),
            html.Div(
                [
                    dbc.Input(
                        id=ids.ADMIN_KEY_SECRET,
                        readonly=True,
                        value="",
                        className="font-monospace",
                    ),
                    dcc.Clipboard(
                        target_id=ids.ADMIN_KEY_SECRET,
                        title="Copy",
                        className="btn btn-light d-flex align-items-center pulse-touch-44",
                    ),
                ],
                className="d-flex gap-2 align-items-center",
            ),
        ],
        id=ids.ADMIN_KEY_SECRET_PANEL,
        color="warning",
        is_open=False,
        className="mb-3",
    )


def _status(key: dict[str, Any], now: datetime) -> Any:
    if key["revoked"]:
        return dbc.Badge("revoked", color="secondary")
    expires = parse_time(key["expires_at"])
    if expires is not None and expires <= now:
        return dbc.Badge("expired", color="secondary")
    return dbc.Badge("live", color="success")


def key_table(keys: list[dict[str, Any]], now: datetime) -> Any:
    """The keys, newest first: never a secret; unrevoked ones with Revoke."""
    if not keys:
        return html.P("No API keys yet.", className="text-muted small")
    head = ["Name", "Scope", "Status", "Created", "By", "Last used", "Expires", "Actions"]
    rows = []
    for key in keys:
        revoke = (
            [] if key["revoked"] else [action("Revoke", ids.ADMIN_KEY_REVOKE, key["id"], "danger")]
        )
        cells = [
            html.Td(key["name"], className="fw-semibold text-break"),
            html.Td(key["scope"]),
            html.Td(_status(key, now)),
            html.Td(when(key["created_at"]), className="small text-nowrap"),
            html.Td(key["created_by"] or "—"),
            html.Td(when(key["last_used_at"]) or "never", className="small text-nowrap"),
            html.Td(when(key["expires_at"]) or "never", className="small text-nowrap"),
            html.Td(html.Div(revoke, className="d-flex gap-1")),
        ]
        rows.append((f"key-{key['id']}", cells))
    return stacked_table(head, rows)
