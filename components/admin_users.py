"""The Users tab of /admin: each user's role, enable/disable, delete (after a confirm)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids
from components.admin_parts import action, confirm_dialog, stacked_table, when

ROLE_OPTIONS = [{"label": role, "value": role} for role in ("viewer", "analyst", "admin")]


def users_tab() -> html.Div:
    """The tab's frame; the callback fills the list."""
    return html.Div(
        [
            dcc.Store(id=ids.ADMIN_USERS_RELOAD, data=0),
            dcc.Store(id=ids.ADMIN_USER_TARGET),
            html.Div(id=ids.ADMIN_USERS_MESSAGE),
            html.Div(id=ids.ADMIN_USERS_LIST),
            confirm_dialog(
                ids.ADMIN_USER_CONFIRM,
                ids.ADMIN_USER_CONFIRM_TEXT,
                ids.ADMIN_USER_CONFIRM_YES,
                ids.ADMIN_USER_CONFIRM_NO,
                "Delete user",
            ),
        ]
    )


def user_table(users: list[dict[str, Any]], me: str) -> Any:
    """The users with a role select and their actions; the signed-in admin's own row has
    none (an admin never demotes, disables or deletes themselves)."""
    head = ["User", "E-mail", "Role", "Status", "Created", "Actions"]
    rows = []
    for user in users:
        uid, own = user["id"], user["id"] == me
        role = dbc.Select(
            id={"type": ids.ADMIN_USER_ROLE, "index": uid},
            options=ROLE_OPTIONS,
            value=user["role"],
            disabled=own,
            size="sm",
        )
        status = dbc.Badge(
            "active" if user["active"] else "disabled",
            color="success" if user["active"] else "secondary",
        )
        buttons = (
            []
            if own
            else [
                action("Disable" if user["active"] else "Enable", ids.ADMIN_USER_TOGGLE, uid),
                action("Delete", ids.ADMIN_USER_DELETE, uid, "danger"),
            ]
        )
        cells = [
            html.Td(user["username"] + (" (you)" if own else ""), className="fw-semibold"),
            html.Td(user["email"], className="text-break"),
            html.Td(role),
            html.Td(status),
            html.Td(when(user["created_at"]), className="small text-nowrap"),
            html.Td(html.Div(buttons, className="d-flex gap-1 flex-nowrap")),
        ]
        rows.append((f"user-{uid}", cells))
    return stacked_table(head, rows)
