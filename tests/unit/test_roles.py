"""Roles, KPI text, overview helpers and the demo source: pure functions called directly."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from components.overview import format_change, format_value
from data.domain.demo import HOSTS, DemoSource, daily_shape
from data.stores.accounts import User
from data.views.overview import DEFAULT_INTERVAL_MS, hour_ago_value, usual_interval_ms

# -- roles ---------------------------------------------------------------------------------


def user(role: str) -> User:
    return User("u-1", "acme", "someone", "someone@example.com", role, True, {})


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", {"viewer"}),
        ("analyst", {"viewer", "analyst"}),
        ("admin", {"viewer", "analyst", "admin"}),
    ],
)
def test_roles_rank_viewer_below_analyst_below_admin(role: str, allowed: set[str]) -> None:
    who = user(role)
    assert {r for r in ("viewer", "analyst", "admin") if who.may(r)} == allowed


def test_unknown_role_is_never_granted() -> None:
    with pytest.raises(KeyError):
        user("viewer").may("owner")


# -- KPI text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (42.0, "42"),
        (1.5, "1.5"),
        (3.14159, "3.142"),
        (-0.5, "-0.5"),
        (999.25, "999.25"),
        (1000, "1,000"),
        (999_999, "999,999"),
        (-1500, "-1,500"),
        (1234567.8, "1.23M"),
        (2.5e9, "2.5B"),
        (-3.21e12, "-3.21T"),
    ],
)
def test_format_value_groups_thousands_compacts_millions_and_keeps_three_decimals(
    value: float, text: str
) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "hour_ago", "text"),
    [
        (110, 100, "▲ 10.0% vs 1 h ago"),
        (90, 100, "▼ 10.0% vs 1 h ago"),
        (100, 100, "■ 0.0% vs 1 h ago"),
        (-50, -100, "▲ 50.0% vs 1 h ago"),  # less negative is up, against |hour_ago|
        (-150, -100, "▼ 50.0% vs 1 h ago"),
        (1, 3, "▼ 66.7% vs 1 h ago"),
    ],
)
def test_format_change_is_the_signed_percentage_against_an_hour_ago(
    value: float, hour_ago: float, text: str
) -> None:
    assert format_change(value, hour_ago) == text


def test_format_change_without_a_value_an_hour_ago_says_there_is_nothing_to_compare() -> None:
    assert format_change(42.0, None) == "— vs 1 h ago (no value then)"


@pytest.mark.parametrize("hour_ago", [0, 0.0])
def test_format_change_from_zero_an_hour_ago_gives_no_percentage(hour_ago: float) -> None:
    assert format_change(42.0, hour_ago) == "— vs 1 h ago (was 0)"


# -- overview helpers ----------------------------------------------------------------------


def test_usual_interval_is_the_median_gap() -> None:
    points = [(t, 1.0) for t in (0, 2000, 4000, 6000, 16_000, 18_000)]
    assert usual_interval_ms(points) == 2000


def test_usual_interval_of_a_slow_series() -> None:
    """A 1-minute series has 15 points in the chart window: fewer than 30 still count."""
    points = [(i * 60_000, float(i)) for i in range(10)]
    assert usual_interval_ms(points) == 60_000


def test_usual_interval_looks_at_recent_points_only() -> None:
    """Old 1-minute points are forgotten once 30 recent 5-second points have arrived."""
    old = [(i * 60_000, 0.0) for i in range(50)]
    start = old[-1][0] + 5000
    recent = [(start + i * 5000, 0.0) for i in range(30)]
    assert usual_interval_ms(old + recent) == 5000


def test_usual_interval_ignores_duplicate_and_out_of_order_timestamps() -> None:
    points = [(0, 1.0), (2000, 1.0), (2000, 2.0), (1000, 3.0), (3000, 1.0), (5000, 1.0)]
    assert usual_interval_ms(points) == 2000


@pytest.mark.parametrize("points", [[], [(1000, 1.0)], [(1000, 1.0), (1000, 2.0)]])
def test_usual_interval_defaults_without_two_distinct_points(
    points: list[tuple[int, float]],
) -> None:
    assert usual_interval_ms(points) == DEFAULT_INTERVAL_MS


def test_hour_ago_value_is_the_minute_bucket_an_hour_before_now() -> None:
    now = 1_764_281_252_123  # 22:07:32.123 UTC
    minute_an_hour_ago = 1_764_277_620_000  # 21:07:00
    minutes = [
        (minute_an_hour_ago - 60_000, 1.0),
        (minute_an_hour_ago, 2.0),
        (minute_an_hour_ago + 60_000, 3.0),
    ]
    assert hour_ago_value(minutes, now) == 2.0


def test_hour_ago_value_is_none_when_that_minute_is_missing() -> None:
    now = 1_764_281_252_123
    assert hour_ago_value([], now) is None
    assert hour_ago_value([(now - 30 * 60_000, 5.0)], now) is None


# -- demo source ---------------------------------------------------------------------------

EXPECTED_SERIES = {
    ("site.traffic", "web-frontend"),
    ("users.active", "web-frontend"),
    ("sales.orders", "shop"),
    ("sales.revenue", "shop"),
    ("errors.rate", "api-gateway"),
    *(("cpu.usage", host) for host in HOSTS),
    *(("memory.usage", host) for host in HOSTS),
}
# 2025-11-27T00:00:00Z
MIDNIGHT_MS = 1_764_201_600_000


def test_demo_tick_produces_every_demo_series_once_at_the_second() -> None:
    points = DemoSource(rng=random.Random(1)).tick(MIDNIGHT_MS + 12_345)
    assert {(p.metric, p.source) for p in points} == EXPECTED_SERIES
    assert len(points) == len(EXPECTED_SERIES)
    assert {p.ts_ms for p in points} == {MIDNIGHT_MS + 12_000}


def test_demo_data_ids_are_the_same_within_a_second_and_differ_across_seconds() -> None:
    source = DemoSource(rng=random.Random(1))
    first = [p.data_id for p in source.tick(MIDNIGHT_MS + 5_010)]
    retried = [p.data_id for p in DemoSource(rng=random.Random(2)).tick(MIDNIGHT_MS + 5_990)]
    later = [p.data_id for p in source.tick(MIDNIGHT_MS + 6_000)]
    assert first == retried
    assert len(set(first)) == len(first)
    assert not set(first) & set(later)
    assert all(len(data_id) <= 64 for data_id in first + later)


def test_demo_values_stay_in_plausible_ranges_over_a_day() -> None:
    source = DemoSource(rng=random.Random(7))
    seen: dict[str, list[float]] = {}
    for i in range(2 * 24 * 60):  # every 30 s for a day
        for p in source.tick(MIDNIGHT_MS + i * 30_000):
            seen.setdefault(p.metric, []).append(p.value)
    ranges = {
        "cpu.usage": (1, 99),
        "memory.usage": (5, 98),
        "site.traffic": (0, 500),
        "users.active": (0, 3500),
        "sales.orders": (0, 15),
        "sales.revenue": (0, 1500),
        "errors.rate": (0, 2.5),
    }
    assert set(seen) == set(ranges)
    for metric, (low, high) in ranges.items():
        values = seen[metric]
        assert low <= min(values) and max(values) <= high, metric
        assert len(set(values)) > 10, f"{metric} should vary"


def test_demo_cpu_follows_the_daily_shape() -> None:
    """Busier in the afternoon than at 04:00, as daily_shape says."""
    assert daily_shape(MIDNIGHT_MS + 4 * 3_600_000) < daily_shape(MIDNIGHT_MS + 15 * 3_600_000)
    assert all(0 <= daily_shape(MIDNIGHT_MS + h * 3_600_000) <= 1 for h in range(24))
    source = DemoSource(rng=random.Random(3))
    cpu_by_hour: Counter[int] = Counter()
    for i in range(24 * 60):  # every minute for a day
        for p in source.tick(MIDNIGHT_MS + i * 60_000):
            if p.metric == "cpu.usage":
                cpu_by_hour[i // 60] += p.value
    assert cpu_by_hour[15] > cpu_by_hour[4]
