"""The Dash callback matrix as data: each server callback, posted to /_dash-update-component
as an attacker would (a well-formed body built from the app's callback_map, aimed at tenant
A's objects), × anonymous, A viewer, A analyst and B admin.

An answer is 401 (nothing ran), "ok" (2xx, and nothing of A changed) or "does" (2xx, and the
write on A happened: the analyst's column proves each payload is one the callback acts on,
so a refusal elsewhere is the guard's doing, not a malformed request). Clientside callbacks
have no server code: posting one must be refused with a 4xx, never run or crash.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash

from components.alerts import FIELDS
from tests.security import matrix_admin_callbacks as matrix_admin
from tests.security import matrix_dashboard_callbacks as matrix_dashboards
from tests.security.matrix_world import A_MARK, A_METRIC, World

CB_CALLERS = ("anonymous", "A viewer", "A analyst", "B admin")
FIELD_NAMES = [f for f, *_ in FIELDS]
# concrete ids of pattern-matching outputs, by type (those the alerts form always holds)
PATTERN_INDICES = {
    "rule-field": FIELD_NAMES,
    "rule-error": FIELD_NAMES,
    "rule-row": FIELD_NAMES,
    **matrix_dashboards.PATTERN_INDICES,
}


@dataclass
class CbProbe:
    """A callback request body and what says that A was changed by it."""

    body: dict[str, Any]
    changed: Callable[[], bool] = lambda: False
    # what the answer to this caller must (not) show, beyond "nothing of A's" for B
    check: Callable[[str, dict[str, Any]], None] = lambda caller, answer: None


def callback_names(app: dash.Dash) -> dict[str, str]:
    """Every callback of the app, by a stable name → its callback_map key: server ones as
    `module.function`, clientside ones as `clientside namespace.function` (or the output)."""
    names = {}
    for key, entry in app.callback_map.items():
        func = entry.get("callback")
        if func is not None:
            names[f"{func.__module__}.{func.__name__}"] = key
    for spec in app._callback_list:
        function = spec.get("clientside_function")
        if function:
            named = (
                f"{function['namespace']}.{function['function_name']}"
                if not function["namespace"].startswith("_dash")
                else spec["output"]
            )
            names[f"clientside {named}"] = spec["output"]
    return names


def _prop_id(component: Any, prop: str) -> str:
    if isinstance(component, dict):
        component = json.dumps(component, sort_keys=True, separators=(",", ":"))
    return f"{component}.{prop}"


def _item(spec: dict[str, str], values: dict[tuple[str, str], Any]) -> Any:
    """One input or state of the body; a pattern with ALL becomes the listed components."""
    raw, prop = spec["id"], spec["property"]
    if not raw.startswith("{"):
        return {"id": raw, "property": prop, "value": values.get((raw, prop))}
    pattern = json.loads(raw)
    if pattern.get("index") != ["ALL"]:
        return {"id": pattern, "property": prop, "value": values.get((pattern["type"], prop))}
    found = values.get((pattern["type"], prop), [])
    return [
        {"id": {**pattern, "index": index}, "property": prop, "value": value}
        for index, value in found
    ]


def _outputs(key: str, entry: dict[str, Any]) -> Any:
    outputs = []
    for output in entry["output"] if isinstance(entry["output"], list) else [entry["output"]]:
        ident = (
            json.loads(output.component_id_str())
            if isinstance(output.component_id, dict)
            else output.component_id
        )
        prop = output.component_property
        if isinstance(ident, dict) and ident.get("index") == ["ALL"]:
            indices = PATTERN_INDICES.get(ident["type"], [])
            outputs.append([{"id": {**ident, "index": i}, "property": prop} for i in indices])
        else:
            outputs.append({"id": ident, "property": prop})
    return outputs if key.startswith("..") else outputs[0]


def payload(
    world: World, name: str, values: dict[tuple[str, str], Any], changed: list[tuple[Any, str]]
) -> dict[str, Any]:
    """The body the browser would post for callback `name` with these input/state values
    (keyed by (id, property), or (pattern type, property) → [(index, value)])."""
    key = callback_names(world.app)[name]
    entry = world.app.callback_map[key]
    return {
        "output": key,
        "outputs": _outputs(key, entry),
        "inputs": [_item(spec, values) for spec in entry["inputs"]],
        "state": [_item(spec, values) for spec in entry["state"]],
        "changedPropIds": [_prop_id(component, prop) for component, prop in changed],
    }


def _form(**fields: Any) -> list[tuple[str, Any]]:
    doc = {
        "name": "matrix-form",
        "metric": A_METRIC,
        "source": "*",
        "kind": "threshold",
        "op": ">",
        "threshold": "80",
        "direction": "both",
        "clear_threshold": "75",
        "for_s": "0",
        "severity": "warning",
        "cooldown_s": "300",
        **fields,
    }
    return [(f, doc.get(f, "")) for f in FIELD_NAMES]


def _rule_changed(world: World, rule_id: str, test: Callable[[Any], bool]) -> Callable[[], bool]:
    def changed() -> bool:
        rule = world.rules.get(world.tenant_a, rule_id)
        return rule is None or test(rule)

    return changed


# -- the probes ---------------------------------------------------------------------------


def route(world: World) -> CbProbe:
    values = {("url", "pathname"): "/alerts", ("url", "search"): ""}
    return CbProbe(payload(world, "callbacks.shell.route", values, [("url", "pathname")]))


def reader(name: str, values: dict[tuple[str, str], Any], trigger: tuple[str, str]) -> Callable:
    return lambda world: CbProbe(payload(world, name, values, [trigger]))


EXPLORE_FILTERS = {
    ("explore-metrics", "value"): [A_METRIC],
    ("explore-sources", "value"): [],
    ("explore-range", "value"): "1h",
    ("explore-agg", "value"): "avg",
    ("explore-step", "value"): "auto",
    ("explore-chart", "value"): "table",
    ("explore-ma", "value"): "0",
    ("explore-compare", "value"): False,
    ("explore-breakdown", "value"): "metric",
    ("explore-live-switch", "value"): False,
    ("explore-forecast-switch", "value"): False,
    ("explore-band-switch", "value"): False,
    ("explore-tz", "data"): "UTC",
    ("explore-reload", "data"): 0,
}


def download(world: World) -> CbProbe:
    body = payload(
        world,
        "callbacks.explore.download",
        {**EXPLORE_FILTERS, ("explore-csv", "n_clicks"): 1},
        [("explore-csv", "n_clicks")],
    )
    return CbProbe(body, check=_file_only_for_analysts)


def _file_only_for_analysts(caller: str, answer: dict[str, Any]) -> None:
    sent = answer.get("response", {}).get("explore-download", {}).get("data")
    if caller == "A viewer":
        assert sent is None, "a viewer got an export"
    else:
        assert sent and sent["filename"].endswith(".csv"), answer
        text = base64.b64decode(sent["content"]).decode()
        assert (f"{A_MARK}-host" in text) == caller.startswith("A "), text  # A's point: to A


def open_editor(world: World) -> CbProbe:
    action = [(f"edit|{world.rule_id}", 1)]
    body = payload(
        world,
        "callbacks.alerts.open_editor",
        {("rule-action", "n_clicks"): action},
        [({"type": "rule-action", "index": f"edit|{world.rule_id}"}, "n_clicks")],
    )
    return CbProbe(body)


def save_edit(world: World) -> CbProbe:
    rule_id = world.fresh_rule()
    values = {
        ("alerts-save", "n_clicks"): 1,
        ("rule-field", "value"): _form(threshold="99"),
        ("alerts-editing", "data"): rule_id,
        ("alerts-reload", "data"): 0,
    }
    body = payload(world, "callbacks.alerts.save", values, [("alerts-save", "n_clicks")])
    return CbProbe(body, _rule_changed(world, rule_id, lambda r: r.params["threshold"] == 99))


def save_new(world: World) -> CbProbe:
    name = f"matrix-cb-new-{id(world)}-{world.fresh_rule()[:8]}"
    values = {
        ("alerts-save", "n_clicks"): 1,
        ("rule-field", "value"): _form(name=name),
        ("alerts-editing", "data"): None,
        ("alerts-reload", "data"): 0,
    }
    body = payload(world, "callbacks.alerts.save", values, [("alerts-save", "n_clicks")])
    return CbProbe(
        body,
        lambda: bool(
            world.row(
                "SELECT 1 FROM alert_rules WHERE name = :n AND tenant_id = :t",
                n=name,
                t=world.tenant_a,
            )
        ),
    )


def rule_action(action: str, test: Callable[[Any], bool]) -> Callable[[World], CbProbe]:
    def build(world: World) -> CbProbe:
        rule_id = world.fresh_rule()
        index = f"{action}|{rule_id}"
        body = payload(
            world,
            "callbacks.alerts.act",
            {("rule-action", "n_clicks"): [(index, 1)], ("alerts-reload", "data"): 0},
            [({"type": "rule-action", "index": index}, "n_clicks")],
        )
        return CbProbe(body, _rule_changed(world, rule_id, test))

    return build


def confirm_delete(world: World) -> CbProbe:
    rule_id = world.fresh_rule()
    values = {
        ("alerts-confirm", "submit_n_clicks"): 1,
        ("alerts-deleting", "data"): rule_id,
        ("alerts-reload", "data"): 0,
    }
    body = payload(
        world, "callbacks.alerts.delete", values, [("alerts-confirm", "submit_n_clicks")]
    )
    return CbProbe(body, _rule_changed(world, rule_id, lambda r: False))


def show_preview(world: World) -> CbProbe:
    values = {("alerts-preview", "n_clicks"): 1, ("rule-field", "value"): _form()}
    body = payload(world, "callbacks.alerts.show_preview", values, [("alerts-preview", "n_clicks")])
    return CbProbe(body, check=_preview_only_for_editors)


def _preview_only_for_editors(caller: str, answer: dict[str, Any]) -> None:
    shown = "alerts-preview-summary" in json.dumps(answer)
    assert shown == (caller != "A viewer"), answer  # previewing is building rules (analysts)


def _notifications(world: World, kind: str, index: str, check: Callable[[], bool]) -> CbProbe:
    values = {
        (kind, "n_clicks"): [(index, 1)],
        ("notifs-severity", "value"): None,
        ("notifs-period", "value"): "all",
    }
    body = payload(
        world,
        "callbacks.notifications.show",
        values,
        [({"type": kind, "index": index}, "n_clicks")],
    )
    return CbProbe(body, check)


def mark_viewer_notification(world: World) -> CbProbe:
    notification = world.notification_of(world.fresh_incident(), "A viewer")
    return _notifications(
        world,
        "notif-read",
        notification,
        lambda: bool(
            world.row(
                "SELECT read FROM notifications WHERE notification_id = :n", n=notification
            ).read
        ),
    )


def acknowledge(world: World) -> CbProbe:
    incident = world.fresh_incident()
    return _notifications(
        world,
        "notif-ack",
        incident,
        lambda: bool(
            world.row(
                "SELECT acknowledged_by FROM incidents WHERE incident_id = :i", i=incident
            ).acknowledged_by
        ),
    )


def audit_tab(world: World) -> CbProbe:
    values = {
        ("audit-actor", "value"): None,
        ("audit-action", "value"): "source.",  # A's sources are named with A_MARK
        ("audit-period", "value"): "now-7d",
        ("audit-more", "n_clicks"): 0,
        ("audit-next", "data"): None,
    }
    body = payload(world, "callbacks.admin_audit.show", values, [("audit-action", "value")])
    return CbProbe(body, check=_audit_only_for_admins)


def _audit_only_for_admins(caller: str, answer: dict[str, Any]) -> None:
    shown = json.dumps(answer)
    assert ("Only admins read the audit log" in shown) == (caller != "B admin"), shown[:300]
    assert "pulse-audit-event" not in shown or caller == "B admin", shown[:300]


def route_admin_audit(world: World) -> CbProbe:
    values = {("url", "pathname"): "/admin/audit", ("url", "search"): ""}
    body = payload(world, "callbacks.shell.route", values, [("url", "pathname")])
    return CbProbe(body, check=_admin_page_only_for_admins)


def _admin_page_only_for_admins(caller: str, answer: dict[str, Any]) -> None:
    shown = json.dumps(answer)
    assert ("audit-list" in shown) == (caller == "B admin"), shown[:300]


OK, DOES = "ok", "does"
# name → [(what it tries, answer per caller: anon, A viewer, A analyst, B admin, probe)]
CALLBACKS: dict[str, list[tuple[str, tuple[Any, ...], Callable[[World], CbProbe]]]] = {
    "callbacks.shell.route": [
        ("render /alerts", (401, OK, OK, OK), route),
        ("render / (A's home)", (401, OK, OK, OK), matrix_dashboards.home_route),
        ("render /admin/audit", (401, OK, OK, OK), route_admin_audit),
    ],
    "callbacks.admin_audit.show": [("read the audit log", (401, OK, OK, OK), audit_tab)],
    "callbacks.overview.load": [
        (
            "load the overview",
            (401, OK, OK, OK),
            reader(
                "callbacks.overview.load",
                {("overview-reload", "data"): 0},
                ("overview-reload", "data"),
            ),
        )
    ],
    "callbacks.explore.load_names": [
        (
            "list metric names",
            (401, OK, OK, OK),
            reader(
                "callbacks.explore.load_names",
                {("explore-reload", "data"): 0},
                ("explore-reload", "data"),
            ),
        )
    ],
    "callbacks.explore.show": [
        (
            "query A's metric",
            (401, OK, OK, OK),
            reader("callbacks.explore.show", EXPLORE_FILTERS, ("explore-reload", "data")),
        )
    ],
    "callbacks.explore.download": [("export A's metric", (401, OK, OK, OK), download)],
    "callbacks.explore_forecast.redraw": [
        (
            "forecast A's metric at the live edge",
            (401, OK, OK, OK),
            reader(
                "callbacks.explore_forecast.redraw",
                {
                    **EXPLORE_FILTERS,
                    ("explore-chart", "value"): "line",
                    ("explore-live-switch", "value"): True,
                    ("explore-forecast-switch", "value"): True,
                    ("explore-band-switch", "value"): True,
                    ("explore-forecast-due", "data"): 1,
                },
                ("explore-forecast-due", "data"),
            ),
        )
    ],
    "callbacks.alerts.show": [
        (
            "list rules",
            (401, OK, OK, OK),
            reader(
                "callbacks.alerts.show", {("alerts-reload", "data"): 0}, ("alerts-reload", "data")
            ),
        )
    ],
    "callbacks.alerts.fields_of_kind": [
        (
            "switch kind",
            (401, OK, OK, OK),
            reader(
                "callbacks.alerts.fields_of_kind",
                {("rule-field", "value"): "rate"},
                ({"type": "rule-field", "index": "kind"}, "value"),
            ),
        )
    ],
    "callbacks.alerts.open_editor": [("open A's rule", (401, OK, OK, OK), open_editor)],
    "callbacks.alerts.save": [
        ("edit A's rule", (401, OK, DOES, OK), save_edit),
        ("create a rule", (401, OK, DOES, OK), save_new),
    ],
    "callbacks.alerts.act": [
        ("disable A's rule", (401, OK, DOES, OK), rule_action("toggle", lambda r: not r.enabled)),
        (
            "silence A's rule",
            (401, OK, DOES, OK),
            rule_action("silence24h", lambda r: r.silenced_until is not None),
        ),
    ],
    "callbacks.alerts.delete": [("delete A's rule", (401, OK, DOES, OK), confirm_delete)],
    "callbacks.alerts.show_preview": [("preview a rule", (401, OK, OK, OK), show_preview)],
    "callbacks.notifications.show": [
        ("mark A viewer's notification read", (401, DOES, OK, OK), mark_viewer_notification),
        ("acknowledge A's incident", (401, DOES, DOES, OK), acknowledge),
    ],
}
# Clientside callbacks (assets/*.js): the server has nothing to run for them.
CLIENTSIDE = (
    "clientside navbar-collapse.is_open",
    "clientside pulseNotify.connect",
    "clientside pulseNotify.onSocketState",
    "clientside pulseNotify.onMessage",
    "clientside pulse.drawFigures",
    "clientside pulse.connect",
    "clientside pulse.onSocketState",
    "clientside pulse.onMessage",
    "clientside pulse.freshness",
    "clientside pulseExplore.timeZone",
    "clientside pulseExplore.toggle",
    "clientside pulseExplore.writeSearch",
    "clientside pulseExplore.connect",
    "clientside pulseExplore.onSocketState",
    "clientside pulseExplore.onMessage",
    "clientside pulseExplore.status",
    "clientside pulseForecast.exploreDue",
)
CALLBACKS.update(matrix_dashboards.ROWS)
CLIENTSIDE += matrix_dashboards.CLIENTSIDE
# /settings: its forms send to the JSON API from the browser (assets/settings.js)
CLIENTSIDE += (
    "clientside pulseSettings.saveEmail",
    "clientside pulseSettings.changePassword",
    "clientside pulseSettings.savePreferences",
    "clientside pulseSettings.saveOrganisation",
)
CALLBACKS.update(matrix_admin.ROWS)
CALLBACKS["callbacks.shell.route"] += matrix_admin.ROUTE_ROWS
CLIENTSIDE += matrix_admin.CLIENTSIDE
