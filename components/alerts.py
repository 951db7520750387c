"""The /alerts page: the tenant's rules, their editor with a 7-day preview, and the
incident history. Viewers see the same page without the editing controls."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids
from components.notifications import SEVERITY_COLOR, when

# (field, label, kind of control, options); the kinds that use a field are in KIND_PARAMS
FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("name", "Name", "text", ()),
    ("metric", "Metric", "text", ()),
    ("source", "Source (or *)", "text", ()),
    ("kind", "Kind", "select", ("threshold", "rate", "spike", "nodata", "forecast_band")),
    ("op", "Fires when the value is", "select", (">", "<")),
    ("threshold", "Threshold", "number", ()),
    ("change_pct", "Change (%)", "number", ()),
    ("direction", "Direction", "select", ("both", "up", "down")),
    ("zscore", "Robust z-score", "number", ()),
    ("window_s", "Window (s)", "number", ()),
    ("clear_threshold", "Clears at (optional; forecast_band: 0-1 of the band)", "number", ()),
    ("for_s", "Held for (s; empty: 0, forecast_band 1800)", "number", ()),
    ("severity", "Severity", "select", ("info", "warning", "critical")),
    ("cooldown_s", "Cooldown (s)", "number", ()),
)
COMMON = ("name", "metric", "source", "kind", "severity", "cooldown_s")
DEFAULTS = {
    "source": "*",
    "kind": "threshold",
    "op": ">",
    "direction": "both",
    "severity": "warning",
    "cooldown_s": "300",
    "for_s": "",  # empty: the kind's default (forecast_band: 1800, the others 0)
}


def alerts_page() -> html.Div:
    """The page's frame; the lists arrive from the server."""
    return html.Div(
        [
            dcc.Store(id=ids.ALERTS_RELOAD, data=0),
            dcc.Store(id=ids.ALERTS_EDITING),
            dcc.Store(id=ids.ALERTS_DELETING),
            dcc.ConfirmDialog(id=ids.ALERTS_CONFIRM, message="Delete this rule?"),
            html.Div(
                [
                    html.H1("Alerts", className="h4 mb-0 me-auto"),
                    dbc.Button(
                        "New rule",
                        id=ids.ALERTS_NEW,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        className="d-none",
                    ),
                ],
                className="d-flex align-items-center gap-2 mb-3",
            ),
            html.Div(id=ids.ALERTS_MESSAGE),
            html.H2("Rules", className="h6 text-muted"),
            dcc.Loading(html.Div(id=ids.ALERTS_RULES), type="dot", delay_show=300),
            html.H2("Incident history", className="h6 text-muted mt-4"),
            html.Div(id=ids.ALERTS_INCIDENTS),
            rule_modal(),
        ],
        className="pulse-alerts",
    )


def _control(field: str, kind: str, options: tuple[str, ...]) -> Any:
    control_id = {"type": ids.RULE_FIELD, "index": field}
    if kind == "select":
        return dbc.Select(
            id=control_id,
            options=[{"label": o, "value": o} for o in options],
            value=DEFAULTS.get(field, options[0]),
            size="sm",
        )
    return dbc.Input(
        id=control_id,
        type="text",
        size="sm",
        value=DEFAULTS.get(field, ""),
        inputMode="decimal" if kind == "number" else "text",
    )


def rule_modal() -> dbc.Modal:
    """The rule editor: one row per field with its own error, a preview and save."""
    rows = [
        dbc.Col(
            [
                dbc.Label(label, className="small mb-0"),
                _control(field, kind, options),
                dbc.FormFeedback(id={"type": ids.RULE_ERROR, "index": field}, type="invalid"),
            ],
            id={"type": ids.RULE_ROW, "index": field},
            xs=12,
            sm=6,
            className="mb-2",
        )
        for field, label, kind, options in FIELDS
    ]
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("New rule", id=ids.ALERTS_MODAL_TITLE)),
            dbc.ModalBody(
                [
                    dbc.Row(rows, className="g-2"),
                    html.Div(id=ids.ALERTS_FORM_ERROR),
                    dcc.Loading(html.Div(id=ids.ALERTS_PREVIEW_OUT, className="mt-2"), type="dot"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button(
                        "Preview 7 days",
                        id=ids.ALERTS_PREVIEW,
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    ),
                    dbc.Button("Cancel", id=ids.ALERTS_CANCEL, color="link", n_clicks=0),
                    dbc.Button("Save", id=ids.ALERTS_SAVE, color="primary", n_clicks=0),
                ]
            ),
        ],
        id=ids.ALERTS_MODAL,
        is_open=False,
        size="lg",
        scrollable=True,
    )


def _action(label: str, action: str, rule_id: str, color: str = "secondary") -> dbc.Button:
    return dbc.Button(
        label,
        id={"type": ids.RULE_ACTION, "index": f"{action}|{rule_id}"},
        size="sm",
        color=color,
        outline=True,
        n_clicks=0,
    )


