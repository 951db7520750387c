"""Forecasts and anomaly bands of one series, read through /api/data's own cached reader.

STAND-IN: replaced at merge by the engine helper's module. A seasonal-naive forecast (a
day's season when the history holds two, else the trailing mean) with bands from the
in-sample residuals, so the pages and their tests run; the signatures are the engine's.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine

from data.domain.data_query import DAY_MS, parse_query
from data.domain.forecasting import NotEnoughHistory
from data.stores.live import LiveStore
from data.stores.queries import DataQueries

MIN_STEPS = 12
Z80, Z95 = 1.2816, 1.96
BACKTESTS = 12


class ForecastServices(Protocol):
    """What a forecast reads through: the history store, the live store, the clock."""

    engine: Engine
    live: LiveStore

    def now_ms(self) -> int: ...


def _history(
    services: ForecastServices,
    tenant: str,
    metric: str,
    source: str | None,
    history_ms: int,
    agg: str,
) -> tuple[int, list[tuple[int, float]]]:
    args = {
        "metric": [metric],
        "source": [source] if source else [],
        "start": [f"now-{max(1, history_ms // 1000)}s"],
        "end": ["now"],
        "step": ["auto"],
        "agg": [agg],
    }
    query = parse_query(args, services.now_ms())
    doc = orjson.loads(DataQueries(services.engine, services.live).answer(tenant, query))
    series = [s for s in doc["series"] if source in (None, s["source"])][:1]
    points = [(int(t), float(v)) for s in series for t, v in s["points"] if v is not None]
    if len(points) < MIN_STEPS:
        raise NotEnoughHistory(MIN_STEPS, len(points))
    return query.step_ms, points


def _season(step_ms: int, n: int) -> int:
    day = max(1, DAY_MS // step_ms)
    return day if n >= 2 * day else 0


def _predict(values: list[float], i: int, season: int) -> float:
    """The value at index i from what came before it only."""
    if season and i >= season:
        return values[i - season]
    window = values[max(0, i - MIN_STEPS) : i]
    return statistics.fmean(window) if window else values[0]


def _sigma(values: list[float], season: int) -> float:
    errors = [values[i] - _predict(values, i, season) for i in range(1, len(values))]
    return statistics.pstdev(errors) if len(errors) > 1 else 0.0


def _backtest(values: list[float], season: int, horizon: int, sigma: float) -> dict[str, Any]:
    n = len(values)
    origins = [n - horizon - k for k in range(BACKTESTS) if n - horizon - k > MIN_STEPS]
    errors, naive, in80, in95 = [], [], 0, 0
    for origin in origins:
        for i in range(origin, min(n, origin + horizon)):
            yhat = _predict(values[:origin], min(i, origin), season)
            error = abs(values[i] - yhat)
            errors.append(error)
            naive.append(abs(values[i] - values[origin - 1]))
            in80 += error <= Z80 * sigma
            in95 += error <= Z95 * sigma
    count = len(errors) or 1
    mae = sum(errors) / count
    scale = sum(naive) / count
    return {
        "origins": len(origins),
        "horizon_steps": horizon,
        "mae": mae,
        "mase": mae / scale if scale else None,
        "coverage80": in80 / count,
        "coverage95": in95 / count,
        "baseline": "naive",
    }


def forecast_for(
    services: ForecastServices,
    tenant_id: str,
    metric: str,
    source: str | None,
    horizon_ms: int,
    history_ms: int,
    agg: str,
) -> dict:
    """The forecast over `horizon_ms` after the series' last bucket, with its backtest."""
    step_ms, points = _history(services, tenant_id, metric, source, history_ms, agg)
    values = [v for _, v in points]
    season = _season(step_ms, len(values))
    sigma = _sigma(values, season)
    horizon = max(1, horizon_ms // step_ms)
    last_ts, extended = points[-1][0], list(values)
    rows = []
    for h in range(1, horizon + 1):
        yhat = _predict(extended, len(extended), season)
        extended.append(yhat)
        width = sigma * math.sqrt(h)
        rows.append(
            [
                last_ts + h * step_ms,
                yhat,
                yhat - Z80 * width,
                yhat + Z80 * width,
                yhat - Z95 * width,
                yhat + Z95 * width,
            ]
        )
    return {
        "metric": metric,
        "source": source,
        "step_ms": step_ms,
        "method": "seasonal_naive" if season else "mean",
        "points": rows,
        "backtest": _backtest(values, season, min(horizon, len(values) // 4), sigma),
    }


def band_for(
    services: ForecastServices,
    tenant_id: str,
    metric: str,
    source: str | None,
    history_ms: int,
    agg: str,
) -> dict:
    """The 95 % band over the history, each point marked when it lies outside it."""
    step_ms, points = _history(services, tenant_id, metric, source, history_ms, agg)
    values = [v for _, v in points]
    season = _season(step_ms, len(values))
    sigma = _sigma(values, season)
    rows = []
    for i, (ts, value) in enumerate(points[1:], start=1):
        yhat = _predict(values, i, season)
        lo, hi = yhat - Z95 * sigma, yhat + Z95 * sigma
        rows.append([ts, value, yhat, lo, hi, not lo <= value <= hi])
    return {
        "metric": metric,
        "source": source,
        "step_ms": step_ms,
        "method": "seasonal_naive" if season else "mean",
        "points": rows,
    }
