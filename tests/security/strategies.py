"""Hypothesis strategies for hostile requests: text that breaks parsers, databases and
templates, JSON written by hand (duplicate keys, NaN, numbers past double range, deep
nesting), points labelled good or bad, and query strings with repeated parameters."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

NAME_ALPHABET = "ABCXYZabcxyz0189_.:-"
# Text that has broken real servers: NUL and other controls, lone surrogates, BiDi and
# zero-width marks, a BOM, astral characters, SQL and template syntax, path tricks, format
# strings, numbers spelled as text.
HOSTILE_WORDS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x7f",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\ud800",
    "\udfff",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\U0001f525",
    "é",
    "Ω",
    "\u0660\u0661",
    "𝟙𝟚",
    "' OR '1'='1",
    "1; DROP TABLE points;--",
    '" OR 1=1--',
    "') OR ('a'='a",
    "%' --",
    "1 UNION SELECT NULL,version()--",
    "$$",
    "E'\\\\x00'",
    "\\",
    "\\x00",
    "'",
    '"',
    "{{7*7}}",
    "${7*7}",
    "%s%s%n",
    "{0}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows",
    "*",
    "**",
    "?",
    "%",
    "_",
    "now",
    "now-",
    "now-1h",
    "now+5m",
    "now-99999999999d",
    "0",
    "-1",
    "1e400",
    "-1e400",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1e308",
    "9" * 40,
    "0x10",
    "1_000",
    "2026-13-45T99:99:99Z",
    "2026-11-27T22:07:32Z",
    "2026-11-27T22:07:32",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-14:00",
    "auto",
    "avg",
    "last",
    "csv",
    "xlsx",
    "UTC",
    "Europe/Paris",
    "Etc/GMT+12",
    "posixrules",
    "zoneinfo/UTC",
    "true",
    "null",
    "[]",
    "{}",
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_WORDS),
    st.text(max_size=20),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Co"]), min_size=1, max_size=20),
    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE_WORDS), st.text(max_size=10)),
    st.integers(130, 5_000).map(lambda n: "x" * n),
)
# Drawn short (generation time is most of a fuzzing run), plus the longest allowed name.
names = st.one_of(
    st.sampled_from(["cpu.usage", "web-1", "a", "x_y:z-1.2"]),
    st.text(NAME_ALPHABET, min_size=1, max_size=12),
    st.just("n" * 128),
)


# -- JSON written by hand ------------------------------------------------------------------


class Raw:
    """JSON text inserted as is: what json.dumps cannot write (NaN, 1e400, `-0`)."""

    def __init__(self, text: str) -> None:
        self.text = text


class Pairs:
    """A JSON object written from a list of pairs, so that a key may repeat."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def dumps(value: Any) -> str:
    """JSON text of `value`, where Raw and Pairs write what the standard library cannot."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return dumps(Pairs(list(value.items())))
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


RAW_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "123456789012345678901234567890",
    "9007199254740993",
    "1.0e+308",
]
raw_numbers = st.sampled_from(RAW_NUMBERS).map(Raw)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    raw_numbers,
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(hostile_text, inner, max_size=4),
    ),
    max_leaves=6,
)


def deeply_nested(depth: int) -> Raw:
    """An array nested `depth` deep (past the standard parser's recursion limit)."""
    return Raw("[" * depth + "]" * depth)


# -- points ---------------------------------------------------------------------------------


@dataclass
class GenPoint:
    """A point as sent (`doc`), and whether the contract must accept it."""

    doc: Any
    good: bool
    source: str | None = None
    metric: str | None = None
    value: float | None = None


# Strategies are built once: one built inside a composite is validated again at every draw,
# which made generation most of the run's time.
_AGES_S = st.floats(1, 3_600)
_TIME_SPELLINGS = st.sampled_from(["epoch", "epoch-int", "rfc3339", "rfc3339-offset"])
_GOOD_VALUES = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False), st.integers(-(2**53), 2**53).map(float)
)
_DATA_IDS = st.one_of(
    st.none(),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(str.isprintable),
    st.just("é" * 64),
)
_ORDERS = {n: st.permutations(range(n)) for n in (4, 5)}


def _spelled_time(seconds: float, spelling: str) -> Any:
    if spelling == "epoch":
        return round(seconds, 3)
    if spelling == "epoch-int":
        return int(seconds)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return stamp + ("Z" if spelling == "rfc3339" else "+00:00")


@st.composite
def good_points(draw: st.DrawFn) -> GenPoint:
    """A point the contract accepts, spelled in one of the ways it allows."""
    source, metric = draw(names), draw(names)
    # an age rather than a time: the strategy must not change with the clock between runs
    timestamp = _spelled_time(time.time() - draw(_AGES_S), draw(_TIME_SPELLINGS))
    value = draw(_GOOD_VALUES)
    fields = [
        ("source", source),
        ("metric_type", metric),
        ("timestamp", timestamp),
        ("value", value),
    ]
    data_id = draw(_DATA_IDS)
    if data_id is not None:
        fields.append(("data_id", data_id))
    pairs: list[tuple[str, Any]] = [fields[i] for i in draw(_ORDERS[len(fields)])]
    if draw(st.booleans()):  # a key given twice: the last one counts, first a hostile one
        pairs.insert(0, (pairs[-1][0], draw(json_scalars)))
    return GenPoint(Pairs(pairs), True, source, metric, value)


