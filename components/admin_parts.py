"""Pieces the /admin tabs share: confirm dialogs, messages, row buttons, stacking tables."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from components.alerts import labelled
from components.notifications import when

__all__ = ["action", "confirm_dialog", "message", "stacked_table", "when"]


def confirm_dialog(modal_id: str, text_id: str, yes_id: str, no_id: str, verb: str) -> dbc.Modal:
    """A yes/no dialog in front of an irreversible change; the callback words the question."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(f"{verb}?")),
            dbc.ModalBody(html.P(id=text_id)),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=no_id, color="secondary", outline=True, n_clicks=0),
                    dbc.Button(verb, id=yes_id, color="danger", n_clicks=0),
                ]
            ),
        ],
        id=modal_id,
        is_open=False,
        centered=True,
    )


def message(text: str, color: str = "success") -> Any:
    """A line saying what just happened (or why it did not); nothing for no text."""
    if not text:
        return ""
    return dbc.Alert(text, color=color, className="py-2 mb-2", dismissable=True)


def action(label: str, kind: str, index: str, color: str = "secondary") -> dbc.Button:
    """A row's button, by pattern id {"type": kind, "index": the row's id}."""
    return dbc.Button(
        label,
        id={"type": kind, "index": index},
        size="sm",
        color=color,
        outline=True,
        n_clicks=0,
        className="text-nowrap",
    )


def stacked_table(head: list[str], rows: list[tuple[str, list[Any]]]) -> html.Div:
    """A table of (row id, cells) that stacks into one card per row on a phone."""
    body = [html.Tr(labelled(cells, head), id=row_id) for row_id, cells in rows]
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
        size="sm",
        hover=True,
        className="mb-0 bg-white align-middle pulse-stack",
    )
    return html.Div(table, className="table-responsive border rounded")
