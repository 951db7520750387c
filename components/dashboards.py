"""The dashboards pages: the list (/dashboards) and one dashboard (/dashboards/{id}) with its
grid of widgets, edit toolbar, conflict choice and the side panel editing a widget."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash_extensions import WebSocket
from dash_snap_grid import ResponsiveGrid

from components import ids
from components.dashboard_embed import embed_button, embed_modal
from components.notifications import local_zone
from data.domain.dashboard_edits import PALETTE
from data.domain.dashboards import AGGS, WIDGET_TYPES
from data.stores.dashboard_rows import DashboardSummary

# The grid: 12 columns from a tablet's width up, one stacked column on phones.
BREAKPOINTS = {"lg": 768, "xxs": 0}
COLS = {"lg": 12, "xxs": 1}
ROW_HEIGHT = 60
OWN_RANGE = "dashboard"  # the select's value for "no range of my own"
MY_RANGES = (
    (OWN_RANGE, "Its own range"),
    ("now-15m", "Last 15 min"),
    ("now-1h", "Last hour"),
    ("now-6h", "Last 6 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-7d", "Last 7 days"),
)
PANEL_FIELDS = (
    "title",
    "type",
    "metric",
    "source",
    "agg",
    "step",
    "live",
    "phone_order",
    "phone_hidden",
)


# -- the list -------------------------------------------------------------------------------


def dashboards_page() -> html.Div:
    """The list of the user's and the tenant's shared dashboards, a search and "New"."""
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Dashboards", className="h4 mb-0 me-auto"),
                    dbc.Button("New dashboard", id=ids.DASHES_NEW, color="primary"),
                ],
                className="d-flex align-items-center gap-2 mb-3",
            ),
            dbc.Input(
                id=ids.DASHES_SEARCH,
                type="search",
                placeholder="Search by title",
                debounce=True,
                className="mb-3",
                style={"maxWidth": "24rem"},
            ),
            html.Div(id=ids.DASHES_MESSAGE),
            dcc.Loading(html.Div(id=ids.DASHES_LIST), type="dot", delay_show=300),
        ]
    )


def dashboards_list(rows: list[DashboardSummary], zone: str = "UTC") -> Any:
    """The list as cards that wrap on phones: title (a link), owner, shared, last saved."""
    if not rows:
        return dbc.Alert("No dashboards yet: create one with “New dashboard”.", color="light")
    items = [
        dbc.ListGroupItem(
            [
                html.Div(
                    [
                        dcc.Link(
                            row.title,
                            href=f"/dashboards/{row.dashboard_id}",
                            className="fw-semibold text-break",
                        ),
                        dbc.Badge("shared", color="info", className="ms-2") if row.shared else None,
                    ]
                ),
                html.Div(
                    f"{row.owner or 'tenant'} · saved "
                    + f"{row.updated_at.astimezone(local_zone(zone)):%Y-%m-%d %H:%M %Z}",
                    className="small text-muted",
                ),
            ],
            className="pulse-dash-row",
        )
        for row in rows
    ]
    return dbc.ListGroup(items)


# -- one dashboard --------------------------------------------------------------------------


def dashboard_page(dashboard_id: str) -> html.Div:
    """The skeleton of one dashboard: its content arrives from the server once the user is
    known to see it, its live points over the page's one socket."""
    return html.Div(
        [
            dcc.Store(id=ids.DASH_ID, data=dashboard_id),
            dcc.Store(id=ids.DASH_DOC),
            dcc.Store(id=ids.DASH_UNDO, data=[]),
            dcc.Store(id=ids.DASH_RELOADS, data=0),
            dcc.Store(id=ids.DASH_EDITING, data=False),
            dcc.Store(id=ids.DASH_LIVE),
            dcc.Store(id=ids.DASH_LIVE_STATE, data={}),
            dcc.Store(id=ids.DASH_CONNECTION, data={"attempt": 0, "nonce": 0}),
            dcc.Store(id=ids.DASH_PANEL_WIDGET),
            WebSocket(id=ids.DASH_WS),
            dcc.Loading(html.Div(id=ids.DASH_BODY), type="dot", delay_show=300),
        ],
        className="pulse-dash-page",
    )


