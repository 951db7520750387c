"""The /explore view's state: filters, their query string, and the query they stand for.

The filters live in the page's URL so a view can be shared as a link and survives a reload.
The query string reuses `GET /api/data`'s own parameters (`metric`, `source`, `start`, `end`,
`step`, `agg`) so a preset view's link reads like the API query behind it; the page's own
choices (chart type, trend helpers, live) follow, and are omitted when at their default.
A custom range is a pair of calendar days (`start=2026-01-02&end=2026-01-05`, end included),
read in the viewer's time zone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, text

from data.domain.data_query import AGGS, DataQuery, QueryError, parse_query
from data.stores.live import LiveStore

PRESETS = {  # key: (label, start as /api/data reads it)
    "15m": ("Last 15 min", "now-15m"),
    "1h": ("Last 1 h", "now-1h"),
    "6h": ("Last 6 h", "now-6h"),
    "24h": ("Last 24 h", "now-24h"),
    "7d": ("Last 7 d", "now-7d"),
    "30d": ("Last 30 d", "now-30d"),
}
CUSTOM = "custom"
STEPS = ("auto", "10s", "1m", "5m", "15m", "1h", "6h", "1d")
CHARTS = ("line", "area", "bar", "pie", "heatmap", "table")
LIVE_CHARTS = ("line", "area", "bar")  # the time-series charts live points extend
FORECAST_CHARTS = LIVE_CHARTS  # the charts a forecast or anomaly band is drawn on
MOVING_AVERAGES = (0, 3, 5, 10, 30)  # window in buckets; 0 is off
BREAKDOWNS = ("source", "metric")
MAX_NAMES = 2_000  # options offered in a filter; a tenant with more types to search


@dataclass(frozen=True, slots=True)
class ExploreFilters:
    """Everything that defines an /explore view."""

    metrics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    range: str = "1h"  # a PRESETS key or CUSTOM
    start_day: str | None = None  # CUSTOM only: ISO dates, the end day included
    end_day: str | None = None
    agg: str = "avg"
    step: str = "auto"
    chart: str = "line"
    moving_average: int = 0
    compare: bool = False
    breakdown: str = "source"
    live: bool = False
    forecast: bool = False  # the forecast after the live edge, with its bands and backtest
    band: bool = False  # the 95 % anomaly band over the past

    @property
    def ends_now(self) -> bool:
        """Whether the range ends at the present, so live points can extend it."""
        return self.range in PRESETS

    @property
    def is_live(self) -> bool:
        """Whether the view should append live points from /ws."""
        return self.live and self.ends_now and self.chart in LIVE_CHARTS

    @property
    def overlays(self) -> tuple[str, ...]:
        """The forecast overlays the view asks for ("forecast", "band"), on charts that
        draw time series."""
        if self.chart not in FORECAST_CHARTS:
            return ()
        return tuple(m for m, on in (("band", self.band), ("forecast", self.forecast)) if on)


DEFAULT = ExploreFilters()


def _choice(value: str | None, allowed: Sequence[str], default: str) -> str:
    return value if value is not None and value in allowed else default


def _first(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name)
    return values[0] if values else None


def filters_from_search(search: str | None, default_start: str | None = None) -> ExploreFilters:
    """The filters a query string describes; anything unreadable falls back to the default
    (except a custom range, kept as typed so the page can say what is wrong with it). With
    no range in it, the range starts at `default_start` (the user's default range) when
    that is one of the presets."""
    args = parse_qs((search or "").lstrip("?"), keep_blank_values=False)
    start, end = _first(args, "start"), _first(args, "end")
    preset = next((k for k, (_, rel) in PRESETS.items() if rel == start), None)
    if preset and end in (None, "now"):
        range_, start_day, end_day = preset, None, None
    elif start or end:
        range_, start_day, end_day = CUSTOM, start, end
    else:
        preferred = next((k for k, (_, rel) in PRESETS.items() if rel == default_start), None)
        range_, start_day, end_day = preferred or DEFAULT.range, None, None
    ma = _first(args, "ma") or "0"
    return ExploreFilters(
        metrics=tuple(dict.fromkeys(args.get("metric", []))),
        sources=tuple(dict.fromkeys(args.get("source", []))),
        range=range_,
        start_day=start_day,
        end_day=end_day,
        agg=_choice(_first(args, "agg"), AGGS, DEFAULT.agg),
        step=_choice(_first(args, "step"), STEPS, DEFAULT.step),
        chart=_choice(_first(args, "chart"), CHARTS, DEFAULT.chart),
        moving_average=int(ma) if ma.isdigit() and int(ma) in MOVING_AVERAGES else 0,
        compare=_first(args, "compare") == "1",
        breakdown=_choice(_first(args, "breakdown"), BREAKDOWNS, DEFAULT.breakdown),
        live=_first(args, "live") == "1",
        forecast=_first(args, "forecast") == "1",
        band=_first(args, "band") == "1",
    )


def search_of(filters: ExploreFilters) -> str:
    """The query string of a view (with its `?`), page choices only when not the default."""
    pairs: list[tuple[str, str]] = [("metric", m) for m in filters.metrics]
    pairs += [("source", s) for s in filters.sources]
    if filters.range in PRESETS:
        pairs += [("start", PRESETS[filters.range][1]), ("end", "now")]
    else:
        pairs += [("start", filters.start_day or ""), ("end", filters.end_day or "")]
    extras = {
        "agg": filters.agg,
        "step": filters.step,
        "chart": filters.chart,
        "ma": str(filters.moving_average),
        "compare": "1" if filters.compare else "0",
        "breakdown": filters.breakdown,
        "live": "1" if filters.live else "0",
        "forecast": "1" if filters.forecast else "0",
        "band": "1" if filters.band else "0",
    }
    defaults = search_defaults()
    pairs += [(k, v) for k, v in extras.items() if v != defaults[k]]
    return "?" + urlencode(pairs)


def search_defaults() -> dict[str, str]:
    """The query-string value of each page choice at its default (omitted from links)."""
    return {
        "agg": DEFAULT.agg,
        "step": DEFAULT.step,
        "chart": DEFAULT.chart,
        "ma": "0",
        "compare": "0",
        "breakdown": DEFAULT.breakdown,
        "live": "0",
        "forecast": "0",
        "band": "0",
    }


def with_changes(filters: ExploreFilters, **changes: object) -> ExploreFilters:
    """A copy of the filters with some fields replaced."""
    return dataclasses.replace(filters, **changes)  # type: ignore[arg-type]


# -- the query behind a view --------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    """The viewer's time zone by IANA name, UTC when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day_start_epoch(day: str | None, tz: ZoneInfo, field: str, plus_days: int = 0) -> str:
    try:
        parsed = date.fromisoformat((day or "")[:10])
    except ValueError:
        raise QueryError([{"field": field, "message": "pick a day"}]) from None
    moment = datetime.combine(parsed + timedelta(days=plus_days), time(), tzinfo=tz)
    return str(int(moment.timestamp()))


def data_query(filters: ExploreFilters, tz_name: str | None, now_ms: int) -> DataQuery:
    """The /api/data query of a view, or QueryError saying what is wrong with it."""
    if not filters.metrics:
        raise QueryError([{"field": "metric", "message": "pick at least one metric"}])
    if filters.range in PRESETS:
        start, end = PRESETS[filters.range][1], "now"
    else:
        tz = zone(tz_name)
        start = _day_start_epoch(filters.start_day, tz, "start")
        end = _day_start_epoch(filters.end_day, tz, "end", plus_days=1)
        if int(end) <= int(start):
            raise QueryError([{"field": "end", "message": "the last day is before the first"}])
    args = {
        "metric": list(filters.metrics),
        "source": list(filters.sources),
        "start": [start],
        "end": [end],
        "step": [filters.step],
        "agg": [filters.agg],
    }
    return parse_query(args, now_ms)


def previous_period(query: DataQuery) -> DataQuery:
    """The same query over the period just before it (same length, same buckets)."""
    span = query.end_ms - query.start_ms
    return dataclasses.replace(query, start_ms=query.start_ms - span, end_ms=query.start_ms)


# -- what a tenant has --------------------------------------------------------------------

_SERIES_SQL = text(
    "SELECT DISTINCT metric_type, source FROM rollup_1h WHERE tenant_id = :tenant LIMIT :limit"
)


def series_names(engine: Engine, live: LiveStore, tenant: str) -> list[tuple[str, str]]:
    """The tenant's (metric, source) pairs: live ones from the latest values, older ones from
    the hourly rollup (one row per series per hour, read by its primary key's tenant prefix)."""
    names = set(live.latest(tenant))
    with engine.connect() as conn:
        rows = conn.execute(_SERIES_SQL, {"tenant": tenant, "limit": MAX_NAMES}).all()
    names.update((row[0], row[1]) for row in rows)
    return sorted(names)
