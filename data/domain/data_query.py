"""A query of `GET /api/data` (and of a file export) as a value: parsing its parameters,
the step and the tier that computes it. No I/O: data/stores/queries.py reads it.

A query asks for buckets of `step` aligned to UTC epoch multiples of the step. Every bucket
that overlaps [start, end) is answered whole: the range is widened to bucket boundaries
(start floored, end ceiled to the step) so that the raw tier and the rollup tiers describe
exactly the same points, and a bucket never holds only a part of what it stands for.

The tier follows the step: a step that is a multiple of an hour reads `rollup_1h`, of a
minute `rollup_1m`, anything finer the raw `points`. `step=auto` picks the smallest nice
step within 1,500 buckets whose tier stays cheap for the range (AUTO_TIER_MAX_SPAN_MS): 30
days come at 1h from `rollup_1h` rather than at 30m from 43,200 minute rows per series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from data.domain.errors import Invalid
from data.domain.points import NAME_RE, parse_timestamp_ms

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
UNIT_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}

AGGS = ("avg", "min", "max", "sum", "count", "last")
AUTO_MAX_POINTS = 1_500  # the contract: step=auto keeps a series at or under this
MAX_BUCKETS = 10_000  # an explicit step finer than this many buckets per series is refused
MAX_RANGE_MS = 400 * DAY_MS
MAX_STEP_MS = MAX_RANGE_MS
MAX_TIME_MS = 32_503_680_000_000  # 3000-01-01: times past it are typos, and overflow dates
MAX_METRICS = 20
MAX_SOURCES = 100
DEFAULT_RANGE = ("now-1h", "now")
# step=auto reads a finer tier only over ranges where that stays cheap: what a query costs is
# the rows it reads, not the buckets it answers. 30 days at 30m read 43,200 minute rows per
# series (~120-330 ms measured by bench/history.py), at 1h 720 hour rows (~8 ms). The limits
# keep a series at about 21,600 rows read: 15 days of minutes, 6 hours of points at 1 Hz.
AUTO_TIER_MAX_SPAN_MS = {"raw": 6 * HOUR_MS, "1m": 15 * DAY_MS}
# An explicit step is the caller's choice, so it may read more, but not without bound: a step
# of 3457 s is no whole minute, so it reads raw points, and over 400 days that is every point
# kept. Past these spans an answer in JSON needs a step the next tier can compute.
EXPLICIT_TIER_MAX_SPAN_MS = {"raw": 2 * DAY_MS, "1m": 92 * DAY_MS}
_COARSER_STEP = {"raw": "a whole number of minutes or hours", "1m": "a whole number of hours"}
# The "nice" steps step=auto picks from: the smallest one keeping a series ≤ 1,500 points.
NICE_STEPS_MS = tuple(
    n * UNIT_MS[unit]
    for n, unit in (
        (1, "s"),
        (2, "s"),
        (5, "s"),
        (10, "s"),
        (15, "s"),
        (30, "s"),
        (1, "m"),
        (2, "m"),
        (5, "m"),
        (10, "m"),
        (15, "m"),
        (30, "m"),
        (1, "h"),
        (2, "h"),
        (3, "h"),
        (6, "h"),
        (12, "h"),
        (1, "d"),
        (2, "d"),
        (7, "d"),
        (14, "d"),
        (28, "d"),
    )
)

DURATION_RE = re.compile(r"(\d{1,9})([smhdw])")
RELATIVE_RE = re.compile(r"now(?:([+-])(\d{1,9})([smhdw]))?")
EPOCH_RE = re.compile(r"\d{1,12}(?:\.\d{1,6})?")


class QueryError(Invalid):
    """A query with bad parameters; `details` has one {"field", "message"} per problem."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(details, "query")


@dataclass(frozen=True, slots=True)
class DataQuery:
    """A validated query, its range already widened to whole buckets of `step_ms`."""

    metrics: tuple[str, ...]  # sorted, distinct
    sources: tuple[str, ...]  # sorted, distinct; empty means every source
    start_ms: int  # a multiple of step_ms, inclusive
    end_ms: int  # a multiple of step_ms, exclusive
    step_ms: int
    agg: str

    @property
    def step(self) -> str:
        """The step as the answer names it (`10s`, `1m`, `6h`, `1d`)."""
        return step_label(self.step_ms)

    @property
    def tier(self) -> str:
        """Where the buckets are computed from: `raw`, `1m` or `1h`."""
        return tier_of(self.step_ms)

    @property
    def buckets(self) -> int:
        """How many buckets each series can have at most."""
        return (self.end_ms - self.start_ms) // self.step_ms

    def normalised(self) -> bytes:
        """The query with every choice resolved: equal bytes, equal answer."""
        return orjson.dumps(
            [self.metrics, self.sources, self.start_ms, self.end_ms, self.step_ms, self.agg]
        )


# -- parsing ------------------------------------------------------------------------------


