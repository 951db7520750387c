"""Forecasts and anomaly bands of a tenant's series (CONTRACT §9), read through the history
store and cached in Redis for one step.

The history is read like `GET /api/data?step=auto` reads it (data/stores/queries.py): the
step `auto_step_ms` picks for the history's span, from the tier that step belongs to, in
buckets of the asked aggregate. Only complete buckets are used: the bucket in progress
would pull a sum or a count down, so the series ends at the last bucket that closed.

The cache key holds the tenant, the series, the aggregate, the horizon and history, the
engine's version and the last closed bucket; it lives for one step. A repeat within the
step is a Redis read, the first request after a bucket closes computes afresh, and no two
tenants ever share an entry. A refusal (NotEnoughHistory) is not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError
from sqlalchemy import Engine

from data.domain.data_query import DataQuery, QueryError, auto_step_ms
from data.domain.forecasting import (
    BAND_MIN_STEPS,
    NotEnoughHistory,
    fit_band,
    fit_forecast,
    needed_steps,
)
from data.stores.live import LiveStore
from data.stores.queries import query_frame

ENGINE_VERSION = "1"  # part of every cache key: a changed engine never serves old answers

Computed = Callable[[list[int], list[float | None], int], dict[str, Any]]


class ForecastServices(Protocol):
    """What a forecast reads: app.services.Services satisfies it."""

    engine: Engine
    live: LiveStore

    def now_ms(self) -> int: ...


def history_query(
    now_ms: int, metric: str, source: str | None, history_ms: int, agg: str
) -> DataQuery:
    """The /api/data query of the series' complete buckets over the last `history_ms`."""
    step = auto_step_ms(now_ms - history_ms, now_ms)
    end = now_ms - now_ms % step  # the bucket in progress is left out
    start = end - history_ms // step * step
    return DataQuery((metric,), (source,) if source else (), start, end, step, agg)


def forecast_for(
    services: ForecastServices,
    tenant_id: str,
    metric: str,
    source: str | None,
    horizon_ms: int,
    history_ms: int,
    agg: str,
) -> dict[str, Any]:
    """CONTRACT §9's forecast of one series; raises NotEnoughHistory, or QueryError when
    `source` is omitted and the metric has several."""
    query = history_query(services.now_ms(), metric, source, history_ms, agg)
    horizon_steps = max(1, math.ceil(horizon_ms / query.step_ms))

    def compute(ts: list[int], values: list[float | None], step: int) -> dict[str, Any]:
        forecast = fit_forecast(ts, values, step, horizon_steps)
        return {
            "method": forecast.method,
            "points": [[p[0], *map(_finite, p[1:])] for p in forecast.points],
            "backtest": _finite_figures(forecast.backtest),
        }

    extra = {"horizon_steps": horizon_steps}
    return _cached(
        services, tenant_id, "forecast", query, extra, needed_steps(horizon_steps), compute
    )


def band_for(
    services: ForecastServices,
    tenant_id: str,
    metric: str,
    source: str | None,
    history_ms: int,
    agg: str,
) -> dict[str, Any]:
    """The anomaly band of one series over its history: {metric, source, step_ms, method,
    points: [[ts_ms, value, yhat, lo95, hi95, outside], …]}; raises like forecast_for."""
    query = history_query(services.now_ms(), metric, source, history_ms, agg)

    def compute(ts: list[int], values: list[float | None], step: int) -> dict[str, Any]:
        band = fit_band(ts, values, step)
        points = [
            [p[0], _finite(p[1]), _finite(p[2]), _finite(p[3]), _finite(p[4]), p[5]]
            for p in band.points
        ]
        return {"method": band.method, "points": points}

    return _cached(services, tenant_id, "band", query, {}, BAND_MIN_STEPS, compute)


def _cached(
    services: ForecastServices,
    tenant_id: str,
    kind: str,
    query: DataQuery,
    extra: dict[str, Any],
    needed: int,
    compute: Computed,
) -> dict[str, Any]:
    key = cache_key(services.live.prefix, tenant_id, kind, query, extra)
    with contextlib.suppress(RedisError):  # the cache is an optimisation
        cached = services.live.redis.get(key)
        if cached is not None:
            answer: dict[str, Any] = orjson.loads(cached)
            return answer
    source, ts, values = read_series(services.engine, tenant_id, query, needed)
    head = {"metric": query.metrics[0], "source": source, "step_ms": query.step_ms}
    answer = {**head, **compute(ts, values, query.step_ms)}
    with contextlib.suppress(RedisError):
        services.live.redis.set(key, orjson.dumps(answer), px=query.step_ms)
    return answer


def cache_key(
    prefix: str, tenant_id: str, kind: str, query: DataQuery, extra: dict[str, Any]
) -> str:
    """The Redis key of a forecast or band: per tenant, series, choices and closed bucket."""
    parts = [ENGINE_VERSION, kind, query.normalised().decode(), sorted(extra.items())]
    digest = hashlib.sha256(orjson.dumps(parts)).hexdigest()
    return f"{prefix}forecast-cache:{tenant_id}:{digest}"


def read_series(
    engine: Engine, tenant_id: str, query: DataQuery, needed: int
) -> tuple[str, list[int], list[float | None]]:
    """(source, bucket times, values) of the query's one series, on the full grid of its
    range (None where a bucket had no points, 0 when the aggregate is a count)."""
    frame = query_frame(engine, tenant_id, query)
    sources = sorted(set(frame["source"].to_list()))
    if not sources:
        raise NotEnoughHistory(needed, 0, query.step_ms)
    if len(sources) > 1:
        raise QueryError(
            [{"field": "source", "message": f"the metric has {len(sources)} sources: pick one"}]
        )
    found = dict(zip(frame["ts_ms"].to_list(), frame["value"].to_list(), strict=True))
    ts = list(range(query.start_ms, query.end_ms, query.step_ms))
    # a bucket without points counted none; of any other aggregate it is unknown (a gap)
    missing = 0.0 if query.agg == "count" else None
    return sources[0], ts, [found.get(t, missing) for t in ts]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _finite_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """The backtest with NaN and infinities as null (JSON has neither)."""
    return {
        k: _finite_figures(v) if isinstance(v, dict) else _finite(v) if isinstance(v, float) else v
        for k, v in figures.items()
    }
