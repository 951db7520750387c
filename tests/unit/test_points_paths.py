"""The two ingest validations of data/domain/points.py agree: the quick path (kept for speed, see
bench/ingest.py) accepts only what the full check accepts, as the same point, and doubts a
valid point only when its value is an integer a double cannot hold exactly."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.domain.points import (
    FIELDS,
    MAX_FUTURE_MS,
    Point,
    Problem,
    _checked_point,
    _quick_point,
    validate_points,
)

NOW_MS = 1_764_281_252_123  # 2025-11-27T22:07:32.123Z
OLDEST_MS = NOW_MS - 14 * 86_400_000
EXACT_INT = 2**53

NEWEST_MS = NOW_MS + MAX_FUTURE_MS
# Epoch seconds within 2 ms of either edge of the accepted window (both edges are in it).
near_edges = st.builds(
    lambda edge, ms: (edge + ms) / 1000, st.sampled_from([OLDEST_MS, NEWEST_MS]), st.integers(-2, 2)
)
# Each field is drawn from USUAL most of the time (valid, or at the window's edges), so that
# most points are whole and one field at a time is off: that is where the two paths could part.
USUAL = {
    "data_id": st.one_of(st.none(), st.text(min_size=1, max_size=64).filter(str.isprintable)),
    "source": st.from_regex(r"[A-Za-z0-9_.:\-]{1,128}", fullmatch=True),
    "metric_type": st.from_regex(r"[A-Za-z0-9_.:\-]{1,128}", fullmatch=True),
    "timestamp": st.one_of(
        near_edges,
        st.integers(OLDEST_MS // 1000 + 1, NEWEST_MS // 1000),
        st.floats(OLDEST_MS / 1000, NEWEST_MS / 1000),
        st.sampled_from(
            ["2025-11-27T22:07:32.123Z", "2025-11-27t22:07:32z", "2025-11-27T23:07:32+01:00"]
        ),
    ),
    "value": st.one_of(
        st.floats(allow_nan=False, allow_infinity=False), st.integers(-EXACT_INT, EXACT_INT)
    ),
}
names_off = st.one_of(
    st.sampled_from(["", "a b", "x" * 129, "é", "host\n", "cpu*"]), st.integers(), st.none()
)
OFF = {
    "data_id": st.one_of(
        st.text(max_size=70),
        st.sampled_from(["", "x" * 65, "tab\there", "nul\x00"]),
        st.integers(),
        st.booleans(),
    ),
    "source": names_off,
    "metric_type": names_off,
    "timestamp": st.one_of(
        st.sampled_from([(OLDEST_MS - 1000) / 1000, (NEWEST_MS + 1000) / 1000]),
        st.sampled_from(
            [
                "2025-11-27T22:07:32",
                "2025-11-27T22:20:00Z",
                "2024-01-01T00:00:00Z",
                "yesterday",
                "",
                "2025-11-27",
            ]
        ),
        st.sampled_from([1e12, -1.0, float("inf"), float("nan")]),
        st.booleans(),
        st.none(),
    ),
    "value": st.one_of(
        st.floats(),
        st.integers(),
        st.sampled_from([EXACT_INT + 1, -EXACT_INT - 1, 10**400, float("inf"), float("nan")]),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    ),
}


@st.composite
def raw_points(draw: st.DrawFn) -> Any:
    """Mostly point-shaped objects, some with fields off, missing or unknown, some not
    objects at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.none())))
    item = {}
    for field in FIELDS:
        roll = draw(st.integers(0, 15))
        if roll == 0:
            continue  # missing
        item[field] = draw(OFF[field] if roll <= 2 else USUAL[field])
    if draw(st.integers(0, 9)) == 0:
        item[draw(st.sampled_from(["extra", "Value", "tags"]))] = 1
    return item


def _quick(item: Any) -> Point | None:
    return _quick_point(item, set(), OLDEST_MS, NEWEST_MS)


@settings(max_examples=1500, deadline=None, database=None)
@given(raw_points())
def test_the_quick_path_accepts_only_what_the_full_check_accepts_as_the_same_point(
    item: Any,
) -> None:
    quick = _quick(item)
    full, problems = _checked_point(0, item, NOW_MS, OLDEST_MS)
    if quick is not None:
        assert (full, problems) == (quick, [])
    elif full is not None:
        # the one valid point the quick path leaves to the full check
        assert type(item["value"]) is int and abs(item["value"]) > EXACT_INT


def test_the_quick_path_takes_the_points_clients_send() -> None:
    """Not a path nobody takes: a plain point, with or without data_id, goes the quick way."""
    plain = {"source": "web", "metric_type": "cpu", "timestamp": NOW_MS / 1000, "value": 3}
    assert _quick(plain) == Point("", "web", "cpu", NOW_MS, 3.0)
    assert _quick({**plain, "data_id": "d-1"}) == Point("d-1", "web", "cpu", NOW_MS, 3.0)


def _reference(items: list[Any]) -> tuple[list[Point], list[Problem]]:
    """What the full check alone makes of a request."""
    valid: list[Point] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        point, found = _checked_point(index, item, NOW_MS, OLDEST_MS)
        if point is not None:
            valid.append(point)
        problems += found
    return valid, problems


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(raw_points(), max_size=12))
def test_a_request_is_judged_as_the_full_check_alone_would_judge_it(items: list[Any]) -> None:
    """Across a request too: names the quick path has seen once are not trusted wrongly."""
    points, problems = validate_points(items, NOW_MS, OLDEST_MS)
    expected, expected_problems = _reference(items)
    assert problems == expected_problems
    assert len(points) == len(expected)
    assert points == expected  # a point sent without a data_id keeps "" (stored once per entry)