def dashboard_body(
    doc: dict[str, Any],
    editable: bool,
    may_share: bool,
    grid_children: list[Any],
    layouts: dict,
    may_embed: bool = False,
    is_admin: bool = False,
    sources: list[str] | None = None,
) -> list[Any]:
    """A dashboard the user sees: header, edit toolbar, conflict choice, grid, side panel,
    embed dialog (there for everyone, as its callbacks listen to it; opened by analysts)."""
    # Readers get the edit tools too, hidden and never shown: the page's callbacks listen to
    # them on every dashboard, and the store refuses a reader's save whatever is clicked.
    tools = [toolbar(doc, may_share and editable), conflict_alert()]
    return [
        header(doc, editable, may_embed, is_admin),
        view_tools(doc, sources or []),
        html.Div(tools) if editable else html.Div(tools, hidden=True),
        html.Div(id=ids.DASH_STATUS, className="small text-muted mb-2", role="status"),
        ResponsiveGrid(
            id=ids.DASH_GRID,
            children=grid_children,
            layouts=layouts,
            breakpoints=BREAKPOINTS,
            cols=COLS,
            rowHeight=ROW_HEIGHT,
            compactType="vertical",
            isDraggable=False,
            isResizable=False,
            draggableCancel=".pulse-touch, .js-plotly-plot, input, button",
            margin=[12, 12],
            containerPadding=[0, 0],
        ),
        widget_panel(),
        embed_modal(),
    ]


def header(
    doc: dict[str, Any], editable: bool, may_embed: bool = False, is_admin: bool = False
) -> html.Div:
    """The title, who owns it, whether it is shared, and Embed / Edit / Set as my home (and
    an admin's "Make the tenant's home", there for all as its callback listens to it)."""
    return html.Div(
        [
            html.H1(doc["title"], id=ids.DASH_TITLE, className="h4 mb-0 me-auto text-break"),
            dbc.Badge("shared", color="info") if doc.get("shared") else None,
            html.Span(f"by {doc.get('owner') or 'the tenant'}", className="small text-muted"),
            dbc.Button("Set as my home", id=ids.DASH_HOME, color="light", size="sm"),
            dbc.Button(
                "Make the tenant's home",
                id=ids.DASH_TENANT_HOME,
                color="light",
                size="sm",
                title="What everyone sees at / unless they chose their own home",
                style=None if is_admin and doc.get("shared") else {"display": "none"},
            ),
            embed_button(may_embed),
            dbc.Button(
                "Edit",
                id=ids.DASH_EDIT,
                color="secondary",
                size="sm",
                style=None if editable else {"display": "none"},
            ),
        ],
        className="d-flex flex-wrap align-items-center gap-2 mb-2",
    )


def view_tools(doc: dict[str, Any], sources: list[str]) -> html.Div:
    """The user's own view of this dashboard, kept for them without changing it: time
    range, source filter, and "Reset my view" (which also unfolds every widget)."""
    view = doc.get("view") or {}
    chosen = list((view.get("filters") or {}).get("source") or [])
    options = sorted(set(sources) | set(chosen))
    return html.Div(
        [
            range_select(doc),
            dcc.Dropdown(
                id=ids.DASH_SOURCES,
                options=options,
                value=chosen,
                multi=True,
                placeholder="All sources",
                className="pulse-dash-sources",
            ),
            dbc.Button(
                "Reset my view",
                id=ids.DASH_RESET_VIEW,
                color="link",
                size="sm",
                disabled=not view,
                title="See the dashboard as saved: its range, all sources, no folded widget",
            ),
        ],
        className="pulse-dash-view-tools pulse-view-only d-flex flex-wrap align-items-center "
        "gap-2 mb-2",
    )


def range_select(doc: dict[str, Any]) -> dbc.Select:
    """The user's own time range of this dashboard, kept for them (a personal view)."""
    view = doc.get("view") or {}
    start = (view.get("time") or {}).get("start") or OWN_RANGE
    options = [{"label": label, "value": value} for value, label in MY_RANGES]
    if start not in {value for value, _ in MY_RANGES}:
        options.append({"label": start, "value": start})
    return dbc.Select(
        id=ids.DASH_RANGE,
        options=options,
        value=start,
        size="sm",
        style={"width": "auto"},
    )


