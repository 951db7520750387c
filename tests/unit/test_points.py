"""Point validation (data/domain/points.py) against the contract's "Points" section."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from data.domain.points import (
    MAX_FUTURE_MS,
    BodyError,
    Point,
    Problem,
    parse_body,
    parse_timestamp_ms,
    validate_points,
)

# 2025-11-27T22:07:32.123Z, the contract's example instant.
NOW_MS = 1_764_281_252_123
NOW_ISO = "2025-11-27T22:07:32.123Z"
RETENTION_MS = 14 * 86_400_000
OLDEST_MS = NOW_MS - RETENTION_MS


def point(**overrides: Any) -> dict[str, Any]:
    """A valid raw point, with some fields replaced (a value of ... removes the field)."""
    raw: dict[str, Any] = {
        "data_id": "d-1",
        "source": "web-frontend",
        "metric_type": "sales.orders",
        "timestamp": NOW_ISO,
        "value": 42.0,
    }
    raw.update(overrides)
    return {k: v for k, v in raw.items() if v is not ...}


def check(items: list[Any]) -> tuple[list[Point], list[Problem]]:
    return validate_points(items, NOW_MS, OLDEST_MS)


def problems_of(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) of every problem found in one raw point."""
    valid, problems = check([raw])
    assert not valid
    assert problems, "a refused point must say why"
    assert all(p.index == 0 for p in problems)
    return [(p.field, p.message) for p in problems]


def fields_of(raw: dict[str, Any]) -> list[str]:
    return [field for field, _ in problems_of(raw)]


# -- a good point --------------------------------------------------------------------------


def test_valid_point_becomes_a_point_with_epoch_ms() -> None:
    valid, problems = check([point()])
    assert problems == []
    assert valid == [Point("d-1", "web-frontend", "sales.orders", NOW_MS, 42.0)]


def test_a_point_without_data_id_is_kept_with_none_and_two_such_points_stay_two() -> None:
    """No id is made up for it: a redelivery is caught per ingest entry, and only a client's
    own data_id is checked point by point (data/stores/point_writes.py)."""
    valid, problems = check([point(data_id=...), point(data_id=...)])
    assert problems == []
    assert [p.data_id for p in valid] == ["", ""]
    assert len(valid) == 2


def test_integer_value_is_accepted_as_float() -> None:
    valid, _ = check([point(value=7)])
    assert valid[0].value == 7.0 and isinstance(valid[0].value, float)


def test_negative_and_large_finite_values_are_accepted() -> None:
    valid, problems = check([point(value=-1.5), point(value=1.7e308), point(value=0)])
    assert problems == []
    assert [p.value for p in valid] == [-1.5, 1.7e308, 0.0]


