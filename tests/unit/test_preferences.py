"""Preferences as values (data/domain/preferences.py): resolution user → organisation →
Pulse, partial changes, password rules; and times in tables shown in the reader's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.web.theme import themed_html
from components.alerts_preview import preview_figure
from components.notifications import when
from data.domain.errors import Invalid
from data.domain.preferences import (
    UserPreferences,
    changes_of,
    merged,
    parse_model,
    password_problems,
    resolve,
    time_zones,
)
from data.views.explore import filters_from_search


def test_the_users_choice_wins_then_the_organisations_then_pulses() -> None:
    org = {"theme": "dark", "timezone": "Asia/Tokyo"}
    assert resolve({}, {}) == {"theme": "light", "timezone": "UTC", "default_range": "now-6h"}
    assert resolve({"timezone": "Europe/Paris"}, org) == {
        "theme": "dark",
        "timezone": "Europe/Paris",
        "default_range": "now-6h",
    }
    # a stored value no longer valid falls through to the next
    assert resolve({"timezone": "Atlantis/Capital", "theme": 3}, org)["timezone"] == "Asia/Tokyo"


def test_only_sent_fields_change_and_null_clears() -> None:
    update = parse_model(UserPreferences, {"theme": None, "timezone": "UTC"}, "preferences")
    assert changes_of(update) == {"theme": None, "timezone": "UTC"}
    assert merged({"theme": "dark", "default_range": "now-1h"}, changes_of(update)) == {
        "default_range": "now-1h",
        "timezone": "UTC",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("theme", "blue"),
        ("timezone", "Europe/Pariss"),
        ("timezone", "../../etc/passwd"),
        ("default_range", "now"),
        ("default_range", "now+6h"),
        ("default_range", "2026-01-01T00:00:00Z"),
        ("default_range", "now-401d"),
        ("home_dashboard", 12),
    ],
)
def test_each_bad_field_is_named(field: str, value: object) -> None:
    with pytest.raises(Invalid) as caught:
        parse_model(UserPreferences, {field: value}, "preferences")
    assert [d["field"] for d in caught.value.details] == [field]


def test_password_rules() -> None:
    assert password_problems("long-enough-pass", "ann") == []
    assert password_problems("short", "ann")[0]["field"] == "new"
    assert password_problems("annabelle", "Annabelle") != []
    assert password_problems("bad\x00password", "ann") != []


def test_time_zones_are_iana_names() -> None:
    zones = time_zones()
    assert "Europe/Paris" in zones and "UTC" in zones and zones == tuple(sorted(zones))


def test_table_times_are_shown_in_the_readers_zone() -> None:
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC).isoformat()
    assert when(moment) == "2026-07-01 12:00:00 UTC"
    assert when(moment, "Europe/Paris") == "2026-07-01 14:00:00 CEST"
    assert when(moment, "No/Such_Zone") == "2026-07-01 12:00:00 UTC"


def test_the_page_carries_the_preferences_on_its_html_tag() -> None:
    page = "<!DOCTYPE html>\n<html>\n<head></head><body></body></html>"
    prefs = {"theme": "system", "timezone": "Europe/Paris", "default_range": "now-1h"}
    assert themed_html(page, prefs).splitlines()[1] == (
        '<html data-bs-theme="light" data-pulse-theme="system" '
        'data-pulse-tz="Europe/Paris" data-pulse-range="now-1h">'
    )


def test_explore_starts_from_the_users_default_range_when_the_address_names_none() -> None:
    assert filters_from_search("?metric=cpu", "now-7d").range == "7d"
    assert filters_from_search("?metric=cpu&start=now-1h&end=now", "now-7d").range == "1h"
    assert filters_from_search("?metric=cpu", "now-2h").range == "1h"  # not a preset: 1 h


def test_the_rule_preview_is_drawn_in_the_readers_zone() -> None:
    at = int(datetime(2026, 1, 10, 12, 0, tzinfo=UTC).timestamp() * 1000)
    found = {
        "to": "2026-01-10T13:00:00.000Z",
        "series": [{"firings": [{"fired_at": "2026-01-10T12:00:00.000Z", "resolved_at": None}]}],
    }
    figure = preview_figure({"web-1": [(at, 1.0)]}, found, "Asia/Tokyo")
    assert str(figure.data[0].x[0]) == "2026-01-10 21:00:00"
    assert str(figure.layout.shapes[0].x1) == "2026-01-10 22:00:00"
