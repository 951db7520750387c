"""/alerts: list, create, edit, enable, silence, delete and preview rules; incidents.

Every write goes through data.stores.alert_rules.AlertRules (the API's own code) and is
refused unless the signed-in user is an analyst or admin: viewers get no buttons, and a
forged callback changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from components import ids
from components.alerts import COMMON, DEFAULTS, FIELDS, incident_table, rule_table
from data.domain.errors import Invalid, QuotaExceeded
from data.domain.rule_spec import KIND_PARAMS
from data.domain.timefmt import to_datetime
from data.stores.alert_rules import AlertRules
from data.stores.incidents import Incidents, preview, preview_history
from data.stores.queries import parse_time_ms

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

OPTIONAL = ("threshold", "clear_threshold", "change_pct", "zscore", "window_s")
FIELD_NAMES = [f for f, *_ in FIELDS]
SILENCE = {"silence1h": timedelta(hours=1), "silence24h": timedelta(hours=24)}
FIELD_VALUES = Output({"type": ids.RULE_FIELD, "index": ALL}, "value")
# What the editor's callbacks answer, by name (two share the form's flags and error line).
EDITOR_OUTPUTS = {
    "is_open": Output(ids.ALERTS_MODAL, "is_open"),
    "title": Output(ids.ALERTS_MODAL_TITLE, "children"),
    "editing": Output(ids.ALERTS_EDITING, "data"),
    "values": FIELD_VALUES,
    "invalid": Output({"type": ids.RULE_FIELD, "index": ALL}, "invalid", allow_duplicate=True),
    "form_error": Output(ids.ALERTS_FORM_ERROR, "children", allow_duplicate=True),
    "preview": Output(ids.ALERTS_PREVIEW_OUT, "children", allow_duplicate=True),
}
SAVE_OUTPUTS = {
    "is_open": Output(ids.ALERTS_MODAL, "is_open", allow_duplicate=True),
    "invalid": Output({"type": ids.RULE_FIELD, "index": ALL}, "invalid"),
    "messages": Output({"type": ids.RULE_ERROR, "index": ALL}, "children"),
    "form_error": Output(ids.ALERTS_FORM_ERROR, "children"),
    "reload": Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
}


def unchanged(outputs: dict[str, Output]) -> dict[str, Any]:
    """no_update for every output of the running callback; a pattern-matching output needs
    one per component it matched (Dash refuses a bare no_update there)."""
    return {
        name: [no_update] * len(o) if isinstance(o, list) else no_update
        for name, o in zip(outputs, ctx.outputs_list, strict=True)
    }


def may_edit() -> bool:
    return bool(current_user.user.may("analyst"))


def rule_doc(values: dict[str, Any]) -> dict[str, Any]:
    """The definition the form stands for: the common fields and the kind's parameters;
    an emptied optional parameter is sent as null so an edit clears it."""
    kind = values.get("kind") or "threshold"
    doc: dict[str, Any] = {}
    for field in (*COMMON, *KIND_PARAMS.get(kind, ())):
        raw = values.get(field)
        text = raw.strip() if isinstance(raw, str) else raw
        if text in (None, ""):
            if field in OPTIONAL:
                doc[field] = None
            continue
        doc[field] = text
    return doc


def form_values(rule: dict[str, Any] | None) -> list[Any]:
    """The form's control values for a rule (or a new one)."""
    out = []
    for field in FIELD_NAMES:
        value = rule.get(field) if rule else None
        if value is None:
            out.append(DEFAULTS.get(field, ""))
        elif isinstance(value, float):
            out.append(f"{value:g}")
        else:
            out.append(str(value))
    return out


def errors_of(details: list[dict[str, str]]) -> tuple[list[bool], list[str], Any]:
    """Per field: invalid flag and message; problems of no field go under the form."""
    by_field: dict[str, str] = {}
    other = []
    for d in details:
        field = d["field"].split(".")[0]
        if field in FIELD_NAMES:
            by_field.setdefault(field, d["message"])
        else:
            other.append(f"{d['field']}: {d['message']}")
    general = dbc.Alert("; ".join(other), color="danger", className="py-2") if other else None
    return (
        [f in by_field for f in FIELD_NAMES],
        [by_field.get(f, "") for f in FIELD_NAMES],
        general,
    )