# -- source and metric_type ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "A-Z_a.z:0-9", "x" * 128, "cpu.usage", "host:8080"])
@pytest.mark.parametrize("field", ["source", "metric_type"])
def test_names_of_the_allowed_charset_and_length_are_accepted(field: str, name: str) -> None:
    valid, problems = check([point(**{field: name})])
    assert problems == []
    assert getattr(valid[0], "source" if field == "source" else "metric") == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 129,
        "has space",
        "slash/name",
        "star*",
        "ümlaut",
        "semi;colon",
        "tab\tname",
        "new\nline",
        "bang!",
        12,
        ["list"],
    ],
)
@pytest.mark.parametrize("field", ["source", "metric_type"])
def test_names_outside_charset_or_length_are_refused(field: str, name: Any) -> None:
    found = problems_of(point(**{field: name}))
    assert found == [(field, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")]


@pytest.mark.parametrize("field", ["source", "metric_type", "timestamp", "value"])
def test_required_fields_are_required(field: str) -> None:
    assert problems_of(point(**{field: ...})) == [(field, "is required")]


@pytest.mark.parametrize("field", ["source", "metric_type", "timestamp", "value"])
def test_null_required_field_is_refused(field: str) -> None:
    assert fields_of(point(**{field: None})) == [field]


# -- timestamp -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected_ms"),
    [
        ("2025-11-27T22:07:32.123Z", NOW_MS),
        ("2025-11-27T22:07:32.123z", NOW_MS),
        ("2025-11-27T23:07:32.123+01:00", NOW_MS),
        ("2025-11-27T17:07:32.123-05:00", NOW_MS),
        ("2025-11-27T22:07:32Z", NOW_MS - 123),
        ("2025-11-27T22:07:32.123456+00:00", NOW_MS),
        (NOW_MS / 1000, NOW_MS),
        (NOW_MS // 1000, NOW_MS - 123),
    ],
)
def test_rfc3339_with_zone_and_epoch_seconds_are_read(raw: Any, expected_ms: int) -> None:
    assert parse_timestamp_ms(raw) == expected_ms
    valid, problems = check([point(timestamp=raw)])
    assert problems == []
    assert valid[0].ts_ms == expected_ms


def test_epoch_numbers_are_seconds_not_milliseconds() -> None:
    """A millisecond number is read as seconds, i.e. far in the future, and refused."""
    found = problems_of(point(timestamp=NOW_MS))
    assert found[0][0] == "timestamp"


@pytest.mark.parametrize(
    "raw",
    [
        "2025-11-27T22:07:32.123",  # naive: no zone
        "2025-11-27T22:07:32",
        "2025-11-27",  # a date only
        "yesterday",
        "1764281252",  # epoch seconds as a string
        "2025-13-45T22:07:32Z",
        "",
        True,
        False,
        float("nan"),
        float("inf"),
        ["2025-11-27T22:07:32Z"],
        {"ts": 1},
    ],
)
def test_unreadable_or_naive_timestamps_are_refused(raw: Any) -> None:
    found = problems_of(point(timestamp=raw))
    assert found == [("timestamp", "must be an RFC 3339 string with a zone, or epoch seconds")]


def test_timestamp_up_to_five_minutes_ahead_is_accepted() -> None:
    valid, problems = check([point(timestamp=(NOW_MS + MAX_FUTURE_MS) / 1000)])
    assert problems == [] and valid[0].ts_ms == NOW_MS + MAX_FUTURE_MS


def test_timestamp_more_than_five_minutes_ahead_is_refused() -> None:
    found = problems_of(point(timestamp=(NOW_MS + MAX_FUTURE_MS + 1000) / 1000))
    assert found == [("timestamp", "is more than 5 minutes in the future")]
    found = problems_of(point(timestamp="2025-11-27T22:13:33Z"))
    assert found == [("timestamp", "is more than 5 minutes in the future")]


def test_timestamp_at_the_retention_edge_is_accepted_and_older_refused() -> None:
    valid, problems = check([point(timestamp=OLDEST_MS / 1000)])
    assert problems == [] and valid[0].ts_ms == OLDEST_MS
    found = problems_of(point(timestamp=(OLDEST_MS - 1000) / 1000))
    assert found == [("timestamp", "is older than the retention window")]
    found = problems_of(point(timestamp="2000-01-01T00:00:00Z"))
    assert found == [("timestamp", "is older than the retention window")]


def test_validation_uses_the_given_now_not_the_wall_clock() -> None:
    """A point from 2025 is fresh for a 2025 `now`, and too old for a `now` a year later."""
    year_ms = 365 * 86_400_000
    valid, _ = validate_points([point()], NOW_MS, OLDEST_MS)
    assert valid
    _, problems = validate_points([point()], NOW_MS + year_ms, OLDEST_MS + year_ms)
    assert [p.field for p in problems] == ["timestamp"]


# -- value ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_non_finite_or_out_of_range_values_are_refused(raw: Any) -> None:
    assert problems_of(point(value=raw)) == [
        ("value", "must be a finite number within double range")
    ]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_values_in_raw_json_reach_validation_and_are_refused(text: str) -> None:
    body = f'[{{"source": "s", "metric_type": "m", "timestamp": {NOW_MS / 1000}, "value": {text}}}]'
    items, line_problems = parse_body(body.encode(), ndjson=False)
    assert line_problems == []
    valid, problems = check(items)
    assert valid == []
    assert [(p.index, p.field) for p in problems] == [(0, "value")]


@pytest.mark.parametrize("raw", [True, False, "42", "", [1], {"v": 1}])
def test_booleans_strings_and_containers_are_not_numbers(raw: Any) -> None:
    assert problems_of(point(value=raw)) == [("value", "must be a number")]


# -- data_id -------------------------------------------------------------------------------


def test_data_id_of_64_characters_is_kept() -> None:
    valid, problems = check([point(data_id="x" * 64)])
    assert problems == [] and valid[0].data_id == "x" * 64


@pytest.mark.parametrize("raw", ["x" * 65, "", 12, ["a"], "tab\there"])
def test_data_id_too_long_empty_or_not_text_is_refused(raw: Any) -> None:
    assert fields_of(point(data_id=raw)) == ["data_id"]


# -- unknown fields, several problems, indexes ----------------------------------------------


def test_unknown_fields_are_refused_by_name() -> None:
    found = problems_of(point(metric="cpu", extra=1))
    assert [f for f, _ in found] == ["metric", "extra"]
    assert "'metric'" in found[0][1] and "'extra'" in found[1][1]


def test_a_point_that_is_not_an_object_is_refused() -> None:
    valid, problems = check([[1, 2], "point", 3])
    assert valid == []
    assert [(p.index, p.field) for p in problems] == [(0, ""), (1, ""), (2, "")]


def test_one_problem_per_bad_field_of_a_point() -> None:
    found = fields_of(point(source="bad name", timestamp="soon", value="NaN", data_id="x" * 65))
    assert sorted(found) == ["data_id", "source", "timestamp", "value"]


def test_problems_carry_the_index_of_the_bad_point_only() -> None:
    items = [point(data_id=f"ok-{i}") for i in range(10)]
    items[3] = point(value=float("nan"))
    items[7] = point(source="", metric_type="x" * 129)
    valid, problems = check(items)
    assert len(valid) == 8
    assert [(p.index, p.field) for p in problems] == [
        (3, "value"),
        (7, "source"),
        (7, "metric_type"),
    ]
    assert problems[0].as_dict() == {
        "index": 3,
        "field": "value",
        "message": "must be a finite number within double range",
    }


# -- body shapes ---------------------------------------------------------------------------


def test_bare_json_array_is_accepted() -> None:
    items, problems = parse_body(orjson.dumps([point(), point(data_id="d-2")]), ndjson=False)
    assert problems == [] and len(items) == 2
    assert len(check(items)[0]) == 2


def test_points_object_is_accepted() -> None:
    items, problems = parse_body(orjson.dumps({"points": [point()]}), ndjson=False)
    assert problems == [] and items == [point()]


def test_ndjson_lines_are_accepted_and_blank_lines_skipped() -> None:
    body = b"\n".join(orjson.dumps(point(data_id=f"d-{i}")) for i in range(3)) + b"\n\n"
    items, problems = parse_body(body, ndjson=True)
    assert problems == []
    valid, problems = check(items)
    assert problems == [] and [p.data_id for p in valid] == ["d-0", "d-1", "d-2"]


def test_ndjson_unreadable_line_is_one_problem_at_its_index() -> None:
    body = orjson.dumps(point()) + b"\n{not json\n" + orjson.dumps(point(data_id="d-2"))
    items, line_problems = parse_body(body, ndjson=True)
    assert [(p.index, p.field) for p in line_problems] == [(1, "")]
    valid, problems = check(items)
    assert problems == [] and len(valid) == 2  # the bad line is reported once, not twice


@pytest.mark.parametrize("ndjson", [False, True])
def test_a_null_point_is_refused_not_dropped(ndjson: bool) -> None:
    """Found by fuzzing: `[null]` was answered 202 with nothing queued, and `[null, point]`
    silently stored one point of two (null was taken for an unreadable NDJSON line)."""
    good = orjson.dumps(point())
    body = good + b"\nnull" if ndjson else b"[" + good + b",null]"
    items, line_problems = parse_body(body, ndjson=ndjson)
    valid, problems = check(items)
    assert line_problems == [] and len(valid) == 1
    assert [(p.index, p.field, p.message) for p in problems] == [
        (1, "", "a point must be a JSON object")
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{",
        b'"a string"',
        b"42",
        b"null",
        b'{"points": [], "extra": 1}',
        b'{"source": "s"}',
        b'{"points": {"a": 1}}',
    ],
)
def test_bodies_that_are_not_points_raise_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse_body(body, ndjson=False)


def test_empty_array_parses_to_no_points() -> None:
    assert parse_body(b"[]", ndjson=False) == ([], [])
    assert check([]) == ([], [])


def test_unpack_many_is_the_inverse_of_packed() -> None:
    points = [Point("a", "web-1", "cpu.usage", NOW_MS, 1.5), Point("b", "db", "x", NOW_MS, 2.0)]
    assert Point.unpack_many(orjson.dumps([p.packed() for p in points])) == points
    assert Point.unpack_many(b"[]") == []


@pytest.mark.parametrize(
    "rows",
    [
        {"not": "a list"},
        [["a", "web-1", "cpu.usage", NOW_MS]],  # a field short
        [["a", "web-1", "cpu.usage", NOW_MS, 1.0], ["b", "web-1", "cpu.usage", NOW_MS]],
        [["a", "web-1", "cpu.usage", str(NOW_MS), 1.0]],  # ts as text
        [["a", "web-1", "cpu.usage", NOW_MS, "1.0"]],  # value as text
        [["a", "web-1", "cpu.usage", NOW_MS, True]],  # a bool is not a number here
        [[1, "web-1", "cpu.usage", NOW_MS, 1.0]],  # data_id not text
    ],
)
def test_unpack_many_refuses_entries_of_the_wrong_shape_or_type(rows: object) -> None:
    with pytest.raises(ValueError):
        Point.unpack_many(orjson.dumps(rows))


def test_unpack_many_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError):
        Point.unpack_many(b'[["a", ')
