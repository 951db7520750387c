"""/alerts: list, create, edit, enable, silence, delete and preview rules; incidents.

Every write goes through data.stores.alert_rules.AlertRules (the API's own code) and is
refused unless the signed-in user is an analyst or admin: viewers get no buttons, and a
forged callback changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate

from callbacks.binding import bind, clicked_id, signed_in
from callbacks.settings import display_zone
from components import ids
from components.alerts import COMMON, DEFAULTS, FIELDS, incident_table, rule_table
from components.alerts_preview import preview_view
from data.domain.data_query import parse_time_ms
from data.domain.errors import Invalid, QuotaExceeded
from data.stores.accounts import User
from data.stores.alert_rules import KIND_PARAMS, AlertRules
from data.stores.forecast_bands import waiting_notes
from data.stores.incidents import Incidents
from data.stores.rule_preview import preview, preview_history

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
# the pattern-matching outputs: one value per field of the form
PER_FIELD = {"values", "invalid", "messages"}
SAVE_OUTPUTS = {
    "is_open": Output(ids.ALERTS_MODAL, "is_open", allow_duplicate=True),
    "invalid": Output({"type": ids.RULE_FIELD, "index": ALL}, "invalid"),
    "messages": Output({"type": ids.RULE_ERROR, "index": ALL}, "children"),
    "form_error": Output(ids.ALERTS_FORM_ERROR, "children"),
    "reload": Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
}


def may_edit(user: User) -> bool:
    """Whether `user` may change (and preview) rules: analysts and admins."""
    return bool(user.may("analyst"))


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


def show(rules: AlertRules, incidents: Incidents, user: User, _reload: int) -> tuple[Any, Any, str]:
    """The rule list, the recent incidents, and the "New rule" button's class."""
    editor = may_edit(user)
    listed = [r.as_dict() for r in rules.of_tenant(user.tenant_id)]
    firing = {i["rule_id"] for i in incidents.find(user.tenant_id, state="firing", limit=500)}
    bands = {r["id"]: rules.state_key(r["id"]) for r in listed if r["kind"] == "forecast_band"}
    waiting = waiting_notes(rules.redis, bands) if bands else {}
    recent = incidents.find(user.tenant_id, limit=20)
    zone = display_zone(incidents.engine, user)
    return (
        rule_table(listed, firing, editor, zone, waiting),
        incident_table(recent, zone),
        "" if editor else "d-none",
    )


def fields_of_kind(kind: str | None) -> list[str]:
    """The form rows' classes: the fields the rule's kind uses are shown, the others hidden."""
    used = {*COMMON, *KIND_PARAMS.get(kind or "threshold", ())}
    return ["mb-2" if f in used else "d-none" for f in FIELD_NAMES]


def open_editor(rules: AlertRules, user: User, clicked: Any, *_: Any) -> dict[str, Any]:
    """Open the editor on a new rule or on the clicked row's rule, or close it (Cancel);
    `clicked` is the clicked component's id, None when nothing was clicked."""
    # PreventUpdate, not no_update: Dash refuses no_update for the ALL outputs (a 500)
    if clicked is None or not may_edit(user):
        raise PreventUpdate
    clean = {"invalid": [False] * len(FIELD_NAMES), "form_error": None, "preview": None}
    if clicked == ids.ALERTS_CANCEL:
        return {
            "is_open": False,
            "title": no_update,
            "editing": None,
            "values": [no_update] * len(FIELD_NAMES),
            **clean,
        }
    if clicked == ids.ALERTS_NEW:
        return {
            "is_open": True,
            "title": "New rule",
            "editing": None,
            "values": form_values(None),
            **clean,
        }
    action, _, rule_id = str(clicked["index"]).partition("|")
    rule = rules.get(user.tenant_id, rule_id) if action == "edit" else None
    if rule is None:  # another tenant's id, or deleted meanwhile
        raise PreventUpdate
    return {
        "is_open": True,
        "title": f"Edit {rule.name}",
        "editing": rule_id,
        "values": form_values(rule.as_dict()),
        **clean,
    }


def save(
    rules: AlertRules,
    user: User,
    clicks: int | None,
    values: list[Any],
    editing: str | None,
    reload: int | None,
) -> dict[str, Any]:
    """Create the rule the form holds, or update the one being edited; on success close the
    editor and reload the list, otherwise say what is wrong, field by field."""
    if not clicks:
        return {
            name: [no_update] * len(FIELD_NAMES) if name in PER_FIELD else no_update
            for name in SAVE_OUTPUTS
        }
    # the form without a flagged field, open, the list as it is
    kept = {
        "is_open": no_update,
        "invalid": [False] * len(FIELD_NAMES),
        "messages": [""] * len(FIELD_NAMES),
        "reload": no_update,
    }
    if not may_edit(user):
        refused = dbc.Alert("Only analysts and admins change rules.", color="danger")
        return {**kept, "form_error": refused}
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


