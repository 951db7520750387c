"""The parameters of `GET /api/forecast` and `GET /api/forecast/band` (CONTRACT §9) as a
value, or QueryError naming each bad one. No I/O.

`history` is read at the step `step=auto` picks for it (≤ 1,500 buckets); `horizon` is at
most a quarter of the history (a forecast needs three backtest windows of its horizon and a
training window before them) and at most MAX_HORIZON_MS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from data.domain.data_query import AGGS, DAY_MS, HOUR_MS, QueryError, parse_duration_ms
from data.domain.points import NAME_RE

DEFAULT_HORIZON = "6h"
DEFAULT_HISTORY = "14d"
MIN_HISTORY_MS = HOUR_MS
MAX_HISTORY_MS = 92 * DAY_MS
MAX_HORIZON_MS = 7 * DAY_MS
HORIZON_SHARE = 4  # the horizon is at most history / this


@dataclass(frozen=True, slots=True)
class ForecastQuery:
    """A validated forecast (or band) request."""

    metric: str
    source: str | None  # None: the metric's only source
    horizon_ms: int  # 0 for the band
    history_ms: int
    agg: str


def parse_forecast_query(
    args: Mapping[str, Sequence[str]], with_horizon: bool = True
) -> ForecastQuery:
    """A ForecastQuery from query-string lists, or QueryError with one detail per bad field."""
    problems: list[dict[str, str]] = []

    def one(field: str, default: str | None) -> str | None:
        values = args.get(field) or ([default] if default is not None else [])
        if len(values) > 1:
            problems.append({"field": field, "message": "give it once"})
        return values[0].strip() if values else None

    metric, source = one("metric", None), one("source", None)
    problems += _name_problems(metric, source)
    agg = one("agg", "avg") or "avg"
    if agg not in AGGS:
        problems.append({"field": "agg", "message": f"must be one of {', '.join(AGGS)}"})
    history = _duration(one("history", DEFAULT_HISTORY), MIN_HISTORY_MS, MAX_HISTORY_MS)
    if history is None:
        problems.append({"field": "history", "message": "must be a duration from 1h to 92d"})
    horizon = 0
    if with_horizon:
        top = min(MAX_HORIZON_MS, (history or MAX_HISTORY_MS) // HORIZON_SHARE)
        horizon = _duration(one("horizon", DEFAULT_HORIZON), 1, top) or 0
        if not horizon:
            problems.append(
                {
                    "field": "horizon",
                    "message": "must be a duration such as 6h, at most 7d"
                    " and at most a quarter of the history",
                }
            )
    if problems:
        raise QueryError(problems)
    assert metric is not None and history is not None
    return ForecastQuery(metric, source, horizon, history, agg)


_NAME_MESSAGE = "must be 1-128 characters of A-Z a-z 0-9 _ . : -"


def _name_problems(metric: str | None, source: str | None) -> list[dict[str, str]]:
    out = []
    if not metric:
        out.append({"field": "metric", "message": "a metric is required"})
    elif not NAME_RE.fullmatch(metric):
        out.append({"field": "metric", "message": _NAME_MESSAGE})
    if source is not None and not NAME_RE.fullmatch(source):
        out.append({"field": "source", "message": _NAME_MESSAGE})
    return out


def _duration(raw: str | None, low: int, high: int) -> int | None:
    ms = parse_duration_ms(raw or "")
    return ms if ms is not None and low <= ms <= high else None
