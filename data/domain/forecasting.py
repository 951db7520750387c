"""Forecasts of one series with intervals and an honest backtest, and the anomaly band over
its past (CONTRACT §9). Pure: values in, values out; data/views/forecasts.py reads history.

A series is a grid of steps: the values between its first and last observed step, with gaps
(None) filled by linear interpolation for fitting but never scored. The forecast starts at
the step after the last observed value.

`fit_forecast` backtests every candidate of data/domain/forecast_models.py on the same
rolling origins (data/domain/forecast_backtest.py), picks the one with the smallest MAE
(the seasonal-naive baselines included, so a model must beat them to be chosen), and
forecasts with it after the last value exactly as it forecast at each origin (an ETS
model's parameters fitted before the first origin, its states filtered up to the end), so
the figures describe the very procedure that made the forecast; its intervals are widened
conformally from the backtest's errors.

`anomaly_band` is a fit plus a conformal width: each step's yhat is the one-step-ahead
prediction of an ETS model from the states filtered up to the step before (so a step never
predicts itself), the smoothing parameters are fitted on the whole window, and the 95 %
half-width is the (n+1)-rank 95 % quantile of the window's one-step absolute errors, so
about 5 % of ordinary steps fall outside and an excursion stands out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data.domain.errors import DomainError
from data.domain.forecast_backtest import (
    LEVELS,
    Trial,
    best_of,
    figures,
    mase_scale,
    multiplier,
    origins_for,
    run_trial,
)
from data.domain.forecast_models import Array, candidates, one_step_fit, seasons_of

MAX_ORIGINS = 8  # backtest origins; each costs one fit per candidate
MIN_ORIGINS = 3
MIN_TRAIN = 16  # steps before the first origin
MIN_OBSERVED_SHARE = 0.5  # a grid with fewer observed steps is too sparse to model
BAND_MIN_STEPS = 16
BAND_MIN_SEASONS = 3  # a season the band models repeats this often in its window

ForecastPoint = tuple[int, float, float, float, float, float]
BandPoint = tuple[int, float | None, float, float, float, bool]


class NotEnoughHistory(DomainError):
    """The series is too short (or too sparse) to forecast and backtest honestly."""

    code = "not_enough_history"

    def __init__(self, needed_steps: int, have_steps: int, step_ms: int) -> None:
        self.needed_steps = needed_steps
        self.have_steps = have_steps
        self.step_ms = step_ms
        super().__init__(
            f"needs at least {needed_steps} steps of {duration(step_ms)} with points"
            f" ({duration(needed_steps * step_ms)} of history), has {have_steps}"
        )

    @property
    def needed_ms(self) -> int:
        """The history needed, in milliseconds."""
        return self.needed_steps * self.step_ms


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast: the chosen model, its points (ts_ms, yhat, lo80, hi80, lo95, hi95) and
    its backtest figures (CONTRACT §9's `backtest` object)."""

    method: str
    step_ms: int
    points: list[ForecastPoint]
    backtest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Band:
    """The anomaly band over a series' past: the model and (ts_ms, value, yhat, lo95, hi95,
    outside) per step."""

    method: str
    points: list[BandPoint]


@dataclass(frozen=True, slots=True)
class Grid:
    """A series on its step grid: filled values, which were observed, the first step's ts."""

    start_ms: int
    step_ms: int
    y: Array
    observed: Array

    @property
    def have(self) -> int:
        return int(np.sum(self.observed))

    def ts(self, index: int) -> int:
        return self.start_ms + index * self.step_ms


