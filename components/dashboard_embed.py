"""The "Embed" dialog of a dashboard or one of its widgets (CONTRACT.md §7): a lifetime, a
locked source filter, "Create" showing the `<iframe>` snippet once, and the dashboard's live
tokens, each with "Revoke"."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

LIFETIMES = (
    (3600, "1 hour"),
    (86_400, "1 day"),
    (7 * 86_400, "7 days"),
    (30 * 86_400, "30 days"),
)
DEFAULT_LIFETIME = 86_400
FRAME_SIZE = {"dashboard": (1000, 700), "widget": (600, 400)}  # the snippet's width, height
TOUCH = "pulse-embed-touch"


def embed_button(may_embed: bool) -> dbc.Button:
    """The dashboard's "Embed"; always on the page (its callback listens to it), shown only
    to analysts and admins."""
    return dbc.Button(
        "Embed",
        id=ids.DASH_EMBED_OPEN,
        color="light",
        size="sm",
        className=f"pulse-view-only {TOUCH}",
        style=None if may_embed else {"display": "none"},
    )


def widget_embed_button(widget_id: str) -> dbc.Button:
    """A widget's "Embed", in view mode only."""
    return dbc.Button(
        "Embed",
        id={"type": ids.DASH_EMBED_WIDGET, "index": widget_id},
        size="sm",
        color="light",
        className=f"pulse-view-only ms-auto {TOUCH}",
        title="Embed this widget in another site",
    )


def embed_modal() -> dbc.Modal:
    """The dialog: its form, the snippet once created, and the live tokens."""
    lifetimes = [{"label": label, "value": str(s)} for s, label in LIFETIMES]
    form = [
        dbc.Label("Lifetime", html_for=ids.DASH_EMBED_TTL),
        dbc.Select(
            id=ids.DASH_EMBED_TTL, options=lifetimes, value=str(DEFAULT_LIFETIME), className=TOUCH
        ),
        html.Div(id=ids.DASH_EMBED_TTL_ERROR, className="small text-danger mb-2", role="alert"),
        dbc.Label("Only these sources (none: all of its sources)", html_for=ids.DASH_EMBED_SOURCES),
        dcc.Dropdown(id=ids.DASH_EMBED_SOURCES, multi=True, className=TOUCH),
        html.Div(id=ids.DASH_EMBED_SOURCES_ERROR, className="small text-danger mb-2", role="alert"),
        html.Div(id=ids.DASH_EMBED_ERROR, className="small text-danger mb-2", role="alert"),
        dbc.Button("Create", id=ids.DASH_EMBED_CREATE, color="primary", className=TOUCH),
    ]
    result = html.Div(
        [
            dbc.Label("Paste this into your page", html_for=ids.DASH_EMBED_SNIPPET),
            html.Div(
                [
                    dbc.Textarea(id=ids.DASH_EMBED_SNIPPET, readOnly=True, rows=4, value=""),
                    dcc.Clipboard(
                        target_id=ids.DASH_EMBED_SNIPPET,
                        title="Copy",
                        className=f"btn btn-light {TOUCH} d-flex align-items-center",
                    ),
                ],
                className="d-flex gap-2 align-items-start",
            ),
            html.Div(id=ids.DASH_EMBED_EXPIRY, className="small text-muted mt-1"),
        ],
        id=ids.DASH_EMBED_RESULT,
        hidden=True,
        className="mt-3",
    )
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("Embed", id=ids.DASH_EMBED_HEADING)),
            dbc.ModalBody(
                [
                    dcc.Store(id=ids.DASH_EMBED_RESOURCE),
                    *form,
                    result,
                    html.H2("Live embed links", className="h6 mt-4"),
                    html.Div(id=ids.DASH_EMBED_LIST),
                ]
            ),
        ],
        id=ids.DASH_EMBED_MODAL,
        is_open=False,
        scrollable=True,
    )


def snippet(url: str, kind: str) -> str:
    """The `<iframe>` of an embed's absolute URL."""
    width, height = FRAME_SIZE.get(kind, FRAME_SIZE["dashboard"])
    return f'<iframe src="{url}" width="{width}" height="{height}" frameborder="0"></iframe>'


def _what(resource: dict[str, Any]) -> str:
    widget = resource.get("widget_id")
    return f"widget {widget}" if widget else "whole dashboard"


def token_list(rows: list[dict[str, Any]]) -> Any:
    """The live tokens of a dashboard: what, created, expires, filter, and "Revoke"."""
    if not rows:
        return html.P("No live embed links.", className="small text-muted")
    items = [
        dbc.ListGroupItem(
            html.Div(
                [
                    html.Div(
                        [
                            html.Div(_what(row["resource"]), className="fw-semibold"),
                            html.Div(
                                f"created {row['created_at']} · expires {row['expires_at']}",
                                className="small text-muted text-break",
                            ),
                            html.Div(
                                "sources: "
                                + (", ".join(row["filters"].get("source") or []) or "all"),
                                className="small text-break",
                            ),
                        ],
                        className="me-auto",
                    ),
                    dbc.Button(
                        "Revoke",
                        id={"type": ids.DASH_EMBED_REVOKE, "index": row["jti"]},
                        color="outline-danger",
                        size="sm",
                        className=f"{TOUCH} flex-shrink-0",
                    ),
                ],
                className="d-flex align-items-center gap-2",
            ),
            className="pulse-embed-row",
        )
        for row in rows
    ]
    return dbc.ListGroup(items)
