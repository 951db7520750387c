"""The 95 % band of a series' next steps without a backtest each time: the lighter path of
the forecasting engine, for the forecast_band alert rule (data/domain/band_rule.py). Pure.

`fit_forecast` backtests every candidate (about 0.3 s) and forecasts from the states
filtered up to the end of its series. A band judged every step cannot pay that per step,
and should not: an excursion that enters the newest backtest windows would widen the next
step's band around itself (and flip the choice to the naive model that follows it), so a
series that stays outside would look inside a step later. So the choice is made once, by
the same backtest (`choose_band_model`, BAND_ORIGINS windows of BAND_LEAD steps, the
smallest MAE among the seasonal-naive baselines and the ETS models, a season tried when two
precede the first origin), and kept: the model, its parameters and initial states (fitted
before the first origin, as the backtest scored it), the one-step standard deviation at the
end of its history and the conformal multiplier of its 95 % interval. `bands_after` then
only filters the states forward with those parameters: each step's band is the one-step
forecast from the states after the step before it, ± the multiplier times that standard
deviation. A step's band depends on the values before that step only (gaps carried
forward, never filled from a later value), whatever came after; the choice, on the values
before the step it was made for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from data.domain.forecast_backtest import LEVELS, SD_FLOOR, best_of, multiplier
from data.domain.forecast_models import Array, Smoother
from data.domain.forecasting import (
    backtest_origins,
    backtest_trials,
    checked_grid,
    is_constant,
    needed_steps,
)

BAND_LEAD = 6  # the backtest of a band's model scores each origin this many steps ahead
BAND_ORIGINS = 24  # ... at this many origins: 144 scored steps behind the 95 % multiplier
BandStep = tuple[int, float, float, float]  # ts_ms, yhat, lo95, hi95


@dataclass(frozen=True, slots=True)
class BandModel:
    """A band's model, chosen by backtest before the step `chosen_ms`: `kind` is constant,
    snaive, ets_ann or ets_ana; an ETS model's states are filtered from the step
    `start_ms`; the band's half-width is `multiplier` × `sigma`."""

    kind: str
    season: int
    method: str
    step_ms: int
    chosen_ms: int
    sigma: float
    multiplier: float
    value: float = 0.0  # constant: the value
    start_ms: int = 0
    smoother: Smoother | None = None

    def to_doc(self) -> dict[str, Any]:
        """As JSON (the worker caches it per series)."""
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> BandModel:
        """The model to_doc wrote."""
        smoother = doc.get("smoother")
        if smoother is not None:
            smoother = Smoother(
                **{
                    **smoother,
                    "params": tuple(smoother["params"]),
                    "initial_seasonal": tuple(smoother["initial_seasonal"]),
                }
            )
        return cls(**{**doc, "smoother": smoother})


def needed_band_steps() -> int:
    """The observed steps a band's model needs (NotEnoughHistory says so under it)."""
    return needed_steps(BAND_LEAD)


def choose_band_model(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int
) -> BandModel:
    """The model of the band of the steps after the series, chosen by backtest; raises
    NotEnoughHistory when the series is too short or sparse."""
    grid = checked_grid(ts_ms, values, step_ms, needed_band_steps())
    origins = backtest_origins(grid, BAND_LEAD, BAND_ORIGINS)
    chosen_ms = grid.ts(len(grid.y))
    if is_constant(grid):
        value = float(grid.y[grid.observed][0])
        return BandModel("constant", 1, "constant", step_ms, chosen_ms, 0.0, 0.0, value)
    chosen = best_of(backtest_trials(grid, origins, BAND_LEAD))
    candidate, smoother = chosen.candidate, chosen.smoother
    spread = float(np.max(np.abs(grid.y)))
    sigma = max(float(chosen.final[1][0]), SD_FLOOR * (1.0 + spread))
    level, z = LEVELS[1]
    return BandModel(
        candidate.kind,
        candidate.season,
        candidate.name(step_ms),
        step_ms,
        chosen_ms,
        sigma,
        multiplier(chosen.scores(), level, z),
        start_ms=grid.ts(smoother.start) if smoother is not None else 0,
        smoother=smoother,
    )


def bands_after(
    model: BandModel,
    ts_ms: Sequence[int],
    values: Sequence[float | None],
    first_ms: int,
    count: int,
) -> list[BandStep]:
    """The bands of the `count` steps from `first_ms` on (at or after the model's
    `chosen_ms`), each from the values before its own step."""
    step = model.step_ms
    wanted = [first_ms + k * step for k in range(count)]
    if model.kind == "constant":
        return [(ts, model.value, model.value, model.value) for ts in wanted]
    half = model.multiplier * model.sigma
    base = model.start_ms
    if model.kind == "snaive":
        base = min(first_ms, model.chosen_ms) - model.season * step
    y = _carried(ts_ms, values, base, wanted[-1], step)
    predicted = _robust_filter(model, y, half)
    out = []
    for ts in wanted:
        v = float(predicted[(ts - base) // step])
        out.append((ts, v, v - half, v + half))
    return out


def _robust_filter(model: BandModel, y: Array, half: float) -> Array:
    """The one-step forecast of each step of `y` and of the step after it, each from the
    values before it: the model's recursion (statsmodels' ETS(A,N,N) and ETS(A,N,A) with
    the chosen parameters from the initial states fitted, or the value one season before),
    with each error clipped to the band's half-width (a robust filter, Gelper, Fried and
    Croux 2010): a value outside its band moves the states only as far as the band's edge
    would, so an excursion is not learnt as the new normal while it lasts, nor echoed a
    season later."""
    m = model.season
    out = np.empty(y.size + 1)
    if model.kind == "snaive":
        clean = list(y[:m])
        out[:m] = y[:m]  # the first season has no season before it: judged by itself
        for i in range(m, y.size + 1):
            out[i] = clean[i - m]
            if i < y.size:
                clean.append(out[i] + min(half, max(-half, y[i] - out[i])))
        return out
    smoother = model.smoother
    assert smoother is not None
    level, seasonal = smoother.initial_level, list(smoother.initial_seasonal)
    for i in range(y.size + 1):
        out[i] = level + (seasonal[-m] if model.kind == "ets_ana" else 0.0)
        if i == y.size:
            break
        error = min(half, max(-half, y[i] - out[i]))
        level += smoother.alpha * error
        if model.kind == "ets_ana":
            seasonal.append(seasonal[-m] + smoother.gamma * error)
    return out


def _carried(
    ts_ms: Sequence[int], values: Sequence[float | None], since_ms: int, until_ms: int, step_ms: int
) -> Array:
    """The values of the steps in [since, until) on the grid, a missing one carried forward
    from the last value before it (the first known value when none came before)."""
    known = {t: float(v) for t, v in zip(ts_ms, values, strict=True) if v is not None}
    before = [t for t in known if t < since_ms]
    last = known[max(before)] if before else (known[min(known)] if known else 0.0)
    out = np.empty(max(0, (until_ms - since_ms) // step_ms))
    for i in range(out.size):
        last = known.get(since_ms + i * step_ms, last)
        out[i] = last
    return out
