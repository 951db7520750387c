"""The invitations tab of /admin: invite an address with a role, see the pending
invitations (a new link, revoke), and whether e-mail can go out at all: without an SMTP
server the link is shown to copy, never silently dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

ROLE_OPTIONS = [
    {"label": role.capitalize(), "value": role} for role in ("viewer", "analyst", "admin")
]
TOUCH = "pulse-invite-touch"  # at least 44 px high on a phone (assets/pulse.css)


def invites_tab() -> html.Div:
    """The tab's layout; its callbacks fill the status, the result and the list."""
    form = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("E-mail", html_for=ids.INVITES_EMAIL),
                    dbc.Input(id=ids.INVITES_EMAIL, type="email", placeholder="name@example.com"),
                    html.Div(
                        id=ids.INVITES_EMAIL_ERROR, className="small text-danger", role="alert"
                    ),
                ],
                xs=12,
                md=6,
            ),
            dbc.Col(
                [
                    dbc.Label("Role", html_for=ids.INVITES_ROLE),
                    dbc.Select(id=ids.INVITES_ROLE, options=ROLE_OPTIONS, value="viewer"),
                ],
                xs=7,
                md=3,
            ),
            dbc.Col(
                dbc.Button("Invite", id=ids.INVITES_SEND, color="primary", className="w-100"),
                xs=5,
                md=3,
                className="d-flex align-items-end",
            ),
        ],
        className="g-2 mb-3",
    )
    return html.Div(
        [
            html.H2("Invitations", className="h5"),
            html.Div(id=ids.INVITES_SMTP),
            form,
            html.Div(id=ids.INVITES_RESULT, className="mb-3"),
            html.H3("Pending", className="h6"),
            html.Div(id=ids.INVITES_LIST),
        ],
        id=ids.INVITES_TAB,
    )


def smtp_status(configured: bool, message: str) -> dbc.Alert:
    """Whether invitations are mailed, or must be copied and sent by hand."""
    color = "secondary" if configured else "warning"
    return dbc.Alert(message, color=color, className="py-2 small", id=f"{ids.INVITES_SMTP}-text")


def link_to_copy(made: dict[str, Any], email: str) -> html.Div:
    """The link just made for `email`, with a copy button, and whether it was mailed."""
    said = f"Mailed to {email}." if made.get("mailed") else f"Not mailed: send it to {email}."
    return html.Div(
        [
            dbc.Label("Invitation link (works once)", html_for=ids.INVITES_LINK),
            html.Div(
                [
                    dbc.Input(id=ids.INVITES_LINK, value=made["url"], readonly=True),
                    dcc.Clipboard(
                        target_id=ids.INVITES_LINK,
                        title="Copy link",
                        className="btn btn-light d-flex align-items-center",
                    ),
                ],
                className="d-flex gap-2",
            ),
            html.Div(
                f"{said} Valid until {_when(made['expires_at'])}.", className="small text-muted"
            ),
        ]
    )


def _when(at: Any) -> str:
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def pending_list(invites: list[dict[str, Any]]) -> Any:
    """The pending invitations, each with a new link and revoke."""
    if not invites:
        return html.P("No pending invitations.", className="text-muted small", id="invites-none")
    return dbc.ListGroup([_pending_item(invite) for invite in invites])


def _pending_item(invite: dict[str, Any]) -> dbc.ListGroupItem:
    buttons = html.Div(
        [
            dbc.Button(
                "New link",
                id={"type": ids.INVITE_RESEND, "index": invite["id"]},
                color="light",
                size="sm",
                title="A new link (the old one stops working), mailed when e-mail is set up",
            ),
            dbc.Button(
                "Revoke",
                id={"type": ids.INVITE_REVOKE, "index": invite["id"]},
                color="outline-danger",
                size="sm",
            ),
        ],
        className="d-flex gap-2",
    )
    about = html.Div(
        [
            html.Div(invite["email"], className="fw-semibold text-break"),
            html.Div(
                f"{invite['role']} · until {_when(invite['expires_at'])}",
                className="small text-muted",
            ),
        ]
    )
    return dbc.ListGroupItem(
        [about, buttons],
        className="d-flex flex-wrap justify-content-between align-items-center gap-2",
    )
