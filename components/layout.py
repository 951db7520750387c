"""The page shell: navbar, page container and URL; pages render into it."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash_extensions import WebSocket

from components import ids

NAV_ITEMS = (
    ("Home", "/"),
    ("Overview", "/overview"),
    ("Dashboards", "/dashboards"),
    ("Explore", "/explore"),
    ("Alerts", "/alerts"),
    ("Notifications", "/notifications"),
    ("Settings", "/settings"),
)


ADMIN_ITEM = ("Admin", "/admin")  # only admins see the link (and the page: callbacks/shell.py)


def navbar(admin: bool = False) -> dbc.Navbar:
    """A navbar that collapses behind a toggler on phones."""
    items = (*NAV_ITEMS, ADMIN_ITEM) if admin else NAV_ITEMS
    links = [dbc.NavItem(dbc.NavLink(label, href=href, active="exact")) for label, href in items]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand([html.Span("●", className="pulse-logo me-2"), "Pulse"], href="/"),
                bell(),
                dbc.NavbarToggler(id=ids.NAVBAR_TOGGLER, n_clicks=0),
                dbc.Collapse(
                    [
                        dbc.Nav(links, navbar=True, className="me-auto"),
                        html.Div(
                            [
                                html.Span(
                                    id=ids.NAV_USER,
                                    className="navbar-text me-3 small text-truncate",
                                ),
                                html.Form(
                                    html.Button(
                                        "Sign out",
                                        className="btn btn-outline-light btn-sm text-nowrap",
                                        type="submit",
                                        id="logout-button",
                                    ),
                                    method="post",
                                    action="/logout",
                                    className="d-inline",
                                ),
                            ],
                            className="d-flex align-items-center py-2 py-md-0",
                        ),
                    ],
                    id=ids.NAVBAR_COLLAPSE,
                    is_open=False,
                    navbar=True,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="md",
        className="mb-3",
    )


def bell() -> dcc.Link:
    """The link to the notification centre with the unread count; outside the collapse so
    phones see it too. The count comes with each page and each pushed notification."""
    return dcc.Link(
        [
            html.Span(className="pulse-bell-icon", **{"aria-hidden": "true"}),
            html.Span("Notifications", className="visually-hidden"),
            dbc.Badge("", id=ids.NAV_UNREAD, color="danger", pill=True, className="pulse-unread"),
        ],
        href="/notifications",
        className="pulse-bell ms-auto me-2 order-md-last ms-md-3",
        title="Notifications",
    )


def notification_toast() -> dbc.Toast:
    """The toast a pushed notification opens (assets/notify.js fills it)."""
    return dbc.Toast(
        [
            html.Div(id=ids.TOAST_BODY, className="mb-2"),
            dcc.Link("Open the chart", id=ids.TOAST_LINK, href="/explore", className="small"),
        ],
        id=ids.TOAST,
        header="Alert",
        icon="warning",
        is_open=False,
        dismissable=True,
        duration=10_000,
        className="pulse-toast",
    )


def unverified_banner(email: str) -> dbc.Alert:
    """What a user whose address is unproven sees on every page, with a way to get the
    link again (a plain form: app/web/account_pages.py throttles it)."""
    again = html.Form(
        html.Button(
            "Send it again",
            type="submit",
            id="verify-again",
            className="btn btn-link btn-sm p-0 ms-1 align-baseline",
        ),
        method="post",
        action="/verify-again",
        className="d-inline",
    )
    return dbc.Alert(
        [
            html.Span(f"Confirm your e-mail address: we sent a link to {email}.", id="verify-text"),
            again,
        ],
        id="verify-banner",
        color="warning",
        className="mx-3 mb-3 py-2 small text-break",
    )


def app_shell(admin: bool = False, unverified_email: str | None = None) -> html.Div:
    """The layout of every page; called per request so each load starts fresh (an admin's
    navbar links to /admin too, an unverified user sees the banner)."""
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh="callback-nav"),
            # One socket per tab for notifications, whichever page shows (pages open their
            # own for points; a notification reaches every socket of its recipient).
            WebSocket(id=ids.SHELL_WS),
            dcc.Store(id=ids.SHELL_CONNECTION, data={"nonce": 0}),
            navbar(admin),
            *([unverified_banner(unverified_email)] if unverified_email else []),
            notification_toast(),
            dbc.Container(id=ids.PAGE, fluid=True, className="pb-4"),
        ]
    )


def not_found(path: str) -> html.Div:
    """The page shown for an unknown path."""
    return html.Div(
        [
            html.H1("Page not found", className="h4"),
            html.P(f"Nothing lives at {path}."),
            dcc.Link("Back to your home", href="/"),
        ],
        className="py-5",
    )
