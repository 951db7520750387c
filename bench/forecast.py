"""Cost of a cold forecast with its backtest (issue 15): a 14-day series of 10-minute
steps (2,016 values), forecast 6 h ahead with the rolling-origin backtest, as
data/domain/forecasting.fit_forecast computes it on a cache miss; against the
seasonal-naive baseline's own forecast and backtest on the same series in the same run.

Each run is a new series (a daily cycle, a weekly swell, noise and a few gaps), so nothing
is reused between runs; statsmodels' import (paid once per process, on the first forecast)
is timed apart.

With DATABASE_URL and REDIS_URL set, it also times the whole of a request's work through
data/views/forecasts.forecast_for on a scratch database and Redis prefix: the same kind of
series written as 10-minute points, read back at step=auto (14 days: 15-minute buckets of
the 1-minute rollup) and forecast, with the cache emptied before each run (cold) and then
not (a hit). Usage:

    [DATABASE_URL=… REDIS_URL=…] .venv/bin/python bench/forecast.py [--runs 20] [--days 14]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import scratch_services  # noqa: E402

from data.domain.forecast_backtest import origins_for, run_trial  # noqa: E402
from data.domain.forecast_models import Candidate, seasonal_naive  # noqa: E402
from data.domain.forecasting import MAX_ORIGINS, MIN_TRAIN, fit_forecast, to_grid  # noqa: E402
from data.domain.points import Point  # noqa: E402

DAY_MS = 86_400_000


def series(seed: int, n: int, per_day: int) -> list[float | None]:
    """A daily cycle, a weekly swell, noise, and 1 % of steps missing."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    values = (
        50
        + 10 * np.sin(2 * np.pi * steps / per_day)
        + 3 * np.sin(2 * np.pi * steps / (7 * per_day))
        + rng.normal(0, 2, n)
    )
    gaps = rng.random(n) < 0.01
    return [None if gap else float(v) for v, gap in zip(values, gaps, strict=True)]


def baseline(ts: list[int], values: list[float | None], step_ms: int, h: int, season: int) -> None:
    """The seasonal-naive forecast and its backtest on the same origins."""
    grid = to_grid(ts, values, step_ms)
    assert grid is not None
    origins = origins_for(len(grid.y), h, MIN_TRAIN, MAX_ORIGINS)
    run_trial(Candidate("snaive", season), grid.y, grid.observed, origins, h)
    seasonal_naive(grid.y, season, h)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--step-min", type=int, default=10)
    parser.add_argument("--horizon-h", type=int, default=6)
    args = parser.parse_args()
    step_ms = args.step_min * 60_000
    per_day = DAY_MS // step_ms
    n, h = args.days * per_day, args.horizon_h * 3_600_000 // step_ms
    ts = [1_767_225_600_000 + i * step_ms for i in range(n)]

    started = time.perf_counter()
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401

    import_s = time.perf_counter() - started
    fit_forecast(ts, series(10_000, n, per_day), step_ms, h)  # warm the code paths, not a cache

    ours, base, methods, mases, coverages = [], [], [], [], []
    load_before = os.getloadavg()
    for run in range(args.runs):
        values = series(run, n, per_day)
        started = time.perf_counter()
        forecast = fit_forecast(ts, values, step_ms, h)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        baseline(ts, values, step_ms, h, per_day)
        base.append(time.perf_counter() - started)
        methods.append(forecast.method)
        mases.append(forecast.backtest["mase"])
        coverages.append(forecast.backtest["coverage95"])
    load_after = os.getloadavg()

    print(f"{n} steps of {args.step_min} min, horizon {h} steps, {args.runs} runs")
    print(f"statsmodels import (once per process): {import_s * 1000:.0f} ms")
    for name, samples in (("forecast + backtest", ours), ("seasonal naive (baseline)", base)):
        p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
        print(f"{name:28s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
    print(f"methods chosen: {sorted(set(methods))}")
    print(
        f"MASE median {statistics.median(mases):.2f}, 95 % coverage median "
        f"{statistics.median(coverages):.2f}"
    )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        through_the_view(args.runs, args.days, args.horizon_h)


def through_the_view(runs: int, days: int, horizon_h: int) -> None:
    """forecast_for on a scratch database: cold (cache emptied) and cached, p50/p95."""
    from data.views.forecasts import forecast_for

    with scratch_services() as services:
        step_ms, per_day = 600_000, 144
        now = int(time.time() * 1000)
        last = now - now % step_ms - step_ms
        n = days * per_day
        points = [
            ("bench", Point(f"p{i}", "host-1", "bench.cpu", last - (n - 1 - i) * step_ms, v))
            for i, v in enumerate(series(0, n, per_day))
            if v is not None
        ]
        services.history.write_points(points)
        cold, warm = [], []
        prefix = services.settings.redis_prefix
        for _ in range(runs):
            for key in services.redis.scan_iter(match=f"{prefix}forecast-cache:*"):
                services.redis.delete(key)
            for timings in (cold, warm):
                started = time.perf_counter()
                forecast_for(
                    services,
                    "bench",
                    "bench.cpu",
                    "host-1",
                    horizon_h * 3_600_000,
                    days * DAY_MS,
                    "avg",
                )
                timings.append(time.perf_counter() - started)
        print(f"through forecast_for, {days} d of 10-minute points read at step=auto:")
        for label, samples in (("cold (cache emptied)", cold), ("cached", warm)):
            p50, p95 = percentile(samples, 0.5), percentile(samples, 0.95)
            print(f"{label:28s} p50 {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms")
        print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