def act(
    rules: AlertRules,
    clock: Callable[[], float],
    user: User,
    clicked: Any,
    _clicks: list[int],
    reload: int | None,
) -> tuple[Any, Any, Any]:
    """A row's button: enable/disable or silence the rule at once, or ask before a delete.
    Answers (reload counter, confirm dialog shown, rule to delete)."""
    if clicked is None or not may_edit(user):
        return no_update, no_update, no_update
    action, _, rule_id = str(clicked["index"]).partition("|")
    if action == "delete":
        return no_update, True, rule_id
    if action == "toggle":
        rule = rules.get(user.tenant_id, rule_id)
        if rule is not None:
            rules.update(user.tenant_id, rule_id, {"enabled": not rule.enabled}, user.user_id)
    elif action in SILENCE:
        until = datetime.fromtimestamp(clock(), UTC) + SILENCE[action]
        rules.silence(user.tenant_id, rule_id, until, user.user_id)
    else:
        return no_update, no_update, no_update
    return (reload or 0) + 1, no_update, no_update


def delete(
    rules: AlertRules, user: User, clicks: int | None, rule_id: str | None, reload: int | None
) -> Any:
    """Delete the rule the confirm dialog asked about, and reload the list."""
    if not clicks or not rule_id or not may_edit(user):
        return no_update
    rules.delete(user.tenant_id, rule_id, user.user_id)
    return (reload or 0) + 1


def show_preview(services: Services, user: User, clicks: int | None, values: list[Any]) -> Any:
    """What the form's rule would have done over the last 7 days: a chart and the firings."""
    if not clicks:
        return no_update
    if not may_edit(user):  # as POST /api/alerts/preview: previewing is building rules
        return dbc.Alert("Only analysts and admins preview rules.", color="warning")
    doc = rule_doc(dict(zip(FIELD_NAMES, values, strict=True)))
    doc.setdefault("name", "preview")
    now_ms = services.now_ms()
    try:
        found = preview(services.history_engine(), user.tenant_id, doc, now_ms)
    except Invalid as exc:
        text = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
        return dbc.Alert(f"Cannot preview: {text}", color="warning", className="py-2")
    start = parse_time_ms(found["from"], now_ms) or now_ms - 7 * 86_400_000
    metric, source = doc["metric"], doc.get("source", "*")
    history = preview_history(
        services.history_engine(), user.tenant_id, metric, source, start, now_ms, "avg"
    )
    return preview_view(history, found, display_zone(services.engine, user))


def register(app: Dash, services: Services) -> None:
    """Attach the alerts page's callbacks to `app`."""
    rules = AlertRules(
        services.engine, services.redis, services.settings.redis_prefix, clock=services.clock
    )
    incidents = Incidents(services.engine, services.clock)
    fields = FIELD_VALUES.component_id
    clicking = (signed_in, clicked_id)
    app.callback(
        Output(ids.ALERTS_RULES, "children"),
        Output(ids.ALERTS_INCIDENTS, "children"),
        Output(ids.ALERTS_NEW, "className"),
        Input(ids.ALERTS_RELOAD, "data"),
    )(bind(show, rules, incidents))
    app.callback(
        Output({"type": ids.RULE_ROW, "index": ALL}, "className"),
        Input({"type": ids.RULE_FIELD, "index": "kind"}, "value"),
    )(fields_of_kind)
    app.callback(
        output=EDITOR_OUTPUTS,
        inputs=[
            Input(ids.ALERTS_NEW, "n_clicks"),
            Input({"type": ids.RULE_ACTION, "index": ALL}, "n_clicks"),
            Input(ids.ALERTS_CANCEL, "n_clicks"),
        ],
        prevent_initial_call=True,
    )(bind(open_editor, rules, at_call=clicking))
    app.callback(
        output=SAVE_OUTPUTS,
        inputs=[Input(ids.ALERTS_SAVE, "n_clicks")],
        state=[
            State(fields, "value"),
            State(ids.ALERTS_EDITING, "data"),
            State(ids.ALERTS_RELOAD, "data"),
        ],
        prevent_initial_call=True,
    )(bind(save, rules))
    app.callback(
        Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
        Output(ids.ALERTS_CONFIRM, "displayed"),
        Output(ids.ALERTS_DELETING, "data"),
        Input({"type": ids.RULE_ACTION, "index": ALL}, "n_clicks"),
        State(ids.ALERTS_RELOAD, "data"),
        prevent_initial_call=True,
    )(bind(act, rules, services.clock, at_call=clicking))
    app.callback(
        Output(ids.ALERTS_RELOAD, "data", allow_duplicate=True),
        Input(ids.ALERTS_CONFIRM, "submit_n_clicks"),
        State(ids.ALERTS_DELETING, "data"),
        State(ids.ALERTS_RELOAD, "data"),
        prevent_initial_call=True,
    )(bind(delete, rules))
    app.callback(
        Output(ids.ALERTS_PREVIEW_OUT, "children"),
        Input(ids.ALERTS_PREVIEW, "n_clicks"),
        State(fields, "value"),
        prevent_initial_call=True,
    )(bind(show_preview, services))
