"""The /admin page: a tab per area an admin looks after. TABS is the extension point: a
new area is one (label, tab_id, layout function) row, its callbacks in its own module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components import ids
from components.admin_audit import audit_tab
from components.admin_invites import invites_tab
from components.admin_keys import keys_tab
from components.admin_sources import sources_tab
from components.admin_users import users_tab

AdminTab = tuple[str, str, Callable[[], Any]]
TABS: list[AdminTab] = [
    ("Users", "admin-tab-users", users_tab),
    ("API keys", "admin-tab-keys", keys_tab),
    ("Sources", "admin-tab-sources", sources_tab),
    ("Invitations", "admin-tab-invites", invites_tab),
    ("Audit log", "admin-tab-audit", audit_tab),
]


# /admin/<area>: the page opened on that area's tab
ADMIN_AREAS = {"invitations": "admin-tab-invites", "audit": "admin-tab-audit"}


def admin_page(active_tab: str | None = None) -> html.Div:
    """The page's frame: one tab per row of TABS, each laid out once per visit, the first
    (or `active_tab`) shown."""
    tabs = [
        dbc.Tab(html.Div(layout(), className="pt-3"), label=label, tab_id=tab_id)
        for label, tab_id, layout in TABS
    ]
    return html.Div(
        [
            html.H1("Administration", className="h4 mb-3"),
            dbc.Tabs(
                tabs,
                id=ids.ADMIN_TABS,
                active_tab=active_tab or TABS[0][1],
                className="pulse-admin-tabs",
            ),
        ],
        className="pulse-admin",
    )