def _unreadable_time(text: str) -> bool:
    from data.domain.points import parse_timestamp_ms

    return parse_timestamp_ms(text) is None


def _is_name(text: str) -> bool:
    from data.domain.points import NAME_RE

    return bool(NAME_RE.fullmatch(text))


BAD_FIELD_VALUES: dict[str, Any] = {
    "source": st.one_of(
        hostile_text.filter(lambda t: not _is_name(t)),
        json_values.filter(lambda v: not isinstance(v, str)),
    ),
    "metric_type": st.one_of(hostile_text.filter(lambda t: not _is_name(t)), st.none()),
    "timestamp": st.one_of(
        hostile_text.filter(_unreadable_time),
        raw_numbers,
        st.booleans(),
        st.just(time.time() + 3_600),
        st.just(0),
        st.just("2000-01-01T00:00:00Z"),
        st.just(1e300),
    ),
    "value": st.one_of(
        hostile_text,
        raw_numbers.filter(lambda r: not r.text.startswith(("1e-", "-0", "9007", "1.0e", "1234"))),
        st.booleans(),
        st.none(),
        st.just([1]),
        st.just({"v": 1}),
        st.just(10**400),
    ),
    "data_id": st.one_of(
        st.just(""),
        st.integers(),
        st.just("x" * 65),
        st.just("a\nb"),
        st.just("\x00"),
        st.just("\ud800"),
        st.just([]),
    ),
}


_SPOILS = st.sampled_from([*BAD_FIELD_VALUES, "missing", "unknown", "shape"])
_NOT_POINTS = st.one_of(json_scalars, st.lists(json_scalars, max_size=3))
_REQUIRED = st.sampled_from(["source", "metric_type", "timestamp", "value"])
_UNKNOWN_FIELDS = hostile_text.filter(lambda t: t not in BAD_FIELD_VALUES)


@st.composite
def bad_points(draw: st.DrawFn) -> GenPoint:
    """A point the contract refuses: one field (or the shape) spoiled in a hostile way."""
    how = draw(_SPOILS)
    if how == "shape":
        return GenPoint(draw(_NOT_POINTS), False)
    point = draw(good_points())
    pairs = [(k, v) for k, v in point.doc.pairs]
    if how == "missing":
        key = draw(_REQUIRED)
        pairs = [(k, v) for k, v in pairs if k != key]
    elif how == "unknown":
        pairs.append((draw(_UNKNOWN_FIELDS), 1))
    else:
        pairs = [(k, v) for k, v in pairs if k != how]
        pairs.append((how, draw(BAD_FIELD_VALUES[how])))
    return GenPoint(Pairs(pairs), False)


any_points = st.one_of(good_points(), bad_points(), json_values.map(lambda v: GenPoint(v, False)))


# -- query strings --------------------------------------------------------------------------

QUERY_KEYS = ["metric", "source", "start", "end", "step", "agg", "format", "tz", "cursor"]
PLAUSIBLE = {
    "metric": ["cpu.usage", "m", "mem.used", "cpu.*"],
    "source": ["web-1", "*", "s"],
    "start": ["now-1h", "now-400d", "now-2d", "0", "2026-11-27T22:07:32Z", "now-1w"],
    "end": ["now", "now+1h", "now-30m", "32503680000"],
    "step": ["auto", "10s", "1m", "1h", "17s", "3457s", "1d", "0s", "400d"],
    "agg": ["avg", "min", "max", "sum", "count", "last"],
    "format": ["csv", "xlsx", "CSV", " xlsx "],
    "tz": ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"],
    "cursor": ["0-0", "1-0", "99999999999999999999-99999999999999999999"],
}


_QUERY_VALUES = {
    key: st.one_of(st.sampled_from(values), hostile_text) for key, values in PLAUSIBLE.items()
}
_QUERY_KEYS = st.sampled_from(QUERY_KEYS)
_QUERY_LENGTHS = st.integers(0, 8)
_ONE_IN_FIVE = st.integers(0, 4)


@st.composite
def query_pairs(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Query parameters, keys possibly repeated, values plausible or hostile."""
    pairs = []
    for _ in range(draw(_QUERY_LENGTHS)):
        key = draw(_QUERY_KEYS) if draw(_ONE_IN_FIVE) else draw(hostile_text)
        pairs.append((key, draw(_QUERY_VALUES.get(key, hostile_text))))
    return pairs


raw_query_strings = st.one_of(
    st.sampled_from(
        [
            "%",
            "%zz",
            "%00",
            "%ff%fe",
            "metric=%c0%af",
            "metric",
            "=",
            "&&&",
            "metric=a&metric=" + "b" * 2_000,
            ";metric=x",
            "metric[]=x",
        ]
    ),
    st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
)


def encode_query(query: list[tuple[str, str]] | str) -> str:
    """A query string from pairs, each part percent-encoded from its UTF-8 bytes; a lone
    surrogate is written as the invalid bytes it stands for (the server must cope)."""
    if isinstance(query, str):
        return query
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="")