def preview_figure(history: dict[str, list[tuple[int, float]]], found: dict[str, Any]) -> Any:
    """The metric's history per source with each would-be firing shaded."""
    fig = go.Figure()
    for source, points in history.items():
        fig.add_scatter(
            x=[to_datetime(t) for t, _ in points],
            y=[v for _, v in points],
            mode="lines",
            name=source,
            line={"width": 1.4},
        )
    end = found["to"]
    for series in found["series"]:
        for f in series["firings"]:
            fig.add_vrect(
                x0=f["fired_at"],
                x1=f["resolved_at"] or end,
                fillcolor="#dc3545",
                opacity=0.18,
                line_width=0,
            )
    fig.update_layout(
        height=260,
        margin={"l": 40, "r": 10, "t": 10, "b": 30},
        showlegend=len(history) > 1,
        legend={"orientation": "h", "y": -0.25},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    return fig


# C901/PLR0915 allowed for now: its callbacks are still nested (issue 11 left: split them
# into module functions)
def register(app: Dash, services: Services) -> None:  # noqa: C901, PLR0915
    """Attach the alerts page's callbacks to `app`."""
    rules = AlertRules(
        services.engine, services.redis, services.settings.redis_prefix, clock=services.clock
    )
    incidents = Incidents(services.engine, services.clock)
    fields = FIELD_VALUES.component_id

    @app.callback(
        Output(ids.ALERTS_RULES, "children"),
        Output(ids.ALERTS_INCIDENTS, "children"),
        Output(ids.ALERTS_NEW, "className"),
        Input(ids.ALERTS_RELOAD, "data"),
    )
    def show(_: int) -> tuple[Any, Any, str]:
        tenant = current_user.user.tenant_id
        editor = may_edit()
        listed = [r.as_dict() for r in rules.of_tenant(tenant)]
        firing = {i["rule_id"] for i in incidents.find(tenant, state="firing", limit=500)}
        recent = incidents.find(tenant, limit=20)
        return (
            rule_table(listed, firing, editor),
            incident_table(recent),
            "" if editor else "d-none",
        )

    @app.callback(
        Output({"type": ids.RULE_ROW, "index": ALL}, "className"),
        Input({"type": ids.RULE_FIELD, "index": "kind"}, "value"),
    )
    def fields_of_kind(kind: str | None) -> list[str]:
        used = {*COMMON, *KIND_PARAMS.get(kind or "threshold", ())}
        return ["mb-2" if f in used else "d-none" for f in FIELD_NAMES]

    @app.callback(
        output=EDITOR_OUTPUTS,
        inputs=[
            Input(ids.ALERTS_NEW, "n_clicks"),
            Input({"type": ids.RULE_ACTION, "index": ALL}, "n_clicks"),
            Input(ids.ALERTS_CANCEL, "n_clicks"),
        ],
        prevent_initial_call=True,
    )
    def open_editor(*_: Any) -> dict[str, Any]:
        trigger = ctx.triggered_id
        # PreventUpdate, not no_update: Dash refuses no_update for the ALL outputs (a 500)
        if not ctx.triggered or not ctx.triggered[0].get("value") or not may_edit():
            raise PreventUpdate
        clean = {"invalid": [False] * len(FIELD_NAMES), "form_error": None, "preview": None}
        if trigger == ids.ALERTS_CANCEL:
            return {
                "is_open": False,
                "title": no_update,
                "editing": None,
                "values": [no_update] * len(FIELD_NAMES),
                **clean,
            }
        if trigger == ids.ALERTS_NEW:
            return {
                "is_open": True,
                "title": "New rule",
                "editing": None,
                "values": form_values(None),
                **clean,
            }
        action, _, rule_id = str(trigger["index"]).partition("|")
        rule = rules.get(current_user.user.tenant_id, rule_id) if action == "edit" else None
        if rule is None:  # another tenant's id, or deleted meanwhile
            raise PreventUpdate
        return {
            "is_open": True,
            "title": f"Edit {rule.name}",
            "editing": rule_id,
            "values": form_values(rule.as_dict()),
            **clean,
        }

    @app.callback(
        output=SAVE_OUTPUTS,
        inputs=[Input(ids.ALERTS_SAVE, "n_clicks")],
        state=[
            State(fields, "value"),
            State(ids.ALERTS_EDITING, "data"),
            State(ids.ALERTS_RELOAD, "data"),
        ],
        prevent_initial_call=True,
    )
    def save(clicks: int, values: list[Any], editing: str | None, reload: int) -> dict[str, Any]:
        if not clicks:
            return unchanged(SAVE_OUTPUTS)
        # the form without a flagged field, open, the list as it is
        kept = {
            "is_open": no_update,
            "invalid": [False] * len(FIELD_NAMES),
            "messages": [""] * len(FIELD_NAMES),
            "reload": no_update,
        }
        if not may_edit():
            refused = dbc.Alert("Only analysts and admins change rules.", color="danger")
            return {**kept, "form_error": refused}
        user = current_user.user
        doc = rule_doc(dict(zip(FIELD_NAMES, values, strict=True)))
        try:
            if editing:
                saved = rules.update(user.tenant_id, editing, doc, user.user_id)
                if saved is None:
                    gone = dbc.Alert("This rule no longer exists.", color="warning")
                    return {**kept, "form_error": gone, "reload": (reload or 0) + 1}
            else:
                rules.create(user.tenant_id, doc, user.user_id)
        except Invalid as exc:
            invalid, messages, general = errors_of(exc.details)
            return {**kept, "invalid": invalid, "messages": messages, "form_error": general}
        except QuotaExceeded as exc:
            return {**kept, "form_error": dbc.Alert(str(exc), color="danger")}
        return {**kept, "is_open": False, "form_error": None, "reload": (reload or 0) + 1}

    @app.callback(
        Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
        Output(ids.ALERTS_CONFIRM, "displayed"),
        Output(ids.ALERTS_DELETING, "data"),
        Input({"type": ids.RULE_ACTION, "index": ALL}, "n_clicks"),
        State(ids.ALERTS_RELOAD, "data"),
        prevent_initial_call=True,
    )
    def act(_: list[int], reload: int) -> tuple[Any, Any, Any]:
        trigger = ctx.triggered_id
        if not ctx.triggered or not ctx.triggered[0].get("value") or not may_edit():
            return no_update, no_update, no_update
        action, _, rule_id = str(trigger["index"]).partition("|")
        user = current_user.user
        if action == "delete":
            return no_update, True, rule_id
        if action == "toggle":
            rule = rules.get(user.tenant_id, rule_id)
            if rule is not None:
                rules.update(user.tenant_id, rule_id, {"enabled": not rule.enabled}, user.user_id)
        elif action in SILENCE:
            until = datetime.fromtimestamp(services.clock(), UTC) + SILENCE[action]
            rules.silence(user.tenant_id, rule_id, until, user.user_id)
        else:
            return no_update, no_update, no_update
        return (reload or 0) + 1, no_update, no_update

    @app.callback(
        Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
        Input(ids.ALERTS_CONFIRM, "submit_n_clicks"),
        State(ids.ALERTS_DELETING, "data"),
        State(ids.ALERTS_RELOAD, "data"),
        prevent_initial_call=True,
    )
    def delete(clicks: int | None, rule_id: str | None, reload: int) -> Any:
        if not clicks or not rule_id or not may_edit():
            return no_update
        user = current_user.user
        rules.delete(user.tenant_id, rule_id, user.user_id)
        return (reload or 0) + 1

    @app.callback(
        Output(ids.ALERTS_PREVIEW_OUT, "children"),
        Input(ids.ALERTS_PREVIEW, "n_clicks"),
        State(fields, "value"),
        prevent_initial_call=True,
    )
    def show_preview(clicks: int, values: list[Any]) -> Any:
        if not clicks:
            return no_update
        if not may_edit():  # as POST /api/alerts/preview: previewing is building rules
            return dbc.Alert("Only analysts and admins preview rules.", color="warning")
        tenant = current_user.user.tenant_id
        doc = rule_doc(dict(zip(FIELD_NAMES, values, strict=True)))
        doc.setdefault("name", "preview")
        now_ms = services.now_ms()
        try:
            found = preview(services.engine, tenant, doc, now_ms)
        except Invalid as exc:
            text = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
            return dbc.Alert(f"Cannot preview: {text}", color="warning", className="py-2")
        start = parse_time_ms(found["from"], now_ms) or now_ms - 7 * 86_400_000
        history = preview_history(
            services.engine, tenant, doc["metric"], doc.get("source", "*"), start, now_ms, "avg"
        )
        times = [f for s in found["series"] for f in s["firings"]]
        summary = (
            f"Over the last 7 days this rule would have fired {found['fired']} time(s)"
            if history
            else "No history of this metric in the last 7 days."
        )
        listed = html.Ul(
            [
                html.Li(f"{f['fired_at']} → {f['resolved_at'] or 'still firing'}: {f['message']}")
                for f in times[:20]
            ],
            className="small mb-0",
        )
        graph = (
            dcc.Graph(
                figure=preview_figure(history, found),
                config={"displayModeBar": False},
                className="pulse-preview-graph",
            )
            if history
            else None
        )
        return html.Div(
            [html.P(summary, className="small mb-1", id="alerts-preview-summary"), graph, listed]
        )
