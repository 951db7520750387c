"""Influx line protocol into Pulse points: pure, no I/O, one problem per bad line.

`measurement[,tag=value…] field=value[,field=value…] [timestamp]`, one point a line, as
Telegraf's `outputs.http` (data_format "influx") and InfluxDB's write API send it:

- each numeric field is a point: metric `measurement.field` (just `measurement` for a field
  named `value`), source the tag `source`, else `host` (Telegraf adds it), other tags folded
  into the metric (data/domain/agent_points.py);
- floats `1.5`, `-2e3`, integers `42i`, unsigned `42u`, booleans (`t`, `true`, `F`,
  `false`…, stored 1 or 0); string fields (`"…"`) are skipped, not refused, so an agent's
  batch is not rejected for the text fields some of its inputs emit;
- the timestamp is an integer in the request's precision (ns by default, as InfluxDB);
  without one the point takes the time it was received; resends are recognised: the
  `data_id` is `lp:` and the nanoseconds past the millisecond the point is stored at, so
  with its series and ms it names the line's time and a resent line is never stored twice;
- backslash escapes commas, spaces and `=` in names, `"` and `\\` in strings; `#` starts a
  comment line; blank lines are skipped. A problem's `index` is the 0-based line number.
"""

from __future__ import annotations

import functools
import re

from data.domain.agent_points import Parsed, bounded, clean, folded, pick_source
from data.domain.points import BodyError, Point, Problem, window_problem

