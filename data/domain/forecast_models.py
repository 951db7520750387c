"""The candidate models of a forecast (data/domain/forecasting.py picks one by backtest).

Each candidate fits on past values only and answers the mean and the standard deviation of
its forecast for the next h steps. They are the seasonal-naive baseline (the value one
season ago; a season of 1 is the naive forecast) and three exponential-smoothing state-space
models of statsmodels with additive errors, whose forecast variance is analytic:
ETS(A,N,N) (a level) and ETS(A,N,A) (a level and a season). ETS(A,Ad,N) (a damped trend)
was measured and left out: its fit cost 3-5 times the others' (on 1,000 steps), more than
the 1 s budget of a cold forecast leaves, and over hours a trend rarely beats a level that
follows the data.
Season lengths are candidates too (a day and a week in steps, where the history holds two
of them), so the backtest, not an assumption, decides whether a series is seasonal.

The ETS models fit on a recent window (FIT_SEASONS seasons, or NONSEASONAL_WINDOW steps):
older data barely moves a smoothing model, and fitting cost grows with the window.
statsmodels is imported on first use, so processes that never forecast never pay its
import (about 1.5 s).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
FIT_SEASONS = 4  # a seasonal ETS model fits on at most this many recent seasons
NONSEASONAL_WINDOW = 480  # a level or trend model fits on at most this many recent steps
MAX_SEASON_STEPS = 1_008  # a week of 10-minute steps; longer seasons cost too much to fit
MIN_SEASONS = 2  # a season is a candidate when the training data holds this many

Array = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model to try: `kind` is snaive, ets_ann or ets_ana."""

    kind: str
    season: int = 1  # steps per season (snaive, ets_ana)

    def name(self, step_ms: int) -> str:
        """The model as the answer's `method` names it."""
        season = season_label(self.season, step_ms)
        return {
            "snaive": f"seasonal naive, season {season}" if self.season > 1 else "naive",
            "ets_ann": "ETS(A,N,N)",
            "ets_ana": f"ETS(A,N,A), season {season}",
        }[self.kind]

    def window(self) -> int:
        """The recent steps an ETS fit sees."""
        return FIT_SEASONS * self.season if self.kind == "ets_ana" else NONSEASONAL_WINDOW

    def min_train(self) -> int:
        """Steps of history it needs before an origin."""
        return max(MIN_SEASONS * self.season, 8) if self.season > 1 else 8


def season_label(season: int, step_ms: int) -> str:
    """`1d`, `7d`, or a count of steps when the season is not whole days."""
    span = season * step_ms
    return f"{span // DAY_MS}d" if span % DAY_MS == 0 else f"{season} steps"


