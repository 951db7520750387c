"""The forecast engine (data/domain/forecasting.py): its backtest never sees the future, it
beats the seasonal-naive baseline on seasonal data with intervals that hold what they say,
and short, constant, flat, sparse and gappy series answer sensibly or say what is needed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from data.domain.data_query import QueryError
from data.domain.forecast_backtest import origins_for, run_trial
from data.domain.forecast_models import (
    Candidate,
    _fit,
    _model,
    predict_at_origins,
    statsmodels_forecast,
)
from data.domain.forecast_query import parse_forecast_query
from data.domain.forecasting import (
    MIN_TRAIN,
    NotEnoughHistory,
    anomaly_band,
    fit_band,
    fit_forecast,
    needed_steps,
)
from data.views.forecasts import cache_key, history_query

HOUR_MS = 3_600_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z, a whole day


def daily(n: int, seed: int, noise: float = 1.0) -> np.ndarray:
    """Hourly values with a daily cycle of amplitude 5 around 50 and normal noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    return 50 + 5 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, noise, n)


def times(n: int, step_ms: int = HOUR_MS) -> list[int]:
    return [START_MS + i * step_ms for i in range(n)]


# -- the backtest never sees the future ---------------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        Candidate("snaive", 1),
        Candidate("snaive", 24),
        Candidate("ets_ann"),
        Candidate("ets_ana", 24),
    ],
)
@pytest.mark.parametrize("after_origin", [0, 2])
def test_a_jump_after_an_origin_does_not_change_that_origins_forecast(
    candidate: Candidate, after_origin: int
) -> None:
    y = daily(24 * 10, seed=1)
    origins = origins_for(len(y), 12, 2 * 24, 6)
    jump_at = origins[after_origin] + 1  # inside that origin's test window
    jumped = y.copy()
    jumped[jump_at:] += 1_000.0
    before = predict_at_origins(candidate, y, origins, 12)
    after = predict_at_origins(candidate, jumped, origins, 12)
    assert before is not None and after is not None
    for origin, (mean, sd), (mean_j, sd_j) in zip(origins, before, after, strict=True):
        if origin <= jump_at:  # fitted on data that ends before the jump
            assert np.array_equal(mean, mean_j) and np.array_equal(sd, sd_j), origin
    assert not np.array_equal(before[-1][0], after[-1][0])  # the last origin has seen it


@pytest.mark.parametrize("candidate", [Candidate("ets_ann"), Candidate("ets_ana", 24)])
def test_an_origins_forecast_is_statsmodels_own_from_the_values_before_it(
    candidate: Candidate,
) -> None:
    """The one-pass filter equals smoothing the same parameters over y[:origin] and asking
    statsmodels for its forecast and variance."""
    y = daily(24 * 10, seed=9)
    origins = origins_for(len(y), 12, 48, 4)
    answers = predict_at_origins(candidate, y, origins, 12)
    assert answers is not None
    start = max(0, origins[0] - candidate.window())
    fitted = _fit(candidate, y[start : origins[0]])
    for origin, (mean, sd) in zip(origins, answers, strict=True):
        model = _model(candidate, y[start:origin], fitted)
        reference = statsmodels_forecast(model.smooth(fitted.params), 12)
        assert reference is not None
        assert np.allclose(mean, reference[0]) and np.allclose(sd, reference[1])


def test_the_backtest_scores_the_jump_as_an_error_of_the_origin_before_it() -> None:
    y = daily(24 * 10, seed=2)
    origins = origins_for(len(y), 12, 48, 6)
    jumped = y.copy()
    jumped[origins[2] + 3 :] += 1_000.0
    observed = np.ones(len(y), dtype=bool)
    trial = run_trial(Candidate("ets_ana", 24), jumped, observed, origins, 12)
    assert trial is not None
    assert np.all(np.abs(trial.errors[2, 3:]) > 900)  # it did not know
    assert np.all(np.abs(trial.errors[2, :3]) < 50)


# -- accuracy and calibration on known seasonality ------------------------------------------