SOURCE_TAGS = ("source", "host")
# nanoseconds per unit of each precision InfluxDB's write API takes (v1 spells us `u`)
PRECISIONS = {"ns": 1, "us": 1_000, "u": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
INT_RE = re.compile(r"[+-]?\d{1,20}i|\d{1,20}u")
TIMESTAMP_RE = re.compile(r"-?\d{1,19}")
BOOLEANS = {"t": 1.0, "T": 1.0, "true": 1.0, "True": 1.0, "TRUE": 1.0}
BOOLEANS.update({"f": 0.0, "F": 0.0, "false": 0.0, "False": 0.0, "FALSE": 0.0})
NAMES_REMEMBERED = 20_000  # heads, and (head, field) metrics, each
INFINITIES = (float("inf"), float("-inf"))
# `head key=value timestamp`: single spaces, one field, no backslash or quote anywhere.
ONE_FIELD_RE = re.compile(r'([^ \\"]+) ([^ \\"=,]+)=([^ \\"=,]+) ([^ \\"]+)')
SHAPE = "expected `measurement[,tag=value…] field=value[,field=value…] [timestamp]`"
UNESCAPE_RE = re.compile(r"\\([,= \"\\])")


class LineProblem(ValueError):
    """What makes one line unreadable, and which field of the contract it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_lines(body: bytes, precision: str, now_ms: int, oldest_ms: int) -> Parsed:
    """The points of a line-protocol body; `precision` is a key of PRECISIONS."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("line protocol must be UTF-8 text") from None
    ns_per_unit = PRECISIONS[precision]
    out = Parsed()
    for index, raw in enumerate(text.split("\n")):
        line = raw.lstrip().rstrip("\r")
        if not line or line[0] == "#":
            continue
        try:
            if not _one_field(line, ns_per_unit, now_ms, oldest_ms, out):
                _parse_line(line, ns_per_unit, now_ms, oldest_ms, out)
        except LineProblem as exc:
            out.problems.append(Problem(index, exc.field, f"line {index + 1}: {exc}"))
    return out


def _one_field(line: str, ns_per_unit: int, now_ms: int, oldest_ms: int, out: Parsed) -> bool:
    """Append the point of a line of the commonest shape — one field, a timestamp, nothing
    escaped or quoted (Grafana Live's push, a one-field Telegraf input) — split in one match
    rather than piece by piece, then read as the general path reads it (same helpers, same
    order, same problems); False for a line of any other shape (bench/parse_formats.py)."""
    match = ONE_FIELD_RE.fullmatch(line)
    if match is None:
        return False
    head, key, raw, stamp = match.groups()
    value = _field_value(key, raw)
    assert value is not None  # a string field needs quotes, which this shape has none of
    source = _head(head)[1]
    ts_ms, data_id = _time(stamp, ns_per_unit, now_ms, oldest_ms)
    out.points.append(Point(data_id, source, _metric(head, key), ts_ms, value))
    return True


def _parse_line(line: str, ns_per_unit: int, now_ms: int, oldest_ms: int, out: Parsed) -> None:
    """Append the points of one line to `out`; LineProblem when the line is bad."""
    parts = _split(line, " ")
    if "" in parts:  # runs of spaces, a trailing one
        parts = [p for p in parts if p]
    if len(parts) not in (2, 3):
        raise LineProblem("", SHAPE)
    head = parts[0]
    fields = _fields(parts[1])
    source = _head(head)[1]
    if len(parts) == 3:
        ts_ms, data_id = _time(parts[2], ns_per_unit, now_ms, oldest_ms)
    else:
        ts_ms, data_id = now_ms, ""  # stored without a data_id, once per ingest entry
    found: list[Point] = []
    for key, value in fields:
        if value is None:
            out.skipped += 1
            continue
        found.append(Point(data_id, source, _metric(head, key), ts_ms, value))
    out.points.extend(found)  # only once the whole line is good


# An agent sends the same series every interval: a head (the line's first part) is read,
# cleaned and folded once per process, and a field's metric named once, not once per line
# (reading a head took ~1 µs, naming a metric ~1 µs, of a one-field line's ~4). Pure
# functions of the text, the same for every tenant; bounded (a few MiB each when full).
@functools.lru_cache(maxsize=NAMES_REMEMBERED)
def _metric(head: str, key: str) -> str:
    """The metric of a field of a line: `measurement.field` (`measurement` for a field named
    `value`) and the head's folded tags."""
    measurement, _, suffix = _head(head)
    metric = measurement if key == "value" else f"{measurement}.{clean(key)}"
    return bounded(metric + suffix)


@functools.lru_cache(maxsize=NAMES_REMEMBERED)
def _head(head: str) -> tuple[str, str, str]:
    """The measurement (cleaned), the source and the folded other tags of a line's head."""
    first, *pairs = _split(head, ",", quotes=False)
    measurement = clean(_unescape(first))
    if not measurement:
        raise LineProblem("metric_type", "the measurement is empty")
    tags: dict[str, str] = {}
    for pair in pairs:
        key, value = _pair(pair, "tag")
        tags[key] = value
    source = pick_source(tags, SOURCE_TAGS)
    if source is None:
        raise LineProblem("source", "needs a `source` or `host` tag naming the source")
    return measurement, source, folded(tags.items()) if tags else ""


def _fields(fieldset: str) -> list[tuple[str, float | None]]:
    """Each field's key and value (None: a string, to be skipped)."""
    if "\\" in fieldset or '"' in fieldset:
        pairs = [_pair(pair, "field") for pair in _split(fieldset, ",")]
    else:  # no escapes, no strings: the common case, split plainly
        pairs = [pair.partition("=")[::2] for pair in fieldset.split(",")]
        if not all(key and raw for key, raw in pairs):
            bad = next(p for p in fieldset.split(",") if not all(p.partition("=")[::2]))
            raise LineProblem("", f"field {bad[:40]!r} is not key=value")
    return [(key, _field_value(key, raw)) for key, raw in pairs]


def _pair(text: str, what: str) -> tuple[str, str]:
    """`key=value` split at its first unescaped `=`; both sides must be non-empty."""
    at = _unescaped(text, "=")
    if at <= 0 or at == len(text) - 1:
        raise LineProblem("", f"{what} {text[:40]!r} is not key=value")
    key = _unescape(text[:at])
    value = text[at + 1 :]
    return key, _unescape(value) if what == "tag" else value


def _field_value(key: str, raw: str) -> float | None:
    """A field's value as a float; None for a string field."""
    if raw[0] == '"':
        if len(raw) < 2 or raw[-1] != '"':  # _split has seen the quotes balanced
            raise LineProblem("value", f"field {key!r}: text after a string's closing quote")
        return None
    if FLOAT_RE.fullmatch(raw):
        value = float(raw)
    elif INT_RE.fullmatch(raw):
        value = float(int(raw[:-1]))
    elif raw in BOOLEANS:
        return BOOLEANS[raw]
    else:
        raise LineProblem(
            "value", f"field {key!r}: {raw[:40]!r} is not a float, integer, boolean or string"
        )
    if value in INFINITIES:
        raise LineProblem("value", f"field {key!r}: {raw[:40]!r} is out of double range")
    return value


def _time(raw: str, ns_per_unit: int, now_ms: int, oldest_ms: int) -> tuple[int, str]:
    """The timestamp's ms and resend key (`_timestamp`), refused outside the window."""
    ts_ms, data_id = _timestamp(raw, ns_per_unit)
    if (outside := window_problem(ts_ms, now_ms, oldest_ms)) is not None:
        raise LineProblem("timestamp", f"the timestamp {outside}")
    return ts_ms, data_id


def _timestamp(raw: str, ns_per_unit: int) -> tuple[int, str]:
    """Epoch milliseconds and the resend key of a timestamp: `lp:` and the nanoseconds past
    that millisecond, so the point's series, ms and key name its time to the ns. Stored with
    the ms, the key needs no more: it is part of the point's unique index entry, whose width
    is the write's cost (bench/RESULTS.md "Two writers, one index entry a point")."""
    if not TIMESTAMP_RE.fullmatch(raw):
        raise LineProblem("timestamp", f"the timestamp {raw[:40]!r} is not an integer")
    ms, past_ms = divmod(int(raw) * ns_per_unit, 1_000_000)
    return ms, f"lp:{past_ms}"


def _split(text: str, sep: str, quotes: bool = True) -> list[str]:
    """`text` split at each `sep` that is neither escaped nor (with `quotes`) in a string."""
    if "\\" not in text and (not quotes or '"' not in text):
        return text.split(sep)
    parts, start, i, quoted = [], 0, 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if quotes and ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted:
        raise LineProblem("value", "unterminated string")
    parts.append(text[start:])
    return parts


def _unescaped(text: str, ch: str) -> int:
    """The index of the first `ch` in `text` not escaped by a backslash (-1: none)."""
    at = text.find(ch)
    while at > 0 and text[at - 1] == "\\":
        at = text.find(ch, at + 1)
    return at


def _unescape(text: str) -> str:
    return UNESCAPE_RE.sub(r"\1", text) if "\\" in text else text