def duration(ms: int) -> str:
    """A span in its largest whole unit: `15m`, `2d`, `90s`."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def to_grid(ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int) -> Grid | None:
    """The series between its first and last finite value on the step grid, gaps filled
    linearly; None when it has no finite value."""
    known = {
        ts: float(v)
        for ts, v in zip(ts_ms, values, strict=True)
        if v is not None and math.isfinite(v)
    }
    if not known:
        return None
    start, end = min(known), max(known)
    n = (end - start) // step_ms + 1
    y = np.full(n, np.nan)
    for ts, value in known.items():
        y[(ts - start) // step_ms] = value
    observed = np.isfinite(y)
    index = np.arange(n)
    y = np.interp(index, index[observed], y[observed])
    return Grid(start, step_ms, y, observed)


def needed_steps(horizon_steps: int) -> int:
    """The observed steps a forecast of `horizon_steps` needs: a training window and the
    minimum count of backtest windows."""
    return MIN_TRAIN + MIN_ORIGINS * horizon_steps


def _checked_grid(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int, needed: int
) -> Grid:
    grid = to_grid(ts_ms, values, step_ms)
    if grid is None or grid.have < needed:
        raise NotEnoughHistory(needed, 0 if grid is None else grid.have, step_ms)
    if grid.have < MIN_OBSERVED_SHARE * len(grid.y):  # too sparse: ask for as many points
        raise NotEnoughHistory(math.ceil(MIN_OBSERVED_SHARE * len(grid.y)), grid.have, step_ms)
    return grid


def checked_grid(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int, needed: int
) -> Grid:
    """The series on its grid, or NotEnoughHistory when it has fewer than `needed` observed
    steps or is too sparse."""
    return _checked_grid(ts_ms, values, step_ms, needed)


def backtest_origins(grid: Grid, h: int, max_origins: int) -> list[int]:
    """The backtest's origins over the grid; NotEnoughHistory when fewer than MIN_ORIGINS
    fit (observed, but spread over too short a span)."""
    origins = origins_for(len(grid.y), h, MIN_TRAIN, max_origins)
    if len(origins) < MIN_ORIGINS:
        raise NotEnoughHistory(needed_steps(h), len(grid.y), grid.step_ms)
    return origins


def is_constant(grid: Grid) -> bool:
    """Whether every observed value is the same."""
    return float(np.ptp(grid.y[grid.observed])) == 0.0


def backtest_trials(grid: Grid, origins: list[int], h: int) -> list[Trial]:
    """Every candidate that fits, scored on the same origins (baselines first)."""
    models, baselines = candidates(grid.step_ms, origins[0])
    tried = [run_trial(c, grid.y, grid.observed, origins, h) for c in baselines + models]
    return [t for t in tried if t is not None]


def fit_forecast(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int, horizon_steps: int
) -> Forecast:
    """The forecast of the next `horizon_steps` after the series, with its backtest; raises
    NotEnoughHistory when the series is too short or sparse."""
    h = horizon_steps
    grid = checked_grid(ts_ms, values, step_ms, needed_steps(h))
    n = len(grid.y)
    origins = backtest_origins(grid, h, MAX_ORIGINS)
    if is_constant(grid):
        return _constant(grid, h, len(origins))
    trials = backtest_trials(grid, origins, h)
    baseline = best_of([t for t in trials if t.candidate.kind == "snaive"])
    chosen = best_of(trials)
    scale = mase_scale(grid.y, baseline.candidate.season, origins[0])
    backtest = {
        "origins": len(origins),
        "horizon_steps": h,
        **figures(chosen, scale),
        "baseline": {"method": baseline.candidate.name(step_ms), **figures(baseline, scale)},
    }
    points = _points(grid, n, chosen)
    return Forecast(chosen.candidate.name(step_ms), step_ms, points, backtest)


def _points(grid: Grid, n: int, trial: Trial) -> list[ForecastPoint]:
    mean, sd = trial.final
    scores = trial.scores()
    (p80, z80), (p95, z95) = LEVELS
    half80 = multiplier(scores, p80, z80) * sd
    half95 = multiplier(scores, p95, z95) * sd
    return [
        (
            grid.ts(n + i),
            float(mean[i]),
            float(mean[i] - half80[i]),
            float(mean[i] + half80[i]),
            float(mean[i] - half95[i]),
            float(mean[i] + half95[i]),
        )
        for i in range(len(mean))
    ]


def _constant(grid: Grid, h: int, origins: int) -> Forecast:
    """A series that never changed: it is forecast to stay, and stayed at every origin."""
    value = float(grid.y[grid.observed][0])
    points = [(grid.ts(len(grid.y) + i),) + (value,) * 5 for i in range(h)]
    exact = {"mae": 0.0, "mase": None, "coverage80": 1.0, "coverage95": 1.0}
    backtest = {
        "origins": origins,
        "horizon_steps": h,
        **exact,
        "baseline": {"method": "naive", **exact},
    }
    return Forecast("constant", grid.step_ms, points, backtest)


def fit_band(ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int) -> Band:
    """The anomaly band over the series' past and the model behind it (see the module's
    docstring for how honest it is); raises NotEnoughHistory under BAND_MIN_STEPS."""
    grid = _checked_grid(ts_ms, values, step_ms, BAND_MIN_STEPS)
    y = grid.y
    method, yhat = _one_step(y, step_ms)
    errors = np.abs(y - yhat)[grid.observed]
    half = multiplier(errors, LEVELS[1][0], 0.0)
    points: list[BandPoint] = []
    for i in range(len(y)):
        seen = bool(grid.observed[i])
        lo, hi = float(yhat[i] - half), float(yhat[i] + half)
        value = float(y[i]) if seen else None
        outside = seen and not lo <= float(y[i]) <= hi
        points.append((grid.ts(i), value, float(yhat[i]), lo, hi, outside))
    return Band(method, points)


def _one_step(y: Array, step_ms: int) -> tuple[str, Array]:
    """The model of the band (by AIC among a level and each season) and its one-step-ahead
    predictions; a constant series predicts itself, and an unfittable one the step before."""
    if float(np.ptp(y)) == 0.0:
        return "constant", y.copy()
    fits = []
    for season in [1, *(m for m in seasons_of(step_ms) if BAND_MIN_SEASONS * m <= len(y))]:
        fit = one_step_fit(y, season)
        if fit is not None:
            fits.append((fit[1], season, fit[0]))
    if not fits:
        return "naive", np.concatenate([y[:1], y[:-1]])
    _, season, yhat = min(fits, key=lambda fit: fit[0])
    if season == 1:
        return "ETS(A,N,N)", yhat
    return f"ETS(A,N,A), season {duration(season * step_ms)}", yhat


def anomaly_band(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int
) -> list[BandPoint]:
    """Per past step (ts_ms, value, yhat, lo95, hi95, outside): see `fit_band`."""
    return fit_band(ts_ms, values, step_ms).points
