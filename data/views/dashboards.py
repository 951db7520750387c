"""What a dashboard page draws: each widget's series read through the same queries as
`GET /api/data` (data/stores/queries.py), over the widget's own range or the dashboard's,
and what the browser needs to keep the live widgets live over one /ws socket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import RedisError

from data.domain.dashboards import DashboardSpec, Widget
from data.domain.data_query import QueryError, parse_query
from data.domain.errors import Invalid
from data.domain.patterns import PatternSet
from data.stores.incidents import Incidents
from data.stores.queries import DataQueries

LIVE_TYPES = ("kpi", "line", "area", "table", "notifications")
NOTIFICATIONS_SHOWN = 8


@dataclass
class WidgetData:
    """One widget's history: series as /api/data answers them, or why there are none."""

    series: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)


def metric_names(patterns: list[str], known: set[str]) -> list[str]:
    """The concrete metric names of a widget's patterns: globs expanded over the tenant's
    known metrics (a query takes names, a socket takes globs)."""
    exact = [p for p in patterns if "*" not in p]
    globs = PatternSet(p for p in patterns if "*" in p)
    expanded = sorted(m for m in known if globs.matches(m))
    return list(dict.fromkeys(exact + expanded))[:20]


def query_args(widget: Widget, spec: DashboardSpec, metrics: list[str]) -> dict[str, list[str]]:
    """The /api/data parameters of a widget: its query over its range (or the dashboard's),
    its sources narrowed to the dashboard's filter when it has one."""
    time = widget.time or spec.time
    sources = list(widget.query.source) or list(spec.filters.source)
    plain = [s for s in sources if "*" not in s]
    return {
        "metric": metrics,
        "source": plain,
        "start": [time.start],
        "end": [time.end],
        "agg": [widget.query.agg],
        "step": [widget.query.step],
    }


def _source_filter(widget: Widget, spec: DashboardSpec) -> PatternSet | None:
    sources = list(widget.query.source) or list(spec.filters.source)
    return PatternSet(sources) if sources else None


def widget_data(
    queries: DataQueries, tenant: str, spec: DashboardSpec, widget: Widget, now_ms: int
) -> WidgetData:
    """A widget's series from history (or the problem that stops its query)."""
    known = {metric for metric, _ in queries.live.latest(tenant)}
    metrics = metric_names(list(widget.query.metric), known)
    if not metrics:
        return WidgetData(problem="No metric matches this widget's query yet.")
    try:
        query = parse_query(query_args(widget, spec, metrics), now_ms)
    except (QueryError, Invalid) as exc:
        return WidgetData(problem="; ".join(d["message"] for d in exc.details))
    series = orjson.loads(queries.answer(tenant, query))["series"]
    keep = _source_filter(widget, spec)
    if keep is not None:
        series = [s for s in series if keep.matches(s["source"])]
    return WidgetData(series=series)


def dashboard_data(
    queries: DataQueries,
    incidents: Incidents,
    who: tuple[str, str],
    spec: DashboardSpec,
    now_ms: int,
) -> tuple[dict[str, WidgetData], str | None]:
    """Every widget's data, and the live cursor read before any of it (resuming /ws from
    it may repeat a point already drawn, never miss one)."""
    tenant, user_id = who
    try:
        cursor: str | None = queries.live.current_cursor(tenant)
    except RedisError:
        cursor = None
    out: dict[str, WidgetData] = {}
    for widget in spec.widgets:
        if widget.type == "notifications":
            page, _, _ = incidents.notifications(tenant, user_id, limit=NOTIFICATIONS_SHOWN)
            out[widget.id] = WidgetData(notifications=page)
        else:
            out[widget.id] = widget_data(queries, tenant, spec, widget, now_ms)
    return out, cursor


def live_plan(
    spec: DashboardSpec, data: dict[str, WidgetData], cursor: str | None
) -> dict[str, Any]:
    """What assets/dashboards.js needs: the union of live metric patterns for the page's one
    socket, and per live widget its patterns and the series (traces) it draws."""
    widgets = []
    metrics: set[str] = set()
    for widget in spec.widgets:
        if not widget.live or widget.type not in LIVE_TYPES:
            continue
        sources = list(widget.query.source) or list(spec.filters.source)
        series = data[widget.id].series if widget.id in data else []
        widgets.append(
            {
                "id": widget.id,
                "type": widget.type,
                "metrics": list(widget.query.metric),
                "sources": sources,
                "traces": [f"{s['metric']}|{s['source']}" for s in series],
                "latest": {
                    f"{s['metric']}|{s['source']}": s["points"][-1] for s in series if s["points"]
                },
            }
        )
        metrics.update(widget.query.metric)
    return {"cursor": cursor, "metrics": sorted(metrics), "widgets": widgets}