def condition(rule: dict[str, Any]) -> str:
    """A rule's trigger in words."""
    kind = rule["kind"]
    if kind == "threshold":
        held = f" for {rule['for_s']:g} s" if rule.get("for_s") else ""
        return f"{rule['op']} {rule['threshold']:g}{held}"
    if kind == "rate":
        return f"{rule['direction']} {rule['change_pct']:g} % in {rule['window_s']:g} s"
    if kind == "spike":
        return f"z > {rule['zscore']:g} over {rule['window_s']:g} s"
    if kind == "forecast_band":
        held = f" for {rule['for_s']:g} s" if rule.get("for_s") else ""
        return f"outside its 95 % forecast band{held}"
    return f"no data for {rule['window_s']:g} s"


def rule_table(
    rules: list[dict[str, Any]],
    firing: set[str],
    editor: bool,
    zone: str = "UTC",
    waiting: dict[str, str] | None = None,
) -> Any:
    """The rules with their state (`waiting`: why a rule judges nothing yet, by id);
    editors get each rule's actions."""
    waiting = waiting or {}
    if not rules:
        hint = "Create one with New rule." if editor else "An analyst or admin can add them."
        return dbc.Alert(
            [html.Strong("No alert rules yet", className="d-block"), hint],
            color="light",
            className="border",
        )
    head = [
        "Name",
        "State",
        "Severity",
        "Metric",
        "Source",
        "Kind",
        "Condition",
        "Enabled",
        "Silenced until",
    ] + (["Actions"] if editor else [])
    body = []
    for r in rules:
        cells: list[Any] = [
            html.Td(r["name"], className="fw-semibold"),
            html.Td(_state(r["id"], firing, waiting)),
            html.Td(dbc.Badge(r["severity"], color=SEVERITY_COLOR.get(r["severity"], "info"))),
            html.Td(r["metric"]),
            html.Td(r["source"]),
            html.Td(r["kind"]),
            html.Td(condition(r), className="text-nowrap"),
            html.Td("yes" if r["enabled"] else "no"),
            html.Td(when(r["silenced_until"], zone) or "—", className="small text-nowrap"),
        ]
        if editor:
            cells.append(_actions(r))
        body.append(html.Tr(labelled(cells, head), id=f"rule-{r['id']}"))
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
        size="sm",
        hover=True,
        className="mb-0 align-middle pulse-stack",
    )
    return html.Div(table, className="table-responsive border rounded")


def _actions(r: dict[str, Any]) -> html.Td:
    """An editor's buttons on a rule's row."""
    return html.Td(
        html.Div(
            [
                _action("Edit", "edit", r["id"]),
                _action("Disable" if r["enabled"] else "Enable", "toggle", r["id"]),
                _action("Silence 1 h", "silence1h", r["id"]),
                _action("Silence 24 h", "silence24h", r["id"]),
                _action("Delete", "delete", r["id"], "danger"),
            ],
            className="d-flex gap-1 flex-nowrap",
        )
    )


def _state(rule_id: str, firing: set[str], waiting: dict[str, str]) -> list[Any]:
    """A rule's state badge: firing, ok, or waiting (with why) for a rule short of history."""
    if rule_id in firing:
        return [dbc.Badge("firing", color="danger")]
    note = waiting.get(rule_id)
    if note is None:
        return [dbc.Badge("ok", color="success")]
    return [
        dbc.Badge("waiting", color="secondary", title=note),
        html.Div(note, className="small text-muted"),
    ]


def labelled(cells: list[Any], head: list[str]) -> list[Any]:
    """Each cell with its column's name in `data-label`: on a phone the table stacks into one
    card per row (assets/pulse.css), each value under its name, every action in reach."""
    for cell, label in zip(cells, head, strict=True):
        setattr(cell, "data-label", label)
    return cells


def incident_table(incidents: list[dict[str, Any]], zone: str = "UTC") -> Any:
    """The recent incidents: rule, state, when it started and resolved, acknowledged by."""
    if not incidents:
        return html.P("No incidents yet.", className="text-muted small")
    head = ["Rule", "State", "Series", "Value", "Started", "Resolved", "Acknowledged"]
    rows = [
        html.Tr(
            labelled(
                [
                    html.Td(i["rule_name"]),
                    html.Td(
                        dbc.Badge(
                            i["state"], color="danger" if i["state"] == "firing" else "success"
                        )
                    ),
                    html.Td(f"{i['metric']} · {i['source']}"),
                    html.Td("" if i["value"] is None else f"{i['value']:g}"),
                    html.Td(when(i["started_at"], zone), className="small text-nowrap"),
                    html.Td(when(i["resolved_at"], zone) or "—", className="small text-nowrap"),
                    html.Td(when(i["acknowledged_at"], zone) or "—", className="small text-nowrap"),
                ],
                head,
            )
        )
        for i in incidents
    ]
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
        size="sm",
        className="mb-0 align-middle pulse-stack",
    )
    return html.Div(table, className="table-responsive border rounded")