def seasons_of(step_ms: int) -> list[int]:
    """The candidate season lengths in steps: a day and a week, when whole and not too long."""
    out = []
    for span in (DAY_MS, WEEK_MS):
        if span % step_ms == 0 and 2 <= span // step_ms <= MAX_SEASON_STEPS:
            out.append(span // step_ms)
    return out


def candidates(step_ms: int, train_steps: int) -> tuple[list[Candidate], list[Candidate]]:
    """(models, baselines) that fit in `train_steps` of history: the seasonal-naive baselines
    of each season (and the naive one), and the ETS models."""
    seasons = [m for m in seasons_of(step_ms) if MIN_SEASONS * m <= train_steps]
    baselines = [Candidate("snaive", m) for m in [1, *seasons]]
    models = [Candidate("ets_ann")]
    models += [Candidate("ets_ana", m) for m in seasons]
    return models, baselines


@dataclass(frozen=True, slots=True)
class Smoother:
    """An ETS model fitted on a window: its parameters, and the initial states of the
    window's first step (`start`, an index of the series it was fitted on), from which the
    states are filtered forward over any later values with no refit."""

    params: tuple[float, ...]
    alpha: float
    gamma: float
    initial_level: float
    initial_seasonal: tuple[float, ...]
    start: int


def fit_smoother(candidate: Candidate, y: Array, origin: int) -> Smoother | None:
    """The ETS `candidate` fitted on its window of the values before `origin`."""
    start = max(0, origin - candidate.window())
    fitted = _fit(candidate, y[start:origin])
    if fitted is None:
        return None
    seasonal = candidate.kind == "ets_ana"
    return Smoother(
        tuple(float(p) for p in np.asarray(fitted.params)),
        float(fitted.smoothing_level),
        float(fitted.smoothing_seasonal) if seasonal else 0.0,
        float(fitted.initial_level),
        tuple(float(s) for s in np.asarray(fitted.initial_seasonal)) if seasonal else (),
        start,
    )


def filter_states(
    candidate: Candidate, smoother: Smoother, seen: Array
) -> tuple[Array, Array] | None:
    """The one-step predictions and the states over `seen` (the values from the smoother's
    start on), filtered with its parameters from its initial states: the states after step
    t depend on steps ≤ t only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _model(candidate, seen, smoother)
            raw = model.smooth(np.asarray(smoother.params), return_raw=True)
    except _FIT_ERRORS:
        return None
    one_step, states = (np.asarray(part, dtype=np.float64) for part in raw)
    return one_step, states


def ets_ahead(
    candidate: Candidate, smoother: Smoother, states: Array, row: int, h: int
) -> tuple[Array, Array]:
    """The mean of the `h` steps after the states of `row`, and each step's variance
    relative to the one-step variance (Hyndman et al., Forecasting with Exponential
    Smoothing, table 6.1)."""
    alpha, lead = smoother.alpha, np.arange(1, h + 1)
    relative_variance = 1 + alpha**2 * (lead - 1)
    mean = np.full(h, states[row, 0])
    if candidate.kind == "ets_ana":
        gamma, m = smoother.gamma, candidate.season
        seasons_back = (lead - 1) // m + 1
        mean = mean + states[row + lead - m * seasons_back, 1]
        relative_variance = relative_variance + gamma * (seasons_back - 1) * (2 * alpha + gamma)
    return mean, np.asarray(relative_variance, dtype=np.float64)


def predict_at_origins(
    candidate: Candidate, y: Array, origins: list[int], h: int
) -> list[tuple[Array, Array]] | None:
    """The forecast of `h` steps from each origin, made only from the values before it."""
    if candidate.kind == "snaive":
        answers = [seasonal_naive(y[:origin], candidate.season, h) for origin in origins]
        return None if any(a is None for a in answers) else answers  # type: ignore[return-value]
    smoother = fit_smoother(candidate, y, origins[0])
    return None if smoother is None else predict_with(candidate, smoother, y, origins, h)


def predict_with(
    candidate: Candidate, smoother: Smoother, y: Array, origins: list[int], h: int
) -> list[tuple[Array, Array]] | None:
    """The ETS forecast of `h` steps from each origin with `smoother`'s parameters.

    The parameters are fitted once, on the window before the first origin; the states are
    then filtered with them over the values up to the last origin, and each origin is
    forecast from the states of the step before it, with the model's analytic variance and
    the one-step MSE up to the origin. It equals statsmodels' forecast of the same
    parameters smoothed over the values before the origin (tests/unit/test_forecasting.py
    checks), at one filter pass in all instead of one results object per origin."""
    start = smoother.start
    seen = y[start : origins[-1]]  # nothing after the last origin is even handed over
    filtered = filter_states(candidate, smoother, seen)
    if filtered is None:
        return None
    one_step, states = filtered
    squares = np.cumsum((seen - one_step) ** 2)
    out = []
    for origin in origins:
        row = origin - start - 1  # the states after the last value before the origin
        mean, relative_variance = ets_ahead(candidate, smoother, states, row, h)
        sd = np.sqrt(squares[row] / (row + 1) * relative_variance)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(sd))):
            return None
        out.append((mean, sd))
    return out


def seasonal_naive(y: Array, season: int, h: int) -> tuple[Array, Array] | None:
    """The value one season before each step; its spread grows with the seasons skipped."""
    if len(y) <= season:
        return None
    last_season = y[-season:]
    lead = np.arange(h)
    mean = last_season[lead % season]
    diffs = y[season:] - y[:-season]
    sigma = math.sqrt(float(np.mean(diffs**2)))
    sd = sigma * np.sqrt(lead // season + 1.0)
    return mean, sd


_FIT_ERRORS = (ValueError, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError)


def _model(candidate: Candidate, y: Array, start_from: Any = None) -> Any:
    """The statsmodels model of `y`; its initial states estimated from the data's first
    seasons, or those of the fitted results `start_from`.

    statsmodels' heuristic reads up to five seasons, as many as `y` holds: over a longer
    `y` it would read values past an origin, so a filter through the origins starts from
    the states fitted before the first one instead."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = candidate.kind == "ets_ana"
    known: dict[str, Any] = {"initialization_method": "heuristic"}  # fewer to optimise
    if start_from is not None:
        known = {"initialization_method": "known", "initial_level": start_from.initial_level}
        if seasonal:
            known["initial_seasonal"] = np.asarray(start_from.initial_seasonal)
    return ETSModel(
        pd.Series(y),  # a bare array breaks statsmodels 0.15's get_prediction
        error="add",
        seasonal="add" if seasonal else None,
        seasonal_periods=candidate.season if seasonal else None,
        **known,
    )


def _fit(candidate: Candidate, y: Array) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; a bad fit scores badly
            return _model(candidate, y).fit(disp=False)
    except _FIT_ERRORS:
        return None


def statsmodels_forecast(results: Any, h: int) -> tuple[Array, Array] | None:
    """statsmodels' own mean and sd of the `h` steps after fitted or smoothed `results`
    (what predict_at_origins' one filter pass reproduces)."""
    n = results.model.nobs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prediction = results.get_prediction(start=n, end=n + h - 1)
            mean = np.asarray(prediction.predicted_mean, dtype=np.float64)
            sd = np.sqrt(np.asarray(prediction.forecast_variance, dtype=np.float64))
    except _FIT_ERRORS:
        return None
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(sd))):
        return None
    return mean, sd


def one_step_fit(y: Array, season: int) -> tuple[Array, float] | None:
    """One-step-ahead predictions over `y` of ETS(A,N,A) (season > 1) or ETS(A,N,N), and
    the model's AIC: each prediction comes from the states filtered up to the step before,
    with smoothing parameters fitted on the whole of `y`."""
    fitted = _fit(Candidate("ets_ana", season) if season > 1 else Candidate("ets_ann"), y)
    if fitted is None:
        return None
    predictions = np.asarray(fitted.fittedvalues, dtype=np.float64)
    if not np.all(np.isfinite(predictions)):
        return None
    return predictions, float(fitted.aic)
