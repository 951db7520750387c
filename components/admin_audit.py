"""The audit tab of /admin: filters by actor, action and period, the events newest first as
cards (they wrap on a 375 px phone instead of scrolling sideways), "Load more" and an
"Export CSV" link to GET /api/audit/export with the same filter."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

PAGE_SIZE = 50
EXPORT_PATH = "/api/audit/export"
HIDDEN = "d-none"
# The families of actions (prefixes): GET /api/audit filters on any prefix, these are the
# ones a person looks for.
ACTIONS = (
    ("", "All actions"),
    ("auth.", "Sign-ins"),
    ("user.", "Users and roles"),
    ("invite.", "Invitations"),
    ("password.", "Password resets"),
    ("api_key.", "API keys"),
    ("source.", "Sources"),
    ("alert.", "Alert rules"),
    ("dashboard.", "Dashboards"),
    ("embed_token.", "Embed tokens"),
    ("export.", "Exports"),
)
PERIODS = (("now-24h", "Last 24 h"), ("now-7d", "Last 7 days"), ("now-30d", "Last 30 days"))
ALL_TIME = "all"
DEFAULT_PERIOD = "now-7d"
ACTION_COLOR = {"auth.sign_in_failed": "danger", "auth.sign_in": "success"}


def filter_args(
    actor: str | None, action: str | None, period: str | None, before: str | None = None
) -> dict[str, list[str]]:
    """The query parameters of GET /api/audit for what the filters say (a page of PAGE_SIZE,
    after `before` when given)."""
    args = {"limit": [str(PAGE_SIZE)]}
    if actor and actor.strip():
        args["actor"] = [actor.strip()]
    if action:
        args["action"] = [action]
    if period and period != ALL_TIME:
        args["since"] = [period]
    if before:
        args["before"] = [before]
    return args


def export_href(args: dict[str, list[str]]) -> str:
    """The CSV export of the filter: every matching event, so no page parameters."""
    kept = [(name, values[0]) for name, values in args.items() if name not in ("limit", "before")]
    return EXPORT_PATH + ("?" + urlencode(kept) if kept else "")


def _filters() -> dbc.Row:
    """Actor, action family, period, and the export link of what they select."""
    return dbc.Row(
        [
            dbc.Col(
                dbc.Input(
                    id=ids.AUDIT_ACTOR,
                    placeholder="Actor (username)",
                    debounce=True,
                    size="sm",
                    maxLength=64,
                ),
                xs=12,
                sm=4,
                md=3,
            ),
            dbc.Col(
                dbc.Select(
                    id=ids.AUDIT_ACTION,
                    options=[{"label": label, "value": value} for value, label in ACTIONS],
                    value="",
                    size="sm",
                ),
                xs=12,
                sm=4,
                md=3,
            ),
            dbc.Col(
                dbc.Select(
                    id=ids.AUDIT_PERIOD,
                    options=[{"label": label, "value": value} for value, label in PERIODS]
                    + [{"label": "All time", "value": ALL_TIME}],
                    value=DEFAULT_PERIOD,
                    size="sm",
                ),
                xs=12,
                sm=4,
                md=3,
            ),
            dbc.Col(
                html.A(
                    "Export CSV",
                    id=ids.AUDIT_EXPORT,
                    href=EXPORT_PATH,
                    className="btn btn-outline-secondary btn-sm",
                    download="pulse_audit.csv",
                ),
                xs="auto",
                className="ms-md-auto",
            ),
        ],
        className="g-2 mb-3 align-items-center",
    )


def audit_tab() -> html.Div:
    """The tab's frame; its callback (callbacks/admin_audit.py) fills the list."""
    filters = _filters()
    return html.Div(
        [
            dcc.Store(id=ids.AUDIT_NEXT),
            html.H2("Audit log", className="h5 mb-3"),
            filters,
            html.Div(id=ids.AUDIT_MESSAGE),
            dcc.Loading(html.Div(id=ids.AUDIT_LIST, children=[]), type="dot", delay_show=300),
            dbc.Button(
                "Load more",
                id=ids.AUDIT_MORE,
                color="secondary",
                outline=True,
                size="sm",
                n_clicks=0,
                className=HIDDEN,
            ),
        ],
        className="pulse-audit",
    )


def when(at: str) -> str:
    """`2026-12-02T05:08:53.576+00:00` as `2026-12-02 05:08:53 UTC`."""
    return at[:19].replace("T", " ") + " UTC"


def event_card(event: dict[str, Any]) -> html.Div:
    """One event: action and time, who did it to what from where, and the details."""
    color = ACTION_COLOR.get(event["action"], "secondary")
    details = json.dumps(event["details"], sort_keys=True, ensure_ascii=False)
    return html.Div(
        [
            html.Div(
                [
                    dbc.Badge(event["action"], color=color, className="text-wrap text-start"),
                    html.Small(when(event["at"]), className="text-muted"),
                ],
                className="d-flex justify-content-between flex-wrap gap-1 mb-1",
            ),
            html.Div(
                [
                    html.Strong(event["actor"] or "Pulse"),
                    " → ",
                    html.Span(event["target"] or "—"),
                ],
                className="text-break",
            ),
            html.Div(
                [
                    html.Small(f"from {event['ip']}" if event["ip"] else "", className="me-2"),
                    html.Code(details if event["details"] else "", className="small"),
                ],
                className="text-muted text-break",
            ),
        ],
        className="pulse-audit-event border rounded p-2 mb-2",
    )


def empty_state() -> dbc.Alert:
    """What the list shows when nothing matches."""
    return dbc.Alert(
        [html.Strong("No events", className="d-block"), "Nothing matches these filters."],
        color="light",
        className="border",
    )


def refused() -> dbc.Alert:
    """What a user who is not an admin sees instead of the log."""
    return dbc.Alert("Only admins read the audit log.", color="warning")
