"""What the overview page shows at load: series, sparklines, recent history, the cursor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

from data.stores.history import HistoryStore
from data.stores.live import LiveStore

MAX_CARDS = 12
MAX_CHARTS = 8
CHART_WINDOW_MS = 15 * 60_000
SPARK_WINDOW_MS = 60 * 60_000
DEFAULT_INTERVAL_MS = 1_000


@dataclass(frozen=True, slots=True)
class SeriesCard:
    """One KPI card: a series' latest value, its hour-ago value, sparkline and cadence."""

    key: str
    metric: str
    source: str
    value: float
    ts: int
    hour_ago: float | None
    interval_ms: int
    spark: list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class ChartData:
    """One live chart: a metric with a trace per source."""

    metric: str
    sources: list[str]
    traces: list[list[tuple[int, float]]]


@dataclass(frozen=True, slots=True)
class OverviewSnapshot:
    """Everything the overview renders, plus the cursor that live updates resume from."""

    cursor: str
    now: int
    cards: list[SeriesCard]
    charts: list[ChartData]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def usual_interval_ms(points: list[tuple[int, float]]) -> int:
    """The median gap between recent points: how often this series normally reports."""
    recent = points[-30:]
    gaps = [b[0] - a[0] for a, b in zip(recent, recent[1:], strict=False) if b[0] > a[0]]
    return int(median(gaps)) if gaps else DEFAULT_INTERVAL_MS


def hour_ago_value(minutes: list[tuple[int, float]], now_ms: int) -> float | None:
    """The per-minute average of the minute an hour ago, if the series had one."""
    target = now_ms - SPARK_WINDOW_MS
    target -= target % 60_000
    return next((v for t, v in minutes if t == target), None)


def load_overview(
    live: LiveStore, history: HistoryStore, tenant: str, now_ms: int
) -> OverviewSnapshot:
    """The overview of a tenant; the cursor is read first so no later point is missed."""
    cursor = live.current_cursor(tenant)
    latest = live.latest(tenant)
    keys = sorted(latest)[:MAX_CARDS]
    raw = {
        (s.metric, s.source): s.points for s in history.recent_raw(tenant, now_ms - CHART_WINDOW_MS)
    }
    minutes = {
        (s.metric, s.source): s.points
        for s in history.minute_series(tenant, now_ms - SPARK_WINDOW_MS - 60_000)
    }
    cards = []
    for metric, source in keys:
        ts, value = latest[(metric, source)]
        spark = minutes.get((metric, source), [])
        hour_ago = hour_ago_value(spark, now_ms)
        cards.append(
            SeriesCard(
                f"{metric}|{source}",
                metric,
                source,
                value,
                ts,
                hour_ago,
                usual_interval_ms(raw.get((metric, source), [])),
                spark,
            )
        )
    return OverviewSnapshot(cursor, now_ms, cards, _charts(sorted(latest), raw))


def _charts(
    keys: list[tuple[str, str]], raw: dict[tuple[str, str], list[tuple[int, float]]]
) -> list[ChartData]:
    by_metric: dict[str, list[str]] = {}
    for metric, source in keys:
        by_metric.setdefault(metric, []).append(source)
    charts = []
    for metric in list(by_metric)[:MAX_CHARTS]:
        sources = by_metric[metric]
        charts.append(ChartData(metric, sources, [raw.get((metric, s), []) for s in sources]))
    return charts
