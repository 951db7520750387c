"""The Sources tab of /admin: each source's health, create and edit (a dialog whose fields
show the store's per-field refusals), enable/disable, and Test now (one poll, nothing
stored: POST /api/sources/{id}/test from the browser, assets/admin.js)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids
from components.admin_parts import action, stacked_table, when
from data.domain.source_spec import KINDS

STATUS_COLOR = {"up": "success", "pending": "info", "failing": "warning", "down": "danger"}
# The form's fields as the API names them (so a 422 detail finds its field), and how shown
FIELDS = ("name", "kind", "config", "interval_s", "timeout_s", "enabled")


def field_id(name: str) -> str:
    """The id of the form's control of field `name`."""
    return f"{ids.ADMIN_SOURCE_FIELD}-{name}"


def error_id(name: str) -> str:
    """The id of where field `name`'s problem is shown."""
    return f"{ids.ADMIN_SOURCE_ERROR}-{name}"


def _error(name: str) -> html.Div:
    return html.Div(
        id=error_id(name),
        className="small text-danger",
        role="alert",
    )


def _labelled(label: str, name: str, control: Any) -> html.Div:
    return html.Div(
        [dbc.Label(label), control, _error(name)],
        className="mb-2",
    )


def source_form() -> dbc.Modal:
    """The create/edit dialog; the callback fills it and shows each field's problem."""
    body = [
        _labelled("Name", "name", dbc.Input(id=field_id("name"), maxLength=100)),
        _labelled(
            "Kind",
            "kind",
            dbc.Select(id=field_id("kind"), options=[{"label": k, "value": k} for k in KINDS]),
        ),
        _labelled(
            "Config (JSON)",
            "config",
            dbc.Textarea(id=field_id("config"), rows=6, className="font-monospace"),
        ),
        dbc.Row(
            [
                dbc.Col(
                    _labelled(
                        "Every (s)",
                        "interval_s",
                        dbc.Input(id=field_id("interval_s"), type="number"),
                    ),
                    xs=6,
                ),
                dbc.Col(
                    _labelled(
                        "Timeout (s)",
                        "timeout_s",
                        dbc.Input(id=field_id("timeout_s"), type="number"),
                    ),
                    xs=6,
                ),
            ],
            className="g-2",
        ),
        dbc.Switch(id=field_id("enabled"), label="Enabled", value=True),
        _error("enabled"),
        html.Div(id=ids.ADMIN_SOURCE_FORM_ERROR, className="small text-danger", role="alert"),
    ]
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("New source", id=ids.ADMIN_SOURCE_FORM_TITLE)),
            dbc.ModalBody(body),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Cancel",
                        id=ids.ADMIN_SOURCE_CANCEL,
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                    dbc.Button("Save", id=ids.ADMIN_SOURCE_SAVE, color="primary", n_clicks=0),
                ]
            ),
        ],
        id=ids.ADMIN_SOURCE_FORM,
        is_open=False,
        scrollable=True,
    )


def sources_tab() -> html.Div:
    """The tab's frame; the callback fills the list."""
    return html.Div(
        [
            dcc.Store(id=ids.ADMIN_SOURCES_RELOAD, data=0),
            dcc.Store(id=ids.ADMIN_SOURCE_EDITING),
            dbc.Button("New source", id=ids.ADMIN_SOURCE_NEW, color="primary", className="mb-3"),
            html.Div(id=ids.ADMIN_SOURCES_MESSAGE),
            html.Div(id=ids.ADMIN_SOURCE_TEST_RESULT, role="status"),
            html.Div(id=ids.ADMIN_SOURCES_LIST),
            source_form(),
        ]
    )


def _health(source: dict[str, Any]) -> Any:
    health = source["health"]
    status = health["status"]
    return dbc.Badge(status, color=STATUS_COLOR.get(status, "secondary"))


def _last_error(source: dict[str, Any]) -> Any:
    health = source["health"]
    if not health["last_error"]:
        return "—"
    return html.Span(
        [html.Span(when(health["last_error_at"]), className="d-block"), health["last_error"]],
        className="small text-break",
    )


def source_table(sources: list[dict[str, Any]]) -> Any:
    """The sources by name with their health and actions."""
    if not sources:
        return html.P("No sources yet: add one with New source.", className="text-muted small")
    head = ["Name", "Kind", "Health", "Last success", "Last error", "Failures", "Actions"]
    rows = []
    for source in sources:
        sid = source["id"]
        buttons = [
            action("Edit", ids.ADMIN_SOURCE_EDIT, sid),
            action("Disable" if source["enabled"] else "Enable", ids.ADMIN_SOURCE_TOGGLE, sid),
            action("Test now", ids.ADMIN_SOURCE_TEST, sid, "primary"),
        ]
        cells = [
            html.Td(source["name"], className="fw-semibold text-break"),
            html.Td(source["kind"]),
            html.Td(_health(source)),
            html.Td(when(source["health"]["last_success_at"]) or "never", className="small"),
            html.Td(_last_error(source)),
            html.Td(str(source["health"]["consecutive_failures"])),
            html.Td(html.Div(buttons, className="d-flex gap-1 flex-nowrap")),
        ]
        rows.append((f"source-{sid}", cells))
    return stacked_table(head, rows)
