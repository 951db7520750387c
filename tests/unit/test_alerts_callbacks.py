"""The /alerts callbacks called directly, on real PostgreSQL and Redis: what each answers and
what it changes, per role (the permission matrix posts the same through Dash)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dash import no_update
from dash.exceptions import PreventUpdate

from app.services import Services
from callbacks.alerts import (
    FIELD_NAMES,
    act,
    delete,
    fields_of_kind,
    form_values,
    open_editor,
    save,
    show,
    show_preview,
)
from components import ids
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.alert_rules import AlertRules
from data.stores.incidents import Incidents
from tests.alerts_support import METRIC, SOURCE, create_rule, firing_incident
from tests.conftest import FakeClock, new_tenant
from tests.unit.page_text import text_of

MINUTE_MS = 60_000


@pytest.fixture
def rules(services: Services) -> AlertRules:
    """The rule store as the page builds it (on the run's clock)."""
    return AlertRules(
        services.engine, services.redis, services.settings.redis_prefix, clock=services.clock
    )


def form(**fields: str) -> list[str]:
    """The editor's values in FIELD_NAMES order: a new rule's defaults with `fields`."""
    values = dict(zip(FIELD_NAMES, form_values(None), strict=True))
    values.update({"metric": METRIC, "threshold": "80", **fields})
    return [values[f] for f in FIELD_NAMES]


def action(name: str, rule_id: str) -> dict[str, str]:
    """The id of a rule row's button."""
    return {"type": ids.RULE_ACTION, "index": f"{name}|{rule_id}"}


def test_a_viewers_forged_saves_create_and_change_nothing(
    services: Services, rules: AlertRules, tenant: str, viewer: User
) -> None:
    kept = create_rule(services, tenant, name="Kept")
    created = save(rules, viewer, 1, form(name="Forged"), None, 0)
    edited = save(rules, viewer, 1, form(name="Renamed"), kept.rule_id, 0)
    for answer in (created, edited):
        assert "Only analysts and admins change rules." in text_of(answer["form_error"])
        assert answer["reload"] is no_update and answer["is_open"] is no_update
    assert [r.name for r in rules.of_tenant(tenant)] == ["Kept"]


def test_an_invalid_rule_flags_its_fields_and_stores_nothing(
    rules: AlertRules, tenant: str, analyst: User
) -> None:
    answer = save(rules, analyst, 1, form(name="CPU hot", threshold="lots"), None, 3)
    flagged = [f for f, bad in zip(FIELD_NAMES, answer["invalid"], strict=True) if bad]
    assert flagged == ["threshold"]
    assert "number" in answer["messages"][FIELD_NAMES.index("threshold")]
    assert answer["messages"][FIELD_NAMES.index("name")] == ""
    assert answer["is_open"] is no_update and answer["reload"] is no_update
    assert rules.of_tenant(tenant) == []


def test_a_valid_rule_is_created_and_closes_the_editor(
    rules: AlertRules, tenant: str, analyst: User
) -> None:
    answer = save(rules, analyst, 1, form(name="CPU hot", clear_threshold=" "), None, 3)
    assert answer["is_open"] is False and answer["reload"] == 4 and answer["form_error"] is None
    (rule,) = rules.of_tenant(tenant)
    assert (rule.name, rule.metric, rule.params["threshold"]) == ("CPU hot", METRIC, 80)
    assert rule.params.get("clear_threshold") is None


def test_an_edit_changes_the_rule_and_an_edit_of_a_deleted_rule_says_so(
    services: Services, rules: AlertRules, tenant: str, analyst: User
) -> None:
    rule = create_rule(services, tenant)
    answer = save(rules, analyst, 1, form(name="CPU hotter", threshold="90"), rule.rule_id, 0)
    assert answer["is_open"] is False and answer["reload"] == 1
    edited = rules.get(tenant, rule.rule_id)
    assert edited is not None and (edited.name, edited.params["threshold"]) == ("CPU hotter", 90)
    rules.delete(tenant, rule.rule_id)
    gone = save(rules, analyst, 1, form(), rule.rule_id, 1)
    assert "no longer exists" in text_of(gone["form_error"]) and gone["reload"] == 2
    assert rules.of_tenant(tenant) == []


def test_save_without_a_click_changes_nothing(rules: AlertRules, analyst: User) -> None:
    answer = save(rules, analyst, 0, form(), None, 0)
    assert answer["invalid"] == [no_update] * len(FIELD_NAMES)
    assert answer["messages"] == [no_update] * len(FIELD_NAMES)
    assert all(answer[k] is no_update for k in ("is_open", "form_error", "reload"))


def test_the_editor_opens_on_the_tenants_rule_only_for_editors(
    services: Services, rules: AlertRules, tenant: str, analyst: User, viewer: User
) -> None:
    rule = create_rule(services, tenant, name="CPU hot")
    opened = open_editor(rules, analyst, action("edit", rule.rule_id))
    assert (opened["is_open"], opened["title"], opened["editing"]) == (
        True,
        "Edit CPU hot",
        rule.rule_id,
    )
    assert opened["values"][FIELD_NAMES.index("threshold")] == "80"
    new = open_editor(rules, analyst, ids.ALERTS_NEW)
    assert new["values"] == form_values(None) and new["editing"] is None
    assert open_editor(rules, analyst, ids.ALERTS_CANCEL)["is_open"] is False
    other = create_rule(services, new_tenant(services))
    refused = [
        (viewer, action("edit", rule.rule_id)),  # a viewer edits nothing
        (analyst, action("edit", other.rule_id)),  # another tenant's rule
        (analyst, None),  # a re-rendered button, not a click
    ]
    for user, clicked in refused:
        with pytest.raises(PreventUpdate):
            open_editor(rules, user, clicked)


def test_row_actions_toggle_silence_and_ask_before_deleting(
    services: Services, rules: AlertRules, tenant: str, analyst: User, clock: FakeClock
) -> None:
    rule = create_rule(services, tenant)
    assert act(rules, clock, analyst, action("toggle", rule.rule_id), [1], 4)[0] == 5
    toggled = rules.get(tenant, rule.rule_id)
    assert toggled is not None and toggled.enabled is False
    clock.advance(3600)
    act(rules, clock, analyst, action("silence24h", rule.rule_id), [1], 5)
    silenced = rules.get(tenant, rule.rule_id)
    expected = datetime.fromtimestamp(clock(), UTC) + timedelta(hours=24)
    assert silenced is not None and silenced.silenced_until is not None
    assert abs((silenced.silenced_until - expected).total_seconds()) < 60
    asked = act(rules, clock, analyst, action("delete", rule.rule_id), [1], 6)
    assert asked == (no_update, True, rule.rule_id)
    assert rules.get(tenant, rule.rule_id) is not None  # only the confirm dialog deletes


def test_a_viewer_cannot_toggle_silence_or_delete(
    services: Services, rules: AlertRules, tenant: str, viewer: User, clock: FakeClock
) -> None:
    rule = create_rule(services, tenant)
    for name in ("toggle", "silence1h", "delete"):
        answer = act(rules, clock, viewer, action(name, rule.rule_id), [1], 0)
        assert answer == (no_update, no_update, no_update)
    assert delete(rules, viewer, 1, rule.rule_id, 0) is no_update
    kept = rules.get(tenant, rule.rule_id)
    assert kept is not None and kept.enabled and kept.silenced_until is None


def test_the_confirmed_delete_removes_the_rule(
    services: Services, rules: AlertRules, tenant: str, analyst: User
) -> None:
    rule = create_rule(services, tenant)
    assert delete(rules, analyst, None, rule.rule_id, 0) is no_update  # dialog not confirmed
    assert delete(rules, analyst, 1, rule.rule_id, 2) == 3
    assert rules.of_tenant(tenant) == []


def test_the_list_shows_firing_rules_and_incidents_with_actions_for_editors(
    services: Services, rules: AlertRules, tenant: str, analyst: User, viewer: User
) -> None:
    rule = create_rule(services, tenant, name="CPU hot")
    create_rule(services, tenant, name="Disk full", metric="disk.used")
    firing_incident(services, rule, SOURCE, 93.5)
    incidents = Incidents(services.engine, services.clock)
    listed, recent, new_class = show(rules, incidents, analyst, 0)
    assert new_class == ""
    rows = text_of(listed)
    assert "CPU hot firing" in rows and "Disk full ok" in rows and "Silence 24 h" in rows
    assert f"CPU hot firing {METRIC} · {SOURCE} 93.5" in text_of(recent)
    read_only, _, hidden = show(rules, incidents, viewer, 0)
    assert hidden == "d-none" and "Silence 24 h" not in text_of(read_only)


def test_the_form_shows_the_fields_of_the_rules_kind() -> None:
    shown = dict(zip(FIELD_NAMES, fields_of_kind("rate"), strict=True))
    assert shown["change_pct"] == shown["window_s"] == shown["name"] == "mb-2"
    assert shown["threshold"] == shown["op"] == shown["zscore"] == "d-none"
    assert fields_of_kind(None) == fields_of_kind("threshold")


def test_the_preview_replays_history_for_editors_only(
    services: Services, tenant: str, analyst: User, viewer: User
) -> None:
    now_ms = services.now_ms()
    steps = ((40, 50.0), (30, 91.0), (20, 55.0))  # minutes ago, value: one breach
    services.history.write_points(
        [
            (tenant, Point(uuid.uuid4().hex, SOURCE, METRIC, now_ms - m * MINUTE_MS, v))
            for m, v in steps
        ]
    )
    shown = text_of(show_preview(services, analyst, 1, form()))
    assert "would have fired 1 time(s)" in shown and "still firing" not in shown
    assert "Cannot preview: threshold" in text_of(
        show_preview(services, analyst, 1, form(threshold="x"))
    )
    refused = show_preview(services, viewer, 1, form())
    assert text_of(refused) == "Only analysts and admins preview rules."
    assert show_preview(services, analyst, 0, form()) is no_update