def toolbar(doc: dict[str, Any], may_share: bool) -> html.Div:
    """Edit mode's tools: title, add a widget, undo, share, save, save as copy."""
    palette = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem(label, id={"type": ids.DASH_ADD, "index": kind}, n_clicks=0)
            for kind, label in PALETTE.items()
        ],
        label="Add widget",
        color="primary",
        className="pulse-touch",
    )
    share = dbc.Switch(
        id=ids.DASH_SHARED,
        label="Shared with the tenant",
        value=bool(doc.get("shared")),
        disabled=not may_share,
        className="mb-0",
    )
    return html.Div(
        [
            dbc.Input(
                id=ids.DASH_TITLE_INPUT,
                value=doc["title"],
                maxLength=200,
                style={"maxWidth": "18rem"},
                placeholder="Title",
            ),
            palette,
            dbc.Button("Undo", id=ids.DASH_UNDO_BUTTON, color="light", className="pulse-touch"),
            share,
            dbc.Button("Save", id=ids.DASH_SAVE, color="success", className="pulse-touch"),
            dbc.Button("Save as copy", id=ids.DASH_COPY, color="light", className="pulse-touch"),
        ],
        id=ids.DASH_TOOLBAR,
        className="pulse-edit-only pulse-dash-toolbar flex-wrap align-items-center gap-2 mb-2",
    )


def conflict_alert() -> dbc.Alert:
    """What a save from a stale version offers: take the saved one, or keep mine as a copy."""
    return dbc.Alert(
        [
            html.Div(
                "Someone saved this dashboard since you opened it. Reload their version, "
                "or save yours as a copy.",
                className="mb-2",
            ),
            dbc.Button("Reload", id=ids.DASH_RELOAD, color="primary", className="me-2 pulse-touch"),
            dbc.Button(
                "Save as copy", id=ids.DASH_CONFLICT_COPY, color="light", className="pulse-touch"
            ),
        ],
        id=ids.DASH_CONFLICT,
        color="warning",
        is_open=False,
    )


def _field(name: str, label: str, control: Any) -> html.Div:
    return html.Div([dbc.Label(label, html_for=f"dash-field-{name}"), control], className="mb-2")


def widget_panel() -> dbc.Offcanvas:
    """The side panel editing one widget: its fields, a live preview, Apply."""

    def fid(name: str) -> dict[str, str]:
        return {"type": ids.DASH_FIELD, "index": name}

    types = [{"label": PALETTE[t], "value": t} for t in WIDGET_TYPES]
    return dbc.Offcanvas(
        [
            _field("title", "Title", dbc.Input(id=fid("title"), maxLength=200)),
            _field("type", "Type", dbc.Select(id=fid("type"), options=types)),
            _field("metric", "Metrics", dcc.Dropdown(id=fid("metric"), multi=True)),
            _field("source", "Sources (none: all)", dcc.Dropdown(id=fid("source"), multi=True)),
            _field("agg", "Aggregate", dbc.Select(id=fid("agg"), options=list(AGGS))),
            _field("step", "Step (auto, 1m, 1h…)", dbc.Input(id=fid("step"), maxLength=12)),
            dbc.Switch(id=fid("live"), label="Live", value=True, className="mb-2"),
            _field(
                "phone_order",
                "Place on a phone (empty: by its place here)",
                dbc.Input(id=fid("phone_order"), type="number", min=0, max=49, step=1),
            ),
            dbc.Switch(
                id=fid("phone_hidden"), label="Hide on phones", value=False, className="mb-2"
            ),
            html.Div(id=ids.DASH_PREVIEW, className="pulse-dash-preview border rounded mb-2"),
            dbc.Button("Apply", id=ids.DASH_PANEL_APPLY, color="primary", className="pulse-touch"),
        ],
        id=ids.DASH_PANEL,
        title="Widget",
        placement="end",
        is_open=False,
    )


def missing_dashboard() -> html.Div:
    """What a dashboard the user may not see shows: exactly what a missing one shows."""
    return html.Div(
        [
            html.H1("Dashboard not found", className="h4"),
            html.P("There is no such dashboard, or it is not shared with you."),
            dcc.Link("All dashboards", href="/dashboards"),
        ],
        className="py-5",
    )