def parse_query(
    args: Mapping[str, Sequence[str]], now_ms: int, max_buckets: int | None = MAX_BUCKETS
) -> DataQuery:
    """A DataQuery from query-string lists (`metric` and `source` repeat), or QueryError
    naming every bad parameter. Parameters it does not know are ignored. `max_buckets`
    caps an explicit step's buckets per series (None: no cap; a file export streams any
    number of rows, an answer in JSON does not)."""
    problems: list[dict[str, str]] = []

    def problem(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    metrics = _names(args.get("metric", []), "metric", MAX_METRICS, problem)
    if not args.get("metric"):
        problem("metric", "at least one metric is required")
    sources = _names(args.get("source", []), "source", MAX_SOURCES, problem)
    start = _one_time(args, "start", DEFAULT_RANGE[0], now_ms, problem)
    end = _one_time(args, "end", DEFAULT_RANGE[1], now_ms, problem)
    agg = _one(args, "agg", "avg", problem)
    if agg not in AGGS:
        problem("agg", f"must be one of {', '.join(AGGS)}")
    step_raw = _one(args, "step", "auto", problem)
    step_ms = None if step_raw == "auto" else parse_duration_ms(step_raw)
    if step_raw != "auto" and (step_ms is None or step_ms > MAX_STEP_MS):
        problem(
            "step",
            "must be auto or a whole number of s, m, h, d or w, such as 10s or 1h,"
            f" up to {MAX_STEP_MS // DAY_MS}d",
        )
        step_ms = None
    if start is not None and end is not None:
        if end <= start:
            problem("end", "must be after start")
        elif end - start > MAX_RANGE_MS:
            problem("end", f"the range is at most {MAX_RANGE_MS // DAY_MS} days")
        elif step_ms is not None and max_buckets is not None:
            _check_explicit_step(start, end, step_ms, max_buckets, problem)
    if problems:
        raise QueryError(problems)
    assert start is not None and end is not None
    step = step_ms if step_ms is not None else auto_step_ms(start, end)
    return DataQuery(metrics, sources, start - start % step, -(-end // step) * step, step, agg)


def _check_explicit_step(
    start: int, end: int, step_ms: int, max_buckets: int, problem: Any
) -> None:
    """An explicit step answers at most `max_buckets` per series and reads a tier only over
    the span where that stays cheap."""
    tier = tier_of(step_ms)
    span = EXPLICIT_TIER_MAX_SPAN_MS.get(tier)
    if _bucket_count(start, end, step_ms) > max_buckets:
        problem("step", f"too fine for this range: at most {max_buckets} buckets per series")
    elif span is not None and end - start > span:
        problem(
            "step",
            f"over more than {span // DAY_MS} days, use a step of {_COARSER_STEP[tier]}"
            " (or step=auto)",
        )


def _one(args: Mapping[str, Sequence[str]], field: str, default: str, problem: Any) -> str:
    values = args.get(field) or [default]
    if len(values) > 1:
        problem(field, "give it once")
    return values[0].strip()


def _names(raw: Sequence[str], field: str, limit: int, problem: Any) -> tuple[str, ...]:
    names = tuple(sorted({name.strip() for name in raw}))
    if len(names) > limit:
        problem(field, f"at most {limit} names")
    for name in names:
        if not NAME_RE.fullmatch(name):
            problem(field, f"{name[:140]!r} is not 1-128 characters of A-Z a-z 0-9 _ . : -")
    return names


def _one_time(
    args: Mapping[str, Sequence[str]], field: str, default: str, now_ms: int, problem: Any
) -> int | None:
    ts_ms = parse_time_ms(_one(args, field, default, problem), now_ms)
    if ts_ms is None:
        problem(
            field,
            "must be RFC 3339 with a zone, epoch seconds, or relative: now, now-15m, now-7d",
        )
    return ts_ms


def parse_duration_ms(raw: str) -> int | None:
    """Milliseconds of `<n><unit>` (units s, m, h, d, w; n ≥ 1); None when it is not one."""
    match = DURATION_RE.fullmatch(raw)
    if not match or int(match[1]) == 0:
        return None
    return int(match[1]) * UNIT_MS[match[2]]


def parse_time_ms(raw: str, now_ms: int) -> int | None:
    """Epoch ms of an RFC 3339 time, epoch seconds or `now[±<n><unit>]`; None if unreadable."""
    relative = RELATIVE_RE.fullmatch(raw)
    ts_ms: int | None
    if relative:
        offset = int(relative[2]) * UNIT_MS[relative[3]] if relative[1] else 0
        ts_ms = now_ms - offset if relative[1] == "-" else now_ms + offset
    elif EPOCH_RE.fullmatch(raw):
        ts_ms = round(float(raw) * 1000)
    else:
        ts_ms = parse_timestamp_ms(raw) if raw else None
    return ts_ms if ts_ms is not None and 0 <= ts_ms <= MAX_TIME_MS else None


def _bucket_count(start_ms: int, end_ms: int, step_ms: int) -> int:
    return -(-end_ms // step_ms) - start_ms // step_ms


def tier_of(step_ms: int) -> str:
    """The tier a step is computed from: `1h` for whole hours, `1m` for whole minutes."""
    if step_ms % HOUR_MS == 0:
        return "1h"
    if step_ms % MINUTE_MS == 0:
        return "1m"
    return "raw"


def auto_step_ms(start_ms: int, end_ms: int) -> int:
    """The smallest nice step keeping the widened range at or under AUTO_MAX_POINTS buckets
    whose tier may serve a range this long (AUTO_TIER_MAX_SPAN_MS)."""
    for step in NICE_STEPS_MS:
        if _bucket_count(start_ms, end_ms, step) > AUTO_MAX_POINTS:
            continue
        if end_ms - start_ms <= AUTO_TIER_MAX_SPAN_MS.get(tier_of(step), MAX_RANGE_MS):
            return step
    return NICE_STEPS_MS[-1]  # not reached within MAX_RANGE_MS


def step_label(step_ms: int) -> str:
    """`90s`, `2m`, `6h`, `7d`: the largest unit that divides the step."""
    for unit in ("d", "h", "m", "s"):
        if step_ms % UNIT_MS[unit] == 0:
            return f"{step_ms // UNIT_MS[unit]}{unit}"
    return f"{step_ms}ms"
