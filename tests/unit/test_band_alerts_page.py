"""The /alerts page with forecast_band rules, callbacks called directly on real PostgreSQL
and Redis: the form shows only the kind's parameters and saves it, the list says why a rule
judges nothing yet, and the preview says the same of its week."""

from __future__ import annotations

import uuid

import orjson

from app.services import Services
from callbacks.alerts import FIELD_NAMES, fields_of_kind, form_values, save, show, show_preview
from components.alerts import condition
from data.domain.alert_rule import SeriesState
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.alert_rules import AlertRules
from data.stores.incidents import Incidents
from tests.alerts_support import METRIC, SOURCE
from tests.unit.page_text import text_of


def band_form(**fields: str) -> list[str]:
    """The editor's values for a new forecast_band rule, with `fields`."""
    values = dict(zip(FIELD_NAMES, form_values(None), strict=True))
    values.update({"name": "Odd CPU", "metric": METRIC, "kind": "forecast_band", **fields})
    return [values[f] for f in FIELD_NAMES]


def page_rules(services: Services) -> AlertRules:
    return AlertRules(
        services.engine, services.redis, services.settings.redis_prefix, clock=services.clock
    )


def test_the_form_shows_only_the_band_rules_parameters() -> None:
    shown = {
        f for f, c in zip(FIELD_NAMES, fields_of_kind("forecast_band"), strict=True) if c == "mb-2"
    }
    assert shown == {
        "name",
        "metric",
        "source",
        "kind",
        "severity",
        "cooldown_s",
        "clear_threshold",
        "for_s",
    }


def test_a_band_rule_is_saved_from_the_form_and_listed_as_waiting_with_its_note(
    services: Services, tenant: str, analyst: User
) -> None:
    rules = page_rules(services)
    answer = save(rules, analyst, 1, band_form(for_s="1800", threshold="5"), None, 0)
    assert answer["is_open"] is False, answer
    (rule,) = rules.of_tenant(tenant)
    assert rule.kind == "forecast_band" and rule.params == {"for_s": 1800.0}
    assert condition(rule.as_dict()) == "outside its 95 % forecast band for 1800 s"
    incidents = Incidents(services.engine, services.clock)
    assert "Odd CPU ok" in text_of(show(rules, incidents, analyst, 0)[0])
    note = SeriesState(note="needs 3 more hours of history").to_doc()
    services.redis.hset(rules.state_key(rule.rule_id), SOURCE, orjson.dumps(note))
    listed = text_of(show(rules, incidents, analyst, 0)[0])
    assert "Odd CPU waiting needs 3 more hours of history" in listed


def test_a_band_rule_left_without_for_s_is_held_for_half_an_hour(
    services: Services, tenant: str, analyst: User
) -> None:
    rules = page_rules(services)
    assert save(rules, analyst, 1, band_form(), None, 0)["is_open"] is False
    (rule,) = rules.of_tenant(tenant)
    assert rule.params == {"for_s": 1800.0}  # a 95 % band left by chance is not paged


def test_a_bad_clear_level_is_flagged_on_its_field(
    services: Services, tenant: str, analyst: User
) -> None:
    answer = save(page_rules(services), analyst, 1, band_form(clear_threshold="3"), None, 0)
    flagged = [f for f, bad in zip(FIELD_NAMES, answer["invalid"], strict=True) if bad]
    assert flagged == ["clear_threshold"]


def test_the_preview_says_when_the_week_lacked_history(
    services: Services, tenant: str, analyst: User
) -> None:
    now_ms = services.now_ms()
    # ten points over the last 400 minutes: some 6-hour run of the replay starts among them
    points = [
        Point(uuid.uuid4().hex, SOURCE, METRIC, now_ms - m * 2_400_000, 50.0) for m in range(10)
    ]
    services.history.write_points([(tenant, p) for p in points])
    shown = text_of(show_preview(services, analyst, 1, band_form()))
    assert "would have fired 0 time(s)" in shown
    assert "Not judged yet where the forecast lacked history: needs" in shown