def test_a_daily_cycle_beats_seasonal_naive_with_a_daily_season() -> None:
    y = daily(24 * 14, seed=3)
    forecast = fit_forecast(times(len(y)), list(y), HOUR_MS, 12)
    assert "season 1d" in forecast.method
    backtest = forecast.backtest
    assert backtest["mase"] < 1 and backtest["mae"] < backtest["baseline"]["mae"]
    assert backtest["baseline"]["method"] == "seasonal naive, season 1d"
    assert backtest["origins"] == 8 and backtest["horizon_steps"] == 12
    assert [p[0] for p in forecast.points] == [START_MS + (len(y) + i) * HOUR_MS for i in range(12)]
    for _, yhat, lo80, hi80, lo95, hi95 in forecast.points:
        assert lo95 < lo80 < yhat < hi80 < hi95


def test_intervals_hold_their_level_on_unseen_data_and_in_the_backtest() -> None:
    """Over 12 independent series: the 95 % interval of the forecast holds about 95 % of
    the values that came after it, and the backtest reports about as much."""
    inside95, inside80, total, reported = 0, 0, 0, []
    for seed in range(12):
        y = daily(24 * 12 + 24, seed=100 + seed)
        past, future = y[:-24], y[-24:]
        forecast = fit_forecast(times(len(past)), list(past), HOUR_MS, 24)
        for value, (_, _, lo80, hi80, lo95, hi95) in zip(future, forecast.points, strict=True):
            inside95 += lo95 <= value <= hi95
            inside80 += lo80 <= value <= hi80
            total += 1
        reported.append(forecast.backtest["coverage95"])
    assert abs(inside95 / total - 0.95) <= 0.04
    assert abs(inside80 / total - 0.80) <= 0.08
    assert abs(float(np.mean(reported)) - 0.95) <= 0.04


# -- short, constant, flat, sparse, gappy ------------------------------------------------------


def test_too_short_a_series_says_how_many_steps_are_needed() -> None:
    y = daily(30, seed=4)
    with pytest.raises(NotEnoughHistory) as raised:
        fit_forecast(times(30), list(y), HOUR_MS, 12)
    err = raised.value
    assert err.needed_steps == needed_steps(12) == MIN_TRAIN + 3 * 12
    assert err.have_steps == 30 and err.needed_ms == err.needed_steps * HOUR_MS
    assert "52 steps of 1h" in err.message and "(52h of history)" in err.message


def test_no_points_at_all_is_not_enough_history() -> None:
    with pytest.raises(NotEnoughHistory) as raised:
        fit_forecast(times(100), [None] * 100, HOUR_MS, 6)
    assert raised.value.have_steps == 0


def test_a_constant_series_is_forecast_to_stay_with_no_spread() -> None:
    forecast = fit_forecast(times(100), [7.0] * 100, HOUR_MS, 6)
    assert forecast.method == "constant"
    assert all(p[1:] == (7.0,) * 5 for p in forecast.points)
    assert forecast.backtest["mae"] == 0.0 and forecast.backtest["mase"] is None


def test_a_flat_series_with_tiny_noise_gets_narrow_finite_bands() -> None:
    y = 100 + daily(200, seed=5, noise=1e-6) * 0 + np.random.default_rng(5).normal(0, 1e-6, 200)
    forecast = fit_forecast(times(200), list(y), HOUR_MS, 6)
    for _, yhat, lo80, hi80, lo95, hi95 in forecast.points:
        assert all(math.isfinite(v) for v in (yhat, lo80, hi80, lo95, hi95))
        assert abs(yhat - 100) < 1e-3 and hi95 - lo95 < 1e-3


def test_a_gappy_series_is_filled_for_fitting_and_scored_only_where_observed() -> None:
    y = daily(24 * 10, seed=6)
    values: list[float | None] = list(y)
    for i in range(100, 130):  # more than a day missing
        values[i] = None
    forecast = fit_forecast(times(len(values)), values, HOUR_MS, 12)
    assert len(forecast.points) == 12 and forecast.backtest["mase"] < 1.2
    assert all(math.isfinite(v) for p in forecast.points for v in p)


