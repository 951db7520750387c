"""The notification centre (/notifications): the user's notifications, unread first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

SEVERITY_OPTIONS = [
    {"label": "All severities", "value": "all"},
    {"label": "Warning and critical", "value": "warning"},
    {"label": "Critical only", "value": "critical"},
]
PERIODS = {"24h": ("Last 24 h", 1), "7d": ("Last 7 d", 7), "30d": ("Last 30 d", 30)}
PERIOD_OPTIONS = [{"label": label, "value": key} for key, (label, _) in PERIODS.items()] + [
    {"label": "All time", "value": "all"}
]
SEVERITY_COLOR = {"critical": "danger", "warning": "warning", "info": "info"}
PAGE_SIZE = 100


def unread_label(unread: int) -> str:
    """The navbar badge's text: empty (hidden) at zero; the same as assets/notify.js."""
    if unread <= 0:
        return ""
    return "99+" if unread > 99 else str(unread)


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(timestamp: str | None) -> datetime | None:
    if not timestamp:
        return None
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def chart_link(metric: str | None, source: str | None, timestamp: str | None) -> str:
    """The /explore view of a series from an hour before a moment to 15 minutes after it
    (the same link as assets/notify.js chartLink)."""
    pairs = [("metric", metric or "")]
    if source:
        pairs.append(("source", source))
    at = parse_time(timestamp)
    if at is not None:
        pairs += [
            ("start", _rfc3339(at - timedelta(hours=1))),
            ("end", _rfc3339(at + timedelta(minutes=15))),
        ]
    return "/explore?" + urlencode(pairs)


def since_of(period: str | None, now: datetime) -> datetime | None:
    """The start of a period choice; None for all time."""
    if period in PERIODS:
        return now - timedelta(days=PERIODS[period][1])
    return None


def when(timestamp: str | None, zone: str = "UTC") -> str:
    """A moment as a table shows it, in the reader's time zone (CONTRACT.md §8), named."""
    at = parse_time(timestamp)
    return at.astimezone(local_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z") if at else ""


def local_zone(zone: str) -> tzinfo:
    """The zone of this name; UTC for a name no longer known (a stored preference)."""
    try:
        return ZoneInfo(zone)
    except (KeyError, ValueError, OSError):
        return UTC


def notifications_page() -> html.Div:
    """The page's frame: filters, the mark-all button and the list the callback fills."""
    filters = dbc.Row(
        [
            dbc.Col(
                dbc.Select(
                    id=ids.NOTIFS_SEVERITY, options=SEVERITY_OPTIONS, value="all", size="sm"
                ),
                xs=12,
                sm="auto",
            ),
            dbc.Col(
                dbc.Select(id=ids.NOTIFS_PERIOD, options=PERIOD_OPTIONS, value="7d", size="sm"),
                xs=12,
                sm="auto",
            ),
            dbc.Col(
                dbc.Button(
                    "Mark all read",
                    id=ids.NOTIFS_READ_ALL,
                    color="secondary",
                    outline=True,
                    size="sm",
                    n_clicks=0,
                ),
                xs="auto",
                className="ms-sm-auto",
            ),
        ],
        className="g-2 mb-3 align-items-center",
    )
    return html.Div(
        [
            dcc.Store(id=ids.NOTIFS_RELOAD, data=0),
            dcc.Store(id={"type": ids.NOTIFY_LAST, "index": "notifications"}),
            html.Div(
                [
                    html.H1("Notifications", className="h4 mb-0 me-auto"),
                    html.Span(id=ids.NOTIFS_SUMMARY, className="text-muted small"),
                ],
                className="d-flex align-items-center gap-2 mb-3 flex-wrap",
            ),
            filters,
            dcc.Loading(html.Div(id=ids.NOTIFS_LIST), type="dot", delay_show=300),
        ],
        className="pulse-notifications",
    )


def _actions(n: dict[str, Any], acknowledged: bool) -> list[Any]:
    out: list[Any] = [
        dcc.Link(
            "Chart",
            href=chart_link(n["metric"], n["source"], n["timestamp"]),
            className="btn btn-link btn-sm px-1",
        )
    ]
    if not n["read"]:
        out.append(
            dbc.Button(
                "Mark read",
                id={"type": ids.NOTIF_READ, "index": n["notification_id"]},
                size="sm",
                color="secondary",
                outline=True,
                n_clicks=0,
            )
        )
    incident = n.get("incident_id")
    if incident and n["state"] == "firing":
        if acknowledged:
            out.append(dbc.Badge("acknowledged", color="light", text_color="dark"))
        else:
            out.append(
                dbc.Button(
                    "Acknowledge",
                    id={"type": ids.NOTIF_ACK, "index": incident},
                    size="sm",
                    color="primary",
                    outline=True,
                    n_clicks=0,
                )
            )
    return out


def notification_item(n: dict[str, Any], acknowledged: bool, zone: str = "UTC") -> Any:
    """One notification: severity and state, message, time, and what can be done with it."""
    resolved = n["state"] == "resolved"
    badges = [
        dbc.Badge(n["severity"], color=SEVERITY_COLOR.get(n["severity"], "secondary")),
        dbc.Badge("resolved" if resolved else "firing", color="success" if resolved else "dark"),
    ]
    if not n["read"]:
        badges.append(dbc.Badge("new", color="primary", pill=True))
    return dbc.ListGroupItem(
        [
            html.Div(
                [
                    html.Div(badges, className="d-flex gap-1"),
                    html.Small(when(n["timestamp"], zone), className="text-muted"),
                ],
                className="d-flex justify-content-between flex-wrap gap-1 mb-1",
            ),
            html.Div(
                n["message"],
                className="pulse-notif-message" + ("" if n["read"] else " fw-semibold"),
            ),
            html.Div(
                _actions(n, acknowledged),
                className="d-flex gap-2 align-items-center flex-wrap mt-1",
            ),
        ],
        className="pulse-notif" + ("" if n["read"] else " pulse-notif-unread"),
    )


def notification_list(
    items: list[dict[str, Any]], acknowledged: set[str], zone: str = "UTC"
) -> Any:
    """The list, or an empty state that says why it is empty."""
    if not items:
        return dbc.Alert(
            [
                html.Strong("No notifications", className="d-block"),
                "Nothing matches these filters. Alerts you are told about appear here; "
                "rules are set up on the ",
                dcc.Link("Alerts", href="/alerts"),
                " page.",
            ],
            color="light",
            className="border",
        )
    return dbc.ListGroup(
        [notification_item(n, n.get("incident_id") in acknowledged, zone) for n in items]
    )