def test_a_sparse_series_asks_for_as_many_points_as_half_its_span() -> None:
    values: list[float | None] = [float(i % 5) if i % 4 == 0 else None for i in range(400)]
    with pytest.raises(NotEnoughHistory) as raised:
        fit_forecast(times(400), values, HOUR_MS, 6)
    assert raised.value.have_steps == 100 and raised.value.needed_steps == 199


def test_the_forecast_starts_after_the_last_observed_value() -> None:
    y = daily(24 * 8, seed=7)
    values: list[float | None] = [*y, None, None]
    forecast = fit_forecast(times(len(values)), values, HOUR_MS, 3)
    assert forecast.points[0][0] == START_MS + len(y) * HOUR_MS


# -- the anomaly band ----------------------------------------------------------------------


def test_the_band_marks_a_spike_and_about_five_percent_of_ordinary_steps() -> None:
    y = daily(24 * 10, seed=8)
    y[200] += 25.0
    values: list[float | None] = list(y)
    values[150] = None
    band = fit_band(times(len(y)), values, HOUR_MS)
    assert band.method == "ETS(A,N,A), season 1d"
    points = band.points
    assert len(points) == len(y) and points[200][5] is True
    assert points[150][1] is None and points[150][5] is False
    share = sum(p[5] for p in points) / len(points)
    assert 0.02 <= share <= 0.07
    for ts, _value, yhat, lo, hi, _ in points:
        assert lo <= yhat <= hi and ts % HOUR_MS == 0
    assert anomaly_band(times(len(y)), values, HOUR_MS) == points


def test_the_band_of_a_short_series_says_what_it_needs() -> None:
    with pytest.raises(NotEnoughHistory) as raised:
        anomaly_band(times(5), [1.0, 2.0, 3.0, 4.0, 5.0], HOUR_MS)
    assert raised.value.needed_steps == 16 and raised.value.have_steps == 5


# -- parameters ------------------------------------------------------------------------------


def test_parameters_default_and_bad_ones_are_named() -> None:
    query = parse_forecast_query({"metric": ["cpu"]})
    assert (query.horizon_ms, query.history_ms, query.agg, query.source) == (
        6 * HOUR_MS,
        14 * 24 * HOUR_MS,
        "avg",
        None,
    )
    with pytest.raises(QueryError) as raised:
        parse_forecast_query(
            {"source": ["a/b"], "horizon": ["10d"], "history": ["0h"], "agg": ["p99"]}
        )
    fields = {d["field"] for d in raised.value.details}
    assert fields == {"metric", "source", "horizon", "history", "agg"}
    with pytest.raises(QueryError) as raised:
        parse_forecast_query({"metric": ["m"], "history": ["1d"], "horizon": ["7h"]})
    assert [d["field"] for d in raised.value.details] == ["horizon"]  # over a quarter


def test_the_history_read_ends_at_the_last_closed_bucket_and_keys_differ_per_tenant() -> None:
    now = START_MS + 14 * 24 * HOUR_MS + 7 * 60_000 + 5_000
    query = history_query(now, "cpu", "web-1", 14 * 24 * HOUR_MS, "avg")
    assert query.step_ms == 15 * 60_000 and query.tier == "1m"  # step=auto over 14 days
    assert query.end_ms == now - now % query.step_ms  # the bucket in progress is left out
    assert query.end_ms - query.start_ms == 14 * 24 * HOUR_MS
    keys = {cache_key("p:", tenant, "forecast", query, {"horizon_steps": 24}) for tenant in "ab"}
    later = history_query(now + query.step_ms, "cpu", "web-1", 14 * 24 * HOUR_MS, "avg")
    keys.add(cache_key("p:", "a", "forecast", later, {"horizon_steps": 24}))
    keys.add(cache_key("p:", "a", "band", query, {}))
    assert len(keys) == 4 and all(k.startswith("p:forecast-cache:") for k in keys)
